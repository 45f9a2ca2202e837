"""Small readers of summary frames (:func:`mixup_repro.experiments.summarize`) shared by the claims, the figures,
the chapter views and the README: metric names for prose, display factors, cell text and missing values,
the runnable rows of a table, and whether a folder holds results files.
"""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["METRIC_TEXT", "metric_text", "metric_digits", "display_factor", "cell_text", "count_text", "is_missing",
           "runnable", "key_values", "pick_row", "has_results"]

METRIC_TEXT = {
    "final_error": "final test error (%)",
    "median_last10_error": "median test error of the last 10 epochs (%)",
    "best_error": "best test error (%)",
    "final_nll": "test NLL",
    "final_ece": "test ECE (%)",
    "overconfidence": "confidence − accuracy (%)",
    "train_error_noisy_labels": "training error on the corrupted labels (%)",
    "train_error_clean_labels": "training error on the clean labels (%)",
}
"""Metric -> how prose, axis labels and evidence name it (with its unit)."""


def metric_text(metric: str) -> str:
    """How prose names ``metric`` (``fgsm_error_<ε>`` included); an unknown metric is named as it is."""
    if metric.startswith("fgsm_error_"):
        return f"test error under FGSM ε = {metric[len('fgsm_error_'):]} (%)"
    return METRIC_TEXT.get(metric, metric)


def metric_digits(metric: str) -> int:
    """Decimals shown for ``metric``: 3 for the NLL, 2 for the percentages."""
    return 3 if metric == "final_nll" else 2


def display_factor(metric: str) -> float:
    """Display factor of ``metric``: the ECE is stored as a fraction and shown in percent."""
    from .summary import DISPLAY_SCALE

    return DISPLAY_SCALE.get(metric, 1.0)


def cell_text(v) -> str:
    """A cell as text: None and NaN (e.g. key columns of the ε table's comparison rows) become ""."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v)


def count_text(n: int, word: str) -> str:
    """``n`` and ``word``, plural unless ``n`` is 1: ``count_text(1, "claim") == "1 claim"``, ``"3 claims"``."""
    return f"{n} {word}{'s' if n != 1 else ''}"


def is_missing(v) -> bool:
    """Whether ``v`` is None, NaN or not a number."""
    try:
        return v is None or math.isnan(float(v))
    except (TypeError, ValueError):
        return True


def runnable(df):
    """The rows of a summary frame that the scale can run (status other than ``"not run"``)."""
    return df[df["status"] != "not run"] if df is not None and len(df) else df


def key_values(df, col: str) -> list[str]:
    """The distinct values (as text, in order) of key column ``col`` among the runnable rows."""
    if df is None or col not in df.columns:
        return []
    return list(dict.fromkeys(str(v) for v in runnable(df)[col]))


def pick_row(df, label: str, **keys):
    """The row of ``df`` with this label (and key-column values), or None (absent or not runnable)."""
    if df is None or len(df) == 0:
        return None
    m = df["row"] == label
    for k, v in keys.items():
        if k in df.columns:
            m &= df[k].astype(str) == str(v)
    sub = df[m]
    if sub.empty or sub.iloc[0].get("status") == "not run":
        return None
    return sub.iloc[0]


def has_results(folder) -> bool:
    """Whether ``folder`` is a folder holding at least one results file (``*.json``, hidden files aside)."""
    p = Path(folder) if folder is not None else None
    return p is not None and p.is_dir() and any(f.suffix == ".json" and not f.name.startswith(".")
                                                for f in p.iterdir())
