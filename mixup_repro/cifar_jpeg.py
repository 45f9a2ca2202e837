"""CIFAR-10 from a local JPEG copy (ImageFolder layout, as a folder or as its ``.tar.gz``).

For machines without internet, :func:`mixup_repro.load_dataset` ``("cifar10")`` also accepts the public JPEG
copy of CIFAR-10 (``cifar10-jpeg.tar.gz``: ``cifar10-jpeg/{train,test}/<class>/NNNN.jpg``, 5,000 training and
1,000 test images per class, 32 × 32 RGB). It is found in the data folder (``--data-dir`` /
``$MIXUP_REPRO_DATA``) as the archive itself, as the extracted ``cifar10-jpeg`` folder, or as a folder that
directly holds ``train/`` and ``test/``. The archive is read without extracting it; every image is decoded
once with Pillow, and the uint8 arrays are cached under :func:`mixup_repro.cache.cache_dir` keyed by the
archive's SHA-256 (or the folder's file list), so later loads take well under a second.

The copy is **lossy** (re-encoded as JPEG at about quality 75): numbers obtained from it are labelled
"CIFAR-10 (JPEG copy)" and every results file records the source (:data:`JPEG_LABEL`, the path and the
archive's SHA-256). Images within a class are ordered by file name (the official index order is lost).
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path, PurePosixPath

import numpy as np

from .cache import cache_dir, decode_once, source_key

__all__ = ["CIFAR10_CLASSES", "JPEG_ARCHIVE", "JPEG_FOLDER", "JPEG_LABEL", "OFFICIAL_LABEL", "find_cifar10_jpeg",
           "read_cifar10_jpeg"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
"""CIFAR-10's classes in its label order (= the sorted folder names of the JPEG copy)."""

JPEG_ARCHIVE = "cifar10-jpeg.tar.gz"
JPEG_FOLDER = "cifar10-jpeg"
JPEG_LABEL = "CIFAR-10 (JPEG copy)"
"""How every table, figure and chapter names numbers obtained from the JPEG copy."""
OFFICIAL_LABEL = "CIFAR-10"

PER_CLASS = {"train": 5000, "test": 1000}
"""Images per class in each split of the full copy."""


def _is_split_folder(d: Path) -> bool:
    """Whether ``d`` holds ``train/`` and ``test/`` folders."""
    return (d / "train").is_dir() and (d / "test").is_dir()


def find_cifar10_jpeg(bases) -> Path | None:
    """The first JPEG copy found in ``bases`` (folders, searched in order): ``<base>/cifar10-jpeg.tar.gz``,
    ``<base>/cifar10-jpeg/`` (holding ``train/`` and ``test/``), or ``<base>`` itself holding them."""
    for base in bases:
        base = Path(base)
        if (base / JPEG_FOLDER).is_dir() and _is_split_folder(base / JPEG_FOLDER):
            return base / JPEG_FOLDER
        if (base / JPEG_ARCHIVE).is_file():
            return base / JPEG_ARCHIVE
        if _is_split_folder(base) and (base / "train" / CIFAR10_CLASSES[0]).is_dir():
            return base
    return None


def _decode(data: bytes, where: str) -> np.ndarray:
    """One JPEG as a uint8 ``(32, 32, 3)`` RGB array (``ValueError`` naming ``where`` otherwise)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            arr = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ValueError(f"CIFAR-10 JPEG copy: {where} does not decode as an image ({err})") from err
    if arr.shape != (32, 32, 3):
        raise ValueError(f"CIFAR-10 JPEG copy: {where} is {arr.shape[1]}x{arr.shape[0]}, expected a 32x32 RGB image")
    return arr


def _members(source: Path):
    """Yield ``(split, class, file name, bytes, where)`` for every ``.jpg`` of the copy (each member is read here,
    inside the archive's error handling, so a truncation anywhere is reported as such)."""
    if source.is_dir():
        for p in sorted(source.glob("*/*/*.jpg")):
            yield p.parent.parent.name, p.parent.name, p.name, p.read_bytes(), str(p)
        return
    try:
        with tarfile.open(source, "r:gz") as tar:
            for m in tar:
                parts = PurePosixPath(m.name).parts
                if not m.isfile() or not m.name.endswith(".jpg") or len(parts) < 3:
                    continue
                f = tar.extractfile(m)
                yield parts[-3], parts[-2], parts[-1], f.read(), f"{source}:{m.name}"
    except (tarfile.TarError, EOFError, OSError) as err:
        raise ValueError(f"CIFAR-10 JPEG copy {source} is truncated or not a .tar.gz archive ({err}); "
                         f"expected {JPEG_FOLDER}/{{train,test}}/<class>/*.jpg inside") from err


def _decode_all(source: Path, per_class: dict[str, int]) -> dict[str, np.ndarray]:
    """The uint8 images and int64 labels of every split, after checking the count of every class folder."""
    found: dict[tuple[str, str], list[tuple[str, np.ndarray]]] = {}
    for split, cls, name, data, where in _members(source):
        if split not in per_class:
            continue
        if cls not in CIFAR10_CLASSES:
            raise ValueError(f"CIFAR-10 JPEG copy: {where} is in an unknown class folder {cls!r}; expected one of "
                             f"{', '.join(CIFAR10_CLASSES)}")
        found.setdefault((split, cls), []).append((name, _decode(data, where)))
    arrays = {}
    for split, n in per_class.items():
        xs, ys = [], []
        for label, cls in enumerate(CIFAR10_CLASSES):
            items = sorted(found.get((split, cls), []), key=lambda t: t[0])
            if len(items) != n:
                raise ValueError(f"CIFAR-10 JPEG copy {source}: {split}/{cls} holds {len(items)} JPEG images, "
                                 f"expected {n}" + (" (the class folder is missing)" if not items else ""))
            xs.extend(a for _, a in items)
            ys.extend([label] * n)
        arrays[f"x_{split}"] = np.stack(xs).transpose(0, 3, 1, 2).copy()  # (N, 3, 32, 32) uint8
        arrays[f"y_{split}"] = np.asarray(ys, dtype=np.int64)
    return arrays


def read_cifar10_jpeg(source, *, per_class: dict[str, int] | None = None, use_cache: bool = True
                      ) -> tuple[dict[str, np.ndarray], dict]:
    """Decode (or read from the cache) the JPEG copy at ``source`` (archive or folder).

    Parameters
    ----------
    source : path
        ``cifar10-jpeg.tar.gz`` or a folder holding ``train/`` and ``test/`` class folders.
    per_class : dict, optional
        Images expected per class and split; default :data:`PER_CLASS` (5,000 / 1,000). Any other count is
        an error naming the class folder.
    use_cache : bool
        Read and write the decoded arrays under :func:`~mixup_repro.cache.cache_dir`.

    Returns
    -------
    arrays : dict
        ``x_train`` ``(N, 3, 32, 32)`` uint8, ``y_train`` int64, ``x_test``, ``y_test``.
    source_info : dict
        ``{"name", "label", "kind": "jpeg-copy", "path", "sha256" (archive) or "fingerprint" (folder),
        "decode_s", "cached"}``, recorded in every results file as ``data_source``.
    """
    source = Path(source).expanduser()
    per_class = dict(PER_CLASS if per_class is None else per_class)
    key, checksum = source_key(source, "*.jpg", "CIFAR-10 JPEG copy")
    info = {"name": "cifar10", "label": JPEG_LABEL, "kind": "jpeg-copy", "path": str(source.resolve()), **checksum}
    tag = "-".join(f"{k}{v}" for k, v in sorted(per_class.items()))
    arrays, how = decode_once(cache_dir() / "cifar10-jpeg" / f"{key[:16]}-{tag}.npz",
                              lambda: _decode_all(source, per_class), {"source": str(source), "key": key},
                              use_cache=use_cache)
    return arrays, {**info, **how}
