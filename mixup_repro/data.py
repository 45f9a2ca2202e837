"""The dataset registry and :func:`load_dataset`, plus the public names of the data layer in one place.

Everything is held as torch tensors so a whole training set can live on the GPU and the trainer indexes it
directly: images are stored as ``uint8`` of shape ``(N, C, H, W)``, tabular and 2-D point data as
``float32`` of shape ``(N, F)``, labels as ``int64``.  The data layer, one concern per module:

- :mod:`mixup_repro.dataset`: the :class:`Dataset` container, the data folders, the registry entry type;
- :mod:`mixup_repro.images`, :mod:`mixup_repro.tabular`, :mod:`mixup_repro.points`, :mod:`mixup_repro.speech`:
  the dataset families, each declaring the names it serves (``*_ENTRIES``), gathered here in :data:`REGISTRY`;
- :mod:`mixup_repro.batches`: per-batch augmentation, normalisation and index iterators (device-agnostic, no
  host synchronisation);
- :mod:`mixup_repro.subsets`: label noise, per-class subsets, validation splits;
- :mod:`mixup_repro.neighbours`: nearest-neighbour partners.

A new dataset is one loader and one :class:`~mixup_repro.dataset.DatasetEntry` in its family's module (a new
family: a new module and one line in :data:`REGISTRY`), plus its tests.

Datasets (:func:`load_dataset`)
-------------------------------
``fashion-mnist``
    Read from the four original IDX ``.gz`` files (:mod:`mixup_repro.images`), parsed with :mod:`gzip` and :mod:`numpy`.  Every file
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

import os

from .batches import BatchIterator, augment_batch, iterate_batches, normalize
from .dataset import DATA_ENV, DATASET_GROUPS, Dataset, DatasetEntry, default_data_dir
from .images import CIFAR_MEAN, CIFAR_STD, FASHION_MNIST_CLASSES, IMAGE_ENTRIES, SYSTEM_FASHION_MNIST_DIR
from .neighbours import knn_partners
from .points import POINT_ENTRIES
from .speech import SPEECH_ENTRIES
from .subsets import corrupt_labels, split_validation, subset_per_class
from .tabular import TABULAR_ENTRIES

__all__ = [
    "AUDIO_DATASETS",
    "CIFAR_MEAN",
    "CIFAR_STD",
    "DATASET_NAMES",
    "DATA_ENV",
    "FASHION_MNIST_CLASSES",
    "IMAGE_DATASETS",
    "POINT_DATASETS",
    "REGISTRY",
    "SPEED_DATASETS",
    "SYSTEM_FASHION_MNIST_DIR",
    "TABULAR_DATASETS",
    "BatchIterator",
    "DatasetEntry",
    "Dataset",
    "augment_batch",
    "build_registry",
    "corrupt_labels",
    "default_data_dir",
    "iterate_batches",
    "knn_partners",
    "load_dataset",
    "normalize",
    "split_validation",
    "subset_per_class",
]

def build_registry(*families: dict[str, DatasetEntry]) -> dict[str, DatasetEntry]:
    """One registry from the families' entry tables, in order; a name declared twice is a ``ValueError``."""
    registry: dict[str, DatasetEntry] = {}
    for family in families:
        for name, entry in family.items():
            if name in registry:
                raise ValueError(f"dataset {name!r} is registered twice")
            registry[name] = entry
    return registry


REGISTRY = build_registry(IMAGE_ENTRIES, TABULAR_ENTRIES, POINT_ENTRIES, SPEECH_ENTRIES)
"""Every dataset name :func:`load_dataset` accepts -> its :class:`~mixup_repro.dataset.DatasetEntry`."""


def _group(group: str) -> tuple[str, ...]:
    """The registered names of one of :data:`~mixup_repro.dataset.DATASET_GROUPS`, in registration order."""
    return tuple(name for name, entry in REGISTRY.items() if entry.group == group)


IMAGE_DATASETS = _group("image")
"""Image datasets (``kind="image"``, uint8 ``(N, C, H, W)``)."""
TABULAR_DATASETS = _group("tabular")
"""scikit-learn and UCI tabular datasets (``kind="tabular"``, standardised float32 ``(N, F)``)."""
POINT_DATASETS = _group("points")
"""Synthetic 2-D datasets (``kind="points"``, float32 ``(N, 2)``)."""
SPEED_DATASETS = _group("speed")
"""Random uint8 images of CIFAR-10's shape (``kind="image"``) for speed measurements only: training speed does
not depend on the pixels, and their accuracy means nothing."""
AUDIO_DATASETS = _group("audio")
"""Speech Commands as spectrograms (``kind="spectrogram"``) or sequences (``kind="sequence"``)."""
DATASET_NAMES = tuple(name for group in DATASET_GROUPS for name in _group(group))
"""Every name :func:`load_dataset` accepts."""


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
    if key not in REGISTRY:
        raise ValueError(f"dataset must be one of {', '.join(DATASET_NAMES)}; got {name!r}")
    entry = REGISTRY[key]
    _check_no_kwargs(key, kw, entry.options)
    return entry.load(key, data_dir, download, **kw)


def _check_no_kwargs(name: str, kw: dict, allowed: tuple[str, ...]) -> None:
    """``TypeError`` naming the dataset and the allowed options when ``kw`` holds any other."""
    extra = sorted(set(kw) - set(allowed))
    if extra:
        raise TypeError(f"load_dataset({name!r}) got unexpected keyword argument(s) {', '.join(extra)}; "
                        f"allowed: {', '.join(allowed) if allowed else 'none'}")

