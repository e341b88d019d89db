#!/usr/bin/env bash
# orc's whole `orc plan` (and `orc validate`) of a 10,000-task config against Python's
# pure-Python `tomllib.load` of the same file, timed alternately in one run so that
# both see the same machine; then `orc apply` of 100,000 new tasks, and where the
# state's bytes go. Peak memory is each orc process's own (wait4's ru_maxrss).
#
# Usage: benches/plan_vs_tomllib.sh
#   ROUNDS=15      alternating rounds (orc plan, tomllib.load, orc validate)
#   TASKS=10000    tasks in the compared config
#   BIG=100000     tasks of the apply measurement (0: skip it)
#   ORC=PATH       the orc to time (default: target/release/orc, built first)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z ${ORC:-} ]]; then
    cargo build --release --quiet
    ORC=$(pwd)/target/release/orc
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/orc-plan-tomllib.XXXXXX")
trap 'rm -rf "$work"' EXIT
ORC="$ORC" WORK="$work" ROUNDS=${ROUNDS:-15} TASKS=${TASKS:-10000} BIG=${BIG:-100000} \
    python3 - <<'PY'
import os, sys, time, tomllib
sys.path.insert(0, "benches/lib")
from measure import write_config, run, median, file_mb

orc, work = os.environ["ORC"], os.environ["WORK"]
rounds, tasks, big = int(os.environ["ROUNDS"]), int(os.environ["TASKS"]), int(os.environ["BIG"])
env = dict(os.environ, NO_COLOR="1", ORC_LOG="off")

def orc_args(cfg, state, *rest):
    return [orc, *rest, "--config", cfg, "--state", state, "--backend", "embedded"]

cfg, state = f"{work}/tasks.toml", f"{work}/state/state.db"
write_config(cfg, tasks)
run(orc_args(cfg, state, "apply", "--auto-approve", "-q"), env)
run(orc_args(cfg, state, "plan", "-q", "--detailed-exitcode"), env)  # 0: no changes
plan_t, plan_m, val_t, val_m, toml_t = [], [], [], [], []
for _ in range(rounds):
    t, m = run(orc_args(cfg, state, "plan", "-q", "--detailed-exitcode"), env)
    plan_t.append(t); plan_m.append(m)
    start = time.perf_counter()
    with open(cfg, "rb") as f:
        tomllib.load(f)
    toml_t.append(time.perf_counter() - start)
    t, m = run([orc, "validate", "-q", "--config", cfg], env)
    val_t.append(t); val_m.append(m)
p, v, py = median(plan_t), median(val_t), median(toml_t)
print(f"config: {tasks} tasks, {file_mb(cfg):.2f} MB; {rounds} alternating rounds")
print(f"orc plan (no changes): median {p*1000:.0f} ms, peak {max(plan_m):.0f} MB")
print(f"orc validate:          median {v*1000:.0f} ms, peak {max(val_m):.0f} MB")
print(f"Python tomllib.load:   median {py*1000:.0f} ms")
print(f"orc plan / tomllib.load = {p/py:.3f} (target at most 0.1)")
print(f"state after apply: {file_mb(state):.1f} MB database, {file_mb(state + '-wal'):.1f} MB WAL "
      f"({file_mb(state) * 1e6 / tasks:.0f} bytes a task)")

if big:
    cfg, state = f"{work}/big.toml", f"{work}/big/state.db"
    write_config(cfg, big)
    times, peaks = [], []
    for _ in range(3):
        for leftover in [os.path.dirname(state)]:
            if os.path.exists(leftover):
                import shutil; shutil.rmtree(leftover)
        t, m = run(orc_args(cfg, state, "apply", "--auto-approve", "-q"), env)
        times.append(t); peaks.append(m)
    print(f"orc apply of {big} new tasks ({file_mb(cfg):.1f} MB): median {median(times):.2f} s, "
          f"peak {max(peaks):.0f} MB (target under 3 s and 400 MB)")
PY
