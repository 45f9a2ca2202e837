"""Synthetic 2-D point sets (two moons, two spirals, a ring of Gaussians) drawn from a seeded generator.

Points are float32 ``(N, 2)`` tensors with balanced labels; the names served here are declared in
:data:`POINT_ENTRIES`.
"""

from __future__ import annotations

import math

import torch

from ._checks import check_int, check_num_classes, check_real
from .dataset import Dataset, DatasetEntry

__all__ = ["POINT_ENTRIES", "make_points", "sample_points"]

_DEFAULT_NOISE = {"two-moons": 0.1, "spirals": 0.05, "ring": 0.1}


def make_points(key: str, *, n_train: int = 1000, n_test: int = 1000, noise: float | None = None,
                 seed: int = 0, num_classes: int = 6) -> Dataset:
    """``n_train`` training and ``n_test`` test points of ``two-moons``, ``spirals`` or ``ring`` (``num_classes``
    Gaussians; the others have 2 classes), with Gaussian ``noise`` (default per set), drawn from ``seed``."""
    n_train = check_int("n_train", n_train, low=2)
    n_test = check_int("n_test", n_test, low=1)
    noise = _DEFAULT_NOISE[key] if noise is None else check_real("noise", noise, low=0.0)
    seed = check_int("seed", seed)
    if key == "ring":
        num_classes = check_num_classes(num_classes)
    else:
        num_classes = 2
    if n_train < num_classes:
        raise ValueError(f"n_train must be >= num_classes={num_classes}, got {n_train}")
    g = torch.Generator().manual_seed(seed)
    x_train, y_train = sample_points(key, n_train, num_classes, noise, g)
    x_test, y_test = sample_points(key, n_test, num_classes, noise, g)
    return Dataset(name=key, kind="points", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                   num_classes=num_classes, classes=[f"class {i}" for i in range(num_classes)],
                   flip=False, in_channels=2)


def sample_points(key: str, n: int, num_classes: int, noise: float,
                   g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points with balanced labels (``arange(n) % num_classes``, shuffled)."""
    y = (torch.arange(n) % num_classes)[torch.randperm(n, generator=g)]
    u = torch.rand(n, generator=g, dtype=torch.float64)
    yf = y.to(torch.float64)
    if key == "two-moons":
        # Upper half circle centred at (0, 0) for class 0; lower half circle centred at (1, 0.5) for class 1.
        t = math.pi * u
        sign = 1.0 - 2.0 * yf
        x = torch.stack([torch.cos(t) * sign + yf, torch.sin(t) * sign + 0.5 * yf], 1)
    elif key == "spirals":
        # Two interleaved Archimedean spirals of 1.5 turns, radius growing from 0 to 1.
        t = torch.sqrt(u)  # uniform density along the radius-weighted arc
        angle = 3.0 * math.pi * t + math.pi * yf
        x = torch.stack([t * torch.cos(angle), t * torch.sin(angle)], 1)
    else:  # ring: one isotropic Gaussian per class, centres evenly spaced on the unit circle
        angle = 2.0 * math.pi * yf / num_classes
        x = torch.stack([torch.cos(angle), torch.sin(angle)], 1)
    x = x + noise * torch.randn(n, 2, generator=g, dtype=torch.float64)
    return x.float(), y



_OPTIONS = ("n_train", "n_test", "noise", "seed")
POINT_ENTRIES: dict[str, DatasetEntry] = {
    name: DatasetEntry("points", lambda name, data_dir, download, **kw: make_points(name, **kw),
                       _OPTIONS + (("num_classes",) if name == "ring" else ()))
    for name in ("two-moons", "spirals", "ring")
}
"""The 2-D point sets of :func:`mixup_repro.data.load_dataset`."""
