"""Random draws of the mixing weights: λ ~ Beta(α, α), Dirichlet weights, and the mixing-probability coin.

Every draw comes from torch's RNG (optionally an explicit ``torch.Generator``), vectorised and free of
data-dependent loops, hence of host synchronisation on a GPU. :func:`draw_lambda` is the one place where λ and the
``prob`` coin are drawn (:class:`~mixup_repro.mixing.Mixup` and the trainer's methods use it).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._checks import check_alpha, check_generator, check_int, check_prob, check_size

__all__ = ["MAX_DRAWS", "draw_lambda", "sample_dirichlet", "sample_lambda"]

# Marsaglia & Tsang's gamma sampler accepts > 95 % of candidates for shape >= 1; drawing this many
# candidates at once makes "none accepted" (probability < 0.05 ** 32) impossible in practice and keeps
# the sampler free of data-dependent loops, hence of host synchronisation on a GPU.
_GAMMA_CANDIDATES = 32



MAX_DRAWS = 2**31 - 1
"""The most values :func:`sample_dirichlet` / :func:`sample_lambda` draw in one call (17 GB of float64)."""



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
    size = check_size(size)
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


def draw_lambda(alpha: float, size=(), *, prob: float = 1.0, generator: torch.Generator | None = None,
                device=None) -> tuple[Tensor, Tensor | None]:
    r"""λ ~ Beta(α, α) of shape ``size``, then the mixing-probability coin: where it says "unmixed" λ = 1.

    The one λ draw of the library (:class:`Mixup` and the trainer's methods use it). With ``prob < 1`` one
    uniform draw per entry, after the λ draws, decides: ``u >= prob`` leaves that batch / sample unmixed.
    Draws happen on ``device`` (default: the generator's). Returns ``(lam, unmixed)``: float64 λ and the
    boolean "unmixed" mask (None when ``prob == 1``). No host synchronisation.
    """
    prob = check_prob(prob, "prob")
    if device is None and generator is not None:
        device = generator.device
    lam = sample_lambda(alpha, size, generator, device=device)
    unmixed = None
    if prob < 1.0:
        unmixed = torch.rand(size, dtype=torch.float64, generator=generator, device=device) >= prob
        lam = torch.where(unmixed, torch.ones_like(lam), lam)
    return lam, unmixed
