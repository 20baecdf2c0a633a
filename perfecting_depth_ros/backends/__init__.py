"""Inference backends behind one small interface: ``run(inputs) -> outputs`` on numpy arrays.

``create_backend("auto", weights)`` tries TensorRT, then ONNX Runtime with CUDA, then ONNX Runtime
on the CPU, then torch, and logs what it chose and why it skipped the others.
"""

from .base import Backend, BackendError, create_backend

__all__ = ["Backend", "BackendError", "create_backend"]
