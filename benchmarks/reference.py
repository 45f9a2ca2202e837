"""The reference training loop: mixup trained the way the official code trains it.

This mirrors facebookresearch/mixup-cifar10 ``train.py`` (Zhang et al. 2018), the loop whose speed the
library is measured against (``benchmarks/speed.py``). It is deliberately *not* optimised:

* a map-style dataset that returns one PIL image at a time, as ``torchvision.datasets.CIFAR10`` does;
* per-image ``torchvision.transforms``: ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip()``,
  ``ToTensor()``, ``Normalize(mean, std)``;
* ``torch.utils.data.DataLoader(batch_size=128, shuffle=True, num_workers=8)``;
* fp32 (torch's defaults: TF32 convolutions on Ampere and newer GPUs), eager mode, NCHW,
  ``cudnn.benchmark = True``; the batch is copied to the GPU every step; workers are started anew each epoch
  (no ``persistent_workers``);
* λ ~ Beta(α, α) from NumPy, ``index = torch.randperm(batch_size).cuda()``, mixed inputs, and the
  loss interpolated between the two label sets: ``λ·CE(out, y_a) + (1-λ)·CE(out, y_b)``;
* ``loss.item()`` and the "mixed accuracy" (``predicted.eq(...).cpu().sum()``) read on the host every step,
  as the official loop does for its progress bar.

The model is the library's own PreAct ResNet-18, so the comparison measures the training loop alone. The
official code also wraps the model in ``DataParallel``, which on one GPU only adds a little overhead; it is left
out here (in the reference's favour).
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

__all__ = ["ArrayImageDataset", "official_transform", "mixup_data", "mixup_criterion", "train_epoch"]


class ArrayImageDataset(torch.utils.data.Dataset):
    """Images held as uint8 ``(N, H, W, C)`` (or ``(N, H, W)``) arrays, served one PIL image at a time.

    This is how ``torchvision.datasets.CIFAR10.__getitem__`` serves CIFAR-10: ``Image.fromarray`` and
    then the per-image transform.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform=None):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        img = Image.fromarray(self.images[i])
        if self.transform is not None:
            img = self.transform(img)
        return img, int(self.labels[i])


def official_transform(size: int, mean, std):
    """The official training transform: pad-4 random crop, horizontal flip, to tensor, normalise."""
    import torchvision.transforms as T

    return T.Compose([T.RandomCrop(size, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(mean, std)])


def mixup_data(x, y, alpha: float = 1.0, device=None):
    """Official ``mixup_data``: one λ per batch from NumPy, a random permutation of the batch."""
    lam = np.random.beta(alpha, alpha) if alpha > 0 else 1.0
    index = torch.randperm(x.size(0)).to(device)
    mixed_x = lam * x + (1 - lam) * x[index, :]
    return mixed_x, y, y[index], lam


def mixup_criterion(criterion, pred, y_a, y_b, lam):
    """Official ``mixup_criterion``: the interpolated loss."""
    return lam * criterion(pred, y_a) + (1 - lam) * criterion(pred, y_b)


def train_epoch(net: nn.Module, loader, optimizer, device, alpha: float = 1.0) -> dict:
    """One training epoch of the official loop; returns its wall time (synchronised) and its statistics."""
    criterion = nn.CrossEntropyLoss()
    net.train()
    train_loss, correct, total = 0.0, 0.0, 0
    t0 = time.perf_counter()
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        inputs, targets_a, targets_b, lam = mixup_data(inputs, targets, alpha, device)
        outputs = net(inputs)
        loss = mixup_criterion(criterion, outputs, targets_a, targets_b, lam)
        train_loss += loss.item()
        _, predicted = torch.max(outputs.data, 1)
        total += targets.size(0)
        correct += (lam * predicted.eq(targets_a.data).cpu().sum().float()
                    + (1 - lam) * predicted.eq(targets_b.data).cpu().sum().float()).item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return {"seconds": time.perf_counter() - t0, "train_loss": train_loss / max(1, len(loader)),
            "mixed_accuracy": 100.0 * correct / max(1, total)}
