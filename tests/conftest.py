"""Shared fixtures."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

# Tensor methods and torch functions that bring a value to the host; on a GPU each one waits for the device.
HOST_READ_METHODS = ("item", "tolist", "cpu", "numpy", "nonzero", "__bool__", "__int__", "__float__", "__index__")
HOST_READ_FUNCTIONS = ("equal", "allclose", "nonzero")


@pytest.fixture
def host_reads(monkeypatch):
    """Count the host reads of tensor values, keyed by (method, file, function) of the innermost
    ``mixup_repro`` frame that caused them (torch's own Python code counts for the library call behind it).

    A CPU stand-in for ``torch.cuda.set_sync_debug_mode``: it sees reads through the methods and functions
    above and ``.to("cpu")``; it does not see synchronisations inside other C++ operators (boolean-mask
    indexing, a tensor used as a size) nor host-to-device copies, which ``benchmarks/sync_check.py`` counts on a
    GPU.
    """
    counts: Counter = Counter()
    package = str(Path(__file__).resolve().parents[1] / "mixup_repro")

    def site(name):
        frame = sys._getframe(2)
        while frame is not None and not str(Path(frame.f_code.co_filename).resolve()).startswith(package):
            frame = frame.f_back
        if frame is not None:
            counts[(name, Path(frame.f_code.co_filename).name, frame.f_code.co_name)] += 1

    def wrap(name, original):
        def counted(*args, **kwargs):
            site(name)
            return original(*args, **kwargs)
        return counted

    for name in HOST_READ_METHODS:
        monkeypatch.setattr(torch.Tensor, name, wrap(name, getattr(torch.Tensor, name)))
    for name in HOST_READ_FUNCTIONS:
        monkeypatch.setattr(torch, name, wrap(f"torch.{name}", getattr(torch, name)))
    to = torch.Tensor.to

    def counted_to(self, *args, **kwargs):
        target = args[0] if args else kwargs.get("device")
        if self.device.type != "cpu" and isinstance(target, (str, torch.device)) and torch.device(target).type == "cpu":
            site("to(cpu)")
        return to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", counted_to)
    return counts
