#!/usr/bin/env bash
# Set everything up and run the main job on a built-in default: a generated RGB-D sequence is played
# into the real enhancer_node over loopback DDS; outputs go to outputs/demo (images, PLY, summary).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
.venv/bin/perfecting-depth demo --out outputs/demo "$@"
