#!/usr/bin/env bash
# The embedded scheduler under load and at rest.
#
# 1. Fire lateness: TASKS tasks (default 1,000) all due at the same minute, each a
#    command that exits at once, max_concurrent = TASKS. Measured:
#    - woke: how late the daemon woke and queued the due tasks, against the fire time
#      (its ORC_LOG=debug "woke for" line): the scheduler's own precision;
#    - dispatch: per task, when the daemon had started its `orc run` process (its
#      "fired" lines): bounded by how fast the machine creates processes, so the
#      script also times a minimal program that only spawns TASKS copies of
#      /bin/true, the floor for any scheduler that runs each task as a process;
#    - recorded: when that `orc run` wrote its run row, against the fire time (from
#      the history: started_at - scheduled_for), which adds process start-up and
#      SQLite, all TASKS processes competing for the machine's cores.
# 2. Idle cost: IDLE_TASKS tasks (default 10,000) registered, none due for hours:
#    the daemon's CPU time over IDLE_SECONDS (default 60) and its resident memory.
#
# Usage: benches/daemon.sh   (TASKS=… IDLE_TASKS=… IDLE_SECONDS=… to change sizes;
#        SKIP_IDLE=1 measures the burst only)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
orc="$PWD/target/release/orc"
work=$(mktemp -d "${TMPDIR:-/tmp}/orc-daemon-bench.XXXXXX")
daemon_pid=""
cleanup() {
    [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
tasks=${TASKS:-1000}
idle_tasks=${IDLE_TASKS:-10000}
idle_seconds=${IDLE_SECONDS:-60}

# --- 1. fire lateness -------------------------------------------------------------
mkdir -p "$work/burst"
{
    printf '[settings]\ntimezone = "UTC"\nmax_concurrent = %d\n\n' "$tasks"
    for i in $(seq 1 "$tasks"); do
        printf '[tasks.t%05d]\ncommand = "true"\nschedule = "* * * * *"\n\n' "$i"
    done
} > "$work/burst/tasks.toml"
"$orc" apply --config "$work/burst/tasks.toml" --state "$work/burst/state.db" \
    --backend embedded --auto-approve --quiet
# Start a few seconds after a minute boundary, so the daemon is settled when the
# next one comes.
sleep $(( (65 - $(date +%s) % 60) % 60 ))
ORC_LOG=debug "$orc" daemon --state "$work/burst/state.db" --quiet &
daemon_pid=$!
# Wait for the next minute's burst to be dispatched and recorded.
sleep $(( 60 - $(date +%s) % 60 + 20 ))
kill -TERM "$daemon_pid"
wait "$daemon_pid" || true
daemon_pid=""

python3 - "$work/burst" "$tasks" <<'PY'
import glob, re, sqlite3, sys
from datetime import datetime
work, tasks = sys.argv[1], int(sys.argv[2])
def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]
def ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

dispatch, woke = {}, {}
for path in glob.glob(f"{work}/orc-log/*.log"):
    for line in open(path):
        m = re.search(r"fired (\S+) due (\S+) \((\d+) ms late\)", line)
        if m:
            dispatch.setdefault(m.group(2), []).append(int(m.group(3)))
        m = re.search(r"woke for (\d+) due task\(s\) (\d+) ms after (\S+)", line)
        if m:
            woke[m.group(3)] = (int(m.group(1)), int(m.group(2)))
burst_due, burst = max(dispatch.items(), key=lambda kv: len(kv[1]))
db = sqlite3.connect(f"{work}/state.db")
rows = db.execute(
    "SELECT started_at, scheduled_for FROM runs WHERE scheduled_for = ? AND trigger = 'scheduled'",
    (burst_due.replace("Z", "").split(".")[0] + ".000Z",),
).fetchall()
recorded = [(ts(s) - ts(d)) * 1000 for s, d in rows]
print(f"fire lateness, {tasks} tasks due at {burst_due}:")
count, late = woke[burst_due]
print(f"  woke (daemon queued all {count} due tasks): {late} ms after the fire time")
print(f"  dispatch (daemon starts orc run): {len(burst)} fired, "
      f"p50 {pct(burst, 50)} ms, p99 {pct(burst, 99)} ms, max {max(burst)} ms")
if recorded:
    print(f"  recorded (orc run wrote its row): {len(recorded)} runs, "
          f"p50 {pct(recorded, 50):.0f} ms, p99 {pct(recorded, 99):.0f} ms, max {max(recorded):.0f} ms")
PY

# The floor: a minimal program that only starts TASKS processes of /bin/true.
cat > "$work/spawn.py" <<'PY'
import os, sys, time
n = int(sys.argv[1])
start = time.perf_counter()
children = [os.posix_spawn("/bin/true", ["true"], os.environ) for _ in range(n)]
spawned = time.perf_counter() - start
for pid in children:
    os.waitpid(pid, 0)
print(f"  floor: starting {n} /bin/true processes took {spawned * 1000:.0f} ms "
      f"({spawned * 1e6 / n:.0f} us each) on this machine")
PY
python3 "$work/spawn.py" "$tasks"

# --- 2. idle cost -------------------------------------------------------------------
[ -n "${SKIP_IDLE:-}" ] && exit 0
mkdir -p "$work/idle"
{
    printf '[settings]\ntimezone = "UTC"\n\n'
    hour=$(( ($(date -u +%H) + 6) % 24 ))
    for i in $(seq 1 "$idle_tasks"); do
        printf '[tasks.t%05d]\ncommand = "true"\nschedule = "%d %d * * *"\n\n' "$i" $((i % 60)) "$hour"
    done
} > "$work/idle/tasks.toml"
"$orc" apply --config "$work/idle/tasks.toml" --state "$work/idle/state.db" \
    --backend embedded --auto-approve --quiet
start=$(date +%s.%N)
"$orc" daemon --state "$work/idle/state.db" > "$work/idle/out.txt" &
daemon_pid=$!
until grep -q "loaded" "$work/idle/out.txt" 2>/dev/null; do sleep 0.01; done
loaded=$(date +%s.%N)
sleep 2
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$daemon_pid/stat"; }
before=$(cpu)
sleep "$idle_seconds"
after=$(cpu)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$daemon_pid/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$daemon_pid/status")
python3 - "$idle_tasks" "$start" "$loaded" "$before" "$after" "$ticks" "$idle_seconds" "$rss" "$hwm" <<'PY'
import sys
n, start, loaded, before, after, ticks, secs, rss, hwm = sys.argv[1:]
cpu_ms = (int(after) - int(before)) * 1000 / int(ticks)
print(f"idle daemon, {n} tasks registered:")
print(f"  start-up until loaded: {(float(loaded) - float(start)) * 1000:.0f} ms")
print(f"  CPU over {secs} s idle: {cpu_ms:.0f} ms ({cpu_ms / (int(secs) * 10):.3f}% of one core)")
print(f"  resident memory: {int(rss) / 1024:.1f} MB (peak {int(hwm) / 1024:.1f} MB)")
PY
