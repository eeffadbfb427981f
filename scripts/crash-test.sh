#!/usr/bin/env bash
# The long crash test: PAYOUTS payouts (default 1000) flow through the sandbox with
# response-dropping and 500-after-booking faults while worker processes are
# SIGKILLed CYCLES times (default 10). Passes only if every payout is final, the
# ledger matches the sandbox, and no reference was booked twice.
# Usage: scripts/crash-test.sh [PAYOUTS] [CYCLES]
set -euo pipefail
cd "$(dirname "$0")/.."
PAYOUTS=${1:-1000}
CYCLES=${2:-10}
CRASH_PAYOUTS=$PAYOUTS CRASH_CYCLES=$CYCLES \
  cargo test --release --test it crash:: -- --nocapture 2>&1 | tee "${TMPDIR:-/tmp}/kirim-crash.log" \
  | grep -E "crash test:|test result|panicked"
