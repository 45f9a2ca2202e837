"""Nearest-neighbour partners in input space (for the nearest-neighbour pairing of mixup), with an on-disk cache."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
from pathlib import Path

import torch

from ._checks import check_int
from .files import atomic_write_bytes

__all__ = ["knn_partners"]


def _knn_cache_name(flat_cpu: torch.Tensor, k: int, device_type: str = "cpu") -> str:
    """The cache file name of the partners of ``flat_cpu``: a SHA-1 of dtype, shape, device type, bytes, ``k``."""
    h = hashlib.sha1(usedforsecurity=False)
    # the computing device is part of the key: near-ties in float32 distances may break differently on a GPU
    h.update(f"{flat_cpu.dtype}|{tuple(flat_cpu.shape)}|{'' if device_type == 'cpu' else device_type + '|'}".encode())
    h.update(flat_cpu.contiguous().view(torch.uint8).numpy().tobytes())
    h.update(f"|k={k}".encode())
    return f"knn-{h.hexdigest()}.pt"


def knn_partners(x: torch.Tensor, k: int = 200, *, cache_dir: str | os.PathLike | None = None,
                 chunk: int = 1024) -> torch.Tensor:
    """Indices of the ``k`` nearest *other* samples of every sample, by Euclidean distance in input space.

    Inputs are flattened to ``(N, D)``; integer inputs (``uint8`` images) are compared as ``float32`` raw
    pixel values, floating inputs in their own precision (at least ``float32``).  Distances are computed
    on ``x``'s device, ``chunk`` query rows at a time, with :func:`torch.cdist` on mean-centred data
    (centring leaves distances unchanged and reduces float32 cancellation) followed by ``topk``; each
    sample's own index is excluded.

    Parameters
    ----------
    x : torch.Tensor
        ``(N, ...)`` training inputs.
    k : int
        Number of neighbours, in ``[1, N - 1]``.
    cache_dir : path, optional
        If given, the result is stored as ``cache_dir/knn-<sha1>.pt`` (sha1 of dtype, shape, device type, data
        bytes and ``k``; written atomically) and loaded from there on later calls.  An unreadable or mismatching
        cache file is recomputed and overwritten.
    chunk : int
        Query rows per distance block (memory ``chunk * N`` floats).

    Returns
    -------
    torch.Tensor
        ``int64`` tensor of shape ``(N, k)`` on ``x``'s device, nearest first.
    """
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise TypeError(f"x must be a tensor of shape (N, ...), got {getattr(x, 'shape', type(x).__name__)}")
    n = x.shape[0]
    k = check_int("k", k, low=1, high=n - 1)
    chunk = check_int("chunk", chunk, low=1)
    flat = x.detach().reshape(n, -1)
    path = None
    if cache_dir is not None:
        cache = Path(cache_dir).expanduser()
        path = cache / _knn_cache_name(flat.cpu(), k, flat.device.type)
        if path.is_file():
            try:
                cached = torch.load(path, map_location="cpu", weights_only=True)
            except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError):
                cached = None
            if isinstance(cached, torch.Tensor) and cached.shape == (n, k):
                return cached.to(device=x.device, dtype=torch.int64)
    dtype = flat.dtype if flat.dtype in (torch.float32, torch.float64) else torch.float32
    data = flat.to(dtype)
    data = data - data.mean(0, keepdim=True)
    out = torch.empty(n, k, dtype=torch.int64, device=x.device)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        d = torch.cdist(data[start:stop], data)
        rows = torch.arange(stop - start, device=x.device)
        d[rows, rows + start] = float("inf")  # exclude the sample itself
        out[start:stop] = d.topk(k, dim=1, largest=False, sorted=True).indices
    if path is not None:
        small = out.cpu().to(torch.int32) if n < 2**31 else out.cpu()
        buf = io.BytesIO()
        torch.save(small, buf)
        atomic_write_bytes(path, buf.getvalue())
    return out
