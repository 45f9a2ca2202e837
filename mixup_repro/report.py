"""Reports on the declared tables: the paper's claims judged at the scale run, chapter views, figures, README.

What the experiment chapters of the book (``notebooks/04_*.ipynb`` ... ``09_*.ipynb``) and the README need
beyond :mod:`mixup_repro.experiments` (configs, runs, summaries) and :mod:`mixup_repro.plots`:

:func:`assess_claims`
    The paper's conclusions, and the questions of the label-smoothing extension, judged from
    :func:`~mixup_repro.experiments.summarize` frames: one row per claim with a verdict in :data:`VERDICTS`
    and the numbers behind it. A difference counts only when it exceeds ``z`` (default 2) standard errors
    of the difference, SE = sqrt(s_a^2 / n_a + s_b^2 / n_b) with s the standard deviation over seeds and n the
    number of finished seeds; with fewer than 2 seeds on either side the comparison is inconclusive.
:func:`table_view`
    :func:`~mixup_repro.experiments.summarize`, after (optionally) computing the missing runs live.
:func:`table_frame`, :func:`table_notes`, :func:`claims_table`, :func:`claims_markdown`, ``plot_*``
    Display helpers of the chapters (DataFrames of "mean ± std" strings, markdown prose, figures).
:func:`readme_summary`, :func:`update_readme`, :func:`register_cli`
    The README's results section, generated from the committed results files, and the ``report``
    command: ``python -m mixup_repro report [--readme README.md] [--results-dir results] [--check]``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._checks import check_bool, check_choice, check_int, check_real
from .experiments import ROW_PRESETS, row_runs, select_rows, table_dataset
from .params import check_path, check_rows, check_seeds, resolve_results_dir, validate_params

__all__ = [
    "VERDICTS", "CLAIMS", "Comparison", "compare", "assess_claims", "assess_scale", "claims_table",
    "claims_markdown", "check_params", "resolve_results_dir", "ROW_PRESETS", "select_rows", "table_view", "table_frame",
    "table_notes", "row_runs", "scale_comparison", "plot_metric_bars", "plot_alpha_sweep", "plot_row_curves",
    "plot_memorization", "memorization_text", "plot_reliability_rows", "plot_fgsm", "plot_eps_validation", "readme_summary",
    "update_readme", "README_START", "README_END", "register_cli", "scale_claims",
]

VERDICTS = ("holds", "does not hold", "inconclusive", "not tested")
"""``holds``: the runs support the claim (every difference it needs exceeds z SE in its direction);
``does not hold``: they support its opposite (a difference exceeds z SE the other way); ``inconclusive``:
neither (differences within z SE, fewer than 2 seeds, or part of the runs missing); ``not tested``: no
finished runs for it."""

CLAIMS: dict[str, tuple[str, str, str]] = {
    # id: (claim, kind, table)
    "mixup_beats_erm": ("mixup (α = 1) has a lower test error than ERM", "paper", "headline"),
    "mixup_best": ("mixup (AC + RP) is the best method of the ablation", "paper", "ablation"),
    "mix_inputs_ls_second": ("mix inputs + label smoothing is the second-best method (after the mixup family)",
                             "paper", "ablation"),
    "ls_noise_small": ("label smoothing and Gaussian noise regularize only a little: their best setting stays "
                       "behind mixup", "paper", "ablation"),
    "weight_decay": ("ERM prefers the larger weight decay (5e-4), mixup the smaller (1e-4)", "paper", "ablation"),
    "label_noise": ("with corrupted labels, mixup (α = 8) has a lower test error than ERM + dropout (p = 0.5)",
                    "paper", "label_noise"),
    "uci_mixup": ("on tabular data mixup is never worse than ERM and better on some data sets", "paper", "uci"),
    "fgsm": ("mixup has a lower error than ERM under FGSM attacks", "paper", "robustness"),
    "ext_error": ("mixup + label smoothing (ε = 0.1) has a lower test error than mixup", "extension", "headline"),
    "ext_ece": ("mixup + label smoothing (ε = 0.1) has a lower ECE than mixup", "extension", "calibration"),
    "uci_ext": ("on tabular data mixup + label smoothing is never worse than mixup and better on some data sets",
                "extension", "uci"),
    "eps_selected": ("mixup + label smoothing at the ε selected on validation has a lower test error than mixup",
                     "extension", "eps_validation"),
}
"""Every claim :func:`assess_claims` can judge: id -> (statement, "paper" or "extension", table)."""

_METRIC_TEXT = {
    "final_error": "final test error (%)",
    "median_last10_error": "median test error of the last 10 epochs (%)",
    "best_error": "best test error (%)",
    "final_nll": "test NLL",
    "final_ece": "test ECE (%)",
    "overconfidence": "confidence − accuracy (%)",
    "train_error_noisy_labels": "training error on the corrupted labels (%)",
    "train_error_clean_labels": "training error on the clean labels (%)",
}


def _metric_text(metric: str) -> str:
    if metric.startswith("fgsm_error_"):
        return f"test error under FGSM ε = {metric[len('fgsm_error_'):]} (%)"
    return _METRIC_TEXT.get(metric, metric)


def _digits(metric: str) -> int:
    return 3 if metric == "final_nll" else 2


def _k(metric: str) -> float:
    """Display factor of ``metric``: the ECE is stored as a fraction and shown in percent."""
    from .experiments import DISPLAY_SCALE

    return DISPLAY_SCALE.get(metric, 1.0)


def _s(v) -> str:
    """A cell as text: None and NaN (e.g. key columns of the ε table's comparison rows) become ""."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return str(v)


def _isnan(v) -> bool:
    try:
        return v is None or math.isnan(float(v))
    except (TypeError, ValueError):
        return True


# ----------------------------------------------------------------------------------------------------------
# Comparisons
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """``a`` against ``b`` on one metric (lower is better). ``outcome`` from a's side: ``"lower"`` / ``"higher"``
    (the difference exceeds ``z`` SE), ``"unclear"`` (within ``z`` SE), ``"few seeds"`` (n < 2 on a side) or
    ``"missing"`` (no finished run on a side)."""

    a: str
    b: str
    metric: str
    a_mean: float
    a_std: float
    a_n: int
    b_mean: float
    b_std: float
    b_n: int
    z: float
    outcome: str

    @property
    def diff(self) -> float:
        return self.a_mean - self.b_mean

    @property
    def se(self) -> float:
        if self.a_n < 2 or self.b_n < 2 or _isnan(self.a_std) or _isnan(self.b_std):
            return math.nan
        return math.sqrt(self.a_std ** 2 / self.a_n + self.b_std ** 2 / self.b_n)

    def text(self, with_metric: bool = False) -> str:
        """``"A 12.30 ± 0.40 (n=3) vs B 13.10 ± 0.50 (n=3): difference -0.80, 2 SE = 0.52"``."""
        d, k = _digits(self.metric), _k(self.metric)
        s = f"{self.a} {_fmt_stat(self.a_mean, self.a_std, self.a_n, self.metric)} vs " \
            f"{self.b} {_fmt_stat(self.b_mean, self.b_std, self.b_n, self.metric)}"
        if self.outcome in ("lower", "higher", "unclear"):
            s += f": difference {k * self.diff:+.{d}f}, {self.z:g} SE = {k * self.z * self.se:.{d}f}"
        elif self.outcome == "few seeds":
            s += ": fewer than 2 seeds"
        if with_metric:
            s = f"{_metric_text(self.metric)}: {s}"
        return s


def _fmt_stat(mean, std, n, metric) -> str:
    if not n or _isnan(mean):
        return "(no runs yet)"
    d, k = _digits(metric), _k(metric)
    if n < 2 or _isnan(std):
        return f"{k * mean:.{d}f} (n={n})"
    return f"{k * mean:.{d}f} ± {k * std:.{d}f} (n={n})"


def _stats(row, metric) -> tuple[float, float, int]:
    if row is None:
        return math.nan, math.nan, 0
    mean = row.get(f"{metric}_mean", math.nan)
    std = row.get(f"{metric}_std", math.nan)
    n = int(row.get("n_done", 0) or 0)
    mean = math.nan if _isnan(mean) else float(mean)
    std = math.nan if _isnan(std) else float(std)
    return mean, std, (0 if _isnan(mean) else n)


def compare(a, b, metric: str, *, z: float = 2.0, a_name: str | None = None, b_name: str | None = None) -> Comparison:
    """Compare two rows of a :func:`~mixup_repro.experiments.summarize` frame on ``metric`` (lower is better).

    ``a`` and ``b`` are rows (mappings with ``n_done``, ``<metric>_mean`` and ``<metric>_std``) or None for a
    row that does not exist. The difference counts when ``|mean_a - mean_b| > z * SE`` with
    ``SE = sqrt(std_a^2 / n_a + std_b^2 / n_b)`` (Welch's standard error of the difference of two means).
    """
    z = check_real("z", z, low=0.0, low_open=True)
    am, asd, an = _stats(a, metric)
    bm, bsd, bn = _stats(b, metric)
    a_name = a_name or (str(a.get("row")) if a is not None else "a")
    b_name = b_name or (str(b.get("row")) if b is not None else "b")
    if an == 0 or bn == 0:
        outcome = "missing"
    elif an < 2 or bn < 2 or _isnan(asd) or _isnan(bsd):
        outcome = "few seeds"
    else:
        se = math.sqrt(asd ** 2 / an + bsd ** 2 / bn)
        diff = am - bm
        outcome = "lower" if diff < -z * se else "higher" if diff > z * se else "unclear"
        if se == 0 and diff == 0:
            outcome = "unclear"
    return Comparison(a_name, b_name, metric, am, asd, an, bm, bsd, bn, z, outcome)


_VERDICT_OF = {"lower": "holds", "higher": "does not hold", "unclear": "inconclusive",
               "few seeds": "inconclusive", "missing": "not tested"}


def _combine(verdicts: Sequence[str], mode: str = "all") -> str:
    """``all``: every part must hold; ``some``: at least one part holds and none is contradicted."""
    vs = list(verdicts)
    if not vs or all(v == "not tested" for v in vs):
        return "not tested"
    if "does not hold" in vs:
        return "does not hold"
    if mode == "all":
        return "holds" if all(v == "holds" for v in vs) else "inconclusive"
    return "holds" if "holds" in vs else "inconclusive"


def _pick(df, label: str, **keys):
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


def _runnable(df):
    return df[df["status"] != "not run"] if df is not None and len(df) else df


def _key_values(df, col: str) -> list[str]:
    if df is None or col not in df.columns:
        return []
    return list(dict.fromkeys(str(v) for v in _runnable(df)[col]))


def _short_list(names: Sequence[str], k: int = 3) -> str:
    names = list(names)
    if len(names) <= k:
        return ", ".join(names)
    return ", ".join(names[:k]) + f" and {len(names) - k} more"


# ----------------------------------------------------------------------------------------------------------
# Claims
# ----------------------------------------------------------------------------------------------------------
def _claim(cid: str, verdict: str, evidence: str) -> dict:
    text, kind, table = CLAIMS[cid]
    return {"id": cid, "claim": text, "kind": kind, "table": table, "verdict": verdict, "evidence": evidence}


def _pairwise_by(df, col, a_label, b_label, metric, z, mode="all", a_name=None, b_name=None):
    """Compare rows a_label vs b_label within each value of key column ``col`` (one group if no column)."""
    groups = _key_values(df, col) if col else [None]
    verdicts, parts = [], []
    for g in groups:
        keys = {col: g} if col else {}
        c = compare(_pick(df, a_label, **keys), _pick(df, b_label, **keys), metric, z=z,
                    a_name=a_name or a_label, b_name=b_name or b_label)
        verdicts.append(_VERDICT_OF[c.outcome])
        where = "" if g is None or len(groups) < 2 else f"{col} {g}: " if col == "label noise" else f"{g}: "
        parts.append(where + c.text())
    if not groups:
        return "not tested", "no runnable rows"
    return _combine(verdicts, mode), f"{_metric_text(metric)}; " + "; ".join(parts)


_FAMILIES = (("mixup AC", "mixup"), ("mix labels and latent", "mixup"), ("mix inputs only", "mix inputs only"),
             ("mix inputs + label smoothing", "mix inputs + label smoothing"), ("label smoothing", "label smoothing"),
             ("Gaussian noise", "Gaussian noise"), ("ERM", "ERM"))


def _family(label: str) -> str:
    for prefix, fam in _FAMILIES:
        if label.startswith(prefix):
            return fam
    return label


def _ablation_rows(df, wd: str):
    sub = df[(df["group"] == "paper ablation") & (df["status"] != "not run")]
    if "weight decay" in sub.columns:
        sub = sub[sub["weight decay"].astype(str) == wd]
    return sub


def _best_of(rows, metric):
    """The row with the lowest mean of ``metric`` among rows with finished runs (None if there is none)."""
    if rows is None or len(rows) == 0:
        return None
    means = rows[f"{metric}_mean"].astype(float)
    done = rows[(rows["n_done"] > 0) & means.notna()]
    if done.empty:
        return None
    return done.loc[done[f"{metric}_mean"].astype(float).idxmin()]


def _mixup_best(df, wd, metric, z):
    rows = _ablation_rows(df, wd)
    m = _pick(rows, "mixup AC + RP")
    if m is None or _stats(m, metric)[2] == 0:
        return _claim("mixup_best", "not tested", f"weight decay {wd}: mixup AC + RP has no finished runs")
    others = rows[rows["row"] != "mixup AC + RP"]
    comps = [compare(m, r, metric, z=z) for _, r in others.iterrows()]
    lower = [c for c in comps if c.outcome == "lower"]
    higher = [c for c in comps if c.outcome == "higher"]
    unclear = [c.b for c in comps if c.outcome == "unclear"]
    few = [c.b for c in comps if c.outcome == "few seeds"]
    missing = [c.b for c in comps if c.outcome == "missing"]
    best_other = _best_of(others, metric)
    ev = [f"weight decay {wd}, {_metric_text(metric)}"]
    if best_other is not None:
        ev.append("best other row: " + compare(m, best_other, metric, z=z).text())
    ev.append(f"mixup AC + RP is lower by more than {z:g} SE than {len(lower)} of the {len(comps)} other rows")
    if higher:
        ev.append("higher than: " + "; ".join(c.text() for c in higher[:3]))
    if unclear:
        ev.append(f"within {z:g} SE of: {_short_list(unclear)}")
    if few:
        ev.append(f"fewer than 2 seeds: {_short_list(few)}")
    if missing:
        ev.append(f"no runs yet: {_short_list(missing)}")
    verdict = "does not hold" if higher else "holds" if len(lower) == len(comps) and comps else "inconclusive"
    return _claim("mixup_best", verdict, "; ".join(ev))


def _second(df, wd, metric, z):
    rows = _ablation_rows(df, wd)
    fams: dict[str, list] = {}
    for _, r in rows.iterrows():
        fams.setdefault(_family(str(r["row"])), []).append(r)
    target = "mix inputs + label smoothing"
    if target not in fams:
        return _claim("mix_inputs_ls_second", "not tested", f"no '{target}' rows at weight decay {wd}")
    import pandas as pd

    best = {f: _best_of(pd.DataFrame(rs), metric) for f, rs in fams.items() if f != "mixup"}
    b = best.pop(target)
    if b is None:
        return _claim("mix_inputs_ls_second", "not tested", f"weight decay {wd}: no finished '{target}' runs")
    verdicts, parts = [], []
    for fam, r in best.items():
        if r is None:
            verdicts.append("inconclusive")
            parts.append(f"{fam}: no runs yet")
            continue
        c = compare(b, r, metric, z=z)
        verdicts.append(_VERDICT_OF[c.outcome])
        parts.append(c.text())
    ev = (f"weight decay {wd}, {_metric_text(metric)}, best setting of each method family (mixup family "
          f"excluded): " + "; ".join(parts))
    return _claim("mix_inputs_ls_second", _combine(verdicts) if verdicts else "inconclusive", ev)


def _ls_noise(df, wd, metric, z):
    import pandas as pd

    rows = _ablation_rows(df, wd)
    m = _pick(rows, "mixup AC + RP")
    erm = _pick(rows, "ERM")
    verdicts, parts = [], []
    for fam in ("label smoothing", "Gaussian noise"):
        fam_rows = pd.DataFrame([r for _, r in rows.iterrows() if _family(str(r["row"])) == fam])
        best = _best_of(fam_rows, metric) if len(fam_rows) else None
        if best is None:
            verdicts.append("not tested")
            parts.append(f"{fam}: no runs yet")
            continue
        c = compare(m, best, metric, z=z, a_name="mixup AC + RP")
        verdicts.append(_VERDICT_OF[c.outcome])
        parts.append(c.text())
    gains = []
    em, _, en = _stats(erm, metric)
    if en:
        for _, r in rows.iterrows():
            fam = _family(str(r["row"]))
            if fam in ("label smoothing", "Gaussian noise") or str(r["row"]) == "mixup AC + RP":
                rm, _, rn = _stats(r, metric)
                if rn:
                    gains.append(f"{r['row']} {em - rm:+.{_digits(metric)}f}")
    ev = f"weight decay {wd}, {_metric_text(metric)}; " + "; ".join(parts)
    if gains:
        ev += "; gain over ERM (ERM − row): " + ", ".join(gains)
    return _claim("ls_noise_small", _combine(verdicts), ev)


def _weight_decay(df, metric, z):
    rows = df[df["group"] == "paper ablation"]
    c1 = compare(_pick(rows, "ERM", **{"weight decay": "5e-4"}), _pick(rows, "ERM", **{"weight decay": "1e-4"}),
                 metric, z=z, a_name="ERM wd 5e-4", b_name="ERM wd 1e-4")
    c2 = compare(_pick(rows, "mixup AC + RP", **{"weight decay": "1e-4"}),
                 _pick(rows, "mixup AC + RP", **{"weight decay": "5e-4"}), metric, z=z,
                 a_name="mixup wd 1e-4", b_name="mixup wd 5e-4")
    verdict = _combine([_VERDICT_OF[c1.outcome], _VERDICT_OF[c2.outcome]])
    return _claim("weight_decay", verdict, f"{_metric_text(metric)}; {c1.text()}; {c2.text()}")


def _uci_claim(cid, df, a_label, b_label, metric, z):
    verdict, ev = _pairwise_by(df, "dataset", a_label, b_label, metric, z, mode="some")
    return _claim(cid, verdict, ev)


def _fgsm_claim(df, z):
    cols = [c[:-5] for c in df.columns if c.startswith("fgsm_error_") and c.endswith("_mean")]
    if not cols:
        return _claim("fgsm", "not tested", "no FGSM errors in the table")
    m, e = _pick(df, "mixup α=1"), _pick(df, "ERM")
    comps = [compare(m, e, c, z=z, a_name="mixup", b_name="ERM") for c in cols]
    verdict = _combine([_VERDICT_OF[c.outcome] for c in comps])
    return _claim("fgsm", verdict, "; ".join(c.text(with_metric=True) for c in comps))


def _eps_claim(df, metric, z):
    sel = df.attrs.get("selected_eps")
    val = df[df["group"] == "selection"]
    if sel is None:
        done = int(val["n_done"].sum()) if len(val) else 0
        return _claim("eps_selected", "not tested" if done == 0 else "inconclusive",
                      f"selection pending: {done} of {int(val['n_expected'].sum()) if len(val) else 0} validation "
                      f"runs done")
    curve = df.attrs.get("validation_curve", {})
    vtext = ", ".join(f"ε={e:g}: {v:.2f}" for e, v in curve.items() if not _isnan(v))
    if sel == 0:
        return _claim("eps_selected", "does not hold",
                      f"validation selected ε = 0, i.e. plain mixup (validation {_metric_text(metric)}: {vtext})")
    a = df[df["row"].astype(str).str.startswith("(a)")]
    c = df[df["row"].astype(str).str.startswith("(c)")]
    comp = compare(a.iloc[0] if len(a) else None, c.iloc[0] if len(c) else None, metric, z=z,
                   a_name=f"ε={sel:g} (selected)", b_name="mixup (ε=0)")
    return _claim("eps_selected", _VERDICT_OF[comp.outcome],
                  f"selected ε = {sel:g} (validation {_metric_text(metric)}: {vtext}); test: {comp.text()}")


def assess_claims(headline=None, ablation=None, label_noise=None, calibration=None, *, uci=None, robustness=None,
                  eps_validation=None, z: float = 2.0, error_metric: str = "median_last10_error",
                  noise_metric: str = "final_error", uci_metric: str = "final_error", weight_decay: str = "1e-4"):
    """Judge the paper's conclusions (and the extension's questions) from summary frames.

    Parameters
    ----------
    headline, ablation, label_noise, calibration, uci, robustness, eps_validation : DataFrame, optional
        :func:`~mixup_repro.experiments.summarize` frames of those tables (any scale). Only the claims of the
        tables given are judged (see :data:`CLAIMS`); ``ext_ece`` uses ``calibration`` or, without it, the
        ECE of ``headline`` (the same runs).
    z : float
        A difference counts when it exceeds ``z`` standard errors of the difference (see :func:`compare`).
    error_metric
        Test-error statistic of the headline, ablation and ε tables (default the authors' median of the
        last 10 epochs); ``noise_metric`` that of the label-noise table (default the last epoch's, the
        paper's "last"); ``uci_metric`` that of the UCI table.
    weight_decay
        The weight decay at which the ablation's method ranking is judged ("1e-4", the paper's protocol).

    Returns
    -------
    DataFrame
        One row per claim: ``id``, ``claim``, ``kind`` ("paper" or "extension"), ``table``, ``verdict`` (one
        of :data:`VERDICTS`) and ``evidence`` (the means ± std over seeds, the numbers of seeds, the
        differences and ``z`` SE). Multi-part claims (several models, weight decays, noise levels, ε) hold
        when every part holds, except the UCI claims, which hold when at least one data set shows the
        difference and none the opposite. Best-of-family choices (ablation) are made on the same test
        numbers, as in the paper. ``attrs["z"]`` holds ``z``.
    """
    import pandas as pd

    z = check_real("z", z, low=0.0, low_open=True)
    out = []
    if headline is not None:
        v, ev = _pairwise_by(headline, "model", "mixup α=1", "ERM", error_metric, z, a_name="mixup", b_name="ERM")
        out.append(_claim("mixup_beats_erm", v, ev))
    if ablation is not None:
        out += [_mixup_best(ablation, weight_decay, error_metric, z), _second(ablation, weight_decay, error_metric, z),
                _ls_noise(ablation, weight_decay, error_metric, z), _weight_decay(ablation, error_metric, z)]
    if label_noise is not None:
        v, ev = _pairwise_by(label_noise, "label noise", "mixup α=8", "ERM + dropout p=0.5", noise_metric, z,
                             a_name="mixup α=8", b_name="ERM + dropout")
        out.append(_claim("label_noise", v, ev))
    if uci is not None:
        out.append(_uci_claim("uci_mixup", uci, "mixup α=1", "ERM", uci_metric, z))
    if robustness is not None:
        out.append(_fgsm_claim(robustness, z))
    if headline is not None:
        v, ev = _pairwise_by(headline, "model", "mixup + label smoothing ε=0.1", "mixup α=1", error_metric, z,
                             a_name="mixup + LS", b_name="mixup")
        out.append(_claim("ext_error", v, ev))
    cal = calibration if calibration is not None else headline
    if cal is not None:
        col = "model" if "model" in cal.columns else None
        v, ev = _pairwise_by(cal, col, "mixup + label smoothing ε=0.1", "mixup α=1", "final_ece", z,
                             a_name="mixup + LS", b_name="mixup")
        out.append(_claim("ext_ece", v, ev))
    if uci is not None:
        out.append(_uci_claim("uci_ext", uci, "mixup + label smoothing ε=0.1", "mixup α=1", uci_metric, z))
    if eps_validation is not None:
        out.append(_eps_claim(eps_validation, error_metric, z))
    df = pd.DataFrame(out, columns=["id", "claim", "kind", "table", "verdict", "evidence"])
    df.attrs["z"] = z
    return df


_CLAIM_TABLES = ("headline", "ablation", "label_noise", "calibration", "uci", "robustness", "eps_validation")


def assess_scale(scale: str, out, *, dataset: str | None = None, seeds=None, z: float = 2.0):
    """:func:`assess_claims` on every table of ``scale`` read (never run) from ``out``."""
    from .experiments import summarize

    frames = {n: summarize(n, scale, out, dataset=None if n == "uci" else dataset, seeds=seeds)
              for n in _CLAIM_TABLES}
    return assess_claims(**frames, z=z)


def claims_table(claims):
    """The claims as a display frame indexed by claim: verdict and evidence."""
    return claims.set_index("claim")[["verdict", "evidence"]]


def claims_markdown(claims, scale: str) -> str:
    """Prose for a "What holds at this scale" section that says no more than the verdicts."""
    z = claims.attrs.get("z", 2.0)
    if len(claims) == 0:
        return "No claim is judged from this table."
    groups = {v: [c for c, vv in zip(claims["claim"], claims["verdict"]) if vv == v] for v in VERDICTS}
    lines = [f"Verdicts at **{scale}** scale, from the runs in the table above. A difference between two rows "
             f"counts only when it exceeds {z:g} standard errors of the difference (from the spread over seeds); "
             "with fewer than two finished seeds on a side a comparison cannot count."]
    text = {"holds": "Supported by the runs at this scale",
            "does not hold": "Contradicted by the runs at this scale (the opposite difference counts)",
            "inconclusive": "Not decided by the runs at this scale (differences within the noise, too few seeds, "
                            "or runs missing)",
            "not tested": "Not tested yet (no finished runs)"}
    for v in VERDICTS:
        if groups[v]:
            lines.append(f"- {text[v]}: " + "; ".join(f"*{c}*" for c in groups[v]) + ".")
    lines.append("These verdicts are about this scale only: a claim that holds here is not thereby confirmed at "
                 "the paper's scale, and one that does not hold here is not thereby refuted there.")
    intro, bullets, caveat = lines[0], lines[1:-1], lines[-1]
    return f"{intro}\n\n" + "\n".join(bullets) + f"\n\n{caveat}"


# ----------------------------------------------------------------------------------------------------------
# Chapter parameters and views
# ----------------------------------------------------------------------------------------------------------
def _check_dataset(name, v):
    if v is None:
        return None
    from .data import IMAGE_DATASETS
    from .experiments import UCI_DATASETS, UCI_SMOKE_DATASET

    return check_choice(name, v, (*IMAGE_DATASETS, *UCI_DATASETS, UCI_SMOKE_DATASET))


def _check_scale(name, v):
    from .experiments import SCALES

    return check_choice(name, v, tuple(SCALES))


_PARAM_CHECKS = {
    "scale": _check_scale,
    "dataset": _check_dataset,
    "seeds": check_seeds,
    "rows": check_rows,
    "results_dir": lambda n, v: None if v is None else check_path(n, v),
    "paper_results_dir": lambda n, v: None if v is None else check_path(n, v),
    "run_missing": check_bool,
    "max_live_runs": lambda n, v: None if v is None else check_int(n, v, low=0),
    "data_dir": lambda n, v: None if v is None else check_path(n, v),
}


def check_params(**params) -> dict:
    """Validate the parameters of the experiment chapters (04-09) by name; return them normalised.

    Known names: ``scale`` (paper, cpu or smoke), ``dataset`` (an image data set for the image tables, a
    UCI set of :data:`~mixup_repro.experiments.UCI_DATASETS` for the UCI chapter, or None for the table's
    default / all), ``seeds`` (None or a list of distinct integers >= 0), ``rows`` (None, or row labels, keys
    or key values, or a name of :data:`ROW_PRESETS` such as ``"core"``), ``results_dir`` and
    ``paper_results_dir`` (a path, or None), ``run_missing`` (true or false), ``max_live_runs`` (None or an
    integer >= 0), ``data_dir`` (None for the default data folder, or a path). Raises ``ValueError`` naming the parameter; also when ``results_dir`` names a folder that does
    not exist while ``run_missing`` is false (nothing would fill the tables: a typo, or runs not computed yet).
    """
    out = validate_params(_PARAM_CHECKS, params)
    folder = out.get("results_dir")
    if out.get("run_missing") is False and folder is not None and not Path(folder).is_dir():
        raise ValueError(f"results_dir {folder!r} is not a folder (looked for {Path(folder).absolute()}), and "
                         "run_missing is false: every table would be empty; give a folder of results files (e.g. "
                         "results/cpu), or run_missing true to compute the runs into it")
    return out







@contextlib.contextmanager
def _torch_threads(n: int | None):
    """Run with ``n`` torch intra-op threads (restored afterwards); None leaves torch alone."""
    if n is None:
        yield
        return
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def table_view(name: str, scale: str, out, *, dataset: str | None = None, seeds=None, rows=None,
               run_missing: bool = False, max_live_runs: int | None = None, workers: int = 1,
               threads: int | None = 1, quiet: bool = False):
    """The summary of table ``name`` at ``scale`` from the results files in ``out``; optionally run what is missing.

    With ``run_missing=False`` (the book's ``cpu`` and ``gpu`` profiles) nothing is computed or written: rows
    whose runs are not all done show as ``"k/n"`` (or ``"not run"`` when the scale cannot run them), never
    dropped. With ``run_missing=True`` the missing runs are first computed into ``out`` with
    :func:`~mixup_repro.experiments.run_table` (``workers`` at once; in-process runs use ``threads`` torch
    threads, 1 by default: small models on shared cores are much faster that way); more than
    ``max_live_runs`` missing runs is refused with a ``ValueError`` naming the command that computes them
    offline. ``dataset`` is the image data set (image tables) or keeps one UCI set's rows (``uci``);
    ``seeds`` and ``rows`` restrict the table as in :func:`~mixup_repro.experiments.table_configs`.

    Returns the :func:`~mixup_repro.experiments.summarize` DataFrame (``attrs["live_runs"]``: the number of
    runs computed by this call).
    """
    from .experiments import missing_configs, run_table, summarize

    check_scale = _check_scale("scale", scale)
    run_missing = check_bool("run_missing", run_missing)
    if max_live_runs is not None:
        max_live_runs = check_int("max_live_runs", max_live_runs, low=0)
    out = Path(check_path("out", out))
    keys = select_rows(name, rows, dataset)
    ds = table_dataset(name, dataset)
    if keys == []:
        raise ValueError(f"no row of table {name!r} matches rows={rows!r} and dataset={dataset!r}")
    live = 0
    if run_missing:
        missing = missing_configs(name, check_scale, out, dataset=ds, seeds=seeds, rows=keys)
        if max_live_runs is not None and len(missing) > max_live_runs:
            raise ValueError(
                f"{len(missing)} runs of table {name!r} at scale {scale!r} are missing in {out}, more than "
                f"max_live_runs = {max_live_runs}; compute them offline with: python -m mixup_repro table {name} "
                f"--scale {scale} --out {out}" + (f" --dataset {ds}" if ds else ""))
        if missing:
            with _torch_threads(threads if workers == 1 else None):
                run_table(name, check_scale, out=out, dataset=ds, seeds=seeds, rows=keys, workers=workers,
                          quiet=True)
            live = len(missing)
        if not quiet:
            print(f"table {name}, scale {scale}: {live} missing run(s) computed live into {out}")
    df = summarize(name, check_scale, out, dataset=ds, seeds=seeds, rows=keys)
    df.attrs["live_runs"] = live
    if not quiet:
        done, expected = int(df["n_done"].sum()), int(df["n_expected"].sum())
        not_run = int((df["status"] == "not run").sum())
        print(f"table {name}, scale {scale}, results {out}: {done} of {expected} runs done"
              + (f"; {not_run} row(s) not run at this scale" if not_run else ""))
    return df


def table_frame(df, metrics: Sequence[str] | None = None):
    """A display frame of a summary: index ``row``, key columns, runs, ``mean ± std`` per metric, paper.

    ``metrics`` defaults to the table's shown metrics (``df.attrs["metrics"]``). Rows that are not run at
    the scale keep their place, with "not run" and dashes.
    """
    import pandas as pd

    from .experiments import _fmt_num, _metric_name

    metrics = list(metrics or df.attrs.get("metrics") or [])
    keys = [k for k in df.attrs.get("key_columns", []) if k in df.columns]
    recs = []
    for _, r in df.iterrows():
        rec = {"row": r["row"], **{k: _s(r.get(k)) for k in keys}}
        if "group" in df.columns and df["group"].nunique() > 1:
            rec["part"] = _s(r.get("group"))
        rec["runs"] = _s(r.get("status"))
        for m in metrics:
            rec[_metric_name(m)] = "—" if r.get("status") in ("not run", "pending", "not selected") else \
                _fmt_num(r.get(f"{m}_mean"), r.get(f"{m}_std"), m)
        if "selected" in df.columns:
            rec["selected"] = r.get("selected") if isinstance(r.get("selected"), str) else ""
        for col in ("paper", "paper (CIFAR)"):
            if col in df.columns:
                p = r.get(col)
                rec[col + (" (%)" if col == "paper" else "")] = "" if _isnan(p) and not isinstance(p, str) else \
                    (f"{p:g}" if isinstance(p, float) else str(p or ""))
        if "paper source" in df.columns:
            rec["paper source"] = _s(r.get("paper source"))
        recs.append(rec)
    out = pd.DataFrame(recs).set_index("row")
    for col in [c for c in out.columns if c.startswith("paper")]:
        if not out[col].astype(str).str.len().gt(0).any():
            out = out.drop(columns=col)
    return out


def table_notes(df, *, include_scale: bool = True) -> str:
    """The notes under a summary table (scale protocol, table notes, not-run reasons, selected ε, ...), as
    markdown; ``include_scale=False`` leaves out the scale's protocol (:data:`~mixup_repro.experiments.SCALE_NOTES`)
    when the page shows it already."""
    from .experiments import SCALE_NOTES, format_table

    text = format_table(df)
    paras = [p.strip() for p in text.split("\n\n")]
    keep = [p for p in paras if p and not p.startswith(("###", "Table `", "|"))]
    if not include_scale:
        prefix = SCALE_NOTES.get(df.attrs.get("scale", ""), "")
        keep = [p[len(prefix):].strip() if prefix and p.startswith(prefix) else p for p in keep]
    return "\n\n".join(p for p in keep if p)





def _has_results(folder) -> bool:
    p = Path(folder) if folder is not None else None
    return p is not None and p.is_dir() and any(f.suffix == ".json" and not f.name.startswith(".")
                                                for f in p.iterdir())


def _paper_frame(name: str, scale: str, df, paper_results_dir, paper_dataset: str | None):
    """``(summary frame of the paper-scale runs or None, message, dataset)`` for :func:`scale_comparison` and
    :func:`scale_claims`: the frame is None, and the message says why, when there is nothing to show."""
    from .experiments import TABLES, summarize

    if paper_dataset is None:
        own = df.attrs.get("dataset")
        paper_dataset = own if own in ("fashion-mnist", "cifar10", "cifar100") else "cifar10"
    cmd = f"python -m mixup_repro table {name} --scale paper --out results/paper" + \
        (f" --dataset {paper_dataset}" if TABLES[name].kind == "image" else "")
    if scale == "paper":
        return None, "This chapter already shows the paper-scale runs.", paper_dataset
    if not _has_results(paper_results_dir):
        return None, (f"Paper-scale runs need a GPU and are not done yet (no results in "
                      f"`{paper_results_dir}`). They are computed with `{cmd}`; this section then shows them "
                      f"next to the {scale}-scale numbers and the published ones."), paper_dataset
    ds = None if TABLES[name].kind == "tabular" else paper_dataset
    pdf = summarize(name, "paper", paper_results_dir, dataset=ds)
    if int(pdf["n_done"].sum()) == 0:
        return None, (f"`{paper_results_dir}` holds no paper-scale run of this table yet (on {paper_dataset}); "
                      f"compute them on a GPU with `{cmd}`."), paper_dataset
    return pdf, "", paper_dataset


def scale_comparison(name: str, scale: str, df, paper_results_dir, *, metric: str | None = None,
                     paper_dataset: str | None = None):
    """The chapter's table next to the paper-scale runs (``paper_results_dir``) and the published numbers.

    ``paper_dataset`` (image tables) defaults to the dataset of the chapter's own runs (``df.attrs["dataset"]``),
    so Fashion-MNIST at CPU scale is set beside Fashion-MNIST at the paper's protocol; the published numbers
    stay labelled as CIFAR. Rows without a finished paper-scale run read "not done (0/n)". Returns
    ``(frame or None, markdown message)``. When ``scale`` is already ``paper``, or there are no paper-scale
    results of this table yet, the frame is None and the message says so plainly.
    """
    import pandas as pd

    from .experiments import _fmt_num

    shown = list(df.attrs.get("metrics") or ["final_error"])
    metric = metric or ("median_last10_error" if "median_last10_error" in shown else shown[0])
    pdf, message, paper_dataset = _paper_frame(name, scale, df, paper_results_dir, paper_dataset)
    if pdf is None:
        return None, message

    def cell(r):
        if r is None or r.get("status") == "not run":
            return "not run"
        v = _fmt_num(r.get(f"{metric}_mean"), r.get(f"{metric}_std"), metric)
        return f"{v} ({r['status']})" if v != "—" else f"not done ({r['status']})"

    keys = [k for k in df.attrs.get("key_columns", []) if k in df.columns]
    recs = []
    for _, r in pdf.iterrows():
        m = df["row"] == r["row"]
        for k in keys:
            if k in pdf.columns:
                m &= df[k].astype(str) == str(r[k])
        here = df[m]
        p = r.get("paper", r.get("paper (CIFAR)", ""))
        recs.append({"row": r["row"], **{k: _s(r.get(k)) for k in keys},
                     f"{scale} scale": cell(here.iloc[0]) if len(here) else "",
                     "paper scale": cell(r),
                     "published (%)": "" if _isnan(p) and not isinstance(p, str) else
                     (f"{p:g}" if isinstance(p, float) else str(p)),
                     "source": _s(r.get("paper source"))})
    msg = (f"{_metric_text(metric)}, mean ± std over seeds (finished / expected runs in brackets): this "
           f"chapter's {scale}-scale runs next to the paper-scale runs in `{paper_results_dir}` "
           f"({paper_dataset}) and the published numbers.")
    return pd.DataFrame(recs).set_index("row"), msg


def scale_claims(name: str, scale: str, df, paper_results_dir, *, paper_dataset: str | None = None) -> str:
    """The table's claims re-judged on its paper-scale runs (same rules as :func:`assess_claims`), as prose.

    Same paper-scale runs as :func:`scale_comparison`; when there are none, a sentence that says so (nothing
    when the chapter is itself at paper scale).
    """
    from .experiments import TABLES

    pdf, _, paper_dataset = _paper_frame(name, scale, df, paper_results_dir, paper_dataset)
    if pdf is None:
        return "" if scale == "paper" else "No verdicts at the paper's scale yet: there are no paper-scale runs of " \
            f"this table ({paper_dataset if TABLES[name].kind == 'image' else 'tabular data'})."
    claims = assess_claims(**{name: pdf})
    where = f" ({paper_dataset})" if TABLES[name].kind == "image" else ""
    return (f"**At the paper's scale{where}**, from the paper-scale runs in `{paper_results_dir}`:\n\n"
            + claims_markdown(claims, "paper"))


# ----------------------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------------------
def _style() -> None:
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")


def _finish(fig, ax, drawn: bool, empty: str, *, legend_size: int = 8):
    """Legend when something was drawn, else a centred note; tight layout; the figure."""
    if drawn:
        ax.legend(fontsize=legend_size)
    else:
        _note(ax, empty)
    fig.tight_layout()
    return fig


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=11, color="0.35",
            wrap=True)


def plot_metric_bars(df, metric: str = "median_last10_error", *, category: str = "row", hue: str | None = None,
                     title: str | None = None, groups: Sequence[str] | None = None, show_paper: bool = True):
    """Horizontal bars of ``metric`` (mean over seeds, error bars ± std) for each row of a summary frame.

    ``category`` is the column on the vertical axis (``row`` labels, or ``dataset``), ``hue`` a column that
    splits the bars (``weight decay``, ``model``, ``label noise``, or ``row``). Rows without finished runs
    keep their label, with no bar. ``groups`` keeps only rows of those groups. With ``show_paper`` and a
    numeric ``paper`` column (CIFAR runs), the published numbers are drawn as black diamonds.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    import seaborn as sns

    _style()
    d = _runnable(df)
    if groups is not None:
        d = d[d["group"].isin(list(groups))]
    cats = list(dict.fromkeys(d[category].astype(str))) if len(d) else []
    hues = list(dict.fromkeys(d[hue].astype(str))) if hue and len(d) else [None]
    fig, ax = plt.subplots(figsize=(8.5, max(2.6, 0.34 * len(cats) * max(1, len(hues)) ** 0.5 + 1.4)))
    height = 0.8 / max(1, len(hues))
    colors = sns.color_palette("tab10", max(1, len(hues)))
    drawn = False
    for j, h in enumerate(hues):
        sub = d if h is None else d[d[hue].astype(str) == h]
        ys, means, stds = [], [], []
        for i, c in enumerate(cats):
            r = sub[sub[category].astype(str) == c]
            if r.empty or int(r.iloc[0]["n_done"]) == 0:
                continue
            ys.append(i - 0.4 + height * (j + 0.5))
            means.append(_k(metric) * float(r.iloc[0][f"{metric}_mean"]))
            s = r.iloc[0][f"{metric}_std"]
            stds.append(0.0 if _isnan(s) else _k(metric) * float(s))
        if ys:
            drawn = True
            ax.barh(ys, means, height=height * 0.92, xerr=stds, color=colors[j], capsize=2, error_kw={"lw": 1},
                    label=(f"{hue} {h}" if hue not in ("row", "dataset") else h) if h is not None else None)
    if show_paper and "paper" in d.columns and len(cats):
        py = [i for i, c in enumerate(cats) if not _isnan(d[d[category].astype(str) == c].iloc[0].get("paper"))]
        if py:
            ax.scatter([float(d[d[category].astype(str) == cats[i]].iloc[0]["paper"]) for i in py], py, marker="D",
                       color="black", zorder=3, label="published (paper)")
            drawn = True
    ax.set_yticks(np.arange(len(cats)))
    ax.set_yticklabels(cats, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel(_metric_text(metric) + (", mean ± std over seeds" if drawn else ""))
    ax.set_ylabel(category if category != "row" else "method")
    ax.set_title(title or f"{df.attrs.get('title', '')} ({df.attrs.get('scale', '')} scale)", fontsize=11)
    if not drawn:
        _note(ax, "no finished runs yet")
    elif any(h is not None for h in hues) or "paper" in d.columns:
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def _row_param(name: str, label: str, field: str, default=0.0):
    from .experiments import TABLES

    for r in TABLES[name].rows:
        if r.label == label:
            return r.overrides.get(field, default)
    return default


def plot_alpha_sweep(df, metric: str = "median_last10_error", *, title: str | None = None):
    """Error against α (log scale) for the ablation's α sweep: mixup and mixup + label smoothing ε = 0.1."""
    import matplotlib.pyplot as plt

    _style()
    d = df[(df["group"] == "α sweep") & (df["status"] != "not run")]
    fig, ax = plt.subplots(figsize=(7, 4))
    drawn, ticks = False, set()
    for prefix, name in (("mixup α=", "mixup"), ("mixup + label smoothing α=", "mixup + label smoothing ε = 0.1")):
        sub = d[d["row"].astype(str).str.startswith(prefix) & (d["n_done"] > 0)]
        if sub.empty:
            continue
        alphas = [float(_row_param("ablation", lab, "alpha")) for lab in sub["row"]]
        order = sorted(range(len(alphas)), key=lambda i: alphas[i])
        x = [alphas[i] for i in order]
        y = [float(sub.iloc[i][f"{metric}_mean"]) for i in order]
        e = [0.0 if _isnan(sub.iloc[i][f"{metric}_std"]) else float(sub.iloc[i][f"{metric}_std"]) for i in order]
        ax.errorbar(x, y, yerr=e, marker="o", capsize=3, label=name)
        ticks.update(x)
        drawn = True
    ax.set_xscale("log")
    if ticks:
        ax.set_xticks(sorted(ticks))
        ax.set_xticklabels([f"{a:g}" for a in sorted(ticks)])
        ax.minorticks_off()
    ax.set_xlabel("α (Beta(α, α) concentration)")
    ax.set_ylabel(_metric_text(metric))
    ax.set_title(title or f"Test error against α ({df.attrs.get('scale', '')} scale, weight decay 1e-4)")
    return _finish(fig, ax, drawn, "no finished α-sweep runs yet", legend_size=9)


def _mean_std_curves(records, key):
    import numpy as np

    seqs = [r["curves"].get(key) for r in records if r["curves"].get(key)]
    if not seqs:
        return None
    n = min(len(s) for s in seqs)
    arr = np.array([s[:n] for s in seqs], dtype=float)
    return np.arange(1, n + 1), arr.mean(0), (arr.std(0, ddof=1) if len(arr) > 1 else np.zeros(n))


def plot_row_curves(runs: Mapping[str, list], metric: str = "test_error", *, title: str | None = None,
                    ylabel: str | None = None):
    """Per-epoch curves (mean over seeds, band ± std) of every row of :func:`row_runs` that has runs."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    _style()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    drawn = False
    suffixes = {k[k.rfind(" ["):] if k.endswith("]") and " [" in k else "" for k, v in runs.items() if v}
    common = suffixes.pop() if len(suffixes) == 1 else ""
    for key, recs in runs.items():
        c = _mean_std_curves(recs, metric)
        if c is None:
            continue
        x, m, s = c
        m, s = _k(metric) * m, _k(metric) * s
        name = key[:-len(common)] if common else key
        ax.plot(x, m, label=f"{name} (n={len(recs)})")
        ax.fill_between(x, m - s, m + s, alpha=0.15)
        drawn = True
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel or _METRIC_TEXT.get(metric, {"test_error": "test error (%)",
                                                      "test_ece": "test ECE (%)"}.get(metric, metric)))
    ax.set_title((title or "Curves during training (mean over seeds, band ± std)")
                 + (f"\n{common.strip(' []')}" if common else ""), fontsize=11)
    return _finish(fig, ax, drawn, "no finished runs yet", legend_size=8)


def plot_memorization(runs: Mapping[str, list], *, methods: Sequence[str] = ("ERM", "ERM + dropout p=0.5",
                                                                              "mixup α=8", "mixup α=8 + dropout p=0.5"),
                      title: str | None = None):
    """Label-noise memorization: training error on the corrupted labels (solid) and on the clean labels
    (dashed) against the epoch, one panel per noise level, one colour per method (mean over seeds).

    ``runs`` is :func:`row_runs` of the ``label_noise`` table (keys ``"ERM [label noise=50%]"``). A low
    error on the corrupted labels means the random labels were memorized."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.ticker import MaxNLocator

    _style()
    levels = list(dict.fromkeys(k.split("label noise=")[1].rstrip("]") for k in runs if "label noise=" in k))
    levels = levels or ["—"]
    fig, axes = plt.subplots(1, len(levels), figsize=(4.6 * len(levels), 4.0), squeeze=False, sharey=True)
    colors = dict(zip(methods, sns.color_palette("tab10", len(methods))))
    any_drawn = False
    for ax, lev in zip(axes[0], levels):
        drawn = False
        for m in methods:
            recs = runs.get(f"{m} [label noise={lev}]", [])
            for key, ls, what in (("train_error_noisy_labels", "-", "corrupted labels"),
                                  ("train_error_clean_labels", "--", "clean labels")):
                c = _mean_std_curves(recs, key)
                if c is None:
                    continue
                ax.plot(c[0], c[1], ls=ls, color=colors[m], label=f"{m}, {what}")
                drawn = True
        ax.set_title(f"label noise {lev}", fontsize=11)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("training error (%)")
        ax.set_ylim(-2, 102)
        if not drawn:
            _note(ax, "no finished runs yet")
        any_drawn |= drawn
    if any_drawn:
        handles, labels = [], []
        for ax in axes[0]:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(title or "Memorization of corrupted labels: training error on corrupted (solid) and clean "
                          "(dashed) labels")
    fig.tight_layout(rect=(0, 0.16 if any_drawn else 0, 1, 1))
    return fig


_NUM_CLASSES = {"fashion-mnist": 10, "cifar10": 10, "cifar100": 100}


def memorization_text(df, *, rows: Sequence[str] = ("ERM", "ERM + dropout p=0.5", "mixup α=8"),
                      near: float = 10.0) -> str:
    """What the label-noise table says about memorization, as markdown generated from its numbers.

    For each of ``rows`` with finished runs, at each noise level, the final training error on the corrupted
    labels (mean over seeds) is read as *memorized* when it is within ``near`` points of 0 %, as *not
    memorized* when it is within ``near`` points of the chance level 100 (1 − 1/K) % (the error of a network
    that predicts the true class of a corrupted sample, whose random label equals the true one with
    probability 1/K), and as *partly memorized* in between. Without finished runs it says so, and says what
    each outcome would look like, without asserting either.
    """
    k = _NUM_CLASSES.get(str(df.attrs.get("dataset", "")), 10)
    chance = 100.0 * (1 - 1 / k)
    metric = "train_error_noisy_labels"
    lines = []
    for _, r in _runnable(df).iterrows():
        if str(r["row"]) not in rows or int(r.get("n_done", 0) or 0) == 0 or _isnan(r.get(f"{metric}_mean")):
            continue
        v = float(r[f"{metric}_mean"])
        word = ("memorized" if v <= near else "not memorized" if v >= chance - near else "partly memorized")
        lines.append(f"- {r['row']}, label noise {_s(r.get('label noise'))}: {v:.1f} % "
                     f"(n={int(r['n_done'])}): **{word}**")
    what = (f"A network that has memorized the random labels of the corrupted samples has a training error near "
            f"0 % on them; one that predicts their true class instead has about {chance:.0f} % (chance: a "
            f"random label among {k} classes equals the true one with probability 1/{k}).")
    if not lines:
        return what + " No run of these rows has finished at this scale yet, so this page cannot say which of " \
                      "the two happened."
    return (what + f" The final training error on the corrupted labels (mean over seeds; memorized: within "
            f"{near:g} points of 0 %, not memorized: within {near:g} points of {chance:.0f} %):\n\n"
            + "\n".join(lines))


class _Run:
    """Adapter: a results record with the ``.summary`` attribute of a RunResult."""

    def __init__(self, record):
        self.summary = record["summary"]


def plot_reliability_rows(runs: Mapping[str, list], *, rows: Sequence[str] | None = None, title: str | None = None):
    """Reliability diagrams (:func:`mixup_repro.plots.plot_reliability`) of table rows, bins pooled over seeds."""
    import matplotlib.pyplot as plt

    from .book import pool_reliability
    from .plots import plot_reliability

    keys = list(rows) if rows is not None else list(runs)
    rel = {k: pool_reliability([_Run(r) for r in runs[k]]) for k in keys if runs.get(k)}
    rel = {k: v for k, v in rel.items() if sum(v["bin_count"])}
    if not rel:
        _style()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ax.set_title(title or "Reliability diagrams (test set)")
        _note(ax, "no finished runs yet")
        return fig
    suffixes = {k[k.rfind(" ["):] if k.endswith("]") and " [" in k else "" for k in rel}
    common = suffixes.pop() if len(suffixes) == 1 else ""
    if common:  # e.g. " [model=PreAct ResNet-18]" on every row: said once, in the title
        rel = {k[:-len(common)]: v for k, v in rel.items()}
    fig = plot_reliability(rel, title=(title or "Reliability diagrams (test set, bins pooled over seeds)")
                           + (f", {common.strip(' []')}" if common else ""))
    return fig


def plot_fgsm(df, *, title: str | None = None):
    """Test error against the FGSM step ε (ε = 0: the clean test error), one line per row, ± std over seeds."""
    import matplotlib.pyplot as plt

    _style()
    eps = sorted(float(c[len("fgsm_error_"):-len("_mean")]) for c in df.columns
                 if c.startswith("fgsm_error_") and c.endswith("_mean"))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    drawn = False
    for _, r in _runnable(df).iterrows():
        if int(r["n_done"]) == 0:
            continue
        xs, ys, es = [0.0], [float(r["final_error_mean"])], [r["final_error_std"]]
        for e in eps:
            xs.append(e)
            ys.append(float(r[f"fgsm_error_{e:g}_mean"]))
            es.append(r[f"fgsm_error_{e:g}_std"])
        es = [0.0 if _isnan(v) else float(v) for v in es]
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=f"{r['row']} (n={int(r['n_done'])})")
        drawn = True
    ax.set_xlabel("FGSM step ε (pixel units in [0, 1]; 0 = clean test set)")
    ax.set_ylabel("test error (%)")
    ax.set_title(title or f"Error under FGSM attacks ({df.attrs.get('scale', '')} scale)")
    return _finish(fig, ax, drawn, "no finished runs yet", legend_size=8)


def plot_eps_validation(df, metric: str = "median_last10_error", *, title: str | None = None):
    """Validation error and test error against ε (mixup + label smoothing, α = 1; ε = 0 is mixup), with the ε
    selected on validation marked."""
    import matplotlib.pyplot as plt

    _style()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    drawn = False
    for group, name, marker in (("selection", "validation (80/20 split of the training set)", "o"),
                                ("full training set", "test (trained on the full training set)", "s")):
        sub = df[(df["group"] == group) & (df["n_done"] > 0)]
        if sub.empty:
            continue
        eps = [float(_row_param("eps_validation", lab, "label_smoothing")) for lab in sub["row"]]
        order = sorted(range(len(eps)), key=lambda i: eps[i])
        ax.errorbar([eps[i] for i in order], [float(sub.iloc[i][f"{metric}_mean"]) for i in order],
                    yerr=[0.0 if _isnan(sub.iloc[i][f"{metric}_std"]) else float(sub.iloc[i][f"{metric}_std"])
                          for i in order], marker=marker, capsize=3, label=name)
        drawn = True
    sel = df.attrs.get("selected_eps")
    if sel is not None:
        ax.axvline(sel, color="black", ls=":", lw=1.2, label=f"selected ε = {sel:g}")
    ax.set_xlabel("label smoothing ε (0 = mixup)")
    ax.set_ylabel(_metric_text(metric))
    ax.set_title(title or f"Choosing ε on a validation split ({df.attrs.get('scale', '')} scale)")
    return _finish(fig, ax, drawn, "no finished runs yet", legend_size=8)


# ----------------------------------------------------------------------------------------------------------
# README
# ----------------------------------------------------------------------------------------------------------
README_START = "<!-- results:start -->"
README_END = "<!-- results:end -->"

_README_TABLES: dict[str, tuple] = {
    # table: (row labels to show or None for every runnable row, metrics)
    "headline": (None, ("median_last10_error", "final_error")),
    "ablation": (("ERM", "mixup AC + RP", "label smoothing ε=0.1", "mix inputs + label smoothing ε=0.1",
                  "Gaussian noise σ=0.1", "mixup + label smoothing ε=0.1"), ("median_last10_error",)),
    "label_noise": (("ERM", "ERM + dropout p=0.5", "mixup α=8", "mixup α=8 + dropout p=0.5"),
                    ("best_error", "final_error", "train_error_noisy_labels")),
    "uci": (None, ("final_error",)),
    "calibration": (None, ("final_ece", "final_nll", "overconfidence")),
    "robustness": (None, ("final_error", "fgsm")),
    "eps_validation": (None, ("median_last10_error",)),
    "training_length": (None, ("final_error", "median_last10_error")),
}


def _md_cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _readme_table(df, name: str) -> tuple[list[str], dict]:
    from .experiments import _fmt_num, _metric_name

    labels, metrics = _README_TABLES[name]
    metrics = [m for mm in metrics for m in ([c[:-5] for c in df.columns if c.startswith("fgsm_error_")
                                              and c.endswith("_mean")] if mm == "fgsm" else [mm])]
    d = _runnable(df)
    if labels is not None:
        d = d[d["row"].isin(labels)]
    keys = [k for k in df.attrs.get("key_columns", []) if k in d.columns]
    paper_col = "paper" if "paper" in d.columns else "paper (CIFAR)"
    header = ["row", *keys, "seeds done"] + [_metric_name(m) for m in metrics] + ["published", "source"]
    body = []
    sources: dict[str, str] = {}
    for _, r in d.iterrows():
        p, src = r.get(paper_col), _s(r.get("paper source"))
        ptxt = "" if _isnan(p) and not isinstance(p, str) else (f"{p:g}" if isinstance(p, float) else str(p or ""))
        refs = []
        for s in [s.strip() for s in src.split(";") if s.strip()]:
            sources.setdefault(s, f"[{len(sources) + 1}]")
            refs.append(sources[s])
        cells = [r["row"], *[_s(r.get(k)) for k in keys], r["status"]]
        cells += ["—" if r["status"] in ("pending", "not selected") else
                  _fmt_num(r.get(f"{m}_mean"), r.get(f"{m}_std"), m) for m in metrics]
        cells += [ptxt, " ".join(refs)]
        body.append(cells)
    if not any(c[-2] or c[-1] for c in body):  # no published number in this table: no empty columns
        header, body = header[:-2], [c[:-2] for c in body]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in cells) + " |" for cells in body]
    return lines, sources


def readme_summary(results_dir="results", speed_dir=None) -> str:
    """The README's results section (markdown) from the results files under ``results_dir``.

    For the ``cpu`` scale (``results_dir/cpu``) and, when ``results_dir/paper`` holds results, the ``paper``
    scale: the scale's protocol, then for every table its key rows (mean ± std over seeds, seeds done /
    expected, the published number with its source), and the verdicts of :func:`assess_claims`; last the speed
    measurements in ``speed_dir`` (default: ``benchmarks/results`` beside ``results_dir``, see
    :func:`mixup_repro.speed.speed_summary`). Deterministic: the same files always give the same text.
    """
    from .claims import paired_claims, paired_claims_markdown
    from .experiments import SCALE_DATASETS, SCALE_NOTES, TABLES, summarize

    root = Path(results_dir)
    _check_results_root(root)
    out = ["Generated by `python -m mixup_repro report` from the committed results files (one JSON file per "
           "run, with its config, per-epoch curves and provenance) in "
           f"`{root.as_posix()}/<scale>/`; do not edit by hand (`python -m mixup_repro report --check` fails when "
           "this section is out of date). Cells are mean ± std over the finished seeds; 'seeds done' is finished / "
           "expected runs; rows not yet run show '0/n' and dashes. The book's chapters 4-9 show every row, "
           "the figures and the reasoning."]
    scales = ["cpu"] + (["paper"] if _has_results(root / "paper") else [])
    for scale in scales:
        folder = root / scale
        n_files = len([f for f in folder.glob("*.json") if not f.name.startswith(".")]) if folder.is_dir() else 0
        image_ds = SCALE_DATASETS[scale]
        out.append(f"### {'CPU' if scale == 'cpu' else 'Paper'} scale (`{folder.as_posix()}`, {n_files} results files)")
        out.append(SCALE_NOTES[scale])
        frames = {}
        for name, table in TABLES.items():
            if table.kind == "speech":  # its results live in results/speech (chapter 12), not results/<scale>
                continue
            ds = None if table.kind == "tabular" else image_ds
            df = summarize(name, scale, folder, dataset=ds)
            frames[name] = df
            lines, sources = _readme_table(df, name)
            head = f"#### {table.title}"
            note = table.notes.get(scale, "")
            if table.kind == "tabular":
                note = (table.notes.get("all", "").split(". ")[0] + ". " + note).strip()
            text = [head, f"Table `{name}`" + (f", {ds}" if ds else "") + (f". {note}" if note else "."),
                    "\n".join(lines)]
            if name == "eps_validation":
                sel = df.attrs.get("selected_eps")
                text.append("Selected ε: " + ("pending (validation runs incomplete)." if sel is None else
                                              f"{sel:g}" + (" (= mixup)." if sel == 0 else ".")))
            if sources:
                text.append("Sources: " + "; ".join(f"{ref} {s}" for s, ref in sources.items())
                            + (". The published numbers are CIFAR test errors (%), for orientation only."
                               if ds != "cifar10" else "."))
            out.append("\n\n".join(text))
            if name == "headline":
                verdicts = paired_claims(name, scale, folder, dataset=ds)
                out.append(f"#### Paired verdicts ({name}, {scale} scale)\n\n" + paired_claims_markdown(verdicts, scale))
        claims = assess_claims(**{n: frames[n] for n in _CLAIM_TABLES})
        lines = ["| claim | table | verdict | evidence |", "|---|---|---|---|"]
        for _, c in claims.iterrows():
            lines.append(f"| {_md_cell(c['claim'])} ({c['kind']}) | {c['table']} | **{c['verdict']}** | "
                         f"{_md_cell(c['evidence'])} |")
        out.append(f"#### All tables by the previous rule ({scale} scale)\n\nA difference counts only when it exceeds "
                   f"{claims.attrs['z']:g} standard errors of the difference (spread over seeds); fewer than 2 "
                   "seeds on a side is inconclusive.\n\n" + "\n".join(lines))
    if "paper" not in scales:
        out.append(f"### Paper scale\n\nPaper-scale runs need a GPU and are not done yet (`{(root / 'paper').as_posix()}` "
                   "holds no results). `python -m mixup_repro table all --scale paper --dataset cifar10 --out "
                   "results/paper` computes them.")
    from .speed import speed_summary

    speed = Path(speed_dir) if speed_dir is not None else root.parent / "benchmarks" / "results"
    out.append("### Speed\n\n" + speed_summary(speed, root / "precision"))
    return "\n\n".join(out) + "\n"


def _check_results_root(root: Path) -> None:
    """Refuse a results folder that is missing or whose ``cpu/`` holds no results file (a typo in
    ``--results-dir`` must not turn the README's tables into empty ones)."""
    if not root.is_dir():
        raise FileNotFoundError(f"results folder {root} does not exist (expected a folder holding cpu/ and "
                                "paper/, e.g. --results-dir results)")
    if not _has_results(root / "cpu"):
        raise FileNotFoundError(f"results folder {root} holds no results files in {root / 'cpu'} (expected "
                                f"<run_id>.json files there, e.g. --results-dir results)")


_SCALE_HEADING = re.compile(r"^### (CPU|Paper) scale \(`[^`]*`, (\d+) results files\)", re.MULTILINE)


def _section_counts(text: str) -> dict[str, int]:
    """The number of results files per scale that a results section reports in its headings."""
    return {m.group(1): int(m.group(2)) for m in _SCALE_HEADING.finditer(text)}


def _section(text: str) -> str:
    start, end = text.find(README_START), text.find(README_END)
    return text[start:end] if 0 <= start < end else ""


def _splice(text: str, summary: str, readme) -> str:
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < 0 or end < start:
        raise ValueError(f"{readme} lacks the markers {README_START} ... {README_END}")
    return text[:start + len(README_START)] + "\n" + summary + text[end:]


class FewerResultsError(ValueError):
    """:func:`update_readme` would replace the README's results with fewer results files."""


def update_readme(readme="README.md", results_dir="results", *, check: bool = False,
                  allow_fewer: bool = False) -> bool:
    """Rewrite the text between ``<!-- results:start -->`` and ``<!-- results:end -->`` of ``readme`` with
    :func:`readme_summary` (atomically, and only when it changes). Returns whether it changed (with
    ``check=True``: whether it would change; nothing is written). Raises ``FileNotFoundError`` for a missing
    README or a missing / empty results folder, ``ValueError`` when the markers are missing, and
    :class:`FewerResultsError` when a scale would show fewer results files than the README does now (unless
    ``allow_fewer``: e.g. after deliberately deleting runs)."""
    from .results import atomic_write_bytes

    path = Path(readme)
    text = path.read_text(encoding="utf-8")
    new = _splice(text, readme_summary(results_dir), path)
    if new == text:
        return False
    if not check and not allow_fewer:
        before, after = _section_counts(_section(text)), _section_counts(_section(new))
        fewer = [f"{scale} scale: {n} -> {after.get(scale, 0)}" for scale, n in before.items()
                 if after.get(scale, 0) < n]
        if fewer:
            raise FewerResultsError(f"refusing to rewrite {path}: {results_dir} holds fewer results files than "
                                    f"its results section shows ({'; '.join(fewer)}); check --results-dir, or "
                                    "pass --allow-fewer if results were removed on purpose")
    if not check:
        atomic_write_bytes(path, new.encode("utf-8"))
    return True


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------
_PROG = "mixup-repro report"


def _cmd_report(args) -> int:
    try:
        if args.print:
            sys.stdout.write(readme_summary(args.results_dir))
            return 0
        changed = update_readme(args.readme, args.results_dir, check=args.check, allow_fewer=args.allow_fewer)
    except (OSError, ValueError) as e:
        print(f"{_PROG}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    if args.check:
        if changed:
            print(f"{_PROG}: {args.readme} is out of date with {args.results_dir}; run: python -m mixup_repro "
                  f"report --readme {args.readme}", file=sys.stderr)
            return 1
        print(f"{args.readme} is up to date")
        return 0
    print(f"updated the results section of {args.readme}" if changed else f"{args.readme} is up to date")
    return 0


def register_cli(subparsers) -> argparse.ArgumentParser:
    """Add the ``report`` subcommand to an ``argparse`` subparsers object.

    ``report [--readme README.md] [--results-dir results] [--check | --print]``: rewrite the README's results
    section from the results files; ``--check`` writes nothing and exits 1 when the section is out of date
    (0 when it is current); ``--print`` prints the section. Exit 2: README or markers missing, results folder
    missing or empty, or fewer results files than the section shows (``--allow-fewer`` permits that).
    """
    p = subparsers.add_parser(
        "report", help="write the README's results section from the committed results files",
        description="Summarize every declared table at cpu scale (and paper scale when results/paper holds runs) "
                    f"and rewrite the text between {README_START} and {README_END} in the README.",
        epilog="example: python -m mixup_repro report --check")
    p.add_argument("--readme", default="README.md", help="README file with the results markers (default README.md)")
    p.add_argument("--results-dir", default="results", help="folder holding cpu/ and paper/ (default results)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="write nothing; exit 1 if the section is out of date")
    mode.add_argument("--print", action="store_true", help="print the section to stdout; write nothing")
    p.add_argument("--allow-fewer", action="store_true",
                   help="rewrite the section even if a scale now has fewer results files than it shows")
    p.set_defaults(func=_cmd_report)
    return p
