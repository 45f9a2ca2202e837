r"""GANs on 2-D toy distributions, with and without mixup on the discriminator (paper Section 3.7, Figure 5).

The paper's last experiment trains a GAN on two toy problems, eight Gaussians on a ring and 25 Gaussians on a
grid, and shows that mixing the discriminator's inputs stabilises adversarial training. Everything the book's
GAN chapter needs is here: the data (:func:`mode_centers`, :func:`sample_toy`), the networks
(:class:`GANGenerator`, :class:`GANDiscriminator`), one training function for both variants (:func:`train_gan`, one
results file per run with provenance), the metrics (:func:`mode_coverage`, :func:`energy_distance`), the
paired comparison over seeds (:func:`paired_comparison`) and the figures.

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
    "GANDiscriminator",
    "GANConfig",
    "GANGenerator",
    "discriminator_loss",
    "energy_distance",
    "gan_metrics_frame",
    "gan_run_id",
    "gan_runs",
    "generator_loss",
    "load_gan_results",
    "mode_centers",
    "mode_coverage",
    "outcome_markdown",
    "outcome_table",
    "cpu_time_note",
    "paired_comparison",
    "per_seed_table",
    "plot_gan_losses",
    "plot_gan_metrics",
    "plot_gan_samples",
    "read_gan_result",
    "register_cli",
    "sample_toy",
    "scale_table",
    "scaled_snapshot_iters",
    "train_gan",
    "validate_gan_result",
    "verdict_markdown",
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
        return "erm" if self.alpha == 0 else "mixup"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["snapshot_iters"] = list(self.snapshot_iters)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GANConfig:
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
    import warnings

    from .results import ResultsError

    folder = Path(folder)
    out = []
    for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if f.name.startswith("."):
            continue
        try:
            out.append(read_gan_result(f))
        except ResultsError as e:
            warnings.warn(f"skipping {e}", UserWarning, stacklevel=2)
    return out


def _write_compact(path: Path, obj) -> None:
    from .results import _finite, atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(_finite(obj), separators=(",", ":"), allow_nan=False) + "\n").encode())


# ----------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------
def _eval_iters(cfg: GANConfig) -> list[int]:
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

    evals = set(_eval_iters(cfg))
    snaps = set(cfg.snapshot_iters)
    metrics: dict[str, list] = {"iteration": [], **{k: [] for k in GAN_METRICS}}
    curves: dict[str, list] = {"iteration": [], "d_loss": [], "g_loss": []}
    snapshots: dict[str, list] = {"iteration": [], "fake": []}
    d_sum = g_sum = 0.0
    n_sum = 0

    def evaluate(it: int) -> None:
        with torch.no_grad():
            fake = gen(z_eval)
            cov = mode_coverage(fake, centers, cfg.std, n_sigmas=cfg.n_sigmas, min_share=cfg.min_share)
            metrics["iteration"].append(it)
            metrics["modes_covered"].append(cov["modes_covered"])
            metrics["hq_share"].append(round(cov["hq_share"], 6))
            metrics["energy_distance"].append(round(energy_distance(fake, real_eval), 6))
            if it in snaps:
                snapshots["iteration"].append(it)
                snapshots["fake"].append(gen(z_snap).double().round(decimals=3).tolist())

    progress = None
    if not quiet:
        from tqdm.auto import tqdm

        progress = tqdm(total=cfg.iterations, desc=rid)
    evaluate(0)
    for it in range(1, cfg.iterations + 1):
        for _ in range(cfg.d_steps):
            real = sample_toy(cfg.problem, cfg.batch_size, std=cfg.std, n_modes=cfg.n_modes, generator=g_data)
            with torch.no_grad():
                fake = gen(torch.randn(cfg.batch_size, cfg.latent_dim, generator=g_data))
            loss_d = discriminator_loss(disc, real, fake, cfg.alpha, g_lam)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        fake = gen(torch.randn(cfg.batch_size, cfg.latent_dim, generator=g_data))
        loss_g = generator_loss(disc, fake, cfg.generator_loss)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        d_sum += float(loss_d.detach())
        g_sum += float(loss_g.detach())
        n_sum += 1
        if it in evals:
            curves["iteration"].append(it)
            curves["d_loss"].append(round(d_sum / n_sum, 6))  # mean of the last D step of each iteration
            curves["g_loss"].append(round(g_sum / n_sum, 6))
            d_sum = g_sum = 0.0
            n_sum = 0
            evaluate(it)
        if progress is not None:
            progress.update()
    if progress is not None:
        progress.close()

    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    m = metrics
    late = [i for i, it in enumerate(m["iteration"]) if it >= 0.75 * cfg.iterations]
    summary = {f"final_{k}": m[k][-1] for k in GAN_METRICS}
    summary.update({f"late_{k}": sum(m[k][i] for i in late) / len(late) for k in GAN_METRICS})
    summary["late_iterations"] = [m["iteration"][late[0]], m["iteration"][late[-1]]]
    summary["n_modes"] = len(centers)
    record = {
        "schema": GAN_SCHEMA, "run_id": rid, "config": cfg.to_dict(), "curves": curves, "metrics": metrics,
        "snapshots": snapshots, "real_snapshot": real_eval[: cfg.n_snapshot].double().round(decimals=3).tolist(),
        "summary": summary, "device": device_name("cpu"), "threads": torch.get_num_threads(),
        "versions": versions(), "git_commit": commit, "host": os.uname().nodename, "started": started,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
    }
    if path is not None:
        _write_compact(path, record)
    return record


def gan_runs(base: GANConfig | Mapping[str, Any], *, problems: Sequence[str] = GAN_PROBLEMS,
             alphas: Sequence[float] = (0.0, 0.2), seeds: Sequence[int] = range(5), out=None,
             quiet: bool = True) -> list[dict]:
    """The runs of the chapter: every (problem, α, seed) of the grid on top of ``base`` (a GANConfig or a
    mapping of its fields); results files in ``out`` are read back, only the missing runs are trained."""
    base = base.to_dict() if isinstance(base, GANConfig) else dict(base)
    problems = [check_choice("problem", p, GAN_PROBLEMS) for p in problems]
    alphas = [check_alpha(a) for a in alphas]
    seeds = [check_int("seed", s, low=0) for s in seeds]
    if not problems or not alphas or not seeds:
        raise ValueError("problems, alphas and seeds must each hold at least one value")
    runs = []
    for p in problems:
        for s in seeds:  # seed by seed: an interrupted sweep leaves complete ERM/mixup pairs
            for a in alphas:
                cfg = GANConfig.from_dict({**base, "problem": p, "alpha": a, "seed": s})
                runs.append(train_gan(cfg, out=out, quiet=quiet))
    return runs


# ----------------------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------------------
def gan_metrics_frame(runs: Iterable[Mapping]):
    """Long pandas DataFrame of the metrics of ``runs``: one row per (run, evaluation) with ``problem``,
    ``variant``, ``alpha``, ``seed``, ``iteration`` and the metrics of :data:`GAN_METRICS`."""
    import pandas as pd

    rows = []
    for r in runs:
        c, m = r["config"], r["metrics"]
        variant = "erm" if c["alpha"] == 0 else "mixup"
        for i, it in enumerate(m["iteration"]):
            rows.append({"problem": c["problem"], "variant": variant, "alpha": c["alpha"], "seed": c["seed"],
                         "iteration": it, **{k: m[k][i] for k in GAN_METRICS}})
    return pd.DataFrame(rows)


def _verdict(lo: float, hi: float, direction: int) -> str:
    if not (lo == lo and hi == hi) or lo <= 0 <= hi:
        return "not detected"
    return "reproduced" if (lo > 0) == (direction > 0) else "reversed"


def paired_comparison(runs: Iterable[Mapping], *, statistic: str = "late", confidence: float = 0.95):
    """mixup − ERM per problem and metric, paired by seed, with a t confidence interval.

    ``statistic`` is ``late`` (each run's mean over the evaluations of the last quarter of training) or
    ``final`` (the last evaluation). Rows: problem, metric, n (seeds present in both variants), the ERM and
    mixup means, the mean paired difference Δ, its ``confidence`` t interval (:func:`scipy.stats.t.interval`
    with n − 1 degrees of freedom; a zero spread gives the point Δ), the p-value of
    :func:`scipy.stats.ttest_rel`, the per-seed differences, and the verdict: *reproduced* (the interval
    excludes 0 in the paper's direction: more modes, more high-quality points, a smaller energy distance),
    *not detected* (it includes 0), *reversed* (it excludes 0 against the paper).
    """
    import numpy as np
    import pandas as pd
    from scipy import stats

    check_choice("statistic", statistic, ("late", "final"))
    confidence = check_real("confidence", confidence, low=0.0, high=1.0, low_open=True, high_open=True)
    by: dict[tuple[str, str, float], dict[int, dict]] = {}
    for r in runs:
        c = r["config"]
        by.setdefault((c["problem"], "erm" if c["alpha"] == 0 else "mixup", c["alpha"]), {})[c["seed"]] = r["summary"]
    rows = []
    for (problem, variant, alpha), mix in sorted(by.items(), key=lambda kv: (GAN_PROBLEMS.index(kv[0][0]), kv[0][2])):
        if variant != "mixup":
            continue
        erm = by.get((problem, "erm", 0.0), {})
        seeds = sorted(set(erm) & set(mix))
        for metric, (name, direction) in GAN_METRICS.items():
            key = f"{statistic}_{metric}"
            a = np.array([erm[s][key] for s in seeds], dtype=float)
            b = np.array([mix[s][key] for s in seeds], dtype=float)
            d = b - a
            n = len(d)
            mean = float(d.mean()) if n else float("nan")
            if n >= 2 and float(d.std(ddof=1)) > 0:
                lo, hi = stats.t.interval(confidence, n - 1, loc=mean, scale=stats.sem(d))
                p = float(stats.ttest_rel(b, a).pvalue)
            elif n >= 2:
                lo = hi = mean
                p = 1.0 if mean == 0 else 0.0
            else:
                lo = hi = p = float("nan")
            rows.append({"problem": problem, "alpha": alpha, "metric": metric, "metric name": name, "n": n,
                         "ERM mean": float(a.mean()) if n else float("nan"),
                         "mixup mean": float(b.mean()) if n else float("nan"), "Δ (mixup − ERM)": mean,
                         "CI low": float(lo), "CI high": float(hi), "p (paired t)": p,
                         "per-seed Δ": [round(float(v), 4) for v in d],
                         "verdict": _verdict(float(lo), float(hi), direction) if n >= 2 else "not detected"})
    return pd.DataFrame(rows)



def per_seed_table(runs: Iterable[Mapping]):
    """One row per run (problem, variant, seed): the final and the late (last-quarter mean) metrics, the run's
    CPU and wall seconds. A pandas DataFrame sorted by problem, variant and seed."""
    import pandas as pd

    rows = []
    for r in runs:
        c, s = r["config"], r["summary"]
        row = {"problem": c["problem"], "variant": _LABELS["erm" if c["alpha"] == 0 else "mixup"], "α": c["alpha"],
               "seed": c["seed"]}
        for stat in ("final", "late"):
            for k in GAN_METRICS:
                row[f"{stat} {k}"] = s[f"{stat}_{k}"]
        row.update({"CPU s": r["cpu_s"], "wall s": r["wall_s"]})
        rows.append(row)
    df = pd.DataFrame(rows)
    order = df["problem"].map(GAN_PROBLEMS.index)
    return df.assign(_o=order).sort_values(["_o", "α", "seed"]).drop(columns="_o").reset_index(drop=True)


def outcome_table(runs: Iterable[Mapping]):
    """How the runs end, per problem and variant: the number of runs, of runs that end with at most one mode
    covered at the last evaluation (collapsed, diverged, or not yet concentrated on the modes), of runs that
    end with every mode covered, and the median and the
    range over runs of the final energy distance. A pandas DataFrame."""
    import pandas as pd

    rows: dict[tuple, dict] = {}
    for r in runs:
        c, s = r["config"], r["summary"]
        key = (c["problem"], _LABELS["erm" if c["alpha"] == 0 else "mixup"])
        row = rows.setdefault(key, {"problem": key[0], "variant": key[1], "runs": 0, "≤ 1 mode covered": 0,
                                    "all modes covered": 0, "_ed": []})
        row["runs"] += 1
        row["≤ 1 mode covered"] += int(s["final_modes_covered"] <= 1)
        row["all modes covered"] += int(s["final_modes_covered"] == s["n_modes"])
        row["_ed"].append(s["final_energy_distance"])
    out = []
    for key in sorted(rows, key=lambda k: (GAN_PROBLEMS.index(k[0]), k[1])):
        row = rows[key]
        ed = sorted(row.pop("_ed"))
        n = len(ed)
        row["median final energy distance"] = ed[n // 2] if n % 2 else 0.5 * (ed[n // 2 - 1] + ed[n // 2])
        row["min"], row["max"] = ed[0], ed[-1]
        out.append(row)
    return pd.DataFrame(out)


def outcome_markdown(runs: Iterable[Mapping], *, far: float = 1.0, precise: float = 0.5) -> str:
    """The facts the chapter's discussion rests on, in words, from the runs: per problem and variant, how many
    runs end with at most one mode covered or with every mode covered, how many end far from the target
    (final energy distance above ``far``), and which runs sit on a single mode with a high-quality share of at
    least ``precise`` (a collapsed generator that the high-quality share alone would reward)."""
    runs = list(runs)
    table = outcome_table(runs)
    lines = []
    for problem in [p for p in GAN_PROBLEMS if p in set(table["problem"])]:
        parts = []
        for _, row in table[table["problem"] == problem].iterrows():
            rs = [r for r in runs if r["config"]["problem"] == problem
                  and _LABELS["erm" if r["config"]["alpha"] == 0 else "mixup"] == row["variant"]]
            n_far = sum(r["summary"]["final_energy_distance"] > far for r in rs)
            parts.append(f"{row['variant']}: {row['≤ 1 mode covered']} of {row['runs']} runs end with at most one mode covered, "
                         f"{row['all modes covered']} with every mode covered, {n_far} far from the target (final "
                         f"energy distance > {far:g}; median {row['median final energy distance']:.3f}, range "
                         f"{row['min']:.3f}-{row['max']:.3f})")
        lines.append(f"- **{problem}**: " + "; ".join(parts) + ".")
    single = [r for r in runs if r["summary"]["final_modes_covered"] <= 1 and r["summary"]["final_hq_share"] >= precise]
    if single:
        lines.append("- On a single mode with a high-quality share of at least "
                     f"{precise:g} at the end: " + ", ".join(
                         f"{r['config']['problem']} {_LABELS['erm' if r['config']['alpha'] == 0 else 'mixup']} seed "
                         f"{r['config']['seed']} ({r['summary']['final_hq_share']:.3f})" for r in single) + ".")
    else:
        lines.append(f"- No run ends on a single mode with a high-quality share of {precise:g} or more.")
    return "\n".join(lines)


def _fmt(v: float) -> str:
    return f"{v:+.3f}" if abs(v) < 100 else f"{v:+.0f}"


def verdict_markdown(table) -> str:
    """The verdict of each problem in words, from a :func:`paired_comparison` table: for every metric the
    verdict, Δ with its interval, n and the two means."""
    lines = []
    for problem, block in table.groupby("problem", sort=False):
        words = ", ".join(f"{row['metric name']}: **{row['verdict']}**" for _, row in block.iterrows())
        lines.append(f"**{problem}** (n = {int(block['n'].iloc[0])} seed pairs, mixup α = "
                     f"{block['alpha'].iloc[0]:g}): {words}.")
        for _, row in block.iterrows():
            lines.append(f"- {row['metric name']}: ERM-GAN {row['ERM mean']:.3f}, mixup-GAN {row['mixup mean']:.3f}; "
                         f"Δ = {_fmt(row['Δ (mixup − ERM)'])}, 95 % CI [{_fmt(row['CI low'])}, "
                         f"{_fmt(row['CI high'])}], paired t p = {row['p (paired t)']:.3g}; per-seed Δ "
                         f"{', '.join(f'{v:+g}' for v in row['per-seed Δ'])}.")
        lines.append("")
    overall = table["verdict"].value_counts()
    lines.append("Over all problems and metrics: " + ", ".join(f"{n} {v}" for v, n in overall.items()) + ".")
    return "\n".join(lines)


def scale_table(config: GANConfig, paper: GANConfig, *, n_seeds: int, alpha: float) -> str:
    """Markdown table: the settings of this chapter's runs next to the authors' code's."""
    rows = [("hidden layers × units (both networks)", f"{config.layers} × {config.hidden}",
             f"{paper.layers} × {paper.hidden}"),
            ("latent dimension", config.latent_dim, paper.latent_dim),
            ("generator iterations", f"{config.iterations:,}", f"{paper.iterations:,} (20,001 in the code)"),
            ("discriminator steps per generator step", config.d_steps, paper.d_steps),
            ("batch (real and fake points)", config.batch_size, paper.batch_size),
            ("Adam lr (D, G), betas", f"{config.lr_d:g}, {config.lr_g:g}, ({config.beta1:g}, {config.beta2:g})",
             f"{paper.lr_d:g}, {paper.lr_g:g}, ({paper.beta1:g}, {paper.beta2:g}) (PyTorch's defaults)"),
            ("generator loss", config.generator_loss, "saturating (`- bce`)"),
            ("mode standard deviation", f"{config.std:g}", f"{paper.std:g}"),
            ("mixup λ", f"Beta({alpha:g}, {alpha:g}), real with fake", "Uniform(0, α), α ∈ {0.1, 0.2, 0.5, 1}; "
             "Figure 5: 0.2; any two points"),
            ("snapshots at iterations", ", ".join(f"{i:,}" for i in config.snapshot_iters),
             ", ".join(f"{i:,}" for i in paper.snapshot_iters)),
            ("seeds per variant", n_seeds, "1 (unseeded)")]
    out = ["| setting | this chapter | authors' code |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(out)


def cpu_time_note(runs: Iterable[Mapping]) -> str:
    """The closing note: CPU time of every run behind the chapter (from the results files), total and per run,
    with the device and thread count they record."""
    runs = list(runs)
    cpu = [r["cpu_s"] for r in runs]
    wall = [r["wall_s"] for r in runs]
    devices = sorted({f"{r['device']}" for r in runs})
    by = {}
    for r in runs:
        c = r["config"]
        key = (c["problem"], _LABELS["erm" if c["alpha"] == 0 else "mixup"])
        by.setdefault(key, []).append(r["cpu_s"])
    parts = "; ".join(f"{p} {v}: {sum(x):.0f} s over {len(x)} runs ({min(x):.1f}-{max(x):.1f} s each)"
                      for (p, v), x in sorted(by.items(), key=lambda kv: (GAN_PROBLEMS.index(kv[0][0]), kv[0][1])))
    commits = sorted({str(r["git_commit"]) for r in runs})
    return (f"**CPU time of this chapter's runs.** The {len(runs)} runs behind this page took "
            f"**{sum(cpu):.0f} CPU seconds ({sum(cpu) / 60:.1f} CPU minutes)** in total, "
            f"{sum(cpu) / len(cpu):.1f} s per run on average ({parts}); their wall times add up to {sum(wall):.0f} s "
            f"(wall time also counts what else ran on the machine). Measured with `time.process_time` inside each run "
            f"(training and evaluation, not the start-up), as recorded in each results file, on "
            f"{', '.join(devices)}; code commit(s) {', '.join(f'`{c}`' for c in commits)}.")

# ----------------------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------------------
_COLORS = {"erm": "tab:red", "mixup": "tab:blue"}
_LABELS = {"erm": "ERM-GAN", "mixup": "mixup-GAN"}


def plot_gan_samples(runs: Iterable[Mapping], *, seed: int = 0, problems: Sequence[str] | None = None):
    """The paper's Figure 5: real points (grey) and generated points at the snapshot iterations, one row per
    (problem, variant) for the runs of ``seed``. Returns the figure."""
    import matplotlib.pyplot as plt

    runs = [r for r in runs if r["config"]["seed"] == seed]
    if problems is not None:
        runs = [r for r in runs if r["config"]["problem"] in problems]
    if not runs:
        raise ValueError(f"no runs with seed {seed}")
    runs = sorted(runs, key=lambda r: (GAN_PROBLEMS.index(r["config"]["problem"]), r["config"]["alpha"]))
    ncol = max(len(r["snapshots"]["iteration"]) for r in runs)
    fig, axes = plt.subplots(len(runs), ncol, figsize=(1.9 * ncol, 1.9 * len(runs)), squeeze=False)
    for row, r in zip(axes, runs):
        c = r["config"]
        variant = "erm" if c["alpha"] == 0 else "mixup"
        real = torch.tensor(r["real_snapshot"])
        lim = 1.35
        for ax, it, fake in zip(row, r["snapshots"]["iteration"], r["snapshots"]["fake"]):
            fake = torch.tensor(fake)
            ax.scatter(real[:, 0], real[:, 1], s=2, c="0.6", linewidths=0)
            ax.scatter(fake[:, 0], fake[:, 1], s=2, c=_COLORS[variant], alpha=0.35, linewidths=0)
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_aspect("equal")
            outside = float(((fake.abs() > lim).any(dim=1)).double().mean())
            ax.set_title(f"iteration {it:,}" + (f"\n{outside:.0%} outside the frame" if outside >= 0.005 else ""), fontsize=8)
        for ax in row[len(r["snapshots"]["iteration"]):]:
            ax.axis("off")
        label = _LABELS[variant] + (f"\nα = {c['alpha']:g}" if variant == "mixup" else "")
        row[0].set_ylabel(f"{c['problem']}\n{label}", fontsize=8)
    fig.suptitle(f"Real (grey) and generated points, seed {seed}", fontsize=10)
    fig.tight_layout()
    return fig


def _band(values, confidence: float = 0.95):
    import numpy as np
    from scipy import stats

    v = np.asarray(values, dtype=float)
    mean = v.mean(axis=0)
    if v.shape[0] < 2:
        return mean, mean, mean
    half = stats.t.ppf(0.5 + confidence / 2, v.shape[0] - 1) * v.std(axis=0, ddof=1) / np.sqrt(v.shape[0])
    return mean, mean - half, mean + half


def plot_gan_metrics(runs: Iterable[Mapping], *, confidence: float = 0.95):
    """The metrics over iterations: mean over seeds and a ``confidence`` t band, one column per metric, one
    row per problem, ERM-GAN and mixup-GAN in each panel. Returns the figure."""
    import matplotlib.pyplot as plt

    runs = list(runs)
    problems = [p for p in GAN_PROBLEMS if any(r["config"]["problem"] == p for r in runs)]
    fig, axes = plt.subplots(len(problems), len(GAN_METRICS), figsize=(4.2 * len(GAN_METRICS), 3.0 * len(problems)),
                             squeeze=False)
    for row, problem in zip(axes, problems):
        for ax, (metric, (name, _)) in zip(row, GAN_METRICS.items()):
            for variant in ("erm", "mixup"):
                rs = [r for r in runs if r["config"]["problem"] == problem
                      and (r["config"]["alpha"] == 0) == (variant == "erm")]
                if not rs:
                    continue
                its = rs[0]["metrics"]["iteration"]
                mean, lo, hi = _band([r["metrics"][metric] for r in rs], confidence)
                top = {"modes_covered": rs[0]["summary"]["n_modes"], "hq_share": 1.0}.get(metric, float("inf"))
                lo, hi = lo.clip(0, top), hi.clip(0, top)  # drawn within the metric's range
                label = f"{_LABELS[variant]} (n = {len(rs)})"
                ax.plot(its, mean, color=_COLORS[variant], label=label)
                ax.fill_between(its, lo, hi, color=_COLORS[variant], alpha=0.2, linewidth=0)
            ax.set_xlabel("generator iteration")
            ax.set_ylabel(name)
            ax.set_title(f"{problem}: {name}", fontsize=10)
            if metric == "modes_covered":
                ax.set_ylim(-0.5, max(r["summary"]["n_modes"] for r in runs if r["config"]["problem"] == problem) + 0.5)
            elif metric == "hq_share":
                ax.set_ylim(-0.02, 1.02)
            else:
                ax.set_ylim(bottom=0)
            ax.legend(fontsize=7)
    fig.suptitle(f"Mean over seeds with {confidence:.0%} t confidence bands (drawn within each metric's range)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_gan_losses(runs: Iterable[Mapping]):
    """Discriminator and generator losses over iterations (mean over seeds, one row per problem)."""
    import matplotlib.pyplot as plt

    runs = list(runs)
    problems = [p for p in GAN_PROBLEMS if any(r["config"]["problem"] == p for r in runs)]
    fig, axes = plt.subplots(len(problems), 2, figsize=(9, 3.0 * len(problems)), squeeze=False)
    for row, problem in zip(axes, problems):
        for ax, key, name in zip(row, ("d_loss", "g_loss"), ("discriminator loss", "generator loss")):
            for variant in ("erm", "mixup"):
                rs = [r for r in runs if r["config"]["problem"] == problem
                      and (r["config"]["alpha"] == 0) == (variant == "erm")]
                if not rs:
                    continue
                mean, lo, hi = _band([r["curves"][key] for r in rs])
                if key == "d_loss" or rs[0]["config"]["generator_loss"] == "non_saturating":
                    lo, hi = lo.clip(0), hi.clip(0)  # drawn within the loss's range
                else:
                    lo, hi = lo.clip(max=0), hi.clip(max=0)
                its = rs[0]["curves"]["iteration"]
                ax.plot(its, mean, color=_COLORS[variant], label=_LABELS[variant])
                ax.fill_between(its, lo, hi, color=_COLORS[variant], alpha=0.2, linewidth=0)
            ax.set_xlabel("generator iteration")
            ax.set_ylabel(name)
            ax.set_title(f"{problem}: {name}", fontsize=10)
            ax.legend(fontsize=7)
    fig.suptitle("Mean over seeds with 95% t confidence bands (drawn within each loss's range)", fontsize=10)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------------
# Chapter parameters and command line
# ----------------------------------------------------------------------------------------------------------
def _check_problems(name, v):
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, (list, tuple)) or not v:
        raise ValueError(f"{name} must be a non-empty list of {', '.join(GAN_PROBLEMS)}, got {v!r}")
    return [check_choice(name, p, GAN_PROBLEMS) for p in v]


def check_params(**params) -> dict[str, Any]:
    """Validate the GAN chapter's parameters by name (one-line ``ValueError`` naming a bad one)."""
    from .params import check_path, optional, validate_params

    pos = lambda n, v: check_int(n, v, low=1)  # noqa: E731
    checks = {
        "problems": _check_problems,
        "alpha": lambda n, v: check_real(n, v, low=0.0, low_open=True),
        "iterations": pos, "d_steps": pos, "hidden": pos, "layers": pos, "batch_size": pos, "eval_every": pos,
        "n_seeds": lambda n, v: check_int(n, v, low=2),
        "lr_d": lambda n, v: check_real(n, v, low=0.0, low_open=True),
        "lr_g": lambda n, v: check_real(n, v, low=0.0, low_open=True),
        "std": lambda n, v: check_real(n, v, low=0.0, low_open=True),
        "generator_loss": lambda n, v: check_choice(n, v, GAN_GENERATOR_LOSSES),
        "n_snapshot": pos,
        "results_dir": optional(check_path),
    }
    return validate_params(checks, params)


def _cmd_gan(args) -> int:
    import sys

    prog = "mixup-repro gan"
    try:
        base = GANConfig(problem=args.problem[0], alpha=0.0, std=args.std, hidden=args.hidden, layers=args.layers,
                         batch_size=args.batch_size, iterations=args.iterations, d_steps=args.d_steps,
                         lr_d=args.lr_d, lr_g=args.lr_g, generator_loss=args.generator_loss,
                         eval_every=args.eval_every, n_snapshot=args.n_snapshot)
        runs = gan_runs(base, problems=args.problem, alphas=args.alpha, seeds=args.seeds, out=args.out,
                        quiet=args.quiet)
    except (ValueError, TypeError, OSError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    for r in runs:
        s = r["summary"]
        print(f"{r['run_id']}: final modes {s['final_modes_covered']}/{s['n_modes']}, high-quality "
              f"{s['final_hq_share']:.3f}, energy distance {s['final_energy_distance']:.4f}, "
              f"{r['cpu_s']:.1f} CPU s")
    return 0


def register_cli(subparsers):
    """Add the ``gan`` subcommand: train (or read back) the grid of GAN runs of the chapter."""
    import argparse

    d = GANConfig()
    p = subparsers.add_parser(
        "gan", help="train ERM-GAN and mixup-GAN runs on the 2-D toy problems",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Train every (problem, alpha, seed) run and write <out>/<run_id>.json; finished runs are read "
                    "back, not redone. alpha 0 is ERM-GAN.")
    p.add_argument("--problem", nargs="+", choices=GAN_PROBLEMS, default=list(GAN_PROBLEMS))
    p.add_argument("--alpha", nargs="+", type=float, default=[0.0, 0.2], help="Beta(alpha, alpha); 0 = ERM-GAN")
    p.add_argument("--seeds", nargs="+", type=int, default=list(range(5)))
    p.add_argument("--std", type=float, default=d.std, help="standard deviation of each Gaussian")
    p.add_argument("--hidden", type=int, default=d.hidden, help="hidden units per layer (both networks)")
    p.add_argument("--layers", type=int, default=d.layers, help="hidden layers (both networks)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--iterations", type=int, default=d.iterations, help="generator iterations")
    p.add_argument("--d-steps", type=int, default=d.d_steps, help="discriminator steps per generator step")
    p.add_argument("--lr-d", type=float, default=d.lr_d)
    p.add_argument("--lr-g", type=float, default=d.lr_g)
    p.add_argument("--generator-loss", choices=GAN_GENERATOR_LOSSES, default=d.generator_loss)
    p.add_argument("--eval-every", type=int, default=d.eval_every)
    p.add_argument("--n-snapshot", type=int, default=d.n_snapshot)
    p.add_argument("--out", default="results/gan")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_gan)
    return p
