#!/usr/bin/env bash
# Run after the test suite: fails if it left anything of its containers behind: a monitor
# process, a mount, or a cgroup. Test daemons keep their roots in temporary directories
# named pl* and their containers' cgroups under /podlink-test. Each test's TestDaemon makes
# the same check for its own roots when it is dropped (tests/integration/util.rs, `leftovers`)
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

# The network room's tests (tests/integration/network_room.rs) name their bridges plt*,
# their "outside" veths plo* and their nftables tables plt_*.
links=$(ip -o link show 2>/dev/null | awk -F': ' '$2 ~ /^pl[to][0-9]/ { print $2 }')
if [[ -n $links ]]; then
    echo "check-leftovers: network links left:"; echo "$links"; status=1
fi
tables=$(nft list tables 2>/dev/null | awk '$3 ~ /^plt_/ { print $2, $3 }')
if [[ -n $tables ]]; then
    echo "check-leftovers: nftables tables left:"; echo "$tables"; status=1
fi

((status == 0)) && echo "check-leftovers: no monitor, mount, container cgroup, link or table left"
exit $status
