#!/usr/bin/env bash
# Fleet mode's costs, on a throwaway PostgreSQL cluster (pg_virtualenv, from Debian's
# postgresql; or the server PGHOST names):
#   1. claim latency with 20 hosts racing on the same fires (benches/fleet_claims.rs);
#   2. what the outbox adds to `orc run`: the same no-op task run through `orc run`
#      in a state without [fleet], one with [fleet] applied and the database up, and
#      one with it applied and the database unreachable (orc run never connects for a
#      task without run_on = "one": the cost is the triggers' queue row). Timed
#      alternately, RUNS times each (default 300), as run_overhead.sh does;
#   3. the dashboard's GET /api/fleet/runs over 1,000,000 runs of 20 hosts: the
#      newest page, one host's, one task's, the failed ones, a task and a status
#      rare over the whole history, and 20 pages deep by cursor, each asked REQUESTS
#      times (default 500) over one kept connection.
# Usage: benches/fleet.sh   (RUNS=…, REQUESTS=… to change the counts)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PGHOST:-}" ]; then
    exec pg_virtualenv -t -- "$0" "$@"
fi
cargo build --release --quiet
cargo bench --quiet --bench fleet_claims
orc="$PWD/target/release/orc"
work=$(mktemp -d "${TMPDIR:-/tmp}/orc-fleet-bench.XXXXXX")
server=
trap 'rm -rf "$work"; [ -n "$server" ] && kill "$server"' EXIT
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

# 3. /api/fleet/runs over a million runs.
psql -X -q -d orc_bench_outbox <<'SQL'
INSERT INTO orc_runs (host, state_id, folder, run_id, task, status, exit_code, attempts,
    trigger, started_at, finished_at, duration_ms, scheduled_for)
SELECT 'host' || (i % 20), 'bench', 'Orc', i / 20 + 1, 'task' || (i % 50),
    CASE WHEN i % 100 = 0 THEN 'failed' ELSE 'success' END, 0, 1, 'scheduled',
    now() - make_interval(secs => i * 3), now() - make_interval(secs => i * 3 - 2), 2000,
    now() - make_interval(secs => i * 3)
FROM generate_series(1, 1000000) AS i;
-- A monthly task's runs and rare timeouts: 20 of each across the whole history.
INSERT INTO orc_runs (host, state_id, folder, run_id, task, status, attempts, started_at)
SELECT 'host' || (i % 20), 'bench', 'Orc', 1000000 + i,
    CASE WHEN i <= 20 THEN 'monthly' ELSE 'task1' END,
    CASE WHEN i <= 20 THEN 'success' ELSE 'timeout' END, 1,
    now() - make_interval(secs => (i % 20) * 150000 + 7)
FROM generate_series(1, 40) AS i;
ANALYZE orc_runs;
SQL
"$orc" serve --listen 127.0.0.1:0 --config "$work/up/tasks.toml" --state "$work/up/state.db" \
    > "$work/serve.out" 2>/dev/null &
server=$!
for _ in $(seq 100); do grep -q http:// "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
python3 - "$(grep -o 'http://[0-9.:]*' "$work/serve.out" | head -1)" "$(cat "$work/up/serve.token")" \
    "${REQUESTS:-500}" <<'PY'
import http.client, json, sys, time, urllib.parse
base, token, requests = sys.argv[1], sys.argv[2], int(sys.argv[3])
conn = http.client.HTTPConnection(urllib.parse.urlparse(base).netloc)
def get(path):
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200, (path, response.status, body[:200])
    return json.loads(body)
total = get("/api/fleet/runs?limit=1")
deep = "/api/fleet/runs"
for _ in range(20):
    deep = "/api/fleet/runs?cursor=" + urllib.parse.quote(get(deep)["next_cursor"])
queries = {
    "newest 50": "/api/fleet/runs",
    "one host's": "/api/fleet/runs?host=host7",
    "one task's": "/api/fleet/runs?task=task13",
    "failed ones": "/api/fleet/runs?status=failed",
    "monthly's 20": "/api/fleet/runs?task=monthly",
    "20 timeouts": "/api/fleet/runs?status=timeout",
    "20 pages deep": deep,
}
for name, path in queries.items():
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        page = get(path)
        times.append((time.perf_counter() - start) * 1000)
    expected = 20 if name in ("monthly's 20", "20 timeouts") else 50
    assert len(page["runs"]) == expected, (name, len(page["runs"]))
    times.sort()
    p = lambda q: times[min(len(times) - 1, int(len(times) * q))]
    print(f"GET /api/fleet/runs, 1,000,000 runs, {name:<14} p50 {p(0.5):.2f} ms  p99 {p(0.99):.2f} ms  max {times[-1]:.2f} ms (target: p99 under 20 ms)")
# /metrics counts the fleet's runs by host, task and status at each scrape.
times = []
for _ in range(10):
    start = time.perf_counter()
    conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {token}"})
    body = conn.getresponse().read()
    times.append((time.perf_counter() - start) * 1000)
assert b"orc_fleet_runs_total" in body
computed, kept = times[0], sorted(times[1:])
print(f"GET /metrics, 1,000,000 fleet runs: computed {computed:.0f} ms, then kept (10 s) median {kept[len(kept) // 2]:.1f} ms (no target: a scrape every 15 s or more)")
PY
