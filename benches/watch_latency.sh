#!/usr/bin/env bash
# Time from save to applied under `orc watch`: EDITS edits of tasks.toml, one at a
# time, each adding a task; for each, the time from the write to the watcher's
# "Apply complete!" line. Prints p50, p90, p99 and the maximum. Target: under 2 s.
#
# Usage: benches/watch_latency.sh
#   EDITS=50      edits to time
#   TASKS=20      tasks in the config before the first edit
#
# The time includes the watcher's settle delay (400 ms of quiet, so that an editor's
# save or a burst of saves is one change), loading and validating the config,
# planning, and `orc apply` on the embedded backend.
set -euo pipefail

cd "$(dirname "$0")/.."
edits=${EDITS:-50}
tasks=${TASKS:-20}
cargo build --release --quiet
orc=$(pwd)/target/release/orc
work=$(mktemp -d)
trap 'kill "$watcher" 2>/dev/null; rm -rf "$work"' EXIT

config="$work/tasks.toml"
printf '[settings]\nbackend = "embedded"\n' >"$config"
for i in $(seq 1 "$tasks"); do
    printf '\n[tasks.base%d]\nshell = "echo %d"\nschedule = "%d 6 * * *"\n' "$i" "$i" $((i % 60)) >>"$config"
done

export NO_COLOR=1 ORC_LOG=off
"$orc" watch --config "$config" --state "$work/state.db" --interval 1h >"$work/out.log" 2>&1 &
watcher=$!

applies() { grep -c "Apply complete!" "$work/out.log" || true; }
wait_for() {
    local want=$1
    while [ "$(applies)" -lt "$want" ]; do
        kill -0 "$watcher" || { cat "$work/out.log"; exit 1; }
        sleep 0.002
    done
}
wait_for 1

: >"$work/times"
for i in $(seq 1 "$edits"); do
    sleep 0.5 # a person between saves; also lets the previous cycle finish
    start=$(date +%s%N)
    printf '\n[tasks.edit%d]\nshell = "echo %d"\nschedule = "@daily"\n' "$i" "$i" >>"$config"
    wait_for $((i + 1))
    end=$(date +%s%N)
    echo $(((end - start) / 1000000)) >>"$work/times"
done

sort -n "$work/times" | awk -v n="$edits" '
    function at(q,   i) { i = int(n * q + 0.5); if (i < 1) i = 1; if (i > n) i = n; return t[i] }
    { t[NR] = $1 }
    END {
        printf "save to applied over %d edits: p50 %d ms, p90 %d ms, p99 %d ms, max %d ms\n",
            n, at(0.50), at(0.90), at(0.99), t[n]
    }'
