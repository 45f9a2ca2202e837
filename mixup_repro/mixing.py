r"""The mixing core: mixup (Zhang et al., ICLR 2018) and its label-smoothing extension.

Formula (1), mixup, for a pair of examples :math:`(x_i, y_i)` and :math:`(x_j, y_j)` with
:math:`\lambda \sim \mathrm{Beta}(\alpha, \alpha)`:

.. math:: \tilde x = \lambda x_i + (1-\lambda) x_j, \qquad \tilde y = \lambda y_i + (1-\lambda) y_j .

Formula (2), label smoothing of the mixed label over :math:`K` classes with strength :math:`\varepsilon`:

.. math:: \tilde y' = (1-\varepsilon)\,\tilde y + \varepsilon / K .

Because (2) is affine and the mixing weights sum to one, smoothing before mixing and smoothing
after mixing give the same target; the library mixes first, then smooths.

Design: nothing is modified in place; every random draw comes from torch's RNG (optionally an
explicit ``torch.Generator``), so a seed reproduces the whole stream of λ and partners; every batch
size >= 1 works; targets are float32 (float64 when the inputs or targets are float64) whatever the
dtype of ``x``, so bf16 inputs never round the labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ._checks import (
    check_alpha,
    check_bool,
    check_choice,
    check_eps,
    check_generator,
    check_int,
    check_num_classes,
    check_prob,
)

__all__ = [
    "MixedBatch",
    "Mixup",
    "mix",
    "mix_inputs",
    "mix_k",
    "mixup_criterion",
    "sample_dirichlet",
    "sample_lambda",
    "smooth_labels",
]

# Marsaglia & Tsang's gamma sampler accepts > 95 % of candidates for shape >= 1; drawing this many
# candidates at once makes "none accepted" (probability < 0.05 ** 32) impossible in practice and keeps
# the sampler free of data-dependent loops, hence of host synchronisation on a GPU.
_GAMMA_CANDIDATES = 32


class MixedBatch(NamedTuple):
    """Result of :func:`mix` / :func:`mix_k`.

    Attributes
    ----------
    inputs : Tensor
        The mixed inputs, same shape and dtype as ``x``.
    targets : Tensor
        Mixed (and smoothed) probability targets of shape (B, K), float32 (float64 for float64 data).
    lam : Tensor
        The mixing weights used: a 0-d tensor (one λ for the batch) or a (B,) tensor for :func:`mix`;
        (k,) or (B, k) weights for :func:`mix_k`.
    index : Tensor
        The partners: a (B,) LongTensor for :func:`mix` (sample ``i`` is mixed with ``index[i]``);
        a (k, B) LongTensor for :func:`mix_k` whose row 0 is ``arange(B)``.
    """

    inputs: Tensor
    targets: Tensor
    lam: Tensor
    index: Tensor


# ----------------------------------------------------------------------------------------------------------
# Sampling
# ----------------------------------------------------------------------------------------------------------
def _log_gamma_sample(shape: float, n: int, generator: torch.Generator | None, device) -> Tensor:
    """log of ``n`` independent Gamma(shape, 1) draws (float64), vectorised, driven by ``generator``.

    Marsaglia & Tsang (2000) for shape >= 1; for shape < 1 the boost
    Gamma(a) = Gamma(a + 1) * U ** (1 / a) is applied in log space, so tiny shapes do not underflow.
    """
    a = shape + 1.0 if shape < 1.0 else shape
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    kw = dict(dtype=torch.float64, device=device, generator=generator)
    z = torch.randn((_GAMMA_CANDIDATES, n), **kw)
    u = torch.rand((_GAMMA_CANDIDATES, n), **kw)
    v = (1.0 + c * z) ** 3
    ok = (v > 0) & (torch.log(u) < 0.5 * z * z + d - d * v + d * torch.log(v.clamp_min(1e-300)))
    first = ok.to(torch.int8).argmax(dim=0)  # first accepted candidate of each column
    v = v.gather(0, first[None]).squeeze(0).clamp_min(1e-300)
    log_g = math.log(d) + torch.log(v)
    if shape < 1.0:
        boost = torch.rand(n, **kw).clamp_min(1e-300)
        log_g = log_g + torch.log(boost) / shape
    return log_g


def sample_dirichlet(alpha: float, k: int, size=(), *, generator: torch.Generator | None = None,
                     device=None) -> Tensor:
    r"""Draw weights :math:`w \sim \mathrm{Dirichlet}(\alpha, \dots, \alpha)` over ``k`` components.

    Returns a float64 tensor of shape ``(*size, k)`` whose last axis sums to 1. ``alpha == 0`` gives
    ``(1, 0, ..., 0)``: no mixing (ERM), as the official mixup code does for α = 0. With ``k = 2`` the
    first weight is distributed as Beta(α, α), and :func:`sample_lambda` returns exactly that weight
    for the same generator state.
    """
    alpha = check_alpha(alpha)
    k = check_int("k", k, low=2)
    size = _check_size(size)
    check_generator("generator", generator)
    n = math.prod(size)
    if n * k > MAX_DRAWS:
        raise ValueError(f"size {size} asks for {n:,} draws of {k} weights ({n * k * 8 * 4 / 1e9:,.0f} GB of "
                         f"float64 with temporaries); at most {MAX_DRAWS:,} values at once: draw in chunks")
    if generator is not None and device is None:
        device = generator.device
    if alpha == 0.0:
        w = torch.zeros((n, k), dtype=torch.float64, device=device)
        w[:, 0] = 1.0
        return w.reshape(*size, k)
    log_g = _log_gamma_sample(alpha, n * k, generator, device).reshape(n, k)
    return torch.softmax(log_g, dim=-1).reshape(*size, k)


def sample_lambda(alpha: float, size=(), generator: torch.Generator | None = None, *, device=None) -> Tensor:
    r"""Draw mixing coefficients :math:`\lambda \sim \mathrm{Beta}(\alpha, \alpha)`.

    Parameters
    ----------
    alpha : float
        Concentration, >= 0. ``alpha == 0`` gives λ = 1 (ERM), as in the official code; α = 1 is
        uniform on [0, 1]; larger α concentrates λ around 1/2 (variance :math:`1/(4(2\alpha+1))`).
    size : int or tuple of int
        Shape of the result; ``()`` gives a 0-d tensor (one λ per batch, as in the paper).
    generator : torch.Generator, optional
        Source of randomness; the same seed reproduces the λ stream (the official code draws λ from
        an unseeded NumPy RNG). The result lives on the generator's device.

    Returns
    -------
    Tensor
        float64 tensor of shape ``size`` with values in [0, 1].
    """
    return sample_dirichlet(alpha, 2, size, generator=generator, device=device)[..., 0]


def _draw_device(generator: torch.Generator | None, x: Tensor) -> torch.device:
    """Where random draws happen: on the generator's device, or on the batch's device without one."""
    return generator.device if generator is not None else x.device


MAX_DRAWS = 2**31 - 1
"""The most values :func:`sample_dirichlet` / :func:`sample_lambda` draw in one call (17 GB of float64)."""


def _check_size(size) -> tuple[int, ...]:
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size,)
    if not isinstance(size, (tuple, list, torch.Size)):
        raise TypeError(f"size must be an int or a tuple of ints, got {type(size).__name__}")
    return tuple(check_int("size", s, low=0) for s in size)


# ----------------------------------------------------------------------------------------------------------
# Validation of tensors
# ----------------------------------------------------------------------------------------------------------
def _target_dtype(x: Tensor, y: Tensor) -> torch.dtype:
    if x.dtype == torch.float64 or y.dtype == torch.float64:
        return torch.float64
    return torch.float32


def _check_x(x) -> int:
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor (got dtype {x.dtype}); convert integer or bool "
                        "inputs with x.float() (images: x.float() / 255) before mixing")
    if x.dim() < 2:
        raise ValueError(f"x must have a batch dimension and at least one feature dimension (rank >= 2), "
                         f"got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError("x must hold at least one sample, got an empty batch (batch size 0)")
    return x.shape[0]


def _check_targets(y, batch: int, num_classes: int, name: str = "y", values: bool = True) -> None:
    """Class indices (B,) in [0, K) or probability targets (B, K) whose rows sum to 1.

    ``values=False`` checks types and shapes only: the value checks read the tensor on the host (a GPU sync).
    """
    if not isinstance(y, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(y).__name__}")
    if y.shape[:1] != (batch,):
        raise ValueError(f"{name} must have the batch size of x ({batch}), got shape {tuple(y.shape)}")
    if y.dim() == 1:
        if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
            raise TypeError(f"{name} given as class indices must have an integer dtype, got {y.dtype}")
        if not values:
            return
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"{name} holds class indices outside [0, num_classes) = [0, {num_classes}): "
                             f"min {lo}, max {hi}")
    elif y.dim() == 2:
        if not y.is_floating_point():
            raise TypeError(f"{name} given as probability targets (B, K) must be floating point, got {y.dtype}")
        if y.shape[1] != num_classes:
            raise ValueError(f"{name} probability targets must have width num_classes = {num_classes}, "
                             f"got shape {tuple(y.shape)}")
        if not values:
            return
        yf = y.double()
        if not bool(torch.isfinite(yf).all()) or bool((yf < -1e-6).any()):
            raise ValueError(f"{name} probability targets must be finite and non-negative")
        err = float((yf.sum(1) - 1.0).abs().max())
        if err > 1e-3:
            raise ValueError(f"{name} probability targets must have rows that sum to 1 (largest deviation {err:.3g})")
    else:
        raise ValueError(f"{name} must be class indices (B,) or probability targets (B, K), "
                         f"got shape {tuple(y.shape)}")


def _check_index(index, batch: int, device, name: str = "index", values: bool = True) -> Tensor:
    if not isinstance(index, Tensor):
        raise TypeError(f"{name} must be a LongTensor of partner indices, got {type(index).__name__}")
    if index.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8, torch.int8):
        raise TypeError(f"{name} must be an integer tensor of partner indices, got dtype {index.dtype}")
    if index.shape != (batch,):
        raise ValueError(f"{name} must have shape ({batch},) (one partner per sample), got {tuple(index.shape)}")
    if values:
        lo, hi = int(index.min()), int(index.max())
        if lo < 0 or hi >= batch:
            raise ValueError(f"{name} entries must be in [0, {batch}) (positions in the batch), "
                             f"got min {lo}, max {hi}")
    return index.to(device=device, dtype=torch.int64)


def _check_lam(lam, batch: int, device, name: str = "lam", values: bool = True) -> Tensor:
    if isinstance(lam, Tensor):
        if lam.dim() == 0 or lam.shape == (batch,):
            t = lam.detach().to(device=device, dtype=torch.float64)
        else:
            raise ValueError(f"{name} must be a number, a 0-d tensor or a ({batch},) tensor (one λ per sample), "
                             f"got shape {tuple(lam.shape)}")
    elif isinstance(lam, (int, float)) and not isinstance(lam, bool):
        t = torch.full((), float(lam), dtype=torch.float64, device=device)  # filled on the device: no copy
    else:
        raise TypeError(f"{name} must be a number or a tensor, got {type(lam).__name__}")
    if values and (not bool(torch.isfinite(t).all()) or bool((t < 0).any()) or bool((t > 1).any())):
        raise ValueError(f"{name} must be in [0, 1], got values from {float(t.min())} to {float(t.max())}")
    return t


# ----------------------------------------------------------------------------------------------------------
# Targets
# ----------------------------------------------------------------------------------------------------------
def _as_probs(y: Tensor, num_classes: int, dtype: torch.dtype) -> Tensor:
    if y.dim() == 1:
        return torch.nn.functional.one_hot(y.long(), num_classes).to(dtype)
    return y.to(dtype)


def smooth_labels(y: Tensor, num_classes: int, eps: float) -> Tensor:
    r"""Label smoothing, formula (2): :math:`y' = (1-\varepsilon)\,y + \varepsilon / K`.

    Parameters
    ----------
    y : Tensor
        Class indices (B,) or probability targets (B, K) (e.g. mixed labels).
    num_classes : int
        K >= 2.
    eps : float
        Smoothing strength ε in [0, 1).

    Returns
    -------
    Tensor
        (B, K) float32 targets (float64 if ``y`` is float64); ``y`` is not modified.
    """
    num_classes = check_num_classes(num_classes)
    eps = check_eps(eps, "eps")
    if not isinstance(y, Tensor):
        raise TypeError(f"y must be a torch.Tensor, got {type(y).__name__}")
    if y.dim() == 0 or y.shape[0] == 0:
        raise ValueError(f"y must hold at least one sample, got shape {tuple(y.shape)}")
    _check_targets(y, y.shape[0], num_classes)
    dtype = torch.float64 if y.dtype == torch.float64 else torch.float32
    return _smooth(_as_probs(y, num_classes, dtype), eps)


def _smooth(p: Tensor, eps: float) -> Tensor:
    if eps == 0.0:
        return p
    return p * (1.0 - eps) + eps / p.shape[-1]


# ----------------------------------------------------------------------------------------------------------
# Mixing
# ----------------------------------------------------------------------------------------------------------
def _broadcast(w: Tensor, x: Tensor) -> Tensor:
    """Weights of shape () or (B,) as a tensor that broadcasts against x (B, ...), in x's dtype."""
    w = w.to(x.dtype)
    return w.reshape(-1, *([1] * (x.dim() - 1))) if w.dim() == 1 else w


def mix_inputs(x: Tensor, x2: Tensor, lam: Tensor) -> Tensor:
    """Formula (1) on inputs only, ``λ·x + (1−λ)·x2``, unchecked; ``lam`` a 0-d or (B,) tensor.

    Half-precision inputs are mixed in float32 and cast back, so inputs and labels see the same λ.
    Used for images, for hidden representations (manifold mixup) and for inputs whose label is not mixed.
    """
    if x.dtype in (torch.float16, torch.bfloat16):
        lx = _broadcast(lam, x.float())
        return (lx * x.float() + (1 - lx) * x2.float()).to(x.dtype)
    lx = _broadcast(lam, x)
    return lx * x + (1 - lx) * x2


def mix_with(x: Tensor, x2: Tensor, probs: Tensor, probs2: Tensor, lam: Tensor, eps: float = 0.0
             ) -> tuple[Tensor, Tensor]:
    """Formula (1) then (2) for explicit partners ``x2`` / ``probs2``, without any validation.

    The fast path the trainer uses after validating its data once: no host synchronisation, so it is
    safe inside a CUDA training step. ``lam`` is a 0-d or (B,) tensor; ``probs`` (B, K) float targets.
    """
    inputs = mix_inputs(x, x2, lam)
    lt = lam.to(probs.dtype)
    lt = lt[:, None] if lt.dim() == 1 else lt
    return inputs, _smooth(lt * probs + (1 - lt) * probs2, eps)


def _mix_pair(x: Tensor, probs: Tensor, lam: Tensor, index: Tensor, eps: float) -> MixedBatch:
    """Unchecked formula (1) then (2) with in-batch partners ``index``."""
    inputs, targets = mix_with(x, x[index], probs, probs[index], lam, eps)
    return MixedBatch(inputs, targets, lam, index)


def mix(x: Tensor, y: Tensor, *, num_classes: int, alpha: float = 1.0, lam=None, index: Tensor | None = None,
        label_smoothing: float = 0.0, generator: torch.Generator | None = None, validate: bool = True) -> MixedBatch:
    r"""Mix a batch with its partners (mixup, formula (1)), then smooth the mixed labels (formula (2)).

    .. math::
        \tilde x = \lambda x + (1-\lambda)\, x[\mathrm{index}], \qquad
        \tilde y = (1-\varepsilon)\big(\lambda y + (1-\lambda)\, y[\mathrm{index}]\big) + \varepsilon / K

    Parameters
    ----------
    x : Tensor
        Floating-point inputs, batch first, any rank >= 2: (B, F) tabular, (B, T, F) sequences,
        (B, C, H, W) images, (B, C, D, H, W) volumes. Not modified.
    y : Tensor
        Class indices (B,) in [0, K) or probability targets (B, K). Not modified.
    num_classes : int
        K >= 2.
    alpha : float
        λ ~ Beta(α, α) when ``lam`` is None; α = 0 means λ = 1 (no mixing).
    lam : None, float or Tensor
        None draws one λ for the whole batch (as the paper does); a number in [0, 1]; or a (B,) tensor
        (one λ per sample).
    index : Tensor, optional
        (B,) LongTensor naming each sample's partner; None draws a random permutation.
        ``torch.arange(B).roll(1)`` reproduces ``torchvision.transforms.v2.MixUp``.
    label_smoothing : float
        ε in [0, 1), applied to the mixed labels.
    generator : torch.Generator, optional
        Source of λ and of the permutation; without one, they are drawn on ``x``'s device.
    validate : bool
        Check the values of ``y``, ``lam`` and ``index`` (class range, rows summing to 1, λ in [0, 1]).
        Reading values on the host costs a synchronisation per call on a GPU; ``False`` keeps only the
        type and shape checks, for GPU training loops whose data are known to be valid. Invalid data then
        go unnoticed: out-of-range class indices stop the CUDA context with a device-side assert, and bad
        probability rows, λ or partner indices give wrong targets silently. No synchronisation at all needs,
        besides, ``x``, ``y`` (and a given ``lam`` / ``index``) already on the GPU and a generator there or none.

    Returns
    -------
    MixedBatch
        ``(inputs, targets, lam, index)``; targets are (B, K) float32 (float64 for float64 data).
    """
    batch = _check_x(x)
    num_classes = check_num_classes(num_classes)
    alpha = check_alpha(alpha)
    eps = check_eps(label_smoothing)
    check_bool("validate", validate)
    check_generator("generator", generator)
    _check_targets(y, batch, num_classes, values=validate)
    if lam is None:
        lam_t = sample_lambda(alpha, (), generator, device=_draw_device(generator, x)).to(x.device)
    else:
        lam_t = _check_lam(lam, batch, x.device, values=validate)
    if index is None:
        index = torch.randperm(batch, generator=generator, device=_draw_device(generator, x))
        index = index.to(x.device)
    else:
        index = _check_index(index, batch, x.device, values=validate)
    probs = _as_probs(y.to(x.device), num_classes, _target_dtype(x, y))
    return _mix_pair(x, probs, lam_t, index, eps)


def mix_k(x: Tensor, y: Tensor, *, num_classes: int, k: int = 3, alpha: float = 1.0, weights: Tensor | None = None,
          per_sample: bool = False, label_smoothing: float = 0.0,
          generator: torch.Generator | None = None, validate: bool = True) -> MixedBatch:
    r"""Mix each sample with ``k - 1`` partners, weights :math:`w \sim \mathrm{Dirichlet}(\alpha, \dots, \alpha)`.

    .. math::
        \tilde x = \sum_{j=1}^k w_j\, x[\pi_j], \qquad
        \tilde y = (1-\varepsilon)\sum_{j=1}^k w_j\, y[\pi_j] + \varepsilon / K,

    with :math:`\pi_1` the identity and :math:`\pi_2 \dots \pi_k` random permutations (the
    ``mixup_double`` idea of mixing more than two samples). With ``k = 2`` this is :func:`mix`: the first
    weight is Beta(α, α), and for the same generator state the two functions return the same batch.

    Parameters
    ----------
    k : int
        Number of samples mixed, >= 2.
    weights : Tensor, optional
        Given weights, (k,) or (B, k), non-negative, summing to 1 along the last axis.
    per_sample : bool
        Draw one weight vector per sample instead of one per batch.
    x, y, num_classes, alpha, label_smoothing, generator, validate
        As in :func:`mix`.

    Returns
    -------
    MixedBatch
        ``lam`` holds the weights and ``index`` the (k, B) partner table.
    """
    batch = _check_x(x)
    num_classes = check_num_classes(num_classes)
    k = check_int("k", k, low=2)
    alpha = check_alpha(alpha)
    eps = check_eps(label_smoothing)
    check_bool("validate", validate)
    check_generator("generator", generator)
    _check_targets(y, batch, num_classes, values=validate)
    gdev = _draw_device(generator, x)
    if weights is None:
        weights = sample_dirichlet(alpha, k, (batch,) if per_sample else (), generator=generator, device=gdev)
    else:
        if not isinstance(weights, Tensor) or weights.shape not in ((k,), (batch, k)):
            raise ValueError(f"weights must be a tensor of shape ({k},) or ({batch}, {k})")
        weights = weights.detach().double()
        if validate and (not bool(torch.isfinite(weights).all()) or bool((weights < 0).any())
                         or float((weights.sum(-1) - 1).abs().max()) > 1e-6):
            raise ValueError("weights must be finite, non-negative and sum to 1 along the last axis")
    weights = weights.to(x.device)
    perms = [torch.randperm(batch, generator=generator, device=gdev).to(x.device) for _ in range(k - 1)]
    index = torch.stack([torch.arange(batch, device=x.device), *perms])
    probs = _as_probs(y.to(x.device), num_classes, _target_dtype(x, y))
    wx = weights.to(x.dtype)
    wt = weights.to(probs.dtype)
    if k == 2:  # the same arithmetic as mix(), so k = 2 agrees bit for bit
        lam = weights[..., 0]
        out = _mix_pair(x, probs, lam, index[1], eps)
        return MixedBatch(out.inputs, out.targets, weights, index)
    inputs = sum(_broadcast(wx[..., j], x) * x[index[j]] for j in range(k))
    targets = sum((wt[..., j, None] if wt.dim() == 2 else wt[j]) * probs[index[j]] for j in range(k))
    return MixedBatch(inputs, _smooth(targets, eps), weights, index)


def mixup_criterion(criterion: Callable[[Tensor, Tensor], Tensor], pred: Tensor, y_a: Tensor, y_b: Tensor,
                    lam) -> Tensor:
    r"""The official loss-interpolation form of mixup: :math:`\lambda\,\ell(p, y_a) + (1-\lambda)\,\ell(p, y_b)`.

    This is how the authors' code trains (``mixup_criterion`` in facebookresearch/mixup-cifar10). For
    cross-entropy, which is linear in its target, it equals cross-entropy against the mixed soft target
    :math:`\lambda\,\mathrm{onehot}(y_a) + (1-\lambda)\,\mathrm{onehot}(y_b)`; with ``criterion =
    CrossEntropyLoss(label_smoothing=ε)`` it equals cross-entropy against the mixed-then-smoothed target
    of formula (2). The book proves both; the tests check them to 1e-10 in float64.

    Parameters
    ----------
    criterion : callable
        ``criterion(pred, target) -> loss``, e.g. ``torch.nn.CrossEntropyLoss()``.
    pred : Tensor
        Model outputs (logits).
    y_a, y_b : Tensor
        Targets of the sample and of its partner (``y`` and ``y[index]``).
    lam : float or 0-d Tensor
        The batch's λ in [0, 1].
    """
    if not callable(criterion):
        raise TypeError(f"criterion must be callable, got {type(criterion).__name__}")
    if isinstance(lam, Tensor) and lam.dim() != 0:
        raise ValueError("lam must be a number or a 0-d tensor; for one λ per sample use cross-entropy on "
                         "the soft targets returned by mix()")
    lam_v = float(_check_lam(lam, 1, "cpu"))
    if not isinstance(pred, Tensor) or pred.dim() == 0:
        raise TypeError(f"pred must be a tensor of model outputs (B, ...), got {type(pred).__name__}")
    for name, t in (("y_a", y_a), ("y_b", y_b)):
        if not isinstance(t, Tensor) or t.dim() == 0 or t.shape[0] != pred.shape[0]:
            got = f"shape {tuple(t.shape)}" if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{name} must hold one target per sample of pred (batch {pred.shape[0]}), got {got}")
    return lam_v * criterion(pred, y_a) + (1.0 - lam_v) * criterion(pred, y_b)


# ----------------------------------------------------------------------------------------------------------
# Module
# ----------------------------------------------------------------------------------------------------------
class Mixup(nn.Module):
    r"""Mixup (+ label smoothing) as a batch transform: ``x_mix, y_soft = Mixup(...)(x, y)``.

    A drop-in for ``torchvision.transforms.v2.MixUp`` in a training loop or a ``collate_fn``, with the
    label-smoothing extension of formula (2), a mixing probability and k-sample mixing.

    Parameters
    ----------
    alpha : float
        Beta(α, α) / Dirichlet(α, …, α) concentration, >= 0 (0 disables mixing).
    num_classes : int
        K >= 2 (keyword, required: there is no hidden default).
    label_smoothing : float
        ε in [0, 1) applied to the (mixed) labels.
    prob : float
        Probability in [0, 1] that a batch (``mode="batch"``) or a sample (``mode="elem"``) is mixed
        (the ``mixup_prob`` knob). An unmixed batch/sample gets λ = 1, i.e. its own (smoothed) one-hot
        target; the output shapes never change.
    mode : {"batch", "elem"}
        One λ per batch (the paper) or one λ per sample (vectorised).
    k : int
        Number of samples mixed (2 = mixup; > 2 uses Dirichlet weights, the ``mixup_double`` idea;
        ``mode`` must then be "batch" and ``prob`` 1).
    generator : torch.Generator, optional
        Source of randomness (λ, partners, the ``prob`` coin); without one, they are drawn on the batch's
        device. Used as a ``collate_fn`` in DataLoader worker processes, each worker starts from a copy of
        this generator's state and would draw the same stream: re-seed it per worker (``worker_init_fn``) or
        leave it None (torch seeds workers differently).
    validate : bool
        Check label values on every call (see :func:`mix`); ``False`` avoids the host synchronisation this
        costs per batch on a GPU (with ``x`` and ``y`` on the GPU and a generator there or none).
    """

    def __init__(self, alpha: float = 1.0, *, num_classes: int, label_smoothing: float = 0.0, prob: float = 1.0,
                 mode: str = "batch", k: int = 2, generator: torch.Generator | None = None, validate: bool = True):
        super().__init__()
        self.alpha = check_alpha(alpha)
        self.num_classes = check_num_classes(num_classes)
        self.label_smoothing = check_eps(label_smoothing)
        self.prob = check_prob(prob, "prob")
        self.mode = check_choice("mode", mode, ("batch", "elem"))
        self.k = check_int("k", k, low=2)
        if self.k > 2 and (self.mode != "batch" or self.prob != 1.0):
            raise ValueError(f"k = {self.k} (more than two samples) supports only mode='batch' and prob=1")
        self.generator = check_generator("generator", generator)
        self.validate = check_bool("validate", validate)

    def extra_repr(self) -> str:
        return (f"alpha={self.alpha}, num_classes={self.num_classes}, label_smoothing={self.label_smoothing}, "
                f"prob={self.prob}, mode={self.mode!r}, k={self.k}, validate={self.validate}")

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if self.k > 2:
            out = mix_k(x, y, num_classes=self.num_classes, k=self.k, alpha=self.alpha,
                        label_smoothing=self.label_smoothing, generator=self.generator, validate=self.validate)
            return out.inputs, out.targets
        batch = _check_x(x)
        n = batch if self.mode == "elem" else 1
        lam = sample_lambda(self.alpha, (n,), self.generator, device=_draw_device(self.generator, x))
        if self.prob < 1.0:
            coin = torch.rand((n,), dtype=torch.float64, generator=self.generator, device=lam.device)
            lam = torch.where(coin < self.prob, lam, torch.ones_like(lam))
        lam = lam if self.mode == "elem" else lam[0]
        out = mix(x, y, num_classes=self.num_classes, lam=lam.to(x.device),
                  label_smoothing=self.label_smoothing, generator=self.generator, validate=self.validate)
        return out.inputs, out.targets
