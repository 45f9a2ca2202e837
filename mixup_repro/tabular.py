"""Tabular datasets: scikit-learn's small sets and the paper's six UCI sets (files read by :mod:`mixup_repro.uci`).

Both are split with a seeded stratified split (:func:`stratified_split`; Arcene keeps its given split) and
standardised with the training split's statistics (:func:`standardise`), as float32 ``(N, F)`` tensors.  The
names served here are declared in :data:`TABULAR_ENTRIES`.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ._checks import check_int, check_real
from .dataset import Dataset, DatasetEntry, data_folders
from .uci import UCI_DATASETS, read_uci

__all__ = ["SKLEARN_DATASETS", "TABULAR_ENTRIES", "load_sklearn", "load_uci", "standardise", "stratified_split"]

SKLEARN_DATASETS = ("iris", "wine", "breast-cancer", "digits")
"""scikit-learn's tabular sets, as dataset names of :func:`mixup_repro.data.load_dataset`."""


def load_sklearn(key: str, *, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """One of :data:`SKLEARN_DATASETS`, split (``test_fraction`` of each class, ``seed``) and standardised."""
    from sklearn import datasets as skd

    test_fraction = check_real("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    seed = check_int("seed", seed)
    loader = {"iris": skd.load_iris, "wine": skd.load_wine,
              "breast-cancer": skd.load_breast_cancer, "digits": skd.load_digits}[key]
    bunch = loader()
    x = torch.as_tensor(np.asarray(bunch.data), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(bunch.target), dtype=torch.int64)
    train_idx, test_idx = stratified_split(y, test_fraction, seed)
    x_train, x_test = standardise(x[train_idx], x[test_idx])  # constant features (blank digit pixels) stay 0
    classes = [str(c) for c in bunch.target_names]
    return Dataset(name=key, kind="tabular", x_train=x_train, y_train=y[train_idx], x_test=x_test,
                   y_test=y[test_idx], num_classes=len(classes), classes=classes,
                   flip=False, in_channels=int(x.shape[1]),
                   source={"name": key, "label": f"{key.replace('-', ' ').capitalize()} (scikit-learn)",
                           "kind": "scikit-learn"})


def load_uci(key: str, data_dir=None, *, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """One of the UCI sets (:data:`mixup_repro.uci.UCI_DATASETS`) from the files in :func:`data_folders`, split like
    :func:`load_sklearn` (Arcene: its given split), missing values imputed from the training split, standardised."""
    test_fraction = check_real("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    seed = check_int("seed", seed)
    x, y, classes, given_test, source = read_uci(key, data_folders(data_dir))
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.int64)
    if given_test is not None:
        mask = torch.as_tensor(given_test)
        train_idx, test_idx = (~mask).nonzero().squeeze(1), mask.nonzero().squeeze(1)
    else:
        train_idx, test_idx = stratified_split(y, test_fraction, seed)
    x_train, x_test = x[train_idx], x[test_idx]
    if torch.isnan(x).any():  # impute from the training split only
        with warnings.catch_warnings():  # a feature missing on the whole training split: imputed with 0
            warnings.simplefilter("ignore", RuntimeWarning)
            med = torch.from_numpy(np.nan_to_num(np.nanmedian(x_train.numpy(), 0), nan=0.0))
        x_train = torch.where(torch.isnan(x_train), med, x_train)
        x_test = torch.where(torch.isnan(x_test), med, x_test)
    x_train, x_test = standardise(x_train, x_test)
    return Dataset(name=key, kind="tabular", x_train=x_train, y_train=y[train_idx], x_test=x_test,
                   y_test=y[test_idx], num_classes=len(classes), classes=classes, flip=False,
                   in_channels=int(x.shape[1]), source=source)


def standardise(x_train: torch.Tensor, x_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 ``(x - mean) / std`` with the training split's statistics (constant features stay 0)."""
    mu = x_train.mean(0)
    sd = x_train.std(0, unbiased=False)
    sd = torch.where(sd > 0, sd, torch.ones_like(sd))
    return ((x_train - mu) / sd).float(), ((x_test - mu) / sd).float()


def stratified_split(y: torch.Tensor, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded per-class split: ``round(test_fraction * n_c)`` of each class (at least 1, at most n_c - 1)."""
    g = torch.Generator().manual_seed(seed)
    train, test = [], []
    for c in torch.unique(y).tolist():
        idx = (y == c).nonzero().squeeze(1)
        idx = idx[torch.randperm(idx.numel(), generator=g)]
        n_test = round(test_fraction * idx.numel())
        if idx.numel() >= 2:
            n_test = min(max(n_test, 1), idx.numel() - 1)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return torch.cat(train).sort().values, torch.cat(test).sort().values


_OPTIONS = ("test_fraction", "seed")
TABULAR_ENTRIES: dict[str, DatasetEntry] = {
    **{name: DatasetEntry("tabular", lambda name, data_dir, download, **kw: load_sklearn(name, **kw), _OPTIONS)
       for name in SKLEARN_DATASETS},
    **{name: DatasetEntry("tabular", lambda name, data_dir, download, **kw: load_uci(name, data_dir, **kw), _OPTIONS)
       for name in UCI_DATASETS},
}
"""The tabular datasets of :func:`mixup_repro.data.load_dataset`."""
