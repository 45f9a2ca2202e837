"""The scales of the declared tables and the paper's published numbers: the protocol constants, in one place.

A scale turns a table's rows into concrete :class:`~mixup_repro.train.TrainConfig` s: ``paper`` (the paper's
protocol, the TrainConfig defaults), ``cpu`` (a CIFAR-10 miniature for a 2-core machine) and ``smoke``
(seconds-long runs for tests). :class:`PaperNumber` holds a verified published number with its source.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FGSM_EPS", "SPEECH_CPU_EPOCHS", "SCALES", "SCALE_DATASETS", "SCALE_NOTES", "PAPER_SOURCES",
           "PaperNumber", "PAPER_NUMBERS", "fgsm_key", "scale_fgsm", "eps_str"]

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
        """``CIFAR-10: 5.53``: the dataset and the error, for a table cell."""
        name = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}.get(self.dataset, self.dataset)
        return f"{name}: {self.error:g}"


def _readme(err, wd):
    """A number of the authors' README (PreAct ResNet-18, CIFAR-10) at weight decay ``wd``."""
    return PaperNumber("cifar10", err, PAPER_SOURCES["readme"],
                       f"authors' code, PreAct ResNet-18, median test error of the last 10 of 200 epochs, "
                       f"weight decay {wd}")


PAPER_NUMBERS: dict[tuple, tuple[PaperNumber, ...]] = {
    ("preact", "erm", "1e-4"): (_readme(5.53, "1e-4"),),
    ("preact", "mixup", "1e-4"): (_readme(4.24, "1e-4"),),
    ("preact", "erm", "5e-4"): (_readme(5.18, "5e-4"),),
    ("preact", "mixup", "5e-4"): (_readme(4.68, "5e-4"),),
    ("wrn", "erm"): (PaperNumber("cifar10", 3.8, PAPER_SOURCES["issue19"], "WRN-28-10"),),
    ("wrn", "mixup"): (PaperNumber("cifar10", 2.7, PAPER_SOURCES["issue19"], "WRN-28-10"),),
    ("densenet", "mixup"): (PaperNumber("cifar10", 2.7, PAPER_SOURCES["pwc"], "DenseNet-BC-190, accuracy 97.3 %"),
                            PaperNumber("cifar100", 16.8, PAPER_SOURCES["pwc"], "DenseNet-BC-190, accuracy 83.2 %")),
}
"""The verified published numbers, by (model, method[, weight decay]) (never filled from memory)."""


def fgsm_key(eps: float) -> str:
    """The summary key of the FGSM error at step ``eps``, e.g. ``fgsm_error_0.03``."""
    return f"fgsm_error_{eps:g}"


def scale_fgsm(scale: str) -> tuple:
    """The FGSM steps evaluated at ``scale``."""
    return tuple(SCALES[scale]["image"].get("fgsm_eps", ()))


def eps_str(x: float) -> str:
    """A hyper-parameter value as written in row labels (``0.1``, ``1``)."""
    return f"{x:g}"
