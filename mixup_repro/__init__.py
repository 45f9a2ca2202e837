"""mixup_repro: a reproduction of mixup (Zhang et al., ICLR 2018) and its label-smoothing extension.

One public API: everything a user needs is importable from ``mixup_repro``.
"""

from .checkpoint import CheckpointError, Interrupted, load_checkpoint, save_checkpoint
from .data import (
                   DATASET_NAMES,
                   Dataset,
                   augment_batch,
                   corrupt_labels,
                   knn_partners,
                   load_dataset,
                   normalize,
                   split_validation,
                   subset_per_class,
)
from .gan import (
                   GANConfig,
                   GANDiscriminator,
                   GANGenerator,
                   chapter_runs,
                   discriminator_loss,
                   energy_distance,
                   gan_claims,
                   gan_runs,
                   generator_loss,
                   load_gan_results,
                   mode_centers,
                   mode_coverage,
                   paired_comparison,
                   sample_toy,
                   train_gan,
)
from .metrics import calibration_counts, ece, error, nll, reliability_bins
from .mixing import (
                   CutMix,
                   MixedBatch,
                   Mixup,
                   cutmix,
                   cutmix_box,
                   mix,
                   mix_inputs,
                   mix_k,
                   mix_with,
                   mixup_criterion,
                   sample_dirichlet,
                   sample_lambda,
                   smooth_labels,
)
from .models import MODEL_NAMES, build_model, count_parameters
from .results import atomic_write_json, load_results, read_result
from .speed import read_speed_results, speed_summary, train_flops_per_image
from .train import METHODS, RunResult, TrainConfig, evaluate, fgsm_error, fit, run_id
from .version import __version__ as __version__

__all__ = [
    "CheckpointError", "CutMix", "DATASET_NAMES", "Dataset", "Interrupted", "METHODS", "MODEL_NAMES", "MixedBatch", "Mixup",
    "RunResult", "TrainConfig", "atomic_write_json", "augment_batch", "build_model", "calibration_counts",
    "corrupt_labels", "count_parameters", "cutmix", "cutmix_box", "ece", "error", "evaluate", "fgsm_error", "fit", "knn_partners",
    "load_checkpoint", "load_dataset", "load_results", "mix", "mix_inputs", "mix_k", "mix_with", "mixup_criterion", "nll",
    "normalize", "read_result", "reliability_bins", "run_id", "sample_dirichlet", "sample_lambda",
    "save_checkpoint", "smooth_labels", "split_validation", "subset_per_class", "read_speed_results",
    "speed_summary", "train_flops_per_image",
    # GANs on 2-D toy problems (mixup_repro.gan)
    "GANConfig", "GANDiscriminator", "GANGenerator", "chapter_runs", "discriminator_loss", "energy_distance",
    "gan_claims", "gan_runs",
    "generator_loss", "load_gan_results", "mode_centers", "mode_coverage", "paired_comparison", "sample_toy",
    "train_gan",
]
