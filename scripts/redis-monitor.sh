#!/bin/bash
# Where the Redis work of one payout goes: run a small `kirim bench` pipeline run
# with `redis-cli MONITOR` attached to the benchmark's private Redis, then group
# the capture by issuer (scripts by their keys, plain commands by command + key).
#
#   scripts/redis-monitor.sh [TRANSFERS] [OUT]     # defaults: 200, /tmp/kirim-monitor
#
# Needs a release build (target/release/kirim) and redis-cli. MONITOR slows Redis
# down; use it for counting, not timing.
set -euo pipefail
N=${1:-200}
OUT=${2:-/tmp/kirim-monitor}
cd "$(dirname "$0")/.."
before=$(pgrep -x redis-server | sort || true)
KIRIM_LOG__FILTER=warn ./target/release/kirim bench --transfers "$N" --workers 2 --json >"$OUT.json" 2>"$OUT.err" &
bench=$!
new=""
for _ in $(seq 1 1000); do
  new=$(comm -13 <(echo "$before") <(pgrep -x redis-server | sort) | head -1)
  [ -n "$new" ] && break
  sleep 0.01
done
port=""
for _ in $(seq 1 500); do
  port=$(ss -ltnp 2>/dev/null | grep "pid=$new," | grep -o '127.0.0.1:[0-9]*' | head -1 | cut -d: -f2 || true)
  [ -n "$port" ] && break
  sleep 0.01
done
redis-cli -p "$port" MONITOR >"$OUT.mon" 2>/dev/null &
monitor=$!
wait "$bench"
kill "$monitor" 2>/dev/null || true
python3 scripts/redis-breakdown.py "$OUT.mon"
