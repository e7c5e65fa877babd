#!/bin/bash
# The second independent desk, replayed and scored:
#   bash notebooks/independent_desk_2/run.sh SEED DIR [AGENTS DAYS]
# (generate, replay with the default settings, then the first desk's evaluation; insiderwatch installed)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seed=${1:-1}
out=${2:-independent-desk2-$seed}
agents=${3:-300}
days=${4:-45}
python "$here/gen.py" --seed "$seed" --agents "$agents" --days "$days" --out "$out"
rm -f "$out/iw.db"
insiderwatch -q --db "sqlite:///$(cd "$out" && pwd)/iw.db" replay --events "$out/events.csv.gz" --roster "$out/roster.csv" --show 0
python "$here/../independent_desk/evaluate.py" "$out" | tee "$out/eval.txt"
