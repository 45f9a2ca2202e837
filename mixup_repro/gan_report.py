"""The GAN chapter's report: tables, verdicts and figures from the results files of :mod:`mixup_repro.gan_train`.

Everything here reads results objects (as :func:`mixup_repro.gan_train.train_gan` returns and
:func:`mixup_repro.gan_train.load_gan_results` reads them) and trains nothing: the per-seed and outcome tables,
the paired mixup − ERM comparison with its verdicts, the settings table, the CPU-time note, and the figures
(samples, metrics and losses over iterations).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch

from ._checks import check_choice, check_real
from .gan_train import GAN_METRICS, GAN_PROBLEMS, GANConfig

__all__ = [
    "GAN_SOURCE",
    "cpu_time_note",
    "gan_claims",
    "gan_metrics_frame",
    "outcome_markdown",
    "outcome_table",
    "paired_comparison",
    "per_seed_table",
    "plot_gan_losses",
    "plot_gan_metrics",
    "plot_gan_samples",
    "scale_table",
    "verdict_markdown",
]

_COLORS = {"erm": "tab:red", "mixup": "tab:blue"}
_LABELS = {"erm": "ERM-GAN", "mixup": "mixup-GAN"}


# ----------------------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------------------
def gan_metrics_frame(runs: Iterable[Mapping]):
    """Long pandas DataFrame of the metrics of ``runs``: one row per (run, evaluation) with ``problem``,
    ``variant``, ``alpha``, ``seed``, ``iteration`` and the metrics of :data:`GAN_METRICS`."""
    import pandas as pd

    rows = []
    for r in runs:
        c, m = r["config"], r["metrics"]
        variant = "erm" if c["alpha"] == 0 else "mixup"
        for i, it in enumerate(m["iteration"]):
            rows.append({"problem": c["problem"], "variant": variant, "alpha": c["alpha"], "seed": c["seed"],
                         "iteration": it, **{k: m[k][i] for k in GAN_METRICS}})
    return pd.DataFrame(rows)


GAN_SOURCE = "paper (Section 3.7, Figure 5)"
"""The source of the GAN claims (:func:`gan_claims`)."""


def paired_comparison(runs: Iterable[Mapping], *, statistic: str = "late", confidence: float = 0.95):
    """mixup − ERM per problem and metric, paired by seed, with a t confidence interval and the book's verdict.

    ``statistic`` is ``late`` (each run's mean over the evaluations of the last quarter of training) or
    ``final`` (the last evaluation). Rows: problem, metric, n (seeds present in both variants), the ERM and
    mixup means, the mean paired difference Δ, its ``confidence`` t interval and the p-value of the paired t
    test (:func:`mixup_repro.stats.paired_difference`: :func:`scipy.stats.ttest_rel`; a zero spread gives the
    point Δ), the p-value Holm-corrected over every row of the table (:func:`mixup_repro.stats.holm`), the
    per-seed differences, and the verdict word of :func:`mixup_repro.stats.judge`, as in every chapter:
    *reproduced* (Holm p < 0.05 and Δ in the paper's direction: more modes, more high-quality points, a smaller
    energy distance), *reversed* (Holm p < 0.05 against it), *not detected* (Holm p ≥ 0.05) or *not tested*
    (fewer than 2 paired seeds). A GAN claim has no regime check: it is about training stability, not about
    regularising a model that fits its data.
    """
    import pandas as pd

    from .stats import holm, judge, paired_difference

    check_choice("statistic", statistic, ("late", "final"))
    confidence = check_real("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True)
    by: dict[tuple[str, str, float], dict[int, dict]] = {}
    for r in runs:
        c = r["config"]
        by.setdefault((c["problem"], "erm" if c["alpha"] == 0 else "mixup", c["alpha"]), {})[c["seed"]] = r["summary"]
    rows, results = [], []
    for (problem, variant, alpha), mix in sorted(by.items(), key=lambda kv: (GAN_PROBLEMS.index(kv[0][0]), kv[0][2])):
        if variant != "mixup":
            continue
        erm = by.get((problem, "erm", 0.0), {})
        for metric, (name, direction) in GAN_METRICS.items():
            key = f"{statistic}_{metric}"
            r = paired_difference({s: v[key] for s, v in mix.items()}, {s: v[key] for s, v in erm.items()},
                                  confidence=confidence)
            results.append((r, direction))
            rows.append({"problem": problem, "alpha": alpha, "metric": metric, "metric name": name, "n": r.n,
                         "ERM mean": r.b_mean, "mixup mean": r.a_mean, "Δ (mixup − ERM)": r.mean_diff,
                         "CI low": r.ci_low, "CI high": r.ci_high, "p (paired t)": r.p,
                         "per-seed Δ": [round(float(mix[s][key] - erm[s][key]), 4) for s in r.seeds]})
    adjusted = holm([r.p for r, _ in results])
    for row, (r, direction), padj in zip(rows, results, adjusted):
        row["Holm p"] = padj
        row["verdict"] = judge(r, padj, direction="higher" if direction > 0 else "lower")
    return pd.DataFrame(rows)


def gan_claims(runs: Iterable[Mapping], *, statistic: str = "late"):
    """The GAN chapter's claims with the columns of :func:`mixup_repro.claims.paired_claims` that
    :func:`mixup_repro.views.all_paired_verdicts` reads (``claim``, ``source``, ``metric``, ``Δ = A − B``,
    ``95 % CI``, ``Holm p``, ``n``, ``verdict``; A = mixup-GAN, B = ERM-GAN), one per
    problem and metric of :func:`paired_comparison`, so that the introduction and the conclusions count them with
    the tables' claims. Raises ``ValueError`` when ``runs`` mix GAN settings (other than problem, α and seed): a
    seed would then be paired with a run of another protocol."""
    import pandas as pd

    from .stats import format_p

    runs = list(runs)
    settings = {tuple(sorted((k, str(v)) for k, v in r["config"].items() if k not in ("problem", "alpha", "seed")))
                for r in runs}
    if len(settings) > 1:
        raise ValueError(f"runs: {len(settings)} different GAN settings besides problem, alpha and seed; give the "
                         "runs of one protocol (one results folder per protocol)")
    t = paired_comparison(runs, statistic=statistic)
    out = []
    for _, r in t.iterrows():
        name, direction = GAN_METRICS[r["metric"]]
        more = "more" if direction > 0 else "less"
        what = {"modes_covered": "covers more modes", "hq_share": "puts more of its points near a mode",
                "energy_distance": "is closer to the target (a smaller energy distance)"}.get(
                    r["metric"], f"has {more} {name}")
        ok = r["n"] >= 2
        out.append({"claim": f"mixup-GAN (α = {r['alpha']:g}) {what} than ERM-GAN on the {r['problem']} problem",
                    "source": GAN_SOURCE, "metric": f"{name} (mean over the last quarter of training)"
                    if statistic == "late" else f"{name} (last evaluation)",
                    "Δ = A − B": f"{r['Δ (mixup − ERM)']:+.3f}" if r["n"] else "",
                    "95 % CI": f"[{r['CI low']:+.3f}, {r['CI high']:+.3f}]" if ok else "",
                    "Holm p": format_p(r["Holm p"]) if ok else "", "n": int(r["n"]), "verdict": r["verdict"]})
    return pd.DataFrame(out, columns=["claim", "source", "metric", "Δ = A − B", "95 % CI", "Holm p", "n", "verdict"])


def per_seed_table(runs: Iterable[Mapping]):
    """One row per run (problem, variant, seed): the final and the late (last-quarter mean) metrics, the run's
    CPU and wall seconds. A pandas DataFrame sorted by problem, variant and seed."""
    import pandas as pd

    rows = []
    for r in runs:
        c, s = r["config"], r["summary"]
        row = {"problem": c["problem"], "variant": _LABELS["erm" if c["alpha"] == 0 else "mixup"], "α": c["alpha"],
               "seed": c["seed"]}
        for stat in ("final", "late"):
            for k in GAN_METRICS:
                row[f"{stat} {k}"] = s[f"{stat}_{k}"]
        row.update({"CPU s": r["cpu_s"], "wall s": r["wall_s"]})
        rows.append(row)
    df = pd.DataFrame(rows)
    order = df["problem"].map(GAN_PROBLEMS.index)
    return df.assign(_o=order).sort_values(["_o", "α", "seed"]).drop(columns="_o").reset_index(drop=True)


def outcome_table(runs: Iterable[Mapping]):
    """How the runs end, per problem and variant: the number of runs, of runs that end with at most one mode
    covered at the last evaluation (collapsed, diverged, or not yet concentrated on the modes), of runs that
    end with every mode covered, and the median and the
    range over runs of the final energy distance. A pandas DataFrame."""
    import pandas as pd

    rows: dict[tuple, dict] = {}
    for r in runs:
        c, s = r["config"], r["summary"]
        key = (c["problem"], _LABELS["erm" if c["alpha"] == 0 else "mixup"])
        row = rows.setdefault(key, {"problem": key[0], "variant": key[1], "runs": 0, "≤ 1 mode covered": 0,
                                    "all modes covered": 0, "_ed": []})
        row["runs"] += 1
        row["≤ 1 mode covered"] += int(s["final_modes_covered"] <= 1)
        row["all modes covered"] += int(s["final_modes_covered"] == s["n_modes"])
        row["_ed"].append(s["final_energy_distance"])
    out = []
    for key in sorted(rows, key=lambda k: (GAN_PROBLEMS.index(k[0]), k[1])):
        row = rows[key]
        ed = sorted(row.pop("_ed"))
        n = len(ed)
        row["median final energy distance"] = ed[n // 2] if n % 2 else 0.5 * (ed[n // 2 - 1] + ed[n // 2])
        row["min"], row["max"] = ed[0], ed[-1]
        out.append(row)
    return pd.DataFrame(out)


def outcome_markdown(runs: Iterable[Mapping], *, far: float = 1.0, precise: float = 0.5) -> str:
    """The facts the chapter's discussion rests on, in words, from the runs: per problem and variant, how many
    runs end with at most one mode covered or with every mode covered, how many end far from the target
    (final energy distance above ``far``), and which runs sit on a single mode with a high-quality share of at
    least ``precise`` (a collapsed generator that the high-quality share alone would reward)."""
    runs = list(runs)
    table = outcome_table(runs)
    lines = []
    for problem in [p for p in GAN_PROBLEMS if p in set(table["problem"])]:
        parts = []
        for _, row in table[table["problem"] == problem].iterrows():
            rs = [r for r in runs if r["config"]["problem"] == problem
                  and _LABELS["erm" if r["config"]["alpha"] == 0 else "mixup"] == row["variant"]]
            n_far = sum(r["summary"]["final_energy_distance"] > far for r in rs)
            parts.append(f"{row['variant']}: {row['≤ 1 mode covered']} of {row['runs']} runs end with at most one mode covered, "
                         f"{row['all modes covered']} with every mode covered, {n_far} far from the target (final "
                         f"energy distance > {far:g}; median {row['median final energy distance']:.3f}, range "
                         f"{row['min']:.3f}-{row['max']:.3f})")
        lines.append(f"- **{problem}**: " + "; ".join(parts) + ".")
    single = [r for r in runs if r["summary"]["final_modes_covered"] <= 1 and r["summary"]["final_hq_share"] >= precise]
    if single:
        lines.append("- On a single mode with a high-quality share of at least "
                     f"{precise:g} at the end: " + ", ".join(
                         f"{r['config']['problem']} {_LABELS['erm' if r['config']['alpha'] == 0 else 'mixup']} seed "
                         f"{r['config']['seed']} ({r['summary']['final_hq_share']:.3f})" for r in single) + ".")
    else:
        lines.append(f"- No run ends on a single mode with a high-quality share of {precise:g} or more.")
    return "\n".join(lines)


def _fmt(v: float) -> str:
    """A signed number with 3 decimals (none from 100 on)."""
    return f"{v:+.3f}" if abs(v) < 100 else f"{v:+.0f}"


def verdict_markdown(table) -> str:
    """The verdict of each problem in words, from a :func:`paired_comparison` table: for every metric the
    verdict, Δ with its interval, the p-values (as :func:`mixup_repro.stats.format_p` shows them), n and the two
    means; a metric with fewer than two seed pairs says so instead of printing an empty interval."""
    from .claims import p_phrase
    from .stats import format_p

    lines = []
    for problem, block in table.groupby("problem", sort=False):
        words = ", ".join(f"{row['metric name']}: **{row['verdict']}**" for _, row in block.iterrows())
        lo, hi = int(block["n"].min()), int(block["n"].max())
        lines.append(f"**{problem}** (n = {lo if lo == hi else f'{lo}–{hi}'} seed pairs, mixup α = "
                     f"{block['alpha'].iloc[0]:g}): {words}.")
        for _, row in block.iterrows():
            head = f"- {row['metric name']}: "
            if row["n"] == 0:
                lines.append(head + "no seed with both an ERM-GAN and a mixup-GAN run.")
                continue
            head += f"ERM-GAN {row['ERM mean']:.3f}, mixup-GAN {row['mixup mean']:.3f}; "
            if row["n"] < 2:
                lines.append(head + f"Δ = {_fmt(row['Δ (mixup − ERM)'])} from one seed pair: no interval, no test.")
                continue
            lines.append(head + f"Δ = {_fmt(row['Δ (mixup − ERM)'])}, 95 % CI [{_fmt(row['CI low'])}, "
                         f"{_fmt(row['CI high'])}], {p_phrase('paired t p', format_p(row['p (paired t)']))}, "
                         f"{p_phrase('Holm p', format_p(row['Holm p']))}; per-seed Δ "
                         f"{', '.join(f'{v:+g}' for v in row['per-seed Δ'])}.")
        lines.append("")
    overall = table["verdict"].value_counts()
    lines.append("Over all problems and metrics: " + ", ".join(f"{n} {v}" for v, n in overall.items()) + ".")
    return "\n".join(lines)


def scale_table(config: GANConfig, paper: GANConfig, *, n_seeds: int, alpha: float) -> str:
    """Markdown table: the settings of this chapter's runs next to the authors' code's."""
    rows = [("hidden layers × units (both networks)", f"{config.layers} × {config.hidden}",
             f"{paper.layers} × {paper.hidden}"),
            ("latent dimension", config.latent_dim, paper.latent_dim),
            ("generator iterations", f"{config.iterations:,}", f"{paper.iterations:,} (20,001 in the code)"),
            ("discriminator steps per generator step", config.d_steps, paper.d_steps),
            ("batch (real and fake points)", config.batch_size, paper.batch_size),
            ("Adam lr (D, G), betas", f"{config.lr_d:g}, {config.lr_g:g}, ({config.beta1:g}, {config.beta2:g})",
             f"{paper.lr_d:g}, {paper.lr_g:g}, ({paper.beta1:g}, {paper.beta2:g}) (PyTorch's defaults)"),
            ("generator loss", config.generator_loss, "saturating (`- bce`)"),
            ("mode standard deviation", f"{config.std:g}", f"{paper.std:g}"),
            ("mixup λ", f"Beta({alpha:g}, {alpha:g}), real with fake", "Uniform(0, α), α ∈ {0.1, 0.2, 0.5, 1}; "
             "Figure 5: 0.2; any two points"),
            ("snapshots at iterations", ", ".join(f"{i:,}" for i in config.snapshot_iters),
             ", ".join(f"{i:,}" for i in paper.snapshot_iters)),
            ("seeds per variant", n_seeds, "1 (unseeded)")]
    out = ["| setting | this chapter | authors' code |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(out)


def cpu_time_note(runs: Iterable[Mapping]) -> str:
    """The closing note: CPU time of every run behind the chapter (from the results files), total and per run,
    with the device and thread count they record."""
    runs = list(runs)
    cpu = [r["cpu_s"] for r in runs]
    wall = [r["wall_s"] for r in runs]
    devices = sorted({f"{r['device']}" for r in runs})
    by = {}
    for r in runs:
        c = r["config"]
        key = (c["problem"], _LABELS["erm" if c["alpha"] == 0 else "mixup"])
        by.setdefault(key, []).append(r["cpu_s"])
    parts = "; ".join(f"{p} {v}: {sum(x):.0f} s over {len(x)} runs ({min(x):.1f}-{max(x):.1f} s each)"
                      for (p, v), x in sorted(by.items(), key=lambda kv: (GAN_PROBLEMS.index(kv[0][0]), kv[0][1])))
    commits = sorted({str(r["git_commit"]) for r in runs})
    return (f"**CPU time of this chapter's runs.** The {len(runs)} runs behind this page took "
            f"**{sum(cpu):.0f} CPU seconds ({sum(cpu) / 60:.1f} CPU minutes)** in total, "
            f"{sum(cpu) / len(cpu):.1f} s per run on average ({parts}); their wall times add up to {sum(wall):.0f} s "
            f"(wall time also counts what else ran on the machine). Measured with `time.process_time` inside each run "
            f"(training and evaluation, not the start-up), as recorded in each results file, on "
            f"{', '.join(devices)}; code commit(s) {', '.join(f'`{c}`' for c in commits)}.")

# ----------------------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------------------


def plot_gan_samples(runs: Iterable[Mapping], *, seed: int = 0, problems: Sequence[str] | None = None):
    """The paper's Figure 5: real points (grey) and generated points at the snapshot iterations, one row per
    (problem, variant) for the runs of ``seed``. Returns the figure."""
    import matplotlib.pyplot as plt

    runs = [r for r in runs if r["config"]["seed"] == seed]
    if problems is not None:
        runs = [r for r in runs if r["config"]["problem"] in problems]
    if not runs:
        raise ValueError(f"no runs with seed {seed}")
    runs = sorted(runs, key=lambda r: (GAN_PROBLEMS.index(r["config"]["problem"]), r["config"]["alpha"]))
    ncol = max(len(r["snapshots"]["iteration"]) for r in runs)
    fig, axes = plt.subplots(len(runs), ncol, figsize=(1.9 * ncol, 1.9 * len(runs)), squeeze=False)
    for row, r in zip(axes, runs):
        c = r["config"]
        variant = "erm" if c["alpha"] == 0 else "mixup"
        real = torch.tensor(r["real_snapshot"])
        lim = 1.35
        for ax, it, fake in zip(row, r["snapshots"]["iteration"], r["snapshots"]["fake"]):
            fake = torch.tensor(fake)
            ax.scatter(real[:, 0], real[:, 1], s=2, c="0.6", linewidths=0)
            ax.scatter(fake[:, 0], fake[:, 1], s=2, c=_COLORS[variant], alpha=0.35, linewidths=0)
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_aspect("equal")
            outside = float(((fake.abs() > lim).any(dim=1)).double().mean())
            ax.set_title(f"iteration {it:,}" + (f"\n{outside:.0%} outside the frame" if outside >= 0.005 else ""), fontsize=8)
        for ax in row[len(r["snapshots"]["iteration"]):]:
            ax.axis("off")
        label = _LABELS[variant] + (f"\nα = {c['alpha']:g}" if variant == "mixup" else "")
        row[0].set_ylabel(f"{c['problem']}\n{label}", fontsize=8)
    fig.suptitle(f"Real (grey) and generated points, seed {seed}", fontsize=10)
    fig.tight_layout()
    return fig


def _band(values, confidence: float = 0.95):
    """Mean over runs (axis 0) and its two-sided ``confidence`` t interval (the mean alone for one run)."""
    import numpy as np
    from scipy import stats

    v = np.asarray(values, dtype=float)
    mean = v.mean(axis=0)
    if v.shape[0] < 2:
        return mean, mean, mean
    half = stats.t.ppf(0.5 + confidence / 2, v.shape[0] - 1) * v.std(axis=0, ddof=1) / np.sqrt(v.shape[0])
    return mean, mean - half, mean + half


def plot_gan_metrics(runs: Iterable[Mapping], *, confidence: float = 0.95):
    """The metrics over iterations: mean over seeds and a ``confidence`` t band, one column per metric, one
    row per problem, ERM-GAN and mixup-GAN in each panel. Returns the figure."""
    import matplotlib.pyplot as plt

    runs = list(runs)
    problems = [p for p in GAN_PROBLEMS if any(r["config"]["problem"] == p for r in runs)]
    fig, axes = plt.subplots(len(problems), len(GAN_METRICS), figsize=(4.2 * len(GAN_METRICS), 3.0 * len(problems)),
                             squeeze=False)
    for row, problem in zip(axes, problems):
        for ax, (metric, (name, _)) in zip(row, GAN_METRICS.items()):
            for variant in ("erm", "mixup"):
                rs = [r for r in runs if r["config"]["problem"] == problem
                      and (r["config"]["alpha"] == 0) == (variant == "erm")]
                if not rs:
                    continue
                its = rs[0]["metrics"]["iteration"]
                mean, lo, hi = _band([r["metrics"][metric] for r in rs], confidence)
                top = {"modes_covered": rs[0]["summary"]["n_modes"], "hq_share": 1.0}.get(metric, float("inf"))
                lo, hi = lo.clip(0, top), hi.clip(0, top)  # drawn within the metric's range
                label = f"{_LABELS[variant]} (n = {len(rs)})"
                ax.plot(its, mean, color=_COLORS[variant], label=label)
                ax.fill_between(its, lo, hi, color=_COLORS[variant], alpha=0.2, linewidth=0)
            ax.set_xlabel("generator iteration")
            ax.set_ylabel(name)
            ax.set_title(f"{problem}: {name}", fontsize=10)
            if metric == "modes_covered":
                ax.set_ylim(-0.5, max(r["summary"]["n_modes"] for r in runs if r["config"]["problem"] == problem) + 0.5)
            elif metric == "hq_share":
                ax.set_ylim(-0.02, 1.02)
            else:
                ax.set_ylim(bottom=0)
            ax.legend(fontsize=7)
    fig.suptitle(f"Mean over seeds with {confidence:.0%} t confidence bands (drawn within each metric's range)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_gan_losses(runs: Iterable[Mapping]):
    """Discriminator and generator losses over iterations (mean over seeds, one row per problem)."""
    import matplotlib.pyplot as plt

    runs = list(runs)
    problems = [p for p in GAN_PROBLEMS if any(r["config"]["problem"] == p for r in runs)]
    fig, axes = plt.subplots(len(problems), 2, figsize=(9, 3.0 * len(problems)), squeeze=False)
    for row, problem in zip(axes, problems):
        for ax, key, name in zip(row, ("d_loss", "g_loss"), ("discriminator loss", "generator loss")):
            for variant in ("erm", "mixup"):
                rs = [r for r in runs if r["config"]["problem"] == problem
                      and (r["config"]["alpha"] == 0) == (variant == "erm")]
                if not rs:
                    continue
                mean, lo, hi = _band([r["curves"][key] for r in rs])
                if key == "d_loss" or rs[0]["config"]["generator_loss"] == "non_saturating":
                    lo, hi = lo.clip(0), hi.clip(0)  # drawn within the loss's range
                else:
                    lo, hi = lo.clip(max=0), hi.clip(max=0)
                its = rs[0]["curves"]["iteration"]
                ax.plot(its, mean, color=_COLORS[variant], label=_LABELS[variant])
                ax.fill_between(its, lo, hi, color=_COLORS[variant], alpha=0.2, linewidth=0)
            ax.set_xlabel("generator iteration")
            ax.set_ylabel(name)
            ax.set_title(f"{problem}: {name}", fontsize=10)
            ax.legend(fontsize=7)
    fig.suptitle("Mean over seeds with 95% t confidence bands (drawn within each loss's range)", fontsize=10)
    fig.tight_layout()
    return fig


