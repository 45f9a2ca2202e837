"""Views of the book's other chapters: the results summary of the introduction (chapter 1), the method
comparisons of chapters 2 and 3 (:func:`run_methods`, :func:`comparison_table`, :func:`mean_curves`,
:func:`boundary_text`) and the verdicts at every scale of the conclusions (chapter 13). The table chapters'
views live in :mod:`mixup_repro.chapters`, the pipeline that executes every chapter in :mod:`mixup_repro.book`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from ._checks import check_alpha, check_eps, check_int
from .params import resolve_results_dir

__all__ = ["COMPARED_METHODS", "ResultsGroup", "summarize_results", "format_results_table", "common_settings_text",
           "collapsible_table_html", "boundary_text", "verdicts_by_scale", "VERDICT_TABLES",
           "all_paired_verdicts", "verdict_counts", "run_methods",
           "mean_curves", "comparison_table"]


class ResultsGroup(NamedTuple):
    """One (dataset, model) block of :func:`summarize_results`.

    Attributes
    ----------
    dataset : str
        The data set of every run of the block.
    model : str
        Their network.
    common : dict
        Training settings shared by every run of the block (epochs, optimizer, lr, ...).
    table : DataFrame
        pandas DataFrame indexed by method (see :func:`summarize_results` and :func:`format_results_table`).
    """

    dataset: str
    model: str
    common: dict
    table: Any


def _plain(v):
    """numpy scalars as Python values (for display)."""
    return v.item() if hasattr(v, "item") else v


_COMMON_SHOWN = ("epochs", "optimizer", "lr", "weight_decay", "batch_size", "subset", "augment", "width")


def summarize_results(results_dir: str | os.PathLike | None) -> list[ResultsGroup]:
    """The introduction's summary of every run in ``results_dir`` (``mixup_repro.results.load_results``).

    One :class:`ResultsGroup` per (dataset, model). In its table, runs whose configurations differ only in
    the seed are one row, indexed by method; the configuration fields that vary within the block are
    columns (α, ε, ...), followed by the number of seeds and the means over the seeds of the test error
    (median of the last 10 epochs, %), the final test NLL and the final ECE (%). ``common`` holds the
    main settings shared by the whole block. Returns an empty list when there are no results yet (folder
    missing or empty, or no valid run).
    """
    if results_dir is None or not Path(results_dir).is_dir() or not any(Path(results_dir).iterdir()):
        return []
    import dataclasses

    from .results import load_results
    from .train import RUNTIME_FIELDS, TrainConfig

    df = load_results(results_dir)
    if df is None or len(df) == 0:
        return []
    keys = ["dataset", "model"]
    fields = [f.name for f in dataclasses.fields(TrainConfig)
              if f.name in df.columns and f.name not in (*RUNTIME_FIELDS, "seed", *keys)]
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    for f in fields:  # files written before a field existed lack it: they ran with its default
        if defaults.get(f) is not None and not isinstance(defaults[f], (tuple, list)) and df[f].isna().any():
            df[f] = df[f].astype(object).where(df[f].notna(), defaults[f])
    metrics = {"median_last10_error": "error (%)", "final_nll": "NLL", "final_ece": "ECE (%)"}
    metrics = {k: v for k, v in metrics.items() if k in df.columns}
    if "final_ece" in df.columns:
        df = df.assign(final_ece=100.0 * df["final_ece"])
    groups = []
    for (dataset, model), block in df.groupby(keys, sort=True):
        grouped = block.groupby(fields, dropna=False, sort=True)
        table = grouped[list(metrics)].mean()
        table.insert(0, "seeds", grouped.size())
        table = table.reset_index()
        varying = [f for f in fields if f != "method" and table[f].astype(str).nunique() > 1]
        common = {f: _plain(table[f].iloc[0]) for f in _COMMON_SHOWN
                  if f in table.columns and f not in varying and (f != "width" or model == "preact_resnet18")}
        table = table[["method", *varying, "seeds", *metrics]].rename(
            columns={"alpha": "α", "label_smoothing": "ε", **metrics}).set_index("method")
        groups.append(ResultsGroup(dataset, model, common, table))
    return groups


def _sci(v) -> str:
    """1e-4 -> "1e-4", 5e-4 -> "5e-4", 0 -> "0" (never rounded to 0.0)."""
    v = float(v)
    if v == 0:
        return "0"
    mant, exp = f"{v:.1e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{int(exp)}"


def _g(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, (bool, str)) or not isinstance(v, (int, float)):
        return ", ".join(f"{x:g}" for x in v) if isinstance(v, (tuple, list)) else str(v)
    return f"{v:g}"


def _pct(v) -> str:
    return "" if v is None or v != v else f"{100 * float(v):g}"


_RESULT_COLUMNS: dict[str, tuple[str, Any]] = {
    # column of summarize_results -> (header with its unit, formatter)
    "α": ("α", _g),
    "ε": ("ε", _g),
    "lr": ("lr", _g),
    "weight_decay": ("weight decay", _sci),
    "label_noise": ("label noise (%)", _pct),
    "val_fraction": ("validation split (%)", _pct),
    "noise_std": ("input noise σ", _g),
    "dropout": ("dropout p", _g),
    "mix_layer": ("mixed layer", _g),
    "same_class": ("same-class partners", _g),
    "fgsm_eps": ("FGSM ε", _g),
    "subset": ("images per class", _g),
    "epochs": ("epochs", _g),
    "batch_size": ("batch size", _g),
    "seeds": ("seeds", lambda v: f"{int(v)}"),
    "error (%)": ("error (%)", lambda v: f"{v:.2f}"),
    "NLL": ("NLL (nats)", lambda v: f"{v:.3f}"),
    "ECE (%)": ("ECE (%)", lambda v: f"{v:.2f}"),
}


def format_results_table(table):
    """A :class:`ResultsGroup` table for reading: every cell a string formatted for its column.

    Weight decay and learning rate in scientific notation (``1e-4``, ``5e-4``: never both "0.0"), label noise
    and validation split in percent, error and ECE with 2 decimals, NLL with 3, and headers with their units
    (``label noise (%)``, ``NLL (nats)``). The method becomes the first column and the rows are numbered
    from 1. A setting that the row's method ignores (α of ERM, the noise σ of mixup, ...) shows "–" instead
    of its inert default. Columns not listed in ``_RESULT_COLUMNS`` are shown with ``:g`` / ``str``.
    """
    import pandas as pd

    from .train import MIXING_METHODS, SMOOTHING_METHODS

    applies = {  # settings a method ignores are shown as "–", not as their inert default
        "α": lambda m: m in MIXING_METHODS, "pairing": lambda m: m in MIXING_METHODS,
        "same_class": lambda m: m in MIXING_METHODS, "ε": lambda m: m in SMOOTHING_METHODS,
        "noise_std": lambda m: m == "gaussian_noise", "mix_layer": lambda m: m == "manifold"}
    df = table.reset_index()
    methods = list(df["method"]) if "method" in df.columns else [None] * len(df)
    out = {}
    for col in df.columns:
        header, fmt = _RESULT_COLUMNS.get(col, (str(col).replace("_", " "), _g))
        ok = applies.get(col, lambda m: True)
        out[header] = ["–" if m is not None and not ok(m) else "" if isinstance(v, float) and v != v else fmt(v)
                       for v, m in zip(df[col], methods)]
    frame = pd.DataFrame(out)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="#")
    return frame


def common_settings_text(common: Mapping[str, Any]) -> str:
    """The shared settings of a :class:`ResultsGroup` as one line, formatted like the table's columns
    (``weight decay 1e-4``; unset values such as a missing subset are left out)."""
    parts = []
    for k, v in common.items():
        if v is None or (isinstance(v, float) and v != v):
            continue
        header, fmt = _RESULT_COLUMNS.get(k, (str(k).replace("_", " "), _g))
        parts.append(f"{header} {fmt(v)}")
    return ", ".join(parts)


def collapsible_table_html(frame, max_rows: int = 15, *, what: str = "rows", index: bool = True) -> str:
    """HTML of ``frame`` with at most ``max_rows`` rows in the page and the others in a collapsed
    ``<details>`` block (closed by default; its summary says how many rows it holds); ``index=False`` leaves the
    index out."""
    max_rows = check_int("max_rows", max_rows, low=1)
    if index and any(n is not None for n in frame.index.names):  # a named index (e.g. "#") in the header row,
        frame, index = frame.reset_index(), False                # not on a second header row of its own
    head = frame.iloc[:max_rows].to_html(border=0, index=index)
    if len(frame) <= max_rows:
        return head
    rest = frame.iloc[max_rows:].to_html(border=0, index=index)
    return (f"{head}\n<details><summary>Show the other {len(frame) - max_rows} {what} "
            f"({max_rows + 1}–{len(frame)} of {len(frame)})</summary>\n{rest}\n</details>")


def boundary_text(table, stats: Mapping[str, Mapping], *, alpha: float, dataset: str,
                  a: str = "erm", b: str = "mixup") -> str:
    """Markdown that says what chapter 2's ERM-vs-mixup figure and table show, from their numbers only.

    ``table`` is :func:`comparison_table` of the two runs, ``stats`` :func:`mixup_repro.plots.boundary_statistics`
    of the two trained models. The comparison of test errors is worded from the numbers (lower, higher or
    equal at the printed precision), never assumed.
    """
    ea, eb = float(table.loc[a, "error (%)"]), float(table.loc[b, "error (%)"])
    sa, sb = stats[a], stats[b]
    if round(ea, 1) == round(eb, 1):
        verdict = "the same test error"
    elif eb > ea:
        verdict = "a higher test error than ERM"
    else:
        verdict = "a lower test error than ERM"
    text = [f"**What the figure and the table show** (computed from this run). On these {dataset} points, "
            f"mixup (α = {alpha:g}) ends with {verdict}: {eb:.1f} % against {ea:.1f} % (the last epoch, on the "
            f"test points). The models' confidence max p(k | x) is below 0.9 on {sb['uncertain_area']:.0f} % of "
            f"the plotted area for mixup and {sa['uncertain_area']:.0f} % for ERM; "
            f"{sb['train_wrong']} of the {sb['n_train']} training points lie on the wrong side of mixup's "
            f"boundary and {sa['train_wrong']} on the wrong side of ERM's."]
    if eb > ea and sb["train_wrong"] > sa["train_wrong"]:
        text.append("So here mixup's wider band of intermediate probabilities comes with a boundary that cuts into "
                    "the training points of one class, and a higher error: the intrusion described below, not "
                    "a better classifier.")
    elif eb <= ea:
        text.append("So here the wider band of intermediate probabilities costs mixup nothing in test error.")
    return "\n\n".join(text)


def _scale_of(name: str) -> str:
    from .experiments import SCALES

    return name if name in SCALES else "cpu"


def verdicts_by_scale(results_dirs: Mapping[str, Any], *, table: str = "headline", dataset: str | None = "cifar10"):
    """The paired claims of ``table`` (:func:`mixup_repro.claims.paired_claims`) judged at every scale.

    ``results_dirs`` maps a scale (``cpu``, ``paper``, ``smoke``) to the folder of its results files (None:
    an empty folder, so every claim is *not tested*). Returns ``(frame, regimes)``: one row per claim (its
    statement, source and metric), and per scale a column with the verdict word followed, where two or more
    paired seeds exist, by the mean paired difference Δ = A − B and its 95 % CI; ``regimes`` maps each scale
    to the regime-check sentence of :func:`mixup_repro.stats.regime_check`. Nothing is run.
    """
    import pandas as pd

    from .claims import paired_claims

    info, columns, regimes = {}, {}, {}
    for scale, folder in results_dirs.items():
        v = paired_claims(table, _scale_of(scale), resolve_results_dir(folder), dataset=dataset)
        regimes[scale] = v.attrs.get("regime", {}).get("text", "not recorded")
        for _, r in v.iterrows():  # a scale leaves out the claims of rows (or FGSM steps) it does not run
            info.setdefault(r["claim"], {"source": r["source"], "metric": r["metric"]})
        columns[f"{scale} scale"] = {
            r["claim"]: f"{r['verdict']} (Δ {r['Δ = A − B']}, CI {r['95 % CI']}, n={r['n']})" if r["95 % CI"]
            else r["verdict"] for _, r in v.iterrows()}
    if not info:
        return pd.DataFrame(), regimes
    frame = pd.DataFrame.from_dict(info, orient="index")
    for col, cells in columns.items():
        frame[col] = [cells.get(c, "not run at this scale") for c in frame.index]
    frame.index.name = "claim"
    return frame, regimes


VERDICT_TABLES: tuple[str, ...] = ("headline", "training_length", "ablation", "label_noise", "uci", "eps_validation")
"""The tables whose paired verdicts the introduction counts and the conclusions list, in the book's order (the
calibration and robustness claims are the headline's, :data:`mixup_repro.claims.TWIN_HOME`: counted there once)."""


def _unit_of(metric_label: str) -> str:
    return "pp" if str(metric_label).endswith("(%)") or "%" in str(metric_label) else ""


def all_paired_verdicts(results_dir, scale: str = "cpu", *, dataset: str | None = "cifar10",
                        tables: tuple[str, ...] = VERDICT_TABLES, speech_results_dir=None, gan_params=None):
    """Every paired claim of ``tables`` (:func:`mixup_repro.claims.paired_claims`, Holm within each table) judged on
    the results files of ``scale`` in ``results_dir``, with ``speech_results_dir`` the speech chapter's claims
    (:func:`mixup_repro.speech_report.speech_claims`) and with ``gan_params`` (chapter 11's parameters) the
    GAN chapter's (:func:`mixup_repro.gan_report.gan_claims` on :func:`mixup_repro.gan.chapter_runs`: the runs
    that chapter shows, Holm over its claims, no regime check), as one narrow frame: ``table``, ``claim`` (with its source),
    ``verdict``, ``Δ [95 % CI]`` (with its unit), ``Holm p`` and ``n``. ``attrs["regimes"]`` maps each table to its
    regime-check sentence. Tables that ``scale`` cannot test (no runnable claim) are left out. Nothing is run."""
    import pandas as pd

    from .claims import paired_claims, table_claims

    folder = resolve_results_dir(results_dir)
    frames, regimes = [], {}

    def add(name, v):
        d = pd.DataFrame({
            "table": name, "claim": [f"{c} ({src})" for c, src in zip(v["claim"], v["source"])],
            "verdict": v["verdict"],
            "Δ [95 % CI]": [f"{d} {_unit_of(m)} {ci}".replace("  ", " ").strip() if ci else (f"{d} (one seed)" if d
                            else "") for d, m, ci in zip(v["Δ = A − B"], v["metric"], v["95 % CI"])],
            "Holm p": v["Holm p"], "n": v["n"]})
        frames.append(d)

    for name in tables:
        if not table_claims(name, _scale_of(scale)):
            continue
        ds = None if name == "uci" else dataset
        v = paired_claims(name, _scale_of(scale), folder, dataset=ds)
        regimes[name] = v.attrs.get("regime", {}).get("text", "not recorded")
        add(name, v[~v["claim"].isin(set(v.attrs.get("twins", {})))])  # a repeated headline claim counts once
    if speech_results_dir is not None:
        from .speech_report import speech_claims

        v = speech_claims(_scale_of(scale), resolve_results_dir(speech_results_dir))
        regimes["speech"] = "; ".join(f"{m}: {r['text']}" for m, r in v.attrs.get("regime", {}).items())
        add("speech", v)
    if gan_params is not None:
        from .gan import chapter_runs
        from .gan_report import gan_claims

        runs = chapter_runs(gan_params)  # the runs that chapter 11 shows with these parameters
        regimes["gan"] = ("no regime check: the GAN claims are about training stability" if runs else
                          f"no runs of chapter 11's parameters in {gan_params['results_dir']} yet")
        if runs:
            add("gan", gan_claims(runs))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["table", "claim", "verdict", "Δ [95 % CI]", "Holm p", "n"])
    out.attrs["regimes"] = regimes
    return out


def verdict_counts(frame):
    """Per table of :func:`all_paired_verdicts`, the number of claims with each verdict word (columns in the order
    of :data:`mixup_repro.stats.VERDICTS`, a word no claim has is left out) and the total."""
    import pandas as pd

    from .stats import VERDICTS

    counts = pd.crosstab(frame["table"], frame["verdict"]) if len(frame) else pd.DataFrame()
    order = [t for t in dict.fromkeys(frame["table"])] if len(frame) else []
    counts = counts.reindex(index=order, columns=[v for v in VERDICTS if v in counts.columns], fill_value=0)
    counts["claims"] = counts.sum(axis=1)
    counts.columns.name = None
    counts.index.name = "table"
    return counts.reset_index()


COMPARED_METHODS: tuple[str, ...] = ("erm", "label_smoothing", "mixup", "mixup_ls")
"""The four methods of chapter 3, in table order."""


def run_methods(common: Mapping[str, Any], *, alpha: float, epsilon: float,
                methods: tuple[str, ...] = COMPARED_METHODS, seeds=None, out=None, force: bool = False,
                quiet: bool = True) -> dict[str, list]:
    """Train ``methods`` on the same data and initialisations with :func:`mixup_repro.train.fit`.

    ``common`` holds the shared :class:`~mixup_repro.train.TrainConfig` fields (dataset, model, epochs, ...).
    Methods that mix get ``alpha`` (the others α = 0, i.e. no mixing); methods that smooth get
    ``label_smoothing = epsilon`` (the others 0). Each method is trained once per seed of ``seeds``
    (default: ``common["seed"]``, else 0). With ``out`` the results files are written there and an existing
    one is reused (its :class:`~mixup_repro.train.RunResult` then has no model) unless ``force``.

    Returns
    -------
    dict
        method -> list of RunResult, one per seed.
    """
    from .train import MIXING_METHODS, SMOOTHING_METHODS, TrainConfig, fit

    alpha = check_alpha(alpha)
    epsilon = check_eps(epsilon, "epsilon")
    seeds = [common.get("seed", 0)] if seeds is None else list(seeds)
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    seeds = [check_int("seed", s, low=0) for s in seeds]
    runs: dict[str, list] = {}
    for m in methods:
        base = {**dict(common), "method": m, "alpha": alpha if m in MIXING_METHODS else 0.0,
                "label_smoothing": epsilon if m in SMOOTHING_METHODS else 0.0}
        runs[m] = [fit(TrainConfig(**{**base, "seed": s}), out=out, force=force, quiet=quiet) for s in seeds]
    return runs


def _as_list(runs) -> list:
    return list(runs) if isinstance(runs, (list, tuple)) else [runs]




def mean_curves(runs) -> dict:
    """Per-epoch curves averaged over runs (e.g. seeds) of equal length: ``epoch`` plus the mean of every
    other curve. ``runs`` is a RunResult or a list of them."""
    runs = _as_list(runs)
    keys = [k for k, v in runs[0].curves.items() if isinstance(v, list)]
    out = {"epoch": list(runs[0].curves["epoch"])}
    for k in keys:
        if k != "epoch":
            out[k] = [sum(vals) / len(vals) for vals in zip(*(r.curves[k] for r in runs))]
    return out




_COLUMNS = ("error (%)", "median error, last 10 (%)", "NLL", "ECE (%)", "over-confidence (pp)")


def _row(r) -> dict:
    from .metrics import overconfidence

    s = r.summary
    gap = overconfidence(s.get("reliability") or {})
    gap = float("nan") if gap is None else gap
    return dict(zip(_COLUMNS, (s["final_error"], s["median_last10_error"], s["final_nll"],
                               100.0 * s["final_ece"], gap)))


def comparison_table(runs: Mapping[str, Any], *, formatted: bool = False):
    """One row per method, as a pandas DataFrame indexed by method.

    ``runs`` maps a method to a RunResult or a list of them (seeds; :func:`run_methods`). Columns, all on
    the test set and averaged over the seeds: the number of seeds, the error of the last epoch and the
    median over the last 10 epochs (%), the NLL and the ECE (%) of the final model, and its
    over-confidence, mean confidence minus accuracy (:func:`mixup_repro.metrics.overconfidence`,
    percentage points; < 0: under-confident). ``formatted=True`` gives strings
    ``"mean ± sd"`` (sample standard deviation over seeds; just the mean for one seed).
    """
    import pandas as pd

    rows = {}
    for name, rs in runs.items():
        vals = pd.DataFrame([_row(r) for r in _as_list(rs)])
        mean, sd = vals.mean(), vals.std(ddof=1)
        if formatted:
            row = {c: (f"{mean[c]:.3f} ± {sd[c]:.3f}" if len(vals) > 1 else f"{mean[c]:.3f}") for c in _COLUMNS}
        else:
            row = dict(mean)
        rows[name] = {"seeds": len(vals), **row}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "method"
    return table
