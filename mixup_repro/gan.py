r"""GANs on 2-D toy distributions, with and without mixup on the discriminator (paper Section 3.7, Figure 5).

The public face of the GAN chapter: training (:mod:`mixup_repro.gan_train`: data, networks, losses, metrics,
:func:`train_gan`, results files) and its report (:mod:`mixup_repro.gan_report`: tables, verdicts, figures)
are re-exported here, beside the chapter's parameter checks (:func:`check_params`) and the ``gan``
subcommand (:func:`register_cli`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._checks import check_choice, check_int, check_real
from .gan_report import (
    GAN_SOURCE,
    cpu_time_note,
    gan_claims,
    gan_metrics_frame,
    outcome_markdown,
    outcome_table,
    paired_comparison,
    per_seed_table,
    plot_gan_losses,
    plot_gan_metrics,
    plot_gan_samples,
    scale_table,
    verdict_markdown,
)
from .gan_train import (
    GAN_GENERATOR_LOSSES,
    GAN_METRICS,
    GAN_PROBLEMS,
    GAN_SCHEMA,
    GANConfig,
    GANDiscriminator,
    GANGenerator,
    discriminator_loss,
    energy_distance,
    gan_grid,
    gan_run_id,
    gan_runs,
    generator_loss,
    load_gan_results,
    mode_centers,
    mode_coverage,
    read_gan_result,
    read_valid_gan_results,
    sample_toy,
    scaled_snapshot_iters,
    train_gan,
    validate_gan_result,
)

__all__ = [
    "GAN_GENERATOR_LOSSES",
    "GAN_SOURCE",
    "GAN_METRICS",
    "GAN_PROBLEMS",
    "GAN_SCHEMA",
    "GANDiscriminator",
    "GANConfig",
    "GANGenerator",
    "chapter_runs",
    "check_gan_params",
    "discriminator_loss",
    "energy_distance",
    "gan_claims",
    "gan_metrics_frame",
    "gan_run_id",
    "gan_runs",
    "generator_loss",
    "load_gan_results",
    "mode_centers",
    "mode_coverage",
    "outcome_markdown",
    "outcome_table",
    "check_params",
    "cpu_time_note",
    "paired_comparison",
    "per_seed_table",
    "plot_gan_losses",
    "plot_gan_metrics",
    "plot_gan_samples",
    "read_gan_result",
    "register_cli",
    "sample_toy",
    "scale_table",
    "scaled_snapshot_iters",
    "train_gan",
    "validate_gan_result",
    "verdict_markdown",
]


def _check_problems(name, v):
    """A problem or a non-empty list of :data:`GAN_PROBLEMS` as a list (``ValueError`` naming ``name``)."""
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, (list, tuple)) or not v:
        raise ValueError(f"{name} must be a non-empty list of {', '.join(GAN_PROBLEMS)}, got {v!r}")
    return [check_choice(name, p, GAN_PROBLEMS) for p in v]


def check_params(**params) -> dict[str, Any]:
    """Validate the GAN chapter's parameters by name (one-line ``ValueError`` naming a bad one)."""
    from .params import check_path, optional, validate_params

    pos = lambda n, v: check_int(n, v, low=1)  # noqa: E731
    checks = {
        "problems": _check_problems,
        "alpha": lambda n, v: check_real(n, v, low=0.0, low_open=True),
        "iterations": pos, "d_steps": pos, "hidden": pos, "layers": pos, "batch_size": pos, "eval_every": pos,
        "n_seeds": lambda n, v: check_int(n, v, low=2),
        "lr_d": lambda n, v: check_real(n, v, low=0.0, low_open=True),
        "lr_g": lambda n, v: check_real(n, v, low=0.0, low_open=True),
        "std": lambda n, v: check_real(n, v, low=0.0, low_open=True),
        "generator_loss": lambda n, v: check_choice(n, v, GAN_GENERATOR_LOSSES),
        "n_snapshot": pos,
        "results_dir": optional(check_path),
    }
    return validate_params(checks, params)


def check_gan_params(name: str, value) -> dict[str, Any]:
    """``value`` as chapter 11's parameters (a mapping checked by :func:`check_params`), for a parameter ``name``
    of another chapter (``gan_params`` of chapters 1 and 13); ``ValueError`` naming ``name`` and the bad entry."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a mapping of chapter 11's parameters (problems, alpha, ..., results_dir), "
                         f"got {value!r}")
    try:
        return check_params(**value)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None


_CHAPTER_GRID = ("problems", "alpha", "n_seeds", "results_dir")  # chapter 11's parameters that are not GANConfig's


def chapter_runs(params: Mapping[str, Any]) -> list[dict]:
    """The finished runs of chapter 11 executed with ``params`` (its parameters, e.g. ``book/params.yml``'s
    ``11_gan`` entry), read from ``params["results_dir"]``; nothing is trained.

    Every (problem of ``problems``, ERM-GAN and mixup-GAN at ``alpha``, seed below ``n_seeds``) of that grid
    whose results file exists there, in the chapter's order; runs of other settings in the same folder (another
    ``generator_loss``, α or length) are left out, so that the introduction and the conclusions judge the runs
    that chapter 11 shows. A parameter not given takes :class:`GANConfig`'s default (the authors' settings),
    ``problems`` all of :data:`GAN_PROBLEMS`, ``alpha`` 0.2 and ``n_seeds`` 5. Raises ``ValueError`` naming a bad
    parameter, or ``results_dir`` when it is missing; a folder that does not exist holds no runs (an empty list).
    """
    from pathlib import Path

    p = check_gan_params("gan_params", params)
    if p.get("results_dir") is None:
        raise ValueError("gan_params: results_dir is missing or None; give the folder of chapter 11's results "
                         "files, e.g. results/gan")
    folder = Path(p["results_dir"])
    problems = p.get("problems", list(GAN_PROBLEMS))
    base = GANConfig(problem=problems[0], alpha=0.0, **{k: v for k, v in p.items() if k not in _CHAPTER_GRID})
    grid = gan_grid(base, problems=problems, alphas=(0.0, p.get("alpha", GANConfig.alpha)),
                    seeds=range(p.get("n_seeds", 5)))
    paths = [folder / f"{gan_run_id(cfg)}.json" for cfg in grid]
    return read_valid_gan_results([f for f in paths if f.is_file()])


def _cmd_gan(args) -> int:
    """Run the ``gan`` subcommand: train or read back every run of the grid and print one line per run."""
    import sys

    prog = "mixup-repro gan"
    try:
        base = GANConfig(problem=args.problem[0], alpha=0.0, std=args.std, hidden=args.hidden, layers=args.layers,
                         batch_size=args.batch_size, iterations=args.iterations, d_steps=args.d_steps,
                         lr_d=args.lr_d, lr_g=args.lr_g, generator_loss=args.generator_loss,
                         eval_every=args.eval_every, n_snapshot=args.n_snapshot)
        runs = gan_runs(base, problems=args.problem, alphas=args.alpha, seeds=args.seeds, out=args.out,
                        quiet=args.quiet)
    except (ValueError, TypeError, OSError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    for r in runs:
        s = r["summary"]
        print(f"{r['run_id']}: final modes {s['final_modes_covered']}/{s['n_modes']}, high-quality "
              f"{s['final_hq_share']:.3f}, energy distance {s['final_energy_distance']:.4f}, "
              f"{r['cpu_s']:.1f} CPU s")
    return 0


def register_cli(subparsers):
    """Add the ``gan`` subcommand: train (or read back) the grid of GAN runs of the chapter."""
    import argparse

    d = GANConfig()
    p = subparsers.add_parser(
        "gan", help="train ERM-GAN and mixup-GAN runs on the 2-D toy problems",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Train every (problem, alpha, seed) run and write <out>/<run_id>.json; finished runs are read "
                    "back, not redone. alpha 0 is ERM-GAN.")
    p.add_argument("--problem", nargs="+", choices=GAN_PROBLEMS, default=list(GAN_PROBLEMS))
    p.add_argument("--alpha", nargs="+", type=float, default=[0.0, 0.2], help="Beta(alpha, alpha); 0 = ERM-GAN")
    p.add_argument("--seeds", nargs="+", type=int, default=list(range(5)))
    p.add_argument("--std", type=float, default=d.std, help="standard deviation of each Gaussian")
    p.add_argument("--hidden", type=int, default=d.hidden, help="hidden units per layer (both networks)")
    p.add_argument("--layers", type=int, default=d.layers, help="hidden layers (both networks)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--iterations", type=int, default=d.iterations, help="generator iterations")
    p.add_argument("--d-steps", type=int, default=d.d_steps, help="discriminator steps per generator step")
    p.add_argument("--lr-d", type=float, default=d.lr_d)
    p.add_argument("--lr-g", type=float, default=d.lr_g)
    p.add_argument("--generator-loss", choices=GAN_GENERATOR_LOSSES, default=d.generator_loss)
    p.add_argument("--eval-every", type=int, default=d.eval_every)
    p.add_argument("--n-snapshot", type=int, default=d.n_snapshot)
    p.add_argument("--out", default="results/gan")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_gan)
    return p
