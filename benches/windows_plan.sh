#!/usr/bin/env bash
# Time the whole `orc plan` process on the windows backend against a folder of 1,000
# task XML files: every file read (UTF-16), parsed, put in plain words, and compared
# with orc's own rendering of the 1,000 desired tasks (rendered to XML and read back
# the same way). Target: under 200 ms.
#
# Usage: benches/windows_plan.sh
#   TASKS=1000            tasks in the generated config
#   RUNS=30 WARMUP=3      hyperfine runs and warm-up runs
#
# The folder is a directory laid out like C:\Windows\System32\Tasks
# (ORC_WINDOWS_TASKS_DIR), filled by `orc apply`; the config comes from
# benches/config_and_schedule.rs (ORC_BENCH_WRITE), with `hosts = [...]` removed so
# every task applies here. The plan is checked to be "No changes." first, so the
# timed runs read, normalise and diff every task without writing anything. For
# comparison the same plan is timed on the embedded backend (one JSON registry file).
set -euo pipefail

cd "$(dirname "$0")/.."
tasks=${TASKS:-1000}
runs=${RUNS:-30}
warmup=${WARMUP:-3}

command -v hyperfine >/dev/null 2>&1 || {
    echo "error: hyperfine is not installed (apt-get install hyperfine)" >&2
    exit 1
}
cargo build --release --quiet
orc=$(pwd)/target/release/orc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ORC_BENCH_WRITE="$work/cfg" ORC_BENCH_TASKS=$tasks ORC_BENCH_TIMEZONE=local \
    cargo bench --quiet --bench config_and_schedule >/dev/null
find "$work/cfg" -name '*.toml' -exec sed -i '/^hosts = /d' {} +

export ORC_WINDOWS_TASKS_DIR="$work/Tasks" ORC_LOG=off NO_COLOR=1
for backend in windows embedded; do
    export ORC_STATE="$work/$backend/state.db"
    benches/store-secrets.sh "$orc" "$ORC_STATE" "$work/cfg"
    "$orc" --config "$work/cfg/tasks.toml" apply --backend $backend --auto-approve -q
    "$orc" --config "$work/cfg/tasks.toml" plan --backend $backend --detailed-exitcode -q || {
        echo "error: the $backend plan is not empty after apply" >&2
        exit 1
    }
done
echo "== $(find "$work/Tasks" -type f | wc -l) task files, $(du -sh "$work/Tasks" | cut -f1)"

for backend in windows embedded; do
    ORC_STATE="$work/$backend/state.db" hyperfine -N --style basic --warmup "$warmup" \
        --runs "$runs" --command-name "plan, $backend, $tasks tasks" \
        "$orc --config $work/cfg/tasks.toml plan --backend $backend -q"
done
