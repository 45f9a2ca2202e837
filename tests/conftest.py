"""Shared fixtures."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

# Tensor methods that bring a value to the host; on a GPU each one waits for the device (a synchronisation).
HOST_READS = ("item", "tolist", "cpu", "numpy", "nonzero", "__bool__", "__int__", "__float__", "__index__")


@pytest.fixture
def host_reads(monkeypatch):
    """Count the host reads of tensor values, keyed by (method, file, function) of the innermost
    ``mixup_repro`` frame that caused them (torch's own Python code counts for the library call behind it).

    A CPU stand-in for ``torch.cuda.set_sync_debug_mode``: it sees reads made through these Python-level
    methods, not synchronisations inside C++ operators (``benchmarks/sync_check.py`` counts those on a GPU).
    """
    counts: Counter = Counter()
    package = str(Path(__file__).resolve().parents[1] / "mixup_repro")

    def wrap(name, original):
        def counted(self, *args, **kwargs):
            frame = sys._getframe(1)
            while frame is not None and not frame.f_code.co_filename.startswith(package):
                frame = frame.f_back
            if frame is not None:
                counts[(name, Path(frame.f_code.co_filename).name, frame.f_code.co_name)] += 1
            return original(self, *args, **kwargs)
        return counted

    for name in HOST_READS:
        monkeypatch.setattr(torch.Tensor, name, wrap(name, getattr(torch.Tensor, name)))
    return counts
