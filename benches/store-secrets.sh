#!/usr/bin/env bash
# Give a state a key-file vault holding every secret a generated config refers to, so
# that `orc apply` (which refuses a config whose secrets this server lacks) can apply
# it. The values are placeholders; the benchmarks never run the tasks.
#
# Usage: benches/store-secrets.sh ORC STATE CONFIG_DIR
set -euo pipefail
orc=$1 state=$2 config=$3
ORC_STATE=$state "$orc" secret init -q
grep -rhoE 'secret = "[^"]+"' "$config" | cut -d'"' -f2 | sort -u | while read -r name; do
    printf 'bench-value' | ORC_STATE=$state "$orc" secret set "$name" -q
done
