#!/usr/bin/env bash
# Ansible's ansible.builtin.cron against `orc apply --backend cron`, reconciling the
# same N entries (default 100) in the user's real crontab. For each tool it times:
#   first apply     N new entries into a crontab without them
#   no-op re-apply  the same again, nothing to change
#   one change      one entry's minute changed, after the no-op re-apply (orc:
#                   the original entries are re-applied, untimed, before each run)
# and prints seconds and the ratio ansible / orc.
#
# Usage: benches/ansible_vs_orc.sh [--entries N] [--ansible-runs K] [--venv DIR]
#   --entries N       entries to reconcile (default 100; 1000 takes minutes per
#                     ansible pass: benches/ansible_vs_orc.sh --entries 1000 --ansible-runs 1)
#   --ansible-runs K  timed ansible runs per operation, median reported (default 3)
#   --venv DIR        use (or create and keep) a virtualenv with ansible-core in DIR,
#                     instead of a new one in a temporary directory
#   RUNS=20 WARMUP=3  hyperfine settings for orc (orc's runs take milliseconds)
#
# Ansible: a local playbook (connection=local, gather_facts=false), one
# ansible.builtin.cron task with `loop` over the N items, each with name, minute,
# hour and job, for `user` = the current user (root here). ansible-core comes from PyPI
# into a virtualenv (python3 -m venv; pip install ansible-core).
# orc: an equivalent tasks.toml (backend cron, timezone local, folder "OrcBench"), one
# task per entry with the same minute and hour, command /bin/true; the state lives in a
# temporary directory. Every run uses the same binary path, target/release/orc.
#
# Both tools write the real crontab. The script takes the lock file of
# tests/cron_backend.rs, saves the crontab, empties its own entries between the tools
# and puts the saved crontab back at the end, also on errors and Ctrl-C. The jobs are
# /bin/true (ansible) and `orc run` of a /bin/true task (orc), so a running cron
# daemon does no harm.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd)
entries=100
ansible_runs=3
venv=""
runs=${RUNS:-20}
warmup=${WARMUP:-3}
folder=OrcBench
prefix=orc_bench_ # ansible entry names and orc task names
lockfile=/tmp/orc-cron-backend-tests.lock

die() {
    echo "error: $*" >&2
    exit 1
}
say() { echo "== $*" >&2; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; }

while (($#)); do
    case $1 in
    --entries) entries=${2:?--entries needs a number}; shift 2 ;;
    --entries=*) entries=${1#*=}; shift ;;
    --ansible-runs) ansible_runs=${2:?--ansible-runs needs a number}; shift 2 ;;
    --ansible-runs=*) ansible_runs=${1#*=}; shift ;;
    --venv) venv=${2:?--venv needs a directory}; shift 2 ;;
    --venv=*) venv=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage; die "unknown argument: $1" ;;
    esac
done
[[ $entries =~ ^[0-9]+$ ]] && ((entries >= 2)) || die "--entries: expected a number of at least 2, got \"$entries\""
[[ $ansible_runs =~ ^[0-9]+$ ]] && ((ansible_runs >= 1)) || die "--ansible-runs: expected a positive number, got \"$ansible_runs\""
((entries <= 4990)) || die "--entries: at most 4990 (ansible writes 2 lines an entry; Debian's crontab holds 10,000 lines)"
command -v hyperfine >/dev/null 2>&1 || die "hyperfine is not installed (apt-get install hyperfine)"
command -v crontab >/dev/null 2>&1 || die "crontab is not installed (apt-get install cron)"
command -v python3 >/dev/null 2>&1 || die "python3 is not installed"

target=${CARGO_TARGET_DIR:-target}
[[ $target == /* ]] || target="$repo/$target"
orc="$target/release/orc"
user=$(id -un)

work=$(mktemp -d "${TMPDIR:-/tmp}/orc-ansible-bench.XXXXXX")
# shellcheck source=benches/crontab-guard.sh
source "$repo/benches/crontab-guard.sh"

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    restore_crontab || exit 1
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- ansible-core in a virtualenv ----------------------------------------------------
if [[ -z $venv ]]; then
    venv="$work/venv"
fi
if [[ ! -x $venv/bin/ansible-playbook ]]; then
    say "creating a virtualenv in $venv and installing ansible-core from PyPI ..."
    python3 -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check ansible-core ||
        die "pip install ansible-core failed"
fi
ansible_version=$("$venv/bin/ansible-playbook" --version | head -1)
say "$ansible_version"

# --- orc ---------------------------------------------------------------------------
say "building orc (release) ..."
cargo build --release --quiet --bin orc
[[ -x $orc ]] || die "no binary at $orc after the build"

# --- the same entries for both tools -------------------------------------------------
# Entry i: minute (i * 7) % 60, hour (i * 5) % 24; entry 1 changes minute to 59 - m.
python3 - "$work" "$entries" "$prefix" "$folder" <<'EOF'
import json, sys
work, n, prefix, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def items(changed):
    out = []
    for i in range(1, n + 1):
        m, h = (i * 7) % 60, (i * 5) % 24
        if changed and i == 1:
            m = 59 - m
        out.append({"name": f"{prefix}{i:04}", "minute": str(m), "hour": str(h),
                    "job": f"/bin/true {prefix}{i:04}"})
    return out
for changed, suffix in ((False, ""), (True, "_changed")):
    its = items(changed)
    with open(f"{work}/entries{suffix}.json", "w") as f:
        json.dump({"entries": its}, f)
    with open(f"{work}/tasks{suffix}.toml", "w") as f:
        f.write(f'[settings]\nbackend = "cron"\nfolder = "{folder}"\ntimezone = "local"\n')
        for it in its:
            f.write(f'\n[tasks.{it["name"]}]\ncommand = "/bin/true"\n'
                    f'schedule = "{it["minute"]} {it["hour"]} * * *"\n')
EOF
cat >"$work/playbook.yml" <<'EOF'
- name: Reconcile the benchmark's crontab entries
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Crontab entries
      ansible.builtin.cron:
        name: "{{ item.name }}"
        minute: "{{ item.minute }}"
        hour: "{{ item.hour }}"
        job: "{{ item.job }}"
        user: "{{ cron_user }}"
      loop: "{{ entries }}"
      loop_control:
        label: "{{ item.name }}"
EOF
"$orc" validate -q --config "$work/tasks.toml" || die "the generated tasks.toml is invalid"

# --- the crontab: lock, save ---------------------------------------------------------
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
if grep -q -e "orc managed block: folder \"$folder\"" -e "#Ansible: $prefix" "$work/crontab.orig"; then
    die "the crontab already holds this benchmark's entries (left by an interrupted run?); remove them with crontab -e and run again"
fi
crontab_touched=true
printf 'crontab %q\n' "$work/crontab.orig" >"$work/reset-crontab.sh"
reset_crontab() { bash "$work/reset-crontab.sh"; }

# --- ansible -------------------------------------------------------------------------
export ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_LOCALHOST_WARNING=0 \
    ANSIBLE_INVENTORY_UNPARSED_WARNING=0 ANSIBLE_PYTHON_INTERPRETER="$venv/bin/python" \
    ANSIBLE_HOME="$work/ansible-home" ANSIBLE_LOCAL_TEMP="$work/ansible-tmp"

# ansible_pass VARS_FILE LOG: one playbook run; prints its wall time in seconds.
ansible_pass() {
    local vars=$1 log=$2 start end
    start=$(date +%s%N)
    if ! "$venv/bin/ansible-playbook" -i localhost, -c local "$work/playbook.yml" \
        -e "@$vars" -e "cron_user=$user" >"$log" 2>&1; then
        tail -30 "$log" >&2
        die "ansible-playbook failed (log above)"
    fi
    end=$(date +%s%N)
    awk -v ns=$((end - start)) 'BEGIN { printf "%.3f\n", ns / 1e9 }'
}

# changed_count LOG: "changed=" of the play recap.
changed_count() { grep -o 'changed=[0-9]*' "$1" | tail -1 | cut -d= -f2; }
count_ansible_entries() { crontab -l 2>/dev/null | grep -c "^#Ansible: $prefix" || true; }

median() {
    sort -n | awk '{ v[NR] = $1 } END {
        if (NR % 2) printf "%.3f\n", v[(NR + 1) / 2]
        else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

declare -A ans_med ans_all
ops=("first apply" "no-op re-apply" "one change")
for op in "${ops[@]}"; do ans_all[$op]=""; done

say "ansible: $entries entries, $ansible_runs timed run(s) per operation (about 25 s a pass at 100 entries) ..."
for ((r = 1; r <= ansible_runs; r++)); do
    reset_crontab
    t=$(ansible_pass "$work/entries.json" "$work/ansible-first.log")
    [[ $(count_ansible_entries) == "$entries" ]] || die "after ansible's first apply the crontab holds $(count_ansible_entries) entries, expected $entries"
    ans_all["first apply"]+="$t "
    say "  run $r: first apply ${t}s"

    t=$(ansible_pass "$work/entries.json" "$work/ansible-noop.log")
    [[ $(changed_count "$work/ansible-noop.log") == 0 ]] || die "ansible's re-apply changed something (see its recap)"
    ans_all["no-op re-apply"]+="$t "
    say "  run $r: no-op re-apply ${t}s"

    t=$(ansible_pass "$work/entries_changed.json" "$work/ansible-change.log")
    [[ $(changed_count "$work/ansible-change.log") == 1 ]] || die "ansible's one-change apply did not report changed=1"
    crontab -l | grep -A1 "^#Ansible: ${prefix}0001\$" | grep -q '^52 5 ' || die "ansible did not change entry 1's minute"
    ans_all["one change"]+="$t "
    say "  run $r: one change ${t}s"
done
for op in "${ops[@]}"; do
    ans_med[$op]=$(tr ' ' '\n' <<<"${ans_all[$op]}" | grep . | median)
done
reset_crontab

# --- orc -----------------------------------------------------------------------------
state="$work/orc-state/state.db"
common=(--backend cron --state "$state")
q() { printf '%q ' "$@"; }
printf 'set -e\nrm -rf %q\n' "$work/orc-state" >"$work/prep-first.sh"
cat "$work/reset-crontab.sh" >>"$work/prep-first.sh"
printf 'exec %s\n' "$(q "$orc" apply --auto-approve -q "${common[@]}" --config "$work/tasks.toml")" >"$work/prep-change.sh"

declare -A orc_med orc_min orc_range
# orc_case OP PREPARE COMMAND...
orc_case() {
    local op=$1 prepare=$2 name
    shift 2
    name=${op// /_}
    local args=(--shell=none --runs "$runs" --warmup "$warmup" --style basic
        --command-name "orc $op" --export-csv "$work/orc-$name.csv")
    [[ -n $prepare ]] && args+=(--prepare "$prepare")
    say "orc: $op ($entries entries)"
    hyperfine "${args[@]}" -- "$(q "$@")" >&2 || die "hyperfine failed for orc $op"
    # CSV: command,mean,stddev,median,user,system,min,max (seconds)
    orc_med[$op]=$(awk -F, 'NR == 2 { printf "%.4f\n", $4 }' "$work/orc-$name.csv")
    orc_min[$op]=$(awk -F, 'NR == 2 { printf "%.4f\n", $7 }' "$work/orc-$name.csv")
}
orc_apply=("$orc" apply --auto-approve -q "${common[@]}")
orc_case "first apply" "bash $work/prep-first.sh" "${orc_apply[@]}" --config "$work/tasks.toml"
n=$(crontab -l | grep -c " # orc:$prefix" || true)
[[ $n == "$entries" ]] || die "after orc's first apply the crontab holds $n entries, expected $entries"
rc=0
"$orc" plan -q --detailed-exitcode "${common[@]}" --config "$work/tasks.toml" || rc=$?
[[ $rc == 0 ]] || die "orc plan after the apply exited $rc, expected 0 (no changes)"
orc_case "no-op re-apply" "" "${orc_apply[@]}" --config "$work/tasks.toml"
rc=0
"$orc" plan -q --detailed-exitcode "${common[@]}" --config "$work/tasks_changed.toml" || rc=$?
[[ $rc == 2 ]] || die "orc plan with the changed entry exited $rc, expected 2 (changes)"
orc_case "one change" "bash $work/prep-change.sh" "${orc_apply[@]}" --config "$work/tasks_changed.toml"
crontab -l | grep -q "^52 5 \* \* \* .* # orc:${prefix}0001\$" || die "orc did not change entry 1's minute"
reset_crontab

# --- the table -----------------------------------------------------------------------
echo
echo "$entries crontab entries; $ansible_version; orc $("$orc" --version | awk '{ print $2 }'); $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "ansible: median of $ansible_runs run(s); orc: hyperfine median of $runs runs after $warmup warm-up"
echo
echo "| operation      | ansible s | ansible runs s        | orc median s | orc min s | ansible / orc |"
echo "|----------------|----------:|-----------------------|-------------:|----------:|--------------:|"
for op in "${ops[@]}"; do
    awk -v op="$op" -v a="${ans_med[$op]}" -v all="${ans_all[$op]}" -v o="${orc_med[$op]}" -v m="${orc_min[$op]}" \
        'BEGIN { printf "| %-14s | %9.2f | %-21s | %12.4f | %9.4f | %12.0fx |\n", op, a, all, o, m, a / o }'
done
