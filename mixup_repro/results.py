"""Results files: one JSON file per run, written atomically, with a schema validated on read.

A results file has the top-level keys ``schema``, ``run_id``, ``config`` (every TrainConfig field),
``curves`` (per-epoch lists), ``summary``, ``device``, ``versions``, ``git_commit``, ``started``,
``finished`` and ``wall_s``. :func:`load_results` turns a folder of them into a DataFrame and skips,
with a warning naming the file, anything that does not parse or validate, so a corrupt or truncated
file never breaks a table or the book.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import warnings
from pathlib import Path

from .files import (
    atomic_write_bytes,
    atomic_write_json,
    check_writable,
    file_size_limit,
    format_bytes,
)

SCHEMA = "mixup_repro.run/1"
REQUIRED_KEYS = ("schema", "run_id", "config", "curves", "summary", "device", "versions", "git_commit",
                 "started", "finished", "wall_s")
CURVE_KEYS = ("epoch", "train_loss", "test_loss", "test_error", "test_ece")
SUMMARY_KEYS = ("median_last10_error", "final_error", "best_error")

__all__ = ["SCHEMA", "atomic_write_bytes", "file_size_limit", "format_bytes", "read_or_warn", "atomic_write_json", "read_json", "read_result", "load_results",
           "validate_result", "versions", "git_commit", "device_name", "check_writable", "ResultsError"]


class ResultsError(ValueError):
    """A results file that does not parse or does not follow the schema."""


def check_envelope(d, source: str, schema: str, required) -> None:
    """A results object's outer checks, shared by every kind of results file: a JSON object of ``schema`` with
    the ``required`` keys; :class:`ResultsError` naming ``source`` otherwise."""
    if not isinstance(d, dict):
        raise ResultsError(f"{source}: not a JSON object")
    if d.get("schema") != schema:
        raise ResultsError(f"{source}: schema {d.get('schema')!r}, expected {schema!r}")
    missing = [k for k in required if k not in d]
    if missing:
        raise ResultsError(f"{source}: missing keys {missing}")


def validate_result(d, source="result") -> dict:
    """Check a parsed results object against the schema; raise :class:`ResultsError` naming ``source``."""
    check_envelope(d, source, SCHEMA, REQUIRED_KEYS)
    if not isinstance(d["config"], dict) or not {"dataset", "model", "method", "seed", "epochs"} <= set(d["config"]):
        raise ResultsError(f"{source}: config lacks dataset/model/method/seed/epochs")
    curves = d["curves"]
    if not isinstance(curves, dict) or any(not isinstance(curves.get(k), list) for k in CURVE_KEYS):
        raise ResultsError(f"{source}: curves must hold lists {list(CURVE_KEYS)}")
    n = len(curves["epoch"])
    if n != d["config"]["epochs"] or any(len(curves[k]) != n for k in CURVE_KEYS):
        raise ResultsError(f"{source}: curves must have one entry per epoch ({d['config']['epochs']})")
    if not isinstance(d["summary"], dict) or any(k not in d["summary"] for k in SUMMARY_KEYS):
        raise ResultsError(f"{source}: summary lacks {list(SUMMARY_KEYS)}")
    _validate_values(d, source)
    return d


def _number(v, low=None, high=None) -> bool:
    """Whether ``v`` is a finite real number (not a bool) within ``[low, high]``."""
    from numbers import Real

    return (isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)
            and (low is None or v >= low) and (high is None or v <= high))


def _validate_values(d: dict, source) -> None:
    """Values, not only keys: the config is a valid TrainConfig whose run id is the file's; errors are percentages
    (or null: a diverged run); curves hold finite numbers or null, one per epoch."""
    from .config import TrainConfig, run_id

    try:
        cfg = TrainConfig.from_dict(d["config"])
    except (ValueError, TypeError) as e:
        raise ResultsError(f"{source}: invalid config: {e}") from None
    if d["run_id"] != run_id(cfg):
        raise ResultsError(f"{source}: run_id {d['run_id']!r} is not the id of its config ({run_id(cfg)!r})")
    for k in SUMMARY_KEYS:
        v = d["summary"][k]
        if v is not None and not _number(v, 0, 100):
            raise ResultsError(f"{source}: summary {k} must be an error in % in [0, 100] or null, got {v!r}")
    for k in ("final_nll", "final_ece"):
        v = d["summary"].get(k)
        if v is not None and not _number(v, 0):
            raise ResultsError(f"{source}: summary {k} must be a number >= 0 or null, got {v!r}")
    if d["curves"]["epoch"] != list(range(1, len(d["curves"]["epoch"]) + 1)):
        raise ResultsError(f"{source}: curves epoch must be 1, 2, ..., {d['config']['epochs']}")
    for k, values in d["curves"].items():
        bad = next((v for v in values if v is not None and not _number(v)), None) if isinstance(values, list) else values
        if bad is not None:
            raise ResultsError(f"{source}: curves {k} must hold numbers (or null), got {bad!r}")
    if d["wall_s"] is not None and not _number(d["wall_s"], 0):
        raise ResultsError(f"{source}: wall_s must be a number of seconds >= 0, got {d['wall_s']!r}")


def read_json(path):
    """Parse one results file's JSON; :class:`ResultsError` naming the file when it cannot be read or parsed."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ResultsError(f"{path}: unreadable results file ({e.__class__.__name__}: {e})") from None
    except RecursionError:  # e.g. [[[[...]]]] nested deeper than Python's recursion limit
        raise ResultsError(f"{path}: unreadable results file (nested too deeply to parse)") from None


def read_result(path) -> dict:
    """Read and validate one results file; raise :class:`ResultsError` naming the file otherwise."""
    return validate_result(read_json(path), str(path))


def read_or_warn(path) -> dict | None:
    """:func:`read_result`, or None with a warning naming the file when it is truncated or invalid."""
    try:
        return read_result(path)
    except ResultsError as e:
        warnings.warn(f"skipping {e}", UserWarning, stacklevel=3)
        return None




def load_results(path, *, recursive: bool = True):
    """Load every valid results file under ``path`` (a folder or one file) into a pandas DataFrame.

    One row per run: every config field as a column (``dataset``, ``model``, ``method``, ``alpha``,
    ``label_smoothing``, ``seed``, ...), then ``run_id``, the summary metrics, ``device``, ``git_commit``,
    ``wall_s`` and ``path``. Files that do not parse or validate are skipped with a ``UserWarning``
    naming the file; a second file with an already-read run id is skipped likewise. A missing folder gives
    an empty DataFrame.
    """
    import pandas as pd

    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(path.rglob("*.json") if recursive else path.glob("*.json"))
    else:
        files = []
    rows, seen = [], {}
    for f in files:
        if f.name.startswith("."):
            continue
        d = read_or_warn(f)
        if d is None:
            continue
        if d["run_id"] in seen:  # one run, two copies (e.g. in two sub-folders): count it once
            warnings.warn(f"skipping {f}: run {d['run_id']} already read from {seen[d['run_id']]}", UserWarning,
                          stacklevel=2)
            continue
        seen[d["run_id"]] = f
        row = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d["config"].items()}
        row["run_id"] = d["run_id"]
        row.update({k: v for k, v in d["summary"].items() if not isinstance(v, (list, dict))})
        row.update(device=d["device"], git_commit=d["git_commit"], wall_s=d["wall_s"], path=str(f))
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------------------
# Provenance
# ----------------------------------------------------------------------------------------------------------
def versions() -> dict:
    """Versions of Python and of the packages that decide a run's numbers."""
    from importlib.metadata import PackageNotFoundError, version

    import numpy
    import torch

    from .version import __version__

    try:
        tv = version("torchvision")
    except PackageNotFoundError:  # pragma: no cover
        tv = None
    v = {"python": platform.python_version(), "mixup_repro": __version__, "torch": torch.__version__,
         "torchvision": tv, "numpy": numpy.__version__}
    if torch.cuda.is_available():
        v["cuda"] = torch.version.cuda
        v["cudnn"] = torch.backends.cudnn.version()
    return v


COMMIT_ENV = "MIXUP_REPRO_GIT_COMMIT"
"""Set to the source's commit where the code runs from a copy without ``.git`` (e.g. a rented GPU machine)."""


def git_commit(cwd=None) -> str | None:
    """The commit of the source tree (``+dirty`` when it has uncommitted changes), or None outside git.

    Outside a git checkout, ``$MIXUP_REPRO_GIT_COMMIT`` is used when set (marked ``+copy``).
    """
    cwd = cwd or Path(__file__).resolve().parent
    env = os.environ.get(COMMIT_ENV, "").strip()
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return f"{env}+copy" if env else None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10)
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return f"{env}+copy" if env else None


def device_name(device) -> str:
    """A readable device name: the GPU's name on CUDA, the CPU model and thread count on CPU."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {cpu} ({torch.get_num_threads()} threads)"
