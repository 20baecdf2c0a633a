#!/usr/bin/env bash
# After training: refresh every figure the README and the model card show, from the shipped weights.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
PD=".venv/bin/perfecting-depth"
mkdir -p outputs docs
[ -s outputs/stage1_eval.jsonl ] || .venv/bin/python scripts/eval_stage1.py runs/stage1/model.safetensors runs/distill/model.safetensors > outputs/stage1_eval.jsonl
$PD eval --out outputs/eval --frames 60 --readme README.md
$PD bench --runs 20 --repeats 3 --out outputs/bench.json --readme README.md
# world version 2 (framed glass that reflects the room): the same test seeds, synthetic figures only
$PD eval --test-dir data_cache/test240_v2 --world-version 2 --synthetic-only --out outputs/eval_v2 --frames 60
# where the validation error comes from (shipped model as `learned`, classical fills)
.venv/bin/python scripts/error_budget.py --classical --oracle --json outputs/error_budget_session7.json
.venv/bin/python scripts/model_card.py --eval outputs/eval/results.json --bench outputs/bench.json --stage1 outputs/stage1_eval.jsonl
$PD demo --out outputs/demo --frames 30
cp "$(ls outputs/demo/panel_*.png | tail -1)" docs/demo_panel.png
