#!/usr/bin/env bash
# Sets up what the service needs (Debian 12, as root), builds it, and serves io.podman on
# unix:/run/podman/io.podman. Extra arguments go to `podlink serve`.
set -euo pipefail
cd "$(dirname "$0")/../.."
contrib/scripts/setup-deps.sh service
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release
exec target/release/podlink serve "$@"
