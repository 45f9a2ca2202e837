"""Training under the paper's protocol: one :class:`TrainConfig`, one :func:`fit`, one results file.

The defaults of :class:`TrainConfig` are the paper's CIFAR protocol (PreAct ResNet-18, SGD with momentum
0.9, lr 0.1 divided by 10 at epochs 100 and 150 of 200, weight decay 1e-4 on all parameters, batch 128,
α = 1). The data live on the training device as tensors; every epoch shuffles, augments (random crop
with 4-pixel padding, horizontal flip) and normalises whole batches there, so the same loop is fast on a
GPU: no DataLoader workers, no per-image transforms, no host synchronisation per step (losses and
metrics accumulate on the device and are read once per epoch).

Methods (``method``):

===================  ==========================================================================================
``erm``              plain cross-entropy on the labels
``mixup``            formula (1): mixed inputs, mixed labels (α)
``label_smoothing``  formula (2) on one-hot labels (ε)
``mixup_ls``         mixup, then label smoothing of the mixed labels (α, ε) — the extension studied here
``mix_inputs_only``  mixed inputs; each keeps the label of its larger-weight source (paper's ablation)
``mix_inputs_ls``    ``mix_inputs_only`` plus label smoothing (ε) — the paper's "mix inputs + label smoothing"
``manifold``         mix hidden representations after layer ``mix_layer`` and the labels (Verma et al. 2019)
``gaussian_noise``   add N(0, σ²) noise (``noise_std``) to the normalised inputs
===================  ==========================================================================================

Partners (``pairing``): ``random`` (a permutation of the batch, as the official code; "RP"), ``knn`` (a
partner drawn among the ``knn_k`` nearest training neighbours in input space, precomputed once and
cached; "KNN"); ``same_class=True`` restricts partners to the sample's class ("SC" instead of "AC").

Speed and scale: on CUDA the defaults are bf16 autocast, channels_last and a fused SGD step; ``compile``
adds :func:`torch.compile` (``reduce-overhead``: CUDA graphs). Every results file records ``timing`` (each
epoch's training seconds, their median over epochs 2..N, the first epoch's warm-up apart, the evaluation
time). Launched by ``torchrun --nproc_per_node=N -m mixup_repro train ...``, :func:`fit` trains one run with
DistributedDataParallel: ``batch_size`` stays the global batch, split across the N processes; each process
augments and mixes its own part with its own random streams (the data order is shared); the losses are
weighted by part size so that the averaged gradient is the global batch's mean; rank 0 evaluates, writes the
checkpoints (with every rank's random state) and the results file; a stop signal is agreed on at the end of
each epoch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_alpha, check_bool, check_choice, check_eps, check_int, check_prob, check_real
from .cache import cache_dir
from .checkpoint import CheckpointError, Interrupted, StopSignal, load_checkpoint, save_checkpoint
from .data import (
    DATASET_NAMES,
    IMAGE_DATASETS,
    SPEED_DATASETS,
    augment_batch,
    corrupt_labels,
    knn_partners,
    load_dataset,
    normalize,
    subset_per_class,
)
from .metrics import calibration_counts, ece_from_counts, reliability_from_counts
from .mixing import _cutmix_box, _cutmix_pair, _label_mix, mix_inputs, mix_with, sample_lambda
from .models import MODEL_NAMES, build_model
from .results import SCHEMA, atomic_write_json, check_writable, device_name, git_commit, read_result, versions

__all__ = ["METHODS", "TrainConfig", "RunResult", "fit", "run_id", "result_path", "evaluate", "fgsm_error"]

METHODS = ("erm", "mixup", "label_smoothing", "mixup_ls", "mix_inputs_only", "mix_inputs_ls", "manifold",
           "gaussian_noise", "cutmix", "cutmix_ls", "mixup_cutmix")
MIXING_METHODS = ("mixup", "mixup_ls", "mix_inputs_only", "mix_inputs_ls", "manifold", "cutmix", "cutmix_ls",
                  "mixup_cutmix")
SMOOTHING_METHODS = ("label_smoothing", "mixup_ls", "mix_inputs_ls", "cutmix_ls")
CUTMIX_METHODS = ("cutmix", "cutmix_ls", "mixup_cutmix")
"""Methods beyond the paper (CutMix, Yun et al. 2019; image data only): ``cutmix`` pastes a box of the partner
(λ ~ Beta(α, α), labels weighted by the kept area, as torchvision's CutMix), ``cutmix_ls`` also smooths the
mixed labels by ``label_smoothing`` (formula (2)), ``mixup_cutmix`` uses CutMix for a batch with probability
:data:`CUTMIX_SWITCH_PROB` and mixup otherwise, both with ``alpha`` (timm's ``switch_prob``)."""
CUTMIX_SWITCH_PROB = 0.5
"""The per-batch probability of CutMix (instead of mixup) of method ``mixup_cutmix``: timm's default."""
# fields that say where or how loudly a run happens, not what it computes: left out of the run id
TRAIN_EVAL_SAMPLE = 2000
"""Training images (a fixed sample) behind the per-epoch ``train_error`` curve; the final value uses all."""

EVAL_SPLITS = ("test", "validation", "test+validation")
SPEAKER_SPLIT_DATASETS = ("speech-commands",)
"""Datasets split by speaker with their own validation speakers (``eval_split`` applies to them only)."""

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
    reported separately in the results (``timing``). ``method`` is one of :data:`METHODS`; the CutMix methods
    (:data:`CUTMIX_METHODS`, beyond the paper) need image data and are refused up front for other datasets.
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
        def put(name, value):  # store the coerced value: alpha=2 and alpha=2.0 are one config (one run id)
            object.__setattr__(self, name, value)

        check_choice("dataset", self.dataset, DATASET_NAMES)
        check_choice("model", self.model, MODEL_NAMES)
        check_choice("method", self.method, METHODS)
        put("alpha", check_alpha(self.alpha))
        put("label_smoothing", check_eps(self.label_smoothing))
        if self.label_smoothing > 0 and self.method not in SMOOTHING_METHODS:
            raise ValueError(f"label_smoothing = {self.label_smoothing} is only used by methods "
                             f"{', '.join(SMOOTHING_METHODS)}; method {self.method!r} would ignore it")
        if self.method in CUTMIX_METHODS and self.dataset not in (*IMAGE_DATASETS, *SPEED_DATASETS):
            raise ValueError(f"method {self.method!r} (CutMix) needs an image dataset; dataset {self.dataset!r} "
                             "has no height and width to cut a box from")
        check_choice("pairing", self.pairing, ("random", "knn"))
        if self.method == "manifold" and (self.pairing != "random" or self.same_class):
            raise ValueError("pairing must be 'random' (in-batch, all classes) for method 'manifold'")
        for name in ("same_class", "augment", "eval_train"):
            check_bool(name, getattr(self, name))
        put("knn_k", check_int("knn_k", self.knn_k, low=1))
        put("mix_prob", check_prob(self.mix_prob, "mix_prob"))
        put("mix_layer", check_int("mix_layer", self.mix_layer, low=0))
        put("noise_std", check_real("noise_std", self.noise_std, low=0.0))
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
        if self.subset is not None:
            put("subset", check_int("subset", self.subset, low=1))
        if self.test_subset is not None:
            put("test_subset", check_int("test_subset", self.test_subset, low=1))
        if self.test_subset_seed is not None:
            put("test_subset_seed", check_int("test_subset_seed", self.test_subset_seed, low=0))
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
        d = dataclasses.asdict(self)
        d["milestones"] = list(self.milestones) if self.milestones is not None else None
        d["fgsm_eps"] = list(self.fgsm_eps)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
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
    base = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    semantic = {k: v for k, v in config.to_dict().items()
                if k not in RUNTIME_FIELDS and v != (list(base[k]) if isinstance(base[k], tuple) else base[k])}
    digest = hashlib.sha1(json.dumps(semantic, sort_keys=True).encode()).hexdigest()[:10]
    return f"{config.dataset}_{config.model}_{config.method}_s{config.seed}_{digest}"


def result_path(config: TrainConfig, out) -> Path:
    return Path(out) / f"{run_id(config)}.json"


@dataclass
class RunResult:
    """What :func:`fit` returns: the config, its run id, per-epoch curves, the summary and the model."""

    config: TrainConfig
    run_id: str
    curves: dict
    summary: dict
    model: nn.Module | None = None
    path: Path | None = None
    record: dict = field(default_factory=dict, repr=False)


# ----------------------------------------------------------------------------------------------------------
# Set-up helpers
# ----------------------------------------------------------------------------------------------------------
def _resolve_device(name: str, dist_=None) -> torch.device:
    """The training device; under torchrun, ``auto`` / ``cuda`` mean the GPU of this process's local rank."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        n = torch.cuda.device_count()
        raise ValueError(f"device {name!r} requested but this machine has {n} CUDA device(s) "
                         f"({', '.join(f'cuda:{i}' for i in range(n))}); use --device cuda or one of those")
    world = dist_.world if dist_ is not None else 1
    if device.type == "cuda" and device.index is not None and world > 1:
        raise ValueError(f"device {name!r} names one GPU, but torchrun started {world} processes; use --device "
                         "cuda (each process takes the GPU of its local rank)")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", dist_.local_rank or 0 if dist_ is not None else 0)
    return device


class _Dist:
    """This process's place in a ``torchrun`` job (``rank``, ``world`` processes); world 1 without torchrun.

    Under ``torchrun --nproc_per_node=N -m mixup_repro train ...`` the model is wrapped in
    :class:`~torch.nn.parallel.DistributedDataParallel`. Every rank walks the same shuffled order of the
    training set; each step's global batch of ``batch_size`` is split in ``world`` parts and each rank
    augments and mixes its own part with its own random streams: its own λ and partners within its part.
    Losses are weighted by part size, so the averaged gradient is the global batch's mean.

    This is not the same training as one process, and not the official code's either (which wraps the
    model in ``DataParallel``: one λ for the whole batch, partners from the whole batch, batch-norm statistics
    per GPU): here λ is drawn per rank and batch-norm statistics come from ``batch_size / world`` images.
    The number of processes is therefore stored in the results file and a result of another world size is
    not reused. Rank 0 evaluates, checkpoints (gathering every rank's random states) and writes the results
    file. A stop signal is agreed on at the end of each epoch, so a SIGTERM takes effect within one epoch
    (torchrun waits 30 s before killing its workers; an epoch on a GPU takes seconds). Checkpoints and
    results need a folder that every rank sees (always so on one machine).
    """

    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        self.rank = int(os.environ.get("RANK", "0") or 0) if self.world > 1 else 0
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0") or 0) if self.world > 1 else None
        self.own_group = False
        self.together = True  # whether close() waits for every rank (False once an error broke the run)

    def start(self, device: torch.device, batch_size: int) -> None:
        if self.world == 1:
            return
        if batch_size < self.world:
            raise ValueError(f"batch_size must be at least the number of processes ({self.world}) under "
                             f"torchrun, got {batch_size}")
        import torch.distributed as dist

        if device.type == "cuda":
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            if device.type == "cuda":  # device_id: NCCL binds this rank to its GPU at once (no guess at barriers)
                dist.init_process_group("nccl", device_id=device)
            else:
                dist.init_process_group("gloo")
            self.own_group = True
        if dist.get_world_size() != self.world:
            raise RuntimeError(f"WORLD_SIZE={self.world} but the process group has {dist.get_world_size()} ranks")

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        """Tear the process group down; unless an error broke the run, only once every rank has got here: a rank
        that tears down while rank 0 still evaluates and writes may abort at exit ("terminate called without an
        active exception", seen with gloo under torch 2.11)."""
        if self.own_group:
            import torch.distributed as dist

            if self.together:
                dist.barrier()
            dist.destroy_process_group()
            self.own_group = False

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(t)
        return t

    def gather(self, obj) -> list:
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        objs = [None] * self.world
        dist.all_gather_object(objs, obj)
        return objs

    def agreed_stop(self, received: str | None, device) -> str | None:
        """The signal name if any rank received one (one small collective; called once per epoch)."""
        if self.world == 1:
            return received
        flag = self.sum_(torch.tensor([1 if received else 0], device=device))
        return received or ("SIGTERM" if int(flag) else None)


def _speech_kw(cfg: TrainConfig, eval_split: str) -> dict:
    """``load_dataset`` options of a speaker-split dataset: the evaluation speakers and the layout the model reads."""
    if cfg.dataset not in SPEAKER_SPLIT_DATASETS:
        return {}
    return {"eval_split": eval_split, "layout": "sequence" if cfg.model == "gru" else "cnn"}


def _validation_data(cfg: TrainConfig, device: torch.device):
    """The validation speakers ``(x, y)`` on ``device`` for ``eval_split="test+validation"``, else None."""
    if cfg.eval_split != "test+validation":
        return None
    ds = load_dataset(cfg.dataset, cfg.data_dir, **_speech_kw(cfg, "validation"))
    return ds.x_test.to(device), ds.y_test.to(device)


def _prepare_data(cfg: TrainConfig, device: torch.device):
    main_split = "validation" if cfg.eval_split == "validation" else "test"
    ds = load_dataset(cfg.dataset, cfg.data_dir, **_speech_kw(cfg, main_split))
    if cfg.subset is not None:
        ds = ds.select_train(subset_per_class(ds.y_train, cfg.subset, seed=cfg.seed))
    if cfg.test_subset is not None:
        tseed = cfg.seed if cfg.test_subset_seed is None else cfg.test_subset_seed
        keep = subset_per_class(ds.y_test, cfg.test_subset, seed=tseed)
        ds = dataclasses.replace(ds, x_test=ds.x_test[keep], y_test=ds.y_test[keep])
    if cfg.val_fraction > 0:  # the held-out part of the training set replaces the test set
        ds = ds.validation_split(cfg.val_fraction, seed=cfg.seed)
    clean = ds.y_train
    corrupted = torch.zeros_like(clean, dtype=torch.bool)
    if cfg.label_noise > 0:
        noisy, corrupted = corrupt_labels(clean, cfg.label_noise, ds.num_classes, seed=cfg.seed)
        ds = ds.with_train_labels(noisy)
    return ds.to(device), clean.to(device), corrupted.to(device)


def _model_for(cfg: TrainConfig, ds) -> nn.Module:
    shape = ds.input_shape
    if cfg.model == "mlp":
        in_ch = math.prod(shape)
    elif cfg.model == "gru":
        in_ch = shape[-1]
    else:
        if ds.kind not in ("image", "spectrogram"):
            raise ValueError(f"model {cfg.model!r} needs image or spectrogram data; dataset {cfg.dataset!r} is "
                             f"{ds.kind} (use model 'mlp'" + (" or 'gru'" if ds.kind == "sequence" else "") + ")")
        in_ch = ds.in_channels
    model = build_model(cfg.model, ds.num_classes, in_ch, **_model_options(cfg))
    if cfg.method == "manifold" and cfg.mix_layer >= model.num_mix_layers:
        raise ValueError(f"mix_layer must be in [0, {model.num_mix_layers - 1}] for model {cfg.model!r}, "
                         f"got {cfg.mix_layer}")
    return model


class _Inputs:
    """Turns stored training/test tensors into model inputs on the device (augment, normalise)."""

    def __init__(self, ds, cfg: TrainConfig):
        self.image = ds.kind == "image"
        self.augment = self.image and cfg.augment
        self.flip = bool(ds.flip)
        self.channels_last = _channels_last(cfg, ds.device) and self.image
        if self.image:
            self.mean = torch.tensor(ds.mean, dtype=torch.float32, device=ds.device)
            self.std = torch.tensor(ds.std, dtype=torch.float32, device=ds.device)

    def __call__(self, x, generator=None, train=False):
        if not self.image:
            return x
        if train and self.augment:
            x = augment_batch(x, padding=4, flip=self.flip, generator=generator)
        x = normalize(x, self.mean, self.std)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


class _Partners:
    """Draws a partner (a training-set index) for each sample: same class and/or k-nearest neighbours."""

    def __init__(self, ds, cfg: TrainConfig, cache_dir):
        y = ds.y_train
        self.knn = None
        if cfg.pairing == "knn":
            k = _check_knn_k(cfg, y, ds.num_classes)
            if cfg.same_class:  # neighbours within each class, mapped back to training-set indices
                rows = []
                for c in range(ds.num_classes):
                    members = (y == c).nonzero().squeeze(1).cpu()
                    kc = min(k, len(members) - 1)  # distances on the data's device (the GPU, where it is)
                    nn_c = knn_partners(ds.x_train[members.to(ds.device)], kc, cache_dir=cache_dir).cpu()
                    rows.append((members, members[nn_c]))
                kmin = min(r[1].shape[1] for r in rows)
                table = torch.empty(ds.num_train, kmin, dtype=torch.long)
                for members, nbrs in rows:
                    table[members] = nbrs[:, :kmin]
                self.knn = table.to(ds.device)
            else:
                self.knn = knn_partners(ds.x_train, k, cache_dir=cache_dir)
        elif cfg.same_class:
            order = torch.argsort(y, stable=True)
            counts = torch.bincount(y, minlength=ds.num_classes)
            self.order, self.counts = order, counts
            self.starts = torch.cumsum(counts, 0) - counts

    def __call__(self, idx, y, generator):
        if self.knn is not None:
            j = torch.randint(0, self.knn.shape[1], (idx.shape[0],), generator=generator, device=idx.device)
            return self.knn[idx, j]
        u = torch.rand(idx.shape[0], generator=generator, device=idx.device)
        pos = (u * self.counts[y]).long().clamp_max(self.counts[y] - 1)
        return self.order[self.starts[y] + pos]


def _check_knn_k(cfg: TrainConfig, y: torch.Tensor, num_classes: int) -> int:
    """``cfg.knn_k`` after checking the training set has that many other samples to be neighbours (of the same
    class with ``same_class``): a silently smaller k would differ from the ``knn_k`` the results file records."""
    if cfg.same_class:
        room, where = int(torch.bincount(y, minlength=num_classes).min()) - 1, "in its smallest class"
    else:
        room, where = y.shape[0] - 1, "in all"
    if cfg.knn_k > room:
        raise ValueError(f"knn_k = {cfg.knn_k} nearest neighbours asked for, but the training set has only {room} "
                         f"other sample(s) {where}; use --knn-k {max(room, 1)} or less (or a larger --subset)")
    return cfg.knn_k


def _generators(seed: int, device: torch.device, rank: int = 0) -> dict:
    """Independent, seeded streams for data order, augmentation and mixing, on the training device.

    Under torchrun every rank shares the data order and has its own augmentation and mixing streams.
    """
    gens = {}
    for i, name in enumerate(("order", "augment", "mix")):
        g = torch.Generator(device=device)
        g.manual_seed(seed * 1000 + 17 * (i + 1) + (7919 * rank if name != "order" else 0))
        gens[name] = g
    return gens


def _precision(cfg: TrainConfig, device: torch.device) -> str:
    if cfg.precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return cfg.precision


def _channels_last(cfg: TrainConfig, device: torch.device) -> bool:
    return device.type == "cuda" if cfg.channels_last is None else cfg.channels_last


def _autocast(cfg: TrainConfig, device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=_precision(cfg, device) == "bf16")


def _ieee_fp32(cfg: TrainConfig, device: torch.device) -> bool:
    """Whether the run's training steps must compute float32 convolutions and matrix products in IEEE fp32, not
    TF32: a CUDA run in ``precision="fp32"`` (the comparison for bf16), where cuDNN would otherwise use TF32."""
    return device.type == "cuda" and _precision(cfg, device) == "fp32"


def _tf32_flags() -> list[tuple[object, str, object]]:
    """``(namespace, attribute, IEEE value)`` of the flags that allow TF32. The legacy ``allow_tf32`` ones (which
    torch 2.9+ mirrors in its ``fp32_precision`` ones, and which Inductor's autotuning reads) unless they can no
    longer be read: after a write of the newer flags, torch 2.9+ raises on reading the legacy ones."""
    try:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32  # noqa: B018 - may raise
        return [(torch.backends.cudnn, "allow_tf32", False), (torch.backends.cuda.matmul, "allow_tf32", False)]
    except RuntimeError:
        return [(torch.backends.cudnn.conv, "fp32_precision", "ieee"),
                (torch.backends.cudnn.rnn, "fp32_precision", "ieee"),
                (torch.backends.cuda.matmul, "fp32_precision", "ieee")]


def _cudnn_tf32() -> bool:
    """Whether cuDNN may now run float32 convolutions in TF32 (read from whichever flags can be read)."""
    obj, name, _ = _tf32_flags()[0]  # cuDNN's (convolution) flag comes first
    value = getattr(obj, name)
    return value is True or value == "tf32"


@contextlib.contextmanager
def _no_tf32(enabled: bool):
    """Within the block, cuDNN and cuBLAS compute float32 convolutions and matrix products in IEEE fp32, not
    TF32; the previous settings come back after it, also on an exception."""
    if not enabled:
        yield
        return
    flags = _tf32_flags()
    saved = [getattr(obj, name) for obj, name, _ in flags]
    try:
        for obj, name, value in flags:
            setattr(obj, name, value)
        yield
    finally:
        for (obj, name, _), value in zip(flags, saved):
            setattr(obj, name, value)


# ----------------------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model: nn.Module, x, y, inputs=None, *, batch_size: int = 1000, autocast=None) -> dict:
    """Loss (NLL), error (%) and ECE of ``model`` on stored data ``x, y``; tensors stay on the device.

    Returns 0-d tensors ``loss``, ``error``, ``ece`` and the (3, 15) ``counts`` of
    :func:`mixup_repro.metrics.calibration_counts`; also ``pred`` (N,) predictions.
    """
    model.eval()
    loss = torch.zeros((), dtype=torch.float64, device=x.device)
    counts = torch.zeros(3, 15, dtype=torch.float64, device=x.device)
    preds = []
    for i in range(0, x.shape[0], batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        xb = inputs(xb) if inputs is not None else xb
        with autocast if autocast is not None else torch.autocast(x.device.type, enabled=False):
            logits = model(xb)
        logits = logits.float()
        loss += F.cross_entropy(logits, yb, reduction="sum").double()
        probs = logits.softmax(1)
        counts += calibration_counts(probs, yb)
        preds.append(probs.argmax(1))
    pred = torch.cat(preds)
    n = x.shape[0]
    return {"loss": loss / n, "error": (pred != y).double().mean() * 100, "ece": ece_from_counts(counts),
            "counts": counts, "pred": pred}


def fgsm_error(model: nn.Module, x_uint8, y, eps: float, inputs: _Inputs, *, batch_size: int = 500) -> float:
    """Test error (%) under the fast gradient sign method with step ``eps`` in [0, 1] pixel units.

    Images are perturbed in pixel space (x/255 ± eps, clipped to [0, 1]) and normalised afterwards, the
    usual white-box FGSM of Goodfellow et al. (2015) as used in the paper's robustness section.
    """
    model.eval()
    wrong = 0
    for i in range(0, x_uint8.shape[0], batch_size):
        xb, yb = x_uint8[i:i + batch_size], y[i:i + batch_size]
        x01 = xb.float() / 255
        if inputs.channels_last:  # the layout the model was trained in
            x01 = x01.contiguous(memory_format=torch.channels_last)
        x01.requires_grad_(True)
        logits = model((x01 - inputs.mean.view(-1, 1, 1)) / inputs.std.view(-1, 1, 1))
        grad, = torch.autograd.grad(F.cross_entropy(logits, yb), x01)
        adv = (x01 + eps * grad.sign()).clamp(0, 1).detach()
        with torch.no_grad():
            pred = model((adv - inputs.mean.view(-1, 1, 1)) / inputs.std.view(-1, 1, 1)).argmax(1)
        wrong += int((pred != yb).sum())
    return 100.0 * wrong / x_uint8.shape[0]


# ----------------------------------------------------------------------------------------------------------
# The training loop
# ----------------------------------------------------------------------------------------------------------
def _loss(cfg, model, xb, yb, idx, num_classes, partners, ds, inputs, gens):
    """One step's loss for ``cfg.method`` (a 0-d tensor; no host synchronisation)."""
    method, eps = cfg.method, cfg.label_smoothing
    if method in ("erm", "label_smoothing"):
        return F.cross_entropy(model(xb), yb, label_smoothing=eps)
    if method == "gaussian_noise":
        noise = torch.randn(xb.shape, generator=gens["mix"], device=xb.device, dtype=xb.dtype)
        return F.cross_entropy(model(xb + cfg.noise_std * noise), yb)
    b = xb.shape[0]
    lam = sample_lambda(cfg.alpha, (), gens["mix"]).to(xb.device)
    if cfg.mix_prob < 1.0:
        coin = torch.rand((), dtype=torch.float64, generator=gens["mix"], device=xb.device)
        lam = torch.where(coin < cfg.mix_prob, lam, torch.ones_like(lam))
    if partners is None:  # in-batch random pairing (the official code)
        index = torch.randperm(b, generator=gens["mix"], device=xb.device)
        x2, y2 = xb[index], yb[index]
    else:
        pid = partners(idx, yb, gens["mix"])
        x2, y2 = inputs(ds.x_train[pid], gens["augment"], train=True), ds.y_train[pid]
    if method in ("mix_inputs_only", "mix_inputs_ls"):
        xm = mix_inputs(xb, x2, lam)
        label = torch.where(lam >= 0.5, yb, y2)  # the label of the larger-weight source
        return F.cross_entropy(model(xm), label, label_smoothing=eps)
    probs = F.one_hot(yb, num_classes).float()
    probs2 = F.one_hot(y2, num_classes).float()
    if method in CUTMIX_METHODS:  # the box over (H, W), centre drawn after λ and the partners
        box, kept = _cutmix_box(lam, tuple(xb.shape[-2:]), None, gens["mix"], xb.device)
        xm, weight = _cutmix_pair(xb, x2, box), kept
        if method == "mixup_cutmix":
            use_cut = torch.rand((), dtype=torch.float64, generator=gens["mix"], device=xb.device) < CUTMIX_SWITCH_PROB
            xm, weight = torch.where(use_cut, xm, mix_inputs(xb, x2, lam)), torch.where(use_cut, kept, lam)
        return F.cross_entropy(model(xm), _label_mix(probs, probs2, weight, eps))
    if method == "manifold":
        _, targets = mix_with(probs, probs2, probs, probs2, lam, 0.0)
        logits = model(xb, mix_layer=cfg.mix_layer, mix_fn=lambda h: mix_inputs(h, h[index], lam))
        return F.cross_entropy(logits, targets)
    xm, targets = mix_with(xb, x2, probs, probs2, lam, eps)
    return F.cross_entropy(model(xm), targets)


def fit(config: TrainConfig, out=None, *, force: bool = False, resume: bool = True, quiet: bool = False,
        keep_model: bool = True, save_model: bool = False, on_step=None) -> RunResult:
    """Train one run and (with ``out``) write its results file atomically.

    Parameters
    ----------
    config : TrainConfig
        The run.
    out : path, optional
        Folder for the results file ``<run_id>.json`` and checkpoints (``out/checkpoints``). When the
        results file already exists the run is not redone (the stored result is returned, without a
        model) unless ``force``.
    resume : bool
        Continue from ``out/checkpoints/<run_id>.pt`` when it exists (written every
        ``config.checkpoint_every`` epochs and on SIGTERM / SIGINT).
    quiet : bool
        No progress bar.
    keep_model : bool
        Return the trained model in :attr:`RunResult.model`.
    save_model : bool
        Also write the final weights to ``out/models/<run_id>.pt`` (a plain state dict, atomically).
    on_step : callable, optional
        Called with no arguments after every optimizer step, e.g. a :class:`torch.profiler.profile`'s
        ``step`` (``benchmarks/speed.py --profile`` does so). It must not synchronise with the GPU if speed
        matters.

    Raises
    ------
    Interrupted
        On SIGTERM / SIGINT: the current step finishes, a checkpoint is written, no results file.
    ValueError, OSError
        Before training: the model's weights, gradients and optimizer state exceed the device's free memory;
        ``out`` lacks room for the checkpoint, or a file-size limit is below its size (the message says how much
        is needed). A failed run removes the ``out`` folders it created while they are empty.
    CheckpointError
        The checkpoint to resume from was written for another config, or its content does not fit this run's
        model or optimizer (use ``resume=False``).
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    cfg = config
    rid = run_id(cfg)
    dist_ = _Dist()
    device = _resolve_device(cfg.device, dist_)
    dist_.start(device, cfg.batch_size)
    created = _first_missing(out) if out is not None and dist_.rank == 0 else None
    try:
        path = ckpt_path = None
        if out is not None:
            out = check_writable(out)
            path = out / f"{rid}.json"
            ckpt_path = out / "checkpoints" / f"{rid}.pt"
            if path.exists() and not force:
                rec = read_result(path)
                if rec.get("world_size", 1) != dist_.world:
                    raise ValueError(f"{path} was trained by {rec.get('world_size', 1)} process(es), this run has "
                                     f"{dist_.world}; their batch-norm statistics and mixing differ (use --force "
                                     "to redo it)")
                return RunResult(cfg, rid, rec["curves"], rec["summary"], None, path, rec)
            if (force or not resume) and dist_.rank == 0:
                ckpt_path.unlink(missing_ok=True)
            dist_.barrier()  # no rank looks for a checkpoint before rank 0 has removed it
        _check_resources(cfg, device, out if dist_.rank == 0 else None, save_model)
        return _fit(cfg, rid, out, path, ckpt_path, device, dist_, quiet, keep_model, save_model, on_step)
    except Interrupted:  # every rank stops at the same epoch end (agreed), so every rank gets here
        raise
    except BaseException:  # an error on some ranks only: no waiting for the others
        dist_.together = False
        if created is not None:  # a failed run leaves no empty --out folder behind
            _remove_empty(Path(out), created)
        raise
    finally:
        dist_.close()


def _first_missing(folder) -> Path | None:
    """The outermost folder of ``folder`` (itself or a parent) that does not exist yet, or None."""
    folder, missing = Path(folder).absolute(), None
    while not folder.exists() and folder != folder.parent:
        folder, missing = folder.parent, folder
    return missing


def _remove_empty(folder: Path, top: Path) -> None:
    """Remove ``folder`` and its parents up to ``top`` (folders this run created) while they are empty;
    an empty ``checkpoints`` sub-folder goes too. Anything holding a file stays."""
    folder = folder.absolute()
    with contextlib.suppress(OSError):
        (folder / "checkpoints").rmdir()
    while True:
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == top or folder == folder.parent:
            return
        folder = folder.parent


def _model_options(cfg: TrainConfig) -> dict:
    """The :func:`~mixup_repro.models.build_model` options a config sets."""
    kw = {"dropout": cfg.dropout}
    if cfg.model in ("preact_resnet18", "vgg11"):
        kw["width"] = cfg.width
    if cfg.model == "gru":
        kw.update(hidden=cfg.rnn_hidden, bidirectional=cfg.bidirectional)
    return kw


def _model_size(cfg: TrainConfig) -> tuple[int, int]:
    """(parameter bytes, buffer bytes) of the run's model, built on the meta device (no memory; for
    wrn28_10 / densenet_bc_190 the first call takes a few seconds, spent in torch's meta decompositions).

    An upper bound over the data sets of its kind (3 input channels and 100 classes for images; 3072 input
    features for ``mlp`` on images; 64 features and 10 classes for tabular and 2-D point data): the exact
    input shape is only known once the data are loaded.
    """
    from .data import IMAGE_DATASETS as images

    image = cfg.dataset in images or cfg.dataset == "random-cifar"
    speech = cfg.dataset in SPEAKER_SPLIT_DATASETS
    classes = 100 if image else 12 if speech else 10
    in_ch = {"mlp": 3072 if image else 4040 if speech else 64, "gru": 32 if image else 64}.get(cfg.model, 3)
    with torch.device("meta"):
        model = build_model(cfg.model, classes, in_ch, **_model_options(cfg))
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    return params, buffers


def _optimizer_copies(cfg: TrainConfig) -> int:
    """How many parameter-sized tensors the optimizer keeps (SGD: the momentum buffer; Adam: two moments)."""
    return 2 if cfg.optimizer == "adam" else (1 if cfg.momentum > 0 else 0)


def _available_memory(device: torch.device) -> int | None:
    """Bytes free for tensors on ``device`` (CUDA: free GPU memory; CPU: MemAvailable), None if unknown."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _check_resources(cfg: TrainConfig, device: torch.device, out, save_model: bool) -> None:
    """Before training: refuse a model whose weights, gradients and optimizer state alone exceed the device's
    free memory, and (with ``out``) a folder without room for the checkpoint, final weights and results file,
    or a file-size limit (``ulimit -f``) below the checkpoint's size; each error says how much is needed."""
    from .results import file_size_limit, format_bytes

    params, buffers = _model_size(cfg)
    copies = _optimizer_copies(cfg)
    memory = params * (2 + copies) + buffers  # weights, gradients, optimizer state; activations come on top
    free = _available_memory(device)
    if free is not None and memory > free:
        wide = cfg.model == "preact_resnet18" and cfg.width != 64
        raise ValueError((f"--width {cfg.width}: model {cfg.model}" if wide else f"model {cfg.model}")
                         + f" has about {params // 4:,} parameters; its weights, gradients and optimizer state "
                         f"alone need {format_bytes(memory)}, more than the {format_bytes(free)} free on {device}"
                         + ("; use a smaller --width" if wide else ""))
    if out is None:
        return
    from .data import IMAGE_DATASETS as images

    most = 60_000 if cfg.dataset in images or cfg.dataset == "random-cifar" else 10_000  # training samples, at most
    if cfg.subset is not None:
        most = min(most, cfg.subset * 100)
    checkpoint = params * (1 + copies) + buffers + 8 * most + 2**18  # + the epoch's order, curves, random states
    need = checkpoint + (params + buffers if save_model else 0) + 2**20  # + the results file
    limit = file_size_limit()
    if limit is not None and checkpoint > limit:
        raise OSError(f"--out folder {out}: a checkpoint of this run takes up to about {format_bytes(checkpoint)}, more "
                      f"than the file-size limit of this process (ulimit -f: {format_bytes(limit)}); raise the "
                      "limit or use another machine")
    try:
        disk_free = shutil.disk_usage(out).free
    except OSError:
        return
    if need > disk_free:
        raise OSError(f"--out folder {out} has {format_bytes(disk_free)} free, but this run needs about "
                      f"{format_bytes(need)} (checkpoint {format_bytes(checkpoint)}"
                      + (", final weights" if save_model else "") + ", results file); free some space or choose "
                      "another --out")


_CHECKPOINT_KEYS = ("epoch", "step", "model", "optimizer", "scheduler", "generators", "order", "loss_sum", "curves",
                    "wall_s", "started")


def _check_checkpoint_matches(ckpt_path, st: dict, cfg: TrainConfig, model: nn.Module, opt, gen_names) -> None:
    """Refuse (:class:`CheckpointError`, suggesting ``--no-resume``) a checkpoint written for another config (its
    stored config, not only its run id, must match) or whose content does not fit this run's model and
    optimizer (e.g. the code of the architecture changed since it was written)."""
    def refuse(why):
        raise CheckpointError(f"refusing checkpoint {ckpt_path}: {why}; use --no-resume (resume=False) to start "
                              "this run over") from None

    missing = [k for k in _CHECKPOINT_KEYS if k not in st]
    if missing:
        refuse(f"it lacks {', '.join(missing)}")
    stored = st.get("config")
    if isinstance(stored, dict):  # fields added since (absent there) count as their defaults
        base = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
        here = cfg.to_dict()
        differ = []
        for name, value in here.items():
            if name in RUNTIME_FIELDS:
                continue
            default = list(base[name]) if isinstance(base[name], tuple) else base[name]
            there = stored.get(name, default)
            if there != value:
                differ.append(f"{name} {there!r} there, {value!r} here")
        if differ:
            refuse(f"it was written for another config ({'; '.join(differ)}), although its run id matches")
    theirs, ours = st["model"], model.state_dict()
    if not isinstance(theirs, dict):
        refuse("its model weights are not a state dict")
    absent, extra = sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))
    shapes = [f"{k} {tuple(theirs[k].shape)} there, {tuple(v.shape)} here" for k, v in ours.items()
              if k in theirs and isinstance(theirs[k], torch.Tensor) and theirs[k].shape != v.shape]
    if absent or extra or shapes:
        parts = ([f"missing weights {', '.join(absent[:3])}" + (" ..." if len(absent) > 3 else "")] if absent else []) \
            + ([f"unexpected weights {', '.join(extra[:3])}" + (" ..." if len(extra) > 3 else "")] if extra else []) \
            + ([f"other shapes: {'; '.join(shapes[:3])}" + (" ..." if len(shapes) > 3 else "")] if shapes else [])
        refuse(f"its model does not match this run's {cfg.model} ({'; '.join(parts)}): the model's code or "
               "options changed since it was written")
    saved_opt = st["optimizer"]
    params = [p for g in opt.param_groups for p in g["params"]]
    try:
        groups = saved_opt["param_groups"]
        ids = [i for g in groups for i in g["params"]]
        if [len(g["params"]) for g in groups] != [len(g["params"]) for g in opt.param_groups]:
            refuse(f"its optimizer state holds {len(ids)} parameters in {len(groups)} group(s), this run's "
                   f"{cfg.optimizer} has {len(params)} in {len(opt.param_groups)}")
        for i, p in zip(ids, params):
            for name, t in saved_opt["state"].get(i, {}).items():
                if isinstance(t, torch.Tensor) and t.dim() > 0 and t.shape != p.shape:
                    refuse(f"its optimizer state {name} of parameter {i} has shape {tuple(t.shape)}, the parameter "
                           f"{tuple(p.shape)}")
    except (KeyError, TypeError, AttributeError) as e:
        refuse(f"its optimizer state is not one of a torch optimizer ({type(e).__name__}: {e})")
    saved = st["generators"]
    for g in saved if isinstance(saved, list) else [saved]:
        if not isinstance(g, dict) or not set(gen_names) <= set(g):
            refuse(f"its random-generator states lack some of {', '.join(gen_names)}")


def _fit(cfg, rid, out, path, ckpt_path, device, dist_, quiet, keep_model, save_model, on_step) -> RunResult:
    lead = dist_.rank == 0  # the process that evaluates, shows progress and writes files
    ds, clean_y, corrupted = _prepare_data(cfg, device)
    if dist_.world > 1 and 0 < ds.num_train % cfg.batch_size < dist_.world:
        raise ValueError(f"the last batch holds {ds.num_train % cfg.batch_size} sample(s) (num_train "
                         f"{ds.num_train} % batch_size {cfg.batch_size}), fewer than the {dist_.world} processes; "
                         "choose a batch size that leaves none or at least one per process")
    torch.manual_seed(cfg.seed)
    model = _model_for(cfg, ds).to(device)
    if _channels_last(cfg, device) and ds.kind == "image":
        model = model.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels (as the official code)
    if dist_.rank > 0:  # the same initial weights (DDP broadcasts rank 0's), independent dropout on every rank
        torch.manual_seed(cfg.seed + 7919 * dist_.rank)
    inputs = _Inputs(ds, cfg)
    cache = cache_dir() / "knn"  # never inside the data folder, which may be read-only
    needs_partners = cfg.method in MIXING_METHODS and cfg.method != "manifold" and \
        (cfg.pairing == "knn" or cfg.same_class)
    partners = _Partners(ds, cfg, cache) if needs_partners else None
    fused = {"fused": True} if device.type == "cuda" else {}  # one kernel for the whole update on the GPU
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                              **fused)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, **fused)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(cfg.lr_milestones), gamma=cfg.lr_decay)
    gens = _generators(cfg.seed, device, dist_.rank)
    autocast = _autocast(cfg, device)
    curve_keys = ["epoch", "train_loss", "test_loss", "test_error", "test_ece", "lr"]
    if cfg.eval_train:
        curve_keys.append("train_error")
        g = torch.Generator().manual_seed(0)  # the same sample in every epoch
        train_sample = torch.randperm(ds.num_train, generator=g)[:TRAIN_EVAL_SAMPLE].sort().values.to(device)
    if cfg.label_noise > 0:
        curve_keys += ["train_error_noisy_labels", "train_error_clean_labels"]
    val_data = _validation_data(cfg, device)
    if val_data is not None:
        curve_keys += ["val_loss", "val_error", "val_ece"]
    curves = {k: [] for k in curve_keys}
    train_times: list[float] = []  # seconds of training per epoch (kept out of the curves, which are exact)
    eval_times: list[float] = []  # seconds of the per-epoch evaluation
    epoch_ends: list[float] = []  # wall-clock time (Unix seconds) at the end of each epoch's training
    n, bs = ds.num_train, cfg.batch_size
    steps = -(-n // bs)
    start_epoch, start_step, order = 0, 0, None
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    wall_before, started = 0.0, datetime.now(timezone.utc).isoformat(timespec="seconds")
    commits = [git_commit()]  # the code this process loaded (a results file names it, not a later HEAD)

    if ckpt_path is not None and ckpt_path.exists():
        st = load_checkpoint(ckpt_path, map_location=device)
        if st.get("run_id") != rid:
            raise CheckpointError(f"refusing checkpoint {ckpt_path}: it belongs to run {st.get('run_id')!r}")
        here = (device.type, _precision(cfg, device), dist_.world)
        there = (st.get("device_type"), st.get("precision"), st.get("world_size", 1))
        if there != here:
            raise CheckpointError(f"refusing checkpoint {ckpt_path}: it was written on {there[0]} in {there[1]} by "
                                  f"{there[2]} process(es), this run is on {here[0]} in {here[1]} with {here[2]}; "
                                  "resume on the same kind of device and process count (or use --no-resume)")
        _check_checkpoint_matches(ckpt_path, st, cfg, model, opt, list(gens))
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        sched.load_state_dict(st["scheduler"])
        saved = st["generators"]
        saved = saved[dist_.rank] if isinstance(saved, list) else saved  # a dict: written before torchrun support
        for name, g in gens.items():
            g.set_state(saved[name].cpu())
        torch.set_rng_state(saved.get("_torch", st.get("torch_rng")).cpu())  # top-level: the previous format
        if device.type == "cuda" and ("_cuda" in saved or "cuda_rng" in st):
            torch.cuda.set_rng_state(saved.get("_cuda", st.get("cuda_rng")).cpu(), device)
        curves = {k: list(v) for k, v in st["curves"].items()}
        train_times, eval_times = list(st.get("train_times", [])), list(st.get("eval_times", []))
        epoch_ends = list(st.get("epoch_ends", []))
        start_epoch, start_step = st["epoch"], st["step"]
        order = st["order"].to(device) if st["step"] > 0 else None
        loss_sum = st["loss_sum"].to(device)
        wall_before, started = st["wall_s"], st["started"]
        commits = list(dict.fromkeys(st.get("git_commits", []) + commits))  # earlier sittings' code first

    def checkpoint(epoch, step, order, loss_sum, t0):
        """Write a checkpoint (rank 0); under torchrun every rank must call it (it gathers random states)."""
        if ckpt_path is None:
            return None
        mine = {k: g.get_state() for k, g in gens.items()}
        mine["_torch"] = torch.get_rng_state()  # dropout and other default-generator draws, per rank
        if device.type == "cuda":
            mine["_cuda"] = torch.cuda.get_rng_state(device)
        rank_gens = dist_.gather(mine)
        if not lead:
            return None
        state = {
            "run_id": rid, "config": cfg.to_dict(), "epoch": epoch, "step": step,
            "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "generators": rank_gens,  # per rank: its streams and its default CPU / CUDA generator states
            "order": order.cpu() if order is not None else torch.zeros(0, dtype=torch.long),
            "loss_sum": loss_sum.cpu(), "curves": curves, "wall_s": wall_before + time.perf_counter() - t0,
            "started": started, "git_commits": commits, "device_type": device.type, "precision": _precision(cfg, device),
            "world_size": dist_.world, "train_times": train_times,
            "eval_times": eval_times, "epoch_ends": epoch_ends,
        }
        return save_checkpoint(ckpt_path, state)

    plain = model
    if dist_.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        plain = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    net = plain
    if cfg.compile != "none":
        net = torch.compile(plain, mode=None if cfg.compile == "default" else cfg.compile)
    full_steps = n // bs  # a smaller last batch runs uncompiled: no second (dynamic-shape) compilation for it
    ieee = _ieee_fp32(cfg, device)
    with _no_tf32(ieee):  # as the training steps below run
        tf32_training = _cudnn_tf32() if device.type == "cuda" else None
    graphs = cfg.compile in ("reduce-overhead", "max-autotune") and device.type == "cuda"  # modes with CUDA graphs

    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    bar = tqdm(total=cfg.epochs, initial=start_epoch, desc=rid, unit="epoch", disable=quiet or not lead,
               leave=False, dynamic_ncols=True)
    with StopSignal() as stop:
        for epoch in range(start_epoch, cfg.epochs):
            model.train()
            t_epoch = time.perf_counter()
            if order is None:
                order = torch.randperm(n, generator=gens["order"], device=device)
            with _no_tf32(ieee):  # an fp32 run trains in IEEE fp32 on a GPU; evaluation keeps the defaults
                for step in range(start_step, steps):
                    if graphs and step < full_steps:  # a new iteration of torch.compile's CUDA graphs
                        torch.compiler.cudagraph_mark_step_begin()
                    idx = order[step * bs:(step + 1) * bs]
                    weight = 1.0
                    if dist_.world > 1:  # this rank's part of the global batch, weighted by its size
                        part = idx.tensor_split(dist_.world)[dist_.rank]
                        weight, idx = part.shape[0] * dist_.world / idx.shape[0], part
                    xb = inputs(ds.x_train[idx], gens["augment"], train=True)
                    yb = ds.y_train[idx]
                    with autocast:
                        loss = _loss(cfg, net if step < full_steps else plain, xb, yb, idx, ds.num_classes, partners,
                                     ds, inputs, gens)
                    opt.zero_grad(set_to_none=True)
                    (loss * weight if weight != 1.0 else loss).backward()
                    opt.step()
                    if on_step is not None:
                        on_step()
                    loss_sum += loss.detach().double() * idx.shape[0]
                    if stop.received and dist_.world == 1:  # under torchrun the ranks agree at the epoch's end
                        written = checkpoint(epoch, step + 1, order, loss_sum, t0)
                        bar.close()
                        raise Interrupted(stop.received, written, epoch, step + 1)
            if device.type == "cuda":
                torch.cuda.synchronize(device)  # one wait per epoch, for an honest training time
            train_s = time.perf_counter() - t_epoch
            epoch_end = time.time()
            start_step = 0
            train_loss = dist_.sum_(loss_sum) / n
            loss_sum = torch.zeros_like(loss_sum)
            order = None
            lr = opt.param_groups[0]["lr"]
            sched.step()
            if lead:
                t_eval = time.perf_counter()
                ev = evaluate(model, ds.x_test, ds.y_test, inputs)  # fp32: metrics free of bf16 rounding
                row = [train_loss, ev["loss"], ev["error"], ev["ece"]]
                if cfg.label_noise > 0:  # all unaugmented training images, against the labels trained on
                    pred = evaluate(model, ds.x_train, ds.y_train, inputs)["pred"]
                    wrong = pred != ds.y_train
                if cfg.eval_train:  # the regime curve: a fixed sample (or all of them, when computed anyway)
                    row.append(wrong.double().mean() * 100 if cfg.label_noise > 0 else
                               evaluate(model, ds.x_train[train_sample], ds.y_train[train_sample], inputs)["error"])
                if cfg.label_noise > 0:
                    # mean over an empty set is NaN, stored as null (not 0, which would read "nothing memorized")
                    row += [wrong[corrupted].double().mean() * 100,
                            (pred != clean_y)[~corrupted].double().mean() * 100]
                if val_data is not None:  # the validation speakers, beside the test speakers
                    vev = evaluate(model, *val_data, inputs)
                    row += [vev["loss"], vev["error"], vev["ece"]]
                vals = torch.stack([v.double().cpu() for v in row]).tolist()  # the one host sync per epoch
                curves["epoch"].append(epoch + 1)
                curves["lr"].append(lr)
                train_times.append(round(train_s, 4))
                epoch_ends.append(round(epoch_end, 3))
                eval_times.append(round(time.perf_counter() - t_eval, 4))
                for k, v in zip([k for k in curve_keys if k not in ("epoch", "lr")], vals):
                    curves[k].append(v)
                bar.set_postfix(loss=f"{vals[0]:.3f}", err=f"{vals[2]:.2f}%")
                bar.update(1)
            if cfg.checkpoint_every and (epoch + 1) % cfg.checkpoint_every == 0 and epoch + 1 < cfg.epochs:
                checkpoint(epoch + 1, 0, None, loss_sum, t0)
            received = dist_.agreed_stop(stop.received, device)
            if received:
                written = checkpoint(epoch + 1, 0, None, loss_sum, t0)
                bar.close()
                raise Interrupted(received, written, epoch + 1, 0)
        bar.close()
        if start_epoch < cfg.epochs:  # (all ranks decide alike: a collective follows)
            checkpoint(cfg.epochs, 0, None, loss_sum, t0)  # the final evaluation must not cost the training
        if not lead:  # the other ranks' work ends with the training
            model.eval()
            return RunResult(cfg, rid, {}, {}, model if keep_model else None, None, {})
        record = _finish(cfg, rid, model, ds, inputs, curves, device, started, wall_before, t0, dist_.world)
        record["git_commit"] = commits[-1]  # the code of this sitting, read when it started
        if len(commits) > 1:
            record["git_commits_earlier_sittings"] = commits[:-1]
        record["timing"] = _timing(cfg, train_times, eval_times, epoch_ends)
        if val_data is not None:
            record["summary"]["val_num_eval"] = int(val_data[1].shape[0])
        record["tf32_training"] = tf32_training  # may cuDNN use TF32 in training steps (None: not a CUDA run)
        if stop.received:  # stopped while finishing: the final checkpoint holds the training; no results
            written = ckpt_path if ckpt_path is not None and ckpt_path.exists() else None
            raise Interrupted(stop.received, written, cfg.epochs, 0)
        if path is not None:
            if save_model:
                save_checkpoint(out / "models" / f"{rid}.pt", {"run_id": rid, "model": model.state_dict()})
            atomic_write_json(path, record)
            ckpt_path.unlink(missing_ok=True)
    model.eval()
    return RunResult(cfg, rid, curves, record["summary"], model if keep_model else None, path, record)


def _timing(cfg: TrainConfig, train_s: list[float], eval_s: list[float], epoch_ends: list[float]) -> dict:
    """Training time per epoch: the first epoch (with warm-up and compilation) apart from the rest.

    ``train_s`` counts the training steps of each epoch (the device is synchronised at the epoch's end),
    ``eval_s`` the evaluation after it. A resumed run keeps the times of earlier sittings; the first epoch
    after a resume pays its warm-up again, which only ``median_epoch_s`` is robust to.
    """
    rest = train_s[1:]
    med = statistics.median(rest) if rest else None
    return {
        "median_eval_s": statistics.median(eval_s) if eval_s else None,
        "first_epoch_s": train_s[0] if train_s else None,
        "median_epoch_s": med,  # epochs 2..N
        "warmup_s": round(train_s[0] - med, 4) if rest else None,  # compile time and other first-epoch costs
        "train_s": round(sum(train_s), 3),
        "epoch_train_s": list(train_s),
        "epoch_end_unix": list(epoch_ends),  # wall clock at the end of each epoch's training (runs side by side)
        "compile": cfg.compile,
    }


def _finish(cfg, rid, model, ds, inputs, curves, device, started, wall_before, t0, world=1) -> dict:
    """Summary statistics, final-model extras (reliability bins, FGSM) and provenance of a finished run."""
    errs = curves["test_error"]
    summary = {
        "median_last10_error": statistics.median(errs[-10:]),
        "final_error": errs[-1],
        "best_error": min(errs),
        "final_nll": curves["test_loss"][-1],
        "final_ece": curves["test_ece"][-1],
        "final_train_loss": curves["train_loss"][-1],
        "evaluated_on": "validation" if cfg.val_fraction > 0 or cfg.eval_split == "validation" else "test",
        "num_train": ds.num_train,
        "num_eval": ds.num_test,
    }
    if "train_error" in curves:  # the regime check: did the run fit its training data, and when
        tr = curves["train_error"]
        summary["final_train_error"] = float(evaluate(model, ds.x_train, ds.y_train, inputs)["error"])  # all of them
        summary["train_error_curve_sample"] = min(ds.num_train, TRAIN_EVAL_SAMPLE)
        summary["epoch_train_error_below_1"] = next((e for e, v in zip(curves["epoch"], tr) if v < 1.0), None)
    if "val_error" in curves:  # eval_split "test+validation": the validation speakers' numbers, for selection
        verr = curves["val_error"]
        summary.update(val_median_last10_error=statistics.median(verr[-10:]), val_final_error=verr[-1],
                       val_best_error=min(verr), val_final_nll=curves["val_loss"][-1],
                       val_final_ece=curves["val_ece"][-1])
    counts = evaluate(model, ds.x_test, ds.y_test, inputs)["counts"]
    summary["reliability"] = reliability_from_counts(counts)
    for eps in cfg.fgsm_eps:
        summary[f"fgsm_error_{eps:g}"] = fgsm_error(model, ds.x_test, ds.y_test, eps, inputs)
    wall = wall_before + time.perf_counter() - t0
    record = {
        "schema": SCHEMA, "run_id": rid, "config": cfg.to_dict(), "curves": curves, "summary": summary,
        "device": device_name(device), "versions": versions(), "git_commit": git_commit(),
        "started": started, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_s": round(wall, 3), "threads": torch.get_num_threads(), "host": os.uname().nodename,
        "precision_used": _precision(cfg, device), "channels_last_used": inputs.channels_last,
        "world_size": world, "data_source": ds.source,
    }
    return record
