"""Chapter parameters: the one validation mechanism of every chapter template and of the book's profiles.

Each chapter declares ``{name: check}``; :func:`validate_params` runs ``check(name, value)`` for every given
parameter and turns unknown names, wrong types and bad values into one ``ValueError`` naming the parameter.
The reusable checks (:func:`optional`, :func:`check_path`, :func:`check_seeds`, :func:`check_rows`) and the
results-folder resolution (:func:`resolve_results_dir`) live here so that the book, the table chapters and the GAN
chapter share them.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ._checks import check_int

__all__ = ["optional", "check_path", "check_seeds", "check_rows", "validate_params", "resolve_results_dir"]

Check = Callable[[str, Any], Any]


def optional(check: Check) -> Check:
    """``check`` that also accepts None (returned unchanged)."""
    return lambda name, v: None if v is None else check(name, v)


def check_path(name: str, v) -> str:
    """A non-empty path string (or os.PathLike), returned as ``str``."""
    if not isinstance(v, (str, os.PathLike)) or not str(v).strip():
        raise ValueError(f"{name} must be a non-empty path string, got {v!r}")
    return str(v)


def check_seeds(name: str, v) -> list[int] | None:
    """None, or a non-empty list of distinct integers >= 0."""
    if v is None:
        return None
    if isinstance(v, (str, bytes)) or not isinstance(v, Sequence) or len(v) == 0:
        raise ValueError(f"{name} must be null or a non-empty list of integers >= 0, got {v!r}")
    out = [check_int(name, s, low=0) for s in v]
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must be distinct, got {out}")
    return out


def check_rows(name: str, v) -> list[str] | None:
    """None, or a non-empty list of non-empty row labels (one string is a list of one)."""
    if v is None:
        return None
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, Sequence) or len(v) == 0 or not all(isinstance(t, str) and t.strip() for t in v):
        raise ValueError(f"{name} must be null or a non-empty list of row labels, got {v!r}")
    return list(v)


def validate_params(checks: Mapping[str, Check], params: Mapping[str, Any]) -> dict[str, Any]:
    """Run ``checks[name](name, value)`` for every parameter; unknown names and bad values raise ValueError.

    The one validation mechanism of every chapter template; a wrong type is reported as a bad value too, so
    notebooks see one exception type.
    """
    out = {}
    for name, value in params.items():
        if name not in checks:
            raise ValueError(f"unknown parameter {name!r}; known: {', '.join(sorted(checks))}")
        try:
            out[name] = checks[name](name, value)
        except TypeError as err:
            raise ValueError(str(err)) from None
    return out


def resolve_results_dir(results_dir, *, prefix: str = "mixup_repro_") -> Path:
    """``results_dir`` as a Path; None gives a fresh temporary folder, removed when the interpreter exits (the
    clean-up is registered when the folder is made, not at import)."""
    if results_dir is not None:
        return Path(check_path("results_dir", results_dir))
    d = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, d, True)
    return Path(d)
