#!/usr/bin/env bash
# The plain-shell baseline for bench/run.mjs: the work the TypeScript pipeline does, with the same tools
# (ip, iptables, sha256sum, mount, runc, the CNI plugins run by hand as the walkthrough does, ping), one
# step after another, as a person would script it, and no more than the pipeline does:
#   - the same checks before anything changes: the commands and plugins are there, busybox is the static
#     one, IPv6 is on, the FORWARD policy, the bridge name and the subnets against the host's routes;
#   - the same image work on a warm cache: the builtin image's entry found by the busybox binary's digest,
#     its blobs checked against their digests, the unpacked tree the cache already holds (the warm-up run
#     made it) mounted read-only under a writable overlay per container, never unpacked again;
#   - the same container: config.json from `runc spec` and the image config, /etc/hostname, hosts and
#     resolv.conf as bind-mounted files filled from the CNI result, runc create with a pid file, the netns
#     pinned by a bind mount, runc start;
#   - the same checks afterwards (verify's: the addresses and routes inside the container, the host's pings,
#     the container's pings of the gateway) and the same teardown (DEL with the result as prevResult, runc
#     delete, pins and overlays unmounted, the FORWARD fix's rules looked for, the bridge, the network
#     config, the lease folder).
# What the pipeline does beyond this (state files, the host record and the forwarding sysctls it puts back,
# the instance lock, the bridge's ownership mark, step timings, the report and its picture, the leak audit) is
# not here: bench/run.mjs measures each of those on its own and lists it in RESULTS.md. Reads the same
# CNI_DEMO_* variables; refuses to run without an explicit id, so it never touches the real demo.
#   bash bench/shell/demo.sh up     checks, bridge, netconf, image, N containers on overlays, ADD, checks
#   bash bench/shell/demo.sh down   DEL, containers, pins, overlays, FORWARD rules, bridge, netconf, leases
set -euo pipefail

: "${CNI_DEMO_ID:?set CNI_DEMO_ID (the bench never uses the default names)}"
ID=$CNI_DEMO_ID NET=$CNI_DEMO_NETWORK BR=$CNI_DEMO_BRIDGE
S4=$CNI_DEMO_SUBNET4 G4=$CNI_DEMO_GATEWAY4 S6=$CNI_DEMO_SUBNET6 G6=$CNI_DEMO_GATEWAY6
N=${CNI_DEMO_CONTAINERS:-1}
CONF_DIR=$CNI_DEMO_CONF_DIR STATE=$CNI_DEMO_STATE_DIR/$ID-sh IMAGES=$CNI_DEMO_IMAGE_CACHE_DIR
LEASES=$CNI_DEMO_IPAM_DATA_DIR RUNC_ROOT=$CNI_DEMO_RUNC_ROOT NETNS=$CNI_DEMO_NETNS_DIR
CONF=$CONF_DIR/10-$NET.conflist
PLUGINS=/usr/lib/cni
IFN=eth0

ids() { if [ "$N" -le 1 ]; then echo "$ID"; else seq -f "$ID-%g" 1 "$N"; fi; }
runc_() { runc --root "$RUNC_ROOT" "$@"; }
bits() { echo "${1#*/}"; }
die() { echo "error: $*" >&2; exit 1; }

# one plugin call of the chain (bridge only), its stdin made from the conflist (with the ADD result as
# prevResult for DEL), as CNI_COMMAND=... bridge < conf
cni() { # cmd id netns [prevResult-file]
  local req
  if [ -n "${4:-}" ] && [ -s "$4" ]; then
    req=$(jq -c --slurpfile r "$4" '.plugins[0] + {name: .name, cniVersion: .cniVersion, prevResult: $r[0]}' "$CONF")
  else
    req=$(jq -c '.plugins[0] + {name: .name, cniVersion: .cniVersion}' "$CONF")
  fi
  CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=$3 CNI_IFNAME=$IFN CNI_ARGS=IgnoreUnknown=1 CNI_PATH=$PLUGINS "$PLUGINS/bridge" <<<"$req"
}

# the first IPv4 and IPv6 address of a result (address/prefix) and their gateways, as verify reads them
addrs_of() {
  jq -r '[.ips[] | select(.address | contains(":") | not)][0] as $a | [.ips[] | select(.address | contains(":"))][0] as $b
    | [$a.address, $b.address, $a.gateway, $b.gateway] | @tsv' "$1"
}

ping_retry() { for _ in 1 2 3 4 5; do "$@" >/dev/null 2>&1 && return 0; sleep 0.3; done; echo "no reply: $*" >&2; return 1; }

# /etc/hosts as the pipeline writes it: loopback names, then the container's name on each address given
hosts() { # name [addresses...]
  local name=$1 a
  shift
  printf '# written by cni-demo from the CNI result\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n'
  for a in "$@"; do printf '%s\t%s\n' "$a" "$name"; done
}
NO_DNS=$'# written by cni-demo from the CNI result\n# the CNI result has no nameservers'
# what verify reads inside a container, in one ip process: its addresses and both families' routes
INSIDE=$'addr show\nroute show table all root 0.0.0.0/0\nroute show table all root ::/0'

preflight() {
  local c p
  for c in ip iptables ip6tables runc umoci busybox ping mount; do command -v "$c" >/dev/null || die "command $c not found"; done
  for p in bridge host-local loopback; do [ -x "$PLUGINS/$p" ] || die "CNI plugin $p not found in $PLUGINS"; done
  # the container's busybox must be the static one: no dynamic loader named in it
  if grep -qF -e /lib64/ld-linux -e /lib/ld-linux "$(command -v busybox)"; then die "busybox is dynamically linked"; fi
  [ "$(</proc/sys/net/ipv6/conf/all/disable_ipv6)" = 0 ] || die "IPv6 is disabled"
  [ -e /proc/sys/net/ipv4/ip_forward ] || die "/proc/sys/net is not available"
}

# the host's side, decided before anything changes: FORWARD policy, the bridge name, the subnets' routes
host_checks() {
  local t
  for t in iptables ip6tables; do
    if "$t" -w -S FORWARD | grep -x -- '-P FORWARD DROP' >/dev/null; then echo "warning: the $t FORWARD policy is DROP" >&2; fi
  done
  # one ip process: the bridge (if there is one) and the routes inside or around either subnet (-force goes on
  # past a missing bridge)
  local seen clash
  seen=$(printf 'addr show dev %s\nroute show table all root %s\nroute show table all match %s\nroute show table all root %s\nroute show table all match %s\n' \
    "$BR" "$S4" "$S4" "$S6" "$S6" | ip -force -d -batch - 2>/dev/null || true)
  if grep -q "^[0-9]*: $BR: " <<<"$seen"; then
    grep -q ' bridge ' <<<"$seen" || die "a link named $BR exists and is not a bridge"
    grep -q "inet $G4/" <<<"$seen" && grep -q "inet6 $G6/" <<<"$seen" || die "bridge $BR has other addresses"
    BRIDGE_EXISTS=1
  fi
  # the bridge's own routes, default and non-unicast entries aside
  # (with -d, ip names the type of every route: "unicast default …")
  clash=$(grep -v -e '^ ' -e "^[0-9]*: " -e '^\(unicast \)\?default' -e "dev $BR " -e '^broadcast' -e '^multicast' -e '^anycast' \
    -e '^throw' -e '^nat' -e '^\(unicast \)\?fe80:' -e '^\(unicast \)\?ff' <<<"$seen" || true)
  [ -z "$clash" ] || die "the subnets overlap the host routes: $clash"
}

# the builtin image's cache entry: found by the busybox binary's digest, every blob checked against its own
image() {
  local sum key digest entry manifest
  sum=$(sha256sum "$(command -v busybox)")
  key=$IMAGES/keys/builtin-busybox-${sum:0:16}
  digest=$(<"$key")
  entry=$IMAGES/images/${digest/:/-}
  [ -f "$entry/cni-demo.json" ] || die "the image cache has no entry for $digest (the warm-up run makes it)"
  manifest=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "image") | .digest | ltrimstr("sha256:")' "$entry/index.json")
  # the manifest, its config (first: the image config comes from it) and its layers, each against its digest
  local sums
  sums=$(jq -r --arg m "$manifest" --arg b "$entry/blobs/sha256/" '[.config] + .layers | map(.digest | ltrimstr("sha256:")) | [$m] + . | .[] | "\(.)  \($b)\(.)"' \
    "$entry/blobs/sha256/$manifest")
  sha256sum --quiet -c - <<<"$sums" >/dev/null || die "image cache entry $entry is damaged"
  IMAGE_CONFIG=$(sed -n '2s/^[0-9a-f]*  //p' <<<"$sums")
  ROOTFS=$entry/unpacked/rootfs
  [ -d "$ROOTFS" ] || die "the cache entry has no unpacked tree (the warm-up run makes it)"
}

up() {
  preflight
  mkdir -p "$STATE" "$CONF_DIR" "$NETNS" "$LEASES"
  BRIDGE_EXISTS=0
  host_checks
  if [ "$BRIDGE_EXISTS" = 0 ]; then
    printf 'link add name %s type bridge\naddr add %s/%s dev %s\naddr add %s/%s dev %s nodad\nlink set dev %s up\n' \
      "$BR" "$G4" "$(bits "$S4")" "$BR" "$G6" "$(bits "$S6")" "$BR" "$BR" | ip -batch -
  fi
  cat >"$CONF" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$NET",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BR", "isGateway": true, "ipMasq": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$S4", "gateway": "$G4" }], [{ "subnet": "$S6", "gateway": "$G6" }]],
        "routes": [{ "dst": "0.0.0.0/0" }, { "dst": "::/0" }],
        "dataDir": "$LEASES"
      }
    }
  ]
}
EOF

  image
  runc spec --bundle "$STATE" && mv "$STATE/config.json" "$STATE/template.json"
  local id c4 c6
  for id in $(ids); do
    local dir=$STATE/c/$id
    mkdir -p "$dir/bundle/etc" "$dir/upper" "$dir/work" "$dir/rootfs"
    # the cache's tree is never written to: each container gets a writable overlay over it
    mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$dir/upper,workdir=$dir/work" "$dir/rootfs"
    echo "$id" >"$dir/bundle/etc/hostname"
    hosts "$id" >"$dir/bundle/etc/hosts"
    echo "$NO_DNS" >"$dir/bundle/etc/resolv.conf"
    jq --arg root "$dir/rootfs" --arg h "$id" --arg etc "$dir/bundle/etc" --slurpfile img "$IMAGE_CONFIG" '
      ($img[0].config // {}) as $c
      | .process.terminal = false
      | .process.args = (($c.Entrypoint // []) + ($c.Cmd // []))
      | .process.env = ($c.Env // ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
      | .process.cwd = (if ($c.WorkingDir // "") == "" then "/" else $c.WorkingDir end)
      | .process.capabilities |= with_entries(.value += ["CAP_NET_RAW"])
      | .root = {path: $root, readonly: false} | .hostname = $h
      | .linux.namespaces |= (if any(.type == "network") then . else . + [{type: "network"}] end)
      | .mounts += [["/etc/hostname", "hostname"], ["/etc/hosts", "hosts"], ["/etc/resolv.conf", "resolv.conf"]
          | {destination: .[0], type: "bind", source: "\($etc)/\(.[1])", options: ["rbind", "rprivate"]}]' \
      "$STATE/template.json" >"$dir/bundle/config.json"
    runc_ create --bundle "$dir/bundle" --pid-file "$dir/bundle/container.pid" "$id" >"$dir/bundle/container.log" 2>&1
    touch "$NETNS/$id"
    mount --bind "/proc/$(<"$dir/bundle/container.pid")/ns/net" "$NETNS/$id"
    runc_ start "$id"
    cni ADD "$id" "$NETNS/$id" >"$dir/result.json"
    # the container's /etc/hosts from the result (the files are bind-mounted: rewritten in place)
    read -r c4 c6 _ < <(addrs_of "$dir/result.json")
    hosts "$id" "${c4%/*}" "${c6%/*}" >"$dir/bundle/etc/hosts"
    echo "$NO_DNS" >"$dir/bundle/etc/resolv.conf"
  done
  if [ "$N" -le 1 ]; then cat "$STATE/c/$ID/result.json" && echo; fi

  # checks: as verify does them, each derived from the ADD result: its addresses on eth0 and its default routes
  # via its gateways (one read of the container's links and routes), the gateways pinged from the container, the
  # container's addresses pinged from the host (no DNS in the result: nothing to check)
  local first c4 c6 g4 g6
  first=$(ids | head -1)
  if [ "$N" -le 1 ]; then
    local seen
    read -r c4 c6 g4 g6 < <(addrs_of "$STATE/c/$first/result.json")
    seen=$(nsenter --net="$NETNS/$first" ip -o -batch - <<<"$INSIDE")
    grep -q "^[0-9]*: $IFN *inet $c4 " <<<"$seen" || die "$IFN lacks $c4"
    grep -q "^[0-9]*: $IFN *inet6 $c6 " <<<"$seen" || die "$IFN lacks $c6"
    grep -q "^default via $g4 dev $IFN" <<<"$seen" || die "no IPv4 default route via $g4"
    grep -q "^default via $g6 dev $IFN" <<<"$seen" || die "no IPv6 default route via $g6"
    ping_retry runc_ exec "$first" ping -c1 -W1 "$g4"
    ping_retry runc_ exec "$first" ping -6 -c1 -W1 "$g6"
    ping_retry ping -4 -c1 -W1 "${c4%/*}"
    ping_retry ping -6 -c1 -W1 "${c6%/*}"
  else
    local id seen first_seen
    declare -a A4 A6 IDS
    for id in $(ids); do
      read -r c4 c6 _ < <(addrs_of "$STATE/c/$id/result.json")
      seen=$(nsenter --net="$NETNS/$id" ip -o -batch - <<<"$INSIDE")
      [ "$id" = "$first" ] && first_seen=$seen
      grep "^[0-9]*: $IFN *inet6\? \($c4\|$c6\) " <<<"$seen" | [ "$(wc -l)" = 2 ] || die "$id: $IFN lacks $c4 or $c6"
      IDS+=("$id") A4+=("${c4%/*}") A6+=("${c6%/*}")
    done
    read -r _ _ g4 g6 < <(addrs_of "$STATE/c/$first/result.json")
    grep -q "^default via $g4 dev $IFN" <<<"$first_seen" || die "no IPv4 default route via $g4"
    grep -q "^default via $g6 dev $IFN" <<<"$first_seen" || die "no IPv6 default route via $g6"
    ping_retry runc_ exec "$first" ping -c1 -W1 "$g4"
    ping_retry runc_ exec "$first" ping -6 -c1 -W1 "$g6"
    for v4 in "${A4[@]}"; do ping_retry ping -4 -c1 -W1 "$v4"; done
    for v6 in "${A6[@]}"; do ping_retry ping -6 -c1 -W1 "$v6"; done
    # the same sampled pairs as verify: neighbours, last->first, middle->last, spread
    local n=${#IDS[@]}
    local pairs="0:1 $((n - 1)):0 $((n / 2)):$((n - 1))" step i
    step=$((n / 6)); [ "$step" -lt 1 ] && step=1
    for ((i = 1; i < n; i += step)); do pairs="$pairs $i:$(((i + n / 3 + 1) % n))"; done
    local count=0 p a b seen=" "
    for p in $pairs; do
      a=${p%:*} b=${p#*:}
      [ "$a" = "$b" ] && continue
      case "$seen" in *" $p "*) continue ;; esac
      seen="$seen$p "
      [ "$count" -ge 6 ] && break
      count=$((count + 1))
      ping_retry runc_ exec "${IDS[$a]}" ping -c1 -W1 "${A4[$b]}"
      ping_retry runc_ exec "${IDS[$a]}" ping -6 -c1 -W1 "${A6[$b]}"
    done
  fi
  echo "shell up: $N container(s) checked"
}

down() {
  for id in $(ids); do
    local dir=$STATE/c/$id
    if [ -e "$NETNS/$id" ]; then cni DEL "$id" "$NETNS/$id" "$dir/result.json" || true; fi
    runc_ delete --force "$id" 2>/dev/null || true
    if mountpoint -q "$NETNS/$id" 2>/dev/null; then umount "$NETNS/$id"; fi
    rm -f "$NETNS/$id"
    while mountpoint -q "$dir/rootfs" 2>/dev/null; do umount "$dir/rootfs"; done
  done
  # every DEL done: no port may be left on the bridge
  local ports=("/sys/class/net/$BR/brif/"*)
  [ ! -e "${ports[0]}" ] || echo "warning: bridge $BR still has ports: ${ports[*]##*/}" >&2
  # the --fix-forward rules (commented with the instance), looked for as the pipeline's down does
  local t
  for t in iptables ip6tables; do
    "$t" -w -S FORWARD | grep -F -- "cni-demo id=$ID bridge=$BR" | sed 's/^-A /-D /' | xargs -r -L1 "$t" -w || true
  done
  ip link del "$BR" 2>/dev/null || true
  rm -f "$CONF"
  rm -rf "$STATE" "${LEASES:?}/$NET"
  rmdir "$CONF_DIR" "$NETNS" "$LEASES" "$CNI_DEMO_STATE_DIR" 2>/dev/null || true
  echo "shell down: done"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: bash bench/shell/demo.sh up|down" >&2; exit 1 ;;
esac
