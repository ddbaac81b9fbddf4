#!/usr/bin/env bash
# Brings a fresh Debian 12 / Ubuntu 22.04+ machine (root) to a working cni-demo checkout, then runs one thing.
# The same script serves the README, CI (.ci/run) and the Vagrant provisioning hook. Idempotent, non-interactive.
#
#   bash scripts/provision.sh deps    system packages, Node 20 check, pinned pnpm, workspace deps, build
#   bash scripts/provision.sh demo    deps, then the whole demo (pnpm turbo run demo)
#   bash scripts/provision.sh down    tear the demo down (pnpm turbo run down)
#   bash scripts/provision.sh test    deps, then every test; the last line is "N passed, N failed"
#
# Rerun any of them at will: what is already installed is skipped.
set -euo pipefail

cd "$(dirname "$0")/.."
MODE="${1:-deps}"
shift || true

PNPM_VERSION="$(node -p "require('./package.json').packageManager.split('@')[1]" 2>/dev/null || echo 10.34.9)"
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

check_node() {
  if ! command -v node >/dev/null 2>&1 || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    echo "error: Node.js 20 or newer is needed (found: $(node --version 2>/dev/null || echo none))" >&2
    echo "  fix: install Node 20 from your distribution or nodejs.org, then rerun" >&2
    exit 1
  fi
}

install_pnpm() {
  if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
    log "installing pnpm@$PNPM_VERSION"
    npm install -g --no-fund --no-audit "pnpm@$PNPM_VERSION" >/dev/null
  fi
}

deps() {
  need_root
  install_system_packages
  check_node
  install_pnpm
  pnpm install --frozen-lockfile --reporter=append-only >/dev/null
  pnpm exec turbo run build --output-logs=errors-only >&2
}

case "$MODE" in
  deps) deps ;;
  demo) deps; pnpm exec turbo run demo "$@" ;;
  down) need_root; pnpm exec turbo run down "$@" ;;
  test) deps; node scripts/test-all.mjs "$@" ;;
  *)
    echo "error: unknown mode \"$MODE\"" >&2
    echo "  fix: bash scripts/provision.sh deps|demo|down|test" >&2
    exit 1
    ;;
esac
