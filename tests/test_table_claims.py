"""The paired claims of every table judged from hand-made results folders: Holm's correction over a table, the
regime check (memorisation for the label-noise table), the ε selected on validation, rows not run at a scale."""

from __future__ import annotations

import math

import pytest

from mixup_repro.claims import discussion, paired_claims, paired_claims_markdown, table_claims
from mixup_repro.plan import table_configs
from mixup_repro.results import SCHEMA, atomic_write_json
from mixup_repro.stats import holm
from mixup_repro.tables import TABLES
from mixup_repro.train import result_path, run_id


def _record(cfg, err, *, train_err=0.0, noisy=None):
    n = cfg.epochs
    curves = {"epoch": list(range(1, n + 1)), "train_loss": [1.0] * n, "test_loss": [0.5] * n,
              "test_error": [err] * n, "test_ece": [0.05] * n, "lr": [cfg.lr] * n, "train_error": [train_err] * n}
    if noisy is not None:
        curves["train_error_noisy_labels"] = [90.0] * (n - 1) + [noisy]
        curves["train_error_clean_labels"] = [5.0] * n
    summary = {"median_last10_error": err, "final_error": err, "best_error": err - 1, "final_nll": 0.5,
               "final_ece": err / 1000, "final_train_error": train_err, "epoch_train_error_below_1": 3,
               **{f"fgsm_error_{e:g}": err + 10 for e in cfg.fgsm_eps}}
    return {"schema": SCHEMA, "run_id": run_id(cfg), "config": cfg.to_dict(), "curves": curves, "summary": summary,
            "device": "cpu: test", "versions": {}, "git_commit": None, "started": "2026-01-01T00:00:00+00:00",
            "finished": "2026-01-01T00:01:00+00:00", "wall_s": 60.0}


def _write(out, table, scale, seeds, value, **kw):
    """A results file for every run of ``table``; ``value(key, cfg)`` gives its error (None: no file)."""
    for key, cfg in table_configs(table, scale, None, seeds):
        err = value(key, cfg)
        if err is not None:
            atomic_write_json(result_path(cfg, out), _record(cfg, err, **{k: f(key) for k, f in kw.items()}))


def test_holm_is_applied_over_the_claims_of_a_table(tmp_path):
    # every length: mixup − ERM = −1, −2, −1.5 over 3 seeds (p ≈ 0.035 alone); Holm over 4 claims: not detected
    diff = {0: -1.0, 1: -2.0, 2: -1.5}
    _write(tmp_path, "training_length", "cpu", [0, 1, 2],
           lambda key, cfg: 30.0 + (diff[cfg.seed] if key.startswith("mixup") else 0.0))
    frame = paired_claims("training_length", "cpu", tmp_path)
    assert list(frame["claim"]) == [f"mixup (α = 1) has a lower final test error than ERM after {e} epochs"
                                    for e in (5, 10, 15, 30)]
    p, adj = frame.attrs["p_values"], frame.attrs["holm_p"]
    assert all(0.01 < x < 0.05 for x in p) and adj == pytest.approx(holm(p)) and all(a >= 0.05 for a in adj)
    assert set(frame["verdict"]) == {"not detected"} and set(frame["n"]) == {3}
    assert set(frame["Δ = A − B"]) == {"-1.50"} and "[" in frame.loc[0, "95 % CI"]
    md = paired_claims_markdown(frame, "cpu")
    assert "Holm p: adjusted over the 4 claims of this table" in md and "regime" in md.lower()


def test_label_noise_claims_not_applicable_where_erm_did_not_memorise(tmp_path):
    def err(key, cfg):
        if key.startswith("ERM ["):
            return 40.0 + cfg.seed
        if key.startswith("mixup α=8 ["):
            return 30.0 + cfg.seed * 0.5
        return None

    def noisy(key):  # ERM memorises at 20 % and 50 %, not at 80 %; mixup never
        if key.startswith("ERM"):
            return 60.0 if "80%" in key else 3.0
        return 70.0

    _write(tmp_path, "label_noise", "cpu", [0, 1, 2], err, noisy=noisy)
    frame = paired_claims("label_noise", "cpu", tmp_path)
    assert len(frame) == 15  # 5 claims per level: 3 against ERM, mixup against dropout, mixup + dropout against mixup
    by = dict(zip(frame["claim"], frame["verdict"]))
    assert by["mixup (α = 8) has a lower best test error than ERM + dropout (p = 0.5) with 20 % corrupted labels"] \
        == "not tested"  # no dropout run written here
    for level in (20, 50):
        assert by[f"mixup (α = 8) has a lower final test error than ERM with {level} % corrupted labels"] == "reproduced"
        assert by[f"mixup (α = 8) fits the corrupted labels less than ERM (a higher training error on them) with "
                  f"{level} % corrupted labels"] == "reproduced"
    assert {v for c, v in by.items() if "80 %" in c and "dropout" not in c} == {"not applicable"}
    assert frame.attrs["regime"]["reached"] == "partly"
    assert frame.attrs["regimes"]["ERM [label noise=80%]"]["reached"] is False
    assert "memorised the corrupted labels" in paired_claims_markdown(frame, "cpu")
    assert "Only part of the runs are in the paper's regime" in discussion(frame, "cpu")


def test_ablation_claims_at_both_weight_decays_with_their_own_regime(tmp_path):
    def err(key, cfg):  # by config: "mixup AC + RP" is also the α sweep's "mixup α=1" (one run)
        if cfg.method == "mixup" and cfg.alpha == 1.0 and cfg.pairing == "random":
            return 30.0 + cfg.seed * 0.1 + (0.5 + cfg.seed * 0.01 if cfg.weight_decay == 5e-4 else 0.0)
        if cfg.method == "erm" and cfg.weight_decay == 5e-4:
            return 32.0 + cfg.seed * 0.15
        return 33.0 + cfg.seed * 0.12

    _write(tmp_path, "ablation", "cpu", [0, 1, 2], err,
           train_err=lambda key: 5.0 if key == "ERM [weight decay=5e-4]" else 0.0)
    frame = paired_claims("ablation", "cpu", tmp_path, seeds=[0, 1, 2])
    assert len(frame) == 40 and set(frame["n"]) == {3}
    by = dict(zip(frame["claim"], frame["verdict"]))  # the weight-decay conclusion: ERM prefers 5e-4, mixup 1e-4
    assert by["ERM has a lower test error with weight decay 5e-4 than with 1e-4"] == "reproduced"
    assert by["mixup (AC + RP) has a lower test error with weight decay 1e-4 than with 5e-4"] == "reproduced"
    low = frame[frame["claim"].str.endswith("(weight decay 1e-4)")]
    high = frame[frame["claim"].str.endswith("(weight decay 5e-4)")]
    assert set(low.loc[low["source"] == "paper", "verdict"]) == {"reproduced"}
    assert set(high["verdict"]) == {"not applicable"}  # ERM at 5e-4 did not fit its training images
    assert "mixup (AC + RP) has a lower test error than mixing inputs only (SC + KNN) (weight decay 1e-4)" in set(low["claim"])


def test_eps_validation_claims_use_the_selected_eps(tmp_path):
    val = {0.0: 30.0, 0.05: 25.0, 0.1: 27.0, 0.2: 29.0}
    test = {0.0: 20.0, 0.05: 17.0, 0.1: 19.0, 0.2: 21.0}
    _write(tmp_path, "eps_validation", "smoke", [0, 1, 2],
           lambda key, cfg: (val if cfg.val_fraction > 0 else test)[cfg.label_smoothing] + cfg.seed * (
               0.1 + cfg.label_smoothing))
    frame = paired_claims("eps_validation", "smoke", tmp_path, seeds=[0, 1, 2]).set_index("claim")
    from mixup_repro.summary import selection_margin_text, summarize

    df = summarize("eps_validation", "smoke", tmp_path, seeds=[0, 1, 2])
    m = df.attrs["selection_margin"]  # ε = 0.05 wins by 2 points; its seeds spread by 0.15
    assert df.attrs["selected_eps"] == 0.05 and m["runner_up"] == 0.1 and m["gap"] == pytest.approx(2.05)
    assert "2.05 points below the runner-up's (ε=0.1), more than the standard deviation over seeds (0.15)" in \
        selection_margin_text(df.attrs)
    sel = frame.loc["mixup + label smoothing at the ε selected on validation has a lower test error than mixup"]
    assert float(sel["mean A"]) == pytest.approx(17.0 + 0.15) and sel["verdict"] == "reproduced"
    assert frame.loc["mixup + label smoothing at the fixed ε = 0.1 has a lower test error than mixup", "n"] == 3
    # a validation run missing: the selection is pending and its claims are not tested
    for key, cfg in table_configs("eps_validation", "smoke", None, [0]):
        if key.startswith("validation: ε=0.2"):
            result_path(cfg, tmp_path).unlink()
    pending = paired_claims("eps_validation", "smoke", tmp_path, seeds=[0, 1, 2]).set_index("claim")["verdict"]
    assert list(pending)[:2] == ["not tested", "not tested"] and list(pending)[2] == "reproduced"


def test_claims_of_rows_not_run_at_a_scale_are_left_out(tmp_path):
    assert {c.b.split("[")[1] for c in table_claims("uci", "smoke")} == {"dataset=iris]"}
    assert len(table_claims("uci", "cpu")) == 12 and len(TABLES["uci"].claims) == 14
    _write(tmp_path, "uci", "smoke", [0, 1], lambda key, cfg: 10.0 - (key.startswith("mixup α") * (1 + cfg.seed)))
    frame = paired_claims("uci", "smoke", tmp_path, seeds=[0, 1])
    assert len(frame) == 2 and frame.attrs["regimes"] == {}
    assert frame.loc[0, "Δ = A − B"] == "-1.50" and frame.loc[0, "verdict"] == "not detected"  # p = 0.205 with n = 2


@pytest.mark.parametrize("name", ["calibration", "robustness"])
def test_calibration_and_robustness_claims(tmp_path, name):
    _write(tmp_path, name, "smoke", [0, 1, 2],
           lambda key, cfg: {"ERM": 40.0, "mixup α=1": 35.0}.get(key, 36.0) + cfg.seed * (key == "ERM"))
    frame = paired_claims(name, "smoke", tmp_path, seeds=[0, 1, 2])
    assert len(frame) == (1 if name == "robustness" else 2)  # the smoke scale evaluates FGSM at ε = 0.03 only
    assert frame.loc[0, "verdict"] in ("reproduced", "not detected") and not math.isnan(frame.attrs["p_values"][0])
    assert frame.attrs["regime"]["reached"] is True
    # the same runs and claims as the headline's: judged once, with the headline's Holm correction
    home = paired_claims("headline", "smoke", tmp_path, seeds=[0, 1, 2]).set_index("claim")
    assert frame.attrs["judged_in"] == "headline"
    for _, r in frame.iterrows():
        assert r["Holm p"] == home.loc[r["claim"], "Holm p"] and r["verdict"] == home.loc[r["claim"], "verdict"]
    assert "the claims of the headline table, where these claims are judged" in paired_claims_markdown(frame, "smoke")


def test_a_claim_on_the_headline_runs_is_judged_once_in_the_headline_family(tmp_path):
    # the ablation's ERM and mixup at weight decay 1e-4 are the headline's runs: one test, one verdict
    _write(tmp_path, "headline", "smoke", [0, 1, 2],
           lambda key, cfg: {"ERM": 40.0, "mixup α=1": 37.0}.get(key.split(" [")[0], 39.0) + cfg.seed * 0.3)
    home = paired_claims("headline", "smoke", tmp_path, seeds=[0, 1, 2]).set_index("claim")
    abl = paired_claims("ablation", "smoke", tmp_path, seeds=[0, 1, 2]).set_index("claim")
    twin = abl.loc["mixup (AC + RP) has a lower test error than ERM (weight decay 1e-4)"]
    ref = home.loc["mixup (α = 1) has a lower test error than ERM"]
    assert (twin["Holm p"], twin["verdict"], twin["n"]) == (ref["Holm p"], ref["verdict"], ref["n"]) and twin["n"] == 3
    assert "mixup (AC + RP) has a lower test error than ERM (weight decay 1e-4)" in abl.attrs["twins"]
    abl_md = paired_claims_markdown(abl.reset_index(), "smoke")
    assert "repeat a claim of the headline table" in abl_md
    assert "— the headline table's claim on the same runs, counted there" in abl_md  # marked in its row too


def test_claims_without_a_paired_seed_are_named_under_the_verdict_table_not_rows_of_blanks(tmp_path):
    # the ablation with only its ERM and mixup rows at weight decay 1e-4: every other claim has n = 0
    _write(tmp_path, "ablation", "cpu", [0, 1],
           lambda key, cfg: (30.0 if key.startswith("ERM [") else 27.0 + cfg.seed)
           if key.startswith(("ERM [weight decay=1e-4]", "mixup AC + RP [weight decay=1e-4]")) else None)
    frame = paired_claims("ablation", "cpu", tmp_path)
    md = paired_claims_markdown(frame, "cpu")
    table = [ln for ln in md.splitlines() if ln.startswith("| ")][1:]
    assert len(table) == int((frame["n"] > 0).sum()) >= 1
    assert all("| 0 |" not in ln for ln in table)
    empty = list(frame.loc[frame["n"] == 0, "claim"])
    assert len(empty) >= 10
    assert f"*Not tested* yet, no paired seed finished ({len(empty)} claims): " + "; ".join(empty) + "." in md
