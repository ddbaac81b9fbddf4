#!/usr/bin/env bash
# The plain-shell baseline for bench/run.mjs: the same steps as the TypeScript pipeline with the same tools
# (ip, umoci, runc, jq, mount, the CNI plugins run by hand as the walkthrough does, ping), one after another,
# as a person would script it. Reads the same CNI_DEMO_* variables; refuses to run without an explicit id,
# so it never touches the real demo.
#   bash bench/shell/demo.sh up     bridge, netconf, unpack, N containers (overlay rootfs when N > 1), ADD, checks
#   bash bench/shell/demo.sh down   DEL, containers, pins, overlays, bridge, netconf, unpack, leases
set -euo pipefail

: "${CNI_DEMO_ID:?set CNI_DEMO_ID (the bench never uses the default names)}"
ID=$CNI_DEMO_ID NET=$CNI_DEMO_NETWORK BR=$CNI_DEMO_BRIDGE
S4=$CNI_DEMO_SUBNET4 G4=$CNI_DEMO_GATEWAY4 S6=$CNI_DEMO_SUBNET6 G6=$CNI_DEMO_GATEWAY6
N=${CNI_DEMO_CONTAINERS:-1}
CONF_DIR=$CNI_DEMO_CONF_DIR STATE=$CNI_DEMO_STATE_DIR/$ID-sh IMAGES=$CNI_DEMO_IMAGE_CACHE_DIR
CNI_CACHE=$CNI_DEMO_CNI_CACHE_DIR LEASES=$CNI_DEMO_IPAM_DATA_DIR RUNC_ROOT=$CNI_DEMO_RUNC_ROOT NETNS=$CNI_DEMO_NETNS_DIR
CONF=$CONF_DIR/10-$NET.conflist
export CNI_PATH=/usr/lib/cni
IFN=eth0

ids() { if [ "$N" -le 1 ]; then echo "$ID"; else seq -f "$ID-%g" 1 "$N"; fi; }
runc_() { runc --root "$RUNC_ROOT" "$@"; }
bits() { echo "${1#*/}"; }

# one plugin call of the chain (bridge only), stdin from the conflist, as CNI_COMMAND=... bridge < conf
cni() { # cmd id netns [prevResult-file]
  local req
  # the plugin's stdin, derived from the conflist once per run
  [ -n "${BASE_REQ:-}" ] || BASE_REQ=$(jq -c '.plugins[0] + {name: .name, cniVersion: .cniVersion}' "$CONF")
  req=$BASE_REQ
  if [ -n "${4:-}" ] && [ -s "$4" ]; then req=$(jq -c --slurpfile r "$4" '. + {prevResult: $r[0]}' <<<"$req"); fi
  CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=$3 CNI_IFNAME=$IFN CNI_ARGS=IgnoreUnknown=1 /usr/lib/cni/bridge <<<"$req"
}

ping_retry() { for _ in 1 2 3 4 5; do "$@" >/dev/null 2>&1 && return 0; sleep 0.3; done; echo "no reply: $*" >&2; return 1; }

up() {
  mkdir -p "$STATE" "$CONF_DIR" "$NETNS" "$CNI_CACHE/results"
  cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding >"$STATE/sysctls"
  if ! ip link show "$BR" >/dev/null 2>&1; then
    ip link add name "$BR" type bridge
    ip addr add "$G4/$(bits "$S4")" dev "$BR"
    ip -6 addr add "$G6/$(bits "$S6")" dev "$BR" nodad
  fi
  ip link set "$BR" up
  jq -n --arg n "$NET" --arg br "$BR" --arg s4 "$S4" --arg g4 "$G4" --arg s6 "$S6" --arg g6 "$G6" --arg d "$LEASES" '{
    cniVersion: "0.4.0", name: $n,
    plugins: [{type: "bridge", bridge: $br, isGateway: true, ipMasq: true,
      ipam: {type: "host-local", ranges: [[{subnet: $s4, gateway: $g4}], [{subnet: $s6, gateway: $g6}]],
             routes: [{dst: "0.0.0.0/0"}, {dst: "::/0"}], dataDir: $d}}]}' >"$CONF"

  # the image: the cached builtin busybox (one OCI layout per digest, tagged "image"; the bench's own
  # cache holds only that one, made by the warm-up run), unpacked with umoci
  local layout
  layout=$(ls -td "$IMAGES"/images/sha256-* | head -n 1)
  rm -rf "$STATE/image"
  umoci unpack --image "$layout:image" "$STATE/image" >/dev/null
  local rootfs=$STATE/image/rootfs

  runc spec --bundle "$STATE" && mv "$STATE/config.json" "$STATE/template.json"
  for id in $(ids); do
    local dir=$STATE/c/$id root=$rootfs
    mkdir -p "$dir/bundle"
    if [ "$N" -gt 1 ]; then
      mkdir -p "$dir/upper" "$dir/work" "$dir/rootfs"
      mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$dir/upper,workdir=$dir/work" "$dir/rootfs"
      root=$dir/rootfs
    fi
    jq --arg root "$root" --arg h "$id" '.process.terminal = false | .process.args = ["/bin/sleep", "infinity"]
      | .root = {path: $root, readonly: false} | .hostname = $h
      | .process.capabilities |= with_entries(.value += ["CAP_NET_RAW"])
      | .linux.namespaces |= (if any(.type == "network") then . else . + [{type: "network"}] end)' \
      "$STATE/template.json" >"$dir/bundle/config.json"
    runc_ create --bundle "$dir/bundle" "$id" >"$dir/bundle/container.log" 2>&1
    local pid
    pid=$(runc_ state "$id" | jq -r .pid)
    touch "$NETNS/$id"
    mount --bind "/proc/$pid/ns/net" "$NETNS/$id"
    runc_ start "$id"
    cni ADD "$id" "$NETNS/$id" >"$dir/result.json"
  done

  # checks: as verify does them
  local first
  first=$(ids | head -1)
  if [ "$N" -le 1 ]; then
    local r=$STATE/c/$first/result.json v4 v6
    v4=$(jq -r '.ips[] | select(.version == "4") | .address | split("/")[0]' "$r")
    v6=$(jq -r '.ips[] | select(.version == "6") | .address | split("/")[0]' "$r")
    runc_ exec "$first" ip addr show dev "$IFN" | grep "inet $v4/" >/dev/null
    runc_ exec "$first" ip addr show dev "$IFN" | grep "inet6 $v6/" >/dev/null
    runc_ exec "$first" ip route | grep "^default via $G4" >/dev/null
    runc_ exec "$first" ip -6 route | grep "^default via $G6" >/dev/null
    ping_retry ping -4 -c1 -W1 "$v4"
    ping_retry ping -6 -c1 -W1 "$v6"
    ping_retry runc_ exec "$first" ping -c1 -W1 "$G4"
    ping_retry runc_ exec "$first" ping -6 -c1 -W1 "$G6"
  else
    local id r v4 v6
    declare -a A4 A6 IDS
    for id in $(ids); do
      r=$STATE/c/$id/result.json
      v4=$(jq -r '.ips[] | select(.version == "4") | .address | split("/")[0]' "$r")
      v6=$(jq -r '.ips[] | select(.version == "6") | .address | split("/")[0]' "$r")
      nsenter --net="$NETNS/$id" ip -j addr show dev "$IFN" | jq -e --arg a "$v4" --arg b "$v6" \
        '[.[0].addr_info[].local] | index($a) != null and index($b) != null' >/dev/null
      IDS+=("$id") A4+=("$v4") A6+=("$v6")
    done
    nsenter --net="$NETNS/$first" ip route | grep "^default via $G4" >/dev/null
    nsenter --net="$NETNS/$first" ip -6 route | grep "^default via $G6" >/dev/null
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
  ip link del "$BR" 2>/dev/null || true
  rm -f "$CONF"
  if [ -f "$STATE/sysctls" ]; then
    { read -r f4; read -r f6; } <"$STATE/sysctls"
    echo "$f4" >/proc/sys/net/ipv4/ip_forward
    echo "$f6" >/proc/sys/net/ipv6/conf/all/forwarding
  fi
  rm -rf "$STATE" "${LEASES:?}/$NET"
  echo "shell down: done"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: bash bench/shell/demo.sh up|down" >&2; exit 1 ;;
esac
