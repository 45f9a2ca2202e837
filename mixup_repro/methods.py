"""The training methods: one small loss function each, registered with what it needs.

A method turns one training batch (a :class:`Step`) into a loss. Its registration (:func:`register`) states
what it uses, and everything else derives from the registry: :data:`METHODS` and the families
(:data:`MIXING_METHODS`, :data:`SMOOTHING_METHODS`, :data:`CUTMIX_METHODS`), the CLI's ``--method`` choices,
:class:`~mixup_repro.config.TrainConfig`'s checks (label smoothing only where it is used, image data for a
box, in-batch partners for a hidden layer) and the docs table (:func:`methods_table`).

The methods draw λ, the mixing coin, partners and boxes through the public functions of
:mod:`mixup_repro.mixing` (:func:`~mixup_repro.mixing.draw_lambda`, :func:`~mixup_repro.mixing.mix_with`,
:func:`~mixup_repro.mixing.cutmix_box` with ``validate=False``, ...), in a fixed order from the run's mixing
stream, so a seed reproduces a run bit for bit. A training step reads nothing back to the host.

Adding a method: write ``def my_loss(step) -> Tensor`` below, decorate it with ``@register("my_method",
"one line", ...)`` and test it; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .mixing import cutmix_box, draw_lambda, mix_inputs, mix_labels, mix_with, paste_box

__all__ = ["CUTMIX_SWITCH_PROB", "METHODS", "Method", "REGISTRY", "Step", "methods_table", "register", "step_loss"]

CUTMIX_SWITCH_PROB = 0.5
"""The per-batch probability of CutMix (instead of mixup) of method ``mixup_cutmix``: timm's default."""


@dataclass(frozen=True)
class Method:
    """A registered training method: its loss and what it needs.

    ``mixes``: draws λ ~ Beta(α, α) and partners (``alpha``, ``mix_prob``, ``pairing``, ``same_class``
    apply); ``smoothing``: uses ``label_smoothing``; ``image``: needs image data (a box over height and
    width); ``hidden``: mixes a hidden layer (``mix_layer``; in-batch random partners only).
    """

    name: str
    loss: Callable[[Step], Tensor]
    description: str
    mixes: bool = False
    smoothing: bool = False
    image: bool = False
    hidden: bool = False

    @property
    def needs(self) -> tuple[str, ...]:
        """What the method needs, in words (the docs table's second column)."""
        return tuple(word for flag, word in ((self.mixes, "partners (α)"), (self.smoothing, "label smoothing (ε)"),
                                             (self.image, "image data"), (self.hidden, "a hidden layer"))
                     if flag)

    @property
    def external_partners(self) -> bool:
        """Whether its partners may come from outside the batch (``pairing="knn"`` or ``same_class``)."""
        return self.mixes and not self.hidden


REGISTRY: dict[str, Method] = {}
"""Every training method by name, in registration order (the order of :data:`METHODS`)."""


def register(name: str, description: str, *, mixes: bool = False, smoothing: bool = False, image: bool = False,
             hidden: bool = False):
    """Decorator: register ``loss(step) -> Tensor`` as training method ``name`` (see :class:`Method`)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"method name must be an identifier, got {name!r}")
    if name in REGISTRY:
        raise ValueError(f"method {name!r} is already registered")

    def add(loss):
        REGISTRY[name] = Method(name, loss, description, mixes, smoothing, image, hidden)
        return loss
    return add


@dataclass
class Step:
    """One training batch as a method sees it.

    ``x`` (model inputs, augmented and normalised) and ``y`` (class indices) of the batch, ``idx`` their
    training-set indices, ``cfg`` the run's config, ``model`` to call, ``generator`` the run's mixing stream
    and ``partner_source`` (``(idx, y) -> (x2, y2)``) for partners outside the batch (None: in-batch).
    """

    cfg: object
    model: Callable
    x: Tensor
    y: Tensor
    num_classes: int
    generator: torch.Generator
    idx: Tensor | None = None
    partner_source: Callable | None = None

    def lam(self) -> Tensor:
        """The batch's λ (0-d, on the batch's device) after the ``mix_prob`` coin."""
        lam, _ = draw_lambda(self.cfg.alpha, (), prob=self.cfg.mix_prob, generator=self.generator,
                             device=self.generator.device)
        return lam.to(self.x.device)

    def partners(self) -> tuple[Tensor, Tensor, Tensor | None]:
        """``(x2, y2, index)``: the partners' inputs and labels; ``index`` for in-batch partners, else None."""
        if self.partner_source is None:  # in-batch random pairing (the official code)
            index = torch.randperm(self.x.shape[0], generator=self.generator, device=self.x.device)
            return self.x[index], self.y[index], index
        x2, y2 = self.partner_source(self.idx, self.y)
        return x2, y2, None

    def onehot(self, y: Tensor) -> Tensor:
        """(B, K) float32 one-hot targets of class indices ``y``."""
        return F.one_hot(y, self.num_classes).float()


def step_loss(step: Step) -> Tensor:
    """The loss of ``step.cfg.method`` for one batch (a 0-d tensor)."""
    return REGISTRY[step.cfg.method].loss(step)


# ----------------------------------------------------------------------------------------------------------
# The methods (registration order = the order of METHODS)
# ----------------------------------------------------------------------------------------------------------
@register("erm", "plain cross-entropy on the labels")
def erm(step: Step) -> Tensor:
    """Cross-entropy on the labels (smoothed by ε for ``label_smoothing``)."""
    return F.cross_entropy(step.model(step.x), step.y, label_smoothing=step.cfg.label_smoothing)


@register("mixup", "formula (1): mixed inputs, mixed labels (α)", mixes=True)
def mixup(step: Step) -> Tensor:
    """Formula (1), then (2) with ε (0 for ``mixup``)."""
    lam = step.lam()
    x2, y2, _ = step.partners()
    xm, targets = mix_with(step.x, x2, step.onehot(step.y), step.onehot(y2), lam, step.cfg.label_smoothing)
    return F.cross_entropy(step.model(xm), targets)


register("label_smoothing", "formula (2) on one-hot labels (ε)", smoothing=True)(erm)
register("mixup_ls", "mixup, then label smoothing of the mixed labels (α, ε): the extension studied here",
         mixes=True, smoothing=True)(mixup)


@register("mix_inputs_only", "mixed inputs; each keeps the label of its larger-weight source (the paper's ablation)",
          mixes=True)
def mix_inputs_only(step: Step) -> Tensor:
    """Mixed inputs, the label of the larger-weight source, smoothed by ε for ``mix_inputs_ls``."""
    lam = step.lam()
    x2, y2, _ = step.partners()
    label = torch.where(lam >= 0.5, step.y, y2)
    return F.cross_entropy(step.model(mix_inputs(step.x, x2, lam)), label, label_smoothing=step.cfg.label_smoothing)


register("mix_inputs_ls", "mix_inputs_only plus label smoothing (ε): the paper's \"mix inputs + label smoothing\"",
         mixes=True, smoothing=True)(mix_inputs_only)


@register("manifold", "mixes hidden representations after layer mix_layer and the labels (Verma et al. 2019)",
          mixes=True, hidden=True)
def manifold(step: Step) -> Tensor:
    """Manifold mixup: the model mixes its hidden representation after ``mix_layer`` with in-batch partners."""
    lam = step.lam()
    _, y2, index = step.partners()
    targets = mix_labels(step.onehot(step.y), step.onehot(y2), lam)
    logits = step.model(step.x, mix_layer=step.cfg.mix_layer, mix_fn=lambda h: mix_inputs(h, h[index], lam))
    return F.cross_entropy(logits, targets)


@register("gaussian_noise", "adds N(0, σ²) noise (noise_std) to the normalised inputs")
def gaussian_noise(step: Step) -> Tensor:
    """Cross-entropy on inputs with Gaussian noise of standard deviation ``noise_std``."""
    x = step.x
    noise = torch.randn(x.shape, generator=step.generator, device=x.device, dtype=x.dtype)
    return F.cross_entropy(step.model(x + step.cfg.noise_std * noise), step.y)


def _cut(step: Step, switch: bool) -> Tensor:
    """CutMix (Yun et al. 2019): a box of the partner over (H, W), centre drawn after λ and the partners; with
    ``switch`` the batch uses mixup instead with probability 1 - :data:`CUTMIX_SWITCH_PROB` (one λ for both)."""
    x = step.x
    lam = step.lam()
    x2, y2, _ = step.partners()
    box, kept = cutmix_box(lam, tuple(x.shape[-2:]), generator=step.generator, device=x.device, validate=False)
    xm, weight = paste_box(x, x2, box), kept
    if switch:
        coin = torch.rand((), dtype=torch.float64, generator=step.generator, device=x.device)
        use_cut = coin < CUTMIX_SWITCH_PROB
        xm, weight = torch.where(use_cut, xm, mix_inputs(x, x2, lam)), torch.where(use_cut, kept, lam)
    targets = mix_labels(step.onehot(step.y), step.onehot(y2), weight, step.cfg.label_smoothing)
    return F.cross_entropy(step.model(xm), targets)


@register("cutmix", "pastes a box of the partner; labels weighted by the kept area (Yun et al. 2019)",
          mixes=True, image=True)
def cutmix(step: Step) -> Tensor:
    """CutMix, labels smoothed by ε for ``cutmix_ls``."""
    return _cut(step, switch=False)


register("cutmix_ls", "cutmix, then label smoothing of the mixed labels (ε)", mixes=True, smoothing=True,
         image=True)(cutmix)


@register("mixup_cutmix", "CutMix for a batch with probability 0.5, mixup otherwise (timm's switch_prob)",
          mixes=True, image=True)
def mixup_cutmix(step: Step) -> Tensor:
    """CutMix or mixup per batch (:data:`CUTMIX_SWITCH_PROB`), both with ``alpha``."""
    return _cut(step, switch=True)


# ----------------------------------------------------------------------------------------------------------
# What derives from the registry
# ----------------------------------------------------------------------------------------------------------
def names(**flags) -> tuple[str, ...]:
    """The registered methods whose flags (see :class:`Method`) have the given values, in registration order."""
    return tuple(m.name for m in REGISTRY.values() if all(getattr(m, k) == v for k, v in flags.items()))


METHODS = names()
"""Every training method (the ``method`` of a config, the CLI's ``--method`` choices)."""
MIXING_METHODS = names(mixes=True)
"""Methods that draw λ and partners (``alpha``, ``mix_prob``, ``pairing``, ``same_class`` apply)."""
SMOOTHING_METHODS = names(smoothing=True)
"""Methods that use ``label_smoothing``."""
CUTMIX_METHODS = names(image=True)
"""Methods beyond the paper (CutMix, Yun et al. 2019; image data only): ``cutmix`` pastes a box of the partner
(λ ~ Beta(α, α), labels weighted by the kept area, as torchvision's CutMix), ``cutmix_ls`` also smooths the
mixed labels by ``label_smoothing`` (formula (2)), ``mixup_cutmix`` uses CutMix for a batch with probability
:data:`CUTMIX_SWITCH_PROB` and mixup otherwise, both with ``alpha`` (timm's ``switch_prob``)."""


def methods_table() -> str:
    """The methods as a markdown table: name, what it needs, one-line description (for the docs)."""
    rows = ["| method | needs | description |", "|---|---|---|"]
    rows += [f"| `{m.name}` | {', '.join(m.needs) or '-'} | {m.description} |" for m in REGISTRY.values()]
    return "\n".join(rows) + "\n"
