"""The table chapters of the book (``notebooks/04_*.ipynb`` ... ``09_*.ipynb``): one call sets a chapter up,
one call per view.

::

    from mixup_repro import chapters

    ch = chapters.setup("ablation", chapters.check_params(scale=scale, dataset=dataset, ...))
    ch.table()                        # the summary table and its notes
    fig = ch.plot_bars("median_last10_error", hue="weight decay")
    ch.paper_scale()                  # the same table at the paper's scale, and its verdicts there
    ch.paired_prose()                 # the paired verdicts, as a table with its rules

:func:`setup` checks the parameters (:func:`check_params`, built on :func:`mixup_repro.params.validate_params`),
resolves the results folder, reads (or computes, with ``run_missing``) the chapter's tables with
:func:`table_view` and sets the figure and table display style; the :class:`TableChapter` it returns holds the
summary frames and draws every view of them. The views are also plain functions for other callers:
:func:`table_frame`, :func:`table_notes`, :func:`scale_comparison`, :func:`scale_claims`,
:func:`memorization_text`; the figures themselves live in :mod:`mixup_repro.plots` and the paired claims in
:mod:`mixup_repro.claims`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._checks import check_bool, check_choice, check_int
from .experiments import select_rows, table_dataset
from .frames import cell_text, count_text, has_results, is_missing, metric_text, runnable
from .gan import check_gan_params
from .params import check_path, check_rows, check_seeds, optional, resolve_results_dir, validate_params

__all__ = ["check_params", "setup", "TableChapter", "table_view", "status_text", "table_frame", "page_frame",
           "table_notes",
           "scale_comparison", "scale_claims", "memorization_text", "display_style"]


# ----------------------------------------------------------------------------------------------------------
# Parameters
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
    "results_dir": optional(check_path),
    "paper_results_dir": optional(check_path),
    "speech_results_dir": optional(check_path),
    "gan_params": optional(check_gan_params),
    "run_missing": check_bool,
    "max_live_runs": optional(lambda n, v: check_int(n, v, low=0)),
    "data_dir": optional(check_path),
}


def check_params(**params) -> dict:
    """Validate the parameters of the experiment chapters (04-09) by name; return them normalised.

    Known names: ``scale`` (paper, cpu or smoke), ``dataset`` (an image data set for the image tables, a
    UCI set of :data:`~mixup_repro.experiments.UCI_DATASETS` for the UCI chapter, or None for the table's
    default / all), ``seeds`` (None or a list of distinct integers >= 0), ``rows`` (None, or row labels, keys
    or key values, or a name of :data:`ROW_PRESETS` such as ``"core"``), ``results_dir`` and
    ``paper_results_dir`` (a path, or None), ``speech_results_dir`` (the speech results that the introduction and the
    conclusions count, a path or None), ``gan_params`` (chapter 11's parameters, whose runs they count, a
    mapping or None), ``run_missing`` (true or false), ``max_live_runs`` (None or an
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
    df = summarize(name, check_scale, out, dataset=ds, seeds=seeds, rows=keys)
    df.attrs["live_runs"] = live
    df.attrs["run_missing"] = run_missing
    df.attrs["results_dir"] = str(out)
    if not quiet:
        print(status_text(df))
    return df


def status_text(df) -> str:
    """What :func:`table_view` did, in one or two lines: the runs computed live (with ``run_missing``), and
    the runs done of the table in its results folder."""
    name, scale, out = df.attrs.get("table", ""), df.attrs.get("scale", ""), df.attrs.get("results_dir", "")
    lines = []
    if df.attrs.get("run_missing"):
        lines.append(f"table {name}, scale {scale}: {df.attrs.get('live_runs', 0)} missing run(s) computed live "
                     f"into {out}")
    done, expected = int(df["n_done"].sum()), int(df["n_expected"].sum())
    not_run = int((df["status"] == "not run").sum())
    lines.append(f"table {name}, scale {scale}, results {out}: {done} of {expected} runs done"
                 + (f"; {not_run} row(s) not run at this scale" if not_run else ""))
    return "\n".join(lines)


def table_frame(df, metrics: Sequence[str] | None = None):
    """A display frame of a summary: index ``row``, key columns, runs, ``mean ± std`` per metric, paper.

    ``metrics`` defaults to the table's shown metrics (``df.attrs["metrics"]``). Rows that are not run at
    the scale keep their place, with "not run" and dashes.
    """
    import pandas as pd

    from .summary import format_number, metric_name

    metrics = list(metrics or df.attrs.get("metrics") or [])
    keys = [k for k in df.attrs.get("key_columns", []) if k in df.columns]
    recs = []
    for _, r in df.iterrows():
        rec = {"row": r["row"], **{k: cell_text(r.get(k)) for k in keys}}
        if "group" in df.columns and df["group"].nunique() > 1:
            rec["part"] = cell_text(r.get("group"))
        rec["runs"] = cell_text(r.get("status"))
        for m in metrics:
            rec[metric_name(m)] = "—" if r.get("status") in ("not run", "pending", "not selected") else \
                format_number(r.get(f"{m}_mean"), r.get(f"{m}_std"), m)
        if "selected" in df.columns:
            rec["selected"] = r.get("selected") if isinstance(r.get("selected"), str) else ""
        for col in ("paper", "paper (CIFAR)"):
            if col in df.columns:
                p = r.get(col)
                rec[col + (" (%)" if col == "paper" else "")] = "" if is_missing(p) and not isinstance(p, str) else \
                    (f"{p:g}" if isinstance(p, float) else str(p or ""))
        if "paper source" in df.columns:
            rec["paper source"] = cell_text(r.get("paper source"))
        recs.append(rec)
    out = pd.DataFrame(recs).set_index("row")
    for col in [c for c in out.columns if c.startswith("paper")]:
        if not out[col].astype(str).str.len().gt(0).any():
            out = out.drop(columns=col)
    return out


def _row_name(r, keys) -> str:
    """A row's label with its key values, e.g. ``ERM (model PreAct ResNet-18)``."""
    vals = [f"{k} {cell_text(r.get(k))}" for k in keys if cell_text(r.get(k))]
    return f"{r['row']} ({', '.join(vals)})" if vals else str(r["row"])


def _pending_sentence(items: Sequence[tuple[str, str, str]]) -> str:
    """The rows with no finished run, ``(key text, label, status)`` each, as one paragraph: grouped by key value
    (e.g. the weight decay), then by status, so that neither is repeated on every row."""
    groups: dict[str, dict[str, list[str]]] = {}
    for key, label, st in items:
        groups.setdefault(key, {}).setdefault(st, []).append(label)
    parts = []
    for key, by_status in groups.items():
        body = "; ".join("; ".join(labels) + (f" ({st} each)" if len(labels) > 1 else f" ({st})")
                         for st, labels in by_status.items())
        parts.append(f"**{key}**: {body}" if key else body)
    n = len(items)
    return (f"No finished run yet ({count_text(n, 'row')}; finished / expected runs in brackets). "
            + ". ".join(parts) + ".")


def page_frame(df, metrics: Sequence[str] | None = None):
    """The in-page version of :func:`table_frame`: ``(frame, markdown)``.

    The frame keeps the rows with at least one finished run (row label as a column, no index), and replaces the
    long paper-source texts by numbered notes ``[1]``, ``[2]``; the markdown lists those notes, the rows the scale
    does not run (with the reason) and the rows with no finished run yet, in sentences instead of rows of dashes.
    """
    import pandas as pd

    frame = table_frame(df, metrics).reset_index()
    keys = [k for k in df.attrs.get("key_columns", []) if k in df.columns]
    status = list(df["status"])
    done = list(df.get("n_done", [1] * len(df)))
    not_run = {}
    pending = []
    keep = []
    key_of = [", ".join(f"{k} {cell_text(r.get(k))}" for k in keys if cell_text(r.get(k))) for _, r in df.iterrows()]
    for i, (_, r) in enumerate(df.iterrows()):
        if status[i] == "not run":
            not_run.setdefault(cell_text(r.get("note")) or "not run at this scale", []).append(i)
        elif status[i] in ("pending", "not selected") or int(done[i] or 0) == 0:
            pending.append(i)
        else:
            keep.append(i)
    frame = frame.iloc[keep].reset_index(drop=True)
    notes = []
    same = [k for k in keys if k in frame.columns and len(frame) > 1 and frame[k].astype(str).nunique() == 1]
    if same:  # a key column with one value (e.g. the one model a scale runs) is said once, not on every row
        notes.append("Every row shown: " + ", ".join(f"{k} {frame[k].iloc[0]}" for k in same) + ".")
        frame = frame.drop(columns=same)
    if "paper source" in frame.columns:
        refs: dict[str, str] = {}
        cells = []
        for src in frame["paper source"]:
            marks = []
            for one in [t.strip() for t in str(src).split(";") if t.strip()]:
                refs.setdefault(one, f"[{len(refs) + 1}]")
                marks.append(refs[one])
            cells.append(" ".join(marks))
        frame["paper source"] = cells
        frame = frame.rename(columns={"paper source": "source"})
        if refs:
            notes.append("Sources of the published numbers: " + "; ".join(f"{m} {s}" for s, m in refs.items()) + ".")
        else:
            frame = frame.drop(columns="source")
    for reason, idx in not_run.items():
        names, seen = [], set()
        for i in idx:  # a key value (e.g. a model) none of whose rows runs is named once
            group = [j for j, k in enumerate(key_of) if k == key_of[i]]
            if key_of[i] and set(group) <= set(idx):
                if key_of[i] not in seen:
                    seen.add(key_of[i])
                    names.append(f"all {len(group)} rows of {key_of[i]}")
            else:
                names.append(_row_name(df.iloc[i], keys))
        notes.append(f"Not run at this scale ({reason}): " + "; ".join(names) + ".")
    if pending:
        notes.append(_pending_sentence([(key_of[i], str(df.iloc[i]["row"]), str(status[i])) for i in pending]))
    frame = pd.DataFrame(frame)
    return frame, "\n\n".join(notes)


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
    if not has_results(paper_results_dir):
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

    from .summary import format_number

    shown = list(df.attrs.get("metrics") or ["final_error"])
    metric = metric or ("median_last10_error" if "median_last10_error" in shown else shown[0])
    pdf, message, paper_dataset = _paper_frame(name, scale, df, paper_results_dir, paper_dataset)
    if pdf is None:
        return None, message

    def cell(r):
        if r is None or r.get("status") == "not run":
            return "not run"
        v = format_number(r.get(f"{metric}_mean"), r.get(f"{metric}_std"), metric)
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
        recs.append({"row": r["row"], **{k: cell_text(r.get(k)) for k in keys},
                     f"{scale} scale": cell(here.iloc[0]) if len(here) else "",
                     "paper scale": cell(r),
                     "published (%)": "" if is_missing(p) and not isinstance(p, str) else
                     (f"{p:g}" if isinstance(p, float) else str(p)),
                     "source": cell_text(r.get("paper source"))})
    msg = (f"{metric_text(metric)}, mean ± std over seeds (finished / expected runs in brackets): this "
           f"chapter's {scale}-scale runs next to the paper-scale runs in `{paper_results_dir}` "
           f"({paper_dataset}) and the published numbers.")
    return pd.DataFrame(recs).set_index("row"), msg


def scale_claims(name: str, scale: str, df, paper_results_dir, *, paper_dataset: str | None = None) -> str:
    """The table's claims judged on its paper-scale runs by the same paired rule as this page's
    (:func:`mixup_repro.claims.paired_claims`), as markdown.

    Same paper-scale runs as :func:`scale_comparison`; when there are none, a sentence that says so (nothing
    when the chapter is itself at paper scale).
    """
    from .claims import paired_claims, paired_claims_markdown
    from .experiments import TABLES

    pdf, _, paper_dataset = _paper_frame(name, scale, df, paper_results_dir, paper_dataset)
    if pdf is None:
        return "" if scale == "paper" else "No verdicts at the paper's scale yet: there are no paper-scale runs of " \
            f"this table ({paper_dataset if TABLES[name].kind == 'image' else 'tabular data'})."
    image = TABLES[name].kind == "image"
    frame = paired_claims(name, "paper", paper_results_dir, dataset=paper_dataset if image else None)
    where = f" ({paper_dataset})" if image else ""
    return (f"**At the paper's scale{where}**, from the paper-scale runs in `{paper_results_dir}`:\n\n"
            + paired_claims_markdown(frame, "paper"))


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
    for _, r in runnable(df).iterrows():
        if str(r["row"]) not in rows or int(r.get("n_done", 0) or 0) == 0 or is_missing(r.get(f"{metric}_mean")):
            continue
        v = float(r[f"{metric}_mean"])
        sd = r.get(f"{metric}_std")
        word = ("memorized" if v <= near else "not memorized" if v >= chance - near else "partly memorized")
        lines.append(f"- {r['row']}, label noise {cell_text(r.get('label noise'))}: {v:.1f}"
                     + ("" if is_missing(sd) else f" ± {float(sd):.1f}") + f" % (n={int(r['n_done'])}): **{word}**")
    what = (f"A network that has memorized the random labels of the corrupted samples has a training error near "
            f"0 % on them; one that predicts their true class instead has about {chance:.0f} % (chance: a "
            f"random label among {k} classes equals the true one with probability 1/{k}).")
    if not lines:
        return what + " No run of these rows has finished at this scale yet, so this page cannot say which of " \
                      "the two happened."
    return (what + f" The final training error on the corrupted labels (mean ± std over seeds, the word read from "
            f"the mean: memorized within {near:g} points of 0 %, not memorized within {near:g} points of "
            f"{chance:.0f} %; the regime check above counts the seeds one by one):\n\n"
            + "\n".join(lines))

# ----------------------------------------------------------------------------------------------------------
# One chapter: set-up and views
# ----------------------------------------------------------------------------------------------------------
def display_style() -> None:
    """The display settings of every table chapter: PNG figures at 100 dpi, no tqdm "IProgress not found"
    warning, and pandas tables shown whole (every row, every column, cells never cut)."""
    import warnings

    import matplotlib.pyplot as plt
    import pandas as pd

    with contextlib.suppress(ImportError):
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            shell.run_line_magic("config", 'InlineBackend.figure_formats = ["png"]')
    plt.rcParams["figure.dpi"] = 100
    with warnings.catch_warnings():  # progress bars are off in the book
        warnings.simplefilter("ignore")
        import tqdm.auto  # noqa: F401
    pd.set_option("display.max_rows", 1000)
    pd.set_option("display.max_columns", 50)
    pd.set_option("display.max_colwidth", None)


def _markdown(text: str):
    from IPython.display import Markdown

    return Markdown(text)


@dataclass
class TableChapter:
    """A table chapter after :func:`setup`: its parameters, results folder and summary frames, and its views.

    ``frames`` maps each table of the chapter (its main table ``name`` first) to its
    :func:`~mixup_repro.experiments.summarize` frame. Views that show prose return IPython ``Markdown``, views
    that show a table return a DataFrame, the ``plot_*`` views return the Figure (write ``fig = ch.plot_...()``
    so a notebook shows it once).
    """

    name: str
    scale: str
    out: Path
    frames: dict
    dataset: str | None = None
    seeds: list | None = None
    rows: object = None
    paper_results_dir: str | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def frame(self):
        """The summary frame of the chapter's main table."""
        return self.frames[self.name]

    def runs(self, name: str | None = None) -> dict:
        """:func:`~mixup_repro.experiments.row_runs` of a table of the chapter (the main one by default)."""
        from .experiments import row_runs

        name = name or self.name
        if ("runs", name) not in self._cache:
            self._cache[("runs", name)] = row_runs(name, self.scale, self.out, dataset=self.dataset,
                                                   seeds=self.seeds, rows=self.rows)
        return self._cache[("runs", name)]

    # -- text views -------------------------------------------------------------------------------------
    def scale_note(self):
        """The protocol of the page's scale and, when it is not the paper's, the paper's, as Markdown paragraphs
        (the tabular table: its own notes, for all scales and this one)."""
        from .experiments import SCALE_NOTES, TABLES

        if TABLES[self.name].kind == "tabular":
            return _markdown(f"{TABLES[self.name].notes['all']}\n\n**This page ({self.scale} scale):** "
                             f"{TABLES[self.name].notes.get(self.scale, '')}")
        text = f"**This page ({self.scale} scale).** {SCALE_NOTES[self.scale]}"
        t = TABLES[self.name]
        if t.scale_overrides.get(self.scale) and t.notes.get(self.scale):  # e.g. label noise: smaller, longer runs
            text += f"\n\n**This table differs from that protocol.** {t.notes[self.scale]}"
        if self.scale != "paper":
            text += f"\n\n**For comparison, the paper's scale.** {SCALE_NOTES['paper']}"
        return _markdown(text)

    def table(self, name: str | None = None, *, max_rows: int = 15) -> None:
        """Show a table of the chapter (the main one by default): what :func:`table_view` did (:func:`status_text`),
        the rows with finished runs (:func:`page_frame`; beyond ``max_rows`` rows the rest is in a collapsed block),
        the sentences on the rows left out and the sources, and the notes (:func:`table_notes`, without the scale
        protocol that :meth:`scale_note` shows)."""
        from IPython.display import HTML, display

        from .views import collapsible_table_html

        df = self.frames[name or self.name]
        frame, notes = page_frame(df)
        display(_markdown(status_text(df).replace("\n", "\n\n")))
        display(HTML(collapsible_table_html(frame, max_rows=max_rows, index=False)))
        below = "\n\n".join(p for p in table_notes(df, include_scale=False).split("\n\n")
                               if not p.startswith("Rows marked 'not run'"))  # said by page_frame already
        text = "\n\n".join(t for t in (notes, below) if t)
        if text:
            display(_markdown(text))

    def regime(self):
        """The regime check of the main table (:func:`mixup_repro.claims.regime_line`)."""
        from .claims import regime_line

        return _markdown(regime_line(self.name, self.scale, self.out, dataset=self.dataset, seeds=self.seeds))

    def memorization(self):
        """What the table says about memorized labels (:func:`memorization_text`)."""
        return _markdown(memorization_text(self.frame))

    def paper_scale(self) -> None:
        """Display the main table next to the paper-scale runs (:func:`scale_comparison`) and its verdicts at
        the paper's scale (:func:`scale_claims`)."""
        from IPython.display import display

        frame, message = scale_comparison(self.name, self.scale, self.frame, self.paper_results_dir)
        display(_markdown(message))
        if frame is not None:
            display(frame)
        display(_markdown(scale_claims(self.name, self.scale, self.frame, self.paper_results_dir)))

    # -- claims -----------------------------------------------------------------------------------------
    def paired(self, name: str | None = None):
        """The paired verdicts of table ``name`` (default: the chapter's table) as a frame
        (:func:`mixup_repro.claims.paired_claims`, Holm over that table's claims)."""
        from .claims import paired_claims

        name = name or self.name
        key = ("paired", name)
        if key not in self._cache:
            self._cache[key] = paired_claims(name, self.scale, self.out, dataset=table_dataset(name, self.dataset),
                                             seeds=self.seeds)
        return self._cache[key]

    def paired_prose(self, name: str | None = None):
        """The paired verdicts as a table and its rules (:func:`mixup_repro.claims.paired_claims_markdown`)."""
        from .claims import paired_claims_markdown

        return _markdown(paired_claims_markdown(self.paired(name), self.scale))

    def discussion(self, name: str | None = None):
        """What the paired verdicts mean (:func:`mixup_repro.claims.discussion`)."""
        from .claims import discussion

        return _markdown(discussion(self.paired(name), self.scale))

    # -- figures (mixup_repro.plots) --------------------------------------------------------------------
    def plot_bars(self, metric: str = "median_last10_error", *, name: str | None = None, **kw):
        """:func:`mixup_repro.plots.plot_metric_bars` of a table (the main one by default)."""
        from .plots import plot_metric_bars

        return plot_metric_bars(self.frames[name or self.name], metric, **kw)

    def plot_curves(self, metric: str = "test_error", **kw):
        """:func:`mixup_repro.plots.plot_row_curves` of the main table's runs."""
        from .plots import plot_row_curves

        return plot_row_curves(self.runs(), metric, **kw)

    def plot_alpha_sweep(self, metric: str = "median_last10_error", **kw):
        """:func:`mixup_repro.plots.plot_alpha_sweep` of the main table."""
        from .plots import plot_alpha_sweep

        return plot_alpha_sweep(self.frame, metric, **kw)

    def plot_memorization(self, **kw):
        """:func:`mixup_repro.plots.plot_memorization` of the main table's runs."""
        from .plots import plot_memorization

        return plot_memorization(self.runs(), **kw)

    def plot_reliability(self, **kw):
        """:func:`mixup_repro.plots.plot_reliability_rows` of the main table's runs."""
        from .plots import plot_reliability_rows

        return plot_reliability_rows(self.runs(), **kw)

    def plot_fgsm(self, name: str = "robustness", **kw):
        """:func:`mixup_repro.plots.plot_fgsm` of the chapter's robustness table."""
        from .plots import plot_fgsm

        return plot_fgsm(self.frames[name], **kw)

    def plot_eps_validation(self, metric: str = "median_last10_error", **kw):
        """:func:`mixup_repro.plots.plot_eps_validation` of the main table."""
        from .plots import plot_eps_validation

        return plot_eps_validation(self.frame, metric, **kw)


def setup(name: str, params: Mapping, *, also: Sequence[str] = (), style: bool = True) -> TableChapter:
    """Set a table chapter up: check ``params`` (:func:`check_params`: ``scale``, ``dataset``, ``seeds``,
    ``rows``, ``results_dir``, ``run_missing``, ``max_live_runs``, ``paper_results_dir``), resolve the results
    folder (None: a fresh temporary one), read the summary of table ``name`` and of the tables in ``also``
    (computing the missing runs live first with ``run_missing``, see :func:`table_view`), and, with ``style``,
    set the display style (:func:`display_style`). Returns the :class:`TableChapter` whose methods are the
    chapter's views."""
    p = check_params(**params)
    if "scale" not in p:
        raise ValueError("params must give scale (paper, cpu or smoke)")
    if style:
        display_style()
    out = resolve_results_dir(p.get("results_dir"))
    frames = {}
    for table in (name, *also):
        frames[table] = table_view(table, p["scale"], out, dataset=p.get("dataset"), seeds=p.get("seeds"),
                                   rows=p.get("rows"), run_missing=p.get("run_missing", False),
                                   max_live_runs=p.get("max_live_runs"), quiet=True)
    return TableChapter(name, p["scale"], out, frames, dataset=p.get("dataset"), seeds=p.get("seeds"),
                        rows=p.get("rows"), paper_results_dir=p.get("paper_results_dir"))
