#!/usr/bin/env bash
# What `orc run` adds to a command: the same no-op command (`true`) run directly and
# through `orc run` (state lookup, dependency check, run lock, log file, history row).
# Usage: benches/run_overhead.sh   (needs hyperfine: apt-get install hyperfine)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "hyperfine is not installed (apt-get install hyperfine)" >&2; exit 1; }
cargo build --release --quiet
orc="$PWD/target/release/orc"
work=$(mktemp -d "${TMPDIR:-/tmp}/orc-run-overhead.XXXXXX")
trap 'rm -rf "$work"' EXIT
printf '[tasks.noop]\ncommand = "true"\n' > "$work/tasks.toml"
"$orc" apply --config "$work/tasks.toml" --state "$work/state.db" --auto-approve --quiet
hyperfine -N --warmup 5 --runs 100 --export-json "$work/h.json" \
    "true" "$orc run noop --state $work/state.db" >/dev/null
python3 - "$work/h.json" <<'PY'
import json, sys
direct, orc = json.load(open(sys.argv[1]))["results"]
ms = lambda r, k: r[k] * 1000
print(f"direct `true`        median {ms(direct, 'median'):.2f} ms  min {ms(direct, 'min'):.2f} ms")
print(f"`orc run` of `true`  median {ms(orc, 'median'):.2f} ms  min {ms(orc, 'min'):.2f} ms")
print(f"overhead             median {ms(orc, 'median') - ms(direct, 'median'):.2f} ms (target: under 5 ms)")
PY
