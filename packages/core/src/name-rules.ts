/**
 * Names that reach other tools must mean the same there as here. One rule per kind of name, used for the
 * config and for names read from elsewhere (a user's own network file: its bridge, its network name), so
 * every source is held to the same rule.
 */

/** Linux holds 15 bytes of an interface name (IFNAMSIZ 16, with the terminating NUL). */
export const IFNAME_MAX_BYTES = 15;
/** Container ids: `<id>-<n>` for many containers stays within what the derived names below allow. */
export const ID_MAX_LENGTH = 48;
/**
 * Network names: the derived names stay valid: `10-<network>.conflist` and the CNI cache's
 * `<network>-<container id>-<ifname>` under 255 bytes, the plugins' iptables comments
 * (`name: "<network>" id: "<container id>"`) under iptables' 255.
 */
export const NETWORK_MAX_LENGTH = 64;

// CNI's own rule for container ids and network names (libcni pkg/utils); it also keeps out what a shell,
// `ip -batch` or iptables would read as syntax
export const CNI_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Shows a name inside a message without letting it break the line. */
const q = (s: string) => JSON.stringify(s);

/**
 * An interface name (a bridge, a container's ifname) every tool we pass it to takes literally: at most 15
 * bytes; letters, digits, "_", "." and "-", starting with a letter or digit. That keeps out "+" (a wildcard
 * to iptables: `-i br+` matches every br*), quotes and "#" (they change what `ip -batch` reads: a comment
 * or a quoted word), white space, "/" and ":" (the kernel refuses them), and a leading "-" (an option to
 * any command). Returns the problem, or undefined when the name is fine.
 */
export function interfaceNameProblem(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  const bytes = Buffer.byteLength(name);
  if (bytes > IFNAME_MAX_BYTES) return `${q(name)} is ${bytes} bytes; Linux interface names hold at most ${IFNAME_MAX_BYTES}`;
  if (!CNI_NAME_RE.test(name)) {
    return `${q(name)} may hold only letters, digits, "_", "." and "-", starting with a letter or digit ("+" is an iptables wildcard, quotes and "#" change what ip -batch reads, "/", ":" and white space the kernel refuses)`;
  }
  return undefined;
}

/** A CNI network name: CNI's rule, and short enough that every path and rule comment derived from it stays valid. */
export function networkNameProblem(name: string): string | undefined {
  if (!CNI_NAME_RE.test(name))
    return `${q(name)} is not a valid CNI network name: letters, digits, "_", "." or "-", starting with a letter or digit`;
  if (name.length > NETWORK_MAX_LENGTH) return `${q(name.slice(0, 20))}… is ${name.length} characters; use at most ${NETWORK_MAX_LENGTH}`;
  return undefined;
}

/** A container id (the instance's --id): CNI's rule, at most ID_MAX_LENGTH characters. */
export function containerIdProblem(id: string): string | undefined {
  if (CNI_NAME_RE.test(id) && id.length <= ID_MAX_LENGTH) return undefined;
  return `${q(id.length > 60 ? `${id.slice(0, 20)}…` : id)} is not a valid container id: use letters, digits, "_", "." or "-", starting with a letter or digit, at most ${ID_MAX_LENGTH} characters`;
}
