"""The speech chapter's machinery: spectrogram models, the speaker-disjoint split, eval_split, the speech table,
the validation selection and the paired claims."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from test_local_data import make_speech  # tests/ is on sys.path under pytest

from mixup_repro import experiments as ex
from mixup_repro import speech_report as sr
from mixup_repro.models import build_model, count_parameters
from mixup_repro.results import atomic_write_json
from mixup_repro.speech import read_speech_commands, speaker_split
from mixup_repro.train import TrainConfig, fit, result_path, run_id

REAL = Path(os.environ.get("MIXUP_REPRO_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
ARCHIVE = REAL / "speech-commands-test-v0.02.tar.gz"


# ----------------------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------------------
def _lenet_count(k: int) -> int:
    return (25 * 1 + 1) * 6 + (25 * 6 + 1) * 16 + (400 + 1) * 120 + (120 + 1) * 84 + (84 + 1) * k


def _vgg_count(w: int, k: int) -> int:
    chans = [1] + [w * m for m in (1, 2, 4, 4, 8, 8, 8, 8)]
    conv = sum(9 * a * b + 2 * b for a, b in zip(chans, chans[1:]))  # conv (no bias) + BN affine
    return conv + 8 * w * k + k


def _gru_count(f: int, h: int, k: int, directions: int) -> int:
    return directions * 3 * (f * h + h * h + 2 * h) + directions * h * k + k


@pytest.mark.parametrize("name,kw,expected", [
    ("lenet", {}, _lenet_count(12)),
    ("vgg11", {}, _vgg_count(64, 12)),
    ("vgg11", {"width": 16}, _vgg_count(16, 12)),
    ("vgg11", {"width": 8}, _vgg_count(8, 12)),
    ("gru", {"hidden": 64}, _gru_count(40, 64, 12, 1)),
    ("gru", {"hidden": 64, "bidirectional": True}, _gru_count(40, 64, 12, 2)),
])
def test_speech_model_parameter_counts(name, kw, expected):
    model = build_model(name, 12, 40 if name == "gru" else 1, **kw)
    assert count_parameters(model) == expected
    # the documented numbers
    documented = {("lenet", ()): 61_876, ("vgg11", ()): 9_228_236, ("vgg11", (("width", 16),)): 579_068,
                  ("vgg11", (("width", 8),)): 145_540,
                  ("gru", (("bidirectional", True), ("hidden", 64))): 42_252}
    key = (name, tuple(sorted(kw.items())))
    if key in documented:
        assert expected == documented[key]


def test_speech_models_shapes_and_mix_layers():
    torch.manual_seed(0)
    x = torch.randn(3, 1, 40, 101)
    vgg = build_model("vgg11", 12, 1, width=4).eval()
    shapes = []
    vgg(x, mix_layer=5, mix_fn=lambda h: shapes.append(tuple(h.shape[1:])) or h)
    assert shapes == [(32, 2, 4)] and vgg.num_mix_layers == 6  # five ceil-mode poolings: 40x101 -> 2x4
    for k in range(vgg.num_mix_layers):  # every layer mixes (the output stays (B, classes))
        assert vgg(x, mix_layer=k, mix_fn=lambda h: 0.5 * h + 0.5 * h.flip(0)).shape == (3, 12)
    lenet = build_model("lenet", 12, 1).eval()
    assert lenet(x).shape == (3, 12) and lenet.num_mix_layers == 3
    assert lenet(torch.randn(2, 1, 16, 16)).shape == (2, 12)
    gru = build_model("gru", 12, 40, hidden=8, bidirectional=True).eval()
    seq = torch.randn(3, 101, 40)
    assert gru(seq).shape == (3, 12)
    # the backward direction sees the whole sequence: changing the first frame changes the output
    seq2 = seq.clone()
    seq2[:, 0] += 5
    assert not torch.allclose(gru(seq), gru(seq2))
    mixed = gru(seq, mix_layer=0, mix_fn=lambda h: 0.3 * h + 0.7 * h.flip(0))  # mixup on the 3-D input
    assert mixed.shape == (3, 12)


@pytest.mark.parametrize("args,kw,err,match", [
    (("lenet", 12, 1), {}, ValueError, r"at least 16 x 16"),
    (("vgg11", 12, 1), {"width": 0}, ValueError, r"width must be >= 1"),
    (("gru", 12, 40), {"bidirectional": 1}, TypeError, r"bidirectional must be True or False"),
    (("lenet", 12, 1), {"width": 8}, TypeError, r"unknown option\(s\) width for model 'lenet'"),
])
def test_speech_model_bad_arguments(args, kw, err, match):
    with pytest.raises(err, match=match):
        model = build_model(*args, **kw)
        model(torch.randn(2, 1, 12, 12))


def test_speech_models_refuse_wrong_channels():
    with pytest.raises(ValueError, match=r"x must have shape \(B, 1, H, W\)"):
        build_model("vgg11", 12, 1, width=4)(torch.randn(2, 3, 40, 101))


# ----------------------------------------------------------------------------------------------------------
# Configs
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw,match", [
    ({"dataset": "two-moons", "eval_split": "validation"}, r"eval_split = 'validation' needs a dataset"),
    ({"dataset": "speech-commands", "eval_split": "train"}, r"eval_split must be one of"),
    ({"dataset": "speech-commands", "val_fraction": 0.2}, r"val_fraction does not apply to 'speech-commands'"),
    ({"dataset": "speech-commands", "model": "lenet", "rnn_hidden": 32}, r"rnn_hidden and bidirectional shape model 'gru'"),
])
def test_speech_config_errors_name_the_field(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kw)


def test_new_fields_keep_existing_run_ids():
    cfg = TrainConfig(dataset="fashion-mnist", model="gru", method="erm")
    assert run_id(cfg) == run_id(TrainConfig.from_dict({k: v for k, v in cfg.to_dict().items()
                                                        if k not in ("eval_split", "rnn_hidden", "bidirectional")}))
    # the committed results files (written before these fields existed) keep their run ids
    import json

    files = sorted((Path(__file__).resolve().parents[1] / "results" / "cpu").glob("*.json"))[:20]
    for f in files:
        assert run_id(TrainConfig.from_dict(json.loads(f.read_text())["config"])) == f.stem


# ----------------------------------------------------------------------------------------------------------
# Split and smoke runs (synthetic clips; the real archive where it is present)
# ----------------------------------------------------------------------------------------------------------
def test_real_split_is_speaker_disjoint():
    if not ARCHIVE.is_file():
        pytest.skip(f"{ARCHIVE} not present")
    arrays, _ = read_speech_commands(ARCHIVE)
    split = np.array([speaker_split(str(s)) for s in arrays["speaker"]])
    parts = {p: set(arrays["speaker"][split == p].tolist()) for p in ("train", "validation", "test")}
    assert not parts["train"] & parts["validation"] and not parts["train"] & parts["test"]
    assert not parts["validation"] & parts["test"]
    assert [int((split == p).sum()) for p in ("train", "validation", "test")] == [3322, 882, 686]


@pytest.mark.parametrize("model,kw", [("lenet", {}), ("vgg11", {"width": 4}),
                                      ("gru", {"rnn_hidden": 8, "bidirectional": True})])
def test_smoke_run_of_each_speech_model(tmp_path, model, kw):
    make_speech(tmp_path / "data", speakers=12)
    cfg = TrainConfig(dataset="speech-commands", data_dir=str(tmp_path / "data"), model=model, method="mixup_ls",
                      alpha=0.2, label_smoothing=0.1, optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=16,
                      epochs=2, augment=False, eval_split="test+validation", device="cpu", checkpoint_every=0, **kw)
    res = fit(cfg, tmp_path / "out", quiet=True)
    s = res.summary
    split = res.record["data_source"]["split"]
    assert s["num_train"] == split["train"]["clips"] and s["num_eval"] == split["test"]["clips"]
    assert s["val_num_eval"] == split["validation"]["clips"] > 0
    assert len(res.curves["val_error"]) == 2 and 0 <= s["val_final_error"] <= 100
    assert s["evaluated_on"] == "test" and "final_train_error" in s
    assert result_path(cfg, tmp_path / "out").is_file()
    only_val = TrainConfig(**{**cfg.to_dict(), "eval_split": "validation", "fgsm_eps": (), "milestones": None})
    res_v = fit(only_val, None, quiet=True)
    assert res_v.summary["evaluated_on"] == "validation" and res_v.summary["num_eval"] == split["validation"]["clips"]
    assert "val_error" not in res_v.curves


def test_cnns_refuse_sequence_data_and_mlp_is_suggested(tmp_path):
    from mixup_repro.data import load_dataset
    from mixup_repro.run_data import model_for as _model_for

    make_speech(tmp_path, speakers=12)
    ds = load_dataset("speech-commands", tmp_path, layout="sequence")
    with pytest.raises(ValueError, match=r"needs image or spectrogram data.*'gru'"):
        _model_for(TrainConfig(dataset="speech-commands", model="lenet"), ds)


# ----------------------------------------------------------------------------------------------------------
# The table, the selection and the claims
# ----------------------------------------------------------------------------------------------------------
def test_speech_table_declaration():
    cfgs = ex.table_configs("speech", "cpu")
    assert len(cfgs) == 3 * (5 + 15 * 2) == 105  # ERM 5 seeds, each of the 15 α / ε candidates 2 (selection)
    assert {c.seed for k, c in cfgs if k.startswith("ERM")} == {0, 1, 2, 3, 4}
    assert {c.seed for k, c in cfgs if not k.startswith("ERM")} == {0, 1}
    assert all(c.eval_split == "test+validation" and c.dataset == "speech-commands" for _, c in cfgs)
    assert all(c.epochs == ex.SPEECH_CPU_EPOCHS and c.optimizer == "adam" and c.batch_size == 100 for _, c in cfgs)
    assert {c.model for _, c in cfgs} == {"lenet", "vgg11", "gru"}
    assert len(ex.table_configs("speech", "smoke")) == 12  # one candidate per method and model
    assert len(ex.table_configs("speech", "paper")) == 240
    with pytest.raises(ValueError, match="--dataset does not apply to table 'speech'"):
        ex.table_configs("speech", "cpu", dataset="cifar10")
    est = ex.dry_run([("speech", None, None)], "cpu", Path("/nonexistent"), workers=2)
    assert "speech: 132 distinct runs" in est and "estimated" in est  # 105 + 27 for the 9 choices' seeds 2-4
    assert "27 more once the pending selections are made" in est


def _fake(cfg, out, test_err, val_err, train_err=0.5, ece=0.05):
    n = cfg.epochs
    curves = {"epoch": list(range(1, n + 1)), "train_loss": [1.0] * n, "test_loss": [0.5] * n,
              "test_error": [test_err] * n, "test_ece": [ece] * n, "lr": [1e-3] * n, "val_error": [val_err] * n}
    summary = {"median_last10_error": test_err, "final_error": test_err, "best_error": test_err, "final_nll": 0.5,
               "final_ece": ece, "val_final_error": val_err, "val_final_ece": ece, "final_train_error": train_err,
               "reliability": {"bin_count": [1], "bin_confidence": [0.5], "bin_accuracy": [0.5]}}
    rec = {"schema": "mixup_repro.run/1", "run_id": run_id(cfg), "config": cfg.to_dict(), "curves": curves,
           "summary": summary, "device": "cpu", "versions": {}, "git_commit": None, "started": "", "finished": "",
           "wall_s": 1.0}
    atomic_write_json(result_path(cfg, out), rec)


def _fill(out, seeds=(0, 1, 2, 3, 4), erm_train_err=0.5):
    """Fake cpu-scale results: mixup α=0.2 best on validation (but α=1 best on test: must not be chosen),
    VGG-11 gains 4 pp from mixup, LeNet 1 pp, GRU nothing; ε=0.05 best for LS, ε=0.2 for mixup + LS."""
    rng = np.random.default_rng(0)
    for key, cfg in ex.table_configs("speech", "cpu", seeds=None if seeds is None else list(seeds)):
        _fake_row(key, cfg, out, rng, erm_train_err)


def _fake_row(key, cfg, out, rng, erm_train_err=0.5):
    base = {"LeNet": 30.0, "VGG-11": 20.0, "GRU": 40.0}
    gain = {"LeNet": 1.0, "VGG-11": 4.0, "GRU": 0.0}
    model = key.split("[model=")[1].rstrip("]")
    noise = float(rng.normal(0, 0.1))
    test, val = base[model] + noise, base[model] + noise
    if cfg.method in ("mixup", "mixup_ls"):
        test -= gain[model] - (0.0 if cfg.alpha == 0.2 else 0.5)
        val -= gain[model] - (0.0 if cfg.alpha == 0.2 else 0.5)
        if cfg.alpha == 1.0:
            test -= 3.0  # best on test, never chosen: the test speakers are not looked at
    if cfg.method == "label_smoothing":
        val -= {0.05: 0.3, 0.1: 0.2, 0.2: 0.1}[cfg.label_smoothing]
    if cfg.method == "mixup_ls":
        val -= {0.05: 0.1, 0.1: 0.2, 0.2: 0.3}[cfg.label_smoothing]
    _fake(cfg, out, test, val, train_err=erm_train_err if cfg.method == "erm" else 5.0)


def test_selection_on_validation_and_claims(tmp_path):
    out = tmp_path / "res"
    sel = sr.speech_selection("cpu", out)
    assert (sel["choice"].str.startswith("pending")).sum() == 9 and (sel["seeds"] == 0).all()
    claims = sr.speech_claims("cpu", out)
    assert set(claims["verdict"]) == {"not tested"}
    assert "No ERM run" in sr.speech_discussion(claims, sel, "cpu")
    _fill(out)
    sel = sr.speech_selection("cpu", out)
    assert sel.loc[("VGG-11", "mixup"), "choice"] == "α=0.2"  # lowest validation error, not the test's best α=1
    assert sel.loc[("LeNet", "label smoothing"), "choice"] == "ε=0.05"
    assert sel.loc[("GRU", "mixup + label smoothing"), "choice"] == "α=0.2, ε=0.2"
    assert (sel["seeds"] == 5).all() and "±" in sel.loc[("VGG-11", "ERM"), "test error (%)"]
    eps = sr.speech_best_eps("cpu", out)
    assert eps.loc[("LeNet", "without mixup"), "best ε"] == "0.05"
    assert eps.loc[("LeNet", "with mixup"), "best ε"] == "0.2" and eps.loc[("LeNet", "with mixup"), "at α"] == "0.2"
    claims = sr.speech_claims("cpu", out).set_index("claim")
    verdict = claims["verdict"]
    assert verdict["VGG-11: mixup (α chosen on validation) has a lower test error than ERM"] == "reproduced"
    assert verdict["LeNet: mixup (α chosen on validation) has a lower test error than ERM"] == "reproduced"
    assert verdict["GRU: mixup (α chosen on validation) has a lower test error than ERM"] == "not detected"
    gain = claims.loc["the test-error gain of mixup over ERM is larger for VGG-11 than for LeNet"]
    assert gain["verdict"] == "reproduced" and abs(float(gain["Δ = A − B"]) - 3.0) < 0.2 and gain["n"] == 5
    md = sr.speech_claims_markdown(sr.speech_claims("cpu", out), "cpu")
    assert "**reproduced**" in md and "Holm p" in md
    text = sr.speech_discussion(sr.speech_claims("cpu", out), sel, "cpu")
    assert "ERM fitted its training clips for LeNet, VGG-11, GRU" in text and "*Reproduced*" in text


def test_two_stage_seeds_choose_on_two_then_confirm_on_five(tmp_path):
    """CPU scale: candidates run 2 seeds, α / ε are chosen on those, then the chosen rows get seeds 2-4 (the
    sweep's follow-up), and the extra seeds do not change the choice."""
    out = tmp_path / "res"
    rng = np.random.default_rng(1)
    _fill(out, seeds=None)  # stage 1: ERM 5 seeds, candidates 2
    sel = sr.speech_selection("cpu", out)
    assert sel.loc[("VGG-11", "mixup"), "choice"] == "α=0.2" and sel.loc[("VGG-11", "mixup"), "seeds"] == 2
    assert sel.loc[("VGG-11", "ERM"), "seeds"] == 5
    todo = sr.speech_confirm_configs("cpu", out)
    assert len(todo) == 27 and {c.seed for c in todo} == {2, 3, 4}
    assert {(c.model, c.method, c.alpha) for c in todo if c.method == "mixup"} == {
        ("lenet", "mixup", 0.2), ("vgg11", "mixup", 0.2), ("gru", "mixup", 0.2)}
    assert todo == ex.followup_configs([("speech", None, None)], "cpu", out)
    assert ex.followup_configs([("speech", None, ["ERM"])], "cpu", out) == []  # --rows: no follow-up
    assert "chosen rows' remaining seeds: 27 missing" in ex.dry_run([("speech", None, None)], "cpu", out)
    for cfg in todo:  # stage 2; the chosen rows' new seeds look bad on validation: the choice must not move
        _fake_row("x [model=" + {"lenet": "LeNet", "vgg11": "VGG-11", "gru": "GRU"}[cfg.model] + "]", cfg, out, rng)
        rec = json.loads(result_path(cfg, out).read_text())
        rec["summary"]["val_final_error"] += 50.0
        atomic_write_json(result_path(cfg, out), rec)
    assert sr.speech_confirm_configs("cpu", out) == []
    sel2 = sr.speech_selection("cpu", out)
    assert (sel2["choice"] == sel["choice"]).all() and (sel2["seeds"] == 5).all()
    claims = sr.speech_claims("cpu", out).set_index("claim")
    assert (claims["n"] == 5).all()


def test_claims_not_applicable_when_erm_does_not_fit(tmp_path):
    _fill(tmp_path, seeds=(0, 1, 2), erm_train_err=12.0)
    claims = sr.speech_claims("cpu", tmp_path, seeds=[0, 1, 2])
    assert set(claims["verdict"]) == {"not applicable"}
    assert "regime NOT reached" in sr.speech_claims_markdown(claims, "cpu")


def test_plot_spectrograms_mixes_two_clips(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    make_speech(tmp_path, speakers=12)
    fig = sr.plot_spectrograms(tmp_path, words=("yes", "no"), lam=0.7)
    assert len(fig.axes) == 4
    bars = [p.get_width() for p in fig.axes[-1].patches]
    assert sorted(bars)[-2:] == pytest.approx([0.3, 0.7])
    with pytest.raises(ValueError, match="words must be one of"):
        sr.plot_spectrograms(tmp_path, words=("yes", "maybe"))
    with pytest.raises(FileNotFoundError, match="speech-commands: neither"):
        sr.plot_spectrograms(tmp_path / "none")
