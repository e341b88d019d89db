#!/usr/bin/env bash
# Fleet mode's costs, on a throwaway PostgreSQL cluster (pg_virtualenv, from Debian's
# postgresql; or the server PGHOST names):
#   1. claim latency with 20 hosts racing on the same fires (benches/fleet_claims.rs);
#   2. what the outbox adds to `orc run`: the same no-op task run through `orc run`
#      in a state without [fleet], one with [fleet] applied and the database up, and
#      one with it applied and the database unreachable (orc run never connects for a
#      task without run_on = "one": the cost is the triggers' queue row). Timed
#      alternately, RUNS times each (default 300), as run_overhead.sh does.
# Usage: benches/fleet.sh   (RUNS=… to change the count)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PGHOST:-}" ]; then
    exec pg_virtualenv -t -- "$0" "$@"
fi
cargo build --release --quiet
cargo bench --quiet --bench fleet_claims
orc="$PWD/target/release/orc"
work=$(mktemp -d "${TMPDIR:-/tmp}/orc-fleet-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
psql -X -q -c "DROP DATABASE IF EXISTS orc_bench_outbox" -c "CREATE DATABASE orc_bench_outbox"
task='[tasks.noop]\ncommand = "true"\n'
fleet='[fleet]\nurl = { secret = "fleet_db" }\npool = "etl"\n\n'
for case in alone up down; do
    mkdir -p "$work/$case"
    if [ "$case" = alone ]; then
        printf "$task" > "$work/$case/tasks.toml"
    else
        printf "$fleet$task" > "$work/$case/tasks.toml"
        "$orc" secret init --state "$work/$case/state.db" >/dev/null
    fi
done
for case in up down; do
    port=$([ "$case" = up ] && echo "$PGPORT" || echo 1)
    printf 'postgres://%s:%s@%s:%s/orc_bench_outbox\n' "$PGUSER" "$PGPASSWORD" "$PGHOST" "$port" |
        "$orc" secret set fleet_db --state "$work/$case/state.db" >/dev/null
done
"$orc" fleet init --config "$work/up/tasks.toml" --state "$work/up/state.db" --quiet
for case in alone up down; do
    "$orc" apply --config "$work/$case/tasks.toml" --state "$work/$case/state.db" --auto-approve --quiet
done
python3 - "${RUNS:-300}" "$orc" "$work" <<'PY'
import statistics, subprocess, sys, time
runs, orc, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cases = {
    "without [fleet]": "alone",
    "[fleet], database up": "up",
    "[fleet], database down": "down",
}
times = {name: [] for name in cases}
argv = lambda case: [orc, "run", "noop", "--state", f"{work}/{case}/state.db"]
for _ in range(5):  # warm-up
    for case in cases.values():
        subprocess.run(argv(case), stdout=subprocess.DEVNULL, check=True)
for _ in range(runs):
    for name, case in cases.items():
        start = time.perf_counter()
        subprocess.run(argv(case), stdout=subprocess.DEVNULL, check=True)
        times[name].append((time.perf_counter() - start) * 1000)
for name, t in times.items():
    t.sort()
    print(f"orc run, {name:<24} median {statistics.median(t):.2f} ms  p25 {t[len(t) // 4]:.2f} ms  min {t[0]:.2f} ms")
base = statistics.median(times["without [fleet]"])
for name in list(cases)[1:]:
    print(f"outbox cost, {name:<21} {statistics.median(times[name]) - base:+.2f} ms (target: under 1 ms up, 0 down)")
PY
