"""PyTorch backend (CPU or CUDA): the reference every exported backend is checked against.

On CUDA the whole graph is captured once per input size as a CUDA graph and replayed (one launch
instead of hundreds of small kernels: the route to low latency where TensorRT cannot be installed).
If capture fails, it says so in the log and runs eagerly.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from .base import OUTPUT_NAMES, Backend, BackendError, graph_feed, input_names

log = logging.getLogger(__name__)


class TorchBackend(Backend):
    def __init__(self, weights: str | Path, samples: int, steps: int, device: str = "cpu", cuda_graphs: bool = True):
        from ..train.common import load_model

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendError("CUDA requested but torch sees no GPU")
        try:
            model, _ = load_model(weights)
        except ValueError as e:
            raise BackendError(str(e)) from e
        model.set_steps(steps)
        self.model = model.eval().to(device)
        self.device = device
        self.samples = samples
        self.stride = model.cfg.stride
        self.takes_range = model.cfg.refiner_range
        self.input_names = input_names(self.takes_range)
        self.use_graphs = cuda_graphs and device.startswith("cuda")
        self._graphs: dict[tuple, tuple] = {}  # input shapes -> (graph, static inputs, static outputs)
        self.name = f"torch-{device}" + ("-graphs" if self.use_graphs else "")

    def _graph_for(self, t: dict[str, torch.Tensor]):
        key = tuple(tuple(t[k].shape) for k in self.input_names)
        if key not in self._graphs:
            static_in = {k: t[k].clone() for k in self.input_names}
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):  # warm up outside the capture (allocator, cuDNN autotuning)
                for _ in range(2):
                    self.model(*(static_in[k] for k in self.input_names))
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self.model(*(static_in[k] for k in self.input_names))
            self._graphs[key] = (graph, static_in, static_out)
            log.info("captured a CUDA graph for input shapes %s", key)
        return self._graphs[key]

    @torch.no_grad()
    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        t = {k: torch.from_numpy(v).to(self.device) for k, v in graph_feed(inputs, self.input_names).items()}
        outs = None
        if self.use_graphs:
            try:
                graph, static_in, static_out = self._graph_for(t)
                for k in self.input_names:
                    static_in[k].copy_(t[k])
                graph.replay()
                outs = static_out
            except RuntimeError as e:  # capture unsupported by some op or driver: run eagerly from now on
                log.warning("CUDA graph capture failed (%s); running the torch graph eagerly", e)
                self.use_graphs, self._graphs = False, {}
                self.name = f"torch-{self.device}"
        if outs is None:
            outs = self.model(*(t[k] for k in self.input_names))
        return {k: v.float().cpu().numpy() for k, v in zip(OUTPUT_NAMES, outs)}
