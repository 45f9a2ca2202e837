r"""Every figure of the book (matplotlib + seaborn). Each ``plot_*`` function returns its Figure.

Figures are created through :mod:`matplotlib.pyplot`, so a notebook shows them once at the end of the cell
(write ``fig = plot_...(...)``); scripts and tests should ``plt.close(fig)`` when done. Every figure has a
title, axis labels and, where several things are drawn, a legend.

The numbers they draw (Beta densities, a 2-D model's decision grid, the target statistics of formula (2), reliability
bins pooled over seeds) are computed in :mod:`mixup_repro.figure_data`, whose names are re-exported here.

The figures of the table chapters (``plot_metric_bars`` ... ``plot_eps_validation``) draw
:func:`~mixup_repro.experiments.summarize` frames and :func:`~mixup_repro.experiments.row_runs` records.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from matplotlib.figure import Figure

from ._checks import check_alpha, check_eps, check_int, check_num_classes, check_real
from .figure_data import (
    beta_pdf,
    boundary_statistics,
    check_mapping,
    decision_grid,
    pool_reliability,
    reliability_arrays,
    reliability_ece,
    target_statistics,
)
from .frames import METRIC_TEXT, count_text, display_factor, is_missing, metric_text, runnable
from .mixing import mix, sample_lambda

__all__ = [
    "beta_pdf",
    "boundary_statistics",
    "decision_grid",
    "plot_beta_densities",
    "plot_decision_boundaries",
    "plot_epoch_times",
    "plot_lambda_concentration",
    "plot_learning_curves",
    "plot_method_comparison",
    "plot_mixed_examples",
    "plot_reliability",
    "reliability_ece",
    "pool_reliability",
    "plot_metric_bars",
    "plot_alpha_sweep",
    "plot_row_curves",
    "plot_memorization",
    "plot_reliability_rows",
    "plot_fgsm",
    "plot_eps_validation",
    "plot_target_properties",
    "target_statistics",
]

DEFAULT_ALPHAS = (0.1, 0.2, 0.4, 1.0, 2.0, 8.0)
"""The Beta(α, α) concentrations shown in the book (those of the paper's experiments and beyond)."""


_METHOD_LABELS = {"erm": "ERM", "mixup": "mixup", "label_smoothing": "label smoothing",
                  "mixup_ls": "mixup + label smoothing"}


def _style() -> None:
    sns.set_theme(style="whitegrid", context="notebook")


def _label(name: str) -> str:
    return _METHOD_LABELS.get(name, name)




# ----------------------------------------------------------------------------------------------------------
# λ ~ Beta(α, α)
# ----------------------------------------------------------------------------------------------------------


def plot_beta_densities(alphas: Sequence[float] = DEFAULT_ALPHAS, n_samples: int = 20000, seed: int = 0,
                        bins: int = 40) -> Figure:
    r"""Histogram of ``n_samples`` draws of :func:`~mixup_repro.mixing.sample_lambda` next to the analytic
    Beta(α, α) density, one panel per α."""
    alphas = [check_alpha(a) for a in alphas]
    if not alphas or any(a == 0 for a in alphas):
        raise ValueError("alphas must be a non-empty list of numbers > 0")
    n_samples = check_int("n_samples", n_samples, low=1)
    bins = check_int("bins", bins, low=2)
    _style()
    ncols = min(3, len(alphas))
    nrows = math.ceil(len(alphas) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False, sharex=True)
    g = torch.Generator().manual_seed(seed)
    grid = np.linspace(1e-3, 1 - 1e-3, 400)
    for ax, a in zip(axes.flat, alphas):
        lam = sample_lambda(a, (n_samples,), g).numpy()
        ax.hist(lam, bins=bins, range=(0, 1), density=True, color=sns.color_palette()[0], alpha=0.55,
                label=f"{n_samples} draws of sample_lambda")
        pdf = beta_pdf(grid, a)
        ax.plot(grid, pdf, color="black", lw=1.8, label="Beta(α, α) density")
        top = max(3.0, float(np.quantile(pdf, 0.9)) * 1.3) if a < 1 else float(pdf.max()) * 1.25
        ax.set_ylim(0, top)
        ax.set_title(f"α = {a:g}  (std of λ = {1 / (2 * math.sqrt(2 * a + 1)):.3f})", fontsize=11)
        ax.set_xlabel("λ")
        ax.set_ylabel("density")
    for ax in axes.flat[len(alphas):]:
        ax.remove()
    axes.flat[0].legend(loc="upper center", fontsize=8)
    fig.suptitle("Mixing weights λ ~ Beta(α, α): sampled vs analytic density")
    fig.tight_layout()
    return fig


def plot_lambda_concentration(alphas: Sequence[float] | None = None, n_samples: int = 5000,
                              seed: int = 0) -> Figure:
    r"""How α moves λ towards 1/2: the standard deviation of λ (analytic :math:`1/(2\sqrt{2\alpha+1})` and
    sampled) and the mean weight of the dominant example :math:`E[\max(\lambda, 1-\lambda)]` against α."""
    alphas = list(np.logspace(-2, 1.5, 15)) if alphas is None else [check_alpha(a) for a in alphas]
    n_samples = check_int("n_samples", n_samples, low=2)
    _style()
    g = torch.Generator().manual_seed(seed)
    emp_std, emp_max = [], []
    for a in alphas:
        lam = sample_lambda(a, (n_samples,), g).numpy()
        emp_std.append(lam.std())
        emp_max.append(np.maximum(lam, 1 - lam).mean())
    a_arr = np.asarray(alphas, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(a_arr, 1 / (2 * np.sqrt(2 * a_arr + 1)), color="black", lw=1.5, label="std of λ (analytic)")
    ax.plot(a_arr, emp_std, "o", ms=4, label="std of λ (sampled)")
    ax.plot(a_arr, emp_max, "s-", ms=4, label="mean of max(λ, 1 − λ) (sampled)")
    ax.axhline(0.5, color="grey", ls=":", lw=1, label="λ = 1/2 (an even mix)")
    ax.set_xscale("log")
    ax.set_xlabel("α")
    ax.set_ylabel("value")
    ax.set_ylim(0, 1.02)
    ax.set_title("Larger α concentrates λ around 1/2 (stronger mixing)")
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------------
# 2-D decision boundaries (the paper's Figure 1b)
# ----------------------------------------------------------------------------------------------------------




def plot_decision_boundaries(models: Mapping[str, torch.nn.Module], x, y, *, resolution: int = 200,
                             title: str | None = None, max_points: int = 400) -> Figure:
    """One panel per trained 2-D model: predicted probability map, decision boundary, training points.

    For two classes the colour is p(class 1 | x) (the paper's Figure 1b), with the boundary p = 1/2 in
    black; for more classes it is the confidence max_k p(k | x), with the class regions outlined.
    """
    check_mapping("models", models, "trained model")
    x = torch.as_tensor(x, dtype=torch.float32).cpu()
    y = torch.as_tensor(y).cpu()
    _style()
    n = len(models)
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n + 1.0, 4.4), squeeze=False, sharey=True, layout="constrained")
    keep = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))[:max_points]
    xs, ys = x[keep].numpy(), y[keep].numpy()
    classes = np.unique(ys)
    im, cbar_label = None, ""
    for ax, (name, model) in zip(axes[0], models.items()):
        xx, yy, probs = decision_grid(model, x, resolution)
        k = probs.shape[-1]
        if k == 2:
            im = ax.contourf(xx, yy, probs[..., 1], levels=np.linspace(0, 1, 21), cmap="RdBu_r", vmin=0, vmax=1,
                             alpha=0.85)
            ax.contour(xx, yy, probs[..., 1], levels=[0.5], colors="black", linewidths=1.5)
            cbar_label = "p(class 1 | x)"
            styles = {0: dict(marker="o", facecolor="white", edgecolor="black"),
                      1: dict(marker="^", facecolor="black", edgecolor="white")}
        else:
            im = ax.contourf(xx, yy, probs.max(-1), levels=np.linspace(1 / k, 1, 21), cmap="Greys", alpha=0.8)
            ax.contour(xx, yy, probs.argmax(-1), levels=np.arange(k) + 0.5, colors="black", linewidths=1)
            cbar_label = "confidence max_k p(k | x)"
            styles = {}
        for c in classes:
            sel = ys == c
            st = styles.get(int(c), dict(marker="o", facecolor=sns.color_palette("tab10")[int(c) % 10],
                                         edgecolor="black"))
            ax.scatter(xs[sel, 0], xs[sel, 1], s=14, linewidth=0.5, label=f"class {int(c)}", **st)
        ax.set_title(_label(name))
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")
    axes[0][0].legend(loc="lower left", fontsize=8, framealpha=0.9)
    fig.suptitle(title or "Decision boundaries and predicted probabilities")
    fig.colorbar(im, ax=list(axes[0]), label=cbar_label, fraction=0.04, pad=0.02)
    return fig


# ----------------------------------------------------------------------------------------------------------
# Targets of formula (2)
# ----------------------------------------------------------------------------------------------------------


def plot_target_properties(lambdas=None, epsilons=(0.0, 0.05, 0.1, 0.2, 0.3), num_classes: int = 10) -> Figure:
    """Entropy and max-confidence of the target of formula (2) as functions of λ, one line per ε."""
    lambdas = np.linspace(0, 1, 101) if lambdas is None else lambdas
    st = target_statistics(lambdas, epsilons, num_classes)
    _style()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    colors = sns.color_palette("viridis", len(st["epsilons"]))
    for i, e in enumerate(st["epsilons"]):
        ax1.plot(st["lambdas"], st["entropy"][i], color=colors[i], label=f"ε = {e:g}")
        ax2.plot(st["lambdas"], st["max_confidence"][i], color=colors[i], label=f"ε = {e:g}")
    k = st["num_classes"]
    ax1.axhline(math.log(k), color="grey", ls=":", lw=1, label=f"uniform (log {k})")
    ax1.set_title("Entropy of the target")
    ax1.set_xlabel("λ (weight of the first class)")
    ax1.set_ylabel("entropy (nats)")
    ax2.set_title("Largest target probability")
    ax2.set_xlabel("λ (weight of the first class)")
    ax2.set_ylabel(r"$\max_k\, \tilde y'_k$")
    ax1.legend(fontsize=8, loc="lower center", ncol=2)
    ax2.legend(fontsize=8)
    fig.suptitle(f"Mixed-then-smoothed targets, formula (2), K = {k} classes")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------------
# Calibration and comparisons
# ----------------------------------------------------------------------------------------------------------








def plot_reliability(reliabilities: Mapping[str, Mapping], *, title: str | None = None) -> Figure:
    """Reliability diagrams, one panel per method, each above a bar chart of its bin counts.

    ``reliabilities`` maps a method name to the dict of :func:`mixup_repro.metrics.reliability_bins` (or the
    ``summary["reliability"]`` of a run, or :func:`pool_reliability` of several runs):
    ``bin_confidence``, ``bin_accuracy``, ``bin_count`` (empty bins None or NaN), optionally ``bin_lower`` /
    ``bin_upper``, and, from ``pool_reliability``, ``n_runs`` and ``run_ece`` (the ECE of each pooled run).

    Bars are the accuracy of each confidence bin; the red part is the gap to perfect calibration (the
    diagonal). Under each diagram, the number of test predictions in each bin (log scale, with the count
    written on each bar), so that a large gap in a bin holding a handful of predictions is not mistaken for
    a large error. The panel title gives the ECE (%) of the bins drawn, and says what it is: of one run, or
    of the bins pooled over ``n_runs`` runs (seeds); with ``run_ece`` it also gives the mean of the per-run
    ECEs, the number the chapters' tables report.
    """
    check_mapping("reliabilities", reliabilities, "reliability bins")
    _style()
    n = len(reliabilities)
    ncols = 2 if n == 4 else min(n, 3)
    nrows = math.ceil(n / ncols)
    fig = plt.figure(figsize=(4.3 * ncols, 4.7 * nrows + 0.5), layout="constrained")
    outer = fig.add_gridspec(nrows, ncols)
    first = None
    for i, (name, rel) in enumerate(reliabilities.items()):
        r, col = divmod(i, ncols)
        inner = outer[r, col].subgridspec(2, 1, height_ratios=[3, 1.1], hspace=0.04)
        ax = fig.add_subplot(inner[0])
        axc = fig.add_subplot(inner[1], sharex=ax)
        first = first or ax
        lower, upper, conf, acc, count = reliability_arrays(rel)
        width = upper - lower
        centers = (lower + upper) / 2
        ok = count > 0
        ece = reliability_ece(rel)
        ax.bar(centers[ok], acc[ok], width=width[ok], color=sns.color_palette()[0], edgecolor="white",
               label="accuracy")
        ax.bar(centers[ok], conf[ok] - acc[ok], bottom=acc[ok], width=width[ok], color="tab:red", alpha=0.35,
               edgecolor="tab:red", label="gap to confidence")
        ax.plot([0, 1], [0, 1], color="black", ls="--", lw=1, label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        n_runs = int(rel.get("n_runs", 1) or 1)
        run_ece = [float(v) for v in rel.get("run_ece", []) if v is not None and v == v]
        if n_runs > 1:
            what = f"ECE of the bins pooled over {n_runs} seeds: {100 * ece:.2f} %"
            if run_ece:
                what += f"\nmean of the {len(run_ece)} per-seed ECEs: {100 * float(np.mean(run_ece)):.2f} %"
        else:
            what = f"ECE (one run): {100 * ece:.2f} %"
        ax.set_title(f"{_label(name)}\n{what}", fontsize=9.5)
        ax.set_ylabel("accuracy")
        ax.set_xlabel("confidence")  # shared with the counts below, which show it
        ax.xaxis.label.set_visible(False)
        ax.tick_params(labelbottom=False)
        axc.bar(centers[ok], count[ok], width=width[ok], color="0.55", edgecolor="white")
        axc.set_yscale("log")
        axc.set_ylim(0.8, max(2.0, float(count.max())) * 8)
        for xc, cnt in zip(centers[ok], count[ok]):
            axc.text(xc, cnt * 1.15, f"{int(cnt)}", ha="center", va="bottom", fontsize=6.5, rotation=90)
        axc.set_ylabel("predictions\n(log)", fontsize=9)
        axc.set_xlabel("confidence")
        axc.grid(axis="x", visible=False)
    first.legend(loc="upper left", fontsize=8)
    total = sum(int(np.asarray(rel["bin_count"], dtype=np.float64).sum()) for rel in reliabilities.values())
    fig.suptitle((title or "Reliability diagrams (test set)")
                 + f"\nunder each diagram: test predictions per confidence bin ({total:,} in all panels)",
                 fontsize=11)
    return fig


def plot_learning_curves(curves: Mapping[str, Mapping], metric: str = "test_error", *,
                         title: str | None = None) -> Figure:
    """One line per method of ``curves[method][metric]`` against ``curves[method]["epoch"]`` (the
    ``RunResult.curves`` of :func:`mixup_repro.train.fit`)."""
    check_mapping("curves", curves, "curves dict")
    labels = {"test_error": "test error (%)", "test_loss": "test NLL", "test_ece": "test ECE (%)",
              "train_loss": "training loss"}
    scale = display_factor(metric)
    _style()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, c in curves.items():
        if metric not in c:
            raise ValueError(f"curves[{name!r}] has no {metric!r}; has {', '.join(c)}")
        ax.plot(c["epoch"], [scale * v for v in c[metric]], label=_label(name))
    ax.set_xlabel("epoch")
    ax.set_ylabel(labels.get(metric, metric))
    ax.set_title(title or f"{labels.get(metric, metric).capitalize()} during training")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_method_comparison(table, metrics: Sequence[str] = ("final_error", "final_nll", "final_ece"), *,
                           method_col: str = "method", hue: str | None = None,
                           title: str | None = None) -> Figure:
    """Bar charts of summary metrics by method, one panel per metric.

    ``table`` is a pandas DataFrame with a ``method_col`` column and the metric columns (e.g. the
    comparison table of chapter 3, or :func:`mixup_repro.results.load_results`); several rows per method
    (seeds) are averaged with their spread as error bars. ``hue`` splits the bars by another column.
    """
    import pandas as pd

    if not isinstance(table, pd.DataFrame) or len(table) == 0:
        raise ValueError("table must be a non-empty pandas DataFrame")
    missing = [c for c in (method_col, *metrics, *([hue] if hue else [])) if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks column(s) {', '.join(missing)}")
    names = {"final_error": "test error (%)", "final_nll": "test NLL", "final_ece": "test ECE (%)",
             "median_last10_error": "median error, last 10 epochs (%)", "best_error": "best test error (%)"}
    _style()
    df = table.assign(**{method_col: table[method_col].map(lambda m: _label(str(m)))},
                      **{m: table[m] * display_factor(m) for m in metrics if display_factor(m) != 1.0})
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.8), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        sns.barplot(data=df, x=method_col, y=m, hue=hue, ax=ax, errorbar="sd")
        ax.set_title(names.get(m, m))
        ax.set_xlabel("method")
        ax.set_ylabel(names.get(m, m))
        ax.tick_params(axis="x", rotation=25)
    fig.suptitle(title or "Comparison of methods")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------------
# What mixup does to an image pair
# ----------------------------------------------------------------------------------------------------------
def plot_mixed_examples(x_a, x_b, y_a: int, y_b: int, class_names: Sequence[str],
                        lambdas: Sequence[float] = (1.0, 0.75, 0.5, 0.25, 0.0), epsilon: float = 0.0) -> Figure:
    """Mix two images with several λ (formula (1)) and caption each with its target (formula (2)).

    ``x_a`` and ``x_b`` are single images (C, H, W) (uint8 or float in [0, 1]); ``y_a``, ``y_b`` their classes.
    """
    eps = check_eps(epsilon, "epsilon")
    k = len(class_names)
    check_num_classes(k, "len(class_names)")
    xa = torch.as_tensor(x_a)
    xb = torch.as_tensor(x_b)
    if xa.dtype == torch.uint8:
        xa, xb = xa.double() / 255, xb.double() / 255
    x = torch.stack([xa.double(), xb.double()])
    y = torch.tensor([int(y_a), int(y_b)])
    lambdas = [check_real("lambda", lam, low=0.0, high=1.0) for lam in lambdas]
    _style()
    # about 1.5 in per image: the page shows the figure at about 700 px, so its text keeps nearly its size
    fig, axes = plt.subplots(1, len(lambdas), figsize=(max(3.0, 1.5 * len(lambdas)), 3.0), squeeze=False,
                             layout="constrained")
    for ax, lam in zip(axes[0], lambdas):
        out = mix(x, y, num_classes=k, lam=lam, index=torch.tensor([1, 0]), label_smoothing=eps)
        img = out.inputs[0].permute(1, 2, 0).squeeze(-1).clamp(0, 1).numpy()
        ax.imshow(img, cmap="gray_r" if img.ndim == 2 else None, vmin=0, vmax=1)
        t = out.targets[0]
        caption = "\n".join(f"{class_names[c]}: {float(t[c]):.2f}" for c in (int(y_a), int(y_b)))
        ax.set_title(f"λ = {lam:g}", fontsize=10)
        ax.set_xlabel(caption, fontsize=8.5)
        ax.set_ylabel("mixed input" if ax is axes[0][0] else "", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    others = f"; every other class {eps / k:.3g}" if eps > 0 else ""
    fig.suptitle(f"mixup of two images, formula (1), and their targets,\nformula (2) with ε = {eps:g}{others}",
                 fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------------------
# Speed
# ----------------------------------------------------------------------------------------------------------
def plot_epoch_times(records: Sequence[Mapping], *, title: str | None = None) -> Figure:
    """Seconds per training epoch of every loop of every speed record (``benchmarks/results``), log scale.

    One bar per loop (the reference first, then each variant of ours), grouped by record (device, data set,
    training-set size); the median over epochs 2..N, each epoch's own time as a dot.
    """
    _style()
    if not isinstance(records, Sequence) or isinstance(records, (str, bytes)):
        raise TypeError("records must be a sequence of speed records (mixup_repro.speed.read_speed_results)")
    from .speed import record_loops

    rows = []
    for r in records:
        group = f"{r['device']}\n{r['dataset']} ({r['num_train']:,}), {r['model']} w{r['settings'].get('width', '')}"
        for name, v, _ in record_loops(r):
            rows.append((group, name, v["s_per_epoch"], v.get("epoch_s", [])))
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.45 * max(1, len(rows))))
    if not rows:
        ax.text(0.5, 0.5, "no speed record yet", ha="center", va="center", transform=ax.transAxes, color="0.35")
        ax.set_axis_off()
        return fig
    labels = [f"{g}  |  {n}" if i == 0 or rows[i - 1][0] != g else n for i, (g, n, _, _) in enumerate(rows)]
    y = np.arange(len(rows))[::-1]
    palette = sns.color_palette("colorblind", 2)
    ax.barh(y, [r[2] for r in rows], color=[palette[0] if r[1].startswith("reference") else palette[1] for r in rows])
    for yi, r in zip(y, rows):
        if len(r[3]) > 1:
            ax.scatter(r[3], [yi] * len(r[3]), s=10, color="black", zorder=3)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xscale("log")
    values = [v for r in rows for v in (r[2], *r[3]) if v and v > 0]
    lo, hi = min(values) / 1.5, max(values) * 1.5
    ax.set_xlim(lo, hi)
    _log_ticks(ax.xaxis, lo, hi)
    for yi, r in zip(y, rows):  # the median, inside its bar (the dots may lie past its end)
        ax.text(lo * 1.04, yi, f"{r[2]:.3g} s", va="center", ha="left", fontsize=8, color="white",
                fontweight="bold")
    ax.set_xlabel("seconds per training epoch (log scale)\nbar: median of epochs 2..N; dots: every epoch")
    ax.set_title(title or "Training loops: seconds per epoch")
    fig.tight_layout()
    return fig


def _log_ticks(axis, lo: float, hi: float) -> None:
    """Major ticks at 1, 2, 5 x 10^k inside [lo, hi] (1 and 10^k only when they are too many), labelled as
    plain numbers; the minor ticks unlabelled, so that the labels of a log axis never overlap."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    ticks = []
    for subs in ((1, 2, 3, 5), (1, 2, 5), (1, 3), (1,)):
        ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
                 for m in subs if lo <= m * 10.0 ** e <= hi]
        if len(ticks) <= 8:
            break
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


# ----------------------------------------------------------------------------------------------------------
# Table chapters: summary frames and row runs
# ----------------------------------------------------------------------------------------------------------
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
    splits the bars (``weight decay``, ``model``, ``label noise``, or ``row``). A category with no finished
    run in any hue is left out (the x-axis label says how many; the table names them); one with runs in some
    hues only keeps its label, with no bar for the others. ``groups`` keeps only rows of those groups. With
    ``show_paper`` and a numeric ``paper`` column (CIFAR runs), the published numbers are drawn as black diamonds.
    """

    _style()
    d = runnable(df)
    if groups is not None:
        d = d[d["group"].isin(list(groups))]
    cats = list(dict.fromkeys(d[category].astype(str))) if len(d) else []
    with_runs = [c for c in cats if (d.loc[d[category].astype(str) == c, "n_done"].fillna(0).astype(int) > 0).any()]
    left_out = len(cats) - len(with_runs)
    if with_runs:
        cats = with_runs
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
            means.append(display_factor(metric) * float(r.iloc[0][f"{metric}_mean"]))
            s = r.iloc[0][f"{metric}_std"]
            stds.append(0.0 if is_missing(s) else display_factor(metric) * float(s))
        if ys:
            drawn = True
            ax.barh(ys, means, height=height * 0.92, xerr=stds, color=colors[j], capsize=2, error_kw={"lw": 1},
                    label=(f"{hue} {h}" if hue not in ("row", "dataset") else h) if h is not None else None)
    if show_paper and "paper" in d.columns and len(cats):
        py = [i for i, c in enumerate(cats) if not is_missing(d[d[category].astype(str) == c].iloc[0].get("paper"))]
        if py:
            ax.scatter([float(d[d[category].astype(str) == cats[i]].iloc[0]["paper"]) for i in py], py, marker="D",
                       color="black", zorder=3, label="published (paper)")
            drawn = True
    ax.set_yticks(np.arange(len(cats)))
    ax.set_yticklabels(cats, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel(metric_text(metric) + (", mean ± std over seeds" if drawn else "")
                  + (f"\n({count_text(left_out, 'method' if category == 'row' else category)} "
                     "without a finished run left out)" if drawn and left_out else ""))
    ax.set_ylabel(category if category != "row" else "method")
    ax.set_title(title or f"{df.attrs.get('title', '')} ({df.attrs.get('scale', '')} scale)", fontsize=11)
    bottom = 0.0
    if not drawn:
        _note(ax, "no finished runs yet")
    elif any(h is not None for h in hues) or "paper" in d.columns:
        handles, labels = ax.get_legend_handles_labels()
        if handles:  # under the axes: inside, it covers the longest bars
            fig.legend(handles, labels, loc="lower center", ncol=min(4, len(handles)), fontsize=8)
            bottom = 0.3 / fig.get_size_inches()[1] * (1 + (len(handles) - 1) // 4)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    return fig


def _row_param(name: str, label: str, field: str, default=0.0):
    from .experiments import TABLES

    for r in TABLES[name].rows:
        if r.label == label:
            return r.overrides.get(field, default)
    return default


def plot_alpha_sweep(df, metric: str = "median_last10_error", *, title: str | None = None):
    """Error against α (log scale) for the ablation's α sweep: mixup and mixup + label smoothing ε = 0.1."""

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
        e = [0.0 if is_missing(sub.iloc[i][f"{metric}_std"]) else float(sub.iloc[i][f"{metric}_std"]) for i in order]
        of = int(d["row"].astype(str).str.startswith(prefix).sum())
        ax.errorbar(x, y, yerr=e, marker="o", capsize=3, label=f"{name} ({len(x)} of {of} α values run)")
        ticks.update(x)
        drawn = True
    ax.set_xscale("log")
    if ticks:
        ax.set_xticks(sorted(ticks))
        ax.set_xticklabels([f"{a:g}" for a in sorted(ticks)])
        ax.minorticks_off()
    ax.set_xlabel("α (Beta(α, α) concentration)")
    ax.set_ylabel(metric_text(metric))
    ax.set_title(title or f"Test error against α ({df.attrs.get('scale', '')} scale, weight decay 1e-4)")
    return _finish(fig, ax, drawn, "no finished α-sweep runs yet", legend_size=9)


def _mean_std_curves(records, key):

    seqs = [r["curves"].get(key) for r in records if r["curves"].get(key)]
    if not seqs:
        return None
    n = min(len(s) for s in seqs)
    arr = np.array([s[:n] for s in seqs], dtype=float)
    return np.arange(1, n + 1), arr.mean(0), (arr.std(0, ddof=1) if len(arr) > 1 else np.zeros(n))


def plot_row_curves(runs: Mapping[str, list], metric: str = "test_error", *, title: str | None = None,
                    ylabel: str | None = None):
    """Per-epoch curves (mean over seeds, band ± std) of every row of :func:`row_runs` that has runs."""
    from matplotlib.ticker import MaxNLocator

    _style()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    drawn = False
    suffixes = {k[k.rfind(" ["):] if k.endswith("]") and " [" in k else "" for k, v in runs.items() if v}
    common = suffixes.pop() if len(suffixes) == 1 else ""
    styles, markers = ("-", "--", "-.", ":"), ("o", "s", "^", "D", "v", "P")
    for i, (key, recs) in enumerate((k, v) for k, v in runs.items() if _mean_std_curves(v, metric) is not None):
        x, m, s = _mean_std_curves(recs, metric)
        m, s = display_factor(metric) * m, display_factor(metric) * s
        name = key[:-len(common)] if common else key
        # colour, line style and marker all differ: the rows stay apart in print and for colour-blind readers
        ax.plot(x, m, label=f"{name} (n={len(recs)})", linestyle=styles[i % len(styles)], lw=1.8,
                marker=markers[i % len(markers)], markevery=max(1, len(x) // 8), markersize=5)
        ax.fill_between(x, m - s, m + s, alpha=0.15)
        drawn = True
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel or METRIC_TEXT.get(metric, {"test_error": "test error (%)",
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
    from matplotlib.ticker import MaxNLocator

    _style()
    levels = list(dict.fromkeys(k.split("label noise=")[1].rstrip("]") for k in runs if "label noise=" in k))
    levels = levels or ["—"]
    # narrow panels: the page shows the figure at about 700 px, so a wider one would shrink its text
    fig, axes = plt.subplots(1, len(levels), figsize=(max(4.0, 2.5 * len(levels)), 3.9), squeeze=False, sharey=True)
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
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        ax.set_ylabel("training error (%)")
        ax.set_ylim(-2, 102)
        if not drawn:
            _note(ax, "no finished runs yet")
        any_drawn |= drawn
    if any_drawn:  # one entry per method (its colour) and one per line style, not one per method and style
        from matplotlib.lines import Line2D

        drawn_labels = {lab for ax in axes[0] for lab in ax.get_legend_handles_labels()[1]}
        shown = [m for m in methods if any(lab.startswith(f"{m}, ") for lab in drawn_labels)]
        handles = [Line2D([], [], color=colors[m], lw=2) for m in shown]
        handles += [Line2D([], [], color="black", ls="-"), Line2D([], [], color="black", ls="--")]
        labels = shown + ["on the corrupted labels", "on the clean labels"]
        fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=9, bbox_to_anchor=(0.5, -0.01))
    fig.suptitle(title or "Memorization: training error on the\ncorrupted (solid) and clean (dashed) labels",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.19 if any_drawn else 0, 1, 1))
    return fig




def plot_reliability_rows(runs: Mapping[str, list], *, rows: Sequence[str] | None = None, title: str | None = None):
    """Reliability diagrams (:func:`plot_reliability`) of table rows (:func:`~mixup_repro.experiments.row_runs`),
    bins pooled over seeds."""
    keys = list(rows) if rows is not None else list(runs)
    rel = {k: pool_reliability(runs[k]) for k in keys if runs.get(k)}
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

    _style()
    eps = sorted(float(c[len("fgsm_error_"):-len("_mean")]) for c in df.columns
                 if c.startswith("fgsm_error_") and c.endswith("_mean"))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    drawn = False
    for _, r in runnable(df).iterrows():
        if int(r["n_done"]) == 0:
            continue
        xs, ys, es = [0.0], [float(r["final_error_mean"])], [r["final_error_std"]]
        for e in eps:
            xs.append(e)
            ys.append(float(r[f"fgsm_error_{e:g}_mean"]))
            es.append(r[f"fgsm_error_{e:g}_std"])
        es = [0.0 if is_missing(v) else float(v) for v in es]
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=f"{r['row']} (n={int(r['n_done'])})")
        drawn = True
    ax.set_xlabel("FGSM step ε (pixel units in [0, 1]; 0 = clean test set)")
    ax.set_ylabel("test error (%)")
    ax.set_title(title or f"Error under FGSM attacks ({df.attrs.get('scale', '')} scale)")
    return _finish(fig, ax, drawn, "no finished runs yet", legend_size=8)


def plot_eps_validation(df, metric: str = "median_last10_error", *, title: str | None = None):
    """Validation error and test error against ε (mixup + label smoothing, α = 1; ε = 0 is mixup), with the ε
    selected on validation marked."""

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
                    yerr=[0.0 if is_missing(sub.iloc[i][f"{metric}_std"]) else float(sub.iloc[i][f"{metric}_std"])
                          for i in order], marker=marker, capsize=3, label=name)
        drawn = True
    sel = df.attrs.get("selected_eps")
    if sel is not None:
        ax.axvline(sel, color="black", ls=":", lw=1.2, label=f"selected ε = {sel:g}")
    ax.set_xlabel("label smoothing ε (0 = mixup)")
    ax.set_ylabel(metric_text(metric))
    ax.set_title(title or f"Choosing ε on a validation split ({df.attrs.get('scale', '')} scale)")
    return _finish(fig, ax, drawn, "no finished runs yet", legend_size=8)
