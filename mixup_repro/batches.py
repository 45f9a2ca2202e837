"""Per-batch operations: crop/flip augmentation, pixel normalisation and mini-batch index iterators.

They run on whatever device their tensors are on and never synchronise with the host, so a trainer can keep
a whole training set on the GPU and index it directly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F

from ._checks import check_bool, check_generator, check_int, check_real

__all__ = ["BatchIterator", "augment_batch", "iterate_batches", "normalize"]


def _check_generator_device(generator, device: torch.device, name: str = "generator") -> None:
    """A ``torch.Generator`` or None (:func:`~mixup_repro._checks.check_generator`) on ``device``'s type."""
    if check_generator(name, generator) is None:
        return
    if generator.device.type != device.type:
        raise ValueError(f"{name} must live on the same device type as the data ({device.type}), "
                         f"got a {generator.device.type} generator")


def augment_batch(x: torch.Tensor, *, padding: int = 4, flip: bool = True,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Random crop after zero padding plus random horizontal flip, for a whole batch at once.

    Each image gets its own crop offset, uniform in ``[0, 2 * padding]`` along each axis of the
    zero-padded image (the standard CIFAR "pad 4, crop 32" augmentation), and is mirrored left-right with
    probability 0.5.  Crop and flip are done with a single vectorised gather, on ``x``'s device, without
    host synchronisation.

    Parameters
    ----------
    x : torch.Tensor
        ``(B, C, H, W)`` batch, normally ``uint8``.
    padding : int
        Zero padding on each side before cropping; 0 disables cropping.
    flip : bool
        Whether to apply random horizontal flips.
    generator : torch.Generator, optional
        Source of randomness; it must be on ``x``'s device (a CUDA generator for CUDA tensors).  The same
        generator state gives the same output.  ``None`` uses torch's default generator for that device.

    Returns
    -------
    torch.Tensor
        Augmented batch with the same shape, dtype and device; ``x`` itself when ``padding == 0`` and
        ``flip`` is False.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"x must be a 4-D (B, C, H, W) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    padding = check_int("padding", padding, low=0)
    check_bool("flip", flip)
    _check_generator_device(generator, x.device)
    if padding == 0 and not flip:
        return x
    b, _, h, w = x.shape
    dev = x.device
    rows = torch.arange(h, device=dev).expand(b, h)
    cols = torch.arange(w, device=dev).expand(b, w)
    if padding > 0:
        off = torch.randint(0, 2 * padding + 1, (2, b, 1), generator=generator, device=dev)
        rows = rows + off[0]
        cols = cols + off[1]
        x = F.pad(x, (padding, padding, padding, padding))
    if flip:
        mirror = torch.randint(0, 2, (b, 1), generator=generator, device=dev).bool()
        # Mirroring the crop window [o, o + w) of the padded row is reading it backwards.
        cols = torch.where(mirror, cols.flip(1), cols)
    batch = torch.arange(b, device=dev).view(b, 1, 1, 1)
    chan = torch.arange(x.shape[1], device=dev).view(1, -1, 1, 1)
    return x[batch, chan, rows.view(b, 1, h, 1), cols.view(b, 1, 1, w)]


def normalize(x: torch.Tensor, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Convert ``uint8`` images to floats: ``(x / 255 - mean[c]) / std[c]`` per channel.

    Parameters
    ----------
    x : torch.Tensor
        ``uint8`` tensor of shape ``(..., C, H, W)``.
    mean, std : sequence of float or tensor
        Per-channel statistics in ``[0, 1]`` units (e.g. :attr:`Dataset.mean`), length ``C``.
    dtype : torch.dtype
        Floating output dtype.

    Returns
    -------
    torch.Tensor
        Normalised tensor of ``dtype`` on ``x``'s device.
    """
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.ndim < 3:
        raise TypeError(f"x must be a uint8 tensor of shape (..., C, H, W), got "
                        f"{getattr(x, 'dtype', type(x).__name__)} of shape {tuple(getattr(x, 'shape', ()))}")
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    c = x.shape[-3]
    stats = []
    for name, v in (("mean", mean), ("std", std)):
        if not isinstance(v, torch.Tensor):
            v = [check_real(f"{name}[{i}]", vi, low=0.0, low_open=name == "std") for i, vi in enumerate(v)]
        t = torch.as_tensor(v, dtype=dtype, device=x.device).reshape(-1)
        if t.numel() != c:
            raise ValueError(f"{name} must have one value per channel ({c}), got {t.numel()}")
        stats.append(t.view(c, 1, 1))
    return x.to(dtype).div_(255).sub_(stats[0]).div_(stats[1])


class BatchIterator:
    """Mini-batches of sample indices, as index tensors on ``device``.

    Each ``iter()`` draws a fresh permutation with :func:`torch.randperm` (if ``shuffle``) and yields
    consecutive slices of it, so a trainer can index dataset tensors that already live on the GPU.

    Parameters
    ----------
    n : int
        Number of samples.
    batch_size : int
        Batch size (>= 1).
    shuffle : bool
        Random order each epoch (else ``0..n-1`` in order).
    generator : torch.Generator, optional
        On ``device`` (a CUDA generator for CUDA); ``None`` uses torch's default generator.
    device : torch.device or str, optional
        Device of the yielded indices; defaults to the generator's device, else CPU.
    drop_last : bool
        Drop the final incomplete batch.
    """

    def __init__(self, n: int, batch_size: int, *, shuffle: bool = True, generator: torch.Generator | None = None,
                 device=None, drop_last: bool = False):
        self.n = check_int("n", n, low=1)
        self.batch_size = check_int("batch_size", batch_size, low=1)
        if device is None:
            device = generator.device if isinstance(generator, torch.Generator) else "cpu"
        self.device = torch.device(device)
        _check_generator_device(generator, self.device)
        self.shuffle = bool(shuffle)
        self.generator = generator
        self.drop_last = bool(drop_last)
        if self.drop_last and self.batch_size > self.n:
            raise ValueError(f"batch_size must be <= n={self.n} when drop_last=True, got {self.batch_size}")

    def __len__(self) -> int:
        """Number of batches per epoch."""
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        """Yield ``int64`` index tensors of length ``batch_size`` (the last may be shorter)."""
        if self.shuffle:
            order = torch.randperm(self.n, generator=self.generator, device=self.device)
        else:
            order = torch.arange(self.n, device=self.device)
        for i in range(len(self)):
            yield order[i * self.batch_size: (i + 1) * self.batch_size]


def iterate_batches(n: int, batch_size: int, *, shuffle: bool = True, generator: torch.Generator | None = None,
                    device=None, drop_last: bool = False) -> Iterator[torch.Tensor]:
    """Yield one epoch of index batches; see :class:`BatchIterator` for the parameters."""
    return iter(BatchIterator(n, batch_size, shuffle=shuffle, generator=generator, device=device,
                              drop_last=drop_last))

