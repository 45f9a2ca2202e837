"""The declarations: row references checked when a table is built, run ids unchanged, README rows declared with
each table, and the CPU time model against the measured CIFAR-10 runs."""

from __future__ import annotations

import dataclasses
import json
import re
import statistics
from pathlib import Path

import pytest

from mixup_repro.declare import PairedClaim, Row, Table
from mixup_repro.plan import table_configs
from mixup_repro.tables import ROW_PRESETS, TABLES
from mixup_repro.timing import TIME_MODEL, estimate_seconds, sweep_estimate
from mixup_repro.train import result_path, run_id

ROOT = Path(__file__).resolve().parents[1]
ROWS = (Row("ERM", {"method": "erm"}), Row("mixup α=1", {"method": "mixup", "alpha": 1.0}))


def test_run_ids_of_every_table_unchanged_by_the_refactor():
    # computed on the base commit 89b2eb3 (before the split of experiments.py); the sweep's results use them
    expected = json.loads((Path(__file__).parent / "data" / "table_run_ids_cpu.json").read_text())
    assert set(expected) <= set(TABLES)  # a table added later needs no entry here
    seed_of = re.compile(r"_s(\d+)_[0-9a-f]{10}$")
    for name in expected:  # rows may gain or lose seeds since; a run planned then and now keeps its id
        before = {(k, int(seed_of.search(i).group(1))): i for k, i in expected[name]}
        now = {(k, c.seed): run_id(c) for k, c in table_configs(name, "cpu")}
        common = before.keys() & now.keys()
        assert len(common) >= min(len(before), len(now)) * 0.4, name
        assert {k: now[k] for k in common} == {k: before[k] for k in common}, name


def test_headline_run_ids_match_the_committed_results_files():
    folder = Path(__file__).parents[1] / "results" / "cpu"
    if not folder.is_dir():
        pytest.skip(f"{folder} is missing")
    files = {p.stem for p in folder.glob("cifar10_*.json")}
    ids = {run_id(c) for name in TABLES for _, c in table_configs(name, "cpu")}
    assert files and files <= ids  # every committed CIFAR-10 run is still a run of a declared table
    assert files & {run_id(c) for _, c in table_configs("headline", "cpu")}


def test_every_claim_is_testable_by_the_seed_plan_at_the_cpu_and_paper_scales():
    # a claim whose row is planned with one seed can never get a paired CI: it would stay 'not tested' for good
    # (the ε table's "selected ε" row is resolved from the validation runs when the claim is judged)
    rows = [(name, t, c.id, t.row(key)) for name, t in TABLES.items() for c in t.claims for key in (c.a, c.b)
            if key in {r.key for r in t.rows}]
    assert len(rows) > 100
    short = [(name, cid, row.key, scale) for name, t, cid, row in rows for scale in ("cpu", "paper")
             if row.runnable(scale) and t.row_seeds(row, scale) < 2]
    assert short == []


def test_a_claim_naming_a_missing_row_fails_when_the_table_is_built():
    good = PairedClaim("ok", "mixup beats ERM", "paper", "t", "mixup α=1", "ERM")
    assert Table("t", "T", ROWS, claims=(good,)).claims == (good,)
    bad = PairedClaim("bad", "mixup beats ERM", "paper", "t", "mixup α=2", "ERM")
    with pytest.raises(ValueError, match="paired claim 'bad': table 't' has no row 'mixup α=2'"):
        Table("t", "T", ROWS, claims=(bad,))
    with pytest.raises(ValueError, match="has no row 'ERM \\[x=1\\]'"):
        Table("t", "T", ROWS, claims=(PairedClaim("r", "s", "paper", "t", "ERM", "mixup α=1", regime="ERM [x=1]"),))
    with pytest.raises(ValueError, match="names table 'u'"):
        Table("t", "T", ROWS, claims=(PairedClaim("w", "s", "paper", "u", "ERM", "mixup α=1"),))
    with pytest.raises(ValueError, match="unknown metric"):
        Table("t", "T", ROWS, claims=(PairedClaim("m", "s", "paper", "t", "ERM", "mixup α=1", "accuracy"),))
    with pytest.raises(ValueError, match="declared twice"):
        Table("t", "T", ROWS, claims=(good, good))


def test_presets_and_readme_rows_are_checked_when_the_table_is_built():
    with pytest.raises(ValueError, match="unknown row 'mixup α=8' for table 't'"):
        Table("t", "T", ROWS, presets={"core": ("ERM", "mixup α=8")})
    with pytest.raises(ValueError, match="README row\\(s\\) ERM \\+ dropout are not row labels"):
        Table("t", "T", ROWS, readme=(("ERM", "ERM + dropout"), ("final_error",)))
    with pytest.raises(ValueError, match="README metric\\(s\\) accuracy unknown"):
        Table("t", "T", ROWS, readme=(None, ("accuracy",)))
    with pytest.raises(ValueError, match="row key\\(s\\) declared twice: ERM"):
        Table("t", "T", ROWS + (Row("ERM", {"method": "erm"}),))
    assert ROW_PRESETS == {"ablation": {"core": TABLES["ablation"].presets["core"]},
                           "label_noise": {"core": ("ERM", "ERM + dropout p=0.5", "mixup α=8")}}


def test_readme_rows_declared_with_each_table():
    # the content of report._README_TABLES at the base commit, now declared beside each table
    base = {
        "headline": (None, ("median_last10_error", "final_error")),
        "ablation": (("ERM", "mixup AC + RP", "label smoothing ε=0.1", "mix inputs + label smoothing ε=0.1",
                      "Gaussian noise σ=0.1", "mixup + label smoothing ε=0.1"), ("median_last10_error",)),
        "label_noise": (("ERM", "ERM + dropout p=0.5", "mixup α=8", "mixup α=8 + dropout p=0.5"),
                        ("best_error", "final_error", "train_error_noisy_labels")),
        "uci": (None, ("final_error",)),
        "calibration": (None, ("final_ece", "final_nll", "overconfidence")),
        "robustness": (None, ("final_error", "fgsm")),
        "eps_validation": (None, ("median_last10_error",)),
        "training_length": (None, ("final_error",)),  # the median of the last 10 epochs would span most of a 5-epoch run
    }
    assert {n: TABLES[n].readme for n in base} == base
    assert all(t.readme is not None for n, t in TABLES.items() if n != "speech")


def test_every_table_but_speech_declares_paired_claims():
    assert {n for n, t in TABLES.items() if t.claims} == set(TABLES) - {"speech"}


def _measured_walls(table: str, rows=None) -> list[float]:
    """Wall times (s) of the committed results/cpu runs of ``table`` (read from the results files)."""
    walls = []
    for _, cfg in table_configs(table, "cpu", rows=rows):
        path = result_path(cfg, ROOT / "results" / "cpu")
        if path.exists():
            walls.append(json.loads(path.read_text())["wall_s"])
    return walls


IDLE_SWEEP_ROWS = [f"{r} [weight decay=1e-4]" for r in (
    "mix inputs only SC + RP", "mix inputs only AC + RP", "mixup AC + KNN",
    "mix labels and latent representations (AC + RP) layer 1", "mix labels and latent representations (AC + RP) layer 3")]
"""The ablation rows of the time model's 10,000-image measurement (with the headline's CutMix runs)."""


def test_cpu_time_model_predicts_the_measured_cifar_runs():
    # fitted to the 15 runs of a sweep with nothing else running (10,000 images, 30 epochs): within 10 % of them
    walls = _measured_walls("ablation", rows=IDLE_SWEEP_ROWS) + _measured_walls("headline", rows=["CutMix α=1"])
    assert len(walls) >= 15 and f"median {statistics.median(walls):.0f} s" in TIME_MODEL["cpu"]["source"]
    for _, cfg in table_configs("headline", "cpu"):
        assert (cfg.dataset, cfg.width, cfg.epochs, cfg.subset, cfg.test_subset) == ("cifar10", 8, 30, 1000, 200)
        assert abs(estimate_seconds(cfg, "cpu") - statistics.median(walls)) <= 0.10 * statistics.median(walls)
    # and the small-data factor to the label-noise runs (2,000 images, 40 epochs): within 15 % of their median
    noise = _measured_walls("label_noise", rows=["50%"])
    assert len(noise) >= 19 and f"median {statistics.median(noise):.0f} s" in TIME_MODEL["cpu"]["source"]
    for _, cfg in table_configs("label_noise", "cpu", rows=["50%"]):
        assert abs(estimate_seconds(cfg, "cpu") - statistics.median(noise)) <= 0.15 * statistics.median(noise)
    # the regime curve's evaluations are counted: switching eval_train off makes a run cheaper
    cfg = table_configs("headline", "cpu", rows=["ERM"])[0][1]
    assert estimate_seconds(dataclasses.replace(cfg, eval_train=False), "cpu") < estimate_seconds(cfg, "cpu") - 40
    # --dry-run --workers 2 on a 2-core machine: one thread per run, the same estimate
    cfg = table_configs("label_noise", "cpu", rows=["50%"])[0][1]
    if (__import__("os").cpu_count() or 1) == 2:
        assert abs(sweep_estimate(cfg, "cpu", 2) - estimate_seconds(cfg, "cpu")) <= 15
