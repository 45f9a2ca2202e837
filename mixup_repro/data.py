"""Datasets, batch augmentation, label noise, subsets and nearest-neighbour partners.

Everything is held as torch tensors so a whole training set can live on the GPU and the trainer indexes it
directly: images are stored as ``uint8`` of shape ``(N, C, H, W)``, tabular and 2-D point data as
``float32`` of shape ``(N, F)``, labels as ``int64``.  The per-batch functions (:func:`augment_batch`,
:func:`normalize`, :class:`BatchIterator`) run on whatever device their tensors are on and never synchronise
with the host.

Datasets (:func:`load_dataset`)
-------------------------------
``fashion-mnist``
    Read from the four original IDX ``.gz`` files, parsed here with :mod:`gzip` and :mod:`numpy`.  Every file
    is checked against the MD5 that torchvision lists for it (``torchvision.datasets.FashionMNIST.resources``);
    a file whose compressed bytes differ (for example a copy that was decompressed and gzipped again) is
    accepted only if the MD5 of its *decompressed* IDX content equals that of the official release.  A
    truncated or corrupted file raises :class:`ValueError` naming the file.
``cifar10``, ``cifar100``
    Through ``torchvision.datasets.CIFAR10`` / ``CIFAR100`` (which verify their own checksums) when the official
    files are in the data folder or can be downloaded. Offline, ``cifar10`` also reads the local JPEG copy
    (``cifar10-jpeg.tar.gz`` or its extracted folder in the data folder; see :mod:`mixup_repro.cifar_jpeg`),
    labelled "CIFAR-10 (JPEG copy)". The official files win when both are present.
``iris``, ``wine``, ``breast-cancer``, ``digits``
    Small tabular sets from scikit-learn, split with a seeded stratified split and standardised with the
    training-set mean and standard deviation.
``abalone``, ``arcene``, ``arrhythmia``, ``htru2``, ``iris-uci``, ``phishing``
    The paper's six UCI sets, read from local files (see :mod:`mixup_repro.uci` for the files, checks and
    preprocessing), split and standardised the same way (Arcene: its given train/valid split).
``two-moons``, ``spirals``, ``ring``
    Synthetic 2-D point sets drawn from a seeded :class:`torch.Generator`.
``speech-commands``
    The official Speech Commands v0.02 test set as standardised log-mel spectrograms, split by speaker
    (``kind="spectrogram"``, float32 ``(N, 1, 40, 101)``; ``layout="sequence"`` gives ``(N, 101, 40)`` for
    recurrent nets, ``kind="sequence"``); ``eval_split="validation"`` evaluates on the validation speakers
    instead of the test speakers. See :mod:`mixup_repro.speech`.
``random-cifar``
    Uniform random ``uint8`` images of CIFAR-10's shape (50 000 + 10 000 × 3 × 32 × 32, 10 balanced random
    classes), for speed measurements where CIFAR-10 cannot be downloaded: speed does not depend on the pixels.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import math
import os
import pickle
import tempfile
import warnings
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mixup_repro._checks import check_bool, check_choice, check_int, check_num_classes, check_prob, check_real
from mixup_repro.uci import UCI_DATASETS, read_uci

__all__ = [
    "CIFAR_MEAN",
    "CIFAR_STD",
    "DATASET_NAMES",
    "DATA_ENV",
    "FASHION_MNIST_CLASSES",
    "IMAGE_DATASETS",
    "POINT_DATASETS",
    "SPEED_DATASETS",
    "AUDIO_DATASETS",
    "SYSTEM_FASHION_MNIST_DIR",
    "TABULAR_DATASETS",
    "BatchIterator",
    "Dataset",
    "augment_batch",
    "corrupt_labels",
    "default_data_dir",
    "iterate_batches",
    "knn_partners",
    "load_dataset",
    "normalize",
    "split_validation",
    "subset_per_class",
]

DATA_ENV = "MIXUP_REPRO_DATA"
"""Environment variable that overrides :func:`default_data_dir`."""

SYSTEM_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
"""System-wide folder searched last for the Fashion-MNIST IDX files."""

IMAGE_DATASETS = ("fashion-mnist", "cifar10", "cifar100")
"""Image datasets (``kind="image"``, uint8 ``(N, C, H, W)``)."""
TABULAR_DATASETS = ("iris", "wine", "breast-cancer", "digits") + UCI_DATASETS
"""scikit-learn tabular datasets (``kind="tabular"``, standardised float32 ``(N, F)``)."""
POINT_DATASETS = ("two-moons", "spirals", "ring")
"""Synthetic 2-D datasets (``kind="points"``, float32 ``(N, 2)``)."""
SPEED_DATASETS = ("random-cifar",)
"""Synthetic data for speed measurements."""

AUDIO_DATASETS = ("speech-commands",)
"""Random uint8 images of CIFAR-10's shape (``kind="image"``) for speed measurements only: training speed does
not depend on the pixels, and their accuracy means nothing."""
DATASET_NAMES = IMAGE_DATASETS + TABULAR_DATASETS + POINT_DATASETS + SPEED_DATASETS + AUDIO_DATASETS
"""Every name :func:`load_dataset` accepts."""

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
"""Per-channel mean used by the official mixup CIFAR-10 code (facebookresearch/mixup-cifar10)."""
CIFAR_STD = (0.2023, 0.1994, 0.2010)
"""Per-channel "std" of the official mixup CIFAR-10 code.  These widely copied constants are not the exact
per-pixel standard deviations of CIFAR-10 (about 0.247, 0.243, 0.261); they are kept to match the paper's
code.  CIFAR-100 uses the same constants (its statistics differ only in the second decimal)."""

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
"""Fashion-MNIST class names, in label order."""

_FMNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
# MD5 of the official .gz files; used only if torchvision.datasets.FashionMNIST.resources is unavailable.
_FMNIST_GZ_MD5_FALLBACK = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
# MD5 of the decompressed official IDX files (torchvision lists only the .gz ones).  A .gz whose bytes differ
# from the official archive (re-compressed copy) is accepted when its content matches these.
_FMNIST_RAW_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
# In-process cache of verified files: (resolved path, size, mtime_ns) -> True.
_VERIFIED: dict[tuple[str, int, int], bool] = {}


# ----------------------------------------------------------------------------------------------------------
# Dataset container
# ----------------------------------------------------------------------------------------------------------

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
    idx = torch.as_tensor(indices)
    if idx.dtype == torch.bool:
        if idx.shape != (n,):
            raise ValueError(f"{name}: a boolean mask must have shape ({n},), got {tuple(idx.shape)}")
        return idx.nonzero().squeeze(1)
    if idx.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8) or idx.ndim != 1:
        raise TypeError(f"{name} must be a 1-D integer index tensor or boolean mask, got {idx.dtype} "
                        f"of shape {tuple(idx.shape)}")
    return idx.long()


# ----------------------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------------------

def default_data_dir() -> Path:
    """Return ``$MIXUP_REPRO_DATA`` if that variable is set and non-empty, else ``~/.cache/mixup_repro/data``."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "mixup_repro" / "data"


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, *, download: bool = True,
                 **kw) -> Dataset:
    """Load one of :data:`DATASET_NAMES` as a :class:`Dataset` of CPU tensors.

    Parameters
    ----------
    name : str
        Dataset name (case-insensitive; ``_`` may replace ``-``).
    data_dir : path, optional
        Where to look for / download files; default :func:`default_data_dir`.  Ignored by the
        scikit-learn and synthetic sets.
    download : bool
        Whether Fashion-MNIST and CIFAR may be downloaded (via torchvision) when not found.
    **kw
        Tabular sets: ``test_fraction=0.2``, ``seed=0``.  Synthetic sets: ``n_train=1000``,
        ``n_test=1000``, ``noise`` (default 0.1 for two-moons and ring, 0.05 for spirals), ``seed=0``;
        ``ring`` also takes ``num_classes=6``.  ``random-cifar``: ``n_train=50000``, ``n_test=10000``,
        ``seed=0``.  Image sets take none.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        Unknown ``name``, bad keyword values, or a corrupt/truncated data file.
    FileNotFoundError
        Data files not found and not downloadable.
    """
    if not isinstance(name, str):
        raise TypeError(f"dataset must be a string, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")
    if key not in DATASET_NAMES:
        raise ValueError(f"dataset must be one of {', '.join(DATASET_NAMES)}; got {name!r}")
    if key in IMAGE_DATASETS:
        _check_no_kwargs(key, kw, ())
        if key == "fashion-mnist":
            return _load_fashion_mnist(data_dir, download)
        return _load_cifar(key, data_dir, download)
    if key in UCI_DATASETS:
        _check_no_kwargs(key, kw, ("test_fraction", "seed"))
        return _load_uci(key, data_dir, **kw)
    if key in TABULAR_DATASETS:
        _check_no_kwargs(key, kw, ("test_fraction", "seed"))
        return _load_tabular(key, **kw)
    if key in AUDIO_DATASETS:
        _check_no_kwargs(key, kw, ("eval_split", "layout"))
        return _load_speech(data_dir, **kw)
    if key in SPEED_DATASETS:
        _check_no_kwargs(key, kw, ("n_train", "n_test", "seed"))
        return _make_random_images(**kw)
    _check_no_kwargs(key, kw, ("n_train", "n_test", "noise", "seed") + (("num_classes",) if key == "ring" else ()))
    return _make_points(key, **kw)


def _check_no_kwargs(name: str, kw: dict, allowed: tuple[str, ...]) -> None:
    extra = sorted(set(kw) - set(allowed))
    if extra:
        raise TypeError(f"load_dataset({name!r}) got unexpected keyword argument(s) {', '.join(extra)}; "
                        f"allowed: {', '.join(allowed) if allowed else 'none'}")


# --- Fashion-MNIST ----------------------------------------------------------------------------------------

def _fmnist_gz_md5() -> dict[str, str]:
    """Official ``.gz`` MD5s, from torchvision when it lists them, else the hard-coded constants."""
    try:
        from torchvision.datasets import FashionMNIST

        table = {Path(str(src)).name: str(md5) for src, md5 in FashionMNIST.resources}
    except (ImportError, AttributeError, TypeError, ValueError):  # torchvision missing or changed
        return dict(_FMNIST_GZ_MD5_FALLBACK)
    if not all(f in table for f in _FMNIST_FILES.values()):
        return dict(_FMNIST_GZ_MD5_FALLBACK)
    return table


def _fmnist_candidate_dirs(data_dir) -> list[Path]:
    bases = []
    if data_dir is not None:
        bases.append(Path(data_dir).expanduser())
    bases.append(default_data_dir())
    dirs: list[Path] = []
    for base in bases:
        for d in (base, base / "fashion-mnist", base / "FashionMNIST" / "raw"):
            if d not in dirs:
                dirs.append(d)
    dirs.append(SYSTEM_FASHION_MNIST_DIR)
    return dirs


def _find_fmnist_file(folder: Path, gz_name: str) -> Path | None:
    """The ``.gz`` file if present, else its decompressed twin (as torchvision leaves it), else None."""
    for p in (folder / gz_name, folder / gz_name[:-3]):
        if p.is_file():
            return p
    return None


def _read_verified(path: Path, gz_md5: dict[str, str]) -> bytes:
    """Return the decompressed bytes of an official Fashion-MNIST file after checking its MD5."""
    raw_name = path.name.removesuffix(".gz")
    st = path.stat()
    cache_key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    blob = path.read_bytes()
    is_gz = path.name.endswith(".gz")
    if is_gz:
        verified = _VERIFIED.get(cache_key, False)
        found_gz = None
        if not verified:
            found_gz = hashlib.md5(blob, usedforsecurity=False).hexdigest()
            verified = found_gz == gz_md5[path.name]
        try:
            data = gzip.decompress(blob)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"Fashion-MNIST file {path} is corrupt or truncated: it cannot be decompressed "
                             f"({err}); expected md5 {gz_md5[path.name]}, found {found_gz}. "
                             f"Delete it and download the dataset again.") from err
    else:
        verified, found_gz, data = _VERIFIED.get(cache_key, False), None, blob
    if not verified:
        found_raw = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if found_raw != _FMNIST_RAW_MD5[raw_name]:
            if is_gz:
                detail = (f"expected md5 {gz_md5[path.name]} (or {_FMNIST_RAW_MD5[raw_name]} for the "
                          f"decompressed content), found {found_gz} (decompressed: {found_raw})")
            else:
                detail = f"expected md5 {_FMNIST_RAW_MD5[raw_name]}, found {found_raw}"
            raise ValueError(f"Fashion-MNIST file {path} is corrupt or truncated: {detail}. "
                             f"Delete it and download the dataset again.")
    _VERIFIED[cache_key] = True
    return data


def _parse_idx(data: bytes, path: Path, ndim: int) -> np.ndarray:
    """Parse an unsigned-byte IDX file (magic ``0x0000 08 <ndim>``) into a uint8 array."""
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"Fashion-MNIST file {path} is truncated: {len(data)} bytes")
    magic = int.from_bytes(data[:4], "big")
    if magic != 0x0800 + ndim:
        raise ValueError(f"Fashion-MNIST file {path} has IDX magic number {magic:#010x}, "
                         f"expected {0x0800 + ndim:#010x} (uint8, {ndim}-D)")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(data) - offset != math.prod(shape):
        raise ValueError(f"Fashion-MNIST file {path} is corrupt or truncated: header shape {shape} needs "
                         f"{math.prod(shape)} bytes of data, found {len(data) - offset}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def _load_fashion_mnist(data_dir, download: bool) -> Dataset:
    names = list(_FMNIST_FILES.values())
    searched = _fmnist_candidate_dirs(data_dir)
    folder = None
    for d in searched:
        if all(_find_fmnist_file(d, f) is not None for f in names):
            folder = d
            break
    if folder is None:
        root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
        where = ", ".join(str(d) for d in searched)
        if not download:
            raise FileNotFoundError(f"Fashion-MNIST files ({', '.join(names)}) not found in any of: {where}; "
                                    f"pass download=True or set ${DATA_ENV}")
        try:
            from torchvision.datasets import FashionMNIST

            FashionMNIST(str(root), train=True, download=True)
        except Exception as err:
            raise FileNotFoundError(f"Fashion-MNIST files not found in any of: {where}, and downloading to "
                                    f"{root / 'FashionMNIST' / 'raw'} failed: {err}") from err
        folder = root / "FashionMNIST" / "raw"
    gz_md5 = _fmnist_gz_md5()
    arrays = {}
    for key, fname in _FMNIST_FILES.items():
        path = _find_fmnist_file(folder, fname)
        if path is None:
            raise FileNotFoundError(f"Fashion-MNIST file {folder / fname} not found")
        arrays[key] = _parse_idx(_read_verified(path, gz_md5), path, 3 if key.endswith("images") else 1)
    for split, n in (("train", 60000), ("test", 10000)):
        xi, yi = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if xi.shape != (n, 28, 28) or yi.shape != (n,) or yi.max() > 9:
            raise ValueError(f"Fashion-MNIST {split} files in {folder} have unexpected shapes "
                             f"{xi.shape}, {yi.shape} (expected ({n}, 28, 28), ({n},), labels 0..9)")
    x_train = torch.from_numpy(arrays["train_images"].copy()).unsqueeze(1)
    x_test = torch.from_numpy(arrays["test_images"].copy()).unsqueeze(1)
    mean, std = _pixel_stats(arrays["train_images"])
    return Dataset(
        name="fashion-mnist", kind="image",
        x_train=x_train, y_train=torch.from_numpy(arrays["train_labels"].astype(np.int64)),
        x_test=x_test, y_test=torch.from_numpy(arrays["test_labels"].astype(np.int64)),
        num_classes=10, classes=list(FASHION_MNIST_CLASSES),
        # Training-set statistics, computed exactly: mean 0.2860, std 0.3530.
        mean=(mean,), std=(std,),
        # Clothing is close to left-right symmetric (a mirrored shirt or sneaker is still a shirt or sneaker),
        # so horizontal flips are label-preserving here; they would be wrong for digits or letters.
        flip=True, in_channels=1,
        source={"name": "fashion-mnist", "label": "Fashion-MNIST", "kind": "official", "path": str(folder)},
    )


def _pixel_stats(images: np.ndarray) -> tuple[float, float]:
    """Exact mean and std (population) of uint8 pixels in [0, 1] units, via a 256-bin histogram."""
    counts = np.bincount(images.reshape(-1), minlength=256).astype(np.float64)
    values = np.arange(256, dtype=np.float64) / 255.0
    n = counts.sum()
    mean = float((counts * values).sum() / n)
    var = float((counts * (values - mean) ** 2).sum() / n)
    return mean, math.sqrt(var)


# --- CIFAR ------------------------------------------------------------------------------------------------

def _explicit_or_default(data_dir) -> list[Path]:
    """Folders searched for local data files: an explicit ``data_dir`` alone (never a silent fallback to
    another copy), else the default data folder."""
    if data_dir is not None:
        d = Path(data_dir).expanduser()
        if d.exists() and not d.is_dir():
            raise NotADirectoryError(f"data_dir {d} is a file; pass the folder that holds the data files")
        return [d]
    return [default_data_dir()]


def _load_cifar(key: str, data_dir, download: bool) -> Dataset:
    from torchvision import datasets

    from .cifar_jpeg import (
        CIFAR10_CLASSES,
        JPEG_ARCHIVE,
        JPEG_FOLDER,
        OFFICIAL_LABEL,
        find_cifar10_jpeg,
        read_cifar10_jpeg,
    )

    cls = datasets.CIFAR10 if key == "cifar10" else datasets.CIFAR100
    bases = _explicit_or_default(data_dir)
    root = bases[0]
    official = root / cls.base_folder
    jpeg = find_cifar10_jpeg(bases) if key == "cifar10" and not official.is_dir() else None
    if jpeg is not None:
        arrays, source = read_cifar10_jpeg(jpeg)
        x_train, x_test = torch.from_numpy(arrays["x_train"]), torch.from_numpy(arrays["x_test"])
        y_train, y_test = torch.from_numpy(arrays["y_train"]), torch.from_numpy(arrays["y_test"])
        return Dataset(name=key, kind="image", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                       num_classes=10, classes=list(CIFAR10_CLASSES), mean=CIFAR_MEAN, std=CIFAR_STD,
                       flip=True, in_channels=3, source=source)
    copies = f" or the JPEG copy ({JPEG_ARCHIVE} / {JPEG_FOLDER}/)" if key == "cifar10" else ""
    how = (f"put the extracted official '{cls.base_folder}' folder{copies} in {root} "
           f"(--data-dir or ${DATA_ENV})")
    if not official.is_dir() and not download:
        raise FileNotFoundError(f"{key}: no data found in {root}; {how}, or allow the download")
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted"
        raise FileNotFoundError(f"{key}: the official files in {official} are missing or corrupted ({err}); "
                                f"delete the folder and {how}") from err
    except OSError as err:  # offline: urllib's URLError and friends
        raise FileNotFoundError(f"{key}: no data found in {root} and the download failed ({err}); "
                                f"{how}") from err

    def tensors(ds):
        x = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()
        return x, torch.as_tensor(ds.targets, dtype=torch.int64)

    x_train, y_train = tensors(train)
    x_test, y_test = tensors(test)
    label = OFFICIAL_LABEL if key == "cifar10" else "CIFAR-100"
    return Dataset(name=key, kind="image", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                   num_classes=len(train.classes), classes=list(train.classes),
                   mean=CIFAR_MEAN, std=CIFAR_STD, flip=True, in_channels=3,
                   source={"name": key, "label": label, "kind": "official", "path": str(official)})


# --- scikit-learn tabular sets ----------------------------------------------------------------------------

def _load_tabular(key: str, *, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    from sklearn import datasets as skd

    test_fraction = check_real("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    seed = check_int("seed", seed)
    loader = {"iris": skd.load_iris, "wine": skd.load_wine,
              "breast-cancer": skd.load_breast_cancer, "digits": skd.load_digits}[key]
    bunch = loader()
    x = torch.as_tensor(np.asarray(bunch.data), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(bunch.target), dtype=torch.int64)
    train_idx, test_idx = _stratified_split(y, test_fraction, seed)
    x_train, x_test = _standardise(x[train_idx], x[test_idx])  # constant features (blank digit pixels) stay 0
    classes = [str(c) for c in bunch.target_names]
    return Dataset(name=key, kind="tabular", x_train=x_train, y_train=y[train_idx], x_test=x_test,
                   y_test=y[test_idx], num_classes=len(classes), classes=classes,
                   flip=False, in_channels=int(x.shape[1]),
                   source={"name": key, "label": f"{key.replace('-', ' ').capitalize()} (scikit-learn)",
                           "kind": "scikit-learn"})


def _load_uci(key: str, data_dir, *, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    test_fraction = check_real("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    seed = check_int("seed", seed)
    x, y, classes, given_test, source = read_uci(key, _explicit_or_default(data_dir))
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.int64)
    if given_test is not None:
        mask = torch.as_tensor(given_test)
        train_idx, test_idx = (~mask).nonzero().squeeze(1), mask.nonzero().squeeze(1)
    else:
        train_idx, test_idx = _stratified_split(y, test_fraction, seed)
    x_train, x_test = x[train_idx], x[test_idx]
    if torch.isnan(x).any():  # impute from the training split only
        with warnings.catch_warnings():  # a feature missing on the whole training split: imputed with 0
            warnings.simplefilter("ignore", RuntimeWarning)
            med = torch.from_numpy(np.nan_to_num(np.nanmedian(x_train.numpy(), 0), nan=0.0))
        x_train = torch.where(torch.isnan(x_train), med, x_train)
        x_test = torch.where(torch.isnan(x_test), med, x_test)
    x_train, x_test = _standardise(x_train, x_test)
    return Dataset(name=key, kind="tabular", x_train=x_train, y_train=y[train_idx], x_test=x_test,
                   y_test=y[test_idx], num_classes=len(classes), classes=classes, flip=False,
                   in_channels=int(x.shape[1]), source=source)


def _standardise(x_train: torch.Tensor, x_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 ``(x - mean) / std`` with the training split's statistics (constant features stay 0)."""
    mu = x_train.mean(0)
    sd = x_train.std(0, unbiased=False)
    sd = torch.where(sd > 0, sd, torch.ones_like(sd))
    return ((x_train - mu) / sd).float(), ((x_test - mu) / sd).float()


def _stratified_split(y: torch.Tensor, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
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


# --- Speech Commands (test-set miniature) ---------------------------------------------------------------

def _load_speech(data_dir, *, eval_split: str = "test", layout: str = "cnn") -> Dataset:
    from .speech import (
        SPEECH_ARCHIVE,
        SPEECH_CLASSES,
        SPEECH_FOLDER,
        find_speech_commands,
        read_speech_commands,
        speaker_split,
    )

    check_choice("eval_split", eval_split, ("test", "validation"))
    check_choice("layout", layout, ("cnn", "sequence"))
    bases = _explicit_or_default(data_dir)
    found = find_speech_commands(bases)
    if found is None:
        raise FileNotFoundError(f"speech-commands: neither {SPEECH_ARCHIVE} nor {SPEECH_FOLDER}/ found in "
                                f"{', '.join(str(b) for b in bases)}; put the official test set there "
                                f"(--data-dir or ${DATA_ENV})")
    arrays, source = read_speech_commands(found)
    split = np.array([speaker_split(str(sp)) for sp in arrays["speaker"]])
    tr, ev = split == "train", split == eval_split
    x = torch.from_numpy(arrays["x"])
    mu = x[torch.from_numpy(tr)].mean((0, 1, 3), keepdim=True)  # per mel band, training speakers only
    sd = x[torch.from_numpy(tr)].std((0, 1, 3), keepdim=True).clamp_min(1e-6)
    x = (x - mu) / sd
    y = torch.from_numpy(arrays["y"])
    counts = {k: {"clips": int((split == k).sum()), "speakers": len(set(arrays["speaker"][split == k].tolist()))}
              for k in ("train", "validation", "test")}
    source = dict(source, split={"rule": "sha1(speaker) % 100: <70 train, <85 validation, else test",
                                 "evaluated_on": eval_split, **counts})
    x_train, x_eval = x[torch.from_numpy(tr)], x[torch.from_numpy(ev)]
    kind, in_ch = "spectrogram", 1
    if layout == "sequence":  # (N, time, mel) for recurrent nets
        x_train, x_eval = x_train[:, 0].transpose(1, 2).contiguous(), x_eval[:, 0].transpose(1, 2).contiguous()
        kind, in_ch = "sequence", int(x_train.shape[-1])
    return Dataset(name="speech-commands", kind=kind, x_train=x_train, y_train=y[torch.from_numpy(tr)],
                   x_test=x_eval, y_test=y[torch.from_numpy(ev)], num_classes=len(SPEECH_CLASSES),
                   classes=list(SPEECH_CLASSES), flip=False, in_channels=in_ch, source=source)


# --- random images of CIFAR-10's shape (speed measurements) ------------------------------------------------

def _make_random_images(*, n_train: int = 50000, n_test: int = 10000, seed: int = 0) -> Dataset:
    """Uniform random uint8 ``(N, 3, 32, 32)`` images with uniform random labels of 10 classes."""
    n_train = check_int("n_train", n_train, low=10)
    n_test = check_int("n_test", n_test, low=1)
    g = torch.Generator().manual_seed(check_int("seed", seed))
    x_train = torch.randint(0, 256, (n_train, 3, 32, 32), generator=g, dtype=torch.uint8)
    x_test = torch.randint(0, 256, (n_test, 3, 32, 32), generator=g, dtype=torch.uint8)
    y_train = torch.arange(n_train) % 10  # balanced, so per-class subsets work as on CIFAR-10
    y_train = y_train[torch.randperm(n_train, generator=g)]
    y_test = torch.randint(0, 10, (n_test,), generator=g)
    return Dataset(name="random-cifar", kind="image", x_train=x_train, y_train=y_train, x_test=x_test,
                   y_test=y_test, num_classes=10, classes=[f"class {i}" for i in range(10)], mean=(0.5,) * 3,
                   std=(0.29,) * 3, flip=True, in_channels=3)


# --- synthetic 2-D points ---------------------------------------------------------------------------------

_DEFAULT_NOISE = {"two-moons": 0.1, "spirals": 0.05, "ring": 0.1}


def _make_points(key: str, *, n_train: int = 1000, n_test: int = 1000, noise: float | None = None,
                 seed: int = 0, num_classes: int = 6) -> Dataset:
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
    x_train, y_train = _sample_points(key, n_train, num_classes, noise, g)
    x_test, y_test = _sample_points(key, n_test, num_classes, noise, g)
    return Dataset(name=key, kind="points", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                   num_classes=num_classes, classes=[f"class {i}" for i in range(num_classes)],
                   flip=False, in_channels=2)


def _sample_points(key: str, n: int, num_classes: int, noise: float,
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


# ----------------------------------------------------------------------------------------------------------
# Per-batch operations (device-agnostic, no host synchronisation)
# ----------------------------------------------------------------------------------------------------------

def _check_generator(generator, device: torch.device, name: str = "generator") -> None:
    if generator is None:
        return
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"{name} must be a torch.Generator or None, got {type(generator).__name__}")
    if generator.device.type != device.type:
        raise ValueError(f"{name} must live on the same device type as the data ({device.type}), "
                         f"got a {generator.device.type} generator")


def augment_batch(x: torch.Tensor, *, padding: int = 4, flip: bool = True,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Random crop after zero padding plus random horizontal flip, for a whole batch at once.

    Each image gets its own crop offset, uniform in ``[0, 2 * padding]`` along each axis of the
    zero-padded image (the standard CIFAR "pad 4, crop 32" augmentation), and is mirrored left-right with
    probability 0.5.  Crop and flip are done with a single vectorised gather, on ``x``'s device, without
    host synchronisation.

    Parameters
    ----------
    x : torch.Tensor
        ``(B, C, H, W)`` batch, normally ``uint8``.
    padding : int
        Zero padding on each side before cropping; 0 disables cropping.
    flip : bool
        Whether to apply random horizontal flips.
    generator : torch.Generator, optional
        Source of randomness; it must be on ``x``'s device (a CUDA generator for CUDA tensors).  The same
        generator state gives the same output.  ``None`` uses torch's default generator for that device.

    Returns
    -------
    torch.Tensor
        Augmented batch with the same shape, dtype and device; ``x`` itself when ``padding == 0`` and
        ``flip`` is False.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"x must be a 4-D (B, C, H, W) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    padding = check_int("padding", padding, low=0)
    check_bool("flip", flip)
    _check_generator(generator, x.device)
    if padding == 0 and not flip:
        return x
    b, _, h, w = x.shape
    dev = x.device
    rows = torch.arange(h, device=dev).expand(b, h)
    cols = torch.arange(w, device=dev).expand(b, w)
    if padding > 0:
        off = torch.randint(0, 2 * padding + 1, (2, b, 1), generator=generator, device=dev)
        rows = rows + off[0]
        cols = cols + off[1]
        x = F.pad(x, (padding, padding, padding, padding))
    if flip:
        mirror = torch.randint(0, 2, (b, 1), generator=generator, device=dev).bool()
        # Mirroring the crop window [o, o + w) of the padded row is reading it backwards.
        cols = torch.where(mirror, cols.flip(1), cols)
    batch = torch.arange(b, device=dev).view(b, 1, 1, 1)
    chan = torch.arange(x.shape[1], device=dev).view(1, -1, 1, 1)
    return x[batch, chan, rows.view(b, 1, h, 1), cols.view(b, 1, 1, w)]


def normalize(x: torch.Tensor, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Convert ``uint8`` images to floats: ``(x / 255 - mean[c]) / std[c]`` per channel.

    Parameters
    ----------
    x : torch.Tensor
        ``uint8`` tensor of shape ``(..., C, H, W)``.
    mean, std : sequence of float or tensor
        Per-channel statistics in ``[0, 1]`` units (e.g. :attr:`Dataset.mean`), length ``C``.
    dtype : torch.dtype
        Floating output dtype.

    Returns
    -------
    torch.Tensor
        Normalised tensor of ``dtype`` on ``x``'s device.
    """
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.ndim < 3:
        raise TypeError(f"x must be a uint8 tensor of shape (..., C, H, W), got "
                        f"{getattr(x, 'dtype', type(x).__name__)} of shape {tuple(getattr(x, 'shape', ()))}")
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    c = x.shape[-3]
    stats = []
    for name, v in (("mean", mean), ("std", std)):
        if not isinstance(v, torch.Tensor):
            v = [check_real(f"{name}[{i}]", vi, low=0.0, low_open=name == "std") for i, vi in enumerate(v)]
        t = torch.as_tensor(v, dtype=dtype, device=x.device).reshape(-1)
        if t.numel() != c:
            raise ValueError(f"{name} must have one value per channel ({c}), got {t.numel()}")
        stats.append(t.view(c, 1, 1))
    return x.to(dtype).div_(255).sub_(stats[0]).div_(stats[1])


class BatchIterator:
    """Mini-batches of sample indices, as index tensors on ``device``.

    Each ``iter()`` draws a fresh permutation with :func:`torch.randperm` (if ``shuffle``) and yields
    consecutive slices of it, so a trainer can index dataset tensors that already live on the GPU.

    Parameters
    ----------
    n : int
        Number of samples.
    batch_size : int
        Batch size (>= 1).
    shuffle : bool
        Random order each epoch (else ``0..n-1`` in order).
    generator : torch.Generator, optional
        On ``device`` (a CUDA generator for CUDA); ``None`` uses torch's default generator.
    device : torch.device or str, optional
        Device of the yielded indices; defaults to the generator's device, else CPU.
    drop_last : bool
        Drop the final incomplete batch.
    """

    def __init__(self, n: int, batch_size: int, *, shuffle: bool = True, generator: torch.Generator | None = None,
                 device=None, drop_last: bool = False):
        self.n = check_int("n", n, low=1)
        self.batch_size = check_int("batch_size", batch_size, low=1)
        if device is None:
            device = generator.device if isinstance(generator, torch.Generator) else "cpu"
        self.device = torch.device(device)
        _check_generator(generator, self.device)
        self.shuffle = bool(shuffle)
        self.generator = generator
        self.drop_last = bool(drop_last)
        if self.drop_last and self.batch_size > self.n:
            raise ValueError(f"batch_size must be <= n={self.n} when drop_last=True, got {self.batch_size}")

    def __len__(self) -> int:
        """Number of batches per epoch."""
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        """Yield ``int64`` index tensors of length ``batch_size`` (the last may be shorter)."""
        if self.shuffle:
            order = torch.randperm(self.n, generator=self.generator, device=self.device)
        else:
            order = torch.arange(self.n, device=self.device)
        for i in range(len(self)):
            yield order[i * self.batch_size: (i + 1) * self.batch_size]


def iterate_batches(n: int, batch_size: int, *, shuffle: bool = True, generator: torch.Generator | None = None,
                    device=None, drop_last: bool = False) -> Iterator[torch.Tensor]:
    """Yield one epoch of index batches; see :class:`BatchIterator` for the parameters."""
    return iter(BatchIterator(n, batch_size, shuffle=shuffle, generator=generator, device=device,
                              drop_last=drop_last))


# ----------------------------------------------------------------------------------------------------------
# Label noise, subsets, validation splits
# ----------------------------------------------------------------------------------------------------------

def _check_labels(y, name: str = "y") -> torch.Tensor:
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


# ----------------------------------------------------------------------------------------------------------
# Nearest-neighbour partners
# ----------------------------------------------------------------------------------------------------------

def _knn_cache_name(flat_cpu: torch.Tensor, k: int, device_type: str = "cpu") -> str:
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
        path.parent.mkdir(parents=True, exist_ok=True)
        small = out.cpu().to(torch.int32) if n < 2**31 else out.cpu()
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(small, fh)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    return out
