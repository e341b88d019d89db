#!/usr/bin/env bash
# Time the whole `orc apply` and `orc plan` processes on generated configs of 100, 1,000
# and 10,000 tasks, on the embedded backend and on the cron backend (the real user
# crontab), with hyperfine. Prints a table: size, backend, operation, median, min and
# the growth factor from the previous size.
#
# Usage: benches/plan_apply.sh
#   RUNS=20 WARMUP=3        hyperfine runs and warm-up runs per case (defaults)
#   SIZES="100 1000 10000"  config sizes
#   BACKENDS="embedded cron"
#   OUT=DIR                 keep the hyperfine JSON exports and a results.tsv in DIR
#
# Operations, for each size and backend:
#   first apply    `orc apply --auto-approve` of every task into an empty scheduler
#                  folder and a fresh state (--prepare removes both before each run)
#   no-op plan     `orc plan -q` when nothing changed (checked first: exit 0 with
#                  --detailed-exitcode)
#   1-change apply `orc apply --auto-approve` when one task's schedule changed (the
#                  --prepare applies the original config again, so every run has exactly
#                  one change; checked first with `orc plan --json`)
#
# The configs come from benches/config_and_schedule.rs (ORC_BENCH_WRITE with
# ORC_BENCH_TASKS, ORC_BENCH_TIMEZONE=local, ORC_BENCH_FOLDER=OrcBench), with the
# `hosts = [...]` lines removed so that every task applies on this machine.
#
# The cron backend: the crontab of the user running this (root in the project's VM)
# gets a managed block for folder "OrcBench". The script takes the same lock file as
# tests/cron_backend.rs (so the two never share the crontab), saves the crontab first
# and puts it back at the end, also on errors and Ctrl-C ("no crontab" stays "no
# crontab"). Debian's `crontab` refuses more than 10,000 lines, so the largest cron
# size is capped to what fits beside the saved crontab (9,998 tasks in an empty one)
# and the table shows the real count. The cron daemon should not be running: the
# entries would fire `orc run` for the generated tasks (python, pg_dump, ping ...);
# the script refuses to use the cron backend while it runs, unless
# ORC_BENCH_CRON_RUNNING_OK=1.
#
# orc writes its own executable's path into every live entry, so every command here
# runs the same binary ($target/release/orc, absolute): another path would make every
# task show as changed.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)
runs=${RUNS:-20}
warmup=${WARMUP:-3}
sizes=${SIZES:-100 1000 10000}
backends=${BACKENDS:-embedded cron}
folder=OrcBench
lockfile=/tmp/orc-cron-backend-tests.lock # shared with tests/cron_backend.rs
crontab_max_lines=10000                    # Debian cron's limit for one crontab

die() {
    echo "error: $*" >&2
    exit 1
}
say() { echo "== $*" >&2; }

command -v hyperfine >/dev/null 2>&1 || die "hyperfine is not installed (apt-get install hyperfine)"
for s in $sizes; do
    [[ $s =~ ^[0-9]+$ && $s -gt 0 ]] || die "SIZES: \"$s\" is not a positive number"
done
for b in $backends; do
    [[ $b == embedded || $b == cron ]] || die "BACKENDS: \"$b\" is not embedded or cron"
done
use_cron=false
[[ " $backends " == *" cron "* ]] && use_cron=true

target=${CARGO_TARGET_DIR:-target}
[[ $target == /* ]] || target="$repo/$target"
orc="$target/release/orc"

work=$(mktemp -d "${TMPDIR:-/tmp}/orc-plan-apply.XXXXXX")
# shellcheck source=benches/crontab-guard.sh
source "$repo/benches/crontab-guard.sh"

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    restore_crontab || exit 1
    if [[ -n ${OUT:-} ]]; then
        mkdir -p "$OUT"
        cp "$work"/*.json "$work/results.tsv" "$OUT"/ 2>/dev/null || true
        echo "hyperfine exports and results.tsv are in $OUT" >&2
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the crontab: lock, check, save ------------------------------------------------
if $use_cron; then
    command -v crontab >/dev/null 2>&1 || die "crontab is not installed (apt-get install cron), or use BACKENDS=embedded"
    if [[ ${ORC_BENCH_CRON_RUNNING_OK:-0} != 1 ]] &&
        { pgrep -x cron >/dev/null 2>&1 || pgrep -x crond >/dev/null 2>&1; }; then
        die "the cron daemon is running: it would fire the generated tasks while the benchmark's entries are installed. Stop it, use BACKENDS=embedded, or set ORC_BENCH_CRON_RUNNING_OK=1"
    fi
    exec 9>"$lockfile"
    if ! flock -n 9; then
        say "waiting for $lockfile (the cron backend tests hold the crontab) ..."
        flock 9
    fi
    if crontab -l >"$work/crontab.orig" 2>"$work/crontab.err"; then
        had_crontab=true
    elif grep -q "no crontab for" "$work/crontab.err"; then
        : >"$work/crontab.orig"
    else
        die "crontab -l failed: $(cat "$work/crontab.err")"
    fi
    if grep -q "orc managed block: folder \"$folder\"" "$work/crontab.orig"; then
        die "the crontab already has orc's block for folder \"$folder\" (left by an interrupted run?); remove it with crontab -e and run again"
    fi
    base_lines=$(wc -l <"$work/crontab.orig")
    cron_max=$((crontab_max_lines - 2 - base_lines))
    say "saved the crontab ($base_lines lines); cron sizes are capped to $cron_max tasks (Debian: at most $crontab_max_lines lines)"
    # From here on the crontab may change: cleanup puts it back.
    crontab_touched=true
    cp "$work/crontab.orig" "$work/crontab.base"
    printf 'crontab %q\n' "$work/crontab.base" >"$work/reset-crontab.sh"
fi

# --- build and generate ------------------------------------------------------------
say "building orc (release) ..."
cargo build --release --quiet --bin orc
[[ -x $orc ]] || die "no binary at $orc after the build"

cron_sizes=()
for s in $sizes; do
    if $use_cron && ((s > cron_max)); then
        cron_sizes+=("$cron_max")
    else
        cron_sizes+=("$s")
    fi
done
gen_sizes=$(printf '%s\n' $sizes "${cron_sizes[@]}" | sort -nu)

for n in $gen_sizes; do
    say "generating a $n-task config ..."
    ORC_BENCH_WRITE="$work/cfg$n" ORC_BENCH_TASKS=$n ORC_BENCH_TIMEZONE=local \
        ORC_BENCH_FOLDER=$folder cargo bench --quiet --bench config_and_schedule >/dev/null
    config="$work/cfg$n/tasks.toml"
    sed -i '/^hosts = /d' "$config"
    got=$(grep -c '^\[tasks\.' "$config")
    [[ $got == "$n" ]] || die "$config has $got tasks, expected $n"
    "$orc" validate -q --config "$config" || die "the generated config $config is invalid"
    # The same config with one task's schedule changed: the first scheduled task.
    awk '!done && /^schedule = / { print "schedule = \"7 3 * * 2\""; done = 1; next } { print }' \
        "$config" >"$work/cfg$n/changed.toml"
    cmp -s "$config" "$work/cfg$n/changed.toml" && die "could not change a schedule in $config"
done

# --- timing helpers ----------------------------------------------------------------
printf 'size\tbackend\toperation\tmedian_ms\tmin_ms\tmean_ms\tstddev_ms\tmax_ms\n' >"$work/results.tsv"

# time NAME SIZE BACKEND OPERATION PREPARE(or "") COMMAND...
time_case() {
    local name=$1 size=$2 backend=$3 op=$4 prepare=$5
    shift 5
    local cmd
    cmd=$(printf '%q ' "$@")
    local args=(--shell=none --runs "$runs" --warmup "$warmup" --style basic
        --command-name "$name" --export-json "$work/$name.json" --export-csv "$work/$name.csv")
    [[ -n $prepare ]] && args+=(--prepare "$prepare")
    say "$size tasks, $backend: $op"
    hyperfine "${args[@]}" -- "$cmd" >&2 ||
        die "hyperfine failed for \"$op\" ($backend, $size tasks): $cmd"
    # CSV: command,mean,stddev,median,user,system,min,max (seconds)
    awk -F, -v size="$size" -v backend="$backend" -v op="$op" 'NR == 2 {
        printf "%s\t%s\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\n", size, backend, op,
            $4 * 1000, $7 * 1000, $2 * 1000, $3 * 1000, $8 * 1000 }' \
        "$work/$name.csv" >>"$work/results.tsv"
}

# check_plan EXPECTED_EXIT ARGS... : `orc plan --detailed-exitcode` must exit so.
check_plan() {
    local want=$1 rc=0
    shift
    "$orc" plan -q --detailed-exitcode "$@" || rc=$?
    [[ $rc == "$want" ]] || die "orc plan $* exited $rc, expected $want (0 = no changes, 2 = changes)"
}

# check_one_change ARGS... : the plan is exactly one update.
check_one_change() {
    local summary
    summary=$("$orc" plan --json "$@" | tr -d ' \n' | grep -o '"summary":{[^}]*}') ||
        die "orc plan --json $* printed no summary"
    [[ $summary == '"summary":{"add":0,"change":1,"destroy":0}' ]] ||
        die "expected exactly one change, got $summary (orc plan --json $*)"
}

bench_backend() {
    local backend=$1 n=$2
    local config="$work/cfg$n/tasks.toml" changed="$work/cfg$n/changed.toml"
    local dir="$work/$backend$n"
    local state="$dir/state.db"
    local common=(--backend "$backend" --state "$state")
    local prep
    prep="$work/prepare-first-$backend$n.sh"
    {
        printf 'set -e\nrm -rf %q\n' "$dir"
        # A fresh state, with only the vault the config's secrets need.
        printf '%q %q %q %q\n' "$repo/benches/store-secrets.sh" "$orc" "$state" "$work/cfg$n"
        [[ $backend == cron ]] && cat "$work/reset-crontab.sh"
    } >"$prep"
    bash "$prep"

    time_case "first_apply_${backend}_$n" "$n" "$backend" "first apply" "bash $prep" \
        "$orc" apply --auto-approve -q "${common[@]}" --config "$config"

    # The last timed run left everything applied.
    check_plan 0 "${common[@]}" --config "$config"
    time_case "noop_plan_${backend}_$n" "$n" "$backend" "no-op plan" "" \
        "$orc" plan -q "${common[@]}" --config "$config"

    check_one_change "${common[@]}" --config "$changed"
    prep="$work/prepare-change-$backend$n.sh"
    printf 'exec %q apply --auto-approve -q --backend %q --state %q --config %q\n' \
        "$orc" "$backend" "$state" "$config" >"$prep"
    time_case "change_apply_${backend}_$n" "$n" "$backend" "1-change apply" "bash $prep" \
        "$orc" apply --auto-approve -q "${common[@]}" --config "$changed"
    check_plan 0 "${common[@]}" --config "$changed"

    rm -rf "$dir"
    [[ $backend == cron ]] && bash "$work/reset-crontab.sh"
    return 0
}

for backend in $backends; do
    i=0
    for n in $sizes; do
        if [[ $backend == cron ]]; then
            n=${cron_sizes[$i]}
        fi
        i=$((i + 1))
        bench_backend "$backend" "$n"
    done
done

# --- the table ---------------------------------------------------------------------
echo
echo "orc $("$orc" --version | awk '{ print $2 }'), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ); hyperfine: $warmup warm-up + $runs runs per case"
awk -F'\t' '
    NR == 1 { next }
    {
        key = $2 "\t" $3
        growth = (key in last) ? sprintf("x%.1f", $4 / last[key]) : "-"
        last[key] = $4
        row[NR] = sprintf("| %6s | %-8s | %-14s | %9.1f | %9.1f | %6s |", $1, $2, $3, $4, $5, growth)
    }
    END {
        print "|   size | backend  | operation      | median ms |    min ms | growth |"
        print "|-------:|----------|----------------|----------:|----------:|-------:|"
        for (i = 2; i <= NR; i++) print row[i]
    }' "$work/results.tsv"
echo
echo "growth: median divided by the median of the previous size, same backend and operation"
