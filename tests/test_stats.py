"""Paired statistics, Holm's correction, verdict words and the regime check; the declared paired claims."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from mixup_repro.claims import PAIRED_CLAIMS, discussion, paired_claims, paired_claims_markdown
from mixup_repro.experiments import table_configs
from mixup_repro.results import SCHEMA, atomic_write_json
from mixup_repro.stats import VERDICT_RULES, VERDICTS, holm, judge, paired_difference, regime_check
from mixup_repro.train import result_path, run_id


def test_paired_difference_matches_a_hand_computed_t_interval():
    a = {0: 30.1, 1: 29.4, 2: 31.0, 3: 30.2, 4: 29.9}
    b = {0: 32.0, 1: 31.1, 2: 32.2, 3: 32.5, 4: 31.0, 7: 1.0}  # seed 7 has no partner: ignored
    r = paired_difference(a, b)
    d = np.array([a[s] - b[s] for s in range(5)])
    half = st.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)
    assert r.n == 5 and r.seeds == (0, 1, 2, 3, 4)
    assert r.mean_diff == pytest.approx(d.mean()) and r.ci_low == pytest.approx(d.mean() - half)
    assert r.ci_high == pytest.approx(d.mean() + half)
    tstat = d.mean() / (d.std(ddof=1) / math.sqrt(5))
    assert r.p == pytest.approx(2 * st.t.sf(abs(tstat), 4))
    assert "95 % CI [" in r.text() and "n = 5" in r.text()


def test_paired_difference_edge_cases():
    assert paired_difference({}, {0: 1.0}).n == 0
    one = paired_difference({0: 1.0}, {0: 2.0})
    assert one.n == 1 and math.isnan(one.p) and one.mean_diff == -1.0
    same = paired_difference({0: 1.0, 1: 2.0}, {0: 2.0, 1: 3.0})  # every difference -1: no spread
    assert same.p == 0.0 and same.ci_low == same.ci_high == -1.0
    nan = paired_difference({0: 1.0, 1: float("nan"), 2: 3.0}, {0: 2.0, 1: 2.0, 2: 5.0})
    assert nan.n == 2 and nan.seeds == (0, 2)
    with pytest.raises(TypeError, match="a must map seed -> value"):
        paired_difference([1.0], {0: 1.0})


def test_holm_against_hand_values():
    # sorted p 0.01, 0.02, 0.04 (m = 3): 0.03, 0.04, 0.04 (monotone); NaN is not counted
    assert holm([0.04, 0.01, float("nan"), 0.02]) == pytest.approx([0.04, 0.03, float("nan"), 0.04], nan_ok=True)
    assert holm([0.5, 0.9]) == [1.0, 1.0]


def test_verdict_rules():
    good = paired_difference({0: 1.0, 1: 1.2, 2: 0.9}, {0: 2.0, 1: 2.1, 2: 2.0})
    assert judge(good, 0.01) == "reproduced" and judge(good, 0.01, direction="higher") == "reversed"
    assert judge(good, 0.2) == "not detected" and judge(good, 0.01, applicable=False) == "not applicable"
    assert judge(paired_difference({0: 1.0}, {0: 2.0}), math.nan) == "not tested"
    assert set(VERDICT_RULES) == set(VERDICTS)
    with pytest.raises(ValueError, match="direction must be"):
        judge(good, 0.01, direction="less")


def test_regime_check():
    recs = [{"config": {"seed": s, "epochs": 30}, "summary": {"final_train_error": e, "epoch_train_error_below_1": ep}}
            for s, e, ep in ((0, 0.0, 17), (1, 0.4, 19))]
    r = regime_check(recs)
    assert r["reached"] is True and "epoch 17–19 of 30" in r["text"]
    recs[1]["summary"]["final_train_error"] = 4.0
    assert regime_check(recs)["reached"] is False and "NOT reached" in regime_check(recs)["text"]
    assert regime_check([{"config": {"seed": 0}, "summary": {}}])["reached"] is None


def _record(cfg, err, train_err):
    n = cfg.epochs
    curves = {"epoch": list(range(1, n + 1)), "train_loss": [1.0] * n, "test_loss": [0.5] * n,
              "test_error": [err] * n, "test_ece": [0.05] * n, "lr": [cfg.lr] * n, "train_error": [train_err] * n}
    summary = {"median_last10_error": err, "final_error": err, "best_error": err, "final_nll": 0.5,
               "final_ece": err / 1000, "final_train_error": train_err, "epoch_train_error_below_1": 12,
               **{f"fgsm_error_{e:g}": err + 10 for e in cfg.fgsm_eps}}
    return {"schema": SCHEMA, "run_id": run_id(cfg), "config": cfg.to_dict(), "curves": curves, "summary": summary,
            "device": "cpu: test", "versions": {}, "git_commit": None, "started": "2026-01-01T00:00:00+00:00",
            "finished": "2026-01-01T00:01:00+00:00", "wall_s": 60.0}


def test_paired_claims_on_results_files(tmp_path):
    base = {"ERM": 40.0, "mixup α=1": 36.0, "mixup α=0.2": 40.0, "label smoothing ε=0.1": 39.0,
            "mixup + label smoothing ε=0.1": 36.5}
    for key, cfg in table_configs("headline", "cpu", None, [0, 1, 2, 3, 4]):
        label = key.split(" [")[0]
        if label in base and "PreAct" in key:
            noise = ((cfg.seed * 7) % 5) / 10 if label != "mixup α=0.2" else ((cfg.seed * 3) % 5 - 2) / 2
            atomic_write_json(result_path(cfg, tmp_path), _record(cfg, base[label] + noise, 0.0))
    frame = paired_claims("headline", "cpu", tmp_path)
    assert len(frame) == len([c for c in PAIRED_CLAIMS if c.table == "headline"])
    by = dict(zip(frame["claim"], frame["verdict"]))
    assert by["mixup (α = 1) has a lower test error than ERM"] == "reproduced"
    assert by["mixup (α = 0.2) has a lower test error than ERM"] == "not detected"
    assert by["mixup + label smoothing (ε = 0.1) has a lower test error than mixup"] == "reversed"
    row = frame[frame["claim"] == "mixup (α = 1) has a lower test error than ERM"].iloc[0]
    assert row["n"] == 5 and row["Δ = A − B"] == "-4.00" and float(row["mean A"]) == pytest.approx(36.2)
    assert frame.attrs["regime"]["reached"] is True
    md = paired_claims_markdown(frame, "cpu")
    assert "**reproduced**" in md and "Holm p" in md and "regime reached" in md
    text = discussion(frame, "cpu")  # the prose quotes the frame's numbers, so it changes with them
    assert "in the paper's regime" in text and "at epoch 12 of 30" in text
    for _, r in frame[frame["n"] >= 2].iterrows():
        assert f"Δ = {r['Δ = A − B']}" in text and f"95 % CI {r['95 % CI']}" in text and r["verdict"] in text.lower()
    assert "claims not detected" not in text  # one claim is not detected here: nothing to count
    # ERM did not fit its training data: every claim of the table is not applicable
    for cfg in [c for k, c in table_configs("headline", "cpu", None, [0]) if k.startswith("ERM [model=PreAct")]:
        atomic_write_json(result_path(cfg, tmp_path), _record(cfg, 40.0, 12.0))
    off = paired_claims("headline", "cpu", tmp_path)
    assert set(off["verdict"]) == {"not applicable"} and "**not** in the paper's regime" in discussion(off, "cpu")
    with pytest.raises(ValueError, match="no paired claims"):
        paired_claims("speech", "cpu", tmp_path)  # judged by mixup_repro.speech_report


def test_regime_line_reports_memorisation_and_fit(tmp_path):
    from mixup_repro.claims import regime_line

    assert "no finished run" in regime_line("label_noise", "cpu", tmp_path)
    for key, cfg in table_configs("label_noise", "cpu", None, [0]):
        if key.startswith("ERM [label noise=50") or key.startswith("mixup α=8 [label noise=50"):
            rec = _record(cfg, 40.0, 0.0)
            rec["curves"]["train_error_noisy_labels"] = [90.0, 3.0 if key.startswith("ERM") else 60.0]
            atomic_write_json(result_path(cfg, tmp_path), rec)
    line = regime_line("label_noise", "cpu", tmp_path)
    # grouped by noise level; per row: mean over seeds and how many seeds memorised (below 10 %)
    assert "**label noise 50%**: ERM 3.0 % (1/1); mixup α=8 60.0 % (0/1)." in line
    assert "label noise 20%" not in line and line.count("ERM") == 2  # the other in the rule's sentence
    for key, cfg in table_configs("headline", "cpu", None, [0, 1]):
        if key.startswith("ERM [model=PreAct"):
            atomic_write_json(result_path(cfg, tmp_path), _record(cfg, 40.0, 0.3 + cfg.seed))
    assert "0.30–1.30 % over 2 seed(s)" in regime_line("headline", "cpu", tmp_path) and "NOT reached" in \
        regime_line("headline", "cpu", tmp_path)


def test_regime_line_of_a_table_without_an_erm_row_reads_the_headline_erm(tmp_path):
    from mixup_repro.claims import regime_line

    for key, cfg in table_configs("headline", "cpu", None, [0, 1]):
        if key.startswith("ERM [model=PreAct"):
            atomic_write_json(result_path(cfg, tmp_path), _record(cfg, 40.0, 0.3 + cfg.seed))
    line = regime_line("eps_validation", "cpu", tmp_path)
    assert line.startswith("**Regime check (cpu scale):** this table has no ERM row; the headline table's ERM runs")
    assert "0.30–1.30 % over 2 seed(s)" in line and "no finished ERM run" not in line


def test_format_p_is_the_one_p_value_format_of_the_book():
    from mixup_repro.stats import format_p

    assert format_p(0.0004) == "< 0.001" and format_p(0.001) == "0.001" and format_p(0.03249) == "0.032"
    assert format_p(float("nan")) == "" and format_p(float("nan"), "n/a") == "n/a"
    r = paired_difference({0: 1.0}, {0: 0.5})  # one pair: no test
    assert r.text().startswith("n = 1 paired seed(s)")


def test_discussion_counts_the_side_of_the_claims_not_detected():
    import pandas as pd

    rows = [("A is lower than B", "-1.00", "lower"), ("C is lower than D", "+0.50", "lower"),
            ("E is higher than F", "+2.00", "higher"), ("G is lower than H", "+0.00", "lower")]
    frame = pd.DataFrame([{"claim": c, "source": "paper", "metric": "test error (%)", "mean A": "1", "mean B": "1",
                           "Δ = A − B": d, "95 % CI": "[-9.00, +9.00]", "p": "0.5", "Holm p": "1.000", "n": 3,
                           "verdict": "not detected"} for c, d, _ in rows])
    frame.attrs.update(regimes={}, directions=[side for *_, side in rows])
    text = discussion(frame, "cpu")
    assert ("Of these 4 claims not detected, 2 have their mean Δ on the side the claim predicts and 1 on the other "
            "side (the rest are exactly 0)") in text
    assert "it is not a test" in text
    frame.attrs.pop("directions")  # a frame from before the directions were recorded: no count, no error
    assert "claims not detected" not in discussion(frame, "cpu")
