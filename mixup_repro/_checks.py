"""Argument validation shared by the whole library.

Every public function checks its arguments with these helpers, so a bad value always raises
``ValueError`` or ``TypeError`` with a message that names the argument and its allowed range,
e.g. ``alpha must be a finite number >= 0, got -1.0``.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

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
