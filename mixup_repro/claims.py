"""The claims of every declared table judged with paired statistics (:mod:`mixup_repro.stats`).

Each table of :mod:`mixup_repro.tables` declares its :class:`~mixup_repro.declare.PairedClaim` s beside its rows
(two rows by key, a metric, a direction, and the row whose runs decide whether the claim's regime was reached);
the keys are checked when the tables are built. :func:`paired_claims` judges every claim of one table from the
results files of one scale: per-seed differences, 95 % CI, p, Holm's correction over the table's claims, the
regime check, and the verdict word; :func:`paired_claims_markdown` and :func:`discussion` render the frame.
"""

from __future__ import annotations

import math
import re

from .declare import PairedClaim
from .frames import count_text
from .plan import row_runs
from .scales import fgsm_key, scale_fgsm
from .stats import holm, judge, paired_difference, regime_check, result_cells
from .summary import run_metric, summarize
from .tables import SELECTED_EPS_ROW, TABLES, eps_label

__all__ = ["PairedClaim", "PAIRED_CLAIMS", "paired_claims", "paired_claims_markdown", "verdict_table", "discussion",
           "regime_line", "TWIN_HOME", "p_phrase", "VERDICT_REMINDER", "MEMORISED", "METRIC_UNITS", "table_claims", "claim_regime", "memorisation_check"]

METRIC_UNITS = {"median_last10_error": ("error", "pp", 1.0),  # the median test error of the last 10 epochs
                "final_error": ("final error", "pp", 1.0),
                "best_error": ("best error", "pp", 1.0),
                "train_error_noisy_labels": ("train error on corrupted labels", "pp", 1.0),
                "final_ece": ("ECE", "pp", 100.0),  # stored as a fraction, shown in percent
                "final_nll": ("NLL", "", 1.0)}
"""metric -> (name, unit of a difference, factor from the stored value) of the metrics claims compare."""

MEMORISED = 10.0
"""Training error (%) on the corrupted labels below which a run has memorised them (the label-noise regime)."""


def _unit(metric: str):
    """(name, unit of a difference, factor) of ``metric``."""
    if metric.startswith("fgsm_error_"):
        return f"FGSM ε = {metric.removeprefix('fgsm_error_')} error", "pp", 1.0
    return METRIC_UNITS[metric]


PAIRED_CLAIMS: tuple[PairedClaim, ...] = tuple(c for t in TABLES.values() for c in t.claims)
"""Every paired claim, by table (declared with each table, ``Table.claims``)."""

for _c in PAIRED_CLAIMS:  # every claim's metric has a unit: a new metric fails here, at import
    _unit(_c.metric)
del _c


def table_claims(table: str, scale: str) -> list[PairedClaim]:
    """The claims of ``table`` that ``scale`` can test: a claim about rows not run there, or about an FGSM step not
    evaluated there, is left out."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; choose from {', '.join(TABLES)}")
    t = TABLES[table]
    runnable = {r.key for r in t.rows if r.runnable(scale)} | set(t.derived_rows)
    fgsm = {fgsm_key(e) for e in scale_fgsm(scale)}
    return [c for c in t.claims if c.a in runnable and c.b in runnable
            and (not c.metric.startswith("fgsm_error_") or c.metric in fgsm)]


def memorisation_check(erm_records) -> dict:
    """Whether ERM memorised its corrupted labels: its final training error on them (%) per seed, below
    :data:`MEMORISED` in every run (``reached``; None when no run recorded it), in the form of
    :func:`~mixup_repro.stats.regime_check`."""
    per_seed = {}
    for rec in erm_records:
        v = run_metric(rec, "train_error_noisy_labels")
        if v is not None:
            per_seed[rec.get("config", {}).get("seed")] = v
    if not per_seed:
        return {"reached": None, "final_train_error": {}, "text": "not recorded"}
    reached = all(v < MEMORISED for v in per_seed.values())
    lo, hi = min(per_seed.values()), max(per_seed.values())
    span = f"{lo:.1f}" if lo == hi else f"{lo:.1f}–{hi:.1f}"
    text = (f"ERM's final training error on the corrupted labels {span} % over {len(per_seed)} seed(s) (memorised "
            f"below {MEMORISED:g} %): " + ("regime reached" if reached else "regime NOT reached"))
    return {"reached": reached, "final_train_error": per_seed, "text": text}


def claim_regime(claim: PairedClaim, runs: dict) -> dict | None:
    """The regime check of ``claim``'s regime row from ``runs`` (row key -> records); None without a regime row."""
    if claim.regime is None:
        return None
    records = runs.get(claim.regime, [])
    return memorisation_check(records) if claim.regime_kind == "memorised" else regime_check(records)


def _combined_regime(regimes: dict) -> dict:
    """One regime record for a frame: the single regime row's, or all of them (``reached`` "partly" when mixed)."""
    if not regimes:
        return {"reached": None, "text": "no regime row: the claims apply whatever the runs reached"}
    if len(regimes) == 1:
        return next(iter(regimes.values()))
    known = [r["reached"] for r in regimes.values() if r["reached"] is not None]
    reached = None if not known else True if all(known) else False if not any(known) else "partly"
    return {"reached": reached, "text": "; ".join(f"{k}: {r['text']}" for k, r in regimes.items())}


def _values(records, metric: str, scale: float) -> dict:
    """Seed -> value of ``metric`` (times ``scale``) over ``records``."""
    out = {}
    for rec in records:
        v = run_metric(rec, metric)
        if v is not None:
            out[rec["config"]["seed"]] = v * scale
    return out


def _selected_eps_key(scale: str, out, dataset, seeds) -> str | None:
    """The test row of the ε selected on validation (see :func:`mixup_repro.summary.summarize`), None while
    the selection is pending."""
    sel = summarize("eps_validation", scale, out, dataset=dataset, seeds=seeds).attrs.get("selected_eps")
    return None if sel is None else f"test: {eps_label(sel)} [evaluated on=test]"


def _claim_row(c: PairedClaim, r, padj: float, verdict: str) -> dict:
    """One line of the claims frame."""
    name, unit, _ = _unit(c.metric)
    return {"claim": c.statement, "source": c.source, "metric": f"{name} ({'%' if unit == 'pp' else unit})",
            **result_cells(r, padj), "verdict": verdict}


def paired_claims(table: str, scale: str, out, *, dataset: str | None = None, seeds=None):
    """One row per claim of ``table``: the paired effect, its CI, p, Holm p, n, the regime and the verdict.

    Reads the finished results files of ``table`` at ``scale`` in ``out`` (nothing is run). Returns a
    DataFrame with columns ``claim``, ``source``, ``metric``, ``mean A``, ``mean B``, ``Δ = A − B``, ``95 % CI``,
    ``p``, ``Holm p``, ``n``, ``verdict``. Holm's correction is over the claims of the table judged at this scale.
    ``frame.attrs["regime"]`` is the regime check (:func:`claim_regime`; all regime rows when there are several,
    each in ``attrs["regimes"]``); a claim whose regime was not reached is *not applicable*.
    """
    import pandas as pd

    claims = table_claims(table, scale)
    if not claims:
        raise ValueError(f"no paired claims are declared for table {table!r}")
    runs = row_runs(table, scale, out, dataset=dataset, seeds=seeds)
    if any(SELECTED_EPS_ROW in (c.a, c.b) for c in claims):
        selected = _selected_eps_key(scale, out, dataset, seeds)
        runs[SELECTED_EPS_ROW] = runs.get(selected, []) if selected else []
    regimes = {c.regime: claim_regime(c, runs) for c in claims if c.regime is not None}
    results = []
    for c in claims:
        k = _unit(c.metric)[2]
        results.append(paired_difference(_values(runs.get(c.a, []), c.metric, k),
                                         _values(runs.get(c.b, []), c.metric, k)))
    twins = _headline_twins(table, scale, dataset, claims)
    own = [i for i in range(len(claims)) if i not in twins]
    adjusted = [math.nan] * len(claims)
    for i, padj in zip(own, holm([results[i].p for i in own])):
        adjusted[i] = padj
    home = paired_claims(TWIN_HOME, scale, out, dataset=dataset, seeds=seeds).set_index("claim") if twins else None
    rows = []
    for i, (c, r, padj) in enumerate(zip(claims, results, adjusted)):
        if i in twins:  # the same runs and metric as a headline claim: its verdict, from the headline's family
            row = {**home.loc[twins[i]].to_dict(), "claim": c.statement, "source": c.source}
            rows.append(row)
            continue
        applicable = c.regime is None or regimes[c.regime]["reached"] is not False
        rows.append(_claim_row(c, r, padj, judge(r, padj, direction=c.direction, applicable=applicable)))
    frame = pd.DataFrame(rows)[list(_claim_row(claims[0], results[0], 0.0, "").keys())]
    frame.attrs["twins"] = {claims[i].statement: h for i, h in twins.items()}
    if len(twins) == len(claims):  # every claim is a headline claim (calibration, robustness): judged there
        frame.attrs["judged_in"] = TWIN_HOME
    frame.attrs["regime"] = _combined_regime(regimes)
    frame.attrs["regimes"] = regimes
    frame.attrs["table"] = table
    frame.attrs["regime_kinds"] = sorted({c.regime_kind for c in claims if c.regime is not None})
    frame.attrs["directions"] = [c.direction for c in claims]  # row by row: "lower" or "higher"
    frame.attrs["p_values"] = [r.p for r in results]  # unrounded, before and after Holm's correction
    frame.attrs["holm_p"] = adjusted
    return frame


TWIN_HOME = "headline"
"""The table whose claims a claim of another table repeats when both compare the same runs on the same metric (the
ablation's mixup against ERM at weight decay 1e-4, the ε table's fixed ε against mixup): such a claim is judged once,
in this table's Holm family, and the other table shows that verdict."""


def _headline_twins(table: str, scale: str, dataset, claims) -> dict[int, str]:
    """Index in ``claims`` -> the statement of the :data:`TWIN_HOME` claim that compares the same runs (run ids of
    seed 0) on the same metric."""
    from .plan import table_configs
    from .train import run_id

    if table == TWIN_HOME or TABLES[table].kind != "image":
        return {}

    def rid(name, row):
        if row == SELECTED_EPS_ROW:
            return None
        cfgs = table_configs(name, scale, dataset, [0], [row])
        return run_id(cfgs[0][1]) if cfgs else None

    home = {(rid(TWIN_HOME, c.a), rid(TWIN_HOME, c.b), c.metric): c.statement for c in table_claims(TWIN_HOME, scale)}
    out = {}
    for i, c in enumerate(claims):
        key = (rid(table, c.a), rid(table, c.b), c.metric)
        if None not in key[:2] and key in home:
            out[i] = home[key]
    return out


def _delta_unit(metric_label: str) -> str:
    """``pp`` for a metric shown in %, its unit otherwise (``test NLL ()`` has none)."""
    unit = metric_label.rsplit("(", 1)[-1].rstrip(")") if "(" in metric_label else ""
    return "pp" if unit == "%" else unit


def p_phrase(name: str, shown: str) -> str:
    """``name`` and a p-value as shown by :func:`mixup_repro.stats.format_p`, in a sentence: ``Holm p = 0.053``, ``Holm p < 0.001``."""
    return f"{name} {shown}" if str(shown).startswith("<") else f"{name} = {shown}"


VERDICT_REMINDER = ("Verdict words (defined once, in the introduction): *reproduced* / *reversed*: Holm-adjusted "
                    "p < 0.05 with Δ in / against the claim's direction; *not detected*: Holm p ≥ 0.05; *not "
                    "applicable*: the claim's regime was not reached; *not tested*: fewer than 2 paired seeds")
"""The one-line reminder under every verdict table (the full rules, :data:`~mixup_repro.stats.VERDICT_RULES`, are
printed once, in chapter 1)."""


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
    import pandas as pd

    shown = frame.rename(columns={"mean A": "A", "mean B": "B"})
    # narrower: the source and the metric go with the claim, the CI with Δ
    twins = frame.attrs.get("twins", {})
    shown["claim"] = [f"{c} ({src}; {m})" + (f" — the {TWIN_HOME} table's claim on the same runs, counted there"
                                               if c in twins else "")
                      for c, src, m in zip(frame["claim"], frame["source"], frame["metric"])]
    shown["Δ [95 % CI]"] = [f"{d} {ci}".strip() for d, ci in zip(frame["Δ = A − B"], frame["95 % CI"])]
    shown = shown[["claim", "verdict", "A", "B", "Δ [95 % CI]", "p", "Holm p", "n"]]
    # a claim with no paired seed yet has no numbers: named in one sentence, not a row of blanks
    empty = list(pd.to_numeric(frame["n"], errors="coerce").fillna(0) == 0)
    lines = verdict_table(shown[[not e for e in empty]]) if not all(empty) else []
    if any(empty):
        names = [c for c, e in zip(frame["claim"], empty) if e]
        lines += ["", f"*Not tested* yet, no paired seed finished ({count_text(len(names), 'claim')}): "
                      + "; ".join(names) + "."]
    regime = frame.attrs.get("regime", {}).get("text", "not recorded")
    rules = VERDICT_REMINDER
    if any(str(m).startswith("error (") for m in frame["metric"]):
        metrics = ("error is the median test error of the last 10 epochs (the authors' statistic), FGSM errors and "
                   "ECE are of the final model")
    else:
        metrics = "each metric as named after the claim (final: of the final model; best: the lowest over the epochs)"
    if "memorised" in frame.attrs.get("regime_kinds", ()):
        rules += (f"; for this table the regime is that ERM memorised the corrupted labels (final training error on "
                  f"them below {MEMORISED:g} %)")
    return "\n".join(lines) + (
        f"\n\nA and B are the means of the claim's two rows over its n paired seeds (A the first named; a row's "
        f"mean over all its seeds is in the table above); {metrics}. Δ is the "
        f"mean over paired seeds (same seed ="
        f" same training subset, initialisation and data order; the same test images) of A − B, in percentage "
        f"points (pp) for errors and ECE. 95 % CI: Student's t over the paired differences; p: two-sided paired "
        f"t-test; Holm p: adjusted over {_holm_scope(frame)}. Regime ({scale} scale): {regime}."
        f"\n\n{rules}.")


def _holm_scope(frame) -> str:
    """What Holm's correction ran over: the claims with at least 2 paired seeds (the others have no p-value)."""
    if frame.attrs.get("judged_in"):
        return (f"the claims of the {frame.attrs['judged_in']} table, where these claims are judged (the same runs: "
                "one test, one verdict)")
    twins = frame.attrs.get("twins", {})
    twin_text = (f"; {len(twins)} claim(s) repeat a claim of the {TWIN_HOME} table on the same runs ("
                 + "; ".join(twins) + ") and carry its verdict and Holm p, judged once in that table's family"
                 if twins else "")
    own = frame[~frame["claim"].isin(set(twins))]
    tested = int((own["n"] >= 2).sum())
    if tested == len(own):
        return f"the {count_text(len(own), 'claim')} of this table{twin_text}"
    return (f"the {count_text(tested, 'claim')} of this table tested so far (of {len(own)}; the others have fewer than 2 paired "
            f"seeds){twin_text}")


def discussion(frame, scale: str) -> str:
    """A paragraph written from ``frame`` (:func:`paired_claims`): the regime, then each claim's verdict with the
    numbers behind it, grouped by verdict. Every number in it is read from the frame, so it changes with them."""
    regime = frame.attrs.get("regime", {})
    if "regimes" in frame.attrs and not frame.attrs["regimes"]:
        lead = "These claims do not depend on a regime check: they are judged whatever ERM reached."
    elif regime.get("reached") is None:
        lead = "No ERM run of this table has finished at this scale, so whether it reaches the paper's regime is not known yet."
    elif regime["reached"] == "partly":
        lead = (f"Only part of the runs are in the paper's regime ({regime['text']}); the claims about the others are "
                f"*not applicable* here.")
    elif regime["reached"]:
        lead = (f"The runs are in the paper's regime: {regime['text'].split(': regime')[0]}, so there is something for "
                f"mixup to regularise.")
    else:
        what = ("ERM did not memorise the corrupted labels" if "memorised" in frame.attrs.get("regime_kinds", ())
                else "ERM does not fit its training images")
        lead = (f"The runs are **not** in the paper's regime ({regime['text'].split(': regime')[0]}): {what}, so "
                f"every claim of this table is *not applicable* here.")
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
        # one bullet per claim: a paragraph of a dozen claims with their numbers cannot be read
        items = "\n".join(f"- {r['claim']}: Δ = {r['Δ = A − B']} {_delta_unit(r['metric'])}, 95 % CI "
                           f"{r['95 % CI']}, {p_phrase('Holm p', r['Holm p'])}, n = {r['n']}"
                           for _, r in rows.iterrows())
        parts.append(f"\n\n*{verdict.capitalize()}* ({count_text(len(rows), 'claim')}):\n\n{items}\n\n")
        if verdict == "not detected" and len(rows) >= 2 and "directions" in frame.attrs:
            parts.append(_sign_count(rows, frame.attrs["directions"], frame.index))
    n_min = int(done["n"].min())
    if n_min < 5:
        from scipy import stats as st

        parts.append(f"With as few as {n_min} paired seeds the 95 % interval uses Student's t = "
                     f"{st.t.ppf(0.975, n_min - 1):.1f}, and Holm's correction is over {_holm_scope(frame)}: only large "
                     f"and consistent differences can be detected yet; more seeds narrow the intervals.")
    pending = frame[frame["n"] < 2]
    if len(pending):
        parts.append(f"{len(pending)} claim(s) have fewer than 2 paired seeds and are *not tested* yet.")
    parts.append(f"All of this is at the {scale} scale only; it says nothing directly about the paper's full-size, "
                 "200-epoch runs.")
    return re.sub(r"[ ]*\n{2,}[ ]*", "\n\n", " ".join(parts)).strip()


def _sign_count(rows, directions, index) -> str:
    """How many of ``rows`` (claims not detected) have their mean paired difference on the side the claim
    predicts: a description of the runs, not a test (the claims of a table share runs, so they are not
    independent)."""
    side = dict(zip(index, directions))
    with_claim = against = 0
    for i, r in rows.iterrows():
        d = float(r["Δ = A − B"])
        if d != 0:
            if (d < 0) == (side[i] == "lower"):
                with_claim += 1
            else:
                against += 1
    return (f"Of these {len(rows)} claims not detected, {with_claim} have their mean Δ on the side the claim "
            f"predicts and {against} on the other side{' (the rest are exactly 0)' if with_claim + against < len(rows) else ''}. "
            f"This count describes the runs; it is not a test: the claims of one table share runs (several "
            f"compare different rows with the same runs), so they are not independent.")


def regime_line(table: str, scale: str, out, *, dataset: str | None = None, seeds=None) -> str:
    """The regime check of a table's runs, in words: for every ERM row, its final training error on its
    unaugmented training images (:func:`mixup_repro.stats.regime_check`); for the label-noise table, every row's
    final training error on the corrupted labels (memorised when below :data:`MEMORISED` %)."""
    runs = row_runs(table, scale, out, dataset=dataset, seeds=seeds)
    rows = TABLES[table].rows
    if table == "label_noise":
        groups: dict[str, list[str]] = {}  # by noise level: the row labels are not repeated with it
        for r in rows:
            vals = [rec["curves"].get("train_error_noisy_labels", [None])[-1] for rec in runs.get(r.key, [])]
            vals = [v for v in vals if v is not None]
            if vals:
                level = r.key[len(r.label):].strip(" []").replace("=", " ")
                k = sum(v < MEMORISED for v in vals)
                spread = f" [{min(vals):.1f}–{max(vals):.1f}]" if len(vals) > 1 else ""
                groups.setdefault(level, []).append(
                    f"{r.label} {sum(vals) / len(vals):.1f} %{spread} ({k}/{len(vals)})")
        if not groups:
            return f"**Regime check ({scale} scale):** no finished run of this table yet."
        return (f"**Regime check ({scale} scale):** final training error on the corrupted labels, mean [min–max] "
                f"over seeds, and how many seeds memorised them (error below {MEMORISED:g} %); the claim that mixup "
                f"resists memorisation is about runs where ERM memorises. "
                + " ".join(f"**{level}**: " + "; ".join(items) + "." for level, items in groups.items()))
    parts = []
    erm_rows = [r for r in rows if r.overrides.get("method") == "erm" and not r.overrides.get("dropout")]
    for r in erm_rows:
        if runs.get(r.key):
            parts.append(f"{r.key}: {regime_check(runs[r.key])['text']}")
    if not erm_rows and table != "headline":  # e.g. the ε table: the headline's ERM, trained by the same protocol
        line = regime_line("headline", scale, out, dataset=dataset)
        return line.replace(f"**Regime check ({scale} scale):**",
                            f"**Regime check ({scale} scale):** this table has no ERM row; the headline table's ERM "
                            "runs (the same protocol) say whether it is in the paper's regime:", 1)
    if not parts:
        return f"**Regime check ({scale} scale):** no finished ERM run of this table yet."
    free = "" if any(c.regime for c in TABLES[table].claims) else (
        " This table's claims do not depend on this check (they declare no regime row): it is shown to say how far "
        "ERM fitted its training data, and their verdicts stand whatever it says.")
    return (f"**Regime check ({scale} scale):** the paper's claims are about networks that fit their training data "
            f"(ERM's training error below 1 %) — " + "; ".join(parts) + "." + free)
