"""What defines a run: :class:`TrainConfig`, its run id and its results file's name.

A config is validated when it is made (every check names the field); what a method needs comes from its
registration in :mod:`mixup_repro.methods`. :func:`run_id` hashes the fields that differ from their defaults
(runtime fields apart), so equal configs share one results file, ``<out>/<run_id>.json``. This module is
below :mod:`mixup_repro.train` and :mod:`mixup_repro.results`: both import it, it imports neither.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ._checks import check_alpha, check_bool, check_choice, check_eps, check_int, check_prob, check_real
from .data import DATASET_NAMES, IMAGE_DATASETS, SPEED_DATASETS
from .methods import CUTMIX_METHODS, METHODS, MIXING_METHODS, REGISTRY, SMOOTHING_METHODS
from .models import MODEL_NAMES

__all__ = ["COMPILE_MODES", "CUTMIX_METHODS", "EVAL_SPLITS", "METHODS", "MIXING_METHODS", "RUNTIME_FIELDS",
           "SMOOTHING_METHODS", "SPEAKER_SPLIT_DATASETS", "TrainConfig", "default_values", "model_options",
           "result_path", "run_id"]

EVAL_SPLITS = ("test", "validation", "test+validation")
SPEAKER_SPLIT_DATASETS = ("speech-commands",)
"""Datasets split by speaker with their own validation speakers (``eval_split`` applies to them only)."""

# fields that say where or how loudly a run happens, not what it computes: left out of the run id
RUNTIME_FIELDS = ("device", "data_dir", "checkpoint_every", "channels_last", "compile", "eval_train")
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")
MAX_SEED = 2**32 - 1  # the random streams are seeded with seed * 1000 + ..., which must fit in 64 bits


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run. The defaults are the paper's CIFAR-10 protocol.

    ``milestones=None`` divides the learning rate by 10 at 50 % and 75 % of ``epochs`` (epochs 100 and
    150 of 200, as the paper); give explicit epochs to override. ``subset`` keeps N training images per
    class (``test_subset`` likewise for the evaluation set, for quick CPU-scale runs; it is drawn with
    ``test_subset_seed``, or with ``seed`` when that is None, so ``test_subset_seed=0`` evaluates every seed
    on the same test images). ``label_noise`` replaces that fraction of the training labels by uniform random labels.
    ``eval_train`` (a runtime field) evaluates the model on its unaugmented training images after every
    epoch (curve ``train_error``, on a fixed sample of at most :data:`TRAIN_EVAL_SAMPLE` of them, the same
    for every seed's epoch; summary ``final_train_error`` on all of them, and ``epoch_train_error_below_1``
    from the curve): the regime check of whether the run fits its training data.
    ``val_fraction`` holds out part of the training set and evaluates on it instead of the test set.
    ``fgsm_eps`` lists FGSM perturbation sizes (in [0, 1] pixel units) evaluated on the final model.
    ``eval_split`` (speech-commands only, whose split by speaker has its own validation speakers; ``val_fraction``
    does not apply there): ``"test"`` evaluates on the test speakers, ``"validation"`` on the validation speakers
    instead, ``"test+validation"`` on the test speakers (the curves and summary, as always) **and** on the
    validation speakers (curves ``val_loss``, ``val_error``, ``val_ece``; summary ``val_final_error``,
    ``val_median_last10_error``, ``val_best_error``, ``val_final_nll``, ``val_final_ece``, ``val_num_eval``), so
    that one run serves both the choice of a hyper-parameter on the validation speakers and the report on the
    test speakers (nothing is chosen on the test speakers). ``rnn_hidden`` and ``bidirectional`` shape the
    ``gru`` model; ``width`` is the width of ``preact_resnet18`` and ``vgg11``. On speech-commands, ``gru`` reads
    the ``(time, mel)`` sequence layout and the CNNs the ``(1, mel, time)`` spectrogram.
    ``precision="auto"`` trains with bf16 autocast on CUDA and fp32 on the CPU; ``channels_last=None``
    uses the channels_last memory format for image models on CUDA only. ``compile`` wraps the model in
    :func:`torch.compile` with that mode (``reduce-overhead`` adds CUDA graphs); its compile time is
    reported separately in the results (``timing``). ``method`` is one of the registered methods
    (:data:`~mixup_repro.methods.REGISTRY`); what it needs is checked up front (the CutMix methods, beyond the
    paper, need image data).
    """

    dataset: str = "cifar10"
    model: str = "preact_resnet18"
    method: str = "mixup"
    alpha: float = 1.0
    label_smoothing: float = 0.0
    pairing: str = "random"
    same_class: bool = False
    knn_k: int = 200
    mix_prob: float = 1.0
    mix_layer: int = 1
    noise_std: float = 0.1
    width: int = 64
    dropout: float = 0.0
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 128
    epochs: int = 200
    milestones: tuple[int, ...] | None = None
    lr_decay: float = 0.1
    subset: int | None = None
    test_subset: int | None = None
    test_subset_seed: int | None = None
    augment: bool = True
    label_noise: float = 0.0
    val_fraction: float = 0.0
    fgsm_eps: tuple[float, ...] = ()
    eval_split: str = "test"
    rnn_hidden: int = 128
    bidirectional: bool = False
    seed: int = 0
    precision: str = "auto"
    channels_last: bool | None = None
    device: str = "auto"
    data_dir: str | None = None
    checkpoint_every: int = 10
    compile: str = "none"
    eval_train: bool = True

    def __post_init__(self):
        self._check_method()
        self._check_training()
        self._check_data()
        self._check_model_and_runtime()

    def _put(self, name, value):
        """Store the coerced value: alpha=2 and alpha=2.0 are one config (one run id)."""
        object.__setattr__(self, name, value)

    def _check_method(self):
        """The method and what its registration says it needs."""
        put = self._put
        check_choice("dataset", self.dataset, DATASET_NAMES)
        check_choice("model", self.model, MODEL_NAMES)
        check_choice("method", self.method, tuple(REGISTRY))
        method = REGISTRY[self.method]
        put("alpha", check_alpha(self.alpha))
        put("label_smoothing", check_eps(self.label_smoothing))
        if self.label_smoothing > 0 and not method.smoothing:
            smoothing = [m.name for m in REGISTRY.values() if m.smoothing]
            raise ValueError(f"label_smoothing = {self.label_smoothing} is only used by methods "
                             f"{', '.join(smoothing)}; method {self.method!r} would ignore it")
        if method.image and self.dataset not in (*IMAGE_DATASETS, *SPEED_DATASETS):
            raise ValueError(f"method {self.method!r} (CutMix) needs an image dataset; dataset {self.dataset!r} "
                             "has no height and width to cut a box from")
        check_choice("pairing", self.pairing, ("random", "knn"))
        if method.hidden and (self.pairing != "random" or self.same_class):
            raise ValueError(f"pairing must be 'random' (in-batch, all classes) for method {self.method!r}")
        for name in ("same_class", "augment", "eval_train"):
            check_bool(name, getattr(self, name))
        put("knn_k", check_int("knn_k", self.knn_k, low=1))
        put("mix_prob", check_prob(self.mix_prob, "mix_prob"))
        put("mix_layer", check_int("mix_layer", self.mix_layer, low=0))
        put("noise_std", check_real("noise_std", self.noise_std, low=0.0))

    def _check_training(self):
        """Model size, optimizer and schedule."""
        put = self._put
        put("width", check_int("width", self.width, low=1))
        put("dropout", check_real("dropout", self.dropout, low=0.0, high=1.0, high_open=True))
        check_choice("optimizer", self.optimizer, ("sgd", "adam"))
        put("lr", check_real("lr", self.lr, low=0.0, low_open=True))
        put("momentum", check_real("momentum", self.momentum, low=0.0, high=1.0, high_open=True))
        put("weight_decay", check_real("weight_decay", self.weight_decay, low=0.0))
        put("batch_size", check_int("batch_size", self.batch_size, low=1))
        put("epochs", check_int("epochs", self.epochs, low=1))
        if self.milestones is not None:  # a decay after the last epoch would never happen
            put("milestones", tuple(check_int("milestones", m, low=1) for m in self.milestones))
            late = [m for m in self.milestones if m >= self.epochs]
            if late:
                raise ValueError(f"milestones must be epochs before the last one (< epochs = {self.epochs}), got "
                                 f"{', '.join(map(str, late))}: the learning rate would never decay there")
        put("lr_decay", check_real("lr_decay", self.lr_decay, low=0.0, low_open=True, high=1.0))

    def _check_data(self):
        """Subsets, label noise, held-out data, FGSM and evaluation splits."""
        put = self._put
        for name, low in (("subset", 1), ("test_subset", 1), ("test_subset_seed", 0)):
            if getattr(self, name) is not None:
                put(name, check_int(name, getattr(self, name), low=low))
        put("label_noise", check_prob(self.label_noise, "label_noise"))
        # more than half held out would train on less data than it evaluates on (0.999: on one sample)
        put("val_fraction", check_real("val_fraction", self.val_fraction, low=0.0, high=0.5))
        put("fgsm_eps", tuple(check_real("fgsm_eps", e, low=0.0, high=1.0) for e in self.fgsm_eps))
        if self.fgsm_eps and self.dataset not in IMAGE_DATASETS:
            raise ValueError(f"fgsm_eps needs an image dataset; {self.dataset!r} is not one")
        check_choice("eval_split", self.eval_split, EVAL_SPLITS)
        if self.eval_split != "test" and self.dataset not in SPEAKER_SPLIT_DATASETS:
            raise ValueError(f"eval_split = {self.eval_split!r} needs a dataset with its own validation split "
                             f"({', '.join(SPEAKER_SPLIT_DATASETS)}); for {self.dataset!r} use val_fraction")
        if self.val_fraction > 0 and self.dataset in SPEAKER_SPLIT_DATASETS:
            raise ValueError(f"val_fraction does not apply to {self.dataset!r}, whose validation speakers are "
                             "disjoint from its training speakers: use eval_split = 'validation' or "
                             "'test+validation'")

    def _check_model_and_runtime(self):
        """The gru's options, the seed and the runtime fields."""
        put = self._put
        put("rnn_hidden", check_int("rnn_hidden", self.rnn_hidden, low=1))
        check_bool("bidirectional", self.bidirectional)
        if (self.rnn_hidden != 128 or self.bidirectional) and self.model != "gru":
            raise ValueError(f"rnn_hidden and bidirectional shape model 'gru' only; model {self.model!r} would "
                             "ignore them")
        put("seed", check_int("seed", self.seed, low=0, high=MAX_SEED))
        check_choice("precision", self.precision, ("auto", "fp32", "bf16"))
        if self.channels_last is not None and not isinstance(self.channels_last, bool):
            raise TypeError(f"channels_last must be True, False or None (auto), got {self.channels_last!r}")
        if not isinstance(self.device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N' (N = 0, 1, ...), got {self.device!r}")
        put("checkpoint_every", check_int("checkpoint_every", self.checkpoint_every, low=0))
        check_choice("compile", self.compile, COMPILE_MODES)

    @property
    def lr_milestones(self) -> tuple[int, ...]:
        """The epochs after which the learning rate is multiplied by ``lr_decay``."""
        if self.milestones is not None:
            return self.milestones
        return tuple(sorted({m for m in (self.epochs // 2, (3 * self.epochs) // 4) if m > 0}))

    def to_dict(self) -> dict:
        """Every field as plain JSON values (tuples as lists), as a results file stores the config."""
        d = dataclasses.asdict(self)
        d["milestones"] = list(self.milestones) if self.milestones is not None else None
        d["fgsm_eps"] = list(self.fgsm_eps)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """The config of :meth:`to_dict`'s dictionary (lists back to tuples); unknown fields are refused."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s): {', '.join(sorted(unknown))}")
        d = dict(d)
        if d.get("milestones") is not None:
            d["milestones"] = tuple(d["milestones"])
        if "fgsm_eps" in d:
            d["fgsm_eps"] = tuple(d["fgsm_eps"])
        return cls(**d)


def run_id(config: TrainConfig) -> str:
    """A readable, unique id derived from the config: equal configs (up to runtime fields) share it.

    Only fields that differ from their defaults enter the hash, so adding a new field (with a default)
    to :class:`TrainConfig` keeps every existing run id, and committed results stay found. The
    defaults are therefore frozen: changing one would need a new results schema.
    """
    base = default_values()
    semantic = {k: v for k, v in config.to_dict().items() if k not in RUNTIME_FIELDS and v != base[k]}
    digest = hashlib.sha1(json.dumps(semantic, sort_keys=True).encode()).hexdigest()[:10]
    return f"{config.dataset}_{config.model}_{config.method}_s{config.seed}_{digest}"


def result_path(config: TrainConfig, out) -> Path:
    """The results file of ``config`` in folder ``out``: ``out/<run_id>.json``."""
    return Path(out) / f"{run_id(config)}.json"


def default_values() -> dict:
    """Every field's default, tuples as lists (as :meth:`TrainConfig.to_dict` writes them)."""
    return {f.name: list(f.default) if isinstance(f.default, tuple) else f.default
            for f in dataclasses.fields(TrainConfig)}


def model_options(cfg) -> dict:
    """The :func:`~mixup_repro.models.build_model` options a config sets."""
    kw = {"dropout": cfg.dropout}
    if cfg.model in ("preact_resnet18", "vgg11"):
        kw["width"] = cfg.width
    if cfg.model == "gru":
        kw.update(hidden=cfg.rnn_hidden, bidirectional=cfg.bidirectional)
    return kw
