#!/usr/bin/env bash
# Sets up everything the tests need (Debian 12, as root) and runs every test.
# REQUIRE_PRIVILEGED=1 makes tests that need root fail instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/../.."
contrib/scripts/setup-deps.sh test
export PATH="$HOME/.cargo/bin:$PATH"
cargo test
# The suite's own checks are per test; this one looks once everything has run.
contrib/scripts/check-leftovers.sh

