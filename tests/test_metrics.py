"""Metrics against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from mixup_repro import ece, error, nll, reliability_bins


def test_error_and_nll():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = torch.tensor([0, 0, 0, 1])
    assert float(error(probs, labels)) == 25.0
    logits = probs.log()
    expected = -(math.log(0.9) + math.log(0.2) + math.log(0.6) + math.log(0.7)) / 4
    assert float(nll(logits, labels)) == pytest.approx(expected, abs=1e-6)


def test_ece_matches_manual_binning():
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(500, 4, generator=g) * 2, 1)
    labels = torch.randint(0, 4, (500,), generator=g)
    conf, pred = probs.max(1)
    total = 0.0
    for b in range(15):
        lo, hi = b / 15, (b + 1) / 15
        m = (conf >= lo) & ((conf < hi) if b < 14 else (conf <= hi))
        if m.any():
            total += m.float().mean() * abs(float((pred[m] == labels[m]).float().mean()) - float(conf[m].mean()))
    assert float(ece(probs, labels)) == pytest.approx(float(total), abs=1e-6)
    rb = reliability_bins(probs, labels)
    assert sum(rb["bin_count"]) == 500 and rb["ece"] == pytest.approx(float(total), abs=1e-6)
    assert len(rb["bin_accuracy"]) == 15 and rb["bin_lower"][0] == 0.0 and rb["bin_upper"][-1] == 1.0


def test_perfect_calibration_is_zero():
    probs = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert float(ece(probs, torch.tensor([0, 1]))) == 0.0


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"labels must be a \(2,\) tensor"):
        ece(torch.ones(2, 3) / 3, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"probs must be a \(N, K\) tensor"):
        error(torch.ones(3), torch.zeros(3, dtype=torch.long))


def test_overconfidence_is_mean_confidence_minus_accuracy():
    from mixup_repro.metrics import overconfidence

    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7]], dtype=torch.float64)
    labels = torch.tensor([0, 1, 1, 1])
    rel = reliability_bins(probs, labels)
    mean_conf = float(probs.max(1).values.mean())
    acc = float((probs.argmax(1) == labels).double().mean())
    assert overconfidence(rel) == pytest.approx(100 * (mean_conf - acc))
    assert overconfidence({"bin_count": [0, 0], "bin_confidence": [None, None], "bin_accuracy": [None, None]}) is None
    assert overconfidence(None) is None and overconfidence({}) is None
