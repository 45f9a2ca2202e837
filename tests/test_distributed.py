"""DistributedDataParallel under ``torchrun`` on the CPU (gloo backend, 2 processes)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from mixup_repro import TrainConfig, fit, run_id

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def torchrun(args, out, *, wait=True):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "mixup_repro", "train", *args, "--device", "cpu", "--out", str(out), "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


ERM = dict(dataset="two-moons", model="mlp", method="erm", batch_size=100, epochs=3, optimizer="adam", lr=0.01)


def args_of(d):
    return [a for k, v in d.items() for a in (f"--{k.replace('_', '-')}", str(v))]


def test_two_processes_match_one_process_and_write_one_results_file(tmp_path):
    # ERM without batch norm or dropout: the mean of two equal half-batch gradients is the full-batch gradient,
    # so two ranks must follow the single-process run up to float rounding.
    proc = torchrun(args_of(ERM), tmp_path / "ddp")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("final error") == 1  # rank 0 reports, rank 1 is silent
    files = list((tmp_path / "ddp").glob("*.json"))
    assert [f.name for f in files] == [f"{run_id(TrainConfig(**ERM))}.json"]
    rec = json.loads(files[0].read_text())
    assert rec["world_size"] == 2 and len(rec["timing"]["epoch_train_s"]) == 3
    single = fit(TrainConfig(**ERM, device="cpu"), quiet=True)
    # a result trained by 2 processes is not passed off as a single-process one
    with pytest.raises(ValueError, match=r"was trained by 2 process\(es\), this run has 1"):
        fit(TrainConfig(**ERM, device="cpu"), tmp_path / "ddp", quiet=True)
    for key in ("train_loss", "test_loss", "test_error"):
        assert rec["curves"][key] == pytest.approx(single.curves[key], rel=1e-5, abs=1e-6)


def test_interrupted_distributed_run_resumes_to_the_same_result(tmp_path):
    # each rank mixes its own half batch with its own streams; a SIGTERM is agreed on at the epoch's end,
    # rank 0 checkpoints every rank's random state, and the rerun continues exactly
    cfg = dict(dataset="two-moons", model="mlp", method="mixup", batch_size=10, epochs=12, optimizer="adam",
               lr=0.01, checkpoint_every=1)
    whole = torchrun(args_of(cfg), tmp_path / "whole")
    assert whole.returncode == 0, whole.stdout
    ckpt = tmp_path / "cut" / "checkpoints" / f"{run_id(TrainConfig(**cfg))}.pt"
    proc = torchrun(args_of(cfg), tmp_path / "cut", wait=False)
    deadline = time.time() + 120
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGTERM)
    log = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0, log  # interrupted, not finished
    assert "interrupted by SIGTERM" in log and ckpt.exists()
    assert not list((tmp_path / "cut").glob("*.json"))
    again = torchrun(args_of(cfg), tmp_path / "cut")
    assert again.returncode == 0, again.stdout
    a = json.loads(next((tmp_path / "whole").glob("*.json")).read_text())
    b = json.loads(next((tmp_path / "cut").glob("*.json")).read_text())
    assert a["curves"] == b["curves"]
    assert not ckpt.exists()


def test_batch_smaller_than_process_count_is_refused(tmp_path):
    proc = torchrun(args_of(ERM | dict(batch_size=1)), tmp_path)
    assert proc.returncode != 0
    assert "batch_size must be at least the number of processes (2)" in proc.stdout + proc.stderr
    proc = torchrun(args_of(ERM | dict(batch_size=333)), tmp_path)  # 1000 = 3 * 333 + 1: one sample for two ranks
    assert proc.returncode != 0
    assert "the last batch holds 1 sample(s)" in proc.stdout + proc.stderr
