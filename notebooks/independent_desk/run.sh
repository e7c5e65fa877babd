#!/bin/bash
# An independent desk, replayed and scored: bash notebooks/independent_desk/run.sh SEED DIR [SCALE DAYS]
# (SCALE 5: about 1,500 agents)
# (about 1 min to generate, 1.5-3 min to replay, then the evaluation; insiderwatch installed)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seed=${1:-1}
out=${2:-independent-desk-$seed}
scale=${3:-1}
days=${4:-45}
python "$here/gen.py" --seed "$seed" --out "$out" --scale "$scale" --days "$days"
rm -f "$out/iw.db"
insiderwatch -q --db "sqlite:///$(cd "$out" && pwd)/iw.db" replay --events "$out/events.csv.gz" --roster "$out/roster.csv" --show 0
python "$here/evaluate.py" "$out" | tee "$out/eval.txt"
