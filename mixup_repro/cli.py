"""Command line: ``python -m mixup_repro {train,table,report,book,gan} ...`` (also the ``mixup-repro`` script).

Several GPUs: ``torchrun --nproc_per_node=N -m mixup_repro train ...`` trains one run with
DistributedDataParallel (see :class:`mixup_repro.runtime.Dist`); rank 0 writes the results file.

Bad values print one line naming the option to stderr and exit with code 2, without a traceback and
without writing anything. An interrupted run (SIGTERM / SIGINT) writes a checkpoint, prints one line
and exits with 128 + the signal number; running the same command again resumes it.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import signal
import sys
import typing
from pathlib import Path

__all__ = ["SUBCOMMAND_MODULES", "main", "build_parser", "config_from_args", "add_config_arguments"]

SUBCOMMAND_MODULES = ("table_cli", "readme", "book", "gan")
"""The modules whose ``register_cli(subparsers)`` adds the subcommands besides ``train``, in this order."""

HELP = {
    "dataset": "dataset name",
    "model": "architecture",
    "method": "training method (cutmix, cutmix_ls, mixup_cutmix: CutMix, beyond the paper, image data only; "
              "mixup_cutmix switches to CutMix for half of the batches)",
    "alpha": "Beta(alpha, alpha) concentration of the mixing weight (0 = no mixing)",
    "label_smoothing": "label-smoothing strength epsilon in [0, 1) (methods label_smoothing, mixup_ls, mix_inputs_ls, "
                       "cutmix_ls)",
    "pairing": "how partners are chosen: random (in-batch permutation, RP) or knn (among the knn-k nearest, KNN)",
    "same_class": "partners from the same class only (SC) instead of all classes (AC)",
    "knn_k": "number of nearest neighbours for --pairing knn",
    "mix_prob": "probability that a batch is mixed at all",
    "mix_layer": "layer whose output is mixed for --method manifold (0 = input)",
    "noise_std": "standard deviation of the input noise for --method gaussian_noise",
    "width": "base width of preact_resnet18 and vgg11 (64 = paper, 8-16 for CPU-scale runs)",
    "dropout": "dropout probability before the classifier",
    "optimizer": "optimizer",
    "lr": "initial learning rate",
    "momentum": "SGD momentum",
    "weight_decay": "weight decay on all parameters",
    "batch_size": "batch size",
    "epochs": "number of epochs",
    "milestones": "epochs after which the lr is multiplied by --lr-decay (default: 50%% and 75%% of --epochs)",
    "lr_decay": "factor applied to the lr at each milestone",
    "subset": "training images per class (default: all)",
    "test_subset": "evaluation images per class (default: all)",
    "test_subset_seed": "seed of the --test-subset draw (default: --seed; 0 = the same test images for every seed)",
    "augment": "random crop (4-pixel padding) and horizontal flip of image batches",
    "label_noise": "fraction of training labels replaced by uniform random labels",
    "val_fraction": "fraction of the training set held out and evaluated on instead of the test set",
    "fgsm_eps": "FGSM step sizes (pixel units in [0, 1]) evaluated on the final model",
    "eval_split": "speech-commands: evaluate on the test speakers, the validation speakers, or both "
                  "(test+validation: the validation numbers go to val_* curves and summary keys)",
    "rnn_hidden": "hidden size of model gru",
    "bidirectional": "model gru: also read the sequence backwards",
    "seed": "random seed (model init, data order, augmentation, mixing)",
    "precision": "auto (bf16 autocast on CUDA, fp32 on CPU), fp32, or bf16",
    "channels_last": "channels_last memory format for image models (default: on CUDA only)",
    "device": "auto, cpu or cuda[:N]",
    "data_dir": "data folder (default $MIXUP_REPRO_DATA, then ~/.cache/mixup_repro/data; Fashion-MNIST is "
                "also looked up in /usr/share/datasets/fashion-mnist; CIFAR-10 also as the JPEG copy "
                "cifar10-jpeg.tar.gz)",
    "checkpoint_every": "write a checkpoint every N epochs (0 = only on SIGTERM/SIGINT)",
    "compile": "torch.compile the model with this mode (reduce-overhead = CUDA graphs); none = eager",
    "eval_train": "evaluate on the unaugmented training images after every epoch (the regime check)",
}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_arguments(p: argparse.ArgumentParser, *, multi: bool = False) -> None:
    """One option per :class:`~mixup_repro.train.TrainConfig` field, with its default shown in ``--help``."""
    from .config import COMPILE_MODES, EVAL_SPLITS, TrainConfig
    from .data import DATASET_NAMES
    from .methods import REGISTRY
    from .models import MODEL_NAMES

    choices = {"dataset": DATASET_NAMES, "model": MODEL_NAMES, "method": tuple(REGISTRY), "pairing": ("random", "knn"),
               "optimizer": ("sgd", "adam"), "precision": ("auto", "fp32", "bf16"), "compile": COMPILE_MODES,
               "eval_split": EVAL_SPLITS}
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        hint, default = hints[f.name], f.default
        kw = {"help": HELP.get(f.name, f.name), "dest": f.name}
        if hint is bool or f.name == "channels_last":
            p.add_argument(_option(f.name), action=argparse.BooleanOptionalAction, default=default, **kw)
            continue
        if f.name in ("milestones", "fgsm_eps"):
            kw.update(nargs="*", type=int if f.name == "milestones" else float)
        elif f.name in ("subset", "test_subset", "test_subset_seed"):
            kw["type"] = int
        elif f.name == "data_dir":
            kw["type"] = str
        else:
            kw["type"] = type(default)
        if f.name in choices:
            kw["choices"] = choices[f.name]
            kw["metavar"] = "{" + ",".join(choices[f.name]) + "}"
        p.add_argument(_option(f.name), default=default, **kw)


def config_from_args(args):
    """Build a TrainConfig from parsed arguments; a ValueError/TypeError names the option."""
    from .config import TrainConfig

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    for k in ("milestones", "fgsm_eps"):
        if values[k] is not None:
            values[k] = tuple(values[k])
    return TrainConfig(**values)


def _option_error(prog: str, exc: Exception) -> int:
    msg = str(exc)
    first = msg.split()[0] if msg else ""
    from .config import TrainConfig

    names = {f.name for f in dataclasses.fields(TrainConfig)}
    where = _option(first) + ": " if first in names else ""
    print(f"{prog}: error: {where}{msg}", file=sys.stderr)
    return 2


def _check_data_dir(path) -> None:
    if path is None:
        return
    p = Path(path)
    if not p.is_dir() or not os.access(p, os.R_OK | os.X_OK):
        raise ValueError(f"data_dir {path!r} is not a readable folder")


def _cmd_train(args) -> int:
    """``train``: one run; exit 0 done, 1 failed, 2 bad option, 128 + N stopped by signal N (resumable)."""
    from .checkpoint import CheckpointError, Interrupted
    from .config import run_id
    from .train import fit

    prog = "mixup-repro train"
    try:
        cfg = config_from_args(args)
        _check_data_dir(cfg.data_dir)
    except (ValueError, TypeError) as e:
        return _option_error(prog, e)
    try:
        res = fit(cfg, args.out, force=args.force, resume=not args.no_resume, quiet=args.quiet,
                  save_model=args.save_model)
    except Interrupted as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 128 + int(getattr(signal, e.signame))
    except (CheckpointError, OSError, ValueError, TypeError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    s = res.summary
    if not s and res.path is None:  # a rank other than 0 under torchrun: rank 0 reports
        return 0

    def num(key, fmt):  # a diverged run stores NaN as null
        return "n/a" if s.get(key) is None else format(s[key], fmt)

    where = f" -> {res.path}" if res.path else ""
    ece = "n/a" if s.get("final_ece") is None else f"{100 * s['final_ece']:.2f}%"
    print(f"{run_id(cfg)}: final error {num('final_error', '.2f')}%, median of last 10 "
          f"{num('median_last10_error', '.2f')}%, best {num('best_error', '.2f')}%, NLL {num('final_nll', '.4f')}, "
          f"ECE {ece}{where}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = _Parser(prog="mixup-repro", description="Reproduce mixup (Zhang et al., ICLR 2018) and study "
                     "mixup + label smoothing.", formatter_class=fmt)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("train", help="train one run and write its results file", formatter_class=fmt,
                       description="Train one (dataset, model, method) run under the paper's protocol and "
                       "write <out>/<run_id>.json atomically. A finished run is not redone (use --force).")
    add_config_arguments(t)
    t.add_argument("--out", default="results/runs", help="folder for the results file and checkpoints")
    t.add_argument("--force", action="store_true", help="redo the run even if its results file exists")
    t.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint and start over")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--save-model", action="store_true", help="also write the final weights to <out>/models/")
    t.set_defaults(func=_cmd_train)
    for module in SUBCOMMAND_MODULES:  # an import error here is a bug to see, not an optional part to skip
        importlib.import_module(f"mixup_repro.{module}").register_cli(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
