#!/usr/bin/env bash
# What `orc run` adds to a command: the same no-op command (`true`) run directly and
# through `orc run` (state lookup, dependency check, run lock, log file, history row,
# orc's own log, the hourly retention check).
#
# The two are timed alternately, one after the other, RUNS times each (default 300),
# so that the machine's background noise, which drifts over seconds on a shared VM,
# hits both alike; hyperfine runs all of one command before the other.
# Usage: benches/run_overhead.sh   (RUNS=… to change the count)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
orc="$PWD/target/release/orc"
work=$(mktemp -d "${TMPDIR:-/tmp}/orc-run-overhead.XXXXXX")
trap 'rm -rf "$work"' EXIT
printf '[tasks.noop]\ncommand = "true"\n' > "$work/tasks.toml"
"$orc" apply --config "$work/tasks.toml" --state "$work/state.db" --auto-approve --quiet
true_path=$(command -v true)
python3 - "${RUNS:-300}" "$true_path" "$orc" "$work/state.db" <<'PY'
import statistics, subprocess, sys, time
runs, true_path, orc, state = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
cases = {"direct `true`": [true_path], "`orc run` of `true`": [orc, "run", "noop", "--state", state]}
times = {name: [] for name in cases}
for _ in range(5):  # warm-up
    for argv in cases.values():
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
for _ in range(runs):
    for name, argv in cases.items():
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        times[name].append((time.perf_counter() - start) * 1000)
for name, t in times.items():
    t.sort()
    print(f"{name:<20} median {statistics.median(t):.2f} ms  p25 {t[len(t) // 4]:.2f} ms  min {t[0]:.2f} ms")
direct, orc_run = (statistics.median(t) for t in times.values())
print(f"{'overhead':<20} median {orc_run - direct:.2f} ms (target: under 5 ms)")
PY
