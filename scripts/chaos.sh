#!/usr/bin/env bash
# The chaos run (issue 13, item 6): payouts offered through the HTTP API while
# kirim worker processes are SIGKILLed, Redis is SIGKILLed (mode none: and loses
# the last second of its AOF), the providers are down for --outage-secs, forged
# and duplicated callbacks arrive and the sandbox answers 429/500/timeouts.
# Prints booked twice / lost / not final / wrongly final per durability mode and
# exits non-zero if a reference was booked twice, a payout ended wrongly final,
# or a durable mode lost an acknowledged payout. See docs/crash-test.md.
#
# Usage: scripts/chaos.sh [--payouts N] [--durability fsync|none|all] [--outage-secs S]
#                         [--workers W] [--kirim PATH]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin kirim --example chaos
exec target/release/examples/chaos "$@"
