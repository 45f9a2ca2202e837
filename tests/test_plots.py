"""Every plot function returns a matplotlib Figure with a title and labelled axes (cheap inputs)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import math  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mixup_repro import plots  # noqa: E402
from mixup_repro.metrics import reliability_bins  # noqa: E402
from mixup_repro.models import build_model  # noqa: E402


def _check(fig) -> None:
    """A Figure with a title, and x and y labels on its plotting axes (colour bars aside)."""
    try:
        assert isinstance(fig, Figure)
        axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        assert axes
        suptitle = fig._suptitle.get_text() if fig._suptitle is not None else ""
        assert suptitle or all(ax.get_title() for ax in axes), "figure without a title"
        assert all(ax.get_xlabel() for ax in axes), "axis without an x label"
        assert axes[0].get_ylabel(), "axis without a y label"
    finally:
        plt.close(fig)


def _reliability(seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(3 * torch.randn(200, 4, generator=g), 1)
    labels = torch.randint(0, 4, (200,), generator=g)
    return reliability_bins(probs, labels)


def _curves(n: int, shift: float) -> dict:
    e = list(range(1, n + 1))
    return {"epoch": e, "test_error": [50 / k + shift for k in e], "test_ece": [0.1 / k for k in e],
            "test_loss": [1 / k for k in e], "train_loss": [1 / k for k in e]}


def test_beta_densities():
    _check(plots.plot_beta_densities(alphas=(0.2, 1.0, 4.0, 8.0), n_samples=300, bins=10))


def test_beta_pdf_matches_known_values():
    assert plots.beta_pdf(0.3, 1.0) == pytest.approx(1.0)
    assert plots.beta_pdf(0.5, 2.0) == pytest.approx(1.5)  # 6 * 0.5 * 0.5
    grid = np.linspace(0.0005, 0.9995, 2000)
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz
    assert trapezoid(plots.beta_pdf(grid, 8.0), grid) == pytest.approx(1.0, abs=1e-3)


def test_lambda_concentration():
    _check(plots.plot_lambda_concentration(alphas=(0.1, 1.0, 10.0), n_samples=300))


def test_decision_boundaries_two_and_more_classes():
    torch.manual_seed(0)
    x = torch.randn(50, 2)
    for k in (2, 3):
        y = torch.arange(50) % k
        models = {"erm": build_model("mlp", k, 2, hidden=8), "mixup": build_model("mlp", k, 2, hidden=8)}
        _check(plots.plot_decision_boundaries(models, x, y, resolution=12))


def test_decision_grid_shapes_and_probabilities():
    model = build_model("mlp", 3, 2, hidden=4)
    xx, yy, probs = plots.decision_grid(model, torch.randn(10, 2), resolution=7)
    assert xx.shape == yy.shape == (7, 7) and probs.shape == (7, 7, 3)
    assert np.allclose(probs.sum(-1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        plots.decision_grid(model, torch.randn(10, 3))


def test_target_properties_and_statistics():
    _check(plots.plot_target_properties(lambdas=np.linspace(0, 1, 11), epsilons=(0.0, 0.1), num_classes=5))
    st = plots.target_statistics([0.0, 0.5, 1.0], [0.0, 0.2], num_classes=4)
    # max confidence (1 - eps) max(lam, 1 - lam) + eps / K; entropy log 2 for an even mix without smoothing
    assert st["max_confidence"][0].tolist() == pytest.approx([1.0, 0.5, 1.0])
    assert st["max_confidence"][1].tolist() == pytest.approx([0.85, 0.45, 0.85])
    assert st["entropy"][0][1] == pytest.approx(math.log(2))


def test_reliability_from_metrics_and_from_run_summaries():
    _check(plots.plot_reliability({"erm": _reliability(0), "mixup": _reliability(1)}))
    # a run summary stores empty bins as None and has no bin edges
    summary_style = {"bin_count": [0, 3, 5], "bin_confidence": [None, 0.5, 0.9], "bin_accuracy": [None, 0.4, 1.0]}
    _check(plots.plot_reliability({m: summary_style for m in ("erm", "label_smoothing", "mixup", "mixup_ls")}))


def test_learning_curves():
    _check(plots.plot_learning_curves({"erm": _curves(5, 0.0), "mixup": _curves(5, 1.0)}, "test_ece"))
    with pytest.raises(ValueError, match="no 'nope'"):
        plots.plot_learning_curves({"erm": _curves(3, 0.0)}, "nope")


def test_method_comparison():
    table = pd.DataFrame({"method": ["erm", "erm", "mixup", "mixup"], "final_error": [5.0, 6.0, 4.0, 4.5],
                          "final_nll": [0.3, 0.32, 0.2, 0.21], "final_ece": [0.03, 0.04, 0.01, 0.02],
                          "dataset": ["a", "a", "a", "a"]})
    _check(plots.plot_method_comparison(table))
    _check(plots.plot_method_comparison(table, metrics=("final_error",), hue="dataset"))
    with pytest.raises(ValueError, match="lacks"):
        plots.plot_method_comparison(table, metrics=("missing",))


def test_mixed_examples():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (1, 8, 8), generator=g, dtype=torch.uint8)
    b = torch.randint(0, 256, (1, 8, 8), generator=g, dtype=torch.uint8)
    _check(plots.plot_mixed_examples(a, b, 0, 2, ["zero", "one", "two"], lambdas=(1.0, 0.5, 0.0), epsilon=0.1))
    rgb = torch.rand(2, 3, 8, 8, generator=g)
    _check(plots.plot_mixed_examples(rgb[0], rgb[1], 1, 0, ["cat", "dog"]))


@pytest.mark.parametrize("call", [
    lambda: plots.plot_beta_densities(alphas=(-1.0,)),
    lambda: plots.plot_beta_densities(alphas=(0.0,)),
    lambda: plots.plot_reliability({}),
    lambda: plots.plot_decision_boundaries({}, torch.zeros(3, 2), torch.zeros(3)),
    lambda: plots.target_statistics([0.5], [1.0]),
    lambda: plots.plot_mixed_examples(torch.zeros(1, 2, 2), torch.zeros(1, 2, 2), 0, 1, ["a", "b"], epsilon=-0.1),
])
def test_bad_arguments_raise_value_errors(call):
    with pytest.raises(ValueError):
        call()


def test_plot_epoch_times_draws_one_bar_per_loop_on_a_log_axis():
    from mixup_repro.plots import plot_epoch_times
    from mixup_repro.speed import read_speed_results

    records = read_speed_results(Path(__file__).resolve().parents[1] / "benchmarks" / "results")
    assert records, "the committed CPU speed record is missing"
    fig = plot_epoch_times(records)
    ax = fig.axes[0]
    loops = sum(bool(r["reference"]) + len(r["variants"]) for r in records)
    assert len(ax.patches) == loops and ax.get_xscale() == "log"
    widths = sorted(p.get_width() for p in ax.patches)
    assert widths == sorted([r["reference_s_per_epoch"] for r in records if r["reference"]]
                            + [v["s_per_epoch"] for r in records for v in r["variants"]])
    plt.close(fig)
    empty = plot_epoch_times([])
    assert "no speed record" in empty.axes[0].texts[0].get_text()
    plt.close(empty)


# ---------------------------------------------------------------------------------------------- ECE in percent
def test_ece_is_drawn_in_percent_with_the_unit_on_the_axis():
    curves = {"erm": _curves(5, 0.0)}
    fig = plots.plot_learning_curves(curves, "test_ece")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "test ECE (%)"
    assert ax.lines[0].get_ydata().tolist() == pytest.approx([100 * v for v in curves["erm"]["test_ece"]])
    plt.close(fig)
    table = pd.DataFrame({"method": ["erm", "erm"], "final_error": [5.0, 6.0], "final_nll": [0.3, 0.3],
                          "final_ece": [0.03, 0.05]})
    fig = plots.plot_method_comparison(table, metrics=("final_ece",))
    ax = fig.axes[0]
    assert ax.get_ylabel() == "test ECE (%)"
    assert [p.get_height() for p in ax.patches] == pytest.approx([4.0])  # mean of 3 % and 5 %
    plt.close(fig)


def _count_axes(fig):
    return [ax for ax in fig.axes if ax.get_yscale() == "log"]


def test_reliability_diagrams_show_the_bin_counts_and_name_the_ece():
    rel = _reliability(0)
    fig = plots.plot_reliability({"erm": rel})
    (counts_ax,) = _count_axes(fig)
    filled = [c for c in rel["bin_count"] if c > 0]
    assert sorted(p.get_height() for p in counts_ax.patches) == sorted(filled)
    assert sorted(int(t.get_text()) for t in counts_ax.texts) == sorted(filled)  # each count written on its bar
    assert counts_ax.get_xlabel() == "confidence" and "predictions" in counts_ax.get_ylabel()
    title = " ".join(ax.get_title() for ax in fig.axes)
    assert "ECE (one run)" in title and f"{100 * rel['ece']:.2f} %" in title
    assert f"{sum(filled):,}" in fig._suptitle.get_text()
    plt.close(fig)


def test_reliability_of_pooled_seeds_says_pooled_and_gives_the_per_seed_mean():
    from types import SimpleNamespace

    from mixup_repro.plots import pool_reliability

    runs = [SimpleNamespace(summary={"reliability": _reliability(s), "final_ece": _reliability(s)["ece"]})
            for s in (0, 1, 2)]
    pooled = pool_reliability(runs)
    assert pooled["n_runs"] == 3 and pooled["run_ece"] == pytest.approx([r.summary["final_ece"] for r in runs])
    fig = plots.plot_reliability({"erm": pooled, "mixup": pooled})
    assert len(_count_axes(fig)) == 2
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    mean = 100 * sum(pooled["run_ece"]) / 3
    assert all("pooled over 3 seeds" in t and f"per-seed ECEs: {mean:.2f} %" in t for t in titles)
    assert f"{100 * plots.reliability_ece(pooled):.2f} %" in titles[0]
    plt.close(fig)


def test_epoch_time_axis_labels_are_plain_numbers_that_do_not_overlap():
    from mixup_repro.plots import plot_epoch_times

    # a wide range (0.8 s to 33 s): the default log formatter writes 3×10^0 and 4×10^0 side by side
    records = [{"device": "d", "dataset": "x", "num_train": 10, "model": "m", "settings": {"width": 8},
                "reference": {"num_workers": 2, "s_per_epoch": 6.07, "epoch_s": [5.6, 6.1, 6.3]},
                "variants": [{"name": "a", "s_per_epoch": 0.9, "epoch_s": [0.8, 0.9, 33.0]}],
                "reference_s_per_epoch": 6.07}]
    fig = plot_epoch_times(records)
    ax = fig.axes[0]
    fig.canvas.draw()
    labels = [t for t in ax.get_xticklabels() + ax.get_xticklabels(minor=True) if t.get_visible() and t.get_text()]
    assert labels and all(t.get_text().replace(".", "", 1).isdigit() for t in labels)  # "3", "0.5", not 3×10^0
    boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: b.x0)
    assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:])), "tick labels overlap"
    plt.close(fig)


def test_speed_frame_is_indexed_by_measurement_and_loop():
    from mixup_repro.speed import read_speed_results, speed_frame, speed_rows

    records = read_speed_results(Path(__file__).resolve().parents[1] / "benchmarks" / "results")
    frame = speed_frame(records)
    assert list(frame.index.names) == ["measurement", "loop"]
    assert [loop for _, loop in frame.index] == [r["loop"] for r in speed_rows(records)]
    assert "device" not in frame.columns and "s / epoch" in frame.columns


def test_boundary_statistics_count_the_points_on_the_wrong_side():
    torch.manual_seed(0)
    x = torch.randn(40, 2)
    y = (x[:, 0] > 0).long()
    model = build_model("mlp", 2, 2, hidden=8)
    st = plots.boundary_statistics({"erm": model}, x, y, resolution=15)["erm"]
    with torch.no_grad():
        wrong = int((model(x).argmax(1) != y).sum())
    assert st["train_wrong"] == wrong and st["n_train"] == 40
    assert st["train_error"] == pytest.approx(100 * wrong / 40)
    assert 0.0 <= st["uncertain_area"] <= 100.0 and 0.5 <= st["mean_confidence"] <= 1.0
