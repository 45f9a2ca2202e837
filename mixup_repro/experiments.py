"""The paper's experiments as declared tables: configs, resumable sweeps, summaries and the ``table`` command.

Each experiment is a :class:`Table` of :class:`Row` s labelled as in the paper. A row is a method spec
(:class:`~mixup_repro.train.TrainConfig` overrides), the number of seeds, and the paper's published
number(s) with their source where one is verified (never filled from memory). A scale in :data:`SCALES`
turns the rows into concrete configs:

``paper``
    the paper's protocol: the :class:`~mixup_repro.train.TrainConfig` defaults (PreAct ResNet-18
    width 64, 200 epochs, batch 128, lr 0.1, full data), 3 seeds;
``cpu``
    a reduced protocol whose whole set of tables runs in about 45 minutes on a 2-core machine
    with ``--workers 2`` (see :data:`SCALES` and each table's ``scale_note``);
``smoke``
    seconds-long runs, for tests.

A row that cannot run at a scale (WRN-28-10 / DenseNet-BC-190 on CPU) is kept and shown as "not run".

Every run goes flat into one folder (default ``results/<scale>``) as ``<run_id>.json``; the run id
derives from the config, so identical configs in different tables share one run and re-running a table
only computes what is missing. :func:`run_table` runs the missing runs (``workers`` at once, as
``python -m mixup_repro train ...`` subprocesses), :func:`summarize` reduces them to one row per table
row (mean ± std over seeds), :func:`format_table` renders markdown, and the summary is written to
``<out>/tables/<name>.csv`` / ``.md``.

Command line::

    python -m mixup_repro table NAME --scale cpu|paper [--dataset D] [--seeds 0 1 2] [--rows LABEL ...]
                                [--workers N] [--out DIR] [--dry-run] [--print-commands] [--quiet]

``NAME`` is one of :data:`TABLES` (or ``all``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import shlex
import signal
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._checks import check_choice
from .checkpoint import StopSignal
from .data import IMAGE_DATASETS
from .results import ResultsError, _read_or_warn, atomic_write_bytes, read_result
from .train import COMPILE_MODES, TrainConfig, result_path, run_id

__all__ = [
    "FGSM_EPS", "SCALES", "SCALE_DATASETS", "SCALE_NOTES", "TIME_MODEL", "PAPER_SOURCES", "PaperNumber", "Row", "Table", "TABLES",
    "SweepInterrupted", "SweepFailed", "table_configs", "missing_configs", "estimate_seconds", "train_command",
    "config_argv", "run_table", "run_tables", "summarize", "format_table", "write_summary", "dry_run",
    "print_commands", "register_cli", "DISPLAY_SCALE", "display_value", "ROW_PRESETS", "select_rows", "row_runs",
    "table_dataset", "UCI_DATASETS", "UCI_SMOKE_DATASET", "TRAINING_LENGTHS",
]

# ----------------------------------------------------------------------------------------------------------
# Scales: the per-scale TrainConfig overrides, in one place
# ----------------------------------------------------------------------------------------------------------
FGSM_EPS = (0.01, 0.03, 0.1)
"""FGSM step sizes (pixel units in [0, 1]) evaluated on the final model of every image run that is
evaluated on the test set (an evaluation-only field: it costs one extra pass per ε at the end, and makes
the robustness and calibration tables share their runs with the headline and ablation tables)."""

SPEECH_CPU_EPOCHS = 10
"""Epochs of a CPU-scale speech run (the paper: 30), sized so that the whole speech table fits about 2 hours on
2 cores (see :data:`TIME_MODEL` ``speech_epoch_s``)."""

SCALES: dict[str, dict[str, dict]] = {
    # The paper's protocol is the TrainConfig defaults (PreAct ResNet-18 width 64, SGD momentum 0.9,
    # lr 0.1 divided by 10 at epochs 100 and 150 of 200, batch 128, weight decay 1e-4, full data).
    "paper": {
        "image": {"fgsm_eps": FGSM_EPS},
        "tabular": {},
        "speech": {"epochs": 30},  # the paper's speech protocol: 30 epochs (Section 3.4)
    },
    # A CPU miniature in the paper's regime (ERM fits its training images): CIFAR-10, 1,000 images per class,
    # PreAct ResNet-18 width 8, 30 epochs, no augmentation (a measured pilot: with crop + flip at width 8 ERM
    # was still far from fitting its training images after 30 epochs), the same 2,000 test images for every seed and method.
    "cpu": {
        "image": {"width": 8, "subset": 1000, "test_subset": 200, "test_subset_seed": 0, "batch_size": 64,
                  "lr": 0.05, "epochs": 30, "augment": False, "knn_k": 10, "fgsm_eps": FGSM_EPS},
        "tabular": {},
        "speech": {"epochs": SPEECH_CPU_EPOCHS},
    },
    # Seconds per run: for tests of the machinery only, the numbers mean nothing.
    "smoke": {
        "image": {"width": 4, "subset": 5, "test_subset": 5, "batch_size": 25, "lr": 0.05, "epochs": 2,
                  "knn_k": 3, "fgsm_eps": (0.03,), "checkpoint_every": 1},
        "tabular": {"epochs": 2, "checkpoint_every": 1},
        "speech": {"epochs": 1, "subset": 5, "checkpoint_every": 1},
    },
}
"""Per-scale :class:`TrainConfig` overrides, by kind of table (``image``, ``tabular`` or ``speech``). A config is
built as: TrainConfig defaults <- the table's ``base`` <- ``SCALES[scale][kind]`` <- the row's overrides
<- dataset and seed."""

SCALE_DATASETS = {"paper": "cifar10", "cpu": "cifar10", "smoke": "fashion-mnist"}
"""The image dataset of each scale when ``--dataset`` is not given (smoke: Fashion-MNIST, which CI installs from
Debian, so the machinery's tests need no CIFAR copy)."""

SCALE_NOTES = {
    "paper": "Paper scale: the paper's protocol (PreAct ResNet-18 width 64 unless the row says otherwise, "
             "SGD momentum 0.9, lr 0.1 divided by 10 at epochs 100 and 150 of 200, batch 128, weight decay "
             "1e-4, crop + flip augmentation, full training and test sets), 3 seeds.",
    "cpu": "CPU scale: CIFAR-10 (JPEG copy), 1,000 training images per class (10,000; the subset depends on "
           "the seed) and a fixed 200 test images per class (2,000, the same for every seed and method), "
           "PreAct ResNet-18 width 8, 30 epochs (lr 0.05 divided by 10 after epochs 15 and 22), batch 64, "
           "weight decay as the row says (default 1e-4), no augmentation (with the paper's crop + flip, ERM "
           "did not fit its training images at this width and length in a pilot, whose runs were not "
           "kept: a claim to re-measure, not a result), kNN partners among the 10 nearest (the paper: 200 of 50,000). 'median last "
           "10' is the authors' statistic (median test error of the last 10 epochs); here it spans the last "
           "two learning-rate phases, not only the last one.",
    "smoke": "Smoke scale: seconds-long runs that test the machinery; the numbers mean nothing.",
}

# ----------------------------------------------------------------------------------------------------------
# Time model: every constant of the --dry-run estimate, in one place
# ----------------------------------------------------------------------------------------------------------
TIME_MODEL: dict[str, dict] = {
    "cpu": {
        "source": "measured on the 2-core development machine (lightly loaded), one thread per run "
                  "(--workers 2): a 15-epoch cpu-scale run took 33.5 s end to end",
        "threads": 1,
        "startup_s": 3.5,          # python -m mixup_repro train: interpreter, torch (+ torchvision) imports
        "load_s": {"image": 2.0, "tabular": 0.7},   # Fashion-MNIST IDX decode + checks; scikit-learn sets
        # PreAct ResNet-18 on 28x28x1 images: seconds per 1,000 images, by width (train = fwd + bwd + step;
        # includes the batch augmentation and mixing)
        "train_s_per_1k": {4: 0.8, 8: 1.1, 16: 1.9, 32: 5.0, 64: 17.0},
        "eval_s_per_1k": {4: 0.35, 8: 0.5, 16: 1.2, 32: 3.0, 64: 9.0},
        "fgsm_train_fraction": 0.5,  # one FGSM pass ~ eval + this fraction of a training pass
        "model_factor": {"preact_resnet18": 1.0, "wrn28_10": 9.0, "densenet_bc_190": 17.0},
        "mlp_step_s": 0.0015,      # one Adam step of the 2 x 128 MLP, batch 16
        # Speech table (pilot runs of 3-4 epochs, one thread, batch 100, 3,322 training clips, 2026-12-01, while the
        # main CIFAR sweep ran on the same 2 cores: load average about 4, so about half a core per run; on an idle
        # machine expect roughly half these times). Seconds per epoch: training plus the per-epoch evaluation of
        # the validation (882) and test (686) speakers and of the 2,000-clip training sample (eval_train).
        "speech_epoch_s": {"lenet": 6.4, "vgg11": 15.6, "gru": 7.1},  # vgg11 width 8; gru 64 units, bidirectional
        "speech_load_s": 4.5,      # features from the cache, twice (training + test speakers, validation speakers)
    },
    "paper": {
        "source": "ASSUMPTION, not yet measured: one modern data-centre GPU per worker (A100 class, fp32), "
                  "PreAct ResNet-18 width 64 at about 12.5 s per CIFAR-10 training epoch; WRN-28-10 and "
                  "DenseNet-BC-190 scaled by their FLOPs (x9, x17). Replace with a GPU measurement.",
        "threads": None,
        "startup_s": 15.0,
        "load_s": {"image": 5.0, "tabular": 0.7},
        "train_s_per_1k": {64: 0.25},
        "eval_s_per_1k": {64: 0.08},
        "fgsm_train_fraction": 0.5,
        "model_factor": {"preact_resnet18": 1.0, "wrn28_10": 9.0, "densenet_bc_190": 17.0},
        "mlp_step_s": 0.0012,
        "speech_epoch_s": {"lenet": 0.5, "vgg11": 0.6, "gru": 0.6},  # ASSUMPTION: small models, launch-bound
        "speech_load_s": 5.0,
    },
}
TIME_MODEL["smoke"] = TIME_MODEL["cpu"]
"""Constants of :func:`estimate_seconds`. Image costs are for 28 x 28 x 1 inputs (CPU) or 32 x 32 x 3 inputs
(GPU) and scale with the number of pixels; FGSM costs one training pass plus one evaluation pass per ε."""

_DATA_SIZES = {  # (training images, test images, classes, pixels) for estimates only
    "fashion-mnist": (60000, 10000, 10, 784), "cifar10": (50000, 10000, 10, 1024),
    "cifar100": (50000, 10000, 100, 1024), "iris": (120, 30, 3, 0), "wine": (142, 36, 3, 0),
    "abalone": (3342, 835, 3, 0), "arcene": (100, 100, 2, 0), "arrhythmia": (361, 91, 13, 0),
    "htru2": (14318, 3580, 2, 0), "iris-uci": (120, 30, 3, 0), "phishing": (8844, 2211, 2, 0),
    "breast-cancer": (455, 114, 2, 0), "digits": (1437, 360, 10, 0),
}

# ----------------------------------------------------------------------------------------------------------
# Paper numbers (verified ones only)
# ----------------------------------------------------------------------------------------------------------
PAPER_SOURCES = {
    "readme": "github.com/hongyi-zhang/mixup README",
    "issue19": "paper Table 1, as quoted in facebookresearch/mixup-cifar10 issue 19",
    "pwc": "Papers with Code record of the paper",
}


@dataclass(frozen=True)
class PaperNumber:
    """A published test error (%) for one dataset, with its source."""

    dataset: str
    error: float
    source: str
    note: str = ""

    def short(self) -> str:
        name = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}.get(self.dataset, self.dataset)
        return f"{name}: {self.error:g}"


def _readme(err, wd):
    return PaperNumber("cifar10", err, PAPER_SOURCES["readme"],
                       f"authors' code, PreAct ResNet-18, median test error of the last 10 of 200 epochs, "
                       f"weight decay {wd}")


_P = {
    ("preact", "erm", "1e-4"): (_readme(5.53, "1e-4"),),
    ("preact", "mixup", "1e-4"): (_readme(4.24, "1e-4"),),
    ("preact", "erm", "5e-4"): (_readme(5.18, "5e-4"),),
    ("preact", "mixup", "5e-4"): (_readme(4.68, "5e-4"),),
    ("wrn", "erm"): (PaperNumber("cifar10", 3.8, PAPER_SOURCES["issue19"], "WRN-28-10"),),
    ("wrn", "mixup"): (PaperNumber("cifar10", 2.7, PAPER_SOURCES["issue19"], "WRN-28-10"),),
    ("densenet", "mixup"): (PaperNumber("cifar10", 2.7, PAPER_SOURCES["pwc"], "DenseNet-BC-190, accuracy 97.3 %"),
                            PaperNumber("cifar100", 16.8, PAPER_SOURCES["pwc"], "DenseNet-BC-190, accuracy 83.2 %")),
}

# ----------------------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------------------
METRIC_NAMES = {
    "final_error": "final error (%)",
    "median_last10_error": "median last 10 (%)",
    "best_error": "best error (%)",
    "final_nll": "NLL",
    "final_ece": "ECE (%)",
    "overconfidence": "confidence − accuracy (%)",
    "train_error_noisy_labels": "train error on corrupted labels (%)",
    "train_error_clean_labels": "train error on clean labels (%)",
    "val_final_error": "validation error (%)",
    "val_final_ece": "validation ECE",
}
BASE_METRICS = ("final_error", "median_last10_error", "final_nll", "final_ece")
"""Reduced for every row of every table (mean and std over seeds)."""


@dataclass(frozen=True)
class Row:
    """One row of a table: a label as in the paper, TrainConfig overrides, seeds and published numbers.

    ``columns`` are extra key columns shown next to the label (weight decay, model, dataset, noise level);
    a table may hold several rows with the same label that differ in them. ``seeds`` maps a scale to a
    number of seeds (default: the table's). ``skip`` maps a scale to the reason the row is not run there.
    """

    label: str
    overrides: Mapping = field(default_factory=dict)
    columns: Mapping = field(default_factory=dict)
    paper: tuple = ()
    seeds: Mapping = field(default_factory=dict)
    skip: Mapping = field(default_factory=dict)
    group: str = ""

    @property
    def key(self) -> str:
        """Unique within its table: the label plus its key columns, e.g. ``ERM [weight decay=1e-4]``."""
        if not self.columns:
            return self.label
        return f"{self.label} [{', '.join(f'{k}={v}' for k, v in self.columns.items())}]"

    def runnable(self, scale: str) -> bool:
        return scale not in self.skip


@dataclass(frozen=True)
class Table:
    """A declared experiment: rows, the kind of data, per-scale seeds and notes, and what to report."""

    name: str
    title: str
    rows: tuple
    kind: str = "image"                      # "image": --dataset chooses the dataset; "tabular": rows fix it
    base: Mapping = field(default_factory=dict)
    seeds: Mapping = field(default_factory=lambda: {"paper": 3, "cpu": 3, "smoke": 1})
    notes: Mapping = field(default_factory=dict)   # scale (or "all") -> text
    metrics: tuple = BASE_METRICS           # shown in the markdown table (all of BASE_METRICS go to the CSV)
    extra: tuple = ()                        # metrics reduced in addition to BASE_METRICS
    default_dataset: Mapping = field(default_factory=lambda: dict(SCALE_DATASETS))  # scale -> image dataset
    scale_overrides: Mapping = field(default_factory=dict)  # scale -> TrainConfig overrides after SCALES'

    def scale_note(self, scale: str) -> str:
        """The scale's protocol plus this table's choices at that scale (seeds, rows not run, ...)."""
        parts = [SCALE_NOTES[scale] if self.kind == "image" else ""]
        parts += [self.notes.get("all", ""), self.notes.get(scale, "")]
        return " ".join(p for p in parts if p)

    def row_seeds(self, row: Row, scale: str) -> int:
        return int(row.seeds.get(scale, self.seeds[scale]))

    def metric_list(self, scale: str) -> list[str]:
        out = list(BASE_METRICS) + [m for m in self.extra if m not in BASE_METRICS]
        if "fgsm" in self.extra:
            out.remove("fgsm")
            out += [_fgsm_key(e) for e in _scale_fgsm(scale)]
        return out

    def shown_metrics(self, scale: str) -> list[str]:
        out = []
        for m in self.metrics:
            out += [_fgsm_key(e) for e in _scale_fgsm(scale)] if m == "fgsm" else [m]
        return out


def _fgsm_key(eps: float) -> str:
    return f"fgsm_error_{eps:g}"


def _scale_fgsm(scale: str) -> tuple:
    return tuple(SCALES[scale]["image"].get("fgsm_eps", ()))


def _eps_str(x: float) -> str:
    return f"{x:g}"


ERM = {"method": "erm"}


def _mixup(alpha=1.0):
    return {"method": "mixup", "alpha": float(alpha)}


def _ls(eps):
    return {"method": "label_smoothing", "label_smoothing": float(eps)}


def _mixup_ls(eps, alpha=1.0):
    return {"method": "mixup_ls", "alpha": float(alpha), "label_smoothing": float(eps)}


def _cutmix(alpha=1.0):
    return {"method": "cutmix", "alpha": float(alpha)}


_NOT_ON_CPU = {"cpu": "too slow without a GPU", "smoke": "too slow without a GPU"}


def _headline() -> Table:
    models = [("preact_resnet18", "PreAct ResNet-18", "preact", {}),
              ("wrn28_10", "WRN-28-10", "wrn", _NOT_ON_CPU),
              ("densenet_bc_190", "DenseNet-BC-190", "densenet", _NOT_ON_CPU)]
    rows = []
    for model, name, short, skip in models:
        methods = [("ERM", ERM, "erm", "paper"), ("mixup α=1", _mixup(1), "mixup", "paper"),
                   ("mixup α=0.2", _mixup(0.2), "mixup02", "paper"),
                   ("label smoothing ε=0.1", _ls(0.1), "ls", "extension"),
                   ("mixup + label smoothing ε=0.1", _mixup_ls(0.1), "mixup_ls", "extension"),
                   ("CutMix α=1", _cutmix(1), "cutmix", "beyond the paper")]
        for label, spec, m, group in methods:
            paper = _P.get((short, m, "1e-4")) or _P.get((short, m)) or ()
            rows.append(Row(label, {"model": model, **spec}, {"model": name}, paper, skip=skip, group=group))
    return Table(
        "headline", "ERM vs mixup (α = 1 and 0.2), and the label-smoothing extension", tuple(rows),
        seeds={"paper": 3, "cpu": 5, "smoke": 1},
        notes={"all": "Weight decay 1e-4. Paper numbers are CIFAR test errors (%): the authors' README reports "
                      "the median of the last 10 epochs (compare 'median last 10'). CutMix (Yun et al., 2019; "
                      "method cutmix, λ ~ Beta(1, 1), labels weighted by the pasted box's area) is beyond the "
                      "paper: a later method, for comparison.",
               "cpu": "Only PreAct ResNet-18 runs at this scale (5 paired seeds); WRN-28-10 and DenseNet-BC-190 rows "
                      "are not run."},
    )


def _ablation() -> Table:
    rows = []
    for wd in ("1e-4", "5e-4"):
        w = {"weight_decay": float(wd)}
        cols = {"weight decay": wd}
        core = {"cpu": 3}
        minor = {"cpu": 2 if wd == "1e-4" else 1}

        def add(label, spec, group="paper ablation", paper=(), seeds=minor, w=w, cols=cols):
            rows.append(Row(label, {**spec, **w}, cols, paper, seeds=seeds, group=group))

        add("ERM", ERM, paper=_P.get(("preact", "erm", wd), ()), seeds=core)
        add("mixup AC + RP", _mixup(1), paper=_P.get(("preact", "mixup", wd), ()), seeds=core)
        add("mixup AC + KNN", {**_mixup(1), "pairing": "knn"})
        for k in range(1, 6):
            add(f"mix labels and latent representations (AC + RP) layer {k}",
                {**_mixup(1), "method": "manifold", "mix_layer": k})
        for sc, pairing in (("SC", "knn"), ("AC", "knn"), ("SC", "random"), ("AC", "random")):
            add(f"mix inputs only {sc} + {'KNN' if pairing == 'knn' else 'RP'}",
                {"method": "mix_inputs_only", "alpha": 1.0, "pairing": pairing, "same_class": sc == "SC"})
        for e in (0.05, 0.1, 0.2):
            add(f"label smoothing ε={_eps_str(e)}", _ls(e), seeds=core if e == 0.1 else minor)
        for e in (0.05, 0.1, 0.2, 0.4):
            add(f"mix inputs + label smoothing ε={_eps_str(e)}",
                {"method": "mix_inputs_ls", "alpha": 1.0, "label_smoothing": e})
        for s in (0.05, 0.1, 0.2):
            add(f"Gaussian noise σ={_eps_str(s)}", {"method": "gaussian_noise", "noise_std": s})
        for e in (0.05, 0.1, 0.2):
            add(f"mixup + label smoothing ε={_eps_str(e)}", _mixup_ls(e), group="extension",
                seeds=core if e == 0.1 else minor)
        add("CutMix α=1", _cutmix(1), group="beyond the paper", seeds=core if wd == "1e-4" else minor)
    w, cols = {"weight_decay": 1e-4}, {"weight decay": "1e-4"}
    for a in (0.1, 0.2, 0.4, 1, 2, 4, 8):
        paper = _P[("preact", "mixup", "1e-4")] if a == 1 else ()
        rows.append(Row(f"mixup α={_eps_str(a)}", {**_mixup(a), **w}, cols, paper,
                        seeds={"cpu": 3 if a == 1 else 1}, group="α sweep"))
    for a in (0.1, 0.2, 0.4, 1, 2, 4, 8):
        rows.append(Row(f"mixup + label smoothing α={_eps_str(a)}, ε=0.1", {**_mixup_ls(0.1, a), **w}, cols,
                        seeds={"cpu": 3 if a == 1 else 1}, group="α sweep"))
    return Table(
        "ablation", "Ablation of mixup (PreAct ResNet-18), the label-smoothing extension, and α", tuple(rows),
        notes={"all": "AC/SC: partners from all classes / the same class; RP/KNN: random partner in the batch / "
                      "one of the k nearest training images. 'mix labels and latent representations' mixes "
                      "the output of the given block (method manifold). CutMix α=1 (method cutmix) is beyond the "
                      "paper, for comparison; the paper's claims about the ablation leave it out. The α sweep is "
                      "at weight decay 1e-4 only. Paper numbers are CIFAR-10 errors (%) of the authors' code (median of the last 10 "
                      "epochs).",
               "cpu": "Seeds at this scale: 3 for ERM, mixup AC + RP, label smoothing ε=0.1 and mixup + label "
                      "smoothing ε=0.1 (both weight decays), for CutMix at weight decay 1e-4 and for α = 1 of the "
                      "sweeps; 2 for the other rows at weight decay 1e-4; 1 for the other rows at 5e-4 and the "
                      "other α values (no std)."},
    )


NOISE_CPU = {"subset": 200, "epochs": 40, "fgsm_eps": ()}
"""The label-noise table's CPU-scale overrides: 200 training images per class (2,000) for 40 epochs (lr divided by
10 after epochs 20 and 30), so that ERM can memorise the corrupted labels within a few minutes per run (the issue's
Fashion-MNIST pilot memorised 50 % corrupted labels by epoch 21 at 100 per class); no FGSM evaluation."""


def _label_noise() -> Table:
    rows = []
    for p in (0.2, 0.5, 0.8):
        n = {"label_noise": p}
        cols = {"label noise": f"{round(p * 100)}%"}
        rows += [Row("ERM", {**ERM, **n}, cols),
                 Row("ERM + dropout p=0.5", {**ERM, "dropout": 0.5, **n}, cols)]
        rows += [Row(f"mixup α={a}", {**_mixup(a), **n}, cols, seeds={"cpu": 1} if a == 1 else {})
                 for a in (1, 2, 8, 32)]
        rows.append(Row("mixup α=8 + dropout p=0.5", {**_mixup(8), "dropout": 0.5, **n}, cols))
    return Table(
        "label_noise", "Memorization of corrupted labels: 20 %, 50 %, 80 % of the training labels random",
        tuple(rows),
        seeds={"paper": 3, "cpu": 3, "smoke": 1}, scale_overrides={"cpu": NOISE_CPU},
        metrics=("best_error", "final_error", "train_error_noisy_labels", "train_error_clean_labels"),
        extra=("best_error", "train_error_noisy_labels", "train_error_clean_labels"),
        notes={"all": "A corrupted label is replaced by a uniformly random class (it may equal the true one). "
                      "Test errors are on clean test labels: best = lowest of all epochs, final = last epoch. "
                      "Training errors are of the final model on the training set: 'corrupted labels' against "
                      "the random labels of the corrupted samples (low = memorized), 'clean labels' on the "
                      "uncorrupted samples. Dropout (before the classifier) uses p = 0.5 and mixup + dropout "
                      "α = 8: choices of this reproduction, not tuned.",
               "cpu": "This table's CPU runs are smaller than the scale's: 200 training images per class (2,000) "
                      "and 40 epochs (lr divided by 10 after epochs 20 and 30), no FGSM; 3 paired seeds per row, "
                      "1 for mixup α=1 (no std)."},
    )


UCI_DATASETS = ("abalone", "arcene", "arrhythmia", "htru2", "iris-uci", "phishing")
"""The paper's six UCI sets (Section 3.6), read from ``$MIXUP_REPRO_DATA/uci`` (see :mod:`mixup_repro.uci`)."""
UCI_SMOKE_DATASET = "iris"
"""The smoke scale's stand-in (scikit-learn's copy of Iris, installed with the package): CI has no UCI files."""
UCI_PROTOCOL = {"model": "mlp", "optimizer": "adam", "lr": 1e-3, "batch_size": 16, "weight_decay": 0.0,
                "epochs": 30, "milestones": ()}
_NEEDS_UCI = {"smoke": "the smoke scale runs scikit-learn's iris instead (no UCI files needed)"}
_SMOKE_STANDIN = {"paper": "smoke-scale stand-in", "cpu": "smoke-scale stand-in"}


def _uci() -> Table:
    rows = []
    methods = (("ERM", ERM, {}), ("mixup α=1", _mixup(1), {}),
               ("label smoothing ε=0.1", _ls(0.1), {"cpu": 5}),
               ("mixup + label smoothing ε=0.1", _mixup_ls(0.1), {"cpu": 5}))
    for ds in (*UCI_DATASETS, UCI_SMOKE_DATASET):
        skip = _SMOKE_STANDIN if ds == UCI_SMOKE_DATASET else _NEEDS_UCI
        for label, spec, seeds in methods:
            rows.append(Row(label, {"dataset": ds, **spec}, {"dataset": ds}, seeds=seeds, skip=skip))
    return Table(
        "uci", "Tabular data (the paper's six UCI sets): MLP 2 x 128 ReLU, Adam, batch 16", tuple(rows),
        kind="tabular", base=UCI_PROTOCOL, seeds={"paper": 10, "cpu": 10, "smoke": 1},
        notes={"all": "The paper's six UCI sets (Abalone as 3 classes: rings 1-8, 9-10, 11+, our choice, the paper "
                      "does not say; Arcene's given train/valid split as train/test; Arrhythmia's missing values "
                      "imputed with the training median; see mixup_repro.uci). Protocol at every scale: 2 x 128 "
                      "ReLU MLP, Adam (lr 1e-3, no weight decay, constant lr), batch 16, 30 epochs (our choice), "
                      "standardised features, a fixed stratified 80/20 train/test split (seeds change the "
                      "initialisation and the data order); α = 1 and ε = 0.1 (not tuned). The dataset is fixed by "
                      "each row (--dataset does not apply).",
               "paper": "10 seeds.",
               "cpu": "10 paired seeds for ERM and mixup (the paper's comparison), 5 for the label-smoothing rows "
                      "(the configs are the same at both scales, so with the same --out they count towards the "
                      "paper-scale table).",
               "smoke": "1 seed, scikit-learn's iris only (the UCI files are not needed)."},
    )


def _calibration() -> Table:
    rows = (Row("ERM", {**ERM}), Row("label smoothing ε=0.1", _ls(0.1)), Row("mixup α=1", _mixup(1)),
            Row("mixup + label smoothing ε=0.1", _mixup_ls(0.1)))
    return Table(
        "calibration", "Calibration: expected calibration error and NLL (PreAct ResNet-18)", rows,
        metrics=("final_ece", "final_nll", "overconfidence", "final_error"), extra=("overconfidence",),
        notes={"all": "Same runs as the headline table. ECE with 15 equal-width confidence bins (the bins are in "
                      "each results file's summary.reliability); 'confidence − accuracy' is the mean top-class "
                      "confidence minus the accuracy on the test set (> 0: overconfident, < 0: underconfident)."},
    )


def _robustness() -> Table:
    rows = (Row("ERM", {**ERM}), Row("label smoothing ε=0.1", _ls(0.1)), Row("mixup α=1", _mixup(1)),
            Row("mixup + label smoothing ε=0.1", _mixup_ls(0.1)))
    return Table(
        "robustness", "Robustness to FGSM adversarial examples (PreAct ResNet-18, white box)", rows,
        metrics=("final_error", "fgsm"), extra=("fgsm",),
        notes={"all": "Same runs as the headline table. Test error (%) of the final model under the fast "
                      "gradient sign method, one step of size ε in [0, 1] pixel units, clipped to [0, 1]."},
    )


EPS_CANDIDATES = (0.0, 0.05, 0.1, 0.2)
EPS_FIXED = 0.1
VAL_FRACTION = 0.2


def _eps_spec(e: float) -> dict:
    return _mixup(1) if e == 0 else _mixup_ls(e)


def _eps_label(e: float) -> str:
    return "ε=0 (mixup)" if e == 0 else f"ε={_eps_str(e)}"


def _eps_validation() -> Table:
    rows = [Row(f"validation: {_eps_label(e)}", {**_eps_spec(e), "val_fraction": VAL_FRACTION, "fgsm_eps": ()},
                {"evaluated on": "validation"}, group="selection") for e in EPS_CANDIDATES]
    rows += [Row(f"test: {_eps_label(e)}", _eps_spec(e), {"evaluated on": "test"}, group="full training set")
             for e in EPS_CANDIDATES]
    return Table(
        "eps_validation", "Choosing ε by validation: mixup + label smoothing, α = 1", tuple(rows),
        metrics=("median_last10_error", "final_error", "final_nll", "final_ece"),
        notes={"all": f"Selection runs train on {round(100 * (1 - VAL_FRACTION))} % of the training set and "
                      f"report the error on the held-out {round(100 * VAL_FRACTION)} % (per seed). The selected "
                      "ε has the lowest mean validation 'median last 10' error over seeds; the comparison rows "
                      f"give the test error of mixup + label smoothing at (a) the selected ε, (b) the fixed "
                      f"ε = {EPS_FIXED:g}, and (c) mixup (ε = 0), all trained on the full training set (the "
                      "test rows are shared with the ablation table)."},
    )


SPEECH_PROTOCOL = {"dataset": "speech-commands", "optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0,
                   "batch_size": 100, "augment": False, "eval_split": "test+validation"}
"""The speech table's protocol at every scale (the paper's Section 3.4: Adam, minibatches of 100, 30 epochs; no
weight decay and lr 1e-3, Adam's default, are this reproduction's choices). ``eval_split="test+validation"``:
every run is evaluated on the validation speakers (to choose α and ε) and on the test speakers (to report)."""
SPEECH_MODELS = (
    ("lenet", "LeNet", {"model": "lenet"}),
    ("vgg11", "VGG-11", {"model": "vgg11", "width": 8}),
    ("gru", "GRU", {"model": "gru", "rnn_hidden": 64, "bidirectional": True}),
)
"""(key, name, overrides) of the speech table's models: LeNet-style CNN (61,876 parameters), VGG-11 with batch
norm at width 8 (145,540; the full width 64 has 9,228,236), bidirectional GRU with 64 units per direction (42,252),
at 12 classes."""
SPEECH_ALPHAS = (0.1, 0.2, 1.0)
SPEECH_EPS = (0.05, 0.1, 0.2)
SPEECH_FAMILIES = ("ERM", "mixup", "label smoothing", "mixup + label smoothing")
_SMOKE_ONLY = {"smoke": "smoke scale: one candidate per method"}


def speech_row_label(family: str, alpha: float | None = None, eps: float | None = None) -> str:
    """The label of a speech-table row, e.g. ``mixup α=0.2``, ``mixup + label smoothing α=1, ε=0.1``."""
    check_choice("family", family, SPEECH_FAMILIES)
    if family == "ERM":
        return "ERM"
    if family == "mixup":
        return f"mixup α={_eps_str(alpha)}"
    if family == "label smoothing":
        return f"label smoothing ε={_eps_str(eps)}"
    return f"mixup + label smoothing α={_eps_str(alpha)}, ε={_eps_str(eps)}"


def _speech() -> Table:
    rows = []
    for _, name, spec in SPEECH_MODELS:
        cols = {"model": name}

        def add(family, over, alpha=None, eps=None, spec=spec, cols=cols):
            smoke = (alpha in (None, 0.2)) and (eps in (None, 0.1))  # the smoke scale runs one candidate per method
            rows.append(Row(speech_row_label(family, alpha, eps), {**spec, **over}, cols, group=family,
                            skip={} if smoke else _SMOKE_ONLY))

        add("ERM", ERM)
        for a in SPEECH_ALPHAS:
            add("mixup", _mixup(a), alpha=a)
        for e in SPEECH_EPS:
            add("label smoothing", _ls(e), eps=e)
        for a in SPEECH_ALPHAS:
            for e in SPEECH_EPS:
                add("mixup + label smoothing", _mixup_ls(e, a), alpha=a, eps=e)
    return Table(
        "speech", "Speech commands: mixup and mixup + label smoothing, CNNs against a recurrent net", tuple(rows),
        kind="speech", base=SPEECH_PROTOCOL, seeds={"paper": 5, "cpu": 5, "smoke": 1},
        metrics=("final_error", "final_ece", "val_final_error"), extra=("val_final_error", "val_final_ece"),
        notes={"all": "A 12-class, 4,890-clip miniature of the paper's 30-class, 65,000-utterance experiment: the "
                      "official test set of Speech Commands v0.02 (ten words, _silence_, _unknown_), split by speaker "
                      "(3,322 training, 882 validation and 686 test clips; no speaker in two parts). Standardised "
                      "40 x 101 log-mel spectrograms (CNNs) or 101 x 40 (time, mel) sequences (GRU); mixup mixes "
                      "them directly. Adam (lr 1e-3, divided by 10 at 50 % and 75 % of the epochs, no weight "
                      "decay), batch 100, no augmentation. Every run is evaluated on the validation speakers and on "
                      "the test speakers: α and ε are chosen per model and method on the mean validation final "
                      "error over seeds, and the chosen run's test error is reported. Models: LeNet-style CNN "
                      "(61,876 parameters), VGG-11 with batch norm at width 8 (145,540), bidirectional GRU with 64 "
                      "units per direction (42,252).",
               "cpu": f"{SPEECH_CPU_EPOCHS} epochs (the paper: 30), 5 seeds per row (the seed changes the "
                      "initialisation and the data order; the speakers of each part are the same for every seed). "
                      "Time: pilot runs (one thread, 2026-12-01, while the main CIFAR sweep shared the 2 cores, so "
                      "about half a core each) took 6.4 s (LeNet), 15.6 s (VGG-11) and 7.1 s (GRU) per epoch, "
                      "training and evaluation; at those speeds the 240 runs take about 3.5 h with --workers 2 "
                      "(--dry-run), on an idle 2-core machine about half of that (not measured).",
               "paper": "30 epochs as the paper (at the same models' sizes; the dataset stays the miniature), 5 seeds.",
               "smoke": "Smoke scale: 5 training clips per class, 1 epoch, only α=0.2 and ε=0.1 rows; the numbers "
                        "mean nothing."},
    )


TRAINING_LENGTHS = (5, 10, 15, 30)
"""Epochs of the training-length table (CPU scale: 30 is the headline's length, so those rows share its runs)."""


def _training_length() -> Table:
    rows = []
    for e in TRAINING_LENGTHS:
        cols = {"epochs": str(e)}
        rows += [Row("ERM", {**ERM, "epochs": e}, cols), Row("mixup α=1", {**_mixup(1), "epochs": e}, cols)]
    return Table(
        "training_length", "The mixup − ERM gap against training length (PreAct ResNet-18)", tuple(rows),
        seeds={"paper": 3, "cpu": 3, "smoke": 1},
        notes={"all": "Each length keeps the schedule's shape (lr divided by 10 at 50 % and 75 % of its epochs). "
                      "The question: does mixup lose to ERM when training is short (ERM has not fitted its data "
                      "yet) and win once ERM interpolates? 30 epochs is the CPU scale's length: those rows are the "
                      "headline's runs (seeds 0-2).",
               "paper": "The lengths are the CPU scale's; at the paper's scale this table is a short-training probe.",
               "cpu": "3 paired seeds per length."},
    )


TABLES: dict[str, Table] = {t.name: t for t in (_headline(), _ablation(), _label_noise(), _uci(), _calibration(),
                                                  _robustness(), _eps_validation(), _training_length(),
                                                  _speech())}
"""Every declared experiment, by name."""

ALL_TABLES: tuple[str, ...] = tuple(n for n, t in TABLES.items() if t.kind != "speech")
"""The tables of ``table all`` (and of the README's results section): the speech table keeps its own results folder
(``results/speech``) and its own command, ``table speech``."""


# ----------------------------------------------------------------------------------------------------------
# Configs
# ----------------------------------------------------------------------------------------------------------
def _get_table(name) -> Table:
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; choose from {', '.join(TABLES)}")
    return TABLES[name]


def _check_scale(scale) -> str:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose from {', '.join(SCALES)}")
    return scale


def _resolve_dataset(table: Table, dataset, scale: str = "paper") -> str | None:
    if table.kind == "speech":
        if dataset not in (None, "speech-commands"):
            raise ValueError(f"--dataset does not apply to table {table.name!r}: its rows fix the dataset "
                             f"(speech-commands), got {dataset!r}")
        return None
    if table.kind == "tabular":
        if dataset is not None:
            raise ValueError(f"--dataset does not apply to table {table.name!r}: its rows fix the datasets "
                             f"({', '.join(UCI_DATASETS)})")
        return None
    dataset = table.default_dataset[scale] if dataset is None else dataset
    if dataset not in IMAGE_DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(IMAGE_DATASETS)} for table {table.name!r}, "
                         f"got {dataset!r}")
    return dataset


def _check_seeds(seeds):
    if seeds is None:
        return None
    seeds = list(seeds)
    if not seeds:
        raise ValueError("--seeds needs at least one seed")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ValueError(f"seeds must be integers >= 0, got {s!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}")
    return seeds


def _select_rows(table: Table, rows) -> list[Row]:
    """Rows whose label, key or one of whose column values equals one of ``rows`` (all when None)."""
    if rows is None:
        return list(table.rows)
    if isinstance(rows, str):
        rows = [rows]
    chosen = set()
    for token in rows:
        hits = [i for i, r in enumerate(table.rows)
                if token in (r.label, r.key) or token in [str(v) for v in r.columns.values()]]
        if not hits:
            labels = list(dict.fromkeys(r.label for r in table.rows))
            raise ValueError(f"unknown row {token!r} for table {table.name!r}; rows: {'; '.join(labels)}")
        chosen.update(hits)
    return [r for i, r in enumerate(table.rows) if i in chosen]


def _row_config(table: Table, row: Row, scale: str, dataset, seed: int) -> TrainConfig:
    d = {} if dataset is None else {"dataset": dataset}
    d.update(table.base)
    d.update(SCALES[scale][table.kind])
    d.update(table.scale_overrides.get(scale, {}))
    d.update(row.overrides)
    d["seed"] = int(seed)
    return TrainConfig(**d)


def _row_seed_list(table: Table, row: Row, scale: str, seeds) -> list[int]:
    return list(seeds) if seeds is not None else list(range(table.row_seeds(row, scale)))


def _plan(name, scale, dataset=None, seeds=None, rows=None):
    """(table, dataset, [(row, [configs] or None when not runnable)])."""
    table = _get_table(name)
    _check_scale(scale)
    dataset = _resolve_dataset(table, dataset, scale)
    seeds = _check_seeds(seeds)
    plan = []
    for row in _select_rows(table, rows):
        if not row.runnable(scale):
            plan.append((row, None))
        else:
            plan.append((row, [_row_config(table, row, scale, dataset, s)
                               for s in _row_seed_list(table, row, scale, seeds)]))
    return table, dataset, plan


def table_configs(name: str, scale: str, dataset: str | None = None, seeds: Sequence[int] | None = None,
                  rows: Sequence[str] | None = None) -> list[tuple[str, TrainConfig]]:
    """The runs of table ``name`` at ``scale``: ``(row key, TrainConfig)`` pairs, rows in order, then seeds.

    ``dataset`` (image tables; default Fashion-MNIST), ``seeds`` (an explicit list for every row instead of
    the per-row defaults) and ``rows`` (labels, keys or key-column values, e.g. ``"ERM"``,
    ``"ERM [weight decay=5e-4]"``, ``"iris"``) restrict or change the runs. Rows not runnable at
    ``scale`` have no configs. The row key is the label when the row has no key columns.
    """
    _, _, plan = _plan(name, scale, dataset, seeds, rows)
    return [(row.key, cfg) for row, cfgs in plan if cfgs for cfg in cfgs]

ROW_PRESETS: dict[str, dict[str, tuple[str, ...]]] = {
    "ablation": {"core": ("ERM", "mixup AC + RP", "label smoothing ε=0.1", "mix inputs + label smoothing ε=0.1",
                          "Gaussian noise σ=0.1")},
    "label_noise": {"core": ("ERM", "ERM + dropout p=0.5", "mixup α=8")},
}
"""Named row selections, usable as ``rows`` (e.g. ``rows = "core"``): the rows a quick run of a table needs
for its claims (at both weight decays / every noise level). Names never clash with row labels."""
for _name, _presets in ROW_PRESETS.items():  # a renamed row fails here, at import, not as an empty selection
    for _preset in _presets.values():
        _select_rows(TABLES[_name], list(_preset))
del _name, _presets, _preset


def table_dataset(name: str, dataset):
    """``dataset`` for an image table, None for the tables whose rows fix their datasets."""
    return None if _get_table(name).kind == "tabular" else dataset


def select_rows(name: str, rows=None, dataset: str | None = None) -> list[str] | None:
    """Row keys of table ``name`` matching ``rows`` (labels, keys or key values, as ``--rows``, or a name of
    :data:`ROW_PRESETS`); for the tabular table, ``dataset`` keeps only that data set's rows. None (all rows)
    when neither is given."""
    table = _get_table(name)
    if rows is None and (dataset is None or table.kind != "tabular"):
        return None
    chosen = list(table.rows)
    if rows is not None:
        tokens = [rows] if isinstance(rows, str) else list(rows)
        presets = ROW_PRESETS.get(name, {})
        chosen = _select_rows(table, [t2 for t in tokens for t2 in (presets[t] if t in presets else (t,))])
    if dataset is not None and table.kind == "tabular":
        check_choice("dataset", dataset, (*UCI_DATASETS, UCI_SMOKE_DATASET))
        chosen = [r for r in chosen if r.columns.get("dataset") == dataset]
    return [r.key for r in chosen]


def row_runs(name: str, scale: str, out, *, dataset: str | None = None, seeds=None, rows=None) -> dict[str, list]:
    """Row key -> list of the finished results records (dicts, see :func:`~mixup_repro.results.read_result`)."""
    keys = select_rows(name, rows, dataset)
    runs: dict[str, list] = {}
    for key, cfg in table_configs(name, scale, table_dataset(name, dataset), seeds, keys):
        runs.setdefault(key, [])
        path = result_path(cfg, out)
        if path.exists():
            try:
                runs[key].append(read_result(path))
            except ResultsError:
                continue
    return runs



def _status(cfg: TrainConfig, out) -> str:
    """'done', 'missing', or 'corrupt' (a results file that does not read; it will be redone)."""
    path = result_path(cfg, out)
    if not path.exists():
        return "missing"
    try:
        read_result(path)
    except ResultsError:
        return "corrupt"
    return "done"


def _unique(cfgs) -> list[TrainConfig]:
    seen, out = set(), []
    for c in cfgs:
        rid = run_id(c)
        if rid not in seen:
            seen.add(rid)
            out.append(c)
    return out


def missing_configs(name: str, scale: str, out, **kw) -> list[TrainConfig]:
    """The distinct configs of a table whose results file is absent (or unreadable) in ``out``."""
    cfgs = _unique(c for _, c in table_configs(name, scale, **kw))
    return [c for c in cfgs if _status(c, out) != "done"]


# ----------------------------------------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------------------------------------
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def config_argv(cfg: TrainConfig) -> list[str]:
    """``train`` options for every field of ``cfg`` that differs from the TrainConfig default."""
    argv = []
    for f in dataclasses.fields(TrainConfig):
        v, default = getattr(cfg, f.name), _DEFAULTS[f.name]
        if v == default and type(v) is type(default):
            continue
        if v is None:  # only possible for a field whose default is not None; no such field today
            raise ValueError(f"cannot express {f.name}=None on the command line")
        if isinstance(v, bool):
            argv.append(_flag(f.name) if v else "--no-" + f.name.replace("_", "-"))
        elif isinstance(v, tuple):
            argv += [_flag(f.name), *(repr(x) if isinstance(x, float) else str(x) for x in v)]
        elif isinstance(v, float):
            argv += [_flag(f.name), repr(v)]
        else:
            argv += [_flag(f.name), str(v)]
    return argv


def train_command(cfg: TrainConfig, out, *, python: str = "python", force: bool = False) -> list[str]:
    """The ``python -m mixup_repro train ...`` argv that computes ``cfg`` into ``out``."""
    cmd = [python, "-m", "mixup_repro", "train", *config_argv(cfg), "--out", str(out), "--quiet"]
    return cmd + ["--force"] if force else cmd


# ----------------------------------------------------------------------------------------------------------
# Time estimates
# ----------------------------------------------------------------------------------------------------------
def _interp(table: Mapping[int, float], width: int) -> float:
    keys = sorted(table)
    if width <= keys[0]:
        return table[keys[0]] * width / keys[0]
    if width >= keys[-1]:
        return table[keys[-1]] * (width / keys[-1]) ** 2
    for lo, hi in zip(keys, keys[1:]):
        if lo <= width <= hi:
            t = (width - lo) / (hi - lo)
            return table[lo] + t * (table[hi] - table[lo])
    raise AssertionError


def estimate_seconds(cfg: TrainConfig, scale: str) -> float:
    """Rough wall time of one run at ``scale`` under :data:`TIME_MODEL` (one run alone on its share)."""
    tm = TIME_MODEL[scale]
    n_train, n_test, classes, pixels = _DATA_SIZES.get(cfg.dataset, (1000, 1000, 2, 0))
    if cfg.subset is not None:
        n_train = min(n_train, cfg.subset * classes)
    if cfg.test_subset is not None:
        n_test = min(n_test, cfg.test_subset * classes)
    if cfg.val_fraction > 0:
        n_eval = round(n_train * cfg.val_fraction)
        n_train -= n_eval
    else:
        n_eval = n_test
    fixed = tm["startup_s"]
    if cfg.dataset == "speech-commands":  # per-epoch costs measured at 3,322 training clips
        n = min(3322, cfg.subset * 12) if cfg.subset is not None else 3322
        per_epoch = tm["speech_epoch_s"].get(cfg.model, max(tm["speech_epoch_s"].values())) * (0.3 + 0.7 * n / 3322)
        return fixed + tm["speech_load_s"] + cfg.epochs * per_epoch
    if pixels == 0:  # MLP on tabular data; evaluation is negligible
        steps = -(-n_train // cfg.batch_size) * cfg.epochs
        return fixed + tm["load_s"]["tabular"] + steps * tm["mlp_step_s"]
    width = cfg.width if cfg.model == "preact_resnet18" else 64
    factor = tm["model_factor"].get(cfg.model, 1.0) * pixels / (784 if scale != "paper" else 1024)
    tr = _interp(tm["train_s_per_1k"], width) * factor / 1000
    ev = _interp(tm["eval_s_per_1k"], width) * factor / 1000
    per_epoch = n_train * tr + n_eval * ev + (n_train * ev if cfg.label_noise > 0 else 0.0)
    fgsm = len(cfg.fgsm_eps) * n_eval * (ev + tm["fgsm_train_fraction"] * tr)
    return fixed + tm["load_s"]["image"] + cfg.epochs * per_epoch + n_eval * ev + fgsm


def _schedule(times: list[float], workers: int) -> float:
    """Makespan of longest-first scheduling of ``times`` on ``workers`` slots."""
    slots = [0.0] * max(1, workers)
    for t in sorted(times, reverse=True):
        i = slots.index(min(slots))
        slots[i] += t
    return max(slots) if times else 0.0


def _speedup(scale: str, workers: int) -> float:
    """Per-run speed relative to one thread, given the threads each run gets with ``workers`` at once."""
    if TIME_MODEL[scale]["threads"] is None:
        return 1.0
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    return 1.0 + 0.6 * (threads - 1)


def _est(cfg: TrainConfig, scale: str, workers: int) -> float:
    """Estimated seconds of one run in a sweep with ``workers`` (in-process, without start-up, when 1)."""
    t = estimate_seconds(cfg, scale) - (TIME_MODEL[scale]["startup_s"] if workers == 1 else 0.0)
    return t / _speedup(scale, workers)


def _fmt_duration(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


# ----------------------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------------------
class SweepInterrupted(Exception):
    """A sweep stopped by SIGTERM / SIGINT after its running runs checkpointed."""

    def __init__(self, signame: str, stopped: int, done: int, remaining: int):
        self.signame, self.stopped, self.done, self.remaining = signame, stopped, done, remaining
        super().__init__(f"interrupted by {signame}: {done} run(s) finished, {stopped} running run(s) stopped "
                         f"and checkpointed, {remaining} not finished; run the same command again to resume")




def _visible_gpus() -> list[str]:
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # pragma: no cover - no usable CUDA
        return []


def _child_env(slot: int, workers: int, gpus: list[str]) -> dict:
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    env["OMP_NUM_THREADS"] = threads
    env["MKL_NUM_THREADS"] = threads
    if len(gpus) > 1:
        env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _die_with_parent():  # pragma: no cover - runs in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _say(quiet: bool, msg: str) -> None:
    if not quiet:
        print(msg, flush=True)


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "(no output)"


def _run_inprocess(jobs, out, quiet, failures):
    """workers == 1: run each config with :func:`fit` in this process (no interpreter start-up per run)."""
    from .checkpoint import CheckpointError, Interrupted
    from .train import fit

    done = 0
    with StopSignal() as sig:
        for i, (cfg, force) in enumerate(jobs):
            if sig.received:
                raise SweepInterrupted(sig.received, 0, done, len(jobs) - i)
            t0 = time.perf_counter()
            try:
                res = fit(cfg, out, force=force, quiet=quiet, keep_model=False)
            except Interrupted as e:
                raise SweepInterrupted(e.signame, 1, done, len(jobs) - i) from None
            except (CheckpointError, OSError, ValueError, TypeError, RuntimeError) as e:
                failures.append((run_id(cfg), f"{type(e).__name__}: {' '.join(str(e).split())}"))
                _say(quiet, f"[{i + 1}/{len(jobs)}] FAILED {run_id(cfg)}: {failures[-1][1]}")
                continue
            done += 1
            _say(quiet, f"[{i + 1}/{len(jobs)}] {run_id(cfg)}: final error {res.summary['final_error']:.2f}% "
                        f"({time.perf_counter() - t0:.0f} s)")
            if sig.received:
                raise SweepInterrupted(sig.received, 0, done, len(jobs) - i - 1)


def _run_subprocesses(jobs, out, workers, quiet, failures):
    """``workers`` runs at once as ``python -m mixup_repro train`` subprocesses; SIGTERM/SIGINT forwarded."""
    import subprocess

    gpus = _visible_gpus()
    pending = list(enumerate(jobs))
    running: dict[int, tuple] = {}
    done = 0
    retried = set()

    def kill_all():
        for proc, *_ in running.values():
            if proc.poll() is None:
                proc.kill()

    with StopSignal(on_second=kill_all) as sig:
        try:
            while (pending or running) and not sig.received:
                for slot in range(workers):
                    if slot in running or not pending or sig.received:
                        continue
                    i, (cfg, force) = pending.pop(0)
                    log = tempfile.TemporaryFile(mode="w+")
                    cmd = train_command(cfg, out, python=sys.executable, force=force)
                    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            env=_child_env(slot, workers, gpus), start_new_session=True,
                                            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
                    running[slot] = (proc, i, cfg, force, log, time.perf_counter())
                time.sleep(0.05)
                for slot in list(running):
                    proc, i, cfg, force, log, t0 = running[slot]
                    rc = proc.poll()
                    if rc is None:
                        continue
                    del running[slot]
                    log.seek(0)
                    text = log.read()
                    log.close()
                    rid = run_id(cfg)
                    if rc == 0:
                        done += 1
                        _say(quiet, f"[{i + 1}/{len(jobs)}] {_last_line(text).split(' -> ')[0]} "
                                    f"({time.perf_counter() - t0:.0f} s)")
                    elif sig.received and rc < 0:
                        pending.insert(0, (i, (cfg, force)))
                    elif "not writable" in text and rid not in retried:  # a transient probe race: retry once
                        retried.add(rid)
                        pending.insert(0, (i, (cfg, force)))
                    else:
                        failures.append((rid, _last_line(text)))
                        _say(quiet, f"[{i + 1}/{len(jobs)}] FAILED {rid} (exit {rc}): {failures[-1][1]}")
            if sig.received:
                stopped = 0
                for proc, *_ in running.values():
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGTERM)
                        stopped += 1
                for proc, *rest in running.values():
                    rc = proc.wait()
                    rest[3].close()
                    if rc == 0:
                        done += 1
                        stopped -= 1
                remaining = len(pending) + sum(1 for p, *_ in running.values() if p.returncode != 0)
                running.clear()
                raise SweepInterrupted(sig.received, max(0, stopped), done, remaining)
        finally:
            kill_all()
            for proc, *rest in running.values():
                proc.wait()
                rest[3].close()


def _run_configs(cfgs: list[TrainConfig], out, *, workers: int, quiet: bool) -> list[tuple[str, str]]:
    """Run the distinct configs whose results are missing; return the failures ``[(run_id, message)]``."""
    from .results import check_writable

    cfgs = _unique(cfgs)
    jobs = []
    for c in sorted(cfgs, key=lambda c: c.seed):  # all rows of seed 0 first: partial sweeps stay usable
        st = _status(c, out)
        if st == "corrupt":
            warnings.warn(f"{result_path(c, out)} does not read as a results file; redoing the run", UserWarning,
                          stacklevel=3)
        if st != "done":
            jobs.append((c, st == "corrupt"))
    if not jobs:
        _say(quiet, f"all {len(cfgs)} run(s) already done in {out}")
        return []
    check_writable(out)
    failures: list[tuple[str, str]] = []
    _say(quiet, f"{len(jobs)} run(s) to do in {out} ({len(cfgs) - len(jobs)} already done), "
                f"{min(workers, len(jobs))} at once")
    if workers == 1:
        _run_inprocess(jobs, out, quiet, failures)
    else:
        _run_subprocesses(jobs, out, workers, quiet, failures)
    return failures


def _specs(names: Sequence[str], dataset, rows) -> list[tuple[str, str | None, list | None]]:
    """``(table, dataset, rows)`` per table, all arguments checked; raises ValueError naming the problem.

    With several tables, ``dataset`` applies to the image tables only and each ``rows`` token to the tables
    that have such a row (a token no table has is an error; tables with none of the tokens are dropped).
    """
    names = list(names)
    if not names:
        raise ValueError("no table given")
    for n in names:
        _get_table(n)
    if isinstance(rows, str):
        rows = [rows]
    if len(names) == 1:
        n = names[0]
        _resolve_dataset(TABLES[n], dataset)
        _select_rows(TABLES[n], rows)
        return [(n, dataset, None if rows is None else list(rows))]
    specs = []
    if rows is not None:
        for t in rows:
            if not any(_matches_any(TABLES[n], t) for n in names):
                raise ValueError(f"unknown row {t!r}: no table among {', '.join(names)} has it")
    for n in names:
        table = TABLES[n]
        ds = dataset if table.kind == "image" else None
        _resolve_dataset(table, ds)
        r = None if rows is None else [t for t in rows if _matches_any(table, t)]
        if r == []:
            continue
        specs.append((n, ds, r))
    return specs


def _matches_any(table: Table, token: str) -> bool:
    try:
        _select_rows(table, [token])
        return True
    except ValueError:
        return False


def _check_run_args(specs, scale, seeds, workers) -> None:
    _check_scale(scale)
    _check_workers(workers)
    for n, ds, r in specs:
        _plan(n, scale, ds, seeds, r)


def _run_specs(specs, scale, *, out, seeds, workers, quiet, compile: str = "none") -> dict:
    cfgs = []
    for n, ds, r in specs:
        cfgs += [c for _, c in table_configs(n, scale, ds, seeds, r)]
    if compile != "none":  # how the runs execute, not what they compute: run ids are unchanged
        cfgs = [dataclasses.replace(c, compile=compile) for c in cfgs]
    failures = _run_configs(cfgs, out, workers=workers, quiet=quiet)
    summaries = {}
    for n, ds, r in specs:
        df = summarize(n, scale, out, dataset=ds, seeds=seeds, rows=r)
        write_summary(df, out, n)
        summaries[n] = df
    if failures:
        raise SweepFailed(failures, summaries)
    return summaries


class SweepFailed(RuntimeError):
    """Some runs of a sweep failed; the others finished and the summaries (``.summaries``) were written."""

    def __init__(self, failures, summaries):
        self.failures, self.summaries = failures, summaries
        super().__init__(f"{len(failures)} run(s) failed (the summary shows the others); first: "
                         f"{failures[0][0]}: {failures[0][1]}")


def _check_workers(workers) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"--workers must be an integer >= 1, got {workers!r}")
    return workers


def run_table(name: str, scale: str, *, out, dataset: str | None = None, seeds: Sequence[int] | None = None,
              rows: Sequence[str] | None = None, workers: int = 1, quiet: bool = False, compile: str = "none"):
    """Compute the missing runs of a table into ``out``, then write and return its summary.

    Runs whose results file exists are skipped, so a sweep stopped at any moment finishes, when started
    again, without redoing or duplicating runs. ``workers == 1`` runs in this process; ``workers > 1``
    runs that many ``python -m mixup_repro train ... --quiet`` subprocesses at once, each with
    ``OMP_NUM_THREADS = MKL_NUM_THREADS = max(1, cores // workers)`` and, with several GPUs visible,
    ``CUDA_VISIBLE_DEVICES`` = its slot mod the number of GPUs (one GPU: they share it). SIGTERM / SIGINT
    is forwarded (as SIGTERM) to the running runs, which checkpoint; then :class:`SweepInterrupted` is
    raised. Failed runs raise :class:`SweepFailed` after the summary is written. ``compile`` is passed to
    every run (:attr:`TrainConfig.compile <mixup_repro.train.TrainConfig>`; run ids do not depend on it).

    Returns the summary DataFrame (see :func:`summarize`), also written to ``<out>/tables/<name>.csv``
    and ``.md``.
    """
    return run_tables([name], scale, out=out, dataset=dataset, seeds=seeds, rows=rows, workers=workers,
                      quiet=quiet, compile=compile)[name]


def run_tables(names: Sequence[str], scale: str, *, out, dataset=None, seeds=None, rows=None, workers: int = 1,
               quiet: bool = False, compile: str = "none") -> dict:
    """:func:`run_table` for several tables at once (their distinct runs go into one pool); name -> summary."""
    specs = _specs(names, dataset, rows)
    seeds = _check_seeds(seeds)
    _check_run_args(specs, scale, seeds, workers)
    check_choice("compile", compile, COMPILE_MODES)
    return _run_specs(specs, scale, out=out, seeds=seeds, workers=workers, quiet=quiet, compile=compile)


# ----------------------------------------------------------------------------------------------------------
# Summaries
# ----------------------------------------------------------------------------------------------------------
def _overconfidence(rel) -> float | None:
    try:
        n = [c or 0 for c in rel["bin_count"]]
        total = sum(n)
        if not total:
            return None
        conf = sum(c * (x or 0.0) for c, x in zip(n, rel["bin_confidence"]))
        acc = sum(c * (x or 0.0) for c, x in zip(n, rel["bin_accuracy"]))
        return 100.0 * (conf - acc) / total
    except (KeyError, TypeError):
        return None


def _run_metrics(rec: dict, metrics: list[str]) -> dict:
    s, curves = rec["summary"], rec["curves"]
    vals = {}
    for m in metrics:
        if m == "overconfidence":
            v = _overconfidence(s.get("reliability") or {})
        elif m in ("train_error_noisy_labels", "train_error_clean_labels"):
            seq = curves.get(m) or []
            v = seq[-1] if seq else None
        else:
            v = s.get(m)
        vals[m] = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    return vals


def _mean_std(values: list[float]) -> tuple[float, float]:
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

    table, dataset, plan = _plan(name, scale, dataset, seeds, rows)
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
                r = _read_or_warn(path)
                if r is None:
                    continue
                n_done += 1
                for m, v in _run_metrics(r, metrics).items():
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
    val = {e: labels.index(f"validation: {_eps_label(e)}") for e in EPS_CANDIDATES
           if f"validation: {_eps_label(e)}" in labels}
    test = {e: labels.index(f"test: {_eps_label(e)}") for e in EPS_CANDIDATES
            if f"test: {_eps_label(e)}" in labels}
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
            rec.update(row=f"{tag} {text}" + (f" (ε={_eps_str(e)})" if tag == "(a)" else ""), group="comparison",
                       selected="")
        extra.append(rec)
    df = pd.concat([df, pd.DataFrame(extra)], ignore_index=True)
    df.attrs.update(attrs)
    df.attrs["selected_eps"] = selected
    df.attrs["validation_curve"] = {e: float(df.loc[i, stat]) for e, i in val.items()}
    return df


DISPLAY_SCALE = {"final_ece": 100.0, "test_ece": 100.0}
"""Metrics stored as a fraction (results files, summary frames) and displayed in percent: value x factor."""


def display_value(metric: str, value):
    """``value`` of ``metric`` in its display unit (the ECE, stored as a fraction, in percent); None/NaN kept."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return value
    return float(value) * DISPLAY_SCALE.get(metric, 1.0)


def _fmt_num(mean, std, metric) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    digits = 3 if metric == "final_nll" else 2
    mean = display_value(metric, mean)
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {display_value(metric, std):.{digits}f}"


def _metric_name(m: str) -> str:
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
    header = ["row", *keys] + (["part"] if show_group else []) + ["runs"] + [_metric_name(m) for m in metrics]
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
            cells.append("—" if not_run else _fmt_num(r.get(f"{m}_mean"), r.get(f"{m}_std"), m))
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
                                       "0 (= mixup)" if sel == 0 else _eps_str(sel)) + ".")
    if any(df.get("status", []) == "not run"):
        reasons = sorted({str(x) for x in df.loc[df["status"] == "not run", "note"] if str(x)})
        notes += [f"Rows marked 'not run' are not run at {attrs.get('scale', '')} scale: {x}." for x in reasons]
    notes.append("Cells are mean ± std over seeds (std omitted for one seed); 'runs' is done / expected.")
    return head + "\n" + "\n".join(lines) + "\n\n" + "\n\n".join(n for n in notes if n) + "\n"


def write_summary(df, out, name: str) -> tuple[Path, Path]:
    """Write ``<out>/tables/<name>.csv`` and ``.md`` atomically."""
    folder = Path(out) / "tables"
    csv = atomic_write_bytes(folder / f"{name}.csv", df.to_csv(index=False).encode())
    md = atomic_write_bytes(folder / f"{name}.md", format_table(df).encode())
    return csv, md


# ----------------------------------------------------------------------------------------------------------
# Dry run
# ----------------------------------------------------------------------------------------------------------
def dry_run(specs, scale: str, out, *, seeds=None, workers: int = 1) -> str:
    """The text of ``--dry-run``: rows, their runs (done / missing) and time estimates; computes nothing."""
    lines, all_cfgs = [], {}
    for name, ds, rows in specs:
        table, ds, plan = _plan(name, scale, ds, seeds, rows)
        lines.append(f"table {name}: {table.title} | scale {scale} | dataset {ds or 'per row'} | out {out}")
        lines.append(f"  note: {table.scale_note(scale)}")
        t_cfgs = {}
        for row, cfgs in plan:
            if cfgs is None:
                lines.append(f"  {row.key}: not run at {scale} scale ({row.skip[scale]})")
                continue
            st = [(c, _status(c, out)) for c in cfgs]
            n_done = sum(s == "done" for _, s in st)
            est = sum(_est(c, scale, workers) for c, s in st if s != "done")
            lines.append(f"  {row.key}: {n_done}/{len(cfgs)} done, {len(cfgs) - n_done} missing"
                         + (f" (~{_fmt_duration(est)} of runs)" if n_done < len(cfgs) else ""))
            for c, s in st:
                lines.append(f"      {s:8s} {run_id(c)}  seed {c.seed}"
                             + (f"  ~{_fmt_duration(_est(c, scale, workers))}" if s != "done" else ""))
                t_cfgs[run_id(c)] = (c, s)
        all_cfgs.update(t_cfgs)
        miss = [c for c, s in t_cfgs.values() if s != "done"]
        total = _schedule([_est(c, scale, workers) for c in miss], workers)
        lines.append(f"  {name}: {len(t_cfgs)} distinct runs, {len(t_cfgs) - len(miss)} done, {len(miss)} missing; "
                     f"estimated {_fmt_duration(total)} for this table alone with --workers {workers}")
        lines.append("")
    if len(specs) > 1:
        miss = [c for c, s in all_cfgs.values() if s != "done"]
        total = _schedule([_est(c, scale, workers) for c in miss], workers)
        lines.append(f"all {len(specs)} tables: {len(all_cfgs)} distinct runs (shared runs counted once), "
                     f"{len(all_cfgs) - len(miss)} done, {len(miss)} missing; estimated {_fmt_duration(total)} "
                     f"with --workers {workers}")
    tm = TIME_MODEL[scale]
    threads = f"; {max(1, (os.cpu_count() or 1) // workers)} thread(s) per run" if tm["threads"] is not None else ""
    lines.append(f"time model ({scale}): {tm['source']}{threads}")
    return "\n".join(lines)


def print_commands(specs, scale: str, out, *, seeds=None, compile: str = "none") -> list[str]:
    """One ``python -m mixup_repro train ...`` line per distinct missing run (every non-default field)."""
    seen, lines = set(), []
    for name, ds, rows in specs:
        for _, cfg in table_configs(name, scale, ds, seeds, rows):
            rid, st = run_id(cfg), _status(cfg, out)
            if rid in seen or st == "done":
                continue
            seen.add(rid)
            cfg = dataclasses.replace(cfg, compile=compile) if compile != "none" else cfg
            lines.append(shlex.join(train_command(cfg, out, force=st == "corrupt")))
    return lines


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------
_PROG = "mixup-repro table"


def _cmd_table(args) -> int:
    names = list(ALL_TABLES) if args.name == "all" else [args.name]
    out = Path(args.out) if args.out is not None else Path("results") / args.scale
    try:  # every argument is checked before anything is written
        specs = _specs(names, args.dataset, args.rows)
        seeds = _check_seeds(args.seeds)
        _check_run_args(specs, args.scale, seeds, args.workers)
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
        summaries = _run_specs(specs, args.scale, out=out, seeds=seeds, workers=args.workers, quiet=args.quiet,
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
                   help="cpu (about 45 min for all tables with --workers 2), paper (the paper's protocol), "
                        "smoke (seconds, for tests); default: cpu")
    p.add_argument("--dataset", default=None,
                   help="image dataset for image tables: " + ", ".join(IMAGE_DATASETS) + "; default: fashion-mnist")
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
