"""Label noise, per-class subsets and validation splits: seeded index and label operations on a training set.

Each function draws from its own seeded CPU :class:`torch.Generator`, so a seed gives the same subset,
split or corrupted labels on any device.
"""

from __future__ import annotations

import torch

from ._checks import check_int, check_num_classes, check_prob, check_real

__all__ = ["corrupt_labels", "split_validation", "subset_per_class"]


def _check_labels(y, name: str = "y") -> torch.Tensor:
    """``y`` after checking it is a 1-D integer tensor (``TypeError`` naming ``name``)."""
    if not isinstance(y, torch.Tensor) or y.ndim != 1 or y.dtype.is_floating_point or y.dtype == torch.bool:
        raise TypeError(f"{name} must be a 1-D integer tensor, got {getattr(y, 'dtype', type(y).__name__)}")
    return y


def corrupt_labels(y: torch.Tensor, fraction: float, num_classes: int, *,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace the labels of a random ``fraction`` of the samples by uniformly random labels.

    Exactly ``round(fraction * N)`` samples (Python rounding) are chosen without replacement, and each gets
    a label drawn uniformly from all ``num_classes`` classes, as in Zhang et al. (2017, "Understanding deep
    learning requires rethinking generalization") and the mixup paper's memorization experiments.  A
    corrupted label therefore equals the true one with probability ``1 / num_classes``, so the fraction of
    labels that actually change is about ``fraction * (1 - 1 / num_classes)``.

    Parameters
    ----------
    y : torch.Tensor
        1-D integer labels in ``[0, num_classes)``; not modified.
    fraction : float
        Fraction of samples to corrupt, in ``[0, 1]``.
    num_classes : int
        Number of classes (>= 2).
    seed : int
        Seed of the CPU generator that picks samples and labels.

    Returns
    -------
    noisy_y : torch.Tensor
        New ``int64`` labels on ``y``'s device.
    corrupted : torch.Tensor
        Boolean mask of the samples that were re-drawn (whether or not the label changed).
    """
    y = _check_labels(y)
    fraction = check_prob(fraction, "fraction")
    num_classes = check_num_classes(num_classes)
    seed = check_int("seed", seed)
    n = y.numel()
    if n and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"y must hold labels in [0, {num_classes - 1}] for num_classes={num_classes}, "
                         f"got range [{int(y.min())}, {int(y.max())}]")
    m = round(fraction * n)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(n, generator=g)[:m]
    new = torch.randint(0, num_classes, (m,), generator=g)
    noisy = y.detach().to("cpu", torch.int64, copy=True)
    noisy[idx] = new
    mask = torch.zeros(n, dtype=torch.bool)
    mask[idx] = True
    return noisy.to(y.device), mask.to(y.device)


def subset_per_class(y: torch.Tensor, n_per_class: int, *, seed: int = 0) -> torch.Tensor:
    """Indices of ``n_per_class`` randomly chosen samples of every class present in ``y``.

    Parameters
    ----------
    y : torch.Tensor
        1-D integer labels.
    n_per_class : int
        Samples to keep per class (>= 1); every class must have at least that many.
    seed : int
        Seed of the CPU generator.

    Returns
    -------
    torch.Tensor
        Sorted ``int64`` indices on ``y``'s device, ``n_per_class * num_present_classes`` of them.
    """
    y = _check_labels(y)
    n_per_class = check_int("n_per_class", n_per_class, low=1)
    seed = check_int("seed", seed)
    yc = y.detach().cpu()
    classes, counts = torch.unique(yc, return_counts=True)
    if counts.numel() == 0 or int(counts.min()) < n_per_class:
        smallest = int(counts.argmin()) if counts.numel() else None
        detail = (f"class {int(classes[smallest])} has only {int(counts[smallest])} samples"
                  if smallest is not None else "y is empty")
        raise ValueError(f"subset: n_per_class must be <= the smallest class size "
                         f"({int(counts.min()) if counts.numel() else 0}), got {n_per_class}; {detail}")
    g = torch.Generator().manual_seed(seed)
    picks = []
    for c in classes.tolist():
        idx = (yc == c).nonzero().squeeze(1)
        picks.append(idx[torch.randperm(idx.numel(), generator=g)[:n_per_class]])
    return torch.cat(picks).sort().values.to(y.device)


def split_validation(n: int, fraction: float, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random disjoint split of ``range(n)`` into training and validation indices.

    Parameters
    ----------
    n : int
        Number of samples (>= 1).
    fraction : float
        Validation fraction in ``[0, 1)``; the validation part has ``round(fraction * n)`` samples.
    seed : int
        Seed of the CPU generator.

    Returns
    -------
    train_idx, val_idx : torch.Tensor
        Sorted ``int64`` CPU index tensors that together cover ``range(n)``.
    """
    n = check_int("n", n, low=1)
    fraction = check_real("fraction", fraction, low=0.0, high=1.0, high_open=True)
    seed = check_int("seed", seed)
    n_val = min(round(fraction * n), n - 1)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_val:].sort().values, perm[:n_val].sort().values

