"""The sweep runner: computes the missing runs of declared tables, in this process or as subprocesses.

A sweep is a list of :class:`Job` s (one per distinct missing config). With one worker each job runs with
:func:`~mixup_repro.train.fit` in this process; with more, each is a ``python -m mixup_repro train ... --quiet``
child. The parent never reads what a child prints to decide anything: a run's outcome is the results file the
child wrote (read back with :func:`~mixup_repro.results.read_result`) and its exit code (:func:`job_outcome`);
a child that exits with a runtime error (code 1) and leaves no results file is retried once. The child's last
output line is only quoted in a failure's message.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from ._checks import check_choice
from .checkpoint import StopSignal
from .plan import (
    check_scale,
    check_seeds,
    get_table,
    plan_table,
    resolve_dataset,
    run_status,
    table_configs,
    unique_configs,
)
from .results import ResultsError, check_writable, read_result
from .summary import summarize, write_summary
from .tables import TABLES
from .train import COMPILE_MODES, TrainConfig, result_path, run_id

__all__ = ["Job", "SweepInterrupted", "SweepFailed", "config_argv", "train_command", "visible_gpus", "child_env",
           "job_outcome", "RETRY_EXIT_CODES", "table_specs", "check_run_args", "run_specs", "run_table",
           "run_tables", "print_commands", "followup_configs"]

_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)}

RETRY_EXIT_CODES = (1,)
"""Exit codes of a ``train`` child that are retried once when it left no results file: 1 is a runtime error
(``OSError`` and the like, e.g. a transient failure of the folder's write probe); 2 (bad arguments) and a signal
are not retried."""


def _flag(name: str) -> str:
    """The ``train`` option of field ``name``."""
    return "--" + name.replace("_", "-")


def config_argv(cfg: TrainConfig) -> list[str]:
    """``train`` options for every field of ``cfg`` that differs from the TrainConfig default."""
    argv = []
    for f in dataclasses.fields(TrainConfig):
        v, default = getattr(cfg, f.name), _DEFAULTS[f.name]
        if v == default and type(v) is type(default):
            continue
        if v is None:  # only possible for a field whose default is not None; no such field today
            raise ValueError(f"cannot express {f.name}=None on the command line")
        if isinstance(v, bool):
            argv.append(_flag(f.name) if v else "--no-" + f.name.replace("_", "-"))
        elif isinstance(v, tuple):
            argv += [_flag(f.name), *(repr(x) if isinstance(x, float) else str(x) for x in v)]
        elif isinstance(v, float):
            argv += [_flag(f.name), repr(v)]
        else:
            argv += [_flag(f.name), str(v)]
    return argv


def train_command(cfg: TrainConfig, out, *, python: str = "python", force: bool = False) -> list[str]:
    """The ``python -m mixup_repro train ...`` argv that computes ``cfg`` into ``out``."""
    cmd = [python, "-m", "mixup_repro", "train", *config_argv(cfg), "--out", str(out), "--quiet"]
    return cmd + ["--force"] if force else cmd



@dataclass
class Job:
    """One run of a sweep: its config, its position (1-based, for progress lines), whether it redoes a corrupt
    results file, and how many times it was started."""

    index: int
    cfg: TrainConfig
    force: bool = False
    attempts: int = 0

    @property
    def run_id(self) -> str:
        """The run id of the job's config."""
        return run_id(self.cfg)


@dataclass
class _Child:
    """A running ``train`` subprocess of a job: the process, its output log (a temporary file) and its start."""

    job: Job
    proc: object
    log: object
    started: float


class SweepInterrupted(Exception):
    """A sweep stopped by SIGTERM / SIGINT after its running runs checkpointed."""

    def __init__(self, signame: str, stopped: int, done: int, remaining: int):
        self.signame, self.stopped, self.done, self.remaining = signame, stopped, done, remaining
        super().__init__(f"interrupted by {signame}: {done} run(s) finished, {stopped} running run(s) stopped "
                         f"and checkpointed, {remaining} not finished; run the same command again to resume")





class SweepFailed(RuntimeError):
    """Some runs of a sweep failed; the others finished and the summaries (``.summaries``) were written."""

    def __init__(self, failures, summaries):
        self.failures, self.summaries = failures, summaries
        super().__init__(f"{len(failures)} run(s) failed (the summary shows the others); first: "
                         f"{failures[0][0]}: {failures[0][1]}")


def visible_gpus() -> list[str]:
    """The GPUs a child may use: ``CUDA_VISIBLE_DEVICES`` when set, else every device torch sees."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # pragma: no cover - no usable CUDA
        return []


def child_env(slot: int, workers: int, gpus: list[str]) -> dict:
    """The environment of the child in ``slot``: ``cores // workers`` threads, and one GPU of ``gpus`` when
    there are several."""
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    env["OMP_NUM_THREADS"] = threads
    env["MKL_NUM_THREADS"] = threads
    if len(gpus) > 1:
        env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _die_with_parent():  # pragma: no cover - runs in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _say(quiet: bool, msg: str) -> None:
    """Print ``msg`` unless ``quiet``."""
    if not quiet:
        print(msg, flush=True)


def _last_line(text: str) -> str:
    """The last non-empty line of ``text`` (quoted in failure messages only)."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "(no output)"



def job_outcome(job: Job, out, returncode: int) -> tuple[str, dict | None]:
    """What became of a finished child: ``("done", record)`` when its results file reads (whatever it printed),
    ``("retry", None)`` for a runtime error without results on its first attempt, ``("failed", None)`` else."""
    path = result_path(job.cfg, out)
    if path.exists():
        try:
            return "done", read_result(path)  # only this job's child writes it: the jobs are the missing runs
        except ResultsError:
            pass
    if returncode in RETRY_EXIT_CODES and job.attempts < 2:
        return "retry", None
    return "failed", None


def _progress(job: Job, n: int, rec: dict, seconds: float) -> str:
    """A finished run's progress line, from its results record."""
    return f"[{job.index}/{n}] {job.run_id}: final error {rec['summary']['final_error']:.2f}% ({seconds:.0f} s)"


def _run_inprocess(jobs: list[Job], out, quiet: bool, failures: list) -> None:
    """workers == 1: run each config with :func:`fit` in this process (no interpreter start-up per run)."""
    from .checkpoint import CheckpointError, Interrupted
    from .train import fit

    done = 0
    with StopSignal() as sig:
        for i, job in enumerate(jobs):
            if sig.received:
                raise SweepInterrupted(sig.received, 0, done, len(jobs) - i)
            t0 = time.perf_counter()
            try:
                res = fit(job.cfg, out, force=job.force, quiet=quiet, keep_model=False)
            except Interrupted as e:
                raise SweepInterrupted(e.signame, 1, done, len(jobs) - i) from None
            except (CheckpointError, OSError, ValueError, TypeError, RuntimeError) as e:
                failures.append((job.run_id, f"{type(e).__name__}: {' '.join(str(e).split())}"))
                _say(quiet, f"[{job.index}/{len(jobs)}] FAILED {job.run_id}: {failures[-1][1]}")
                continue
            done += 1
            _say(quiet, _progress(job, len(jobs), {"summary": res.summary}, time.perf_counter() - t0))
            if sig.received:
                raise SweepInterrupted(sig.received, 0, done, len(jobs) - i - 1)


def _start(job: Job, slot: int, out, workers: int, gpus: list[str]) -> _Child:
    """Start the ``train`` child of ``job`` in ``slot`` (its output to a temporary file, its own session)."""
    import subprocess

    log = tempfile.TemporaryFile(mode="w+")
    cmd = train_command(job.cfg, out, python=sys.executable, force=job.force)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=child_env(slot, workers, gpus), start_new_session=True,
                            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    job.attempts += 1
    return _Child(job, proc, log, time.perf_counter())


def _log_tail(child: _Child) -> str:
    """The child's last output line (quoted in a failure message only) and the log closed."""
    child.log.seek(0)
    text = child.log.read()
    child.log.close()
    return _last_line(text)


class _Pool:
    """``workers`` slots of ``train`` children over a queue of jobs; counts what finished."""

    def __init__(self, jobs: list[Job], out, workers: int, quiet: bool, failures: list):
        self.pending, self.out, self.workers, self.quiet, self.failures = list(jobs), out, workers, quiet, failures
        self.n, self.running, self.done, self.gpus = len(jobs), {}, 0, visible_gpus()

    def fill(self, stopping: bool) -> None:
        """Start a job in every free slot."""
        for slot in range(self.workers):
            if slot not in self.running and self.pending and not stopping:
                self.running[slot] = _start(self.pending.pop(0), slot, self.out, self.workers, self.gpus)

    def reap(self, stopping: bool) -> None:
        """Collect every child that exited and decide, from its results file and exit code, what follows."""
        for slot in list(self.running):
            child = self.running[slot]
            rc = child.proc.poll()
            if rc is None:
                continue
            del self.running[slot]
            tail = _log_tail(child)
            state, rec = job_outcome(child.job, self.out, rc)
            if state == "done":
                self.done += 1
                _say(self.quiet, _progress(child.job, self.n, rec, time.perf_counter() - child.started))
            elif (stopping and rc < 0) or state == "retry":
                self.pending.insert(0, child.job)
            else:
                self.failures.append((child.job.run_id, tail))
                _say(self.quiet, f"[{child.job.index}/{self.n}] FAILED {child.job.run_id} (exit {rc}): {tail}")

    def stop(self, signame: str) -> SweepInterrupted:
        """Forward SIGTERM to the running children, wait for them to checkpoint, and describe the stop."""
        stopped = 0
        for child in self.running.values():
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
                stopped += 1
        unfinished = 0
        for child in self.running.values():
            rc = child.proc.wait()
            child.log.close()
            if job_outcome(child.job, self.out, rc)[0] == "done":
                self.done += 1
                stopped -= 1
            else:
                unfinished += 1
        self.running.clear()
        return SweepInterrupted(signame, max(0, stopped), self.done, len(self.pending) + unfinished)

    def kill_all(self) -> None:
        """Kill every child still running (a second signal, or an error in the parent)."""
        for child in self.running.values():
            if child.proc.poll() is None:
                child.proc.kill()

    def close(self) -> None:
        """Kill and wait for the children left, closing their logs."""
        self.kill_all()
        for child in self.running.values():
            child.proc.wait()
            child.log.close()


def _run_subprocesses(jobs: list[Job], out, workers: int, quiet: bool, failures: list) -> None:
    """``workers`` runs at once as ``python -m mixup_repro train`` subprocesses; SIGTERM/SIGINT forwarded."""
    pool = _Pool(jobs, out, workers, quiet, failures)
    with StopSignal(on_second=pool.kill_all) as sig:
        try:
            while (pool.pending or pool.running) and not sig.received:
                pool.fill(bool(sig.received))
                time.sleep(0.05)
                pool.reap(bool(sig.received))
            if sig.received:
                raise pool.stop(sig.received)
        finally:
            pool.close()


def _jobs(cfgs: list[TrainConfig], out) -> list[Job]:
    """A job per distinct config whose results file is missing or corrupt, seed 0 of every row first."""
    jobs = []
    for c in sorted(unique_configs(cfgs), key=lambda c: c.seed):  # partial sweeps stay usable
        st = run_status(c, out)
        if st == "corrupt":
            warnings.warn(f"{result_path(c, out)} does not read as a results file; redoing the run", UserWarning,
                          stacklevel=4)
        if st != "done":
            jobs.append(Job(len(jobs) + 1, c, force=st == "corrupt"))
    return jobs


def _run_configs(cfgs: list[TrainConfig], out, *, workers: int, quiet: bool) -> list[tuple[str, str]]:
    """Run the distinct configs whose results are missing; return the failures ``[(run_id, message)]``."""
    n_all = len(unique_configs(cfgs))
    jobs = _jobs(cfgs, out)
    if not jobs:
        _say(quiet, f"all {n_all} run(s) already done in {out}")
        return []
    check_writable(out)
    failures: list[tuple[str, str]] = []
    _say(quiet, f"{len(jobs)} run(s) to do in {out} ({n_all - len(jobs)} already done), "
                f"{min(workers, len(jobs))} at once")
    if workers == 1:
        _run_inprocess(jobs, out, quiet, failures)
    else:
        _run_subprocesses(jobs, out, workers, quiet, failures)
    return failures


def table_specs(names: Sequence[str], dataset, rows) -> list[tuple[str, str | None, list | None]]:
    """``(table, dataset, rows)`` per table, all arguments checked; raises ValueError naming the problem.

    With several tables, ``dataset`` applies to the image tables only and each ``rows`` token to the tables
    that have such a row (a token no table has is an error; tables with none of the tokens are dropped).
    """
    names = list(names)
    if not names:
        raise ValueError("no table given")
    for n in names:
        get_table(n)
    if isinstance(rows, str):
        rows = [rows]
    if len(names) == 1:
        n = names[0]
        resolve_dataset(TABLES[n], dataset)
        TABLES[n].select(rows)
        return [(n, dataset, None if rows is None else list(rows))]
    if rows is not None:
        for t in rows:
            if not any(_matches_any(TABLES[n], t) for n in names):
                raise ValueError(f"unknown row {t!r}: no table among {', '.join(names)} has it")
    specs = []
    for n in names:
        table = TABLES[n]
        ds = dataset if table.kind == "image" else None
        resolve_dataset(table, ds)
        r = None if rows is None else [t for t in rows if _matches_any(table, t)]
        if r != []:
            specs.append((n, ds, r))
    return specs


def _matches_any(table, token: str) -> bool:
    """Whether ``token`` selects a row of ``table``."""
    try:
        table.select([token])
        return True
    except ValueError:
        return False


def _check_workers(workers) -> int:
    """``workers`` when it is an integer >= 1; ``ValueError`` naming ``--workers``."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"--workers must be an integer >= 1, got {workers!r}")
    return workers


def followup_configs(specs, scale: str, out, seeds=None) -> list[TrainConfig]:
    """Missing runs that the finished results call for: for the speech table run whole (no ``--rows``), the chosen
    rows' remaining seeds (:func:`~mixup_repro.speech_report.speech_confirm_configs`)."""
    cfgs = []
    for n, _, rows in specs:
        if get_table(n).kind == "speech" and rows is None:
            from .speech_report import speech_confirm_configs

            cfgs += speech_confirm_configs(scale, out, seeds=seeds)
    return unique_configs(cfgs)


def check_run_args(specs, scale, seeds, workers) -> None:
    """Check the scale, the workers and every table's plan before anything runs or is written."""
    check_scale(scale)
    _check_workers(workers)
    for n, ds, r in specs:
        plan_table(n, scale, ds, seeds, r)


def run_specs(specs, scale, *, out, seeds, workers, quiet, compile: str = "none") -> dict:
    """Run the missing runs of ``specs`` (from :func:`table_specs`) in one pool, then write every summary."""
    cfgs = []
    for n, ds, r in specs:
        cfgs += [c for _, c in table_configs(n, scale, ds, seeds, r)]
    def compiled(cs):  # how the runs execute, not what they compute: run ids are unchanged
        return cs if compile == "none" else [dataclasses.replace(c, compile=compile) for c in cs]

    failures = _run_configs(compiled(cfgs), out, workers=workers, quiet=quiet)
    extra = followup_configs(specs, scale, out, seeds)  # they depend on the runs just finished
    if extra:
        failures += _run_configs(compiled(extra), out, workers=workers, quiet=quiet)
    summaries = {}
    for n, ds, r in specs:
        df = summarize(n, scale, out, dataset=ds, seeds=seeds, rows=r)
        # the file is the whole declared table (every row, the scale's seeds): a sweep of some rows or seeds must
        # not drop the others' finished runs from it
        write_summary(df if r is None and seeds is None else summarize(n, scale, out, dataset=ds), out, n)
        summaries[n] = df
    if failures:
        raise SweepFailed(failures, summaries)
    return summaries


def run_table(name: str, scale: str, *, out, dataset: str | None = None, seeds: Sequence[int] | None = None,
              rows: Sequence[str] | None = None, workers: int = 1, quiet: bool = False, compile: str = "none"):
    """Compute the missing runs of a table into ``out``, then write and return its summary.

    Runs whose results file exists are skipped, so a sweep stopped at any moment finishes, when started
    again, without redoing or duplicating runs. ``workers == 1`` runs in this process; ``workers > 1``
    runs that many ``python -m mixup_repro train ... --quiet`` subprocesses at once, each with
    ``OMP_NUM_THREADS = MKL_NUM_THREADS = max(1, cores // workers)`` and, with several GPUs visible,
    ``CUDA_VISIBLE_DEVICES`` = its slot mod the number of GPUs (one GPU: they share it). SIGTERM / SIGINT
    is forwarded (as SIGTERM) to the running runs, which checkpoint; then :class:`SweepInterrupted` is
    raised. Failed runs raise :class:`SweepFailed` after the summary is written. ``compile`` is passed to
    every run (:attr:`TrainConfig.compile <mixup_repro.train.TrainConfig>`; run ids do not depend on it).

    Returns the summary DataFrame of the selected ``rows`` and ``seeds`` (see :func:`summarize`);
    ``<out>/tables/<name>.csv`` and ``.md`` get the summary of the whole declared table (every row, the scale's
    seeds), so that a sweep of some rows or seeds leaves the others' finished runs in the table file.
    """
    return run_tables([name], scale, out=out, dataset=dataset, seeds=seeds, rows=rows, workers=workers,
                      quiet=quiet, compile=compile)[name]


def run_tables(names: Sequence[str], scale: str, *, out, dataset=None, seeds=None, rows=None, workers: int = 1,
               quiet: bool = False, compile: str = "none") -> dict:
    """:func:`run_table` for several tables at once (their distinct runs go into one pool); name -> summary."""
    specs = table_specs(names, dataset, rows)
    seeds = check_seeds(seeds)
    check_run_args(specs, scale, seeds, workers)
    check_choice("compile", compile, COMPILE_MODES)
    return run_specs(specs, scale, out=out, seeds=seeds, workers=workers, quiet=quiet, compile=compile)


def print_commands(specs, scale: str, out, *, seeds=None, compile: str = "none") -> list[str]:
    """One ``python -m mixup_repro train ...`` line per distinct missing run (every non-default field)."""
    import shlex

    seen, lines = set(), []
    for name, ds, rows in specs:
        for _, cfg in table_configs(name, scale, ds, seeds, rows):
            rid, st = run_id(cfg), run_status(cfg, out)
            if rid in seen or st == "done":
                continue
            seen.add(rid)
            cfg = dataclasses.replace(cfg, compile=compile) if compile != "none" else cfg
            lines.append(shlex.join(train_command(cfg, out, force=st == "corrupt")))
    return lines
