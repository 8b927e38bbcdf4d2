#!/usr/bin/env bash
# Run after the test suite: fails if it left anything of its containers behind: a monitor
# process, a mount (network namespace files are mounts too), a cgroup, a test network (bridge,
# veth on it, nftables table) or a subnet still held. Test daemons keep their roots in temporary
# directories named pl*, their containers' cgroups under /podlink-test, and have a bridge and
# an nftables table named plt* of their own (tests/integration/leftovers.rs, `TestNetwork`).
# Each test's TestDaemon makes the same check for its own roots when it is dropped (tests/integration/util.rs, `leftovers`)
# and fails the test; this catches what escapes it (a test that spawned a daemon by hand).
set -uo pipefail
tmp=${TMPDIR:-/tmp}
status=0

monitors=$(pgrep -af "podlink monitor .*--dir $tmp/pl" || true)
if [[ -n $monitors ]]; then
    echo "check-leftovers: monitor processes left:"; echo "$monitors"; status=1
fi

mounts=$(awk -v p="$tmp/pl" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo)
if [[ -n $mounts ]]; then
    echo "check-leftovers: mounts left:"; echo "$mounts"; status=1
fi

cgroups=$(find /sys/fs/cgroup -mindepth 2 -path '*/podlink-test/*' -type d 2>/dev/null |
    grep -E '/[0-9a-f]{64}$' || true)
if [[ -n $cgroups ]]; then
    echo "check-leftovers: container cgroups left:"; echo "$cgroups"; status=1
fi

# Test daemons' bridges are plt + their holder's name; the network room's tests
# (tests/integration/network_room.rs) name theirs plt<digits>, their "outside" veths plo* and
# their nftables tables plt_*.
bridges=$(ip -o link show type bridge 2>/dev/null | awk -F': ' '$2 ~ /^plt/ { print $2 }')
if [[ -n $bridges ]]; then
    echo "check-leftovers: test bridges left:"; echo "$bridges"; status=1
fi

outside=$(ip -o link show 2>/dev/null | awk -F': ' '$2 ~ /^plo[0-9]/ { print $2 }')
if [[ -n $outside ]]; then
    echo "check-leftovers: network room test links left:"; echo "$outside"; status=1
fi

veths=$(ip -o link show type veth 2>/dev/null | grep -E 'master plt' || true)
if [[ -n $veths ]]; then
    echo "check-leftovers: veths on test bridges left:"; echo "$veths"; status=1
fi

tables=$(nft list tables ip 2>/dev/null | awk '$3 ~ /^plt/ { print $3 }')
if [[ -n $tables ]]; then
    echo "check-leftovers: test nftables tables left:"; echo "$tables"; status=1
fi

# A subnet held for a root that is gone (a daemon spawned by hand, not a TestDaemon) is
# free again: its file goes quietly. One held for a root that still exists is a leftover.
held=""
for file in "$tmp"/podlink-test-subnets/*; do
    [[ -f $file ]] || continue
    owner=$(cat "$file")
    if [[ -n $owner && -e $owner ]]; then held+="$file: $owner"$'\n'; else rm -f "$file"; fi
done
if [[ -n $held ]]; then
    echo "check-leftovers: test subnets still held:"; echo -n "$held"; status=1
fi

((status == 0)) && echo "check-leftovers: no monitor, mount, container cgroup or test network left"
exit $status
