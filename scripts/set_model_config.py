#!/usr/bin/env python3
"""Copy a checkpoint with some ModelConfig fields changed (options that need no new weights, such as
``error_head_gate``), keeping its training metadata and recording the change in it.

  python scripts/set_model_config.py runs/errorhead_ctx/model_step2000.safetensors /tmp/gated.safetensors error_head_gate=true
"""

from __future__ import annotations

import json
import sys

import yaml

from perfecting_depth_ros.model import ModelConfig
from perfecting_depth_ros.train.common import load_model, save_checkpoint


def main(args: list[str]) -> int:
    if len(args) < 3:
        print(__doc__)
        return 2
    src, dst, *pairs = args
    changes = {k: yaml.safe_load(v) for k, v in (p.split("=", 1) for p in pairs)}
    known = ModelConfig.__dataclass_fields__
    unknown = sorted(set(changes) - set(known))
    if unknown:
        raise SystemExit(f"unknown ModelConfig fields {unknown}")
    model, meta = load_model(src, overrides=changes)  # strict: the same weights must fit the new config
    for k, v in changes.items():
        if getattr(model.cfg, k) != v:
            raise SystemExit(f"{k}: {v!r} was not taken (type?)")
    save_checkpoint(dst, model, {**meta, "config_changed": {"from": src, **changes}})
    print(json.dumps({"wrote": dst, **changes}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
