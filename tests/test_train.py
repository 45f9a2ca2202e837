"""The training engine on real data (Fashion-MNIST subsets, 2-D points), CPU scale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mixup_repro import METHODS, TrainConfig, fit, load_dataset, read_result, run_id
from mixup_repro.results import CURVE_KEYS, REQUIRED_KEYS
from mixup_repro.train import SMOOTHING_METHODS

TINY = dict(dataset="fashion-mnist", width=4, subset=10, test_subset=10, batch_size=32, epochs=1, device="cpu")


def test_fit_fashion_mnist_learns_and_writes_results(tmp_path):
    cfg = TrainConfig(dataset="fashion-mnist", width=16, subset=100, test_subset=100, batch_size=64, lr=0.05,
                      method="mixup_ls", alpha=1.0, label_smoothing=0.1, epochs=2, seed=0, device="cpu")
    res = fit(cfg, tmp_path, quiet=True)
    # chance is 90 % error; two epochs on 1000 images already do far better
    assert res.summary["final_error"] < 70.0
    rec = read_result(res.path)
    assert set(REQUIRED_KEYS) <= set(rec)
    assert rec["config"]["method"] == "mixup_ls" and rec["config"]["label_smoothing"] == 0.1
    assert all(len(rec["curves"][k]) == 2 for k in CURVE_KEYS)
    assert rec["curves"]["epoch"] == [1, 2]
    assert rec["summary"]["median_last10_error"] == pytest.approx(sorted(rec["curves"]["test_error"])[0] / 2
                                                                    + sorted(rec["curves"]["test_error"])[1] / 2)
    assert rec["device"].startswith("cpu") and rec["versions"]["torch"] == torch.__version__
    assert rec["run_id"] == run_id(cfg) == res.path.stem
    assert rec["wall_s"] > 0 and rec["finished"] >= rec["started"]
    assert sum(rec["summary"]["reliability"]["bin_count"]) == 1000
    assert not list(tmp_path.glob("*.tmp")) and not list((tmp_path / "checkpoints").glob("*"))
    # re-running a finished config is a no-op: the stored result comes back, the file is untouched
    mtime = res.path.stat().st_mtime_ns
    again = fit(cfg, tmp_path, quiet=True)
    assert again.model is None and again.curves == rec["curves"] and res.path.stat().st_mtime_ns == mtime


def test_same_seed_bit_identical_and_other_seed_differs():
    cfg = TrainConfig(**TINY | dict(epochs=2, method="mixup"))
    a, b = fit(cfg, quiet=True), fit(cfg, quiet=True)
    assert a.curves == b.curves
    for (ka, va), (_, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items()):
        assert torch.equal(va, vb), ka
    c = fit(TrainConfig(**TINY | dict(epochs=2, method="mixup", seed=1)), quiet=True)
    assert c.curves["train_loss"] != a.curves["train_loss"]


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains(method):
    kw = dict(method=method)
    if method in SMOOTHING_METHODS:
        kw["label_smoothing"] = 0.1
    if method == "manifold":
        kw["mix_layer"] = 3
    res = fit(TrainConfig(**TINY | kw), quiet=True)
    assert len(res.curves["test_error"]) == 1 and res.curves["train_loss"][0] > 0


@pytest.mark.parametrize("pairing, same_class", [("knn", False), ("knn", True), ("random", True)])
def test_partner_schemes(pairing, same_class, tmp_path, monkeypatch):
    monkeypatch.setenv("MIXUP_REPRO_CACHE", str(tmp_path))  # the kNN cache lives there, never in the data folder
    cfg = TrainConfig(**TINY | dict(method="mix_inputs_only", pairing=pairing, same_class=same_class, knn_k=5))
    res = fit(cfg, quiet=True)
    assert res.curves["train_loss"][0] > 0
    if pairing == "knn":
        assert list((tmp_path / "knn").glob("knn-*.pt"))  # neighbours cached once per dataset


def test_label_noise_curves_and_points_data():
    cfg = TrainConfig(dataset="two-moons", model="mlp", optimizer="adam", lr=0.01, batch_size=64, epochs=3,
                      method="mixup", label_noise=0.4, device="cpu")
    res = fit(cfg, quiet=True)
    assert len(res.curves["train_error_noisy_labels"]) == 3
    assert len(res.curves["train_error_clean_labels"]) == 3
    assert res.summary["final_error"] < 30  # clean test labels: the moons are still learned


def test_validation_split_and_fgsm():
    res = fit(TrainConfig(**TINY | dict(val_fraction=0.2, fgsm_eps=(0.0, 0.1))), quiet=True)
    assert res.summary["evaluated_on"] == "validation" and res.summary["num_eval"] == 20
    assert res.summary["fgsm_error_0"] == pytest.approx(res.summary["final_error"])  # eps 0: no attack
    assert res.summary["fgsm_error_0.1"] >= res.summary["fgsm_error_0"]


def test_schedule_milestones():
    assert TrainConfig().lr_milestones == (100, 150)
    assert TrainConfig(epochs=4).lr_milestones == (2, 3)
    assert TrainConfig(epochs=1).lr_milestones == ()
    res = fit(TrainConfig(**TINY | dict(epochs=4)), quiet=True)
    assert res.curves["lr"] == pytest.approx([0.1, 0.1, 0.01, 0.001])


@pytest.mark.parametrize("kwargs, match", [
    (dict(dataset="mnist"), r"dataset must be one of"),
    (dict(model="vgg"), r"model must be one of"),
    (dict(method="cutout"), r"method must be one of"),
    (dict(method="cutmix", dataset="iris", model="mlp"), r"method 'cutmix' \(CutMix\) needs an image dataset; "
                                                          r"dataset 'iris' has no height and width"),
    (dict(method="mixup_cutmix", dataset="two-moons", model="mlp"), r"method 'mixup_cutmix' \(CutMix\) needs an image"),
    (dict(method="cutmix", label_smoothing=0.1), r"label_smoothing = 0.1 is only used by methods .*cutmix_ls"),
    (dict(alpha=-1), r"alpha must be"),
    (dict(label_smoothing=1.0, method="mixup_ls"), r"label_smoothing must be in \[0, 1\)"),
    (dict(label_smoothing=0.1, method="mixup"), r"label_smoothing = 0.1 is only used by methods"),
    (dict(epochs=0), r"epochs must be >= 1"),
    (dict(label_noise=1.5), r"label_noise must be in \[0, 1\]"),
    (dict(method="manifold", pairing="knn"), r"pairing must be 'random'"),
    (dict(device="tpu"), r"device must be"),
])
def test_bad_config(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        TrainConfig(**kwargs)


def test_cnn_on_points_is_refused():
    with pytest.raises(ValueError, match=r"needs image or spectrogram data"):
        fit(TrainConfig(dataset="iris", device="cpu", epochs=1), quiet=True)


def test_config_roundtrip():
    cfg = TrainConfig(milestones=(3, 5), fgsm_eps=(0.01,), subset=7)
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match=r"unknown TrainConfig field"):
        TrainConfig.from_dict({"bogus": 1})


def test_numbers_are_coerced_so_equal_configs_share_a_run_id():
    assert run_id(TrainConfig(alpha=2, weight_decay=0)) == run_id(TrainConfig(alpha=2.0, weight_decay=0.0))
    assert isinstance(TrainConfig(lr=1).lr, float)


def test_fgsm_on_points_is_refused_before_training():
    with pytest.raises(ValueError, match=r"fgsm_eps needs an image dataset"):
        TrainConfig(dataset="iris", model="mlp", fgsm_eps=(0.1,))


def test_compiled_model_trains_the_same_and_reports_compile_time_apart():
    base = dict(dataset="two-moons", model="mlp", method="mixup", epochs=3, optimizer="adam", lr=0.01, device="cpu")
    eager = fit(TrainConfig(**base), quiet=True)
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    compiled = fit(TrainConfig(**base, compile="default"), quiet=True)
    # one graph: the smaller last batch (1000 = 7 x 128 + 104) runs uncompiled instead of compiling a second
    assert counters["stats"]["unique_graphs"] == 1
    assert run_id(TrainConfig(**base, compile="default")) == eager.run_id  # how it runs, not what it computes
    for key in ("train_loss", "test_loss"):
        assert compiled.curves[key] == pytest.approx(eager.curves[key], rel=1e-4)
    t = compiled.record["timing"]
    assert t["compile"] == "default" and len(t["epoch_train_s"]) == 3
    # the first epoch carries the compilation (seconds); later epochs do not
    assert t["warmup_s"] > 1.0 and t["first_epoch_s"] > 10 * t["median_epoch_s"]
    assert eager.record["timing"]["compile"] == "none"


def test_bad_compile_mode_is_refused_by_name():
    with pytest.raises(ValueError, match=r"compile must be one of none, default, reduce-overhead, max-autotune; "
                                         r"got 'fast'"):
        TrainConfig(compile="fast")


@pytest.mark.parametrize("extra", [
    dict(method="erm"), dict(method="mixup", mix_prob=0.5), dict(method="mixup_ls", label_smoothing=0.1),
    dict(method="mix_inputs_ls", label_smoothing=0.1), dict(method="manifold", mix_layer=2),
    dict(method="gaussian_noise"), dict(method="mixup", pairing="knn", knn_k=5),
    dict(method="mixup", same_class=True), dict(method="mixup", label_noise=0.5),
    dict(method="cutmix"), dict(method="cutmix_ls", label_smoothing=0.1, same_class=True),
    dict(method="mixup_cutmix", mix_prob=0.5),
], ids=lambda d: "-".join(f"{k}={v}" for k, v in d.items()))
def test_training_steps_read_no_tensor_value_on_the_host(host_reads, extra, tmp_path):
    # a snapshot of the count after every optimizer step: between two steps of one epoch nothing may be read;
    # the once-per-epoch reads (metrics, evaluation) fall between the last step of an epoch and the next one
    cfg = TrainConfig(**TINY | dict(batch_size=10, epochs=3, data_dir=None) | extra)
    after_step = []
    fit(cfg, quiet=True, on_step=lambda: after_step.append(sum(host_reads.values())))
    steps = 10
    assert len(after_step) == 3 * steps
    within = [after_step[i] - after_step[i - 1] for i in range(1, len(after_step)) if i % steps]
    assert within == [0] * len(within), host_reads
    assert host_reads[("tolist", "evaluation.py", "epoch_metrics")] == 3  # the fixture sees the once-per-epoch read


def test_fp32_on_cuda_means_ieee_fp32_and_the_flags_come_back():
    from mixup_repro.runtime import ieee_fp32 as _ieee_fp32
    from mixup_repro.runtime import no_tf32 as _no_tf32

    cuda, cpu = torch.device("cuda", 0), torch.device("cpu")
    assert _ieee_fp32(TrainConfig(precision="fp32"), cuda)
    assert not _ieee_fp32(TrainConfig(precision="bf16"), cuda) and not _ieee_fp32(TrainConfig(), cuda)  # auto: bf16
    assert not _ieee_fp32(TrainConfig(precision="fp32"), cpu)  # no TF32 on a CPU
    legacy = torch.backends.cudnn, torch.backends.cuda.matmul
    before = [f.allow_tf32 for f in legacy]
    with pytest.raises(KeyError), _no_tf32(True):
        assert [f.allow_tf32 for f in legacy] == [False, False]
        if hasattr(torch.backends.cudnn, "conv"):  # torch 2.9+: the newer flags agree
            assert torch.backends.cuda.matmul.fp32_precision == "ieee"
            assert torch.backends.cudnn.conv.fp32_precision != "tf32"
        raise KeyError  # the flags come back after an exception too
    assert [f.allow_tf32 for f in legacy] == before
    with _no_tf32(False):
        assert [f.allow_tf32 for f in legacy] == before
    if hasattr(torch.backends.cudnn, "conv"):  # a caller who set the newer flags (the legacy ones then raise)
        try:
            torch.backends.cudnn.conv.fp32_precision = torch.backends.cuda.matmul.fp32_precision = "tf32"
            with _no_tf32(True):
                assert torch.backends.cudnn.conv.fp32_precision == "ieee" == torch.backends.cuda.matmul.fp32_precision
            assert torch.backends.cudnn.conv.fp32_precision == "tf32" == torch.backends.cuda.matmul.fp32_precision
        finally:
            for f, value in zip(legacy, before):  # the legacy setters make the two kinds agree again
                f.allow_tf32 = value


def test_an_fp32_run_trains_without_tf32_and_evaluates_under_the_defaults(monkeypatch):
    import mixup_repro.evaluation as eval_mod
    import mixup_repro.train as train_mod

    monkeypatch.setattr(train_mod, "ieee_fp32", lambda cfg, device: True)  # as a CUDA fp32 run, here on the CPU
    flags = torch.backends.cudnn, torch.backends.cuda.matmul
    before, seen = [f.allow_tf32 for f in flags], []
    evaluate = eval_mod.evaluate

    def watched_evaluate(*a, **k):
        seen.append(("eval", [f.allow_tf32 for f in flags]))
        return evaluate(*a, **k)

    monkeypatch.setattr(eval_mod, "evaluate", watched_evaluate)
    cfg = TrainConfig(dataset="two-moons", model="mlp", epochs=1, device="cpu", precision="fp32")
    fit(cfg, quiet=True, on_step=lambda: seen.append(("step", [f.allow_tf32 for f in flags])))
    assert {tuple(v) for k, v in seen if k == "step"} == {(False, False)}
    assert {tuple(v) for k, v in seen if k == "eval"} == {tuple(before)}
    assert [f.allow_tf32 for f in flags] == before

    def boom():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fit(cfg, quiet=True, on_step=boom)
    assert [f.allow_tf32 for f in flags] == before
    rec = fit(TrainConfig(dataset="two-moons", model="mlp", epochs=1, device="cpu"), quiet=True).record
    assert rec["tf32_training"] is None  # recorded for CUDA runs only


@pytest.mark.parametrize("method, eps", [("cutmix", 0.0), ("cutmix_ls", 0.1)])
def test_cutmix_step_pastes_a_box_and_weights_the_labels_by_its_area(method, eps):
    from mixup_repro.methods import Step, step_loss
    from mixup_repro.runtime import seeded_generators as _generators

    cfg = TrainConfig(**TINY | dict(method=method, label_smoothing=eps))
    b, k = 12, 10
    xb = torch.arange(b, dtype=torch.float32).reshape(b, 1, 1, 1).expand(b, 1, 28, 28).contiguous()
    yb = torch.arange(b) % k
    logits = torch.randn(b, k, generator=torch.Generator().manual_seed(0))
    gens = _generators(0, torch.device("cpu"))
    for _ in range(10):
        seen = {}

        def model(x, seen=seen):
            seen["x"] = x
            return logits

        loss = step_loss(Step(cfg, model, xb, yb, k, gens["mix"]))
        x = seen["x"]
        kept = (x == xb).double().flatten(1).mean(1)  # the area-corrected λ of every sample
        partner = torch.tensor([int(v.max()) if int(v.max()) != i else int(v.min()) for i, v in enumerate(x)])
        assert torch.all((x == xb) | (x == partner.float().reshape(b, 1, 1, 1)))  # pixels copied, never blended
        other = partner != torch.arange(b)  # a sample drawn as its own partner keeps its image
        assert other.any() and torch.allclose(kept[other], kept[other][:1].expand(int(other.sum())))  # one box
        onehot = torch.nn.functional.one_hot(yb, k).double()
        target = (1 - eps) * (kept[:, None] * onehot + (1 - kept[:, None]) * onehot[partner]) + eps / k
        expected = torch.nn.functional.cross_entropy(logits.double(), target)
        assert abs(float(loss) - float(expected)) < 1e-5


def test_mixup_cutmix_switches_per_batch():
    from mixup_repro.methods import CUTMIX_SWITCH_PROB, Step, step_loss
    from mixup_repro.runtime import seeded_generators as _generators

    cfg = TrainConfig(**TINY | dict(method="mixup_cutmix"))
    b = 8
    xb = torch.arange(b, dtype=torch.float32).reshape(b, 1, 1, 1).expand(b, 1, 28, 28).contiguous()
    gens = _generators(1, torch.device("cpu"))
    kinds = []

    def model(x):
        kinds.append(bool(torch.all(x == x.round())))  # CutMix copies whole values; mixup blends them
        return torch.zeros(b, 10)

    for _ in range(200):
        step_loss(Step(cfg, model, xb, torch.arange(b), 10, gens["mix"]))
    assert abs(sum(kinds) / len(kinds) - CUTMIX_SWITCH_PROB) < 0.12


def test_regime_check_recorded(tmp_path):
    """Every run records its error on the unaugmented training images: per epoch on a fixed sample, at the end
    on all of them, and the first epoch below 1 %."""
    from mixup_repro.train import evaluate

    cfg = TrainConfig(dataset="two-moons", model="mlp", optimizer="adam", lr=0.01, batch_size=64, epochs=4,
                      method="erm", device="cpu")
    res = fit(cfg, tmp_path, quiet=True)
    s, c = res.summary, res.curves
    assert len(c["train_error"]) == 4 and s["train_error_curve_sample"] == min(res.record["summary"]["num_train"], 2000)
    ds = load_dataset("two-moons")
    from mixup_repro.run_data import Inputs as _Inputs

    full = float(evaluate(res.model, ds.x_train, ds.y_train, _Inputs(ds, cfg))["error"])
    assert s["final_train_error"] == pytest.approx(full)
    first = s["epoch_train_error_below_1"]
    assert first is None or c["train_error"][first - 1] < 1.0
    off = fit(TrainConfig(**{**TINY, "eval_train": False}), quiet=True)  # a runtime switch: same run id, no curve
    assert "train_error" not in off.curves and run_id(off.config) == run_id(TrainConfig(**TINY))


RESULTS = Path(__file__).resolve().parents[1] / "results"
RESULT_FOLDERS = ("cpu", "cpu-fmnist-15ep", "cpu-sklearn-uci", "speech", "examples")


@pytest.mark.parametrize("folder", RESULT_FOLDERS)
def test_every_committed_results_file_loads_and_keeps_its_run_id(folder):
    """Run ids and the results format are frozen: every committed run file still validates, and its config gives
    the run id it was stored under (and its file name)."""
    where = RESULTS / folder
    if not where.is_dir():
        pytest.skip(f"no {where}")
    files = [f for f in sorted(where.rglob("*.json"))
             if json.loads(f.read_text()).get("schema") == "mixup_repro.run/1"]
    if not files:
        pytest.skip(f"no run results under {where}")
    for f in files:
        rec = read_result(f)
        cfg = TrainConfig.from_dict(rec["config"])
        assert run_id(TrainConfig(**rec["config"] | {k: tuple(v) for k, v in rec["config"].items()
                                                      if isinstance(v, list)})) == rec["run_id"] == run_id(cfg), f
        assert f.stem == rec["run_id"], f
