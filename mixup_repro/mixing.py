r"""The mixing core: mixup (Zhang et al., ICLR 2018) and its label-smoothing extension.

Formula (1), mixup, for a pair of examples :math:`(x_i, y_i)` and :math:`(x_j, y_j)` with
:math:`\lambda \sim \mathrm{Beta}(\alpha, \alpha)`:

.. math:: \tilde x = \lambda x_i + (1-\lambda) x_j, \qquad \tilde y = \lambda y_i + (1-\lambda) y_j .

Formula (2), label smoothing of the mixed label over :math:`K` classes with strength :math:`\varepsilon`:

.. math:: \tilde y' = (1-\varepsilon)\,\tilde y + \varepsilon / K .

Because (2) is affine and the mixing weights sum to one, smoothing before mixing and smoothing
after mixing give the same target; the library mixes first, then smooths.

CutMix (Yun et al., 2019), beyond the paper, replaces formula (1)'s blend of the inputs by a box of the
partner pasted into the sample (:func:`cutmix_box`, :func:`cutmix`, :class:`CutMix`); its labels are mixed
by the kept share of the image, then smoothed by (2) in the same way.

Design: nothing is modified in place; every random draw comes from torch's RNG (optionally an
explicit ``torch.Generator``), so a seed reproduces the whole stream of λ, partners and boxes; every batch
size >= 1 works; targets are float32 (float64 when the inputs or targets are float64) whatever the
dtype of ``x``, so bf16 inputs never round the labels. The arguments are validated up front, with messages
that name them, as ``torchvision.transforms.v2`` does.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from ._checks import (
    as_lam,
    check_alpha,
    check_batch,
    check_bool,
    check_box_dims,
    check_choice,
    check_eps,
    check_generator,
    check_index,
    check_int,
    check_lam,
    check_num_classes,
    check_prob,
    check_targets,
)
from .sampling import draw_lambda, sample_dirichlet, sample_lambda

__all__ = [
    "PAIRINGS",
    "CutMix",
    "MixedBatch",
    "Mixup",
    "cutmix",
    "cutmix_box",
    "draw_lambda",
    "mix",
    "mix_inputs",
    "mix_k",
    "mix_labels",
    "mix_with",
    "mixup_criterion",
    "paste_box",
    "sample_dirichlet",
    "sample_lambda",
    "smooth_labels",
]

class MixedBatch(NamedTuple):
    """Result of :func:`mix` / :func:`mix_k` / :func:`cutmix`.

    Attributes
    ----------
    inputs : Tensor
        The mixed inputs, same shape and dtype as ``x``.
    targets : Tensor
        Mixed (and smoothed) probability targets of shape (B, K), float32 (float64 for float64 data).
    lam : Tensor
        The mixing weights used: a 0-d tensor (one λ for the batch) or a (B,) tensor for :func:`mix`;
        (k,) or (B, k) weights for :func:`mix_k`; for :func:`cutmix` the labels' weight (0-d or (B,)): the
        kept share of the image (area-corrected λ) unless ``correct_lam=False``.
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
def _draw_device(generator: torch.Generator | None, x: Tensor) -> torch.device:
    """Where random draws happen: on the generator's device, or on the batch's device without one."""
    return generator.device if generator is not None else x.device


# ----------------------------------------------------------------------------------------------------------
# Validation of tensors
# ----------------------------------------------------------------------------------------------------------
def _target_dtype(x: Tensor, y: Tensor) -> torch.dtype:
    if x.dtype == torch.float64 or y.dtype == torch.float64:
        return torch.float64
    return torch.float32


def _unwrap_tv(x, name: str = "x"):
    """``(plain tensor, original)`` for a ``torchvision.tv_tensors`` Image / Video (to re-wrap the result),
    ``(x, None)`` for anything else; masks, bounding boxes and key points are refused, as torchvision does.

    torchvision is looked up among the imported modules only: an object can only be a tv_tensor once
    ``torchvision.tv_tensors`` has been imported, so the mixing core never imports torchvision itself.
    """
    tv = sys.modules.get("torchvision.tv_tensors")
    if tv is None or not isinstance(x, tv.TVTensor):
        return x, None
    if isinstance(x, (tv.Image, tv.Video)):
        return x.as_subclass(Tensor), x
    raise TypeError(f"{name} is a torchvision.tv_tensors.{type(x).__name__}: only Image and Video batches (or plain "
                    "tensors) are mixed; masks, bounding boxes and key points cannot be mixed with their labels "
                    "(torchvision's MixUp and CutMix refuse them too)")


def _rewrap(out: Tensor, like):
    if like is None:
        return out
    return sys.modules["torchvision.tv_tensors"].wrap(out, like=like)


PAIRINGS = ("permutation", "roll", "flip", "cycle")
"""How :func:`mix`, :func:`cutmix` and :class:`Mixup` choose each sample's partner in the batch:

``"permutation"``
    a random permutation (the official mixup code); a sample is its own partner with probability 1/B
    (about one fixed point per batch on average): it then keeps its own input and label.
``"roll"``
    sample ``i`` with ``i - 1`` (``torchvision.transforms.v2.MixUp`` / ``CutMix``); no sample is its own
    partner for B >= 2, and the pairs are random only if the batch was shuffled.
``"flip"``
    sample ``i`` with ``B - 1 - i`` (timm); in an odd batch the middle sample is its own partner.
``"cycle"``
    a random cyclic order through the batch: random like ``"permutation"``, and no sample is its own
    partner for B >= 2. The way to avoid self-pairs without relying on a shuffled batch.
"""


def _pair_index(batch: int, pairing: str, generator, device, out_device) -> Tensor:
    """The (B,) partner index of ``pairing`` (drawn on ``device``, returned on ``out_device``); no host sync."""
    if pairing == "roll":
        return torch.arange(batch, device=out_device).roll(1)
    if pairing == "flip":
        return torch.arange(batch - 1, -1, -1, device=out_device)
    perm = torch.randperm(batch, generator=generator, device=device).to(out_device)
    if pairing == "permutation":
        return perm
    # perm[i] is mixed with perm[i + 1]: one cycle through the whole batch
    return torch.empty_like(perm).scatter_(0, perm, perm.roll(-1))


# ----------------------------------------------------------------------------------------------------------
# Targets
# ----------------------------------------------------------------------------------------------------------
def _as_probs(y: Tensor, num_classes: int, dtype: torch.dtype) -> Tensor:
    if y.dim() == 1:
        return torch.nn.functional.one_hot(y.long(), num_classes).to(dtype)
    return y.to(dtype)


def smooth_labels(y: Tensor, num_classes: int | None, eps: float, *, multi_label: bool = False) -> Tensor:
    r"""Label smoothing, formula (2): :math:`y' = (1-\varepsilon)\,y + \varepsilon / K`.

    Parameters
    ----------
    y : Tensor
        Class indices (B,) or (B, K) targets (e.g. mixed labels; floating point, or integer / bool one-hot).
    num_classes : int or None
        K >= 2; None takes K from the width of (B, K) targets.
    eps : float
        Smoothing strength ε in [0, 1).
    multi_label : bool
        Accept (B, K) rows that do not sum to 1 (multi-hot); formula (2) is applied to every entry as is, so
        an active class gets :math:`1-\varepsilon+\varepsilon/K` and an inactive one :math:`\varepsilon/K`
        (timm's on/off values); a row then sums to :math:`(1-\varepsilon)\,s + \varepsilon` for a row sum
        :math:`s`.

    Returns
    -------
    Tensor
        (B, K) float32 targets (float64 if ``y`` is float64); ``y`` is not modified.
    """
    eps = check_eps(eps, "eps")
    if not isinstance(y, Tensor):
        raise TypeError(f"y must be a torch.Tensor, got {type(y).__name__}")
    if y.dim() == 0 or y.shape[0] == 0:
        raise ValueError(f"y must hold at least one sample, got shape {tuple(y.shape)}")
    num_classes = check_targets(y, y.shape[0], num_classes, multi_label=check_bool("multi_label", multi_label))
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


def mix_labels(probs: Tensor, probs2: Tensor, lam: Tensor, eps: float = 0.0) -> Tensor:
    """Formula (1) on (B, K) float targets then (2), unchecked: ``smooth(λ·probs + (1−λ)·probs2, ε)``.

    ``lam`` is a 0-d or (B,) tensor (for CutMix: the kept share of the image); no host synchronisation.
    """
    lt = lam.to(probs.dtype)
    lt = lt[:, None] if lt.dim() == 1 else lt
    return _smooth(lt * probs + (1 - lt) * probs2, eps)


def mix(x: Tensor, y: Tensor, *, num_classes: int | None = None, alpha: float = 1.0, lam=None,
        index: Tensor | None = None, pairing: str = "permutation", label_smoothing: float = 0.0,
        multi_label: bool = False, generator: torch.Generator | None = None, validate: bool = True) -> MixedBatch:
    r"""Mix a batch with its partners (mixup, formula (1)), then smooth the mixed labels (formula (2)).

    .. math::
        \tilde x = \lambda x + (1-\lambda)\, x[\mathrm{index}], \qquad
        \tilde y = (1-\varepsilon)\big(\lambda y + (1-\lambda)\, y[\mathrm{index}]\big) + \varepsilon / K

    Parameters
    ----------
    x : Tensor
        Floating-point inputs, batch first, any rank >= 2: (B, F) tabular, (B, T, F) sequences,
        (B, C, H, W) images, (B, C, D, H, W) volumes. Not modified. A ``torchvision.tv_tensors.Image`` /
        ``Video`` comes back as one; masks, bounding boxes and key points are refused (``TypeError``).
    y : Tensor
        Class indices (B,) in [0, K), or (B, K) targets: probabilities (rows summing to 1), or integer /
        bool one-hot rows (as torchvision accepts). Not modified.
    num_classes : int, optional
        K >= 2; required for class indices, optional for (B, K) targets (their width).
    alpha : float
        λ ~ Beta(α, α) when ``lam`` is None; α = 0 means λ = 1 (no mixing).
    lam : None, float, Tensor or NumPy array
        None draws one λ for the whole batch (as the paper does); a number in [0, 1] (Python or NumPy
        scalar); or a (B,) tensor / array (one λ per sample; a NumPy float32 array as timm makes works).
    index : Tensor, optional
        (B,) LongTensor naming each sample's partner; None draws it by ``pairing``.
    pairing : {"permutation", "roll", "flip", "cycle"}
        How partners are drawn when ``index`` is None (see :data:`PAIRINGS`): a random permutation (the
        official code), ``i`` with ``i - 1`` (torchvision), ``i`` with ``B - 1 - i`` (timm), or a random
        cycle (random, and no sample is its own partner).
    label_smoothing : float
        ε in [0, 1), applied to the mixed labels.
    multi_label : bool
        Accept (B, K) multi-hot targets whose rows need not sum to 1 (entries in [0, 1]); they are mixed
        and smoothed by the same formulas (see :func:`smooth_labels` for the smoothed target).
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
    x, like = _unwrap_tv(x)
    batch = check_batch(x)
    alpha = check_alpha(alpha)
    eps = check_eps(label_smoothing)
    check_bool("validate", validate)
    check_choice("pairing", pairing, PAIRINGS)
    check_generator("generator", generator)
    num_classes = check_targets(y, batch, num_classes, values=validate,
                                 multi_label=check_bool("multi_label", multi_label))
    if lam is None:
        lam_t = sample_lambda(alpha, (), generator, device=_draw_device(generator, x)).to(x.device)
    else:
        lam_t = check_lam(lam, batch, x.device, values=validate)
    if index is None:
        index = _pair_index(batch, pairing, generator, _draw_device(generator, x), x.device)
    else:
        index = check_index(index, batch, x.device, values=validate)
    probs = _as_probs(y.to(x.device), num_classes, _target_dtype(x, y))
    out = _mix_pair(x, probs, lam_t, index, eps)
    return out._replace(inputs=_rewrap(out.inputs, like))


# ----------------------------------------------------------------------------------------------------------
# CutMix
# ----------------------------------------------------------------------------------------------------------
def cutmix_box(lam, size, *, center=None, generator: torch.Generator | None = None, device=None,
               validate: bool = True) -> tuple[Tensor, Tensor]:
    r"""The CutMix box (Yun et al., 2019) for mixing weight(s) λ, and the λ its clipped area gives.

    Over the ``d = len(size)`` trailing dimensions of sizes :math:`S_1 \dots S_d` (``(H, W)`` for images),
    the box is centred on a uniformly drawn pixel :math:`c_k \in \{0, \dots, S_k - 1\}` and has half-sides
    :math:`h_k = \lfloor \tfrac12 (1-\lambda)^{1/d} S_k \rfloor`; it spans ``[c_k - h_k, c_k + h_k)``
    clipped to the image. Uncut, its volume would be about :math:`(1-\lambda)\prod_k S_k`; the returned
    λ is one minus the clipped box's share of the image, the weight of the kept image in the labels
    (torchvision's ``CutMix`` always uses it; timm's ``correct_lam``). For ``d = 2`` the formula is
    torchvision's: the same λ and centre give the same box.

    Parameters
    ----------
    lam : float, Tensor or NumPy array
        λ in [0, 1]: one number / 0-d tensor (one box), or a (B,) tensor (one box per sample).
    size : tuple of int
        The sizes of the boxed dimensions, e.g. ``(H, W)`` or ``(D, H, W)``.
    center : Tensor or sequence, optional
        Integer centre(s), shape ``(d,)`` or ``(B, d)`` (in the order of ``size``); None draws them.
    generator : torch.Generator, optional
        Source of the centres (drawn after nothing else: one ``randint`` per dimension, in order).
    device : torch.device, optional
        Where to draw and return; default: the generator's device, else ``lam``'s.
    validate : bool
        Check that λ is in [0, 1] (a host read on a GPU); ``False`` for training steps (see :func:`mix`).

    Returns
    -------
    (box, lam) : (Tensor, Tensor)
        ``box`` int64 of shape ``(*lam.shape, d, 2)``: ``box[..., k, 0]`` and ``box[..., k, 1]`` are the start
        and stop along dimension ``k`` of ``size`` (so for images ``box[..., 0, :]`` are the rows ``y1, y2`` and
        ``box[..., 1, :]`` the columns ``x1, x2``); ``lam`` float64, the area-corrected λ.
    """
    if not isinstance(size, (tuple, list, torch.Size)) or not size:
        raise TypeError(f"size must be a non-empty tuple of ints (the boxed dimensions), got {size!r}")
    size = tuple(check_int("size", s, low=1) for s in size)
    if device is None:
        device = generator.device if generator is not None else (lam.device if isinstance(lam, Tensor) else "cpu")
    lam = as_lam(lam, "lam")
    lam_t = check_lam(lam, lam.shape[0] if isinstance(lam, Tensor) and lam.dim() == 1 else 1, device,
                       values=check_bool("validate", validate))
    return _cutmix_box(lam_t, size, center, generator, device)


def _cutmix_box(lam: Tensor, size: tuple[int, ...], center, generator, device) -> tuple[Tensor, Tensor]:
    """Unchecked :func:`cutmix_box` on a float64 ``lam`` tensor; no host synchronisation."""
    d = len(size)
    lam = lam.to(device)
    ratio = torch.sqrt(1.0 - lam) if d == 2 else (1.0 - lam).pow(1.0 / d)
    r = 0.5 * ratio
    if center is None:
        center = torch.stack([torch.randint(s, lam.shape, generator=generator, device=device) for s in size], -1)
    else:
        center = torch.as_tensor(center, device=device)
        if center.shape != (*lam.shape, d) or center.is_floating_point() or center.dtype == torch.bool:
            raise ValueError(f"center must be an integer tensor of shape {(*lam.shape, d)}, got "
                             f"{tuple(center.shape)} ({center.dtype})")
        center = center.long()
    # per dimension with Python sizes: no host-to-device copy (which would synchronise on a GPU)
    half = torch.stack([torch.floor(r * s) for s in size], -1).long()
    lo = (center - half).clamp_min(0)
    hi = torch.stack([(center[..., k] + half[..., k]).clamp_max(s) for k, s in enumerate(size)], -1)
    box = torch.stack([lo, hi], -1)
    area = (hi - lo).clamp_min(0).prod(-1).double()
    return box, 1.0 - area / math.prod(size)


def _box_mask(box: Tensor, x: Tensor) -> Tensor:
    """Boolean mask broadcasting against ``x`` (B, ..., S_1..S_d): True inside the box(es)."""
    d = box.shape[-2]
    per_sample = box.dim() == 3
    mask = None
    for k in range(d):
        dim = x.dim() - d + k
        coord = torch.arange(x.shape[dim], device=x.device)
        lo, hi = box[..., k, 0, None], box[..., k, 1, None]
        inside = (coord >= lo) & (coord < hi)  # (S,) or (B, S)
        shape = [1] * x.dim()
        shape[dim] = x.shape[dim]
        if per_sample:
            shape[0] = box.shape[0]
        inside = inside.reshape(shape)
        mask = inside if mask is None else mask & inside
    return mask


def paste_box(x: Tensor, x2: Tensor, box: Tensor) -> Tensor:
    """CutMix's inputs, unchecked: ``x`` with the box(es) of :func:`cutmix_box` taken from ``x2`` (explicit
    partners, in the batch or not; no arithmetic: exact in any dtype; no host synchronisation)."""
    return torch.where(_box_mask(box.to(x.device), x), x2, x)


def cutmix(x: Tensor, y: Tensor, *, num_classes: int | None = None, alpha: float = 1.0, lam=None,
           box: Tensor | None = None, index: Tensor | None = None, pairing: str = "permutation", box_dims: int = 2,
           correct_lam: bool = True, label_smoothing: float = 0.0, multi_label: bool = False,
           generator: torch.Generator | None = None, validate: bool = True) -> MixedBatch:
    r"""CutMix (Yun et al., 2019): paste a box of each sample's partner into it, mix the labels by area, smooth.

    .. math::
        \tilde x = M \odot x + (1 - M) \odot x[\mathrm{index}], \qquad
        \tilde y = (1-\varepsilon)\big(\lambda' y + (1-\lambda')\, y[\mathrm{index}]\big) + \varepsilon / K

    with :math:`M` zero inside the box of :func:`cutmix_box` for :math:`\lambda \sim \mathrm{Beta}(\alpha,
    \alpha)`, and :math:`\lambda'` one minus the box's share of the image (``correct_lam``; else λ itself).

    Parameters
    ----------
    x : Tensor
        Floating-point inputs whose last ``box_dims`` dimensions are spatial: (B, C, H, W) images, or
        (B, C, D, H, W) volumes / (B, T, C, H, W) videos (with ``box_dims=2`` one (H, W) box for every slice
        or frame, as torchvision does for videos; ``box_dims=3`` cuts a (D, H, W) cuboid). Any batch size.
        Not modified; tv_tensors as in :func:`mix`.
    y, num_classes, label_smoothing, multi_label, pairing, generator
        As in :func:`mix`.
    alpha : float
        λ ~ Beta(α, α) when neither ``lam`` nor ``box`` is given.
    lam : None, float, Tensor or NumPy array
        The λ the box is drawn from: one number (one box for the batch) or a (B,) tensor / array (one box
        per sample).
    box : Tensor, optional
        An explicit box, int64 ``(box_dims, 2)`` or ``(B, box_dims, 2)`` as :func:`cutmix_box` returns;
        with ``correct_lam=False`` ``lam`` must be given too (the label weight).
    index : Tensor, optional
        (B,) partners; None draws them by ``pairing``.
    box_dims : int
        How many trailing dimensions the box spans (2: H and W).
    correct_lam : bool
        Label weight = the kept share of the image (True, torchvision's behaviour) or the drawn λ (False).
    validate : bool
        As in :func:`mix`; with ``False`` and everything on the GPU the call reads nothing back to the host.

    Returns
    -------
    MixedBatch
        ``lam`` is the label weight used (the area-corrected λ unless ``correct_lam=False``), 0-d or (B,).
    """
    x, like = _unwrap_tv(x)
    batch = check_batch(x)
    alpha = check_alpha(alpha)
    eps = check_eps(label_smoothing)
    check_bool("validate", validate)
    check_bool("correct_lam", correct_lam)
    check_choice("pairing", pairing, PAIRINGS)
    d = check_box_dims(box_dims)
    if x.dim() < d + 1:
        raise ValueError(f"box_dims = {d} needs x of rank >= {d + 1} (batch first, then the boxed dimensions), "
                         f"got shape {tuple(x.shape)}")
    num_classes = check_targets(y, batch, num_classes, values=validate,
                                 multi_label=check_bool("multi_label", multi_label))
    gdev = _draw_device(generator, x)
    lam_t = None
    if lam is None and box is None:
        lam_t = sample_lambda(alpha, (), generator, device=gdev).to(x.device)
    elif lam is not None:
        lam_t = check_lam(lam, batch, x.device, values=validate)
    if index is None:
        index = _pair_index(batch, pairing, generator, gdev, x.device)
    else:
        index = check_index(index, batch, x.device, values=validate)
    size = tuple(x.shape[-d:])
    if box is None:
        box, lam_adj = _cutmix_box(lam_t, size, None, generator, gdev)
        box, lam_adj = box.to(x.device), lam_adj.to(x.device)
    else:
        if not isinstance(box, Tensor) or box.shape not in ((d, 2), (batch, d, 2)) or box.is_floating_point():
            raise ValueError(f"box must be an integer tensor of shape ({d}, 2) or ({batch}, {d}, 2) "
                             f"(start, stop per boxed dimension), got {getattr(box, 'shape', type(box).__name__)}")
        box = box.to(device=x.device, dtype=torch.int64)
        stop = torch.stack([box[..., k, 1].clamp_max(s) for k, s in enumerate(size)], -1)
        box = torch.stack([box[..., 0].clamp_min(0), stop], -1)
        if lam_t is None and not correct_lam:
            raise ValueError("lam must be given with box when correct_lam=False (it is then the label weight)")
        area = (box[..., 1] - box[..., 0]).clamp_min(0).prod(-1).double()
        lam_adj = 1.0 - area / math.prod(size)
    weight = lam_adj if correct_lam else lam_t
    if weight.dim() == 0 and box.dim() == 3:
        weight = weight.expand(batch)
    probs = _as_probs(y.to(x.device), num_classes, _target_dtype(x, y))
    inputs = paste_box(x, x[index], box)
    targets = mix_labels(probs, probs[index], weight, eps)
    return MixedBatch(_rewrap(inputs, like), targets, weight, index)


def mix_k(x: Tensor, y: Tensor, *, num_classes: int | None = None, k: int = 3, alpha: float = 1.0, weights: Tensor | None = None,
          per_sample: bool = False, label_smoothing: float = 0.0, multi_label: bool = False,
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
    weights : Tensor or NumPy array, optional
        Given weights, (k,) or (B, k), non-negative, summing to 1 along the last axis.
    per_sample : bool
        Draw one weight vector per sample instead of one per batch.
    x, y, num_classes, alpha, label_smoothing, multi_label, generator, validate
        As in :func:`mix`.

    Returns
    -------
    MixedBatch
        ``lam`` holds the weights and ``index`` the (k, B) partner table.
    """
    x, like = _unwrap_tv(x)
    batch = check_batch(x)
    k = check_int("k", k, low=2)
    alpha = check_alpha(alpha)
    eps = check_eps(label_smoothing)
    check_bool("validate", validate)
    check_generator("generator", generator)
    num_classes = check_targets(y, batch, num_classes, values=validate,
                                 multi_label=check_bool("multi_label", multi_label))
    gdev = _draw_device(generator, x)
    if weights is None:
        weights = sample_dirichlet(alpha, k, (batch,) if per_sample else (), generator=generator, device=gdev)
    else:
        if isinstance(weights, np.ndarray):
            weights = torch.tensor(np.asarray(weights, dtype=np.float64))
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
        return MixedBatch(_rewrap(out.inputs, like), out.targets, weights, index)
    inputs = sum(_broadcast(wx[..., j], x) * x[index[j]] for j in range(k))
    targets = sum((wt[..., j, None] if wt.dim() == 2 else wt[j]) * probs[index[j]] for j in range(k))
    return MixedBatch(_rewrap(inputs, like), _smooth(targets, eps), weights, index)


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
    lam : float, NumPy scalar or 0-d Tensor
        The batch's λ in [0, 1].
    """
    if not callable(criterion):
        raise TypeError(f"criterion must be callable, got {type(criterion).__name__}")
    lam = as_lam(lam, "lam")
    if isinstance(lam, Tensor) and lam.dim() != 0:
        raise ValueError("lam must be a number or a 0-d tensor; for one λ per sample use cross-entropy on "
                         "the soft targets returned by mix()")
    lam_v = float(check_lam(lam, 1, "cpu"))
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
def _call_form(inputs: tuple, kwargs: dict):
    """``(x, y, pack)`` for ``m(x, y)``, ``m(x=x, y=y)`` or ``m((x, y))`` / ``m([x, y])``; ``pack`` rebuilds that form."""
    if kwargs:
        names = ("x", "y")[len(inputs):]
        if len(inputs) > 2 or set(kwargs) != set(names):
            raise TypeError(f"expected a batch as (x, y) or as one (x, y) tuple or list; got keyword argument(s) "
                            f"{', '.join(sorted(kwargs))}")
        inputs = (*inputs, *(kwargs[n] for n in names))
    if len(inputs) == 2:
        return inputs[0], inputs[1], lambda a, b: (a, b)
    if len(inputs) == 1 and isinstance(inputs[0], (tuple, list)) and len(inputs[0]) == 2:
        kind = type(inputs[0]) if type(inputs[0]) in (tuple, list) else tuple
        return inputs[0][0], inputs[0][1], lambda a, b: kind((a, b))
    raise TypeError(f"expected a batch as (x, y) or as one (x, y) tuple or list, got {len(inputs)} argument(s)"
                    + (f" of type {type(inputs[0]).__name__}" if len(inputs) == 1 else ""))


class Mixup(nn.Module):
    r"""Mixup (+ label smoothing), optionally switching to CutMix, as a batch transform:
    ``x_mix, y_soft = Mixup(...)(x, y)``.

    A drop-in for ``torchvision.transforms.v2.MixUp`` in a training loop or a ``collate_fn``: the same call
    forms (``m(x, y)``, or one ``(x, y)`` tuple / list, returned in the same form), labels as class indices
    or (B, K) one-hot / probability rows (integer, bool or float; ``num_classes`` may then be omitted),
    ``tv_tensors.Image`` / ``Video`` re-wrapped and masks, boxes and key points refused, (B, K) float
    targets. ``pairing="roll"`` pairs the samples as torchvision does (λ comes from this module's
    generator, not from torch's global RNG). Beyond it: label smoothing of formula (2), a mixing
    probability, one λ per sample or per pair, k-sample mixing, CutMix switching (timm's ``switch_prob``),
    any batch size and no in-place change of the inputs.

    Parameters
    ----------
    alpha : float
        Beta(α, α) / Dirichlet(α, …, α) concentration of mixup, >= 0 (0 disables mixing).
    num_classes : int, optional
        K >= 2; required for class-index labels, optional for (B, K) labels (their width).
    label_smoothing : float
        ε in [0, 1) applied to the (mixed) labels.
    prob : float
        Probability in [0, 1] that a batch (``mode="batch"``), a sample (``"elem"``) or a pair (``"pair"``) is
        mixed (the ``mixup_prob`` knob). An unmixed batch/sample gets λ = 1, i.e. its own (smoothed) one-hot
        target; the output shapes never change.
    mode : {"batch", "elem", "pair"}
        One λ per batch (the paper), one λ per sample (vectorised), or one λ per pair of samples ``i`` and
        ``B - 1 - i``, each mixed with the other (timm's ``'pair'``; with CutMix the two swap one box; any batch
        size: the middle sample of an odd batch is its own partner and stays unmixed).
    k : int
        Number of samples mixed (2 = mixup; > 2 uses Dirichlet weights, the ``mixup_double`` idea;
        ``mode`` must then be "batch", ``prob`` 1, ``switch_prob`` 0 and ``pairing`` the default).
    pairing : {"permutation", "roll", "flip", "cycle"}, optional
        How partners are chosen (see :data:`PAIRINGS`); None: ``"permutation"`` (the official code), or
        ``"flip"`` for ``mode="pair"`` (the only pairing that mode allows). ``"cycle"`` never pairs a sample
        with itself (B >= 2).
    switch_prob : float
        Probability in [0, 1] that a mixed batch (``"batch"`` / ``"pair"`` modes: per batch; ``"elem"``: per
        sample) uses CutMix instead of mixup (timm's ``switch_prob``); 1 = CutMix only (see :class:`CutMix`).
    cutmix_alpha : float, optional
        Beta concentration of CutMix's λ; None: ``alpha``.
    correct_lam : bool
        CutMix's label weight is the kept share of the image after clipping the box (True, as torchvision)
        or the drawn λ (False).
    box_dims : int
        Trailing dimensions CutMix's box spans (2: H, W; 3: D, H, W of a volume).
    multi_label : bool
        Accept (B, K) multi-hot labels whose rows need not sum to 1 (see :func:`smooth_labels`).
    mix_in_eval : bool
        In ``.eval()`` mode the module mixes nothing unless this is True (fastai never mixes validation
        batches; timm has a switch): ``x`` comes back as is and the labels as their (B, K) float targets,
        unsmoothed. A new module is in training mode, so it mixes until ``.eval()`` is called.
    generator : torch.Generator, optional
        Source of randomness (λ, partners, boxes, the ``prob`` and ``switch_prob`` coins); without one, they
        are drawn on the batch's device. Used as a ``collate_fn`` in DataLoader worker processes, each worker
        starts from a copy of this generator's state and would draw the same stream: re-seed it per worker
        (``worker_init_fn``) or leave it None (torch seeds workers differently).
    validate : bool
        Check label values on every call (see :func:`mix`); ``False`` avoids the host synchronisation this
        costs per batch on a GPU (with ``x`` and ``y`` on the GPU and a generator there or none).
    """

    def __init__(self, alpha: float = 1.0, *, num_classes: int | None = None, label_smoothing: float = 0.0,
                 prob: float = 1.0, mode: str = "batch", k: int = 2, pairing: str | None = None,
                 switch_prob: float = 0.0, cutmix_alpha: float | None = None, correct_lam: bool = True,
                 box_dims: int = 2, multi_label: bool = False, mix_in_eval: bool = False,
                 generator: torch.Generator | None = None, validate: bool = True):
        super().__init__()
        self.alpha = check_alpha(alpha)
        self.num_classes = None if num_classes is None else check_num_classes(num_classes)
        self.label_smoothing = check_eps(label_smoothing)
        self.prob = check_prob(prob, "prob")
        self.mode = check_choice("mode", mode, ("batch", "elem", "pair"))
        self.k = check_int("k", k, low=2)
        if pairing is not None:
            check_choice("pairing", pairing, PAIRINGS)
        if self.mode == "pair" and pairing not in (None, "flip"):
            raise ValueError(f"pairing must be 'flip' (or None) for mode='pair' (sample i and B - 1 - i mix with "
                             f"each other), got {pairing!r}")
        self.pairing = pairing if pairing is not None else ("flip" if self.mode == "pair" else "permutation")
        self.switch_prob = check_prob(switch_prob, "switch_prob")
        self.cutmix_alpha = self.alpha if cutmix_alpha is None else check_alpha(cutmix_alpha, "cutmix_alpha")
        self.correct_lam = check_bool("correct_lam", correct_lam)
        self.box_dims = check_box_dims(box_dims)
        self.multi_label = check_bool("multi_label", multi_label)
        self.mix_in_eval = check_bool("mix_in_eval", mix_in_eval)
        if self.k > 2 and (self.mode != "batch" or self.prob != 1.0 or self.switch_prob != 0.0
                           or self.pairing != "permutation"):
            raise ValueError(f"k = {self.k} (more than two samples) supports only mode='batch', prob=1, "
                             "switch_prob=0 and the default pairing")
        self.generator = check_generator("generator", generator)
        self.validate = check_bool("validate", validate)

    def extra_repr(self) -> str:
        s = (f"alpha={self.alpha}, num_classes={self.num_classes}, label_smoothing={self.label_smoothing}, "
             f"prob={self.prob}, mode={self.mode!r}, k={self.k}, pairing={self.pairing!r}")
        if self.switch_prob > 0:
            s += (f", switch_prob={self.switch_prob}, cutmix_alpha={self.cutmix_alpha}, "
                  f"correct_lam={self.correct_lam}, box_dims={self.box_dims}")
        return s + f", mix_in_eval={self.mix_in_eval}, validate={self.validate}"

    def forward(self, *inputs, **kwargs):
        x, y, pack = _call_form(inputs, kwargs)
        plain, like = _unwrap_tv(x)
        batch = check_batch(plain)
        num_classes = check_targets(y, batch, self.num_classes, values=self.validate, multi_label=self.multi_label)
        if not self.training and not self.mix_in_eval:
            return pack(x, _as_probs(y.to(plain.device), num_classes, _target_dtype(plain, y)))
        if self.k > 2:
            out = mix_k(plain, y, num_classes=num_classes, k=self.k, alpha=self.alpha, multi_label=self.multi_label,
                        label_smoothing=self.label_smoothing, generator=self.generator, validate=False)
            return pack(_rewrap(out.inputs, like), out.targets)
        if self.switch_prob > 0 and plain.dim() < self.box_dims + 1:
            raise ValueError(f"switch_prob > 0 (CutMix) needs x with {self.box_dims} trailing spatial dimensions "
                             f"(box_dims) after the batch dimension, got shape {tuple(plain.shape)}")
        g, gdev = self.generator, _draw_device(self.generator, plain)
        n = 1 if self.mode == "batch" else batch
        cut_only = self.switch_prob == 1.0
        lam, unmixed = draw_lambda(self.cutmix_alpha if cut_only else self.alpha, (n,), prob=self.prob, generator=g,
                                   device=gdev)
        use_cut = None
        if 0.0 < self.switch_prob < 1.0:
            lam_cut = sample_lambda(self.cutmix_alpha, (n,), g, device=gdev)
            use_cut = torch.rand((n,), dtype=torch.float64, generator=g, device=gdev) < self.switch_prob
            if unmixed is not None:  # an unmixed batch/sample stays unmixed (λ = 1: an empty box)
                lam_cut = torch.where(unmixed, torch.ones_like(lam_cut), lam_cut)
        index = _pair_index(batch, self.pairing, g, gdev, plain.device)
        if self.mode == "pair":  # sample i and B - 1 - i share the draws of the first of them
            first = torch.minimum(torch.arange(batch, device=gdev), torch.arange(batch - 1, -1, -1, device=gdev))
            lam = lam[first]
            if use_cut is not None:
                lam_cut, use_cut = lam_cut[first], use_cut[first]
        if self.mode == "batch":
            lam = lam[0]
            if use_cut is not None:
                lam_cut, use_cut = lam_cut[0], use_cut[0]
        lam = lam.to(plain.device)
        probs = _as_probs(y.to(plain.device), num_classes, _target_dtype(plain, y))
        x2, probs2 = plain[index], probs[index]
        if self.switch_prob == 0.0:
            inputs, weight = mix_inputs(plain, x2, lam), lam
        else:
            size = tuple(plain.shape[-self.box_dims:])
            lc = lam if cut_only else lam_cut.to(plain.device)
            box, lam_adj = _cutmix_box(lc, size, None, g, gdev)
            if self.mode == "pair":  # one box per pair: the two samples swap the same region (timm's pair mode)
                box, lam_adj = box[first], lam_adj[first]
            box = box.to(plain.device)
            cut_inputs = paste_box(plain, x2, box)
            cut_weight = lam_adj.to(plain.device) if self.correct_lam else lc
            if cut_only:
                inputs, weight = cut_inputs, cut_weight
            else:
                use_cut = use_cut.to(plain.device)
                mixed = mix_inputs(plain, x2, lam)
                inputs = torch.where(use_cut.reshape(-1, *[1] * (plain.dim() - 1)) if use_cut.dim() else use_cut,
                                     cut_inputs, mixed)
                weight = torch.where(use_cut, cut_weight, lam)
        targets = mix_labels(probs, probs2, weight, self.label_smoothing)
        return pack(_rewrap(inputs, like), targets)


class CutMix(Mixup):
    r"""CutMix (Yun et al., 2019) + label smoothing as a batch transform: ``x_mix, y_soft = CutMix(...)(x, y)``.

    A drop-in for ``torchvision.transforms.v2.CutMix`` in the same sense as :class:`Mixup` for ``MixUp``
    (``pairing="roll"`` for torchvision's pairing): the box of :func:`cutmix_box` for λ ~ Beta(α, α), labels
    weighted by the kept area (``correct_lam``), then smoothed by ε. It is :class:`Mixup` with
    ``switch_prob=1``; ``mode="elem"`` draws one box per sample, ``mode="pair"`` one per pair. The other
    parameters are :class:`Mixup`'s.
    """

    def __init__(self, alpha: float = 1.0, *, num_classes: int | None = None, label_smoothing: float = 0.0,
                 prob: float = 1.0, mode: str = "batch", pairing: str | None = None, correct_lam: bool = True,
                 box_dims: int = 2, multi_label: bool = False, mix_in_eval: bool = False,
                 generator: torch.Generator | None = None, validate: bool = True):
        super().__init__(alpha, num_classes=num_classes, label_smoothing=label_smoothing, prob=prob, mode=mode,
                         pairing=pairing, switch_prob=1.0, correct_lam=correct_lam, box_dims=box_dims,
                         multi_label=multi_label, mix_in_eval=mix_in_eval, generator=generator, validate=validate)
