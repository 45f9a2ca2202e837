"""Summaries of a declared table from its results files, and their rendering as markdown.

:func:`summarize` reduces the finished runs of each row to mean ± std over seeds (with the paper's numbers),
:func:`format_table` renders the frame as markdown, :func:`write_summary` writes ``<out>/tables/<name>.csv`` and
``.md``. :func:`run_metric` reads one metric of one results record (the summary's value, or the last point of a
curve), :func:`format_number` and :func:`metric_name` are the cell and column texts shared with the report.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path

from .declare import BASE_METRICS, METRIC_NAMES
from .files import atomic_write_bytes
from .frames import is_missing
from .metrics import overconfidence
from .plan import plan_table
from .results import read_or_warn
from .scales import eps_str
from .tables import EPS_CANDIDATES, EPS_FIXED, eps_label
from .train import result_path

__all__ = ["DISPLAY_SCALE", "display_value", "format_number", "metric_name", "run_metric", "summarize",
           "format_table", "write_summary"]

CURVE_METRICS = ("train_error_noisy_labels", "train_error_clean_labels")
"""Metrics read as the last point of a curve of the results file (not from its summary)."""


def run_metric(rec: dict, metric: str) -> float | None:
    """``metric`` of one results record: ``overconfidence`` from its reliability bins, the memorisation metrics
    as the last point of their curve, every other metric from its summary; None when it is not recorded."""
    s, curves = rec.get("summary", {}), rec.get("curves", {})
    if metric == "overconfidence":
        v = overconfidence(s.get("reliability") or {})
    elif metric in CURVE_METRICS:
        seq = curves.get(metric) or []
        v = seq[-1] if seq else None
    else:
        v = s.get(metric)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample std of ``values`` (NaN when empty; std NaN for one value)."""
    if not values:
        return math.nan, math.nan
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else math.nan
    return mean, std


def summarize(name: str, scale: str, out, dataset: str | None = None, seeds: Sequence[int] | None = None,
              rows: Sequence[str] | None = None):
    """One row per table row: runs done / expected, mean and std over seeds, and the paper's numbers.

    Columns: ``row`` (label), the table's key columns, ``group``, ``status`` (``"2/3"`` or ``"not run"``),
    ``n_done``, ``n_expected``, ``<metric>_mean`` / ``<metric>_std`` for the final error, the authors'
    statistic ``median_last10_error``, ``final_nll``, ``final_ece`` and the table's extra metrics, then
    the paper's number(s): ``paper`` (the published error on this dataset, CIFAR only) or, on other
    datasets, ``paper (CIFAR)`` (the CIFAR numbers, labelled as such), and ``paper source``. Only results
    files of the table's configs are read; an unreadable one counts as not done (with a warning). The
    frame's ``attrs`` hold the table's title, scale, dataset, scale note and shown metrics; for
    ``eps_validation`` also ``selected_eps`` and three comparison rows (a), (b), (c).
    """
    import pandas as pd

    table, dataset, plan = plan_table(name, scale, dataset, seeds, rows)
    metrics = table.metric_list(scale)
    key_cols = list(dict.fromkeys(k for r, _ in plan for k in r.columns))
    cifar = dataset in ("cifar10", "cifar100")
    records = []
    for row, cfgs in plan:
        rec = {"row": row.label, **{k: row.columns.get(k, "") for k in key_cols}, "group": row.group}
        values = {m: [] for m in metrics}
        if cfgs is None:
            rec.update(status="not run", n_done=0, n_expected=0, note=row.skip[scale])
        else:
            n_done = 0
            for cfg in cfgs:
                path = result_path(cfg, out)
                if not path.exists():
                    continue
                r = read_or_warn(path)
                if r is None:
                    continue
                n_done += 1
                for m, v in ((m, run_metric(r, m)) for m in metrics):
                    if v is not None:
                        values[m].append(v)
            rec.update(status=f"{n_done}/{len(cfgs)}", n_done=n_done, n_expected=len(cfgs), note="")
        for m in metrics:
            rec[f"{m}_mean"], rec[f"{m}_std"] = _mean_std(values[m])
        if cifar:
            hit = [p for p in row.paper if p.dataset == dataset]
            rec["paper"] = hit[0].error if hit else math.nan
            rec["paper source"] = hit[0].source if hit else ""
        else:
            rec["paper (CIFAR)"] = "; ".join(p.short() for p in row.paper)
            rec["paper source"] = "; ".join(dict.fromkeys(p.source for p in row.paper))
        records.append(rec)
    df = pd.DataFrame(records)
    df.attrs.update(table=name, title=table.title, scale=scale, dataset=dataset or "per row",
                    scale_note=table.scale_note(scale), metrics=table.shown_metrics(scale),
                    key_columns=key_cols)
    if name == "eps_validation":
        df = _eps_selection(df, plan)
    return df


def _eps_selection(df, plan):
    """Append the comparison rows of the ε-selection experiment and mark the selected ε."""
    import pandas as pd

    attrs = dict(df.attrs)
    labels = [r.label for r, _ in plan]
    stat = "median_last10_error_mean"
    val = {e: labels.index(f"validation: {eps_label(e)}") for e in EPS_CANDIDATES
           if f"validation: {eps_label(e)}" in labels}
    test = {e: labels.index(f"test: {eps_label(e)}") for e in EPS_CANDIDATES
            if f"test: {eps_label(e)}" in labels}
    complete = {e: i for e, i in val.items()
                if df.loc[i, "n_expected"] > 0 and df.loc[i, "n_done"] == df.loc[i, "n_expected"]}
    selected = None
    if complete and len(complete) == len(EPS_CANDIDATES):
        selected = min(complete, key=lambda e: (df.loc[complete[e], stat], e))
    df["selected"] = ""
    if selected is not None:
        df.loc[val[selected], "selected"] = "✓"
        if selected in test:
            df.loc[test[selected], "selected"] = "✓"
    extra = []
    for tag, e, text in (("(a)", selected, "mixup + label smoothing at the selected ε"),
                         ("(b)", EPS_FIXED, f"mixup + label smoothing at the fixed ε={EPS_FIXED:g}"),
                         ("(c)", 0.0, "mixup (ε=0)")):
        if e is None or e not in test:
            rec = {"row": f"{tag} {text}" + (" (selection pending)" if e is None else ""), "group": "comparison",
                   "status": "pending" if e is None else "not selected", "n_done": 0, "n_expected": 0}
        else:
            rec = df.loc[test[e]].to_dict()
            rec.update(row=f"{tag} {text}" + (f" (ε={eps_str(e)})" if tag == "(a)" else ""), group="comparison",
                       selected="")
        extra.append(rec)
    df = pd.concat([df, pd.DataFrame(extra)], ignore_index=True)
    df.attrs.update(attrs)
    df.attrs["selected_eps"] = selected
    df.attrs["validation_curve"] = {e: float(df.loc[i, stat]) for e, i in val.items()}
    if selected is not None and len(complete) > 1:  # how clear the choice is: the gap to the runner-up
        runner = min((e for e in complete if e != selected), key=lambda e: (df.loc[complete[e], stat], e))
        sd = df.loc[complete[selected], stat.replace("_mean", "_std")]
        df.attrs["selection_margin"] = {"runner_up": runner, "gap": float(df.loc[complete[runner], stat])
                                        - float(df.loc[complete[selected], stat]),
                                        "std": None if is_missing(sd) else float(sd)}
    return df


DISPLAY_SCALE = {"final_ece": 100.0, "test_ece": 100.0}
"""Metrics stored as a fraction (results files, summary frames) and displayed in percent: value x factor."""


def display_value(metric: str, value):
    """``value`` of ``metric`` in its display unit (the ECE, stored as a fraction, in percent); None/NaN kept."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return value
    return float(value) * DISPLAY_SCALE.get(metric, 1.0)


def format_number(mean, std, metric) -> str:
    """A table cell: ``mean ± std`` of ``metric`` in its display unit (3 digits for the NLL, else 2), ``—`` for
    a missing mean, the mean alone for a missing std."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    digits = 3 if metric == "final_nll" else 2
    mean = display_value(metric, mean)
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {display_value(metric, std):.{digits}f}"


def metric_name(m: str) -> str:
    """The column title of metric ``m``, e.g. ``final error (%)``, ``FGSM ε=0.03 error (%)``."""
    if m.startswith("fgsm_error_"):
        return f"FGSM ε={m[len('fgsm_error_'):]} error (%)"
    return METRIC_NAMES.get(m, m)


def format_table(df) -> str:
    """Markdown rendering of a :func:`summarize` frame: title, table (mean ± std), notes."""
    attrs = df.attrs
    metrics = attrs.get("metrics") or [m for m in BASE_METRICS if f"{m}_mean" in df]
    keys = [k for k in attrs.get("key_columns", []) if k in df]
    show_group = "group" in df and df["group"].astype(str).str.len().gt(0).any() and \
        df["group"].nunique() > 1
    paper_col = "paper" if "paper" in df else ("paper (CIFAR)" if "paper (CIFAR)" in df else None)
    has_paper = paper_col is not None and df[paper_col].astype(str).replace("nan", "").str.len().gt(0).any()
    header = ["row", *keys] + (["part"] if show_group else []) + ["runs"] + [metric_name(m) for m in metrics]
    if "selected" in df:
        header.append("selected")
    if has_paper:
        header += [paper_col + (" (%)" if paper_col == "paper" else ""), "paper source"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for _, r in df.iterrows():
        not_run = r.get("status") == "not run"
        cells = [str(r["row"]), *[str(r.get(k, "") if isinstance(r.get(k, ""), str) else "") for k in keys]]
        if show_group:
            cells.append(str(r.get("group", "")))
        cells.append(str(r.get("status", "")))
        for m in metrics:
            cells.append("—" if not_run else format_number(r.get(f"{m}_mean"), r.get(f"{m}_std"), m))
        if "selected" in df:
            sel = r.get("selected")
            cells.append(sel if isinstance(sel, str) else "")
        if has_paper:
            p = r.get(paper_col)
            if isinstance(p, float):
                p = "" if math.isnan(p) else f"{p:g}"
            cells += [str(p or ""), str(r.get("paper source") or "")]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    title = attrs.get("title", attrs.get("table", ""))
    head = f"### {title}\n\nTable `{attrs.get('table', '')}`, scale `{attrs.get('scale', '')}`, " \
           f"dataset {attrs.get('dataset', '')}.\n"
    notes = [attrs.get("scale_note", "")]
    if paper_col == "paper (CIFAR)" and has_paper:
        notes.append("The 'paper (CIFAR)' column gives the paper's CIFAR test errors (%), for orientation only: "
                     "they are not Fashion-MNIST claims.")
    if "selected_eps" in attrs:
        sel = attrs["selected_eps"]
        notes.append("Selected ε: " + ("pending (validation runs incomplete)" if sel is None else
                                       "0 (= mixup)" if sel == 0 else eps_str(sel)) + "." + selection_margin_text(attrs))
    if any(df.get("status", []) == "not run"):
        reasons = sorted({str(x) for x in df.loc[df["status"] == "not run", "note"] if str(x)})
        notes += [f"Rows marked 'not run' are not run at {attrs.get('scale', '')} scale: {x}." for x in reasons]
    notes.append("Cells are mean ± std over seeds (std omitted for one seed); 'runs' is done / expected.")
    return head + "\n" + "\n".join(lines) + "\n\n" + "\n\n".join(n for n in notes if n) + "\n"


def selection_margin_text(attrs) -> str:
    """How far the selected ε's validation error is ahead of the runner-up's, against the seeds' spread."""
    m = attrs.get("selection_margin")
    if not m:
        return ""
    text = (f" Its validation error is {m['gap']:.2f} points below the runner-up's (ε={eps_str(m['runner_up'])})")
    if m["std"] is None:
        return text + "; one seed, no spread to compare with."
    return text + (f", less than the standard deviation over seeds ({m['std']:.2f}): the choice is within seed "
                   "noise, and another draw of seeds could pick another ε." if m["gap"] < m["std"] else
                   f", more than the standard deviation over seeds ({m['std']:.2f}).")


def write_summary(df, out, name: str) -> tuple[Path, Path]:
    """Write ``<out>/tables/<name>.csv`` and ``.md`` atomically."""
    folder = Path(out) / "tables"
    csv = atomic_write_bytes(folder / f"{name}.csv", df.to_csv(index=False).encode())
    md = atomic_write_bytes(folder / f"{name}.md", format_table(df).encode())
    return csv, md

