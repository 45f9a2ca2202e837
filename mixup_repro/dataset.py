"""The :class:`Dataset` container every loader returns, the data folders, and the registry entry type.

A dataset family (:mod:`mixup_repro.images`, :mod:`mixup_repro.tabular`, :mod:`mixup_repro.points`,
:mod:`mixup_repro.speech`) builds :class:`Dataset` objects and declares the names it serves as
:class:`DatasetEntry` records; :mod:`mixup_repro.data` gathers those records into the registry behind
:func:`mixup_repro.data.load_dataset`.  Local files are looked for in the folders of :func:`data_folders`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ._checks import check_choice, check_num_classes
from .subsets import split_validation

__all__ = ["DATASET_GROUPS", "DATA_ENV", "Dataset", "DatasetEntry", "data_folders", "default_data_dir"]

DATA_ENV = "MIXUP_REPRO_DATA"
"""Environment variable that overrides :func:`default_data_dir`."""

DATASET_GROUPS = ("image", "tabular", "points", "speed", "audio")
"""The groups of dataset names, in the order :data:`mixup_repro.data.DATASET_NAMES` lists them."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test pair of tensors with the metadata the trainer needs.

    Attributes
    ----------
    name : str
        Dataset name, e.g. ``"fashion-mnist"``.
    kind : str
        ``"image"`` (``x`` is ``uint8`` of shape ``(N, C, H, W)``), ``"tabular"`` or ``"points"`` (``x`` is
        ``float32`` of shape ``(N, F)``).
    x_train, y_train, x_test, y_test : torch.Tensor
        Inputs and ``int64`` labels.
    num_classes : int
        Number of classes.
    classes : list of str
        Class names, ``len(classes) == num_classes``.
    mean, std : tuple of float or None
        Per-channel statistics in ``[0, 1]`` pixel units for images (feed to :func:`normalize`); ``None``
        for tabular and point data, which are stored already standardised.
    flip : bool
        Whether horizontal flips are a valid augmentation for this data.
    in_channels : int
        Image channels, or number of features for tabular/point data.
    source : dict or None
        Where the data came from (``name``, ``label`` — how tables name it, e.g. "CIFAR-10 (JPEG copy)" —,
        ``kind`` and, for files, ``path`` and a checksum); every results file records it as ``data_source``.
    """

    name: str
    kind: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    classes: list[str]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    flip: bool = False
    in_channels: int = 1
    source: dict | None = None

    def __post_init__(self):
        check_choice("kind", self.kind, ("image", "tabular", "points", "spectrogram", "sequence"))
        check_num_classes(self.num_classes)
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
                raise TypeError(f"x_{split} and y_{split} must be tensors")
            if y.dtype != torch.int64 or y.ndim != 1:
                raise TypeError(f"y_{split} must be a 1-D int64 tensor, got {y.dtype} of shape {tuple(y.shape)}")
            if x.shape[0] != y.shape[0]:
                raise ValueError(f"x_{split} and y_{split} must have the same length, "
                                 f"got {x.shape[0]} and {y.shape[0]}")
            want_ndim = {"image": 4, "spectrogram": 4, "sequence": 3}.get(self.kind, 2)
            feat = x.shape[-1] if self.kind == "sequence" else x.shape[1] if x.ndim > 1 else None
            if x.ndim != want_ndim or feat != self.in_channels:
                shape = {4: f"(N, {self.in_channels}, H, W)", 3: f"(N, T, {self.in_channels})"}.get(
                    want_ndim, f"(N, {self.in_channels})")
                raise ValueError(f"x_{split} must have shape {shape} for kind={self.kind!r}, got {tuple(x.shape)}")
        if len(self.classes) != self.num_classes:
            raise ValueError(f"classes must have num_classes={self.num_classes} names, got {len(self.classes)}")

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, kind={self.kind!r}, train={tuple(self.x_train.shape)} "
                f"{self.x_train.dtype}, test={tuple(self.x_test.shape)}, num_classes={self.num_classes}, "
                f"flip={self.flip}, device={self.x_train.device})")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input sample, e.g. ``(1, 28, 28)`` or ``(4,)``."""
        return tuple(self.x_train.shape[1:])

    @property
    def num_train(self) -> int:
        """Number of training samples."""
        return int(self.x_train.shape[0])

    @property
    def num_test(self) -> int:
        """Number of test samples."""
        return int(self.x_test.shape[0])

    @property
    def device(self) -> torch.device:
        """Device of the training tensors."""
        return self.x_train.device

    def to(self, device) -> Dataset:
        """Return a copy with all four tensors moved to ``device``."""
        device = torch.device(device)
        return dataclasses.replace(self, x_train=self.x_train.to(device), y_train=self.y_train.to(device),
                                   x_test=self.x_test.to(device), y_test=self.y_test.to(device))

    def select_train(self, indices) -> Dataset:
        """Return a copy whose training set is ``x_train[indices]``, ``y_train[indices]`` (test set kept).

        Use with :func:`subset_per_class` or the first output of :func:`split_validation`.
        """
        idx = _as_index(indices, self.num_train, "indices").to(self.x_train.device)
        return dataclasses.replace(self, x_train=self.x_train[idx], y_train=self.y_train[idx])

    def with_train_labels(self, y_train: torch.Tensor) -> Dataset:
        """Return a copy with the training labels replaced, e.g. by the output of :func:`corrupt_labels`."""
        if not isinstance(y_train, torch.Tensor) or y_train.shape != self.y_train.shape:
            raise ValueError(f"y_train must be a tensor of shape {tuple(self.y_train.shape)}")
        return dataclasses.replace(self, y_train=y_train.to(self.y_train.device, torch.int64))

    def validation_split(self, fraction: float, *, seed: int = 0) -> Dataset:
        """Return a copy that trains on part of the training set and tests on the held-out rest.

        The held-out ``round(fraction * num_train)`` samples (chosen by :func:`split_validation`) replace
        the test set, so model selection never touches the real test set.
        """
        train_idx, val_idx = split_validation(self.num_train, fraction, seed=seed)
        dev = self.x_train.device
        train_idx, val_idx = train_idx.to(dev), val_idx.to(dev)
        return dataclasses.replace(self, x_train=self.x_train[train_idx], y_train=self.y_train[train_idx],
                                   x_test=self.x_train[val_idx], y_test=self.y_train[val_idx])


def _as_index(indices, n: int, name: str) -> torch.Tensor:
    """``indices`` (a 1-D integer tensor or a boolean mask of length ``n``) as int64 indices."""
    idx = torch.as_tensor(indices)
    if idx.dtype == torch.bool:
        if idx.shape != (n,):
            raise ValueError(f"{name}: a boolean mask must have shape ({n},), got {tuple(idx.shape)}")
        return idx.nonzero().squeeze(1)
    if idx.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8) or idx.ndim != 1:
        raise TypeError(f"{name} must be a 1-D integer index tensor or boolean mask, got {idx.dtype} "
                        f"of shape {tuple(idx.shape)}")
    return idx.long()



def default_data_dir() -> Path:
    """Return ``$MIXUP_REPRO_DATA`` if that variable is set and non-empty, else ``~/.cache/mixup_repro/data``."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "mixup_repro" / "data"


def data_folders(data_dir) -> list[Path]:
    """Folders searched for local data files: an explicit ``data_dir`` alone (never a silent fallback to
    another copy), else the default data folder."""
    if data_dir is not None:
        d = Path(data_dir).expanduser()
        if d.exists() and not d.is_dir():
            raise NotADirectoryError(f"data_dir {d} is a file; pass the folder that holds the data files")
        return [d]
    return [default_data_dir()]


@dataclass(frozen=True)
class DatasetEntry:
    """How :func:`mixup_repro.data.load_dataset` serves one dataset name.

    Attributes
    ----------
    group : str
        One of :data:`DATASET_GROUPS`; decides which name tuple of :mod:`mixup_repro.data` lists the name.
    load : callable
        ``load(name, data_dir, download, **options)`` returning a :class:`Dataset`.
    options : tuple of str
        The keyword options ``load`` accepts (any other is a ``TypeError`` naming them).
    """

    group: str
    load: Callable[..., Dataset]
    options: tuple[str, ...] = ()

    def __post_init__(self):
        check_choice("group", self.group, DATASET_GROUPS)
