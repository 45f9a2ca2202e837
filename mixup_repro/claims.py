"""The claims judged with paired statistics (:mod:`mixup_repro.stats`), declared beside the rows they compare.

Each :class:`PairedClaim` names two rows of a declared table by their keys; the keys are checked against
:data:`mixup_repro.experiments.TABLES` when this module is imported, so a renamed or removed row fails loudly
instead of turning a verdict into "not tested". :func:`paired_claims` judges every claim of one table from the
results files of one scale: per-seed differences, 95 % CI, p, Holm's correction over the table's claims, the
regime check, and the verdict word.
"""

from __future__ import annotations

from dataclasses import dataclass

from .stats import VERDICT_RULES, holm, judge, paired_difference, regime_check

__all__ = ["PairedClaim", "PAIRED_CLAIMS", "paired_claims", "paired_claims_markdown", "verdict_table", "discussion", "regime_line", "MEMORISED", "METRIC_UNITS"]

_PRE = "[model=PreAct ResNet-18]"


@dataclass(frozen=True)
class PairedClaim:
    """``a`` is ``direction`` than ``b`` on ``metric`` (rows by key of ``table``), claimed by ``source``."""

    id: str
    statement: str
    source: str          # "paper", "extension" (this book's question) or "related work (...)"
    table: str
    a: str
    b: str
    metric: str = "median_last10_error"
    direction: str = "lower"


METRIC_UNITS = {"median_last10_error": ("error", "pp", 1.0),  # the median test error of the last 10 epochs
                "final_ece": ("ECE", "pp", 100.0),  # stored as a fraction, shown in percent
                "final_nll": ("NLL", "", 1.0)}


def _unit(metric: str):
    if metric.startswith("fgsm_error_"):
        return f"FGSM ε = {metric.removeprefix('fgsm_error_')} error", "pp", 1.0
    return METRIC_UNITS[metric]


PAIRED_CLAIMS: tuple[PairedClaim, ...] = (
    PairedClaim("mixup1_vs_erm", "mixup (α = 1) has a lower test error than ERM", "paper", "headline",
                f"mixup α=1 {_PRE}", f"ERM {_PRE}"),
    PairedClaim("mixup02_vs_erm", "mixup (α = 0.2) has a lower test error than ERM", "paper", "headline",
                f"mixup α=0.2 {_PRE}", f"ERM {_PRE}"),
    *(PairedClaim(f"fgsm{e}_vs_erm", f"mixup (α = 1) has a lower error than ERM under FGSM, ε = {e}", "paper",
                  "headline", f"mixup α=1 {_PRE}", f"ERM {_PRE}", f"fgsm_error_{e}") for e in ("0.01", "0.03", "0.1")),
    PairedClaim("mixup_ece_vs_erm", "mixup (α = 1) is better calibrated (lower ECE) than ERM",
                "related work (Thulasidasan et al., 2019)", "headline", f"mixup α=1 {_PRE}", f"ERM {_PRE}",
                "final_ece"),
    PairedClaim("ls_vs_erm", "label smoothing (ε = 0.1) has a lower test error than ERM",
                "related work (Szegedy et al., 2016)", "headline", f"label smoothing ε=0.1 {_PRE}", f"ERM {_PRE}"),
    PairedClaim("mixup_ls_vs_mixup", "mixup + label smoothing (ε = 0.1) has a lower test error than mixup",
                "extension", "headline", f"mixup + label smoothing ε=0.1 {_PRE}", f"mixup α=1 {_PRE}"),
    PairedClaim("mixup_ls_ece_vs_mixup", "mixup + label smoothing (ε = 0.1) has a lower ECE than mixup",
                "extension", "headline", f"mixup + label smoothing ε=0.1 {_PRE}", f"mixup α=1 {_PRE}",
                "final_ece"),
)
"""Every paired claim, by table."""

REGIME_ROW = {"headline": f"ERM {_PRE}"}
"""The ERM row whose training error decides whether a table's runs reached the paper's regime."""


def _check_declarations() -> None:
    from .experiments import TABLES

    seen = set()
    for c in PAIRED_CLAIMS:
        if c.id in seen:
            raise ValueError(f"paired claim id {c.id!r} declared twice")
        seen.add(c.id)
        keys = {r.key for r in TABLES[c.table].rows}
        for side in (c.a, c.b):
            if side not in keys:
                raise ValueError(f"paired claim {c.id!r}: table {c.table!r} has no row {side!r}")
        _unit(c.metric)
    for table, key in REGIME_ROW.items():
        if key not in {r.key for r in TABLES[table].rows}:
            raise ValueError(f"regime row {key!r} is not a row of table {table!r}")


_check_declarations()


def _values(records, metric: str, scale: float) -> dict:
    out = {}
    for rec in records:
        v = rec.get("summary", {}).get(metric)
        if v is not None:
            out[rec["config"]["seed"]] = float(v) * scale
    return out


def paired_claims(table: str, scale: str, out, *, dataset: str | None = None, seeds=None):
    """One row per claim of ``table``: the paired effect, its CI, p, Holm p, n, the regime and the verdict.

    Reads the finished results files of ``table`` at ``scale`` in ``out`` (nothing is run). Returns a
    DataFrame with columns ``claim``, ``source``, ``metric``, ``mean A``, ``mean B``, ``Δ = A − B``, ``95 % CI``,
    ``p``, ``Holm p``, ``n``, ``verdict``, and the regime check as ``frame.attrs["regime"]``.
    """
    import pandas as pd

    from .experiments import row_runs

    claims = [c for c in PAIRED_CLAIMS if c.table == table]
    if not claims:
        raise ValueError(f"no paired claims are declared for table {table!r}")
    runs = row_runs(table, scale, out, dataset=dataset, seeds=seeds)
    regime = regime_check(runs.get(REGIME_ROW.get(table, ""), []))
    results = []
    for c in claims:
        _, unit, k = _unit(c.metric)
        results.append(paired_difference(_values(runs.get(c.a, []), c.metric, k),
                                         _values(runs.get(c.b, []), c.metric, k)))
    adjusted = holm([r.p for r in results])
    rows = []
    for c, r, padj in zip(claims, results, adjusted):
        name, unit, _ = _unit(c.metric)
        verdict = judge(r, padj, direction=c.direction, applicable=regime["reached"] is not False)
        ok = r.n >= 2
        rows.append({
            "claim": c.statement, "source": c.source, "metric": f"{name} ({'%' if unit == 'pp' else unit})",
            "mean A": round(r.a_mean, 2) if r.n else None, "mean B": round(r.b_mean, 2) if r.n else None,
            "Δ = A − B": f"{r.mean_diff:+.2f}" if r.n else "",
            "95 % CI": f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}]" if ok else "",
            "p": _p(r.p) if ok else "", "Holm p": _p(padj) if ok else "", "n": r.n, "verdict": verdict,
        })
    frame = pd.DataFrame(rows)
    frame.attrs["regime"] = regime
    return frame


def _delta_unit(metric_label: str) -> str:
    """``pp`` for a metric shown in %, its unit otherwise (``test NLL ()`` has none)."""
    unit = metric_label.rsplit("(", 1)[-1].rstrip(")") if "(" in metric_label else ""
    return "pp" if unit == "%" else unit


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def verdict_table(frame) -> list[str]:
    """A claims frame as markdown table lines: every cell whole, the verdict in bold, ``|`` escaped."""
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        cells = ["" if v is None or v != v else str(v) for v in row.tolist()]
        i = cols.index("verdict")
        cells[i] = f"**{cells[i]}**"
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def paired_claims_markdown(frame, scale: str) -> str:
    """The frame as a markdown table (nothing truncated), the regime line and the verdict rules."""
    shown = frame.drop(columns="source").rename(columns={"mean A": "A", "mean B": "B"})
    shown["claim"] = [f"{c} ({src})" for c, src in zip(frame["claim"], frame["source"])]  # narrower: no column
    shown = shown[["claim", "verdict"] + [c for c in shown.columns if c not in ("claim", "verdict")]]
    lines = verdict_table(shown)
    regime = frame.attrs.get("regime", {}).get("text", "not recorded")
    rules = "; ".join(f"*{k}*: {v}" for k, v in VERDICT_RULES.items())
    return "\n".join(lines) + (
        f"\n\nA and B are the means of the claim's two rows (A the first named); error is the median test error "
        f"of the last 10 epochs (the authors' statistic), FGSM errors and ECE are of the final model. Δ is the "
        f"mean over paired seeds (same seed ="
        f" same training subset, initialisation and data order; the same test images) of A − B, in percentage "
        f"points (pp) for errors and ECE. 95 % CI: Student's t over the paired differences; p: two-sided paired "
        f"t-test; Holm p: adjusted over the {len(frame)} claims of this table. Regime ({scale} scale): {regime}."
        f"\n\nVerdict words: {rules}.")


def discussion(frame, scale: str) -> str:
    """A paragraph written from ``frame`` (:func:`paired_claims`): the regime, then each claim's verdict with the
    numbers behind it, grouped by verdict. Every number in it is read from the frame, so it changes with them."""
    regime = frame.attrs.get("regime", {})
    if regime.get("reached") is None:
        lead = "No ERM run of this table has finished at this scale, so whether it reaches the paper's regime is not known yet."
    elif regime["reached"]:
        lead = (f"The runs are in the paper's regime: {regime['text'].split(': regime')[0]}, so there is something for "
                f"mixup to regularise.")
    else:
        lead = (f"The runs are **not** in the paper's regime ({regime['text'].split(': regime')[0]}): ERM does not fit "
                f"its training images, so every claim of this table is *not applicable* here.")
    done = frame[frame["n"] >= 2]
    parts = [lead]
    if done.empty:
        one = frame[frame["n"] == 1]
        if len(one):
            eg = one.iloc[0]
            parts.append(f"Only one paired seed has finished for any claim (n = 1), which gives no interval: for "
                         f"example, for the claim that {eg['claim']}, Δ = {eg['Δ = A − B']} on a single seed. No "
                         f"verdict is drawn from that; the table above fills in as the sweep finishes.")
        else:
            parts.append("No claim has finished runs on both sides yet.")
        return " ".join(parts)
    for verdict in ("reproduced", "reversed", "not detected", "not applicable"):
        rows = done[done["verdict"] == verdict]
        if rows.empty:
            continue
        items = "; ".join(f"{r['claim']} (Δ = {r['Δ = A − B']} {_delta_unit(r['metric'])}, 95 % CI "
                          f"{r['95 % CI']}, Holm p = {r['Holm p']}, n = {r['n']})" for _, r in rows.iterrows())
        parts.append(f"*{verdict.capitalize()}*: {items}.")
    n_min = int(done["n"].min())
    if n_min < 5:
        from scipy import stats as st

        parts.append(f"With as few as {n_min} paired seeds the 95 % interval uses Student's t = "
                     f"{st.t.ppf(0.975, n_min - 1):.1f}, and Holm's correction is over {len(frame)} claims: only large "
                     f"and consistent differences can be detected yet; more seeds narrow the intervals.")
    pending = frame[frame["n"] < 2]
    if len(pending):
        parts.append(f"{len(pending)} claim(s) have fewer than 2 paired seeds and are *not tested* yet.")
    parts.append(f"All of this is at the {scale} scale only; it says nothing directly about the paper's full-size, "
                 "200-epoch runs.")
    return " ".join(parts)


MEMORISED = 10.0
"""Training error (%) on the corrupted labels below which a run has memorised them (the label-noise regime)."""


def regime_line(table: str, scale: str, out, *, dataset: str | None = None, seeds=None) -> str:
    """The regime check of a table's runs, in words: for every ERM row, its final training error on its
    unaugmented training images (:func:`mixup_repro.stats.regime_check`); for the label-noise table, every row's
    final training error on the corrupted labels (memorised when below :data:`MEMORISED` %)."""
    from .experiments import TABLES, row_runs

    runs = row_runs(table, scale, out, dataset=dataset, seeds=seeds)
    rows = TABLES[table].rows
    if table == "label_noise":
        parts = []
        for r in rows:
            vals = [rec["curves"].get("train_error_noisy_labels", [None])[-1] for rec in runs.get(r.key, [])]
            vals = [v for v in vals if v is not None]
            if vals:
                state = "memorised" if max(vals) < MEMORISED else "not memorised" if min(vals) >= MEMORISED else "mixed"
                parts.append(f"{r.key}: {', '.join(f'{v:.1f}' for v in vals)} % ({state})")
        if not parts:
            return f"**Regime check ({scale} scale):** no finished run of this table yet."
        return (f"**Regime check ({scale} scale):** final training error on the corrupted labels (a run has "
                f"memorised them below {MEMORISED:g} %; the claim that mixup resists memorisation is about runs "
                f"where ERM memorises) — " + "; ".join(parts) + ".")
    parts = []
    for r in rows:
        if r.overrides.get("method") == "erm" and not r.overrides.get("dropout") and runs.get(r.key):
            parts.append(f"{r.key}: {regime_check(runs[r.key])['text']}")
    if not parts:
        return f"**Regime check ({scale} scale):** no finished ERM run of this table yet."
    return (f"**Regime check ({scale} scale):** the paper's claims are about networks that fit their training data "
            f"(ERM's training error below 1 %) — " + "; ".join(parts) + ".")
