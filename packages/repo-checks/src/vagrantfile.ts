/**
 * The Vagrantfile must provision through scripts/provision.sh, the same script the README and CI run, so
 * the VM cannot drift from what CI tested. This reads the Vagrantfile's provisioner calls and reports
 * every way it strays from that; `vagrant validate` (run by CI) checks that it is valid Ruby and config.
 */
export interface Provisioner {
  name: string;
  line: number;
  /** the call, continuation lines included */
  text: string;
}

const PROVISION_CALL = /\.vm\.provision\s*\(?\s*["':]([\w-]+)"?/;

/** Each `x.vm.provision "name", ...` call, with the lines it continues onto (a trailing `,` or `\`). */
export function provisioners(vagrantfile: string): Provisioner[] {
  const lines = vagrantfile.split('\n');
  const out: Provisioner[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (/^\s*#/.test(line)) continue;
    const m = PROVISION_CALL.exec(line);
    if (!m?.[1]) continue;
    let text = line;
    let j = i;
    while (/[,\\]\s*$/.test(lines[j] ?? '') && j + 1 < lines.length) {
      j += 1;
      text += `\n${lines[j]}`;
    }
    out.push({ name: m[1], line: i + 1, text });
  }
  return out;
}

/** Problems with the Vagrantfile's provisioning, each naming the line; empty when it is right. */
export function checkVagrantfile(vagrantfile: string): string[] {
  const problems: string[] = [];
  const found = provisioners(vagrantfile);
  for (const want of ['deps', 'demo', 'down']) {
    if (!found.some((p) => p.name === want)) problems.push(`no provisioner named "${want}"`);
  }
  // tearing down is asked for by name (--provision-with down), never part of `vagrant up` or a plain `vagrant provision`
  for (const p of found) {
    const never = /\brun:\s*["':]never"?/.test(p.text);
    if (p.name === 'down' && !never) problems.push(`line ${p.line}: provisioner "down" must have run: "never"`);
    if (p.name !== 'down' && never) problems.push(`line ${p.line}: provisioner "${p.name}" has run: "never", so vagrant up skips it`);
  }
  for (const p of found) {
    const call = /scripts\/provision\.sh["']?\s*,?\s*(?:args:\s*\[?\s*)?["']?([\w-]+)/.exec(p.text);
    if (!call) {
      problems.push(`line ${p.line}: provisioner "${p.name}" does not run scripts/provision.sh`);
      continue;
    }
    if (call[1] !== p.name) {
      problems.push(`line ${p.line}: provisioner "${p.name}" runs provision.sh mode "${call[1]}", expected "${p.name}"`);
    }
    if (/\binline:/.test(p.text) && /&&|;|\|/.test(p.text.replace(/#.*$/gm, ''))) {
      problems.push(`line ${p.line}: provisioner "${p.name}" chains commands around provision.sh; put them in the script`);
    }
    if (!new RegExp(`^\\s*#.*vagrant provision (?:\\S+ )*--provision-with ${p.name}\\b`, 'm').test(vagrantfile)) {
      problems.push(`provisioner "${p.name}" has no rerun command in a comment (vagrant provision --provision-with ${p.name})`);
    }
  }
  return problems;
}

/** The Vagrantfile's node settings, read from its text: what VM i's demo provisioner is given. */
export interface VagrantNodes {
  underlaySubnet: string | undefined;
  hostOffset: number | undefined;
  /** the environment names demo_env sets for a VM of several */
  envNames: string[];
  /** the private network address expression uses underlay_ip(i) */
  privateNetworkByRule: boolean;
}

export function vagrantNodes(vagrantfile: string): VagrantNodes {
  const body = /def demo_env\(i\)([\s\S]*?)\nend/.exec(vagrantfile)?.[1] ?? '';
  return {
    underlaySubnet: /^UNDERLAY_SUBNET = "([^"]+)"/m.exec(vagrantfile)?.[1],
    hostOffset: Number(/^UNDERLAY_HOST_OFFSET = (\d+)/m.exec(vagrantfile)?.[1] ?? Number.NaN),
    envNames: [...body.matchAll(/"(CNI_DEMO_[A-Z_]+)"\s*=>/g)].map((m) => m[1] ?? ''),
    privateNetworkByRule: /vm\.network "private_network", ip: underlay_ip\(i\)/.test(vagrantfile),
  };
}
