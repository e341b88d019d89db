#!/usr/bin/env bash
# What `orc run` pays for resolving one secret: the whole process of running a task
# that does nothing (`true`) with no secret, with one secret from a vault keyed by a
# key file, and with one from a vault keyed by a passphrase (scrypt, N=2^15, r=8, p=1,
# derived at every run). The differences to the first are the cost.
#
# Usage: benches/secret_cost.sh     RUNS=30 WARMUP=3
set -euo pipefail

cd "$(dirname "$0")/.."
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
export ORC_LOG=off NO_COLOR=1 ORC_PASSPHRASE="a passphrase for the benchmark"

setup() { # setup NAME KEY ENV_LINE
    local dir=$work/$1
    mkdir -p "$dir"
    printf '[settings]\nbackend = "embedded"\n\n[tasks.t]\ncommand = "true"\n%s\n' "$3" >"$dir/tasks.toml"
    if [[ -n $2 ]]; then
        ORC_STATE=$dir/state.db "$orc" secret init --key "$2" -q
        printf 'value' | ORC_STATE=$dir/state.db "$orc" secret set token -q
    fi
    ORC_STATE=$dir/state.db "$orc" --config "$dir/tasks.toml" apply --auto-approve -q
}
setup plain "" ""
setup keyfile key-file 'env = { TOKEN = { secret = "token" } }'
setup passphrase passphrase 'env = { TOKEN = { secret = "token" } }'

args=()
for case in plain keyfile passphrase; do
    args+=(--command-name "orc run, $case" "$orc run t -q --state $work/$case/state.db")
done
hyperfine -N --style basic --warmup "$warmup" --runs "$runs" "${args[@]}"
