r"""GANs on 2-D toy distributions, with and without mixup on the discriminator: data, networks, training.

The paper's last experiment trains a GAN on two toy problems, eight Gaussians on a ring and 25 Gaussians on a
grid, and shows that mixing the discriminator's inputs stabilises adversarial training. Everything the book's
GAN chapter trains is here: the data (:func:`mode_centers`, :func:`sample_toy`), the networks
(:class:`GANGenerator`, :class:`GANDiscriminator`), the losses, one training function for both variants
(:func:`train_gan`, one results file per run with provenance) and the metrics (:func:`mode_coverage`,
:func:`energy_distance`). The chapter's tables and figures are in :mod:`mixup_repro.gan_report`; both are
re-exported by :mod:`mixup_repro.gan`.

The formulation implemented
---------------------------
With a real batch :math:`x_{1..B}`, a fake batch :math:`g(z_{1..B})` and :math:`\lambda_i \sim
\mathrm{Beta}(\alpha, \alpha)` drawn per pair with :func:`mixup_repro.mixing.sample_lambda`, the
discriminator minimises the binary cross-entropy :math:`\ell` of the paper's mixup-GAN objective (Zhang et
al., ICLR 2018, Section 3.7: :math:`\max_g \min_d \mathbb{E}_{x, z, \lambda}\,
\ell(d(\lambda x + (1-\lambda) g(z)), \lambda)`), estimated on both orientations of every pair:

.. math::

    L_D = \frac{1}{2B} \sum_{i=1}^{B} \Big[\ell\big(d(\lambda_i x_i + (1-\lambda_i) g(z_i)),\ \lambda_i\big)
          + \ell\big(d((1-\lambda_i) x_i + \lambda_i g(z_i)),\ 1-\lambda_i\big)\Big].

Because Beta(α, α) is symmetric, both terms are unbiased estimates of the same expectation; using both
gives the discriminator 2B inputs per step, as many as the plain GAN's B real + B fake, and with α = 0
(λ = 1) :math:`L_D` is exactly the plain GAN's loss :math:`\ell(d(x), 1) + \ell(d(g(z)), 0)`: ERM-GAN is
``alpha=0`` of the same function. The generator never sees mixed inputs. ``generator_loss="saturating"``
(default) is the paper's minimax :math:`\max_g` of the discriminator's loss on fakes, i.e. :math:`\min_g
-\ell(d(g(z)), 0)`, as the official code does (``lossG = - bce(netD(data), labels)``);
``"non_saturating"`` is the usual :math:`\min_g \ell(d(g(z)), 1)` of Goodfellow et al. (2014).

Differences from the authors' code (github.com/hongyi-zhang/mixup, ``gan/example_gan.py``, read for this
module): it mixes two shuffled batches of real *and* fake points (so also real with real, fake with fake)
with λ ~ Uniform(0, α) per sample; here λ ~ Beta(α, α) and every mix pairs a real point with a fake one,
as the paper's formula says. The data (modes on the unit circle, a 5 × 5 grid on [-1, 1]², std 0.01), the
networks (3 hidden layers of 512 ReLU units, 2-D latent noise), Adam with its default parameters, batch 128,
five discriminator steps per generator step and 20,001 iterations are that code's defaults and this module's.

Results files (schema ``mixup_repro.gan/1``, one JSON per run, written atomically and compactly) hold the
config, the loss curves, the metrics at every evaluation, sample snapshots at fixed iterations (rounded to 3
decimals), a summary, and provenance (device, threads, versions, git commit, start/finish, wall and CPU
seconds).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_alpha, check_bool, check_choice, check_int, check_real

__all__ = [
    "GAN_GENERATOR_LOSSES",
    "GAN_METRICS",
    "GAN_PROBLEMS",
    "GAN_SCHEMA",
    "GANConfig",
    "GANDiscriminator",
    "GANGenerator",
    "discriminator_loss",
    "energy_distance",
    "gan_run_id",
    "gan_runs",
    "generator_loss",
    "load_gan_results",
    "mode_centers",
    "mode_coverage",
    "read_gan_result",
    "sample_toy",
    "scaled_snapshot_iters",
    "train_gan",
    "validate_gan_result",
]


GAN_PROBLEMS: tuple[str, ...] = ("ring", "grid")
"""``ring``: Gaussians on the unit circle (8 by default); ``grid``: a square grid on [-1, 1]² (25 by default)."""
GAN_GENERATOR_LOSSES: tuple[str, ...] = ("saturating", "non_saturating")
GAN_SCHEMA = "mixup_repro.gan/1"
GAN_METRICS: dict[str, tuple[str, int]] = {
    "modes_covered": ("modes covered", +1),
    "hq_share": ("high-quality share", +1),
    "energy_distance": ("energy distance to the target", -1),
}
"""Metric -> (readable name, direction of the paper's claim for mixup − ERM: +1 higher is better, -1 lower)."""

_DEFAULT_MODES = {"ring": 8, "grid": 25}


# ----------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------
def mode_centers(problem: str, n_modes: int | None = None) -> Tensor:
    """The (K, 2) float32 mode centres of a toy problem.

    ``ring``: ``n_modes`` (default 8) points on the unit circle, the first at (0, 1), evenly spaced;
    ``grid``: a square grid of ``n_modes`` (default 25, a square number >= 4) points spanning [-1, 1]²
    (spacing 0.5 for 25). The official code's ``means_circle`` and ``means_grid``.
    """
    check_choice("problem", problem, GAN_PROBLEMS)
    k = _DEFAULT_MODES[problem] if n_modes is None else check_int("n_modes", n_modes, low=2)
    if problem == "ring":
        t = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
        return torch.stack([torch.sin(t), torch.cos(t)], 1).float()
    side = math.isqrt(k)
    if side * side != k or side < 2:
        raise ValueError(f"n_modes must be a square number >= 4 for the grid problem, got {k}")
    ticks = torch.linspace(-1.0, 1.0, side, dtype=torch.float64)
    gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).float()


def sample_toy(problem: str, n: int, *, std: float = 0.01, n_modes: int | None = None,
               generator: torch.Generator | None = None) -> Tensor:
    """``n`` points (float32, shape (n, 2)) of the mixture of isotropic Gaussians of ``problem``.

    Each point picks a mode uniformly at random and adds N(0, std² I) noise; the mixture's mean is the mean
    of the centres (0 for both problems) and its per-coordinate variance is std² plus the variance of the
    centres' coordinate. All draws come from ``generator`` (a seed reproduces the stream).
    """
    centers = mode_centers(problem, n_modes)
    n = check_int("n", n, low=1)
    std = check_real("std", std, low=0.0, low_open=True)
    idx = torch.randint(len(centers), (n,), generator=generator)
    return centers[idx] + std * torch.randn(n, 2, generator=generator)


# ----------------------------------------------------------------------------------------------------------
# Networks
# ----------------------------------------------------------------------------------------------------------
def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers of ``sizes`` with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class GANGenerator(nn.Module):
    """MLP from ``latent_dim``-dimensional noise to a 2-D point: ``layers`` hidden layers of ``hidden`` ReLU
    units (the paper: 3 × 512, latent 2), linear output."""

    def __init__(self, latent_dim: int = 2, hidden: int = 512, layers: int = 3):
        super().__init__()
        self.latent_dim = check_int("latent_dim", latent_dim, low=1)
        self.net = _mlp([self.latent_dim] + [check_int("hidden", hidden, low=1)] * check_int("layers", layers, low=1)
                        + [2])

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class GANDiscriminator(nn.Module):
    """MLP from a 2-D point to one logit (real vs fake): ``layers`` hidden layers of ``hidden`` ReLU units."""

    def __init__(self, hidden: int = 512, layers: int = 3):
        super().__init__()
        self.net = _mlp([2] + [check_int("hidden", hidden, low=1)] * check_int("layers", layers, low=1) + [1])

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)


# ----------------------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------------------
def discriminator_loss(disc: nn.Module, real: Tensor, fake: Tensor, alpha: float,
                       generator: torch.Generator | None = None) -> Tensor:
    r"""The discriminator's loss :math:`L_D` of the module docstring (mixup on real/fake pairs).

    ``real`` and ``fake`` are (B, 2) batches paired row by row; λ ~ Beta(``alpha``, ``alpha``) is drawn per
    pair from ``generator``. ``alpha = 0`` gives the plain GAN loss (mean BCE of real → 1 and fake → 0).
    """
    alpha = check_alpha(alpha)
    if real.shape != fake.shape or real.dim() != 2:
        raise ValueError(f"real and fake must be (B, 2) batches of the same shape, got {tuple(real.shape)} and "
                         f"{tuple(fake.shape)}")
    from .mixing import sample_lambda

    lam = sample_lambda(alpha, (real.shape[0],), generator).to(real.dtype).unsqueeze(1)
    inputs = torch.cat([lam * real + (1 - lam) * fake, (1 - lam) * real + lam * fake])
    targets = torch.cat([lam, 1 - lam]).squeeze(1)
    return F.binary_cross_entropy_with_logits(disc(inputs), targets)


def generator_loss(disc: nn.Module, fake: Tensor, kind: str = "saturating") -> Tensor:
    r"""The generator's loss on a fake batch: ``saturating`` :math:`-\ell(d(g(z)), 0)` (the paper's minimax,
    the official code) or ``non_saturating`` :math:`\ell(d(g(z)), 1)`."""
    check_choice("generator_loss", kind, GAN_GENERATOR_LOSSES)
    logits = disc(fake)
    if kind == "saturating":
        return -F.softplus(logits).mean()  # -BCE(logit, 0) = log(1 - sigmoid(logit))
    return F.softplus(-logits).mean()  # BCE(logit, 1)


# ----------------------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------------------
def mode_coverage(points, centers, std: float, *, n_sigmas: float = 3.0, min_share: float = 0.01) -> dict:
    """Mode statistics of generated ``points`` (N, 2) against the mode ``centers`` (K, 2).

    A point is *high quality* when it lies within ``n_sigmas`` × ``std`` (Euclidean) of its nearest centre;
    a mode is *covered* when at least ``min_share`` of all N points are high-quality points assigned to it
    (and at least one). Returns ``modes_covered`` (int), ``hq_share`` (fraction of high-quality points) and
    ``mode_counts`` (high-quality points per mode, a list of K ints).
    """
    pts = torch.as_tensor(points, dtype=torch.float64)
    ctr = torch.as_tensor(centers, dtype=torch.float64)
    if pts.dim() != 2 or pts.shape[1] != 2 or len(pts) == 0:
        raise ValueError(f"points must be a non-empty (N, 2) array, got shape {tuple(pts.shape)}")
    if ctr.dim() != 2 or ctr.shape[1] != 2 or len(ctr) == 0:
        raise ValueError(f"centers must be a non-empty (K, 2) array, got shape {tuple(ctr.shape)}")
    std = check_real("std", std, low=0.0, low_open=True)
    n_sigmas = check_real("n_sigmas", n_sigmas, low=0.0, low_open=True)
    min_share = check_real("min_share", min_share, low=0.0, high=1.0)
    dist, nearest = torch.cdist(pts, ctr).min(dim=1)
    hq = dist <= n_sigmas * std
    counts = torch.bincount(nearest[hq], minlength=len(ctr))
    need = max(1.0, min_share * len(pts))
    return {"modes_covered": int((counts >= need).sum()), "hq_share": float(hq.double().mean()),
            "mode_counts": [int(c) for c in counts]}


def energy_distance(x, y) -> float:
    r"""The energy distance between two samples, :math:`\sqrt{2\,\mathbb{E}\lVert X-Y\rVert - \mathbb{E}\lVert
    X-X'\rVert - \mathbb{E}\lVert Y-Y'\rVert}` (Székely & Rizzo 2013), as V-statistics over all pairs
    (:func:`torch.cdist`, float64). In one dimension it equals :func:`scipy.stats.energy_distance`, which
    handles only 1-D samples; this one takes (N, D) and (M, D) arrays. 0 for identical samples."""
    a = torch.as_tensor(x, dtype=torch.float64)
    b = torch.as_tensor(y, dtype=torch.float64)
    if a.dim() == 1:
        a = a[:, None]
    if b.dim() == 1:
        b = b[:, None]
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1] or not len(a) or not len(b):
        raise ValueError(f"x and y must be non-empty (N, D) and (M, D) arrays, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    e2 = 2 * torch.cdist(a, b).mean() - torch.cdist(a, a).mean() - torch.cdist(b, b).mean()
    return float(e2.clamp_min(0).sqrt())


# ----------------------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GANConfig:
    """One GAN run. The defaults are the authors' code (``gan/example_gan.py``) with mixup α = 0.2.

    ``alpha = 0`` is ERM-GAN (the plain GAN); ``alpha > 0`` is mixup-GAN. ``snapshot_iters`` (default
    :func:`scaled_snapshot_iters`: the paper's 10, 100, 1000, 10000, 20000 for 20,000 iterations) are where
    ``n_snapshot`` generated points are stored; the metrics are computed on ``n_eval`` points every
    ``eval_every`` iterations (and at 0, the snapshots and the end) against ``n_eval`` real points.
    """

    problem: str = "ring"
    alpha: float = 0.2
    std: float = 0.01
    n_modes: int | None = None
    latent_dim: int = 2
    hidden: int = 512
    layers: int = 3
    batch_size: int = 128
    iterations: int = 20000
    d_steps: int = 5
    lr_d: float = 1e-3
    lr_g: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    generator_loss: str = "saturating"
    seed: int = 0
    eval_every: int = 500
    snapshot_iters: tuple[int, ...] | None = None
    n_eval: int = 1000
    n_snapshot: int = 1000
    n_sigmas: float = 3.0
    min_share: float = 0.01

    def __post_init__(self):
        check_choice("problem", self.problem, GAN_PROBLEMS)
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 - frozen dataclass
        set_("alpha", check_alpha(self.alpha))
        set_("std", check_real("std", self.std, low=0.0, low_open=True))
        if self.n_modes is not None:
            mode_centers(self.problem, self.n_modes)  # validates
        for name, low in (("latent_dim", 1), ("hidden", 1), ("layers", 1), ("batch_size", 1), ("iterations", 1),
                          ("d_steps", 1), ("seed", 0), ("eval_every", 1), ("n_eval", 2), ("n_snapshot", 1)):
            set_(name, check_int(name, getattr(self, name), low=low))
        for name in ("lr_d", "lr_g"):
            set_(name, check_real(name, getattr(self, name), low=0.0, low_open=True))
        for name in ("beta1", "beta2"):
            set_(name, check_real(name, getattr(self, name), low=0.0, high=1.0, high_open=True))
        check_choice("generator_loss", self.generator_loss, GAN_GENERATOR_LOSSES)
        set_("n_sigmas", check_real("n_sigmas", self.n_sigmas, low=0.0, low_open=True))
        set_("min_share", check_real("min_share", self.min_share, low=0.0, high=1.0))
        snaps = self.snapshot_iters
        if snaps is None:
            snaps = scaled_snapshot_iters(self.iterations)
        if isinstance(snaps, (str, bytes)) or not isinstance(snaps, Iterable):
            raise TypeError(f"snapshot_iters must be a sequence of iterations, got {snaps!r}")
        snaps = tuple(sorted({check_int("snapshot_iters", s, low=0, high=self.iterations) for s in snaps}))
        if not snaps:
            raise ValueError("snapshot_iters must hold at least one iteration")
        set_("snapshot_iters", snaps)

    @property
    def variant(self) -> str:
        """``erm`` for ``alpha = 0``, else ``mixup``."""
        return "erm" if self.alpha == 0 else "mixup"

    def to_dict(self) -> dict:
        """The config as a JSON-able dict (``snapshot_iters`` as a list)."""
        d = dataclasses.asdict(self)
        d["snapshot_iters"] = list(self.snapshot_iters)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GANConfig:
        """The config of a :meth:`to_dict` dict; ``ValueError`` naming any unknown field."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown GANConfig field(s) {unknown}")
        d = dict(d)
        if d.get("snapshot_iters") is not None:
            d["snapshot_iters"] = tuple(d["snapshot_iters"])
        return cls(**d)


def scaled_snapshot_iters(iterations: int) -> tuple[int, ...]:
    """Snapshot iterations for a run shorter than the paper's: its 10, 100 and 1000 that fall before the
    end, then half-way and the end (the paper: 10, 100, 1000, 10000, 20000 of 20000)."""
    iterations = check_int("iterations", iterations, low=1)
    return tuple(sorted({i for i in (10, 100, 1000) if i < iterations} | {max(1, iterations // 2), iterations}))


def gan_run_id(config: GANConfig) -> str:
    """``<problem>_<erm|mixup>_s<seed>_<hash of the config>``: equal configs share the id."""
    digest = hashlib.sha1(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:10]
    return f"{config.problem}_{config.variant}_s{config.seed}_{digest}"


# ----------------------------------------------------------------------------------------------------------
# Results files
# ----------------------------------------------------------------------------------------------------------
_REQUIRED = ("schema", "run_id", "config", "curves", "metrics", "snapshots", "summary", "device", "threads",
             "versions", "git_commit", "started", "finished", "wall_s", "cpu_s")


def validate_gan_result(d, source: str = "result") -> dict:
    """Check a parsed GAN results object; raise :class:`mixup_repro.results.ResultsError` naming ``source``."""
    from .results import ResultsError, check_envelope

    check_envelope(d, source, GAN_SCHEMA, _REQUIRED)
    try:
        cfg = GANConfig.from_dict(d["config"])
    except (TypeError, ValueError) as e:
        raise ResultsError(f"{source}: bad config ({e})") from None
    m = d["metrics"]
    if not isinstance(m, dict) or any(not isinstance(m.get(k), list) for k in ("iteration", *GAN_METRICS)) or \
            len({len(m[k]) for k in ("iteration", *GAN_METRICS)}) != 1:
        raise ResultsError(f"{source}: metrics must hold equal-length lists iteration, {', '.join(GAN_METRICS)}")
    c = d["curves"]
    if not isinstance(c, dict) or any(not isinstance(c.get(k), list) for k in ("iteration", "d_loss", "g_loss")):
        raise ResultsError(f"{source}: curves must hold lists iteration, d_loss, g_loss")
    s = d["snapshots"]
    if not isinstance(s, dict) or list(s.get("iteration", [])) != list(cfg.snapshot_iters) or \
            len(s.get("fake", [])) != len(cfg.snapshot_iters):
        raise ResultsError(f"{source}: snapshots must hold one sample set per iteration {list(cfg.snapshot_iters)}")
    return d


def read_gan_result(path) -> dict:
    """Read and validate one GAN results file (``ResultsError`` naming the file otherwise)."""
    from .results import read_json

    return validate_gan_result(read_json(path), str(path))


def load_gan_results(folder) -> list[dict]:
    """Every valid GAN results file in ``folder`` (sorted by name); invalid ones are skipped with a warning
    naming the file; a missing folder gives an empty list."""
    folder = Path(folder)
    files = sorted(f for f in folder.glob("*.json") if not f.name.startswith(".")) if folder.is_dir() else []
    return read_valid_gan_results(files)


def read_valid_gan_results(paths) -> list[dict]:
    """The GAN results files ``paths``, read and validated in order; an invalid one is skipped with a warning
    naming the file."""
    import warnings

    from .results import ResultsError

    out = []
    for f in paths:
        try:
            out.append(read_gan_result(f))
        except ResultsError as e:
            warnings.warn(f"skipping {e}", UserWarning, stacklevel=3)
    return out


def _write_compact(path: Path, obj) -> None:
    """Write ``obj`` as compact strict JSON (NaN and inf become null), atomically."""
    from .files import atomic_write_bytes, finite

    atomic_write_bytes(path, (json.dumps(finite(obj), separators=(",", ":"), allow_nan=False) + "\n").encode())


# ----------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------
def _eval_iters(cfg: GANConfig) -> list[int]:
    """The iterations evaluated: every ``eval_every``, the snapshots, the first and the last."""
    its = set(range(0, cfg.iterations + 1, cfg.eval_every)) | set(cfg.snapshot_iters) | {0, cfg.iterations}
    return sorted(its)


_LOADED_COMMIT: list = []


def _loaded_commit() -> str | None:
    """The source commit when this process first trained a GAN (the code it runs), read once and kept, so
    edits or commits made while a sweep runs are not attributed to its later runs."""
    from .results import git_commit

    if not _LOADED_COMMIT:
        _LOADED_COMMIT.append(git_commit())
    return _LOADED_COMMIT[0]


@dataclass(eq=False)
class _GANRun:
    """One run in progress: its networks and optimisers, its random streams, the fixed evaluation sets and what
    it has recorded so far (metrics, loss curves, snapshots)."""

    cfg: GANConfig
    gen: GANGenerator
    disc: GANDiscriminator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    g_data: torch.Generator
    g_lam: torch.Generator
    centers: Tensor
    real_eval: Tensor
    z_eval: Tensor
    z_snap: Tensor
    metrics: dict = dataclasses.field(default_factory=lambda: {"iteration": [], **{k: [] for k in GAN_METRICS}})
    curves: dict = dataclasses.field(default_factory=lambda: {"iteration": [], "d_loss": [], "g_loss": []})
    snapshots: dict = dataclasses.field(default_factory=lambda: {"iteration": [], "fake": []})

    @classmethod
    def start(cls, cfg: GANConfig) -> _GANRun:
        """Seeded set-up: ``torch.manual_seed(seed)`` initialises both networks, then three streams (data, λ,
        evaluation) are seeded and the evaluation sets drawn, in this order."""
        torch.manual_seed(cfg.seed)
        gen = GANGenerator(cfg.latent_dim, cfg.hidden, cfg.layers)
        disc = GANDiscriminator(cfg.hidden, cfg.layers)
        opt_g = torch.optim.Adam(gen.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
        opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
        g_data = torch.Generator().manual_seed(10_000 + cfg.seed)
        g_lam = torch.Generator().manual_seed(20_000 + cfg.seed)
        g_eval = torch.Generator().manual_seed(30_000 + cfg.seed)
        centers = mode_centers(cfg.problem, cfg.n_modes)
        real_eval = sample_toy(cfg.problem, cfg.n_eval, std=cfg.std, n_modes=cfg.n_modes, generator=g_eval)
        z_eval = torch.randn(cfg.n_eval, cfg.latent_dim, generator=g_eval)
        z_snap = torch.randn(cfg.n_snapshot, cfg.latent_dim, generator=g_eval)
        return cls(cfg, gen, disc, opt_g, opt_d, g_data, g_lam, centers, real_eval, z_eval, z_snap)

    def evaluate(self, it: int) -> None:
        """Record the metrics of iteration ``it`` on the fixed evaluation sets (and its snapshot, if one)."""
        cfg, m = self.cfg, self.metrics
        with torch.no_grad():
            fake = self.gen(self.z_eval)
            cov = mode_coverage(fake, self.centers, cfg.std, n_sigmas=cfg.n_sigmas, min_share=cfg.min_share)
            m["iteration"].append(it)
            m["modes_covered"].append(cov["modes_covered"])
            m["hq_share"].append(round(cov["hq_share"], 6))
            m["energy_distance"].append(round(energy_distance(fake, self.real_eval), 6))
            if it in cfg.snapshot_iters:
                self.snapshots["iteration"].append(it)
                self.snapshots["fake"].append(self.gen(self.z_snap).double().round(decimals=3).tolist())

    def step(self) -> tuple[float, float]:
        """One iteration: ``d_steps`` discriminator steps, then one generator step; the last D loss and the G loss."""
        cfg = self.cfg
        for _ in range(cfg.d_steps):
            real = sample_toy(cfg.problem, cfg.batch_size, std=cfg.std, n_modes=cfg.n_modes, generator=self.g_data)
            with torch.no_grad():
                fake = self.gen(torch.randn(cfg.batch_size, cfg.latent_dim, generator=self.g_data))
            loss_d = discriminator_loss(self.disc, real, fake, cfg.alpha, self.g_lam)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        fake = self.gen(torch.randn(cfg.batch_size, cfg.latent_dim, generator=self.g_data))
        loss_g = generator_loss(self.disc, fake, cfg.generator_loss)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return float(loss_d.detach()), float(loss_g.detach())

    def train(self, progress=None) -> None:
        """Every iteration, with the mean losses since the previous evaluation and the metrics at each evaluation."""
        cfg = self.cfg
        evals = set(_eval_iters(cfg))
        d_sum = g_sum = 0.0
        n_sum = 0
        self.evaluate(0)
        for it in range(1, cfg.iterations + 1):
            loss_d, loss_g = self.step()
            d_sum += loss_d
            g_sum += loss_g
            n_sum += 1
            if it in evals:
                self.curves["iteration"].append(it)
                self.curves["d_loss"].append(round(d_sum / n_sum, 6))  # mean of the last D step of each iteration
                self.curves["g_loss"].append(round(g_sum / n_sum, 6))
                d_sum = g_sum = 0.0
                n_sum = 0
                self.evaluate(it)
            if progress is not None:
                progress.update()

    def summary(self) -> dict:
        """The final metrics, their means over the last quarter of training, and the number of modes."""
        m = self.metrics
        late = [i for i, it in enumerate(m["iteration"]) if it >= 0.75 * self.cfg.iterations]
        summary = {f"final_{k}": m[k][-1] for k in GAN_METRICS}
        summary.update({f"late_{k}": sum(m[k][i] for i in late) / len(late) for k in GAN_METRICS})
        summary["late_iterations"] = [m["iteration"][late[0]], m["iteration"][late[-1]]]
        summary["n_modes"] = len(self.centers)
        return summary


def train_gan(config: GANConfig, *, out=None, force: bool = False, quiet: bool = True) -> dict:
    """Train one GAN run (ERM-GAN for ``alpha = 0``, mixup-GAN otherwise) and return its results object.

    One iteration is ``d_steps`` discriminator steps (each on a fresh real batch and a fresh fake batch,
    :func:`discriminator_loss`) and one generator step (:func:`generator_loss`), with Adam for both. Seeds:
    ``seed`` sets the initialisation (``torch.manual_seed``) and three independent streams: the data (real
    points and latent noise), λ, and the fixed evaluation sets. ERM and mixup runs of one seed therefore start
    from the same networks and draw the same real points and noise vectors. On the CPU a run is
    deterministic.

    With ``out``, the results file ``<out>/<run id>.json`` is written (atomically) and an existing valid one
    is returned instead of training, unless ``force``.
    """
    from .results import check_writable, device_name, versions

    if not isinstance(config, GANConfig):
        raise TypeError(f"config must be a GANConfig, got {type(config).__name__}")
    check_bool("force", force)
    cfg = config
    rid = gan_run_id(cfg)
    path = None
    if out is not None:
        path = check_writable(out) / f"{rid}.json"
        if path.is_file() and not force:
            return read_gan_result(path)
    commit = _loaded_commit()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0, c0 = time.perf_counter(), time.process_time()
    run = _GANRun.start(cfg)
    progress = None
    if not quiet:
        from tqdm.auto import tqdm

        progress = tqdm(total=cfg.iterations, desc=rid)
    run.train(progress)
    if progress is not None:
        progress.close()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    record = {
        "schema": GAN_SCHEMA, "run_id": rid, "config": cfg.to_dict(), "curves": run.curves, "metrics": run.metrics,
        "snapshots": run.snapshots,
        "real_snapshot": run.real_eval[: cfg.n_snapshot].double().round(decimals=3).tolist(),
        "summary": run.summary(), "device": device_name("cpu"), "threads": torch.get_num_threads(),
        "versions": versions(), "git_commit": commit, "host": os.uname().nodename, "started": started,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
    }
    if path is not None:
        _write_compact(path, record)
    return record


def gan_grid(base: GANConfig | Mapping[str, Any], *, problems: Sequence[str] = GAN_PROBLEMS,
             alphas: Sequence[float] = (0.0, 0.2), seeds: Sequence[int] = range(5)) -> list[GANConfig]:
    """The configs of every (problem, α, seed) of the grid on top of ``base`` (a GANConfig or a mapping of its
    fields), seed by seed within each problem (an interrupted sweep leaves complete ERM/mixup pairs)."""
    base = base.to_dict() if isinstance(base, GANConfig) else dict(base)
    problems = [check_choice("problem", p, GAN_PROBLEMS) for p in problems]
    alphas = [check_alpha(a) for a in alphas]
    seeds = [check_int("seed", s, low=0) for s in seeds]
    if not problems or not alphas or not seeds:
        raise ValueError("problems, alphas and seeds must each hold at least one value")
    return [GANConfig.from_dict({**base, "problem": p, "alpha": a, "seed": s})
            for p in problems for s in seeds for a in alphas]


def gan_runs(base: GANConfig | Mapping[str, Any], *, problems: Sequence[str] = GAN_PROBLEMS,
             alphas: Sequence[float] = (0.0, 0.2), seeds: Sequence[int] = range(5), out=None,
             quiet: bool = True) -> list[dict]:
    """The runs of the chapter: every config of :func:`gan_grid`; results files in ``out`` are read back, only
    the missing runs are trained."""
    return [train_gan(cfg, out=out, quiet=quiet) for cfg in gan_grid(base, problems=problems, alphas=alphas,
                                                                       seeds=seeds)]

