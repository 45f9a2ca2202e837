"""The experiments layer: declared tables, dry runs, printed commands, real (smoke-scale) sweeps, a killed and
restarted parallel sweep, summaries, and every error path of the ``table`` command."""

from __future__ import annotations

import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mixup_repro import experiments as ex
from mixup_repro.cli import build_parser, config_from_args, main
from mixup_repro.results import atomic_write_json
from mixup_repro.train import TrainConfig, result_path, run_id


def _cli(argv, capsys):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse errors
        rc = e.code
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _run_files(out: Path) -> set[str]:
    return {p.name for p in out.glob("*.json")}


def _fake_result(cfg: TrainConfig, out: Path, *, err: float, ece: float = 0.05) -> Path:
    """A schema-valid results file for ``cfg`` with the given errors (for summary tests without training)."""
    n = cfg.epochs
    curves = {"epoch": list(range(1, n + 1)), "train_loss": [1.0] * n, "test_loss": [0.5] * n,
              "test_error": [err] * n, "test_ece": [ece] * n, "lr": [0.1] * n}
    if cfg.label_noise > 0:
        curves["train_error_noisy_labels"] = [50.0] * n
        curves["train_error_clean_labels"] = [5.0] * n
    summary = {"median_last10_error": err, "final_error": err, "best_error": err - 1, "final_nll": 0.5,
               "final_ece": ece, "reliability": {"bin_count": [10, 30], "bin_confidence": [0.5, 0.9],
                                                 "bin_accuracy": [0.5, 0.8]}}
    summary.update({f"fgsm_error_{e:g}": err + 10 for e in cfg.fgsm_eps})
    rec = {"schema": "mixup_repro.run/1", "run_id": run_id(cfg), "config": cfg.to_dict(), "curves": curves,
           "summary": summary, "device": "cpu", "versions": {}, "git_commit": None, "started": "", "finished": "",
           "wall_s": 1.0}
    return atomic_write_json(result_path(cfg, out), rec)


# ----------------------------------------------------------------------------------------------------------
# Declarations
# ----------------------------------------------------------------------------------------------------------
def test_tables_declared_with_unique_row_keys_and_valid_configs():
    assert set(ex.TABLES) == {"headline", "ablation", "label_noise", "uci", "calibration", "robustness",
                              "eps_validation", "training_length", "speech"}
    assert "speech" not in ex.ALL_TABLES and len(ex.ALL_TABLES) == 8
    for name, table in ex.TABLES.items():
        keys = [r.key for r in table.rows]
        assert len(keys) == len(set(keys)), name
        for scale in ex.SCALES:
            pairs = ex.table_configs(name, scale)  # builds (and so validates) every TrainConfig
            assert pairs, (name, scale)
    # shared runs: calibration, robustness and the headline's PreAct rows are the same configs
    ids = lambda n: {run_id(c) for _, c in ex.table_configs(n, "cpu")}  # noqa: E731
    assert ids("calibration") == ids("robustness") <= ids("headline")
    assert ids("headline") <= ids("ablation") | ids("headline")
    assert {run_id(c) for k, c in ex.table_configs("eps_validation", "cpu") if k.startswith("test")} & ids("ablation")


def test_paper_numbers_only_the_verified_ones():
    nums = {(p.dataset, p.error, p.source) for t in ex.TABLES.values() for r in t.rows for p in r.paper}
    readme, issue, pwc = (ex.PAPER_SOURCES[k] for k in ("readme", "issue19", "pwc"))
    assert nums == {("cifar10", 5.53, readme), ("cifar10", 4.24, readme), ("cifar10", 5.18, readme),
                    ("cifar10", 4.68, readme), ("cifar10", 3.8, issue), ("cifar10", 2.7, issue),
                    ("cifar10", 2.7, pwc), ("cifar100", 16.8, pwc)}


def test_scales_in_one_place_and_paper_scale_is_the_paper_protocol():
    cfg = dict(ex.table_configs("headline", "paper", rows=["ERM"]))["ERM [model=PreAct ResNet-18]"]
    d = TrainConfig()
    assert (cfg.width, cfg.epochs, cfg.batch_size, cfg.lr, cfg.subset) == (d.width, d.epochs, d.batch_size, d.lr, None)
    assert cfg.dataset == "cifar10"
    cpu = ex.table_configs("headline", "cpu")
    assert all(c.width == ex.SCALES["cpu"]["image"]["width"] for _, c in cpu)
    assert {c.model for _, c in cpu} == {"preact_resnet18"}
    assert {c.model for _, c in ex.table_configs("headline", "paper")} == {"preact_resnet18", "wrn28_10",
                                                                           "densenet_bc_190"}
    assert all(ex.estimate_seconds(c, "cpu") > 0 for _, c in cpu)


def test_child_environment_threads_and_gpus(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    env = ex.child_env(3, 4, ["0", "1", "2"])
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "2" and env["CUDA_VISIBLE_DEVICES"] == "0"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")
    assert ex.child_env(1, 16, ["7"])["CUDA_VISIBLE_DEVICES"] == "7" and ex.child_env(1, 16, [])["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    assert ex.visible_gpus() == ["4", "5"]


# ----------------------------------------------------------------------------------------------------------
# --dry-run and --print-commands
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(ex.TABLES))
def test_dry_run_lists_rows_and_writes_nothing(tmp_path, capsys, name):
    out = tmp_path / "res"
    rc, stdout, err = _cli(["table", name, "--scale", "cpu", "--dry-run", "--out", str(out), "--workers", "2"], capsys)
    assert rc == 0, err
    for row in ex.TABLES[name].rows:
        assert f"  {row.key}:" in stdout
    assert "estimated" in stdout and "time model (cpu)" in stdout
    if name == "headline":
        assert stdout.count("not run at cpu scale") == 12  # WRN-28-10 and DenseNet-BC-190: 6 rows each
    assert not out.exists()


def test_dry_run_paper_scale_runs_every_row_and_counts_done(tmp_path, capsys):
    out = tmp_path / "res"
    cfg = dict(ex.table_configs("headline", "cpu", seeds=[0], rows=["ERM"]))["ERM [model=PreAct ResNet-18]"]
    _fake_result(cfg, out, err=20.0)
    rc, stdout, _ = _cli(["table", "headline", "--scale", "cpu", "--seeds", "0", "--dry-run", "--out", str(out)], capsys)
    assert rc == 0 and "ERM [model=PreAct ResNet-18]: 1/1 done, 0 missing" in stdout
    assert f"done     {run_id(cfg)}" in stdout
    rc, stdout, _ = _cli(["table", "headline", "--scale", "paper", "--dry-run", "--out", str(out)], capsys)
    assert rc == 0 and "not run" not in stdout and "ERM [model=DenseNet-BC-190]: 0/3 done" in stdout
    rc, stdout, _ = _cli(["table", "all", "--scale", "cpu", "--dry-run", "--out", str(out), "--workers", "2"], capsys)
    assert rc == 0 and "all 8 tables:" in stdout and "shared runs counted once" in stdout


def test_print_commands_reproduce_the_configs(tmp_path, capsys):
    out = tmp_path / "res"
    rc, stdout, _ = _cli(["table", "all", "--scale", "cpu", "--print-commands", "--out", str(out)], capsys)
    assert rc == 0
    lines = stdout.strip().splitlines()
    expected = {run_id(c) for n in ex.ALL_TABLES for _, c in ex.table_configs(n, "cpu")}
    assert len(lines) == len(expected)
    parser = build_parser()
    got = set()
    for line in lines:
        argv = shlex.split(line)
        assert argv[:4] == ["python", "-m", "mixup_repro", "train"]
        args = parser.parse_args(argv[3:])
        assert args.out == str(out)
        got.add(run_id(config_from_args(args)))
    assert got == expected
    # paper scale (CIFAR-10, every row) too, and a finished run is not printed
    rc, stdout, _ = _cli(["table", "ablation", "--scale", "paper", "--dataset", "cifar10", "--print-commands",
                          "--out", str(out)], capsys)
    cfgs = {run_id(c): c for _, c in ex.table_configs("ablation", "paper", dataset="cifar10")}
    printed = {run_id(config_from_args(parser.parse_args(shlex.split(ln)[3:]))) for ln in stdout.strip().splitlines()}
    assert printed == set(cfgs)
    done = next(iter(cfgs.values()))
    _fake_result(done, out, err=5.0)
    rc, stdout, _ = _cli(["table", "ablation", "--scale", "paper", "--dataset", "cifar10", "--print-commands",
                          "--out", str(out)], capsys)
    assert len(stdout.strip().splitlines()) == len(cfgs) - 1 and run_id(done) not in stdout


# ----------------------------------------------------------------------------------------------------------
# Real runs
# ----------------------------------------------------------------------------------------------------------
def test_tiny_real_table_then_rerun_recomputes_nothing(tmp_path, capsys):
    out = tmp_path / "res"
    argv = ["table", "uci", "--scale", "smoke", "--rows", "iris", "--seeds", "0", "--out", str(out)]
    rc, stdout, err = _cli(argv, capsys)
    assert rc == 0, err
    files = _run_files(out)
    assert len(files) == 4 and all(f.startswith("iris_mlp_") for f in files)
    md = (out / "tables" / "uci.md").read_text()
    assert "| ERM | iris | 1/1 |" in md and "| mixup + label smoothing ε=0.1 | iris | 1/1 |" in md
    assert (out / "tables" / "uci.csv").read_text().startswith("row,dataset,")
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("*.json")}
    time.sleep(0.05)
    rc, stdout, _ = _cli(argv, capsys)
    assert rc == 0 and "all 4 run(s) already done" in stdout
    assert {p: p.stat().st_mtime_ns for p in out.glob("*.json")} == mtimes
    df = ex.summarize("uci", "smoke", out, seeds=[0], rows=["iris"])
    assert list(df["n_done"]) == [1, 1, 1, 1] and df["final_error_mean"].notna().all()
    # a sweep of one row keeps the other rows' finished runs in the table file (it is the whole table's summary)
    (out / "tables" / "uci.md").unlink()
    rc, stdout, err = _cli(["table", "uci", "--scale", "smoke", "--rows", "ERM", "--seeds", "0", "--out", str(out)],
                           capsys)
    assert rc == 0 and "all 1 run(s) already done" in stdout, err
    md = (out / "tables" / "uci.md").read_text()
    assert "| ERM | iris | 1/1 |" in md and "| mixup + label smoothing ε=0.1 | iris | 1/1 |" in md
    # nor does a sweep of other seeds: the file keeps the declared seed's numbers, the printed table is seed 1's
    before = (out / "tables" / "uci.csv").read_text()
    rc, stdout, err = _cli(["table", "uci", "--scale", "smoke", "--rows", "ERM", "--seeds", "1", "--out", str(out)],
                           capsys)
    assert rc == 0 and len(_run_files(out)) == 5, err
    assert (out / "tables" / "uci.csv").read_text() == before


def test_image_table_summary_keeps_not_run_rows_and_labels_cifar_numbers(tmp_path):
    out = tmp_path / "res"
    df = ex.run_table("headline", "smoke", out=out, seeds=[0], rows=["ERM"], quiet=True)
    assert len(_run_files(out)) == 1
    assert list(df["status"]) == ["1/1", "not run", "not run"]
    md = ex.format_table(df)
    assert "not run" in md and "paper (CIFAR)" in md and "CIFAR-10: 5.53" in md and "FGSM" not in md
    assert "not Fashion-MNIST claims" in md
    rec = json.loads(next(out.glob("*.json")).read_text())
    assert "fgsm_error_0.03" in rec["summary"]


def test_killed_and_restarted_parallel_sweep_finishes_exactly_once(tmp_path):
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "mixup_repro", "table", "headline", "--scale", "smoke", "--rows", "ERM",
           "mixup α=1", "--seeds", "0", "1", "--workers", "2", "--out", str(out), "--quiet"]
    expected = {f"{run_id(c)}.json" for _, c in ex.table_configs("headline", "smoke", seeds=[0, 1],
                                                                  rows=["ERM", "mixup α=1"])}
    assert len(expected) == 4
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not _run_files(out) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    if proc.returncode != 0:  # normally: stopped, one line
        assert proc.returncode == 128 + signal.SIGTERM
        assert len(err.strip().splitlines()) == 1 and "interrupted by SIGTERM" in err, err
    assert 1 <= len(_run_files(out)) <= 4 and _run_files(out) <= expected
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert _run_files(out) == expected
    leftovers = [p for p in out.rglob("*") if p.is_file() and p.parent.name != "tables" and p.name not in expected]
    assert leftovers == []  # no temp files, no checkpoints, no probes
    assert sorted(p.name for p in (out / "tables").iterdir()) == ["headline.csv", "headline.md"]


# ----------------------------------------------------------------------------------------------------------
# Summaries from results files
# ----------------------------------------------------------------------------------------------------------
def test_eps_validation_selects_lowest_mean_validation_error(tmp_path):
    out = tmp_path / "res"
    val_err = {0.0: 30.0, 0.05: 25.0, 0.1: 27.0, 0.2: 29.0}
    test_err = {0.0: 20.0, 0.05: 18.0, 0.1: 19.0, 0.2: 21.0}
    for _, cfg in ex.table_configs("eps_validation", "smoke", seeds=[0, 1]):
        e = cfg.label_smoothing
        err = (val_err if cfg.val_fraction > 0 else test_err)[e] + cfg.seed
        _fake_result(cfg, out, err=err)
    df = ex.summarize("eps_validation", "smoke", out, seeds=[0, 1])
    assert df.attrs["selected_eps"] == 0.05
    assert df.attrs["validation_curve"] == {0.0: 30.5, 0.05: 25.5, 0.1: 27.5, 0.2: 29.5}
    comp = df[df["group"] == "comparison"].set_index("row")
    assert comp.loc["(a) mixup + label smoothing at the selected ε (ε=0.05)", "final_error_mean"] == 18.5
    assert comp.loc["(b) mixup + label smoothing at the fixed ε=0.1", "final_error_mean"] == 19.5
    assert comp.loc["(c) mixup (ε=0)", "final_error_mean"] == 20.5
    assert math.isclose(comp.loc["(c) mixup (ε=0)", "final_error_std"], math.sqrt(0.5))
    md = ex.format_table(df)
    assert "Selected ε: 0.05." in md and "✓" in md
    # with a validation run missing, the selection is pending
    next(p for p in out.glob("*.json") if json.loads(p.read_text())["config"]["val_fraction"] > 0).unlink()
    assert ex.summarize("eps_validation", "smoke", out, seeds=[0, 1]).attrs["selected_eps"] is None


def test_cifar_summary_has_paper_column_and_extra_metrics(tmp_path):
    out = tmp_path / "res"
    for _, cfg in ex.table_configs("headline", "smoke", dataset="cifar10", seeds=[0, 1]):
        _fake_result(cfg, out, err=6.0 + cfg.seed)
    df = ex.summarize("headline", "smoke", out, dataset="cifar10", seeds=[0, 1])
    row = df[(df["row"] == "ERM") & (df["model"] == "PreAct ResNet-18")].iloc[0]
    assert row["paper"] == 5.53 and row["paper source"] == ex.PAPER_SOURCES["readme"]
    assert row["median_last10_error_mean"] == 6.5 and row["status"] == "2/2"
    assert "paper (%)" in ex.format_table(df) and "6.50 ± 0.71" in ex.format_table(df)
    cal = ex.summarize("calibration", "smoke", out, dataset="cifar10", seeds=[0, 1])
    assert math.isclose(cal.loc[0, "overconfidence_mean"], 100 * (10 * 0.5 + 30 * 0.9 - 10 * 0.5 - 30 * 0.8) / 40)
    rob = ex.summarize("robustness", "smoke", out, dataset="cifar10", seeds=[0, 1])
    assert rob.loc[0, "fgsm_error_0.03_mean"] == 16.5 and "FGSM ε=0.03 error (%)" in ex.format_table(rob)


def test_label_noise_summary_reads_memorization_curves(tmp_path):
    out = tmp_path / "res"
    for _, cfg in ex.table_configs("label_noise", "smoke", seeds=[0], rows=["ERM"]):
        _fake_result(cfg, out, err=30.0)
    df = ex.summarize("label_noise", "smoke", out, seeds=[0], rows=["ERM"])
    assert list(df["label noise"]) == ["20%", "50%", "80%"]
    assert (df["train_error_noisy_labels_mean"] == 50.0).all() and (df["best_error_mean"] == 29.0).all()


# ----------------------------------------------------------------------------------------------------------
# Errors: one line, exit 2, nothing written
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, needle", [
    (["table", "nope", "--scale", "cpu"], "invalid choice: 'nope'"),
    (["table", "headline", "--rows", "no such row"], "unknown row 'no such row' for table 'headline'"),
    (["table", "headline", "--workers", "0"], "--workers must be an integer >= 1, got 0"),
    (["table", "headline", "--scale", "huge"], "invalid choice: 'huge'"),
    (["table", "uci", "--dataset", "cifar10"], "--dataset does not apply to table 'uci'"),
    (["table", "headline", "--dataset", "iris"], "dataset must be one of fashion-mnist, cifar10, cifar100"),
    (["table", "headline", "--seeds", "-1"], "seeds must be >= 0"),
    (["table", "headline", "--seeds", "0", "0"], "seeds must be distinct"),
    (["table", "all", "--rows", "no such row"], "unknown row 'no such row': no table"),
])
def test_bad_arguments_one_line_exit_2_nothing_written(tmp_path, capsys, argv, needle):
    out = tmp_path / "never"
    rc, stdout, err = _cli([*argv, "--out", str(out)], capsys)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err and stdout == ""
    assert not out.exists()


def test_compile_mode_reaches_every_run_without_changing_its_id(tmp_path):
    import dataclasses

    from mixup_repro.experiments import run_table, table_configs, train_command

    _, cfg = table_configs("headline", "paper", "fashion-mnist", [0])[0]
    fast = dataclasses.replace(cfg, compile="reduce-overhead")
    assert run_id(fast) == run_id(cfg)
    cmd = train_command(fast, tmp_path)
    assert cmd[cmd.index("--compile") + 1] == "reduce-overhead" and "--compile" not in train_command(cfg, tmp_path)
    with pytest.raises(ValueError, match="compile must be one of none, default, reduce-overhead, max-autotune"):
        run_table("headline", "smoke", out=tmp_path, compile="fast")
    from mixup_repro.experiments import print_commands, table_specs

    lines = print_commands(table_specs(["headline"], "fashion-mnist", None), "smoke", tmp_path, compile="default")
    assert lines and all("--compile default" in line for line in lines)


def test_cutmix_rows_are_beyond_the_paper_and_share_their_runs():
    for name in ("headline", "ablation"):
        rows = [r for r in ex.TABLES[name].rows if r.label == "CutMix α=1"]
        assert rows and all(r.group == "beyond the paper" and r.overrides["method"] == "cutmix"
                            and r.overrides["alpha"] == 1.0 and not r.paper for r in rows)
    assert len([r for r in ex.TABLES["headline"].rows if r.label == "CutMix α=1"]) == 3  # one per model
    head = ex.table_configs("headline", "cpu", rows=["CutMix α=1"])
    abl = ex.table_configs("ablation", "cpu", rows=["CutMix α=1"])
    assert [k for k, _ in head] == ["CutMix α=1 [model=PreAct ResNet-18]"] * 5  # the headline's 5 paired seeds
    # at 1e-4 the ablation's row is the headline's runs, so it expects all 5 of its seeds (plan._shared_seeds)
    assert [k for k, _ in abl] == ["CutMix α=1 [weight decay=1e-4]"] * 5 + ["CutMix α=1 [weight decay=5e-4]"]
    assert [run_id(c) for _, c in head] == [run_id(c) for _, c in abl[:5]]  # the same runs, computed once
    assert all(c.method == "cutmix" and c.dataset == "cifar10" for _, c in head + abl)
