#!/usr/bin/env bash
# Installs what podlink needs on Debian 12, idempotently. Run as root.
#   setup-deps.sh service   what the service needs: a Rust toolchain, runc and crun, catatonit
#                           (Create's `init`, pods' infra), containers-common (the default
#                           seccomp profile), criu (ContainerCheckpoint and ContainerRestore),
#                           nftables (`nft`: the bridge network's NAT and published ports),
#                           libseccomp2 (the daemon links libseccomp.so.2: it compiles the
#                           programs crun loads ready) and libseccomp-dev (to build it: this
#                           role builds podlink too, hence gcc and the Rust toolchain)
#   setup-deps.sh test      the above plus every tool the test suite drives
set -euo pipefail

role=${1:-test}
export DEBIAN_FRONTEND=noninteractive

service_packages=(ca-certificates curl gcc libc6-dev git libseccomp2 libseccomp-dev runc crun catatonit golang-github-containers-common criu nftables)
test_packages=(busybox-static skopeo podman systemd python3 python3-pip python3-venv tar gzip xz-utils zstd docker-registry apache2-utils openssl)

packages=("${service_packages[@]}")
[[ $role == test ]] && packages+=("${test_packages[@]}")

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup-deps: installing ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian 12's rustc is too old for this crate (edition 2024): use rustup's stable.
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null; then
    echo "setup-deps: installing Rust with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
fi
if command -v rustup >/dev/null; then
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
    rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
fi

[[ $role == test ]] || exit 0

# Python's varlink package, into whichever python3 comes first on PATH. Debian's own python3
# refuses pip installs into the system (PEP 668) unless told otherwise.
if ! python3 -c 'import varlink' 2>/dev/null; then
    echo "setup-deps: installing the python varlink package"
    python3 -m pip install -q varlink 2>/dev/null ||
        python3 -m pip install -q --break-system-packages varlink
fi

# python-podman 0.11.1.1, the Python library of this API's generation (Podman 1.1-1.3), in a
# virtual environment of its own: it predates Python 3.10, whose collections module no longer
# has the abstract base classes it imports, so the environment aliases them at start-up.
venv=/opt/podlink-test/python-podman
if ! "$venv/bin/python" -c 'import podman, varlink' 2>/dev/null; then
    echo "setup-deps: installing python-podman 0.11.1.1 into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "setuptools<81" varlink python-dateutil psutil pbr
    "$venv/bin/pip" install -q --no-deps podman==0.11.1.1
    purelib=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    cat >"$purelib/sitecustomize.py" <<'PY'
import collections, collections.abc
for n in ("MutableMapping", "Mapping", "Iterable", "Sequence", "Callable", "MutableSequence"):
    if not hasattr(collections, n):
        setattr(collections, n, getattr(collections.abc, n))
PY
fi

# The varlink command line tool (Debian 12 does not package one).
if ! command -v varlink >/dev/null; then
    echo "setup-deps: installing varlink-cli"
    cargo install -q --locked varlink-cli
fi
