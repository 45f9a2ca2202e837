"""Argument validation shared by the whole library.

Every public function checks its arguments with these helpers, so a bad value always raises
``ValueError`` or ``TypeError`` with a message that names the argument and its allowed range,
e.g. ``alpha must be a finite number >= 0, got -1.0``. The checks of the mixing functions' tensors (a batch,
its targets, partner indices, λ) are here too; their ``values=False`` forms check types and shapes only (no
host read).
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import torch


def check_real(name: str, value, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False) -> float:
    """Return ``float(value)`` after checking it is a finite real number inside the given bounds."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise TypeError(f"{name} must be a number, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    rng = f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number in {rng}, got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be in {rng}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be in {rng}, got {value}")
    return value


def check_int(name: str, value, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``int(value)`` after checking it is an integer (not a bool) inside ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return value


def check_alpha(alpha, name: str = "alpha") -> float:
    """The Beta/Dirichlet concentration: a finite number >= 0 (0 means no mixing)."""
    return check_real(name, alpha, low=0.0)


def check_eps(eps, name: str = "label_smoothing") -> float:
    """A label-smoothing strength: a number in [0, 1)."""
    return check_real(name, eps, low=0.0, high=1.0, high_open=True)


def check_prob(p, name: str) -> float:
    """A probability: a number in [0, 1]."""
    return check_real(name, p, low=0.0, high=1.0)


def check_num_classes(num_classes, name: str = "num_classes") -> int:
    return check_int(name, num_classes, low=2)


def check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value


def check_bool(name: str, value) -> bool:
    """Return ``value`` after checking it is ``True`` or ``False`` (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_generator(name: str, generator):
    """Return ``generator`` after checking it is a ``torch.Generator`` or None (not a seed, not a string)."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {type(generator).__name__} {generator!r}; "
                        f"for a seed, pass torch.Generator().manual_seed(seed)")
    return generator


def check_batch(x) -> int:
    """The batch size of ``x``: a floating-point tensor of rank >= 2 (batch first) holding a sample or more."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor (got dtype {x.dtype}); convert integer or bool "
                        "inputs with x.float() (images: x.float() / 255) before mixing")
    if x.dim() < 2:
        raise ValueError(f"x must have a batch dimension and at least one feature dimension (rank >= 2), "
                         f"got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError("x must hold at least one sample, got an empty batch (batch size 0)")
    return x.shape[0]


def check_targets(y, batch: int, num_classes: int | None, name: str = "y", values: bool = True,
                   multi_label: bool = False) -> int:
    """Class indices (B,) in [0, K) or (B, K) targets; returns K.

    (B, K) targets may be floating point, integer or bool (one-hot / multi-hot); ``num_classes`` may then be
    None (K is their width). Their rows must sum to 1 unless ``multi_label`` (then each entry must be in
    [0, 1]). ``values=False`` checks types and shapes only: the value checks read the tensor on the host
    (a GPU sync).
    """
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(y).__name__}")
    if y.shape[:1] != (batch,):
        raise ValueError(f"{name} must have the batch size of x ({batch}), got shape {tuple(y.shape)}")
    if y.dim() == 1:
        if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
            raise TypeError(f"{name} given as class indices must have an integer dtype, got {y.dtype}")
        if num_classes is None:
            raise ValueError(f"num_classes must be given when {name} holds class indices (shape (B,)); it may be "
                             f"left out only for (B, K) targets")
        num_classes = check_num_classes(num_classes)
        if multi_label:
            raise ValueError(f"multi_label=True needs (B, K) multi-hot targets, {name} holds class indices (B,)")
        if not values:
            return num_classes
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"{name} holds class indices outside [0, num_classes) = [0, {num_classes}): "
                             f"min {lo}, max {hi}")
        return num_classes
    if y.dim() != 2:
        raise ValueError(f"{name} must be class indices (B,) or (B, K) targets, got shape {tuple(y.shape)}")
    if y.is_complex():
        raise TypeError(f"{name} given as (B, K) targets must be floating point, integer or bool, got {y.dtype}")
    if num_classes is None:
        if y.shape[1] < 2:
            raise ValueError(f"{name} (B, K) targets must have K >= 2 columns, got shape {tuple(y.shape)}")
        num_classes = y.shape[1]
    else:
        num_classes = check_num_classes(num_classes)
        if y.shape[1] != num_classes:
            raise ValueError(f"{name} (B, K) targets must have width num_classes = {num_classes}, "
                             f"got shape {tuple(y.shape)}")
    if not values:
        return num_classes
    yf = y.double()
    if not bool(torch.isfinite(yf).all()) or bool((yf < -1e-6).any()):
        raise ValueError(f"{name} (B, K) targets must be finite and non-negative")
    if multi_label:
        if bool((yf > 1 + 1e-6).any()):
            raise ValueError(f"{name} multi-label targets must have entries in [0, 1], got a maximum of "
                             f"{float(yf.max()):.4g}")
        return num_classes
    err = float((yf.sum(1) - 1.0).abs().max())
    if err > 1e-3:
        raise ValueError(f"{name} (B, K) targets must have rows that sum to 1 (largest deviation {err:.3g}); "
                         f"for multi-label targets pass multi_label=True")
    return num_classes


def check_index(index, batch: int, device, name: str = "index", values: bool = True) -> torch.Tensor:
    """A (B,) int64 partner index on ``device`` (its values in [0, B) unless ``values=False``)."""
    if not isinstance(index, torch.Tensor):
        raise TypeError(f"{name} must be a LongTensor of partner indices, got {type(index).__name__}")
    if index.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8, torch.int8):
        raise TypeError(f"{name} must be an integer tensor of partner indices, got dtype {index.dtype}")
    if index.shape != (batch,):
        raise ValueError(f"{name} must have shape ({batch},) (one partner per sample), got {tuple(index.shape)}")
    if values:
        lo, hi = int(index.min()), int(index.max())
        if lo < 0 or hi >= batch:
            raise ValueError(f"{name} entries must be in [0, {batch}) (positions in the batch), "
                             f"got min {lo}, max {hi}")
    return index.to(device=device, dtype=torch.int64)


def as_lam(lam, name: str):
    """A tensor for tensors and NumPy arrays / scalars, a float for Python (and NumPy) real numbers."""
    if isinstance(lam, torch.Tensor):
        return lam
    if isinstance(lam, Real) and not isinstance(lam, (bool, np.bool_)):
        return float(lam)  # Python and NumPy scalars (np.float32 included: timm's per-sample λ dtype)
    if isinstance(lam, np.ndarray):
        if lam.dtype.kind not in "fiu":
            raise TypeError(f"{name} given as a NumPy array must hold real numbers, got dtype {lam.dtype}")
        return torch.tensor(np.asarray(lam, dtype=np.float64))
    raise TypeError(f"{name} must be a number, a tensor or a NumPy array, got {type(lam).__name__}")


def check_lam(lam, batch: int, device, name: str = "lam", values: bool = True) -> torch.Tensor:
    """λ as a float64 0-d or (B,) tensor on ``device`` (its values in [0, 1] unless ``values=False``)."""
    lam = as_lam(lam, name)
    if isinstance(lam, torch.Tensor):
        if lam.dim() == 0 or lam.shape == (batch,):
            t = lam.detach().to(device=device, dtype=torch.float64)
        else:
            raise ValueError(f"{name} must be a number, a 0-d tensor or a ({batch},) tensor (one λ per sample), "
                             f"got shape {tuple(lam.shape)}")
    else:
        t = torch.full((), lam, dtype=torch.float64, device=device)  # filled on the device: no copy
    if values and (not bool(torch.isfinite(t).all()) or bool((t < 0).any()) or bool((t > 1).any())):
        raise ValueError(f"{name} must be in [0, 1], got values from {float(t.min())} to {float(t.max())}")
    return t


def check_size(size) -> tuple[int, ...]:
    """A shape: an int or a tuple / list / Size of ints >= 0, as a tuple."""
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size,)
    if not isinstance(size, (tuple, list, torch.Size)):
        raise TypeError(f"size must be an int or a tuple of ints, got {type(size).__name__}")
    return tuple(check_int("size", s, low=0) for s in size)


def check_box_dims(box_dims) -> int:
    """How many trailing dimensions a CutMix box spans (>= 1)."""
    return check_int("box_dims", box_dims, low=1)
