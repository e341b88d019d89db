#!/usr/bin/env bash
# Load `orc serve` from a second process (wrk) with 1,000 applied tasks and 1,000,000
# runs in history: p50/p99 latency and requests/s of the read routes, and the
# server's memory afterwards. Target: p99 under 10 ms for /api/tasks and
# /api/runs?limit=100.
#
# Usage: benches/api_load.sh
#   TASKS=1000 RUNS=1000000   applied tasks and rows in the run history
#   DURATION=10s              wrk duration of each measurement
#   REPEAT=3                  measurements per case (the table shows their median)
#   THREADS=1 CONNS=4         wrk threads and connections (this is a 2-core machine)
#   MORE_CONNS=32             one more measurement of /api/tasks and /api/runs with
#                             this many connections (0: skip); /api/tasks is also
#                             measured with one connection
#   KEEP=DIR                  keep the state, config and wrk outputs in DIR
#
# Needs wrk, sqlite3, curl and jq (apt-get install wrk sqlite3 curl jq).
#
# The config comes from benches/config_and_schedule.rs (ORC_BENCH_WRITE), with the
# `hosts = [...]` lines removed so every task applies here, its secrets stored in a
# key-file vault, applied on the embedded backend into a fresh state. The runs are inserted with one recursive CTE through
# the sqlite3 CLI into the real `runs` table (schema version as `orc apply` left it),
# spread round-robin-ish over the applied tasks, one every 30 s ending now (so about
# 347 days of history), with the columns `orc run` fills: trigger (90% scheduled,
# 8% manual, 2% catch-up), host, pid, status (90% success, 6% failed, 2% timeout,
# 1% skipped, 1% missed), exit code, attempts, duration/cpu/peak RSS, log path,
# error text for failures, scheduled_for for scheduled runs. No ANALYZE: orc never runs
# it, so SQLite plans the server's queries here as it would on a real state.
#
# Routes loaded, each with keep-alive connections:
#   /api/tasks                             every task with next run and last result
#   /api/runs?limit=100                    the newest page
#   /api/runs?limit=100&task=NAME          one task's newest page
#   /api/runs?limit=100&cursor=ID          a page from deep history (ID = RUNS / 5)
#   /api/runs?limit=100&task=NAME&cursor=ID  one task's page from deep history
set -euo pipefail

cd "$(dirname "$0")/.."
tasks=${TASKS:-1000}
nruns=${RUNS:-1000000}
duration=${DURATION:-10s}
repeat=${REPEAT:-3}
threads=${THREADS:-1}
conns=${CONNS:-4}
more_conns=${MORE_CONNS:-32}

die() {
    echo "error: $*" >&2
    exit 1
}
say() { echo "== $*" >&2; }

for tool in wrk sqlite3 curl jq; do
    command -v $tool >/dev/null 2>&1 || die "$tool is not installed (apt-get install $tool)"
done

cargo build --release --quiet
orc=$(pwd)/target/release/orc
if [[ -n ${KEEP:-} ]]; then
    work=$KEEP
    mkdir -p "$work"
else
    work=$(mktemp -d)
fi
server_pid=
cleanup() {
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    [[ -z ${KEEP:-} ]] && rm -rf "$work"
    return 0
}
trap cleanup EXIT

say "config with $tasks tasks, applied on the embedded backend"
rm -rf "$work/cfg" "$work/state"
ORC_BENCH_WRITE="$work/cfg" ORC_BENCH_TASKS=$tasks ORC_BENCH_TIMEZONE=local \
    cargo bench --quiet --bench config_and_schedule >/dev/null
find "$work/cfg" -name '*.toml' -exec sed -i '/^hosts = /d' {} +
export ORC_STATE="$work/state/state.db" ORC_CONFIG="$work/cfg/tasks.toml" ORC_LOG=off NO_COLOR=1
# apply resolves every secret the config refers to: a key-file vault holds them.
benches/store-secrets.sh "$orc" "$ORC_STATE" "$work/cfg"
"$orc" apply --backend embedded --auto-approve -q
applied=$(sqlite3 "$ORC_STATE" 'SELECT count(*) FROM tasks')
[[ $applied -eq $tasks ]] || die "$applied tasks applied, expected $tasks"

say "$nruns runs into the history"
start=$(date +%s%N)
sqlite3 "$ORC_STATE" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
CREATE TEMP TABLE names AS SELECT row_number() OVER (ORDER BY name) - 1 AS k, name FROM tasks;
BEGIN;
INSERT INTO runs (id, task, started_at, finished_at, status, exit_code, attempt, trigger,
                  log_path, error, host, pid, duration_ms, cpu_ms, peak_rss_kb, child_pid,
                  scheduled_for)
WITH RECURSIVE
  n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $nruns),
  r AS (
    SELECT i,
           -- a spread that is not strictly periodic per task
           (i * 7919 + i / $tasks) % $tasks AS k,
           (i * 2654435761) % 100 AS p,
           (i * 40503) % 1000 AS q,
           unixepoch('now') - ($nruns - i) * 30 AS t
    FROM n)
SELECT i, names.name,
       strftime('%Y-%m-%dT%H:%M:%fZ', t, 'unixepoch'),
       CASE WHEN p = 99 THEN strftime('%Y-%m-%dT%H:%M:%fZ', t, 'unixepoch')
            ELSE strftime('%Y-%m-%dT%H:%M:%fZ', t + (q * 37 % 600000) / 1000.0, 'unixepoch') END,
       CASE WHEN p < 90 THEN 'success' WHEN p < 96 THEN 'failed' WHEN p < 98 THEN 'timeout'
            WHEN p < 99 THEN 'skipped' ELSE 'missed' END,
       CASE WHEN p < 90 THEN 0 WHEN p < 96 THEN 1 + q % 3 ELSE NULL END,
       CASE WHEN p >= 98 THEN 0 WHEN p < 90 THEN 1 ELSE 1 + q % 3 END,
       CASE WHEN q < 900 THEN 'scheduled' WHEN q < 980 THEN 'manual' ELSE 'catch-up' END,
       CASE WHEN p < 98 THEN '$work/state/logs/' || names.name || '/' || i || '.log' END,
       CASE WHEN p BETWEEN 90 AND 95 THEN 'exited with code ' || (1 + q % 3)
            WHEN p IN (96, 97) THEN 'timed out after 25m'
            WHEN p = 98 THEN 'a dependency failed'
            WHEN p = 99 THEN '1 fire missed while orc was not running' END,
       'bench-host', 10000 + q,
       CASE WHEN p < 98 THEN q * 37 % 600000 WHEN p = 98 THEN 0 END,
       CASE WHEN p < 98 THEN q * 11 % 60000 WHEN p = 98 THEN 0 END,
       CASE WHEN p < 98 THEN 2000 + q * 97 WHEN p = 98 THEN 0 END,
       CASE WHEN p < 98 THEN 20000 + q END,
       CASE WHEN q < 900 OR q >= 980 OR p = 99
            THEN strftime('%Y-%m-%dT%H:%M:%fZ', t - t % 60, 'unixepoch') END
FROM r JOIN names ON names.k = r.k;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
stored=$(sqlite3 "$ORC_STATE" 'SELECT count(*) FROM runs')
[[ $stored -eq $nruns ]] || die "$stored runs stored, expected $nruns"
say "$stored runs in $((($(date +%s%N) - start) / 1000000)) ms; state $(du -h "$ORC_STATE" | cut -f1)"

# A free loopback port: the server binds port 0 and says which one it got.
"$orc" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
    grep -q 'Listening on' "$work/serve.out" && break
    sleep 0.1
done
base=$(grep -o 'http://[0-9.:]*' "$work/serve.out") || die "orc serve did not start: $(cat "$work/serve.out")"
say "orc serve (pid $server_pid) on $base"
# Reads need the token (made beside the state before the server listens).
auth="Authorization: Bearer $("$orc" serve --print-token)"

task=$(sqlite3 "$ORC_STATE" 'SELECT name FROM tasks ORDER BY name LIMIT 1 OFFSET 500')
cursor=$((nruns / 5))
routes=(
    "/api/tasks"
    "/api/runs?limit=100"
    "/api/runs?limit=100&task=$task"
    "/api/runs?limit=100&cursor=$cursor"
    "/api/runs?limit=100&task=$task&cursor=$cursor"
)
# Each route answers 200 with what it should before it is timed.
for route in "${routes[@]}"; do
    body=$(curl -fsS -H "$auth" "$base$route") || die "GET $route failed"
    case $route in
    /api/tasks) n=$(jq length <<<"$body") ;;
    *) n=$(jq '.runs | length' <<<"$body") ;;
    esac
    [[ $route == /api/tasks && $n -eq $tasks || $route != /api/tasks && $n -eq 100 ]] ||
        die "GET $route: $n items"
    say "GET $route: $n items, $(wc -c <<<"$body") bytes"
done

# wrk --latency prints "50%  1.23ms" and "99%  4.56ms"; numbers in ms.
ms() {
    awk -v k="$1" '$1 == k { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
        if (u == "us") v /= 1000; else if (u == "s") v *= 1000; printf "%.2f", v }' "$2"
}
rps() { awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$1"; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

printf '\n| route | conns | p50 ms | p99 ms | req/s | errors |\n|---|---|---|---|---|---|\n' >"$work/table.md"
measure() {
    local route=$1 c=$2 p50s=() p99s=() rpss=() errs=0 i
    for i in $(seq "$repeat"); do
        local f="$work/wrk-$(tr -c 'a-z0-9' _ <<<"$route")-c$c-$i.txt"
        wrk -t"$threads" -c"$c" -d"$duration" --latency -H "$auth" "$base$route" >"$f"
        p50s+=("$(ms 50% "$f")")
        p99s+=("$(ms 99% "$f")")
        rpss+=("$(rps "$f")")
        errs=$((errs + $(awk '/Non-2xx/ { s += $NF } /Socket errors/ { for (j = 4; j <= NF; j += 2) s += $j } END { print s + 0 }' "$f")))
    done
    local row
    row="| \`$route\` | $c | $(printf '%s\n' "${p50s[@]}" | median) | $(printf '%s\n' "${p99s[@]}" | median) | $(printf '%s\n' "${rpss[@]}" | median) | $errs |"
    echo "$row" >>"$work/table.md"
    say "$row   (runs: p99 ${p99s[*]})"
}
for route in "${routes[@]}"; do
    measure "$route" "$conns"
done
grep -E '^(VmRSS|VmHWM)' "/proc/$server_pid/status" | sed 's/^/server after the 4-connection load: /' >"$work/memory.txt"
# One connection: the latency of /api/tasks when requests do not queue.
measure "/api/tasks" 1
if [[ $more_conns -gt 0 ]]; then
    measure "/api/tasks" "$more_conns"
    measure "/api/runs?limit=100" "$more_conns"
fi

cat "$work/table.md"
echo
echo "median of $repeat runs of wrk -t$threads -c<conns> -d$duration --latency each; $tasks tasks, $stored runs"
cat "$work/memory.txt"
grep -E '^(VmRSS|VmHWM)' "/proc/$server_pid/status" | sed 's/^/server after all of it: /'
