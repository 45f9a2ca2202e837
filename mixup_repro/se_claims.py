"""The paper's claims judged by the two-standard-error rule (the first rule of the book's table chapters).

:func:`compare` sets two rows of a :func:`~mixup_repro.experiments.summarize` frame against each other: a
difference counts only when it exceeds ``z`` (default 2) standard errors of the difference,
SE = sqrt(s_a^2 / n_a + s_b^2 / n_b) with s the standard deviation over seeds and n the number of finished seeds;
with fewer than 2 seeds on either side the comparison is inconclusive. :func:`assess_claims` judges every claim
of :data:`CLAIMS` from the frames of its tables (one row per claim, a verdict of :data:`VERDICTS` and the numbers
behind it); :func:`claims_table` and :func:`claims_markdown` show them. The paired statistics that replace this
rule table by table live in :mod:`mixup_repro.stats` and :mod:`mixup_repro.claims`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ._checks import check_real
from .frames import display_factor, is_missing, key_values, metric_digits, metric_text, pick_row

__all__ = ["VERDICTS", "CLAIMS", "CLAIM_TABLES", "Comparison", "compare", "assess_claims", "assess_scale",
           "claims_table", "claims_markdown"]

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
        if self.a_n < 2 or self.b_n < 2 or is_missing(self.a_std) or is_missing(self.b_std):
            return math.nan
        return math.sqrt(self.a_std ** 2 / self.a_n + self.b_std ** 2 / self.b_n)

    def text(self, with_metric: bool = False) -> str:
        """``"A 12.30 ± 0.40 (n=3) vs B 13.10 ± 0.50 (n=3): difference -0.80, 2 SE = 0.52"``."""
        d, k = metric_digits(self.metric), display_factor(self.metric)
        s = f"{self.a} {_fmt_stat(self.a_mean, self.a_std, self.a_n, self.metric)} vs " \
            f"{self.b} {_fmt_stat(self.b_mean, self.b_std, self.b_n, self.metric)}"
        if self.outcome in ("lower", "higher", "unclear"):
            s += f": difference {k * self.diff:+.{d}f}, {self.z:g} SE = {k * self.z * self.se:.{d}f}"
        elif self.outcome == "few seeds":
            s += ": fewer than 2 seeds"
        if with_metric:
            s = f"{metric_text(self.metric)}: {s}"
        return s


def _fmt_stat(mean, std, n, metric) -> str:
    if not n or is_missing(mean):
        return "(no runs yet)"
    d, k = metric_digits(metric), display_factor(metric)
    if n < 2 or is_missing(std):
        return f"{k * mean:.{d}f} (n={n})"
    return f"{k * mean:.{d}f} ± {k * std:.{d}f} (n={n})"


def _stats(row, metric) -> tuple[float, float, int]:
    if row is None:
        return math.nan, math.nan, 0
    mean = row.get(f"{metric}_mean", math.nan)
    std = row.get(f"{metric}_std", math.nan)
    n = int(row.get("n_done", 0) or 0)
    mean = math.nan if is_missing(mean) else float(mean)
    std = math.nan if is_missing(std) else float(std)
    return mean, std, (0 if is_missing(mean) else n)


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
    elif an < 2 or bn < 2 or is_missing(asd) or is_missing(bsd):
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
    groups = key_values(df, col) if col else [None]
    verdicts, parts = [], []
    for g in groups:
        keys = {col: g} if col else {}
        c = compare(pick_row(df, a_label, **keys), pick_row(df, b_label, **keys), metric, z=z,
                    a_name=a_name or a_label, b_name=b_name or b_label)
        verdicts.append(_VERDICT_OF[c.outcome])
        where = "" if g is None or len(groups) < 2 else f"{col} {g}: " if col == "label noise" else f"{g}: "
        parts.append(where + c.text())
    if not groups:
        return "not tested", "no runnable rows"
    return _combine(verdicts, mode), f"{metric_text(metric)}; " + "; ".join(parts)


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
    m = pick_row(rows, "mixup AC + RP")
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
    ev = [f"weight decay {wd}, {metric_text(metric)}"]
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
    ev = (f"weight decay {wd}, {metric_text(metric)}, best setting of each method family (mixup family "
          f"excluded): " + "; ".join(parts))
    return _claim("mix_inputs_ls_second", _combine(verdicts) if verdicts else "inconclusive", ev)


def _ls_noise(df, wd, metric, z):
    import pandas as pd

    rows = _ablation_rows(df, wd)
    m = pick_row(rows, "mixup AC + RP")
    erm = pick_row(rows, "ERM")
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
                    gains.append(f"{r['row']} {em - rm:+.{metric_digits(metric)}f}")
    ev = f"weight decay {wd}, {metric_text(metric)}; " + "; ".join(parts)
    if gains:
        ev += "; gain over ERM (ERM − row): " + ", ".join(gains)
    return _claim("ls_noise_small", _combine(verdicts), ev)


def _weight_decay(df, metric, z):
    rows = df[df["group"] == "paper ablation"]
    c1 = compare(pick_row(rows, "ERM", **{"weight decay": "5e-4"}), pick_row(rows, "ERM", **{"weight decay": "1e-4"}),
                 metric, z=z, a_name="ERM wd 5e-4", b_name="ERM wd 1e-4")
    c2 = compare(pick_row(rows, "mixup AC + RP", **{"weight decay": "1e-4"}),
                 pick_row(rows, "mixup AC + RP", **{"weight decay": "5e-4"}), metric, z=z,
                 a_name="mixup wd 1e-4", b_name="mixup wd 5e-4")
    verdict = _combine([_VERDICT_OF[c1.outcome], _VERDICT_OF[c2.outcome]])
    return _claim("weight_decay", verdict, f"{metric_text(metric)}; {c1.text()}; {c2.text()}")


def _uci_claim(cid, df, a_label, b_label, metric, z):
    verdict, ev = _pairwise_by(df, "dataset", a_label, b_label, metric, z, mode="some")
    return _claim(cid, verdict, ev)


def _fgsm_claim(df, z):
    cols = [c[:-5] for c in df.columns if c.startswith("fgsm_error_") and c.endswith("_mean")]
    if not cols:
        return _claim("fgsm", "not tested", "no FGSM errors in the table")
    m, e = pick_row(df, "mixup α=1"), pick_row(df, "ERM")
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
    vtext = ", ".join(f"ε={e:g}: {v:.2f}" for e, v in curve.items() if not is_missing(v))
    if sel == 0:
        return _claim("eps_selected", "does not hold",
                      f"validation selected ε = 0, i.e. plain mixup (validation {metric_text(metric)}: {vtext})")
    a = df[df["row"].astype(str).str.startswith("(a)")]
    c = df[df["row"].astype(str).str.startswith("(c)")]
    comp = compare(a.iloc[0] if len(a) else None, c.iloc[0] if len(c) else None, metric, z=z,
                   a_name=f"ε={sel:g} (selected)", b_name="mixup (ε=0)")
    return _claim("eps_selected", _VERDICT_OF[comp.outcome],
                  f"selected ε = {sel:g} (validation {metric_text(metric)}: {vtext}); test: {comp.text()}")


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


CLAIM_TABLES = ("headline", "ablation", "label_noise", "calibration", "uci", "robustness", "eps_validation")
"""The tables :func:`assess_claims` judges, in the order of its arguments."""


def assess_scale(scale: str, out, *, dataset: str | None = None, seeds=None, z: float = 2.0):
    """:func:`assess_claims` on every table of ``scale`` read (never run) from ``out``."""
    from .experiments import summarize

    frames = {n: summarize(n, scale, out, dataset=None if n == "uci" else dataset, seeds=seeds)
              for n in CLAIM_TABLES}
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
