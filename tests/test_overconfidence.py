"""metrics.overconfidence: the one formula of "confidence − accuracy" (chapters 3 and 8)."""

from __future__ import annotations

import pytest
import torch

from mixup_repro.metrics import overconfidence, reliability_bins


def test_it_is_mean_overconfidence_in_percentage_points():
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    labels = torch.tensor([0, 1, 1, 1])  # right, wrong, right, wrong: accuracy 50 %
    conf = probs.max(1).values.mean().item()  # 0.75
    rel = reliability_bins(probs, labels, n_bins=10)
    assert overconfidence(rel) == pytest.approx(100 * conf - 50.0)


def test_gaps_of_opposite_sign_cancel_and_empty_bins_count_for_nothing():
    rel = {"bin_count": [10, 0, 10], "bin_confidence": [0.3, None, 0.9], "bin_accuracy": [0.5, None, 0.7]}
    assert overconfidence(rel) == pytest.approx(0.0)
    rel = {"bin_count": [3, 0, 1], "bin_confidence": [0.5, float("nan"), 1.0], "bin_accuracy": [0.0, float("nan"), 1.0]}
    assert overconfidence(rel) == pytest.approx(100 * (1.5 + 1.0 - 1.0) / 4)


def test_it_is_none_without_samples():
    assert overconfidence({}) is None
    assert overconfidence({"bin_count": [0, 0], "bin_confidence": [None, None],
                                      "bin_accuracy": [None, None]}) is None


def test_chapter_three_uses_it():
    from types import SimpleNamespace

    from mixup_repro import views

    rel = {"bin_count": [2, 2], "bin_confidence": [0.6, 0.9], "bin_accuracy": [0.5, 1.0]}
    run = SimpleNamespace(summary={"final_error": 25.0, "median_last10_error": 25.0, "final_nll": 0.5,
                                   "final_ece": 0.1, "reliability": rel})
    table = views.comparison_table({"mixup": run})
    assert table.loc["mixup", "over-confidence (pp)"] == pytest.approx(overconfidence(rel))
