r"""Evaluation metrics: error, negative log-likelihood, expected calibration error, reliability bins.

All functions take class probabilities (or logits where named) as tensors and work on any device;
they return 0-d tensors so a training loop can accumulate them without a host synchronisation.

Expected calibration error with :math:`M` equal-width confidence bins :math:`B_m` over :math:`n` samples:

.. math:: \mathrm{ECE} = \sum_{m=1}^{M} \frac{|B_m|}{n}\,\big|\mathrm{acc}(B_m) - \mathrm{conf}(B_m)\big| .
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_int

__all__ = ["error", "error_percent", "nll", "ece", "reliability_bins", "calibration_counts", "ece_from_counts", "reliability_from_counts",
           "overconfidence"]


def _check_probs(probs: Tensor, labels: Tensor) -> None:
    if not isinstance(probs, Tensor) or probs.dim() != 2:
        raise ValueError(f"probs must be a (N, K) tensor of class probabilities, got {getattr(probs, 'shape', probs)}")
    if not isinstance(labels, Tensor) or labels.shape != probs.shape[:1]:
        raise ValueError(f"labels must be a ({probs.shape[0]},) tensor of class indices, "
                         f"got {getattr(labels, 'shape', labels)}")
    if probs.shape[0] == 0:
        raise ValueError("probs must hold at least one sample")


def error(probs: Tensor, labels: Tensor) -> Tensor:
    """Top-1 error in percent: ``100 * mean(argmax(probs) != labels)``."""
    _check_probs(probs, labels)
    return error_percent(probs.argmax(1), labels)


def error_percent(pred: Tensor, labels: Tensor) -> Tensor:
    """The error formula: ``100 * mean(pred != labels)`` of predicted classes ``pred`` (float64, unchecked)."""
    return (pred != labels).double().mean() * 100.0


def nll(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean negative log-likelihood (cross-entropy) of the true labels, from logits."""
    _check_probs(logits, labels)
    return F.cross_entropy(logits.double(), labels)


def calibration_counts(probs: Tensor, labels: Tensor, n_bins: int = 15) -> Tensor:
    """Per-bin sums, a (3, n_bins) float64 tensor: count, sum of confidences, number correct.

    Bins are equal-width on [0, 1]; a confidence of exactly 1 falls into the last bin. Counts from
    several batches add up, so a loop can accumulate them on the device and compute the ECE once.
    """
    _check_probs(probs, labels)
    n_bins = check_int("n_bins", n_bins, low=1)
    conf, pred = probs.max(1)
    b = (conf.double() * n_bins).long().clamp_(0, n_bins - 1)
    out = torch.zeros(3, n_bins, dtype=torch.float64, device=probs.device)
    out[0].index_add_(0, b, torch.ones_like(conf, dtype=torch.float64))
    out[1].index_add_(0, b, conf.double())
    out[2].index_add_(0, b, (pred == labels).double())
    return out


def ece_from_counts(counts: Tensor) -> Tensor:
    """ECE (a fraction in [0, 1]) from :func:`calibration_counts`."""
    n = counts[0].sum().clamp_min(1.0)
    return (counts[1] - counts[2]).abs().sum() / n


def ece(probs: Tensor, labels: Tensor, n_bins: int = 15) -> Tensor:
    """Expected calibration error with ``n_bins`` equal-width bins (Guo et al. 2017), as a fraction."""
    return ece_from_counts(calibration_counts(probs, labels, n_bins))


def reliability_bins(probs: Tensor, labels: Tensor, n_bins: int = 15) -> dict:
    """The data of a reliability diagram: per bin its edges, mean confidence, accuracy and count.

    Returns a dict of lists (``bin_lower``, ``bin_upper``, ``bin_confidence``, ``bin_accuracy``,
    ``bin_count``) plus ``ece``; empty bins have confidence and accuracy ``None``.
    """
    return reliability_from_counts(calibration_counts(probs, labels, n_bins))


def reliability_from_counts(counts: Tensor) -> dict:
    """:func:`reliability_bins` from accumulated :func:`calibration_counts` (JSON-ready; empty bins None)."""
    counts = counts.detach().double().cpu()
    n = counts[0]
    n_bins = n.shape[0]
    safe = n.clamp_min(1.0)
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    conf, acc = (counts[1] / safe).tolist(), (counts[2] / safe).tolist()
    filled = (n > 0).tolist()
    return {
        "bin_lower": edges[:-1].tolist(),
        "bin_upper": edges[1:].tolist(),
        "bin_confidence": [c if f else None for c, f in zip(conf, filled)],
        "bin_accuracy": [a if f else None for a, f in zip(acc, filled)],
        "bin_count": n.long().tolist(),
        "ece": float(ece_from_counts(counts)),
    }


def overconfidence(reliability) -> float | None:
    """Over-confidence of a model, in percentage points: its mean top-class confidence minus its accuracy.

    Read from the bins of a reliability diagram (:func:`reliability_bins` / :func:`reliability_from_counts`, a
    results file's ``summary["reliability"]``, or bins pooled over seeds):
    ``100 * (sum_b n_b conf_b - sum_b n_b acc_b) / sum_b n_b`` with ``n_b`` the count, ``conf_b`` the mean
    confidence and ``acc_b`` the accuracy of bin ``b`` (empty bins count for nothing). Positive: over-confident;
    negative: under-confident. Unlike the ECE, gaps of opposite sign in different bins cancel. None when the bins
    hold no sample or ``reliability`` is not such a dict. The one formula of every "confidence − accuracy" column.
    """
    try:
        n = [c or 0 for c in reliability["bin_count"]]
        total = sum(n)
        if not total:
            return None
        bins = [(c, x, a) for c, x, a in zip(n, reliability["bin_confidence"], reliability["bin_accuracy"]) if c]
        conf = sum(c * float(x) for c, x, _ in bins)
        acc = sum(c * float(a) for c, _, a in bins)
        return 100.0 * (conf - acc) / total
    except (KeyError, TypeError):
        return None
