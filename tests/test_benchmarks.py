"""The speed benchmark (benchmarks/speed.py) on the CPU, small: it must keep working where no GPU is."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import speed  # noqa: E402
from mixup_repro.models import build_model  # noqa: E402
from mixup_repro.speed import read_speed_results, speed_summary, speed_table, train_flops_per_image  # noqa: E402


def test_benchmark_times_reference_and_ours_and_writes_a_record(tmp_path, capsys):
    assert speed.main(["--device", "cpu", "--width", "4", "--subset", "10", "--test-subset", "5", "--epochs", "2",
                       "--reference-epochs", "2", "--num-workers", "2", "--variants", "fp32", "--concurrency", "2",
                       "--concurrency-epochs", "3",
                       "--out", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("*.json")
    rec = json.loads(path.read_text())
    assert rec["device"].startswith("cpu") and rec["dataset"] == "random-cifar" and rec["num_train"] == 100
    assert rec["reference"]["num_workers"] == 2 and len(rec["reference"]["epoch_s"]) == 2
    assert rec["reference_s_per_epoch"] == pytest.approx(rec["reference"]["epoch_s"][1], abs=1e-4)  # epochs 2..N
    (ours,) = rec["variants"]
    assert ours["name"] == "fp32" and ours["compile"] == "none" and len(ours["epoch_s"]) == 2
    assert rec["ours_s_per_epoch"] == ours["s_per_epoch"] == ours["epoch_s"][1]
    assert rec["speedup"] == pytest.approx(rec["reference_s_per_epoch"] / rec["ours_s_per_epoch"])
    assert ours["images_per_s"] == pytest.approx(100 / ours["s_per_epoch"])
    assert ours["tflops"] == pytest.approx(rec["train_flops_per_image"] * 100 / ours["s_per_epoch"] / 1e12)
    assert rec["git_commit"] and rec["versions"]["torch"]
    assert read_speed_results(tmp_path)[0]["speedup"] == rec["speedup"]
    (two,) = rec["concurrent"]  # two training processes at once (table --workers 2)
    assert two["runs"] == 2 and two["epochs"] == 3 and len(two["s_per_epoch_each"]) == 2
    assert two["lower_bound_images_per_s"] == pytest.approx(2 * 3 * 100 / two["wall_s"], rel=1e-2)
    # throughput only where both runs train: the epochs ending inside the overlap, over its length
    if two["aggregate_images_per_s"] is not None:
        assert two["aggregate_images_per_s"] == pytest.approx(two["epochs_in_overlap"] * 100 / two["overlap_s"],
                                                              rel=1e-2)
    assert rec["complete"] is True and rec["errors"] == {} and rec["stopped"] is None
    assert "2 at once:" in speed_summary(tmp_path) and "incomplete" not in speed_summary(tmp_path)
    assert "ours: fp32" in capsys.readouterr().out


TINY = ["--device", "cpu", "--width", "4", "--subset", "10", "--test-subset", "5", "--epochs", "2",
        "--no-reference", "--variants", "fp32", "bf16"]


def test_a_failed_phase_keeps_the_others_and_is_an_error(tmp_path, monkeypatch):
    def broken_profile(*a, **k):
        raise RuntimeError("no profiler here")

    monkeypatch.setattr(speed, "profile_ours", broken_profile)
    assert speed.main(TINY + ["--profile", "--out", str(tmp_path)]) == 1  # a failure is an error
    (path,) = tmp_path.glob("*.json")
    rec = json.loads(path.read_text())
    assert [v["name"] for v in rec["variants"]] == ["fp32", "bf16"] and rec["ours_s_per_epoch"] > 0
    assert rec["errors"] == {"profile": "RuntimeError: no profiler here"} and rec["complete"] is False
    assert rec["backends"]["cudnn_benchmark"] == torch.backends.cudnn.benchmark  # as the loops left it
    assert "profile failed (RuntimeError: no profiler here)" in speed_summary(tmp_path)


@pytest.mark.parametrize("inside_fit", [False, True])
def test_sigterm_keeps_the_phases_before_it_and_is_not_an_error(tmp_path, monkeypatch, capsys, inside_fit):
    import os
    import signal
    import time

    from mixup_repro import fit

    real = speed.time_ours

    def stopped_second(args, variant, *rest):
        if variant[0] != "bf16":
            return real(args, variant, *rest)
        if inside_fit:  # fit finishes its step and raises Interrupted
            fit(speed.ours_config(args, variant, "cpu"), None, quiet=True,
                on_step=lambda: os.kill(os.getpid(), signal.SIGTERM))
        else:  # the benchmark's own handler stops it
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
        raise AssertionError("SIGTERM did not stop the phase")

    monkeypatch.setattr(speed, "time_ours", stopped_second)
    handler = signal.getsignal(signal.SIGTERM)
    assert speed.main(TINY + ["--profile", "--out", str(tmp_path)]) == 0  # a stop (time limit) is not a failure
    assert signal.getsignal(signal.SIGTERM) == handler
    (path,) = tmp_path.glob("*.json")
    rec = json.loads(path.read_text())
    assert [v["name"] for v in rec["variants"]] == ["fp32"] and rec["profile"] is None  # nothing after the stop
    assert rec["stopped"] == "ours bf16: SIGTERM" and rec["complete"] is False and rec["errors"] == {}
    assert "stopped during ours bf16: SIGTERM" in capsys.readouterr().out
    assert "is incomplete: stopped during ours bf16" in speed_summary(tmp_path)


def test_flops_of_preact_resnet18_match_its_known_size():
    # forward of the CIFAR PreAct ResNet-18 is 0.556 GMACs = 1.11 GFLOP; backward twice that: about 3.3 GFLOP
    flops = train_flops_per_image(build_model("preact_resnet18", 10, 3), (3, 32, 32))
    assert 3.2e9 < flops < 3.5e9


def test_bad_variant_is_refused_by_name():
    with pytest.raises(SystemExit) as e:
        speed.main(["--variants", "fp16"])
    assert e.value.code == 2


def test_speed_summary_without_gpu_records_says_not_measured(tmp_path):
    (tmp_path / "junk.json").write_text("{")
    with pytest.warns(UserWarning, match="skipping"):
        text = speed_summary(tmp_path)
    assert "not measured yet" in text and "No speed measurement" in text
    assert speed_table([]).startswith("No speed measurement")


def test_precision_summary_compares_bf16_with_fp32_runs(tmp_path):
    from mixup_repro import TrainConfig, fit
    from mixup_repro.speed import precision_summary

    assert "not measured yet" in precision_summary(tmp_path / "none")
    for prec in ("bf16", "fp32"):
        for seed in (0, 1):
            fit(TrainConfig(dataset="two-moons", model="mlp", method="mixup", epochs=2, optimizer="adam", lr=0.01,
                            precision=prec, seed=seed, device="cpu"), tmp_path, quiet=True)
    text = precision_summary(tmp_path)
    assert text.startswith("bf16 against fp32 accuracy (two-moons, mixup, 2 epochs")
    assert "bf16" in text and "(n=2) vs fp32" in text and "**" in text


def test_commit_of_a_copy_without_git_comes_from_the_environment(tmp_path):
    import os
    import shutil
    import subprocess

    shutil.copytree(ROOT / "mixup_repro", tmp_path / "mixup_repro")  # a copy outside any git checkout
    code = "from mixup_repro.results import git_commit; print(git_commit())"
    env = {k: v for k, v in os.environ.items() if k != "MIXUP_REPRO_GIT_COMMIT"}
    env.update(PYTHONPATH=str(tmp_path), GIT_CEILING_DIRECTORIES=str(tmp_path.parent))
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "None", out.stderr
    env["MIXUP_REPRO_GIT_COMMIT"] = "0123abc"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "0123abc+copy", out.stderr


def test_gpu_session_script_runs_its_stages_at_toy_size(tmp_path):
    """benchmarks/gpu_session.sh in SMOKE mode (CPU, toy sizes): the stages, time limits and packing work,
    so a rare GPU session is not lost to a broken flag; nothing is written outside $OUT."""
    import os
    import subprocess
    import tarfile

    def tree():
        return sorted(p for d in ("benchmarks/results", "results/paper", "results/precision") if (ROOT / d).is_dir()
                      for p in (ROOT / d).rglob("*"))

    before = tree()
    env = dict(os.environ, SMOKE="1", BUDGET_S="400", OUT=str(tmp_path), PYTHON=sys.executable, OMP_NUM_THREADS="1")
    script = ["bash", str(ROOT / "benchmarks" / "gpu_session.sh")]
    proc = subprocess.run(script + ["env", "sync", "speed", "speed-fm", "precision", "noise"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "skipped sync: it needs a GPU" in proc.stdout and "new results files: 8" in proc.stdout
    assert "C compiler: /" in proc.stdout and "\ncommit " in proc.stdout and "UNKNOWN" not in proc.stdout
    with tarfile.open(tmp_path / "session.tgz") as tar:
        names = tar.getnames()
    assert sum("/benchmarks/" in n and n.endswith(".json") for n in names) == 2
    assert sum("/precision/" in n and n.endswith(".json") for n in names) == 3
    assert sum("/paper/" in n and n.endswith(".json") for n in names) == 3
    assert any(n.endswith("logs/session.log") for n in names)
    cifar, fmnist = sorted(read_speed_results(tmp_path / "smoke" / "benchmarks"), key=lambda r: r["dataset"] != "random-cifar")
    assert cifar["profile"]["steps"] == 3 and fmnist["dataset"] == "fashion-mnist"
    assert [c["runs"] for c in fmnist["concurrent"]] == [2]
    # the long row labels of the other paper-scale stages are valid (listed, not run); unknown stages refused
    dry = subprocess.run(script + ["headline", "ablation"], cwd=ROOT, env=env | {"DRY_RUN": "1"}, capture_output=True,
                         text=True, timeout=120)
    assert dry.returncode == 0 and "headline: 12 distinct runs" in dry.stdout and "ablation: 22 distinct runs" in dry.stdout
    bad = subprocess.run(script + ["speed", "bogus"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown stage 'bogus'" in bad.stderr
    empty = tmp_path / "no-data"  # no Fashion-MNIST anywhere: its stages refuse before anything runs
    empty.mkdir()
    nodata = subprocess.run(script + ["speed", "speed-fm"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env=env | {"MIXUP_REPRO_DATA": str(empty), "FMNIST_SYSTEM_DIR": str(empty)})
    assert nodata.returncode == 2 and "stage 'speed-fm' needs Fashion-MNIST" in nodata.stderr
    assert "stage speed" not in nodata.stdout
    assert tree() == before
