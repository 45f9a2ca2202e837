"""The command line: a run end to end, --help, and every error path (one line, exit 2, nothing written)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from mixup_repro.cli import main


def test_train_writes_one_results_file(tmp_path, capsys):
    out = tmp_path / "res"
    rc = main(["train", "--dataset", "two-moons", "--model", "mlp", "--optimizer", "adam", "--lr", "0.01",
               "--method", "mixup_ls", "--alpha", "1", "--label-smoothing", "0.1", "--epochs", "3", "--seed", "0",
               "--device", "cpu", "--out", str(out), "--quiet"])
    assert rc == 0
    files = list(out.glob("*.json"))
    assert len(files) == 1
    rec = json.loads(files[0].read_text())
    assert rec["config"]["method"] == "mixup_ls" and rec["config"]["epochs"] == 3
    assert "final error" in capsys.readouterr().out


def test_help_lists_every_option_with_default():
    r = subprocess.run([sys.executable, "-m", "mixup_repro", "train", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for opt in ("--dataset", "--method", "--alpha", "--label-smoothing", "--epochs", "--seed", "--out",
                "--no-augment", "--subset", "--checkpoint-every", "--no-resume", "--force"):
        assert opt in r.stdout
    assert "(default: 200)" in r.stdout and "(default: 0.1)" in r.stdout


def test_console_script_installed():
    exe = shutil.which("mixup-repro", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert exe is not None
    r = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "train" in r.stdout


@pytest.mark.parametrize("argv, needle", [
    (["--dataset", "imagenet"], "argument --dataset: invalid choice: 'imagenet'"),
    (["--model", "vit"], "argument --model: invalid choice"),
    (["--method", "cutout"], "argument --method: invalid choice"),
    (["--method", "cutmix", "--dataset", "wine", "--model", "mlp"],
     "--method: method 'cutmix' (CutMix) needs an image dataset; dataset 'wine' has no height and width"),
    (["--alpha", "-1"], "--alpha: alpha must be in [0, inf), got -1.0"),
    (["--alpha", "nan"], "--alpha: alpha must be a finite number"),
    (["--method", "mixup_ls", "--label-smoothing", "1.0"], "--label-smoothing: label_smoothing must be in [0, 1)"),
    (["--method", "label_smoothing", "--label-smoothing", "-0.1"], "--label-smoothing: label_smoothing must be in"),
    (["--epochs", "0"], "--epochs: epochs must be >= 1, got 0"),
    (["--epochs", "two"], "argument --epochs: invalid int value: 'two'"),
    (["--data-dir", "/nonexistent/folder"], "--data-dir: data_dir '/nonexistent/folder' is not a readable folder"),
])
def test_bad_values_one_line_exit_2_nothing_written(tmp_path, capsys, argv, needle):
    out = tmp_path / "never"
    try:
        rc = main(["train", *argv, "--out", str(out), "--quiet"])
    except SystemExit as e:  # argparse's own errors exit from inside the parser
        rc = e.code
    err = capsys.readouterr()
    assert rc == 2
    lines = err.err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], err.err
    assert "Traceback" not in err.err and err.out == ""
    assert not out.exists()


def test_bad_value_from_a_real_process(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mixup_repro", "train", "--alpha", "-1", "--out", str(tmp_path / "x")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip() == "mixup-repro train: error: --alpha: alpha must be in [0, inf), got -1.0"
    assert not (tmp_path / "x").exists()


def test_cutmix_trains_through_the_cli(tmp_path, capsys):
    out = tmp_path / "res"
    rc = main(["train", "--dataset", "fashion-mnist", "--width", "4", "--subset", "10", "--test-subset", "10",
               "--batch-size", "32", "--method", "cutmix_ls", "--label-smoothing", "0.1", "--epochs", "1",
               "--device", "cpu", "--out", str(out), "--quiet"])
    assert rc == 0
    rec = json.loads(next(out.glob("*.json")).read_text())
    assert rec["config"]["method"] == "cutmix_ls" and rec["curves"]["train_loss"][0] > 0
    assert rec["run_id"].startswith("fashion-mnist_preact_resnet18_cutmix_ls_s0_")
