"""Image datasets: Fashion-MNIST from its IDX files, CIFAR-10/100 through torchvision or the local JPEG copy,
and random images of CIFAR-10's shape for speed measurements.

Images are stored as ``uint8`` tensors of shape ``(N, C, H, W)`` with their per-channel statistics
(:attr:`~mixup_repro.dataset.Dataset.mean`, ``std``) for :func:`mixup_repro.batches.normalize`.  The names
served here are declared in :data:`IMAGE_ENTRIES`.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import zlib
from pathlib import Path

import numpy as np
import torch

from ._checks import check_int
from .cifar_jpeg import (
    CIFAR10_CLASSES,
    JPEG_ARCHIVE,
    JPEG_FOLDER,
    OFFICIAL_LABEL,
    find_cifar10_jpeg,
    read_cifar10_jpeg,
)
from .dataset import DATA_ENV, Dataset, DatasetEntry, data_folders, default_data_dir

__all__ = ["CIFAR_MEAN", "CIFAR_STD", "FASHION_MNIST_CLASSES", "FASHION_MNIST_FILES", "IMAGE_ENTRIES",
           "SYSTEM_FASHION_MNIST_DIR", "load_cifar", "load_fashion_mnist", "make_random_images"]

SYSTEM_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
"""System-wide folder searched last for the Fashion-MNIST IDX files."""

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
"""Per-channel mean used by the official mixup CIFAR-10 code (facebookresearch/mixup-cifar10)."""
CIFAR_STD = (0.2023, 0.1994, 0.2010)
"""Per-channel "std" of the official mixup CIFAR-10 code.  These widely copied constants are not the exact
per-pixel standard deviations of CIFAR-10 (about 0.247, 0.243, 0.261); they are kept to match the paper's
code.  CIFAR-100 uses the same constants (its statistics differ only in the second decimal)."""

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
"""Fashion-MNIST class names, in label order."""

FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
"""The four IDX files of Fashion-MNIST (their official ``.gz`` names), by split and content."""
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


def _fmnist_gz_md5() -> dict[str, str]:
    """Official ``.gz`` MD5s, from torchvision when it lists them, else the hard-coded constants."""
    try:
        from torchvision.datasets import FashionMNIST

        table = {Path(str(src)).name: str(md5) for src, md5 in FashionMNIST.resources}
    except (ImportError, AttributeError, TypeError, ValueError):  # torchvision missing or changed
        return dict(_FMNIST_GZ_MD5_FALLBACK)
    if not all(f in table for f in FASHION_MNIST_FILES.values()):
        return dict(_FMNIST_GZ_MD5_FALLBACK)
    return table


def _fmnist_candidate_dirs(data_dir) -> list[Path]:
    """Folders searched for the IDX files, in order: ``data_dir``, the default data folder (each with its
    ``fashion-mnist/`` and ``FashionMNIST/raw/``), then :data:`SYSTEM_FASHION_MNIST_DIR`."""
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


def load_fashion_mnist(data_dir=None, download: bool = True) -> Dataset:
    """Fashion-MNIST from its four IDX files, each checked against the official MD5.

    Searched in ``data_dir`` (and its ``fashion-mnist/`` and ``FashionMNIST/raw/`` folders), the default data
    folder, then :data:`SYSTEM_FASHION_MNIST_DIR`; downloaded through torchvision when ``download`` allows.
    """
    names = list(FASHION_MNIST_FILES.values())
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
    for key, fname in FASHION_MNIST_FILES.items():
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



def load_cifar(key: str, data_dir=None, download: bool = True) -> Dataset:
    """``cifar10`` or ``cifar100`` through torchvision (official files, downloaded when ``download`` allows);
    offline, ``cifar10`` also reads the local JPEG copy (:mod:`mixup_repro.cifar_jpeg`)."""
    from torchvision import datasets

    cls = datasets.CIFAR10 if key == "cifar10" else datasets.CIFAR100
    bases = data_folders(data_dir)
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
        """A torchvision CIFAR split as uint8 ``(N, 3, 32, 32)`` images and int64 labels."""
        x = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()
        return x, torch.as_tensor(ds.targets, dtype=torch.int64)

    x_train, y_train = tensors(train)
    x_test, y_test = tensors(test)
    label = OFFICIAL_LABEL if key == "cifar10" else "CIFAR-100"
    return Dataset(name=key, kind="image", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                   num_classes=len(train.classes), classes=list(train.classes),
                   mean=CIFAR_MEAN, std=CIFAR_STD, flip=True, in_channels=3,
                   source={"name": key, "label": label, "kind": "official", "path": str(official)})



def make_random_images(*, n_train: int = 50000, n_test: int = 10000, seed: int = 0) -> Dataset:
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



IMAGE_ENTRIES: dict[str, DatasetEntry] = {
    "fashion-mnist": DatasetEntry("image", lambda name, data_dir, download: load_fashion_mnist(data_dir, download)),
    "cifar10": DatasetEntry("image", load_cifar),
    "cifar100": DatasetEntry("image", load_cifar),
    "random-cifar": DatasetEntry("speed", lambda name, data_dir, download, **kw: make_random_images(**kw),
                                 ("n_train", "n_test", "seed")),
}
"""The image datasets of :func:`mixup_repro.data.load_dataset`."""
