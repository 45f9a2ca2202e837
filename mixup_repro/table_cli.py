"""The ``table`` command: run (or list) the runs of a declared table and write its summary.

Command line::

    python -m mixup_repro table NAME --scale cpu|paper [--dataset D] [--seeds 0 1 2] [--rows LABEL ...]
                                [--workers N] [--out DIR] [--dry-run] [--print-commands] [--quiet]

``NAME`` is one of :data:`~mixup_repro.tables.TABLES` (or ``all``). Bad arguments print one line and exit 2
before anything is written.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from .data import IMAGE_DATASETS
from .plan import check_seeds
from .scales import SCALE_DATASETS, SCALES
from .summary import format_table
from .sweep import SweepFailed, SweepInterrupted, check_run_args, print_commands, run_specs, table_specs
from .tables import ALL_TABLES, TABLES
from .timing import dry_run
from .train import COMPILE_MODES

__all__ = ["register_cli"]

_PROG = "mixup-repro table"


def _cmd_table(args) -> int:
    """Run the ``table`` command from parsed ``args``; the exit code."""
    names = list(ALL_TABLES) if args.name == "all" else [args.name]
    out = Path(args.out) if args.out is not None else Path("results") / args.scale
    try:  # every argument is checked before anything is written
        specs = table_specs(names, args.dataset, args.rows)
        seeds = check_seeds(args.seeds)
        check_run_args(specs, args.scale, seeds, args.workers)
    except (ValueError, TypeError) as e:
        print(f"{_PROG}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    if args.dry_run or args.print_commands:
        if args.dry_run:
            print(dry_run(specs, args.scale, out, seeds=seeds, workers=args.workers))
        if args.print_commands:
            for line in print_commands(specs, args.scale, out, seeds=seeds, compile=args.compile):
                print(line)
        return 0
    failed = None
    try:
        summaries = run_specs(specs, args.scale, out=out, seeds=seeds, workers=args.workers, quiet=args.quiet,
                               compile=args.compile)
    except SweepFailed as e:
        failed, summaries = e, e.summaries
    except SweepInterrupted as e:
        print(f"{_PROG}: {e}", file=sys.stderr)
        return 128 + int(getattr(signal, e.signame))
    except KeyboardInterrupt:
        print(f"{_PROG}: interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        print(f"{_PROG}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    if not args.quiet:
        for n, df in summaries.items():
            print()
            print(format_table(df))
            print(f"wrote {Path(out) / 'tables' / n}.csv and .md")
    if failed is not None:
        print(f"{_PROG}: error: {failed}", file=sys.stderr)
        return 1
    return 0


def _nonneg_int(text: str) -> int:
    """A ``--seeds`` value: an integer >= 0."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"seeds must be >= 0, got {v}")
    return v


def register_cli(subparsers) -> argparse.ArgumentParser:
    """Add the ``table`` subcommand to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "table", help="run (or list) the runs of one of the paper's tables and write its summary",
        description="Compute the missing runs of a declared table into --out (one results file per run, shared "
                    "between tables), then write <out>/tables/<name>.csv and .md. Finished runs are never "
                    "redone; a stopped sweep resumes where it stopped. Tables: " + ", ".join(TABLES) +
                    "; 'all' runs every table but speech in one pool.",
        epilog="examples: python -m mixup_repro table headline --scale cpu --workers 2 --dry-run ; "
               "python -m mixup_repro table ablation --scale paper --print-commands")
    p.add_argument("name", choices=[*TABLES, "all"], metavar="NAME", help="table: " + ", ".join(TABLES) + ", all (every table but speech)")
    p.add_argument("--scale", choices=list(SCALES), default="cpu",
                   help="cpu (the CIFAR-10 miniature: hours on 2 cores, see --dry-run), paper (the paper's "
                        "protocol, for a GPU), smoke (seconds, for tests); default: cpu")
    p.add_argument("--dataset", default=None,
                   help="image dataset for image tables: " + ", ".join(IMAGE_DATASETS) + "; default: the scale's ("
                        + ", ".join(f"{k}: {v}" for k, v in SCALE_DATASETS.items()) + ")")
    p.add_argument("--seeds", nargs="+", type=_nonneg_int, default=None, metavar="SEED",
                   help="seeds for every row (default: each row's number of seeds at the scale)")
    p.add_argument("--rows", nargs="+", default=None, metavar="LABEL",
                   help="only these rows (a label, a full key like 'ERM [weight decay=5e-4]', or a key value "
                        "like 'iris')")
    p.add_argument("--workers", type=int, default=1, help="runs at once (subprocesses when > 1, each with cores // N threads); default: 1")
    p.add_argument("--out", default=None, help="results folder (default results/<scale>)")
    p.add_argument("--compile", choices=COMPILE_MODES, default="none",
                   help="torch.compile every run with this mode (reduce-overhead = CUDA graphs; run ids unchanged)")
    p.add_argument("--dry-run", action="store_true", help="list the rows and runs (done / missing) with a time "
                                                          "estimate; compute nothing")
    p.add_argument("--print-commands", action="store_true",
                   help="print one 'python -m mixup_repro train ...' line per missing run (for a scheduler)")
    p.add_argument("--quiet", action="store_true", help="no progress lines and no table at the end")
    p.set_defaults(func=_cmd_table)
    return p
