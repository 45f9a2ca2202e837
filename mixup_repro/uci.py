"""The six UCI data sets of the paper's tabular experiment (Section 3.6), read from local files.

The files are looked up in ``<data_dir>/uci/`` and then ``<data_dir>/`` (``data_dir``: ``--data-dir``, else
``$MIXUP_REPRO_DATA``, else ``~/.cache/mixup_repro/data``), under the names of the UCI releases (see
``shared/data/uci/README.md`` of this project's workplace, or the UCI repository: Dua & Graff, 2019). Every
file's row and column counts and class counts are checked on load; a file that differs is an error naming
the file, the line and what was expected.

Preprocessing (the same for every method and seed):

``abalone``
    ``abalone.csv``: 4,177 rows; the categorical sex (M/F/I) one-hot encoded (3 columns) + 7 measurements
    = 10 features. The class is the **3-class binning** that the data set's own documentation
    (``abalone.names``) describes: rings 1–8, 9–10 and 11+. The paper does not say which class definition it
    used, so this is our choice.
``arcene``
    ``arcene_{train,valid}.{data,labels}``: 10,000 features, labels ±1 → 0/1. The challenge's test labels were
    never published, so the given *train* (100) / *valid* (100) split is used as train / test.
``arrhythmia``
    ``arrhythmia.data``: 452 × 279, class 1–16 of which 13 occur; the classes are renumbered 0–12 in
    increasing order. Missing values (``NaN``, or ``?`` as in the UCI original) are imputed with the
    **training split's** per-feature median (0 where a feature is missing on the whole training split).
``htru2``
    ``HTRU_2.csv``: 17,898 × 8 (a header line), binary (1,639 positive).
``iris-uci``
    ``iris.csv``: 150 × 4, 3 classes (the same set as scikit-learn's ``iris``, read from the UCI file).
``phishing``
    ``phishing.csv``: 11,055 × 30 (values −1/0/1), labels −1/1 → 0/1.

Splits: a fixed seeded stratified split (``test_fraction`` of each class, default 0.2, ``split_seed`` 0),
except Arcene's given one. Features are standardised with the training split's mean and standard deviation
(constant features stay 0).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .cache import file_sha256

__all__ = ["UCI_DATASETS", "UCI_SPECS", "find_uci_file", "read_uci"]

UCI_DATASETS = ("abalone", "arcene", "arrhythmia", "htru2", "iris-uci", "phishing")
"""The paper's six UCI sets, as dataset names of :func:`mixup_repro.load_dataset`."""

# name -> (files, rows, columns per row (label included), header lines, number of classes)
UCI_SPECS = {
    "abalone": (("abalone.csv",), 4177, 9, 0, 3),
    "arcene": (("arcene_train.data", "arcene_train.labels", "arcene_valid.data", "arcene_valid.labels"),
               100, 10000, 0, 2),
    "arrhythmia": (("arrhythmia.data",), 452, 280, 0, 13),
    "htru2": (("HTRU_2.csv",), 17898, 9, 1, 2),
    "iris-uci": (("iris.csv",), 150, 5, 0, 3),
    "phishing": (("phishing.csv",), 11055, 31, 0, 2),
}


def find_uci_file(name: str, bases) -> Path:
    """The first ``<base>/uci/<name>`` or ``<base>/<name>`` that exists; FileNotFoundError listing where it looked."""
    tried = []
    for base in bases:
        for d in (Path(base) / "uci", Path(base)):
            tried.append(d / name)
            if tried[-1].is_file():
                return tried[-1]
    raise FileNotFoundError(f"UCI file {name} not found; looked for {', '.join(str(t) for t in tried)}. "
                            "Put the UCI files in <data-dir>/uci/ (--data-dir or $MIXUP_REPRO_DATA)")


def _rows(path: Path, columns: int, rows: int, header: int, sep: str | None = ",") -> list[list[str]]:
    """The cells of a UCI text file, after checking its row and column counts (``ValueError`` naming the line)."""
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    lines = lines[header:]
    out = []
    for i, ln in enumerate(lines, start=header + 1):
        cells = ln.split(sep) if sep else ln.split()
        if len(cells) != columns:
            raise ValueError(f"UCI file {path}: line {i} has {len(cells)} columns, expected {columns}")
        out.append([c.strip() for c in cells])
    if len(out) != rows:
        raise ValueError(f"UCI file {path} has {len(out)} data rows, expected {rows}")
    return out


def _floats(cells, path: Path) -> np.ndarray:
    """Cells as a float64 array, missing values (``?``, ``NaN``, empty) as NaN."""
    try:
        return np.array([[math.nan if v in ("?", "NaN", "nan", "") else float(v) for v in r] for r in cells],
                        dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"UCI file {path}: a value is not a number ({err})") from err


def _parse(key: str, paths: list[Path]) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray | None]:
    """Features, integer labels, class names and (Arcene only) the given test mask."""
    files, rows, cols, header, _ = UCI_SPECS[key]
    p = paths[0]
    if key == "abalone":
        cells = _rows(p, cols, rows, header)
        sex = [r[0] for r in cells]
        bad = sorted(set(sex) - {"M", "F", "I"})
        if bad:
            raise ValueError(f"UCI file {p}: sex must be M, F or I, found {bad[:3]}")
        onehot = np.array([[s == c for c in "MFI"] for s in sex], dtype=np.float64)
        num = _floats([r[1:] for r in cells], p)
        rings = num[:, -1]
        y = np.digitize(rings, [8.5, 10.5])  # rings 1-8 -> 0, 9-10 -> 1, 11+ -> 2 (abalone.names)
        return np.hstack([onehot, num[:, :-1]]), y, ["rings 1-8", "rings 9-10", "rings 11+"], None
    if key == "arcene":
        xs, ys = [], []
        for data, labels in ((paths[0], paths[1]), (paths[2], paths[3])):
            xs.append(_floats(_rows(data, cols, rows, 0, sep=None), data))
            lab = _floats(_rows(labels, 1, rows, 0, sep=None), labels)[:, 0]
            if not set(np.unique(lab)) <= {-1.0, 1.0}:
                raise ValueError(f"UCI file {labels}: labels must be -1 or 1")
            ys.append((lab > 0).astype(np.int64))
        test = np.r_[np.zeros(rows, bool), np.ones(rows, bool)]
        return np.vstack(xs), np.concatenate(ys), ["-1", "+1"], test
    if key == "iris-uci":
        cells = _rows(p, cols, rows, header)
        names = sorted({r[-1] for r in cells})
        return _floats([r[:-1] for r in cells], p), np.array([names.index(r[-1]) for r in cells]), names, None
    x = _floats(_rows(p, cols, rows, header), p)
    label = x[:, -1]
    if np.isnan(label).any():
        raise ValueError(f"UCI file {p}: a class label is missing")
    values = np.unique(label)
    y = np.searchsorted(values, label)
    return x[:, :-1], y, [f"{v:g}" for v in values], None


def read_uci(key: str, bases) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray | None, dict]:
    """Read one of :data:`UCI_DATASETS` from the first folder of ``bases`` that holds it.

    Returns raw ``x`` (float64, NaN for missing), labels ``y`` (int64, 0..K-1), class names, the given test
    mask (Arcene) or None, and the source record (``name``, ``label``, ``kind``, ``files`` with SHA-256s).
    """
    if key not in UCI_SPECS:
        raise ValueError(f"UCI dataset must be one of {', '.join(UCI_DATASETS)}; got {key!r}")
    files, rows, _, _, k = UCI_SPECS[key]
    paths = [find_uci_file(f, bases) for f in files]
    x, y, classes, test = _parse(key, paths)
    if len(classes) != k:
        raise ValueError(f"UCI {key} in {paths[0]}: found {len(classes)} classes, expected {k}")
    source = {"name": key, "label": f"UCI {key.removesuffix('-uci').capitalize()}", "kind": "uci-file",
              "files": {str(p.resolve()): file_sha256(p) for p in paths}}
    return x, y.astype(np.int64), classes, test, source
