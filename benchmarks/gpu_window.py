"""The GPU window: two commands that fit one 15-minute GPU session (issue 20).

    python3 benchmarks/gpu_window.py check   # <= 90 s: versions, CUDA-only checks, one 5,000-image epoch
    python3 benchmarks/gpu_window.py main    # <= 570 s: speed (<= 90 s), then complete 200-epoch runs

``check`` stops at the first failing step (exit 1) with the step, its error and its traceback in the log and the
summary. ``main`` measures the reference loop (2 epochs) and ours (3 epochs) with ``benchmarks/speed.py``,
then starts as many complete paper-protocol runs (CIFAR-10 JPEG copy, PreAct ResNet-18, 200 epochs) as the
measured speed says can finish inside its budget (see :func:`initial_runs` and :func:`keep_runs`), watches
their progress, and stops the lowest-priority ones the moment the measured rate says they would not finish:
checkpoints cannot be carried to a later window, so an unfinished run is worth nothing. The runs are the first
missing ones of :data:`QUEUE` (the headline's four rows, seed by seed up to 5 seeds, then the ablation rows,
then the label-noise rows), so every later window continues where the committed results end. On the GPU the
runs and the check's epoch use bf16 autocast and ``torch.compile`` mode ``reduce-overhead`` (``--compile none``:
eager); the per-epoch training-error curve stays on (``--no-eval-train`` drops it).

Everything a command produces is packed into ``$OUT/<command>.tgz`` (paths relative to the repository root:
unpack it there), after every phase, so a command cut short still brings back what finished; ``$OUT`` also gets
``<command>.log`` and ``<command>_summary.json`` (3 files per command; the device tool brings back at most 8).

``SMOKE=1`` (or ``--smoke``): every phase at toy size on the CPU, on ``random-cifar`` unless ``--dataset`` says
otherwise, writing only under ``$OUT`` (``make test`` runs both commands this way). Budgets: ``--budget`` or
``$BUDGET_S`` (defaults 90 and 570 s). Exit status: 0 done (runs the planner did not start or stopped are not
failures), 1 a check, the speed phase or a run failed, 2 bad arguments or no data.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

_T_START = time.time()  # the budget counts from here: torch's import (seconds) is part of the command
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a copy without installing
    sys.path.insert(0, str(ROOT))

BUDGETS = {"check": 90.0, "main": 570.0}
"""Default seconds per command: the device tool's 15 minutes hold machine start-up (a minute or more), both
commands and the transfers; one command may run 10 minutes."""

HEADLINE_ROWS = ("ERM [model=PreAct ResNet-18]", "mixup α=1 [model=PreAct ResNet-18]",
                 "label smoothing ε=0.1 [model=PreAct ResNet-18]",
                 "mixup + label smoothing ε=0.1 [model=PreAct ResNet-18]")
ABLATION_ROWS = tuple(f"{r} [weight decay={wd}]" for wd in ("1e-4", "5e-4") for r in (
    "ERM", "mixup AC + RP", "label smoothing ε=0.05", "label smoothing ε=0.1", "label smoothing ε=0.2",
    "mix inputs + label smoothing ε=0.05", "mix inputs + label smoothing ε=0.1", "mix inputs + label smoothing ε=0.2",
    "mixup + label smoothing ε=0.05", "mixup + label smoothing ε=0.1", "mixup + label smoothing ε=0.2"))
NOISE_ROWS = ("ERM [label noise=50%]", "mixup α=8 [label noise=50%]", "mixup α=32 [label noise=50%]")
QUEUE = (("headline", HEADLINE_ROWS, tuple(range(5))), ("ablation", ABLATION_ROWS, (0,)),
         ("label_noise", NOISE_ROWS, (0,)))
"""What the windows run, in order: (table, rows, seeds). The headline goes seed by seed (the four rows of seed
s before any row of seed s + 1), so every window adds whole ERM / mixup pairs first."""


@dataclasses.dataclass(frozen=True)
class Sizes:
    """The sizes of one mode (GPU or SMOKE); every constant the planner uses that is not measured."""

    scale: str
    epochs: int            # epochs of a complete run (the paper: 200)
    check_subset: int      # training images per class of the check's one epoch
    check_test_subset: int
    check_batch: int       # batch of the check's epoch (at least one full batch: only full batches run compiled)
    agree_subset: int      # images per class of the bf16 / fp32 step comparison (one batch of all of them)
    sync_subset: int
    width: int | None      # None: the scale's (paper: 64)
    speed_args: tuple
    speed_budget_s: float  # the speed phase's limit
    startup_s: float       # GUESS: interpreter, imports, data from the cache, model to the device, per run
    final_factor: float    # GUESS: the final evaluations (all training images, reliability, FGSM) in epochs
    probe_epochs: int      # epochs of every run before the first keep-or-stop decision
    margin_s: float        # kept free at the end of a command: stopping, post-processing, packing
    poll_s: float


GPU = Sizes(scale="paper", epochs=200, check_subset=500, check_test_subset=100, check_batch=128, agree_subset=13, sync_subset=1000,
            width=None, speed_args=("--epochs", "3", "--reference-epochs", "2", "--num-workers", "8"),
            speed_budget_s=90.0, startup_s=20.0, final_factor=1.5, probe_epochs=3, margin_s=25.0, poll_s=2.0)
SMOKE = Sizes(scale="smoke", epochs=8, check_subset=5, check_test_subset=5, check_batch=25, agree_subset=4, sync_subset=5, width=4,
              speed_args=("--epochs", "3", "--reference-epochs", "2", "--num-workers", "1", "--width", "4",
                          "--subset", "5", "--test-subset", "5"),
              speed_budget_s=60.0, startup_s=8.0, final_factor=1.5, probe_epochs=3, margin_s=3.0, poll_s=0.2)


class CheckFailed(Exception):
    """A check step found something wrong; its message says what and what to fix."""


class _TimeUp(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _TimeUp("the command's budget ran out")


# ----------------------------------------------------------------------------------------------------------
# The planner (pure functions: tested on their own)
# ----------------------------------------------------------------------------------------------------------
def run_seconds(epoch_s: float, sizes: Sizes, *, warmup_s: float = 0.0, extra_epochs: float = 0.0) -> float:
    """Seconds of one complete run at ``epoch_s`` seconds per epoch (training + per-epoch evaluation): start-up,
    first-epoch warm-up, ``sizes.epochs + extra_epochs`` epochs and the final evaluations."""
    return sizes.startup_s + warmup_s + (sizes.epochs + extra_epochs + sizes.final_factor) * epoch_s


def initial_runs(solo_epoch_s: float, warmup_s: float, available_s: float, pending: int, max_runs: int,
                 sizes: Sizes) -> int:
    """How many runs to start at once, from the speed of one run alone (``solo_epoch_s``, measured).

    K runs start only if, even when running them side by side gains nothing (each epoch then takes K times
    as long while all K run), the first run still finishes after the others are stopped at the first decision
    (``sizes.probe_epochs`` epochs in): start-up + warm-up + (epochs + probe_epochs·(K - 1) + final) x solo
    s/epoch <= available. 0 when not even one run alone can finish: no run starts that the measured speed says
    cannot finish.
    """
    best = 0
    for k in range(1, min(max_runs, pending) + 1):
        if run_seconds(solo_epoch_s, sizes, warmup_s=warmup_s, extra_epochs=sizes.probe_epochs * (k - 1)) \
                <= available_s:
            best = k
    return best


def keep_runs(solo_epoch_s: float, measured_epoch_s: float, running: int, epochs_left: list[int],
              seconds_left: float, sizes: Sizes) -> int:
    """How many of ``running`` runs to keep, from their measured s/epoch side by side (``measured_epoch_s``).

    Runs are kept in priority order; ``epochs_left`` holds each one's remaining epochs, in that order. Keeping K
    of them, each epoch is assumed to take s(K) = solo + (measured - solo)·(K - 1)/(running - 1) (the straight
    line between the two measured points; above the true cost when the GPU saturates, so on the safe side),
    and K runs are kept when every one of them finishes: (epochs left + final)·s(K) <= seconds left.
    """
    for k in range(running, 0, -1):
        s = measured_epoch_s if k == running else \
            solo_epoch_s + (measured_epoch_s - solo_epoch_s) * (k - 1) / max(1, running - 1)
        s = max(s, solo_epoch_s) if k < running else s
        if all((left + sizes.final_factor) * s <= seconds_left for left in epochs_left[:k]):
            return k
    return 0


def epoch_intervals(marks: list[tuple[int, float]]) -> list[float]:
    """Seconds per epoch from a run's progress marks ``(epochs done, unix time)``, its first epoch left out
    (start-up, data, warm-up)."""
    ends = [t for e, t in marks if e >= 1]
    return [b - a for a, b in zip(ends, ends[1:])]


# ----------------------------------------------------------------------------------------------------------
# What is missing
# ----------------------------------------------------------------------------------------------------------
def pending_runs(results_dir, sizes: Sizes, dataset: str, runtime: dict) -> list[tuple[str, str, object]]:
    """The missing runs of :data:`QUEUE` in ``results_dir`` as ``(table, row key, TrainConfig)``, in order."""
    from mixup_repro.plan import run_status, table_configs
    from mixup_repro.train import run_id

    out, seen = [], set()
    for name, rows, seeds in QUEUE:
        pairs = table_configs(name, sizes.scale, dataset="cifar10", seeds=list(seeds), rows=list(rows))
        pairs.sort(key=lambda kc: kc[1].seed)  # stable: seed by seed, the rows in their order within a seed
        for key, cfg in pairs:
            over = dict(runtime, dataset=dataset)
            if sizes.scale == "smoke":  # the paper's rows keep their own (200) epochs, and so their run ids
                over["epochs"] = sizes.epochs
            if dataset == "random-cifar":  # SMOKE without the JPEG copy: no FGSM (it needs a real image set)
                over["fgsm_eps"] = ()
            if sizes.width is not None:
                over["width"] = sizes.width
            cfg = dataclasses.replace(cfg, **over)
            if cfg.epochs != sizes.epochs:
                raise ValueError(f"{name}: row {key!r} has {cfg.epochs} epochs; the planner of the GPU window "
                                 f"assumes {sizes.epochs}")
            rid = run_id(cfg)
            if rid in seen or run_status(cfg, results_dir) == "done":
                continue
            seen.add(rid)
            out.append((name, key, cfg))
    return out


def steps_per_epoch(cfg) -> int:
    from mixup_repro.timing import DATA_SIZES

    if cfg.val_fraction:
        raise ValueError("val_fraction must be 0 for runs of the GPU window (the progress marks count full epochs)")
    n = cfg.subset * 10 if cfg.subset else DATA_SIZES.get(cfg.dataset, (50000,))[0]
    return -(-n // cfg.batch_size)


# ----------------------------------------------------------------------------------------------------------
# The session: log, summary, archive
# ----------------------------------------------------------------------------------------------------------
class Session:
    def __init__(self, command: str, args, sizes: Sizes):
        self.command, self.args, self.sizes = command, args, sizes
        self.t0 = _T_START if __name__ == "__main__" else time.time()  # in-process (tests): from now
        self.budget = float(args.budget)
        self.out = Path(args.out)
        self.work = Path(args.work)
        self.stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        self.rel_dir = Path("results") / "gpu_windows" / f"{self.stamp}-{command}"
        self.dir = self.work / self.rel_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.out.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / f"{command}.log"
        self.packed: list[Path] = []  # files under work to archive (besides self.dir)
        self.summary = {"schema": "mixup_repro.gpu_window/1", "command": command, "smoke": args.smoke,
                        "budget_s": self.budget, "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        "ok": None, "steps": {}, "log": []}

    def elapsed(self) -> float:
        return time.time() - self.t0

    def left(self) -> float:
        return self.budget - self.elapsed()

    def say(self, msg: str) -> None:
        line = f"[{self.elapsed():6.1f} s] {msg}"
        print(line, flush=True)
        with open(self.log_path, "a") as f:
            f.write(line + "\n")
        self.summary["log"].append(line)

    def pack(self) -> None:
        """Write the summary, then ``$OUT/<command>.tgz`` and the copies of the log and the summary."""
        from mixup_repro.results import atomic_write_json

        self.summary["elapsed_s"] = round(self.elapsed(), 1)
        atomic_write_json(self.dir / "summary.json", self.summary)
        tmp = self.out / f".{self.command}.tgz.part"
        with tarfile.open(tmp, "w:gz") as tar:
            for p in sorted(self.dir.rglob("*")):
                if p.is_file() and "checkpoints" not in p.parts:
                    tar.add(p, arcname=str(p.relative_to(self.work)))
            for p in self.packed:
                if p.is_file():
                    tar.add(p, arcname=str(p.relative_to(self.work)))
        tmp.replace(self.out / f"{self.command}.tgz")
        shutil.copyfile(self.dir / "summary.json", self.out / f"{self.command}_summary.json")
        if self.log_path.exists():
            shutil.copyfile(self.log_path, self.out / f"{self.command}.log")


def _env(args, sizes: Sizes, threads: int | None = None) -> dict:
    """The environment of child processes: the repository on the path, the data and cache folders."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               PYTHONUNBUFFERED="1", MIXUP_REPRO_CACHE=str(args.cache))
    if args.data_dir:
        env["MIXUP_REPRO_DATA"] = str(args.data_dir)
    if threads is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def _load(args):
    """The dataset of the window's runs (fills the decoded-image cache on first use)."""
    from mixup_repro.data import load_dataset

    return load_dataset(args.dataset, args.data_dir, download=False) if args.dataset != "random-cifar" \
        else load_dataset("random-cifar")


# ----------------------------------------------------------------------------------------------------------
# check
# ----------------------------------------------------------------------------------------------------------
def step_env(s: Session) -> dict:
    import torch

    from mixup_repro.results import device_name, git_commit, versions

    facts = {"versions": versions(), "python": sys.version.split()[0], "cuda": torch.version.cuda,
             "cuda_available": torch.cuda.is_available(), "device": device_name(s.args.device)
             if s.args.device == "cpu" or torch.cuda.is_available() else None,
             "git_commit": git_commit(), "c_compiler": shutil.which("gcc") or shutil.which("cc"),
             "cpu_count": os.cpu_count()}
    try:
        import triton

        facts["triton"] = triton.__version__
    except Exception as e:  # noqa: BLE001 - reported, judged below
        facts["triton"] = f"missing ({type(e).__name__}: {e})"
    if shutil.which("nvidia-smi"):
        q = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit",
                            "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
        facts["nvidia_smi"] = q.stdout.strip() or q.stderr.strip()
    s.say(f"python {facts['python']}, torch {facts['versions'].get('torch')}, cuda {facts['cuda']}, "
          f"triton {facts['triton']}, C compiler {facts['c_compiler']}, device {facts['device']}, "
          f"commit {facts['git_commit']}")
    if facts["git_commit"] is None:
        s.say("WARNING: no commit known (the copy has no .git): set MIXUP_REPRO_GIT_COMMIT; records will say null")
    if s.args.device == "cuda":
        if not facts["cuda_available"]:
            raise CheckFailed("torch.cuda.is_available() is False: no usable GPU (driver / CUDA build of torch?)")
        if s.args.compile != "none" and (facts["c_compiler"] is None or facts["triton"].startswith("missing")):
            raise CheckFailed(f"--compile {s.args.compile} needs Triton and a C compiler: triton {facts['triton']}, "
                              f"C compiler {facts['c_compiler']}; run with --compile none")
    return facts


def step_data(s: Session) -> dict:
    t = time.perf_counter()
    ds = _load(s.args)
    facts = {"dataset": s.args.dataset, "num_train": ds.num_train, "num_test": ds.num_test,
             "data_source": ds.source, "load_s": round(time.perf_counter() - t, 2)}
    s.say(f"data: {s.args.dataset} {ds.num_train} + {ds.num_test} images, source "
          f"{(ds.source or {}).get('label', 'generated')}, loaded in {facts['load_s']} s")
    if s.args.dataset == "cifar10" and not (ds.source or {}).get("label"):
        raise CheckFailed("cifar10 loaded without a data_source label")
    return facts


def _tiny_config(s: Session, **kw):
    from mixup_repro import TrainConfig

    base = dict(dataset=s.args.dataset, data_dir=str(s.args.data_dir) if s.args.data_dir else None,
                device=s.args.device, checkpoint_every=0, milestones=(), eval_train=False)
    if s.sizes.width is not None:
        base["width"] = s.sizes.width
    return TrainConfig(**(base | kw))


def step_sync(s: Session) -> dict:
    """Host synchronisations per epoch of a mixup run on CIFAR-10: a few per epoch, none per step (CUDA only)."""
    if s.args.device != "cuda":
        s.say("sync: skipped (torch.cuda.set_sync_debug_mode needs CUDA)")
        return {"skipped": "needs CUDA"}
    from benchmarks.sync_check import count_syncs

    r = count_syncs("mixup", {}, 1, s.sizes.sync_subset, dataset=s.args.dataset)
    s.say(f"sync: {r['syncs_per_epoch']} host syncs per epoch of {r['steps_per_epoch']} steps ({r['where'][:6]})")
    if not r["per_step_free"]:
        raise CheckFailed(f"host syncs every step: {r['syncs_per_epoch']} per epoch of {r['steps_per_epoch']} steps, "
                          f"at {', '.join(r['where'])}")
    return r


AGREE_TOL = {"init_loss": 0.03, "loss_after_one_step": 0.05}
"""Largest relative difference of bf16 from fp32 allowed in the step comparison (bf16 keeps 8 significand
bits, ~0.4 % per rounding)."""


def step_agree(s: Session) -> dict:
    """bf16 autocast against fp32 (IEEE on CUDA): the same first loss and the same loss after one SGD step."""
    import dataclasses as dc

    from mixup_repro import fit

    n = s.sizes.agree_subset
    cfg = _tiny_config(s, method="mixup", epochs=2, subset=n, test_subset=n, batch_size=10 * n, seed=0)
    curves = {p: fit(dc.replace(cfg, precision=p), None, quiet=True, keep_model=False).curves for p in ("bf16", "fp32")}
    rel = {"init_loss": abs(curves["bf16"]["train_loss"][0] / curves["fp32"]["train_loss"][0] - 1),
           "loss_after_one_step": abs(curves["bf16"]["train_loss"][1] / curves["fp32"]["train_loss"][1] - 1)}
    s.say("bf16 vs fp32: " + ", ".join(f"{k} {curves['bf16']['train_loss'][i]:.4f} vs "
                                       f"{curves['fp32']['train_loss'][i]:.4f} (rel {rel[k]:.2e})"
                                       for i, k in enumerate(rel)))
    bad = [k for k in rel if not rel[k] <= AGREE_TOL[k]]
    if bad:
        raise CheckFailed("bf16 and fp32 disagree: " + ", ".join(f"{k} relative difference {rel[k]:.3g} > "
                                                                  f"{AGREE_TOL[k]}" for k in bad))
    return {"relative_difference": rel, "tolerance": AGREE_TOL, "train_loss": {p: c["train_loss"]
                                                                               for p, c in curves.items()}}


def step_graph(s: Session) -> dict:
    """torch.compile's front end (Dynamo) traces the model's training forward as one graph, without breaks.

    With ``--compile`` other than none the check's epoch compiles the real training run and counts its graphs
    (which must be 1), so this separate trace is left out there (it would cost seconds of the budget)."""
    import torch

    if s.args.compile != "none":
        s.say(f"compile: counted in the compiled epoch ({s.args.compile}) below")
        return {"skipped": "counted by the compiled epoch"}

    from mixup_repro.models import build_model

    device = torch.device(s.args.device)
    model = build_model("preact_resnet18", 10, 3, width=s.sizes.width or 64).to(device).train()
    x = torch.randn(8, 3, 32, 32, device=device)
    if device.type == "cuda":
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    torch._dynamo.reset()
    with torch.autocast(device.type, dtype=torch.bfloat16):
        e = torch._dynamo.explain(model)(x)
    torch._dynamo.reset()
    s.say(f"compile: {e.graph_count} graph(s), {e.graph_break_count} graph break(s)")
    if e.graph_count != 1 or e.graph_break_count != 0:
        raise CheckFailed(f"torch.compile would trace {e.graph_count} graphs with {e.graph_break_count} breaks: "
                          + "; ".join(str(r.reason) for r in e.break_reasons)[:1500])
    return {"graph_count": e.graph_count, "graph_break_count": e.graph_break_count}


def step_epoch(s: Session) -> dict:
    """One epoch on a 5,000-image subset in the main runs' settings (precision, compile, eval_train)."""
    from mixup_repro import fit

    cfg = _tiny_config(s, method="mixup", epochs=1, subset=s.sizes.check_subset,
                       test_subset=s.sizes.check_test_subset, batch_size=s.sizes.check_batch,
                       compile=s.args.compile, eval_train=s.args.eval_train, milestones=None)
    import torch

    torch._dynamo.reset()
    graphs_before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    res = fit(cfg, s.dir / "run", quiet=True, keep_model=False)
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"] - graphs_before
    t = res.record["timing"]
    facts = {"num_train": res.summary["num_train"], "epoch_s": t["first_epoch_s"], "eval_s": t["median_eval_s"],
             "wall_s": res.record["wall_s"], "test_error": res.summary["final_error"],
             "precision_used": res.record["precision_used"], "data_source": res.record["data_source"],
             "compile": s.args.compile, "compiled_graphs": graphs if s.args.compile != "none" else None}
    s.say(f"epoch: {facts['num_train']} images in {facts['epoch_s']:.2f} s (first epoch: warm-up"
          f"{' and compilation' if s.args.compile != 'none' else ''}), evaluation {facts['eval_s']:.2f} s, "
          f"{facts['precision_used']}, test error {facts['test_error']:.1f} %"
          + (f", {graphs} compiled graph(s)" if s.args.compile != "none" else ""))
    if s.args.compile != "none" and graphs != 1:
        raise CheckFailed(f"the compiled training run ({s.args.compile}) compiled {graphs} graphs, expected 1 "
                          "(graph breaks or recompilations: run with TORCH_LOGS=graph_breaks,recompiles)")
    return facts


CHECK_STEPS = (("env", step_env), ("data", step_data), ("sync", step_sync), ("bf16_vs_fp32", step_agree),
               ("one_graph", step_graph), ("epoch", step_epoch))


def check(s: Session) -> int:
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(max(1, int(s.left())))
    failed = None
    try:
        for name, fn in CHECK_STEPS:
            t = time.perf_counter()
            try:
                facts = fn(s)
            except (Exception, _TimeUp) as e:  # noqa: BLE001 - every failure is reported with what makes it fixable
                failed = name
                s.summary["steps"][name] = {"ok": False, "error": f"{type(e).__name__}: {e}"[:3000],
                                            "traceback": traceback.format_exc()[-6000:],
                                            "s": round(time.perf_counter() - t, 2)}
                s.say(f"check {name} FAILED: {type(e).__name__}: {e}")
                with open(s.log_path, "a") as f:
                    f.write(traceback.format_exc())
                break
            s.summary["steps"][name] = {"ok": True, "s": round(time.perf_counter() - t, 2), **facts}
            s.pack()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    s.summary["ok"] = failed is None
    s.say("check passed: run main" if failed is None else f"check stopped at {failed}: fix it before main")
    s.pack()
    return 0 if failed is None else 1


# ----------------------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------------------
def speed_phase(s: Session) -> dict | None:
    """benchmarks/speed.py: ours first (3 epochs, the runs' settings), then the reference (2 epochs), limited."""
    import torch

    precision = "bf16" if s.args.device == "cuda" else "fp32"  # what precision="auto" uses there
    variant = precision + ("" if s.args.compile == "none" else f"-{s.args.compile}")
    bench = s.work / "benchmarks" / "results"
    before = set(bench.glob("*.json")) if bench.is_dir() else set()
    limit = min(s.sizes.speed_budget_s, s.left() - s.sizes.margin_s)
    if limit < 10:
        s.say(f"speed: not run ({limit:.0f} s left)")
        return None
    cmd = [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--device", s.args.device, "--dataset",
           s.args.dataset, *s.sizes.speed_args, "--variants", variant, "--reference-last", "--out", str(bench),
           "--label", f"gpu window {s.stamp}"]
    if not s.args.eval_train:
        cmd.append("--no-eval-train")
    s.say(f"speed: {' '.join(cmd[1:])} (limit {limit:.0f} s)")
    with open(s.dir / "speed.log", "w") as log:
        # the compile caches stay on (speed.py would measure a cold compile): the check's epoch has filled them
        env = _env(s.args, s.sizes) | {"TORCHINDUCTOR_FX_GRAPH_CACHE": "1", "TORCHINDUCTOR_AUTOGRAD_CACHE": "1"}
        p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            p.wait(timeout=max(1.0, limit - 8))
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGTERM)  # speed.py keeps the phases it finished
            try:
                p.wait(timeout=8)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            s.say(f"speed: stopped at its limit ({limit:.0f} s)")
    new = sorted(set(bench.glob("*.json")) - before) if bench.is_dir() else []
    if not new:
        s.say(f"speed: no record written (exit {p.returncode}); see speed.log")
        return None
    s.packed.extend(new)
    rec = json.loads(new[-1].read_text())
    ours = next((v for v in rec["variants"] if v["name"] == variant), None)
    s.summary["speed"] = {"file": str(new[-1].relative_to(s.work)), "reference_s_per_epoch":
                          rec["reference_s_per_epoch"], "ours_s_per_epoch": rec["ours_s_per_epoch"],
                          "speedup": rec["speedup"], "errors": rec["errors"], "stopped": rec["stopped"],
                          "exit": p.returncode, "device": rec["device"], "cuda_available": torch.cuda.is_available()}
    if ours is None:
        s.say(f"speed: ours ({variant}) not measured: {rec['errors'] or rec['stopped']}")
        return None
    s.say(f"speed: reference {rec['reference_s_per_epoch']} s/epoch, ours {ours['s_per_epoch']:.3f} s/epoch "
          f"+ {ours['eval_s']:.3f} s evaluation, warm-up {ours['warmup_s']} s, speed-up {rec['speedup']}")
    return ours


def _start_child(s: Session, cfg, slot: int, threads: int):
    spec = s.dir / "runs" / f"{slot}.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps(cfg.to_dict()))
    progress = s.dir / "runs" / f"{slot}.progress"
    log = open(s.dir / "runs" / f"{slot}.log", "w")
    cmd = [sys.executable, str(Path(__file__).resolve()), "_train", str(spec), str(s.results_dir), str(progress)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(s.args, s.sizes, threads), stdout=log, stderr=subprocess.STDOUT)
    return {"proc": proc, "log": log, "progress": progress, "cfg": cfg, "slot": slot, "start": time.time()}


def _marks(path: Path) -> list[tuple[int, float]]:
    try:
        lines = path.read_text().split("\n")
    except OSError:
        return []
    out = []
    for ln in lines:
        parts = ln.split()
        if len(parts) == 2:
            out.append((int(parts[0]), float(parts[1])))
    return out


_TERM = []  # a SIGTERM to main (the device tool's limit): stop the runs, pack what finished


def _on_term(signum, frame):
    _TERM.append(signum)


def _stop(run: dict, why: str) -> None:
    if run["proc"].poll() is None:
        run["proc"].send_signal(signal.SIGTERM)
    run["stopped"] = why


def main_cmd(s: Session) -> int:
    from mixup_repro.results import atomic_write_json, read_result
    from mixup_repro.train import result_path, run_id

    s.results_dir = s.work / "results" / ("paper" if not s.args.smoke else "paper-smoke")
    runtime = dict(device=s.args.device, data_dir=str(s.args.data_dir) if s.args.data_dir else None,
                   checkpoint_every=0, compile=s.args.compile, eval_train=s.args.eval_train)
    pending = pending_runs(s.results_dir, s.sizes, s.args.dataset, runtime)
    s.summary["pending_before"] = [f"{name}: {key} seed {cfg.seed}" for name, key, cfg in pending]
    s.say(f"missing in {s.results_dir.relative_to(s.work)}: {len(pending)} runs; first: "
          + "; ".join(f"{key} seed {cfg.seed}" for _, key, cfg in pending[:4]))
    t = time.perf_counter()
    ds = _load(s.args)  # before the speed phase: the decoded images are cached for every process after it
    s.summary["data_source"] = ds.source
    s.say(f"data: {ds.num_train} training images ({(ds.source or {}).get('label', 'generated')}) in "
          f"{time.perf_counter() - t:.1f} s")
    del ds
    s.pack()
    ours = speed_phase(s)
    s.pack()
    failed = bool(s.summary.get("speed", {}).get("errors")) or ours is None
    if ours is None or not pending:
        s.say("no runs started: " + ("nothing is missing" if not pending else "no measured speed of ours"))
        s.summary["ok"] = not failed or not pending
        s.pack()
        return 0 if s.summary["ok"] else 1
    solo = ours["s_per_epoch"] + (ours["eval_s"] or 0.0)
    warm = ours["warmup_s"] or 0.0
    deadline = s.t0 + s.budget - s.sizes.margin_s
    avail = deadline - time.time()
    k0 = initial_runs(solo, warm, avail, len(pending), s.args.max_runs, s.sizes)
    one = run_seconds(solo, s.sizes, warmup_s=warm)
    plan = {"solo_epoch_s": solo, "warmup_s": warm, "available_s": round(avail, 1), "one_run_s": round(one, 1),
            "start": k0, "max_runs": s.args.max_runs, "epochs": s.sizes.epochs, "startup_s_guess": s.sizes.startup_s,
            "final_factor_guess": s.sizes.final_factor, "probe_epochs": s.sizes.probe_epochs, "decisions": []}
    s.summary["plan"] = plan
    s.say(f"plan: one run alone needs {one:.0f} s ({s.sizes.epochs} epochs at {solo:.3f} s); {avail:.0f} s left: "
          f"starting {k0} of {len(pending)} missing runs")
    if k0 == 0:
        s.say("no runs started: the measured speed says not even one run alone can finish")
        s.summary["ok"] = not failed
        s.pack()
        return 0 if not failed else 1
    threads = max(1, (os.cpu_count() or 1) // k0)
    signal.signal(signal.SIGTERM, _on_term)
    runs = [_start_child(s, cfg, i, threads) | {"table": name, "row": key}
            for i, (name, key, cfg) in enumerate(pending[:k0])]
    timeline = [(round(time.time() - s.t0, 1), k0)]
    next_decision = s.sizes.probe_epochs
    while True:
        live = [r for r in runs if r["proc"].poll() is None]
        if not live:
            break
        now = time.time()
        if now >= deadline or _TERM:
            for r in live:
                _stop(r, "the command's budget ran out" if not _TERM else "SIGTERM")
            s.say(f"{'budget' if not _TERM else 'SIGTERM'}: stopped {len(live)} unfinished run(s)")
            break
        marks = {r["slot"]: _marks(r["progress"]) for r in live if not r.get("stopped")}
        done = {slot: (m[-1][0] if m else 0) for slot, m in marks.items()}
        # a run that has trained all its epochs is finishing (final evaluation, results file): never stopped
        active = [r for r in live if r["slot"] in done and done[r["slot"]] < s.sizes.epochs]
        if active and min(done[r["slot"]] for r in active) >= next_decision:
            rates = [statistics.median(epoch_intervals(marks[r["slot"]])[-5:]) for r in active]
            measured = max(rates)
            left = [s.sizes.epochs - done[r["slot"]] for r in active]
            keep = keep_runs(solo, measured, len(active), left, deadline - now, s.sizes)
            plan["decisions"].append({"t": round(now - s.t0, 1), "running": len(active), "epoch_s": round(measured, 4),
                                      "epochs_left": left, "keep": keep})
            s.say(f"decision: {len(active)} runs at {measured:.3f} s/epoch (epochs left {left}): keep {keep}")
            for r in active[keep:]:
                _stop(r, f"would not finish: {len(active)} at once ran {measured:.3f} s/epoch with "
                         f"{deadline - now:.0f} s left")
                s.say(f"stopped {r['row']} seed {r['cfg'].seed}: {r['stopped']}")
            if keep < len(active):
                timeline.append((round(now - s.t0, 1), keep))
            next_decision = min(done[r["slot"]] for r in active[:keep]) + 2 if keep else 10 ** 9
        time.sleep(s.sizes.poll_s)
    for r in runs:
        try:
            r["proc"].wait(timeout=max(2.0, s.left() - 8))  # a stopped run finishes its step and writes a checkpoint (not carried)
        except subprocess.TimeoutExpired:
            r["proc"].kill()
            r["proc"].wait()
        r["log"].close()
    t_end = round(time.time() - s.t0, 1)
    summary_runs = []
    for r in runs:
        cfg, code = r["cfg"], r["proc"].returncode
        path = result_path(cfg, s.results_dir)
        m = _marks(r["progress"])
        item = {"table": r["table"], "row": r["row"], "seed": cfg.seed, "run_id": run_id(cfg), "exit": code,
                "epochs_done": m[-1][0] if m else 0, "wall_s": round((m[-1][1] if m else r["start"]) - r["start"], 1)}
        if code == 0 and path.exists():
            rec = read_result(path)
            spans = [(a, b, k) for (a, k), (b, _) in zip(timeline, timeline[1:] + [(t_end, 0)])]
            rec["gpu_window"] = {"window": s.stamp, "command": "main", "gpu": rec["device"],
                                 "precision": rec["precision_used"], "compile": cfg.compile,
                                 "eval_train": cfg.eval_train, "concurrency_start": k0,
                                 "concurrency_timeline": timeline, "concurrency_spans": spans,
                                 "speed_record": s.summary.get("speed", {}).get("file")}
            atomic_write_json(path, rec)
            s.packed.append(path)
            item.update(status="done", median_last10_error=rec["summary"]["median_last10_error"],
                        median_epoch_s=rec["timing"]["median_epoch_s"])
        elif r.get("stopped"):
            item.update(status="stopped", why=r["stopped"])
        else:
            item.update(status="failed", log_tail=(s.dir / "runs" / f"{r['slot']}.log").read_text()[-1500:])
            failed = True
        s.say(f"run {r['row']} seed {cfg.seed}: {item['status']} after {item['epochs_done']} epochs"
              + (f", median last 10 {item['median_last10_error']:.2f} %" if item["status"] == "done" else
                 f" ({item.get('why', 'exit ' + str(code))})"))
        summary_runs.append(item)
    s.summary["runs"] = summary_runs
    s.summary["not_started"] = [f"{key} seed {cfg.seed}" for _, key, cfg in pending[k0:]]
    s.summary["ok"] = not failed
    s.say(f"main: {sum(i['status'] == 'done' for i in summary_runs)} run(s) finished, "
          f"{sum(i['status'] == 'stopped' for i in summary_runs)} stopped, {len(pending) - k0} not started")
    s.pack()
    return 1 if failed else 0


def _train(spec: str, out: str, progress: str) -> int:
    """A child of ``main``: one run, writing ``(epochs done, time)`` after every epoch's training steps."""
    from mixup_repro import TrainConfig, fit
    from mixup_repro.checkpoint import Interrupted

    cfg = TrainConfig.from_dict(json.loads(Path(spec).read_text()))
    spe, count = steps_per_epoch(cfg), [0]
    f = open(progress, "a", buffering=1)
    f.write(f"0 {time.time():.3f}\n")

    def on_step():
        count[0] += 1
        if count[0] % spe == 0:
            f.write(f"{count[0] // spe} {time.time():.3f}\n")

    try:
        fit(cfg, out, quiet=True, keep_model=False, on_step=on_step)
    except Interrupted as e:
        print(e, flush=True)
        return 128 + signal.SIGTERM
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_train"]:
        return _train(*argv[1:4])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=("check", "main"))
    p.add_argument("--smoke", action="store_true", default=os.environ.get("SMOKE", "0") == "1",
                   help="toy sizes on the CPU, writing only under --out (default: $SMOKE=1)")
    p.add_argument("--budget", type=float, default=None, help="seconds for this command (default: $BUDGET_S, "
                   "else 90 for check and 570 for main)")
    p.add_argument("--out", default=os.environ.get("OUT"), help="where the archive, log and summary go ($OUT)")
    p.add_argument("--work", default=None, help="where results are written (default: the repository; SMOKE: "
                   "OUT/work)")
    p.add_argument("--data-dir", default=None, help="folder holding cifar10-jpeg.tar.gz (default: .data)")
    p.add_argument("--cache", default=None, help="decoded-image cache (default: results/tmp/cache of --work)")
    p.add_argument("--dataset", default=None, choices=("cifar10", "random-cifar"),
                   help="default: cifar10 (SMOKE: random-cifar)")
    p.add_argument("--compile", default=os.environ.get("COMPILE"),
                   help="torch.compile mode of the runs and of the check's epoch (default: reduce-overhead, i.e. "
                        "CUDA graphs, on the GPU; none in SMOKE; $COMPILE)")
    p.add_argument("--no-eval-train", dest="eval_train", action="store_false",
                   help="leave out the per-epoch training-error curve (2,000 images per epoch)")
    p.add_argument("--max-runs", type=int, default=4, help="most runs at once (default 4)")
    args = p.parse_args(argv)
    from mixup_repro.train import COMPILE_MODES

    args.compile = args.compile or ("none" if args.smoke else "reduce-overhead")
    if args.compile not in COMPILE_MODES:
        p.error(f"--compile must be one of {', '.join(COMPILE_MODES)}, got {args.compile!r}")
    if args.out is None:
        p.error("--out (or $OUT) is required: the folder the device tool brings back")
    if args.max_runs < 1:
        p.error(f"--max-runs must be >= 1, got {args.max_runs}")
    if args.budget is None:
        env = os.environ.get("BUDGET_S")
        try:
            args.budget = float(env) if env else BUDGETS[args.command]
        except ValueError:
            p.error(f"$BUDGET_S must be a number of seconds, got {env!r}")
    if not args.budget > 0:
        p.error(f"--budget must be > 0 seconds, got {args.budget}")
    sizes = SMOKE if args.smoke else GPU
    args.device = "cpu" if args.smoke else "cuda"
    args.dataset = args.dataset or ("random-cifar" if args.smoke else "cifar10")
    args.work = Path(args.work) if args.work else (Path(args.out) / "work" if args.smoke else ROOT)
    args.cache = Path(args.cache) if args.cache else args.work / "results" / "tmp" / "cache"
    if args.data_dir is None and not args.smoke:
        args.data_dir = ROOT / ".data"
    if args.dataset == "cifar10":
        from mixup_repro.cifar_jpeg import find_cifar10_jpeg

        if args.data_dir is None or find_cifar10_jpeg([Path(args.data_dir)]) is None:
            p.error(f"--data-dir {args.data_dir}: no cifar10-jpeg.tar.gz (or its folder) there; copy the archive "
                    "into .data/ and carry .data (benchmarks/README.md)")
    os.environ["MIXUP_REPRO_CACHE"] = str(args.cache)  # this process's loads too
    if args.data_dir:
        os.environ["MIXUP_REPRO_DATA"] = str(args.data_dir)
    s = Session(args.command, args, sizes)
    s.say(f"{args.command}: budget {args.budget:.0f} s, {'SMOKE (CPU, toy sizes)' if args.smoke else 'GPU'}, "
          f"dataset {args.dataset}, compile {args.compile}, eval_train {args.eval_train}, work {args.work}")
    try:
        return check(s) if args.command == "check" else main_cmd(s)
    except Exception as e:  # noqa: BLE001 - a bug of the driver itself: logged and packed, never lost
        s.say(f"{args.command} FAILED: {type(e).__name__}: {e}")
        with open(s.log_path, "a") as f:
            f.write(traceback.format_exc())
        s.summary.update(ok=False, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc()[-6000:])
        s.pack()
        return 1


if __name__ == "__main__":
    sys.exit(main())
