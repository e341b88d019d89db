#!/usr/bin/env bash
# Time the whole `orc validate` process (start-up, read, parse, validate, print) on
# the 10,000-task config the criterion benchmarks use, as one file and as a folder of
# 10 files. Prints the median wall time in milliseconds for each.
#
# Usage: benches/cli.sh            (RUNS=20 benches/cli.sh for more runs)
# Uses hyperfine when installed, otherwise a bash loop timed with `date +%s%N`.
set -euo pipefail

cd "$(dirname "$0")/.."
runs=${RUNS:-10}
target=${CARGO_TARGET_DIR:-target}
orc="$target/release/orc"

work=$(mktemp -d "${TMPDIR:-/tmp}/orc-cli-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "building orc (release) ..." >&2
cargo build --release --quiet --bin orc
echo "generating the 10k-task configs in $work ..." >&2
ORC_BENCH_WRITE="$work" cargo bench --quiet --bench config_and_schedule >/dev/null

# median of the numbers on stdin, one per line
median() {
    sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) exit 1
        if (NR % 2) printf "%.1f\n", v[(NR + 1) / 2]
        else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}

time_config() {
    local label=$1 config=$2
    # The config must be valid, or we would time the error path.
    if ! "$orc" validate --config "$config" >/dev/null 2>&1; then
        echo "error: orc validate --config $config fails:" >&2
        "$orc" validate --config "$config" >&2 || true
        exit 1
    fi
    local ms
    if command -v hyperfine >/dev/null 2>&1; then
        hyperfine --runs "$runs" --warmup 1 --style basic \
            --export-json "$work/$label.json" \
            -- "$orc validate --config $config" >&2
        # hyperfine reports seconds; "median" is one per command.
        ms=$(grep -o '"median": *[0-9.e+-]*' "$work/$label.json" | head -1 |
            awk -F: '{ printf "%.1f\n", $2 * 1000 }')
    else
        "$orc" validate --config "$config" >/dev/null 2>&1 # warm-up
        ms=$(for _ in $(seq "$runs"); do
            start=$(date +%s%N)
            "$orc" validate --config "$config" >/dev/null 2>&1
            end=$(date +%s%N)
            echo $(((end - start) / 1000))
        done | awk '{ printf "%.3f\n", $1 / 1000 }' | median)
    fi
    printf '%-28s median %10s ms  (%s runs)\n' "validate $label" "$ms" "$runs"
}

if command -v hyperfine >/dev/null 2>&1; then
    echo "timing with hyperfine" >&2
else
    echo "hyperfine not installed; timing with date +%s%N" >&2
fi
time_config "10k_one_file" "$work/tasks.toml"
time_config "10k_folder_10_files" "$work/tasks.d"
