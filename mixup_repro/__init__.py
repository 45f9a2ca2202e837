"""mixup_repro: a reproduction of mixup (Zhang et al., ICLR 2018) and its label-smoothing extension."""

from .mixing import MixedBatch, Mixup, mix, mix_k, mixup_criterion, sample_dirichlet, sample_lambda, smooth_labels

__version__ = "0.1.0"

__all__ = [
    "MixedBatch",
    "Mixup",
    "mix",
    "mix_k",
    "mixup_criterion",
    "sample_dirichlet",
    "sample_lambda",
    "smooth_labels",
]
