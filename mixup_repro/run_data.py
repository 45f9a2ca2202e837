"""A run's data on the training device: the prepared dataset, model inputs, partners and the model.

:func:`prepare_data` loads the dataset of a config and applies its subsets, held-out split and label noise;
:class:`Inputs` turns stored tensors into model inputs (augment, normalise, memory format); :class:`Partners`
draws mixing partners outside the batch (same class and/or k nearest neighbours); :func:`model_for` builds the
config's model for the data's shape.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from .config import SPEAKER_SPLIT_DATASETS, model_options
from .data import augment_batch, corrupt_labels, knn_partners, load_dataset, normalize, subset_per_class
from .methods import REGISTRY
from .models import build_model
from .runtime import use_channels_last

__all__ = ["Inputs", "Partners", "check_knn_k", "model_for", "prepare_data", "speech_options", "validation_data"]


def speech_options(cfg, eval_split: str) -> dict:
    """``load_dataset`` options of a speaker-split dataset: the evaluation speakers and the layout the model reads."""
    if cfg.dataset not in SPEAKER_SPLIT_DATASETS:
        return {}
    return {"eval_split": eval_split, "layout": "sequence" if cfg.model == "gru" else "cnn"}


def validation_data(cfg, device: torch.device):
    """The validation speakers ``(x, y)`` on ``device`` for ``eval_split="test+validation"``, else None."""
    if cfg.eval_split != "test+validation":
        return None
    ds = load_dataset(cfg.dataset, cfg.data_dir, **speech_options(cfg, "validation"))
    return ds.x_test.to(device), ds.y_test.to(device)


def prepare_data(cfg, device: torch.device):
    """``(dataset, clean training labels, corrupted mask)`` of a config on ``device``: its training subset, test
    subset, held-out validation split and label noise applied (the clean labels are those before the noise)."""
    main_split = "validation" if cfg.eval_split == "validation" else "test"
    ds = load_dataset(cfg.dataset, cfg.data_dir, **speech_options(cfg, main_split))
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


def model_for(cfg, ds) -> nn.Module:
    """The config's model for the data's input shape and classes (a hidden-layer method's layer checked)."""
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
    model = build_model(cfg.model, ds.num_classes, in_ch, **model_options(cfg))
    if REGISTRY[cfg.method].hidden and cfg.mix_layer >= model.num_mix_layers:
        raise ValueError(f"mix_layer must be in [0, {model.num_mix_layers - 1}] for model {cfg.model!r}, "
                         f"got {cfg.mix_layer}")
    return model


class Inputs:
    """Turns stored training/test tensors into model inputs on the device (augment, normalise)."""

    def __init__(self, ds, cfg):
        self.image = ds.kind == "image"
        self.augment = self.image and cfg.augment
        self.flip = bool(ds.flip)
        self.channels_last = use_channels_last(cfg, ds.device) and self.image
        if self.image:
            self.mean = torch.tensor(ds.mean, dtype=torch.float32, device=ds.device)
            self.std = torch.tensor(ds.std, dtype=torch.float32, device=ds.device)

    def __call__(self, x, generator=None, train=False):
        """Model inputs of stored samples ``x``: augmented (``train``, from ``generator``) and normalised images."""
        if not self.image:
            return x
        if train and self.augment:
            x = augment_batch(x, padding=4, flip=self.flip, generator=generator)
        x = normalize(x, self.mean, self.std)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


class Partners:
    """Draws a partner (a training-set index) for each sample: same class and/or k-nearest neighbours."""

    def __init__(self, ds, cfg, cache_dir):
        y = ds.y_train
        self.knn = None
        if cfg.pairing == "knn":
            k = check_knn_k(cfg, y, ds.num_classes)
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
        """A partner (training-set index) for each sample ``idx`` of labels ``y``, drawn from ``generator``."""
        if self.knn is not None:
            j = torch.randint(0, self.knn.shape[1], (idx.shape[0],), generator=generator, device=idx.device)
            return self.knn[idx, j]
        u = torch.rand(idx.shape[0], generator=generator, device=idx.device)
        pos = (u * self.counts[y]).long().clamp_max(self.counts[y] - 1)
        return self.order[self.starts[y] + pos]


def check_knn_k(cfg, y: torch.Tensor, num_classes: int) -> int:
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
