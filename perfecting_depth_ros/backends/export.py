"""Export the whole inference graph (encoder, K x S unrolled denoiser steps, statistics, refiner) to ONNX.

K, S, the stride, the model's sha256 and the model code's sha256 are written into the file's metadata; H and W are dynamic
(multiples of 16). The noise is a graph input so runs are reproducible on every runtime.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch

from .base import OUTPUT_NAMES, graph_code_sha, input_names


def export_onnx(weights: str | Path, out: str | Path, samples: int = 4, steps: int = 2, height: int = 240,
                width: int = 320, opset: int = 17, model_sha: str = "") -> Path:
    """Write the ONNX graph for ``weights`` with K=samples, S=steps; check it with the ONNX checker."""
    import onnx

    from ..train.common import load_model

    model, meta = load_model(weights)
    model.set_steps(steps)
    model.eval()
    B = 1
    args = (torch.rand(B, 3, height, width), torch.randn(B, 1, height, width),
            torch.ones(B, 1, height, width), torch.randn(*model.noise_shape(B, height, width, samples)))
    with_range = model.cfg.refiner_range
    if with_range:
        args = (*args, torch.tensor([[1.0, 1.5]]))
    dyn = {"rgb": {2: "H", 3: "W"}, "depth": {2: "H", 3: "W"}, "mask": {2: "H", 3: "W"},
           "noise": {3: "h", 4: "w"}}
    dyn.update({k: {2: "H", 3: "W"} for k in OUTPUT_NAMES})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # per-process names and an atomic rename: two nodes exporting the same graph at once (two cameras in two
    # processes) never read or replace a half-written file
    tmp = out.with_name(f"{out.stem}.{os.getpid()}.tmp.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, str(tmp), input_names=list(input_names(with_range)), output_names=list(OUTPUT_NAMES),
                          dynamic_axes=dyn, opset_version=opset, dynamo=False)
    m = onnx.load(str(tmp))
    onnx.checker.check_model(m)
    for k, v in {"samples": samples, "steps": steps, "stride": model.cfg.stride, "model_sha256": model_sha,
                 "graph_sha256": graph_code_sha(), "inputs": ",".join(input_names(with_range)),
                 "size_multiple": 16, "opset": opset, "train_meta": json.dumps(meta)}.items():
        p = m.metadata_props.add()
        p.key, p.value = k, str(v)
    onnx.save(m, str(tmp))  # with its metadata, then renamed into place whole
    tmp.replace(out)
    return out
