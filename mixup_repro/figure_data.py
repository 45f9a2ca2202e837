"""The numbers behind the book's figures: Beta densities, a trained 2-D model's decision grid and boundary
statistics, the entropy and confidence of the targets of formula (2), and reliability bins (ECE, bins pooled over
seeds). :mod:`mixup_repro.plots` draws them (and re-exports these names); they are plain computations, tested apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

from ._checks import check_eps, check_int, check_num_classes, check_real
from .mixing import mix

__all__ = ["beta_pdf", "boundary_statistics", "check_mapping", "decision_grid", "pool_reliability",
           "reliability_arrays", "reliability_ece", "target_statistics"]


def check_mapping(name: str, value, what: str) -> None:
    if not isinstance(value, Mapping) or len(value) == 0:
        raise ValueError(f"{name} must be a non-empty mapping name -> {what}")


def beta_pdf(lam, alpha: float) -> np.ndarray:
    r"""Density of Beta(α, α) at ``lam`` (values in (0, 1)):
    :math:`\lambda^{\alpha-1}(1-\lambda)^{\alpha-1} / B(\alpha, \alpha)`."""
    alpha = check_real("alpha", alpha, low=0.0, low_open=True)
    lam = np.asarray(lam, dtype=np.float64)
    log_b = 2 * math.lgamma(alpha) - math.lgamma(2 * alpha)
    with np.errstate(divide="ignore"):
        return np.exp((alpha - 1) * (np.log(lam) + np.log1p(-lam)) - log_b)


@torch.no_grad()
def decision_grid(model: torch.nn.Module, x, resolution: int = 200, margin: float = 0.5):
    """Evaluate a 2-D classifier on a regular grid covering ``x`` (N, 2) plus ``margin``.

    Returns ``(xx, yy, probs)``: the grid coordinates, each (R, R), and the softmax probabilities
    (R, R, K) as numpy arrays. The model is put in eval mode and evaluated on its own device.
    """
    resolution = check_int("resolution", resolution, low=2)
    margin = check_real("margin", margin, low=0.0)
    x = torch.as_tensor(x, dtype=torch.float32).cpu()
    if x.dim() != 2 or x.shape[1] != 2:
        raise ValueError(f"x must have shape (N, 2) (2-D points), got {tuple(x.shape)}")
    lo = x.min(0).values - margin
    hi = x.max(0).values + margin
    gx = torch.linspace(float(lo[0]), float(hi[0]), resolution)
    gy = torch.linspace(float(lo[1]), float(hi[1]), resolution)
    yy, xx = torch.meshgrid(gy, gx, indexing="ij")
    pts = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    model.eval()
    device = next(model.parameters()).device
    probs = torch.cat([model(chunk.to(device)).float().softmax(1).cpu() for chunk in pts.split(8192)])
    return xx.numpy(), yy.numpy(), probs.reshape(resolution, resolution, -1).numpy()


@torch.no_grad()
def boundary_statistics(models: Mapping[str, torch.nn.Module], x, y, *, resolution: int = 200,
                        margin: float = 0.5, band: float = 0.9) -> dict[str, dict]:
    """What :func:`plot_decision_boundaries` shows, as numbers, for each trained 2-D model.

    Returns ``name -> {"train_wrong": training points on the wrong side of the boundary, "n_train",
    "train_error": their share (%), "uncertain_area": the share (%) of the plotted area (the points'
    bounding box plus ``margin``, as in the figure) where the model's confidence max_k p(k | x) is below
    ``band``, "mean_confidence": the mean confidence at the training points}``.
    """
    check_mapping("models", models, "trained model")
    band = check_real("band", band, low=0.0, high=1.0)
    x = torch.as_tensor(x, dtype=torch.float32).cpu()
    y = torch.as_tensor(y).cpu()
    out = {}
    for name, model in models.items():
        _, _, probs = decision_grid(model, x, resolution, margin)
        device = next(model.parameters()).device
        p_train = model(x.to(device)).float().softmax(1).cpu()
        wrong = int((p_train.argmax(1) != y).sum())
        out[name] = {"train_wrong": wrong, "n_train": int(len(y)), "train_error": 100.0 * wrong / max(len(y), 1),
                     "uncertain_area": 100.0 * float((probs.max(-1) < band).mean()),
                     "mean_confidence": float(p_train.max(1).values.mean())}
    return out


def target_statistics(lambdas, epsilons, num_classes: int = 10) -> dict:
    """Entropy (nats) and largest probability of the mixed-then-smoothed target of two different classes.

    The targets come from :func:`~mixup_repro.mixing.mix` in float64 (class 0 mixed with class 1 with
    weight λ, then smoothed with ε over ``num_classes`` classes). Returns a dict with ``lambdas``,
    ``epsilons`` (1-D arrays), ``entropy`` and ``max_confidence`` (arrays of shape (len(ε), len(λ))).
    """
    num_classes = check_num_classes(num_classes)
    lam = torch.as_tensor(np.asarray(lambdas, dtype=np.float64))
    eps_list = [check_eps(e, "epsilon") for e in np.atleast_1d(np.asarray(epsilons, dtype=np.float64))]
    if lam.dim() != 1 or lam.numel() == 0:
        raise ValueError("lambdas must be a non-empty 1-D sequence of numbers in [0, 1]")
    b = lam.numel()
    # sample i (class 0) is mixed with sample b + i (class 1); the second half is never read
    x = torch.zeros(2 * b, 1, dtype=torch.float64)
    y = torch.cat([torch.zeros(b, dtype=torch.long), torch.ones(b, dtype=torch.long)])
    index = torch.cat([torch.arange(b) + b, torch.arange(b)])
    lam2 = torch.cat([lam, lam])
    entropy, conf = [], []
    for e in eps_list:
        t = mix(x, y, num_classes=num_classes, lam=lam2, index=index, label_smoothing=e).targets[:b]
        entropy.append((-(t * torch.log(t.clamp_min(1e-300))).sum(1)).numpy())
        conf.append(t.max(1).values.numpy())
    return {"lambdas": lam.numpy(), "epsilons": np.asarray(eps_list), "entropy": np.stack(entropy),
            "max_confidence": np.stack(conf), "num_classes": num_classes}


def reliability_arrays(rel: Mapping) -> tuple[np.ndarray, ...]:
    """(lower, upper, confidence, accuracy, count) arrays of one set of reliability bins (empty bins: NaN)."""
    count = np.asarray(rel["bin_count"], dtype=np.float64)
    m = len(count)

    def arr(key):
        return np.array([np.nan if v is None else float(v) for v in rel[key]], dtype=np.float64)

    conf, acc = arr("bin_confidence"), arr("bin_accuracy")
    lower = np.asarray(rel.get("bin_lower", np.arange(m) / m), dtype=np.float64)
    upper = np.asarray(rel.get("bin_upper", (np.arange(m) + 1) / m), dtype=np.float64)
    return lower, upper, conf, acc, count


def reliability_ece(rel: Mapping) -> float:
    """ECE (a fraction) of one set of reliability bins: the count-weighted mean absolute gap between the
    accuracy and the mean confidence of each bin."""
    _, _, conf, acc, count = reliability_arrays(rel)
    ok = count > 0
    return float(np.nansum(count[ok] * np.abs(acc[ok] - conf[ok])) / max(count.sum(), 1))


def _summary(run) -> Mapping:
    """The summary of a RunResult, or of a results record (a dict with ``"summary"``)."""
    return run.summary if hasattr(run, "summary") else run["summary"]


def pool_reliability(runs) -> dict:
    """Reliability bins pooled over runs (e.g. seeds): counts add up, confidences and accuracies are
    count-weighted means. ``runs`` is a RunResult (or a results record) or a list of them; empty bins get None.
    Also returns ``n_runs`` and ``run_ece``, the ECE (a fraction) of each run on its own, whose mean is what the
    tables report: the ECE of the pooled bins is another number, which :func:`plot_reliability` names as such."""
    counts = conf = acc = None
    run_ece = []
    for r in (list(runs) if isinstance(runs, (list, tuple)) else [runs]):
        s = _summary(r)
        rel = s["reliability"]
        e = s.get("final_ece")
        run_ece.append(float(e) if e is not None else reliability_ece(rel))
        n = [float(c or 0) for c in rel["bin_count"]]
        c = [0.0 if v is None or v != v else float(v) for v in rel["bin_confidence"]]
        a = [0.0 if v is None or v != v else float(v) for v in rel["bin_accuracy"]]
        if counts is None:
            counts, conf, acc = [0.0] * len(n), [0.0] * len(n), [0.0] * len(n)
        for k in range(len(n)):
            counts[k] += n[k]
            conf[k] += n[k] * c[k]
            acc[k] += n[k] * a[k]
    return {"bin_count": [int(n) for n in counts],
            "bin_confidence": [cf / n if n else None for cf, n in zip(conf, counts)],
            "bin_accuracy": [ac / n if n else None for ac, n in zip(acc, counts)],
            "n_runs": len(run_ece), "run_ece": run_ece}
