"""Paired statistics for the paper's claims: effect sizes with confidence intervals, a stated correction,
defined verdict words, and the regime check.

Every run of a table is paired by its seed: the same seed gives every method the same training subset, the
same initial weights and the same data order (see :func:`mixup_repro.train.fit`), and the CPU scale evaluates
every seed on the same test images. A claim "A is better than B on metric m" is judged from the per-seed
differences ``d_s = m(A, s) − m(B, s)`` over the seeds both rows finished:

* effect size: the mean difference with its 95 % confidence interval (Student's t with n − 1 degrees of
  freedom, :func:`scipy.stats.ttest_rel`), its two-sided p-value, and n;
* correction: the p-values of all claims judged together on one page are adjusted with Holm's step-down
  method (:func:`holm`), which controls the family-wise error rate at 5 %;
* verdict (:data:`VERDICTS`): *reproduced* when the Holm-adjusted p < 0.05 and the mean difference is in the
  claim's direction; *reversed* when adjusted p < 0.05 against it; *not detected* otherwise; *not applicable*
  when the runs did not reach the regime the claim is about (e.g. ERM did not fit its training data, so there
  is nothing for a regulariser to improve); *not tested* with fewer than 2 paired seeds.

The confidence interval shown is the unadjusted 95 % interval: after the correction a claim whose interval
just excludes 0 can still be *not detected*.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ._checks import check_real

__all__ = ["VERDICTS", "VERDICT_RULES", "PairedResult", "paired_difference", "holm", "judge", "regime_check",
           "REGIME_TRAIN_ERROR", "format_p", "result_cells"]

VERDICTS = ("reproduced", "not detected", "reversed", "not applicable", "not tested")
VERDICT_RULES = {
    "reproduced": "Holm-adjusted p < 0.05 and the mean paired difference in the paper's direction",
    "not detected": "Holm-adjusted p ≥ 0.05 (the 95 % CI of the difference may or may not include 0 before "
                    "the correction)",
    "reversed": "Holm-adjusted p < 0.05 and the mean paired difference against the paper's direction",
    "not applicable": "the runs did not reach the regime the claim is about: ERM's final error on its clean "
                      "training images above 1 % (nothing to regularise), or, for the label-noise claims, ERM's "
                      "training error on the corrupted labels above 10 % (nothing memorised to resist)",
    "not tested": "fewer than 2 seeds finished on both sides",
}
"""The verdict words, defined once (the book's chapters and the README use these and no others)."""

REGIME_TRAIN_ERROR = 1.0
"""ERM's error (%) on its unaugmented training images at the end of training below which a run is taken to
have fitted its training data (the regime in which mixup's claims are about regularisation)."""


@dataclass(frozen=True)
class PairedResult:
    """The paired comparison of ``a`` against ``b`` on one metric (``diff`` = a − b, per seed)."""

    n: int
    mean_diff: float
    ci_low: float
    ci_high: float
    p: float
    seeds: tuple = ()
    a_mean: float = math.nan
    b_mean: float = math.nan

    def text(self, digits: int = 2, unit: str = "") -> str:
        """``"Δ = −1.23 pp, 95 % CI [−2.01, −0.45], p = 0.012, n = 5"``."""
        if self.n < 2:
            return f"n = {self.n} paired seed(s): no interval"
        f = f".{digits}f"
        return (f"Δ = {self.mean_diff:+{f}}{unit}, 95 % CI [{self.ci_low:+{f}}, {self.ci_high:+{f}}], "
                f"p = {format_p(self.p, 'n/a')}, n = {self.n}")


def result_cells(r: PairedResult, padj: float) -> dict:
    """The shown cells of one paired claim (``mean A``, ``mean B``, ``Δ = A − B``, ``95 % CI``, ``p``, ``Holm p``,
    ``n``), as every claims table prints them: two decimals; no interval and no p-values below 2 pairs."""
    ok = r.n >= 2
    return {"mean A": f"{r.a_mean:.2f}" if r.n else "", "mean B": f"{r.b_mean:.2f}" if r.n else "",
            "Δ = A − B": f"{r.mean_diff:+.2f}" if r.n else "",
            "95 % CI": f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}]" if ok else "",
            "p": format_p(r.p) if ok else "", "Holm p": format_p(padj) if ok else "", "n": r.n}


def format_p(p: float, missing: str = "") -> str:
    """A p-value as the book shows it: ``< 0.001`` or three decimals; ``missing`` for NaN (no test)."""
    if math.isnan(p):
        return missing
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def paired_difference(a: Mapping[int, float], b: Mapping[int, float], *, confidence: float = 0.95) -> PairedResult:
    """Paired t statistics of ``a[s] − b[s]`` over the seeds ``s`` present (and finite) in both mappings.

    With fewer than 2 pairs the interval and p-value are NaN. When every difference is the same the interval
    is that value and p is 0 (all differences equal and non-zero) or 1 (all zero).
    """
    from scipy import stats as st

    confidence = check_real("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True)
    for name, m in (("a", a), ("b", b)):
        if not isinstance(m, Mapping):
            raise TypeError(f"{name} must map seed -> value, got {type(m).__name__}")
    seeds = tuple(sorted(s for s in set(a) & set(b) if _finite(a[s]) and _finite(b[s])))
    xa = np.array([float(a[s]) for s in seeds])
    xb = np.array([float(b[s]) for s in seeds])
    n = len(seeds)
    if n == 0:
        return PairedResult(0, math.nan, math.nan, math.nan, math.nan, seeds)
    d = xa - xb
    mean = float(d.mean())
    if n < 2:
        return PairedResult(n, mean, math.nan, math.nan, math.nan, seeds, float(xa.mean()), float(xb.mean()))
    if np.allclose(d, d[0], rtol=0, atol=1e-12):
        return PairedResult(n, mean, mean, mean, 1.0 if abs(mean) < 1e-12 else 0.0, seeds, float(xa.mean()),
                            float(xb.mean()))
    r = st.ttest_rel(xa, xb)
    ci = r.confidence_interval(confidence)
    return PairedResult(n, mean, float(ci.low), float(ci.high), float(r.pvalue), seeds, float(xa.mean()),
                        float(xb.mean()))


def _finite(v) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order (NaN stays NaN and is not counted)."""
    p = [float(v) for v in pvalues]
    idx = [i for i, v in enumerate(p) if not math.isnan(v)]
    m = len(idx)
    out = [math.nan] * len(p)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: p[i])):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def judge(result: PairedResult, adjusted_p: float, *, direction: str = "lower", applicable: bool = True) -> str:
    """The verdict word (:data:`VERDICTS`) for one claim that ``a`` is ``direction`` than ``b``."""
    if direction not in ("lower", "higher"):
        raise ValueError(f"direction must be 'lower' or 'higher', got {direction!r}")
    if result.n < 2 or math.isnan(adjusted_p):
        return "not tested"
    if not applicable:
        return "not applicable"
    if adjusted_p >= 0.05:
        return "not detected"
    wanted = result.mean_diff < 0 if direction == "lower" else result.mean_diff > 0
    return "reproduced" if wanted else "reversed"


def _span(lo, hi, fmt: str) -> str:
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}–{fmt.format(hi)}"


def regime_check(erm_records: Sequence[Mapping]) -> dict:
    """Whether ERM fitted its training data: its final training error (%) per seed and the first epoch it fell
    below :data:`REGIME_TRAIN_ERROR` (from ``summary.final_train_error`` / ``epoch_train_error_below_1``).

    ``reached`` is True when every run reports a final training error below the threshold, False when one
    does not, None when no run recorded it (runs from before the regime check existed).
    """
    per_seed, epochs = {}, {}
    for rec in erm_records:
        s = rec.get("summary", {})
        seed = rec.get("config", {}).get("seed")
        if _finite(s.get("final_train_error")):
            per_seed[seed] = float(s["final_train_error"])
            epochs[seed] = s.get("epoch_train_error_below_1")
    if not per_seed:
        return {"reached": None, "final_train_error": {}, "epoch_below_1": {}, "text": "not recorded"}
    reached = all(v < REGIME_TRAIN_ERROR for v in per_seed.values())
    worst = max(per_seed.values())
    ep = [e for e in epochs.values() if e is not None]
    total = next(iter(erm_records), {}).get("config", {}).get("epochs")
    if ep:
        when = f", first below 1 % at epoch {_span(min(ep), max(ep), '{}')}" + (f" of {total}" if total else "")
    else:  # never below 1 %: say how long the runs were
        when = f" after {total} epochs" if total else ""
    text = (f"ERM's final training error {_span(min(per_seed.values()), worst, '{:.2f}')} % over {len(per_seed)} "
            f"seed(s){when}: " + ("regime reached" if reached else "regime NOT reached"))
    return {"reached": reached, "final_train_error": per_seed, "epoch_below_1": epochs, "text": text}
