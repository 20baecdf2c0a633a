#!/usr/bin/env python3
"""Write a copy of a checkpoint with ModelConfig fields changed and the weights untouched (e.g. a model trained
with one inference-time option, scored with another): the copy rebuilds the changed model from the file alone.

  python scripts/set_model_config.py IN.safetensors OUT.safetensors far_lift=hard [key=value ...]
"""

from __future__ import annotations

import json
import sys

from perfecting_depth_ros.train.common import load_model, save_checkpoint


def main(args: list[str]) -> int:
    src, dst, *pairs = args
    overrides = {}
    for kv in pairs:
        k, v = kv.split("=", 1)
        overrides[k] = json.loads(v) if v[:1] in "[{0123456789-" or v in ("true", "false") else v
    model, meta = load_model(src, overrides=overrides)
    save_checkpoint(dst, model, {**meta, "config_changed_from": src, "config_overrides": overrides})
    print(f"wrote {dst} ({overrides})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
