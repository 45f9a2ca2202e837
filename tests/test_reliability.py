"""Nothing lost: kill-and-resume bit for bit, safe checkpoint loading, atomic results, corrupt files."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

from mixup_repro import CheckpointError, TrainConfig, fit, load_checkpoint, load_results, run_id
from mixup_repro.results import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--dataset", "fashion-mnist", "--width", "4", "--subset", "100", "--test-subset", "10", "--batch-size", "16",
        "--epochs", "4", "--method", "mixup_ls", "--label-smoothing", "0.1", "--dropout", "0.2",
        "--checkpoint-every", "1", "--device", "cpu", "--quiet", "--save-model"]
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT))


def _train(out, *extra, wait=True):
    cmd = [sys.executable, "-m", "mixup_repro", "train", *ARGS, "--out", str(out), *extra]
    proc = subprocess.Popen(cmd, env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if wait:
        out_, err = proc.communicate(timeout=300)
        return proc.returncode, out_, err
    return proc


def test_sigterm_at_a_random_moment_then_resume_is_bit_identical(tmp_path):
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    rc, _, err = _train(ref_dir)
    assert rc == 0, err
    rng = random.Random(int(time.time()))
    interrupted = 0
    for _attempt in range(6):  # SIGTERM at a random moment during training (after start-up)
        proc = _train(run_dir, wait=False)
        ckpts = run_dir / "checkpoints"
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and not any(ckpts.glob("*.pt")):
            time.sleep(0.05)  # the first checkpoint (end of epoch 1) proves training is under way
        time.sleep(rng.uniform(0.0, 2.0))  # epochs 2-4 take about 3 s here
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        if list(run_dir.glob("*.json")):  # finished before the signal arrived: start over
            shutil.rmtree(run_dir)
            continue
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert "interrupted by SIGTERM" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert not list(run_dir.glob("*.json"))  # an interrupted run writes no results file
        interrupted += 1
        break
    assert interrupted == 1
    rc, _, err = _train(run_dir)  # resumes automatically from the checkpoint
    assert rc == 0, err
    ref = json.loads(next(ref_dir.glob("*.json")).read_text())
    got = json.loads(next(run_dir.glob("*.json")).read_text())
    assert got["curves"] == ref["curves"]
    wa = load_checkpoint(next((ref_dir / "models").glob("*.pt")))["model"]
    wb = load_checkpoint(next((run_dir / "models").glob("*.pt")))["model"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not list((run_dir / "checkpoints").glob("*"))  # the checkpoint is gone once the run is done


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


MARKER = Path("/tmp/mixup_repro_evil_marker")


def test_checkpoint_with_code_is_refused_and_never_runs(tmp_path):
    MARKER.unlink(missing_ok=True)
    cfg = TrainConfig(dataset="two-moons", model="mlp", epochs=1, device="cpu")
    bad = tmp_path / "checkpoints" / f"{run_id(cfg)}.pt"
    bad.parent.mkdir(parents=True)
    torch.save({"format": "mixup_repro.checkpoint/1", "run_id": run_id(cfg), "model": _Evil()}, bad)
    with pytest.raises(CheckpointError, match=rf"refusing checkpoint {bad}"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match=r"refusing checkpoint"):
        fit(cfg, tmp_path, quiet=True)  # automatic resume refuses it too
    assert not MARKER.exists()
    assert not list(tmp_path.glob("*.json"))


def test_foreign_or_truncated_checkpoint_is_refused(tmp_path):
    p = tmp_path / "x.pt"
    torch.save({"weights": torch.ones(2)}, p)
    with pytest.raises(CheckpointError, match=r"not a mixup_repro checkpoint"):
        load_checkpoint(p)
    p.write_bytes(p.read_bytes()[:20])
    with pytest.raises(CheckpointError, match=r"cannot be loaded safely"):
        load_checkpoint(p)


def test_load_results_skips_corrupt_files_with_a_warning(tmp_path):
    cfg = TrainConfig(dataset="two-moons", model="mlp", optimizer="adam", lr=0.01, epochs=2, device="cpu")
    res = fit(cfg, tmp_path, quiet=True)
    good = res.path.read_text()
    (tmp_path / "truncated.json").write_text(good[: len(good) // 2])
    (tmp_path / "wrong_schema.json").write_text(json.dumps({"schema": "other/9"}))
    atomic_write_json(tmp_path / "short_curves.json", json.loads(good) | {"curves": {"epoch": [1]}})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = load_results(tmp_path)
    msgs = [str(w.message) for w in caught]
    assert len(df) == 1 and df.loc[0, "method"] == "mixup" and df.loc[0, "run_id"] == res.run_id
    assert {"dataset", "model", "alpha", "label_smoothing", "seed", "median_last10_error", "final_ece"} <= set(df)
    for name in ("truncated.json", "wrong_schema.json", "short_curves.json"):
        assert any(name in m for m in msgs), (name, msgs)
    assert load_results(tmp_path / "missing").empty


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    p = tmp_path / "r.json"
    atomic_write_json(p, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(p, {"a": object()})
    assert json.loads(p.read_text()) == {"a": 1}
    assert [f.name for f in tmp_path.iterdir()] == ["r.json"]


def test_unwritable_out_is_reported_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    t0 = time.perf_counter()
    with pytest.raises(OSError, match=r"--out folder .* is not writable"):
        fit(TrainConfig(dataset="two-moons", model="mlp", epochs=50, device="cpu"), blocker / "sub", quiet=True)
    assert time.perf_counter() - t0 < 5


def test_checkpoint_from_another_device_or_precision_is_refused(tmp_path):
    cfg = TrainConfig(dataset="two-moons", model="mlp", optimizer="adam", lr=0.01, epochs=2, device="cpu")
    ckpt = tmp_path / "checkpoints" / f"{run_id(cfg)}.pt"
    from mixup_repro import save_checkpoint

    save_checkpoint(ckpt, {"run_id": run_id(cfg), "device_type": "cuda", "precision": "bf16"})
    with pytest.raises(CheckpointError, match=r"written on cuda in bf16 by 1 process\(es\), this run is on cpu in fp32 with 1"):
        fit(cfg, tmp_path, quiet=True)
    save_checkpoint(ckpt, {"run_id": run_id(cfg), "device_type": "cpu", "precision": "fp32", "world_size": 2})
    with pytest.raises(CheckpointError, match=r"by 2 process\(es\), this run is on cpu in fp32 with 1"):
        fit(cfg, tmp_path, quiet=True)


def test_duplicate_run_ids_are_counted_once(tmp_path):
    cfg = TrainConfig(dataset="two-moons", model="mlp", optimizer="adam", lr=0.01, epochs=1, device="cpu")
    res = fit(cfg, tmp_path / "a", quiet=True)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / res.path.name).write_text(res.path.read_text())
    with pytest.warns(UserWarning, match=r"already read from"):
        df = load_results(tmp_path)
    assert len(df) == 1


# ---------------------------------------------------------------------------------------------- issue 16: data loss
def _report(*args):
    r = subprocess.run([sys.executable, "-m", "mixup_repro", "report", *map(str, args)], env=ENV, cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout, r.stderr


def test_report_refuses_a_missing_or_empty_results_folder_and_fewer_results(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- results:start -->\nold text\n<!-- results:end -->\n")
    results = tmp_path / "results"
    (results / "cpu").mkdir(parents=True)
    committed = sorted((ROOT / "results" / "cpu").glob("fashion-mnist_*.json"))[:4]
    for f in committed:
        shutil.copy(f, results / "cpu" / f.name)
    rc, out, err = _report("--readme", readme, "--results-dir", results)
    assert rc == 0 and "updated" in out, err
    good = readme.read_text()
    assert "4 results files" in good
    for typo in (tmp_path / "resluts", tmp_path / "empty"):  # a typo; a folder without cpu/ results
        if typo.name == "empty":
            (typo / "cpu").mkdir(parents=True)
        for mode in ((), ("--check",), ("--print",)) if typo.name != "empty" else ((),):
            rc, out, err = _report("--readme", readme, "--results-dir", typo, *mode)
            assert rc == 2 and str(typo) in err and "results folder" in err and "Traceback" not in err, err
            assert readme.read_text() == good and out == ""
    for f in committed[:2]:  # fewer results than the README shows: refused without --allow-fewer
        (results / "cpu" / f.name).unlink()
    rc, out, err = _report("--readme", readme, "--results-dir", results)
    assert rc == 2 and "fewer results files" in err and "cpu scale: 4 -> 2" in err.replace("CPU", "cpu"), err
    assert "--allow-fewer" in err and readme.read_text() == good
    rc, out, err = _report("--readme", readme, "--results-dir", results, "--allow-fewer")
    assert rc == 0 and "2 results files" in readme.read_text(), err


# a two-moons run (no data to download), checkpoints every epoch
SMALL = ["--dataset", "two-moons", "--model", "mlp", "--optimizer", "adam", "--lr", "0.01", "--checkpoint-every", "1",
         "--device", "cpu", "--quiet"]


def _fsize_limit(nbytes):
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))


def test_a_file_size_limit_below_the_checkpoint_is_refused_before_training(tmp_path):
    out = tmp_path / "run"
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "mixup_repro", "train", *SMALL, "--epochs", "20", "--out", str(out)]
    r = subprocess.run(cmd, env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=300,
                       preexec_fn=_fsize_limit(100_000))  # the probe (64 KiB) fits, a checkpoint (~0.2 MB) not
    assert r.returncode == 1 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"--out folder {out}: a checkpoint of this run takes up to about" in r.stderr, r.stderr
    assert "more than the file-size limit of this process (ulimit -f: 100.0 kB)" in r.stderr
    assert time.perf_counter() - t0 < 60
    assert not out.exists() or not any(out.rglob("*"))  # nothing trained, nothing left


def test_enospc_and_efbig_errors_name_the_file(tmp_path):
    target = tmp_path / "sub" / "big.bin"
    code = ("import sys; from mixup_repro.results import atomic_write_bytes\n"
            "try:\n    atomic_write_bytes(sys.argv[1], b'0' * 3_000_000)\n"
            "except OSError as e:\n    print(e, file=sys.stderr); sys.exit(1)\n")
    r = subprocess.run([sys.executable, "-c", code, str(target)], env=ENV, cwd=ROOT, capture_output=True, text=True,
                       timeout=120, preexec_fn=_fsize_limit(1_000_000))
    assert r.returncode == 1 and f"cannot write {target} (3.0 MB): File too large" in r.stderr, r.stderr
    assert "ulimit -f) 1.0 MB" in r.stderr and list(target.parent.iterdir()) == []  # no temp file left
    tmpfs = tmp_path / "tmpfs"
    tmpfs.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(tmpfs)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root); the file-size limit case above ran")
    try:  # a real full disk: ENOSPC names the file; a run that does not fit is refused before training
        r = subprocess.run([sys.executable, "-c", code, str(tmpfs / "big.bin")], env=ENV, cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 1 and f"cannot write {tmpfs / 'big.bin'} (3.0 MB): No space left on device" in r.stderr
        assert list(tmpfs.iterdir()) == []
        r = subprocess.run([sys.executable, "-m", "mixup_repro", "train", *SMALL, "--model", "preact_resnet18",
                            "--dataset", "random-cifar", "--width", "16", "--out", str(tmpfs / "run")], env=ENV,
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 1 and f"--out folder {tmpfs / 'run'} has" in r.stderr, r.stderr
        assert "but this run needs about" in r.stderr and "Traceback" not in r.stderr
        assert not (tmpfs / "run").exists()
    finally:
        subprocess.run(["umount", str(tmpfs)], check=True)


def test_a_model_larger_than_memory_is_refused_and_a_failed_run_leaves_no_out_folder(tmp_path):
    out = tmp_path / "new" / "runs"
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"--width 100000: model preact_resnet18 has about [\d,]+ parameters; .* "
                                         r"need [\d.]+ TB, more than the .* free on cpu; use a smaller --width"):
        fit(TrainConfig(dataset="random-cifar", width=100000, device="cpu"), out, quiet=True)
    assert time.perf_counter() - t0 < 10 and not (tmp_path / "new").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(ValueError):
        fit(TrainConfig(dataset="random-cifar", width=100000, device="cpu"), kept, quiet=True)
    assert kept.is_dir()  # a folder that was there before stays


def _crashed_run(cfg, out):
    """Train ``cfg`` into ``out`` until its first checkpoint is written, then crash (as a kill would)."""
    ckpt = out / "checkpoints" / f"{run_id(cfg)}.pt"

    def crash():
        if ckpt.exists():
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(cfg, out, quiet=True, on_step=crash)
    assert ckpt.exists() and not list(out.glob("*.json"))
    return ckpt


CKPT_CFG = dict(dataset="two-moons", model="mlp", optimizer="adam", lr=0.01, epochs=4, checkpoint_every=1,
                device="cpu")


@pytest.mark.parametrize("edit, needle", [
    (lambda m: m.pop(next(iter(m))), r"missing weights"),
    (lambda m: m.update({"extra.weight": torch.zeros(1)}), r"unexpected weights extra\.weight"),
    (lambda m: m.update({k: torch.zeros(3, 3) for k in list(m)[:1]}), r"other shapes: .* \(3, 3\) there"),
])
def test_resume_from_a_checkpoint_of_another_architecture_is_a_clear_error(tmp_path, edit, needle):
    cfg = TrainConfig(**CKPT_CFG)
    ckpt = _crashed_run(cfg, tmp_path)
    st = load_checkpoint(ckpt)
    edit(st["model"])  # what a change of the model's code does to a checkpoint written before it
    from mixup_repro import save_checkpoint

    save_checkpoint(ckpt, st)
    with pytest.raises(CheckpointError, match=rf"refusing checkpoint {ckpt}: its model does not match .*{needle}.*"
                                              r"--no-resume"):
        fit(cfg, tmp_path, quiet=True)
    r = subprocess.run([sys.executable, "-m", "mixup_repro", "train", "--dataset", "two-moons", "--model", "mlp",
                        "--optimizer", "adam", "--lr", "0.01", "--epochs", "4", "--checkpoint-every", "1", "--device",
                        "cpu", "--quiet", "--out", str(tmp_path)], env=ENV, cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "--no-resume" in r.stderr, r.stderr
    assert fit(cfg, tmp_path, quiet=True, resume=False).path.exists()  # the suggested way out works


def test_a_checkpoint_with_an_edited_run_id_does_not_resume_another_config(tmp_path):
    a, b = TrainConfig(**CKPT_CFG), TrainConfig(**CKPT_CFG, alpha=0.5)
    st = load_checkpoint(_crashed_run(a, tmp_path / "a"))
    st["run_id"] = run_id(b)  # renamed and edited to pass for run b
    from mixup_repro import save_checkpoint

    ckpt = save_checkpoint(tmp_path / "b" / "checkpoints" / f"{run_id(b)}.pt", st)
    with pytest.raises(CheckpointError, match=rf"refusing checkpoint {ckpt}: it was written for another config "
                                              r"\(alpha 1\.0 there, 0\.5 here\), although its run id matches"):
        fit(b, tmp_path / "b", quiet=True)
    st["optimizer"]["param_groups"].append(dict(st["optimizer"]["param_groups"][0]))
    st["config"] = b.to_dict()
    save_checkpoint(ckpt, st)
    with pytest.raises(CheckpointError, match=r"its optimizer state holds \d+ parameters in 2 group\(s\)"):
        fit(b, tmp_path / "b", quiet=True)


# ---------------------------------------------------------------------------------------------- issue 16: tracebacks
@pytest.mark.parametrize("argv, needle, code", [
    (["--device", "cuda:-1"], "--device: device must be 'auto', 'cpu', 'cuda' or 'cuda:N' (N = 0, 1, ...), got "
                              "'cuda:-1'", 2),
    (["--device", "gpu:0"], "--device: device must be", 2),
    (["--seed", str(2**70)], f"--seed: seed must be <= 4294967295, got {2**70}", 2),
    (["--milestones", "10", "--epochs", "2"], "--milestones: milestones must be epochs before the last one (< epochs "
                                              "= 2), got 10", 2),
    (["--val-fraction", "0.999"], "--val-fraction: val_fraction must be in [0, 0.5], got 0.999", 2),
    (["--pairing", "knn", "--knn-k", "5000"], "knn_k = 5000 nearest neighbours asked for, but the training set has "
                                              "only 999 other sample(s) in all; use --knn-k 999 or less", 1),
    (["--pairing", "knn", "--same-class", "--knn-k", "500"], "has only 499 other sample(s) in its smallest class", 1),
])
def test_bad_values_that_used_to_crash_or_pass_are_one_line_errors(tmp_path, argv, needle, code):
    out = tmp_path / "never"
    r = subprocess.run([sys.executable, "-m", "mixup_repro", "train", *SMALL, "--epochs", "3", *argv,
                        "--out", str(out)], env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == code and len(lines) == 1 and needle in lines[0], r.stderr
    assert r.stdout == "" and not out.exists()  # nothing written, no empty folder left


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: a missing GPU index on a machine with GPUs")
def test_a_gpu_index_the_machine_lacks_is_a_clear_error(tmp_path):
    n = torch.cuda.device_count()
    with pytest.raises(ValueError, match=rf"device 'cuda:{n}' requested but this machine has {n} CUDA device"):
        fit(TrainConfig(dataset="two-moons", model="mlp", epochs=1, device=f"cuda:{n}"), tmp_path, quiet=True)


def test_mixing_functions_name_a_bad_generator_size_or_y_b():
    from mixup_repro.mixing import Mixup, mix, mix_k, mixup_criterion, sample_lambda

    x, y = torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)
    for bad in (0, "g"):
        with pytest.raises(TypeError, match=r"generator must be a torch.Generator or None, got (int|str)"):
            sample_lambda(1.0, (), bad)
        with pytest.raises(TypeError, match=r"generator must be a torch.Generator"):
            mix(x, y, num_classes=2, generator=bad)
        with pytest.raises(TypeError, match=r"generator must be a torch.Generator"):
            mix_k(x, y, num_classes=2, generator=bad)
        with pytest.raises(TypeError, match=r"generator must be a torch.Generator"):
            Mixup(num_classes=2, generator=bad)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"size \(1000000000000,\) asks for 1,000,000,000,000 draws .* draw in chunks"):
        sample_lambda(1.0, (10**12,))
    assert time.perf_counter() - t0 < 1
    ce = torch.nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match=r"y_b must hold one target per sample of pred \(batch 4\), got shape \(5,\)"):
        mixup_criterion(ce, torch.zeros(4, 3), y, torch.zeros(5, dtype=torch.long), 0.5)
    with pytest.raises(ValueError, match=r"y_a must hold one target per sample"):
        mixup_criterion(ce, torch.zeros(4, 3), torch.zeros(3, dtype=torch.long), y, 0.5)
    assert mixup_criterion(ce, torch.zeros(4, 3), y, y, 0.5).item() == pytest.approx(ce(torch.zeros(4, 3), y).item())


# ---------------------------------------------------------------------------------------------- issue 16: silent
def test_load_results_checks_values_not_only_keys(tmp_path):
    cfg = TrainConfig(dataset="two-moons", model="mlp", optimizer="adam", lr=0.01, epochs=2, device="cpu")
    res = fit(cfg, tmp_path / "good", quiet=True)
    good = json.loads(res.path.read_text())
    bad = tmp_path / "bad"
    cases = {
        "final_error_text": lambda d: d["summary"].update(final_error="oops"),
        "final_error_nan": lambda d: d["summary"].update(final_error=float("nan")),
        "negative_error": lambda d: d["summary"].update(best_error=-3.0),
        "negative_alpha": lambda d: d["config"].update(alpha=-1.0),
        "unknown_method": lambda d: d["config"].update(method="cutout9"),
        "dict_seed": lambda d: d["config"].update(seed={"a": 1}),
        "nan_curve": lambda d: d["curves"]["test_loss"].__setitem__(0, float("nan")),
        "text_curve": lambda d: d["curves"]["test_error"].__setitem__(1, "x"),
        "edited_run_id": lambda d: d.update(run_id=d["run_id"][:-1] + "x"),
        "unknown_field": lambda d: d["config"].update(colour="blue"),
    }
    for name, edit in cases.items():
        d = json.loads(json.dumps(good))
        edit(d)
        (bad / f"{name}.json").parent.mkdir(exist_ok=True)
        (bad / f"{name}.json").write_text(json.dumps(d))  # json.dumps writes NaN as the literal NaN
    (bad / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    shutil.copy(res.path, bad / res.path.name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = load_results(bad)
    msgs = [str(w.message) for w in caught]
    assert len(df) == 1 and df.loc[0, "run_id"] == res.run_id  # only the good copy
    for name in [*cases, "deep"]:
        assert any(f"{name}.json" in m for m in msgs), (name, msgs)
    assert any("deep.json: unreadable results file (nested too deeply" in m for m in msgs)
    assert any("final_error_text.json: summary final_error must be an error in % in [0, 100] or null, got 'oops'" in m
               for m in msgs)
    assert any("negative_alpha.json: invalid config: alpha must be in [0, inf), got -1.0" in m for m in msgs)
