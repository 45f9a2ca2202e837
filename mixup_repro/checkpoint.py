"""Checkpoints that cannot run code, written atomically, and a graceful stop on SIGTERM / SIGINT.

A checkpoint is a plain dictionary of tensors, numbers, strings, lists and dicts, saved with
``torch.save`` and loaded with ``torch.load(..., weights_only=True)``: loading one from someone else
never unpickles arbitrary objects, so it cannot execute code. Anything else is refused with a
:class:`CheckpointError` naming the file. A training checkpoint (:data:`CHECKPOINT_KEYS`) resumes only the run
it was written for, on the same kind of device, precision and process count, with a model and optimizer of
the same shapes (:func:`check_checkpoint_origin`, :func:`check_checkpoint_matches`).
"""

from __future__ import annotations

import io
import pickle
import signal
import threading
from pathlib import Path

import torch

from .config import RUNTIME_FIELDS, default_values
from .files import atomic_write_bytes

__all__ = ["CHECKPOINT_KEYS", "CheckpointError", "Interrupted", "StopSignal", "check_checkpoint_matches",
           "check_checkpoint_origin", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FORMAT = "mixup_repro.checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint file that is unreadable, unsafe or not one of ours."""


class Interrupted(Exception):
    """Training stopped by SIGTERM / SIGINT after writing a checkpoint."""

    def __init__(self, signame: str, checkpoint: Path | None, epoch: int, step: int):
        self.signame, self.checkpoint, self.epoch, self.step = signame, checkpoint, epoch, step
        where = f"checkpoint {checkpoint}" if checkpoint else "no checkpoint (no --out)"
        super().__init__(f"interrupted by {signame} at epoch {epoch + 1}, step {step}; wrote {where}; "
                         "run the same command again to resume")


def save_checkpoint(path, state: dict) -> Path:
    """Save ``state`` (tensors and plain Python values only) atomically to ``path``."""
    buf = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, **state}, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``; refuse anything else with an error naming the file."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, AttributeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise CheckpointError(f"refusing checkpoint {path}: it cannot be loaded safely with weights_only=True "
                              f"({first})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"refusing checkpoint {path}: not a mixup_repro checkpoint "
                              f"(format {state.get('format') if isinstance(state, dict) else type(state).__name__!r})")
    return state


class StopSignal:
    """Context manager that turns SIGTERM / SIGINT into a flag the training loop polls between steps.

    Only installs handlers in the main thread (elsewhere it is inert). A second signal while the flag is
    set restores the default behaviour, so a stuck process can still be killed.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, on_second=None):
        self.received: str | None = None
        self._old = {}
        self._on_second = on_second  # called before giving up on a second signal (e.g. kill child processes)

    def _handler(self, signum, frame):
        if self.received is not None:  # second signal: give up gracefully stopping
            if self._on_second is not None:
                self._on_second()
            signal.signal(signum, self._old.get(signum, signal.SIG_DFL))
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old.clear()
        return False


CHECKPOINT_KEYS = ("epoch", "step", "model", "optimizer", "scheduler", "generators", "order", "loss_sum", "curves",
                   "wall_s", "started", "git_commits", "world_size", "train_times", "eval_times", "epoch_ends")
"""What a training checkpoint holds besides its run id, config, device type and precision."""


def check_checkpoint_origin(ckpt_path, st: dict, rid: str, here: tuple) -> None:
    """Refuse a checkpoint of another run, or written on another kind of device, in another precision or by
    another number of processes than ``here = (device type, precision, world size)``."""
    if st.get("run_id") != rid:
        raise CheckpointError(f"refusing checkpoint {ckpt_path}: it belongs to run {st.get('run_id')!r}")
    there = (st.get("device_type"), st.get("precision"), st.get("world_size", 1))
    if there != here:
        raise CheckpointError(f"refusing checkpoint {ckpt_path}: it was written on {there[0]} in {there[1]} by "
                              f"{there[2]} process(es), this run is on {here[0]} in {here[1]} with {here[2]}; "
                              "resume on the same kind of device and process count (or use --no-resume)")


def check_checkpoint_matches(ckpt_path, st: dict, cfg, model: torch.nn.Module, opt, gen_names) -> None:
    """Refuse (:class:`CheckpointError`, suggesting ``--no-resume``) a checkpoint written for another config (its
    stored config, not only its run id, must match) or whose content does not fit this run's model and
    optimizer (e.g. the code of the architecture changed since it was written)."""
    def refuse(why):
        raise CheckpointError(f"refusing checkpoint {ckpt_path}: {why}; use --no-resume (resume=False) to start "
                              "this run over") from None

    missing = [k for k in CHECKPOINT_KEYS if k not in st]
    if missing:
        refuse(f"it lacks {', '.join(missing)}")
    stored = st.get("config")
    if isinstance(stored, dict):  # fields added since (absent there) count as their defaults
        base = default_values()
        differ = []
        for name, value in cfg.to_dict().items():
            if name in RUNTIME_FIELDS:
                continue
            there = stored.get(name, base[name])
            if there != value:
                differ.append(f"{name} {there!r} there, {value!r} here")
        if differ:
            refuse(f"it was written for another config ({'; '.join(differ)}), although its run id matches")
    theirs, ours = st["model"], model.state_dict()
    if not isinstance(theirs, dict):
        refuse("its model weights are not a state dict")
    absent, extra = sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))
    shapes = [f"{k} {tuple(theirs[k].shape)} there, {tuple(v.shape)} here" for k, v in ours.items()
              if k in theirs and isinstance(theirs[k], torch.Tensor) and theirs[k].shape != v.shape]
    if absent or extra or shapes:
        parts = ([f"missing weights {', '.join(absent[:3])}" + (" ..." if len(absent) > 3 else "")] if absent else []) \
            + ([f"unexpected weights {', '.join(extra[:3])}" + (" ..." if len(extra) > 3 else "")] if extra else []) \
            + ([f"other shapes: {'; '.join(shapes[:3])}" + (" ..." if len(shapes) > 3 else "")] if shapes else [])
        refuse(f"its model does not match this run's {cfg.model} ({'; '.join(parts)}): the model's code or "
               "options changed since it was written")
    saved_opt = st["optimizer"]
    params = [p for g in opt.param_groups for p in g["params"]]
    try:
        groups = saved_opt["param_groups"]
        ids = [i for g in groups for i in g["params"]]
        if [len(g["params"]) for g in groups] != [len(g["params"]) for g in opt.param_groups]:
            refuse(f"its optimizer state holds {len(ids)} parameters in {len(groups)} group(s), this run's "
                   f"{cfg.optimizer} has {len(params)} in {len(opt.param_groups)}")
        for i, p in zip(ids, params):
            for name, t in saved_opt["state"].get(i, {}).items():
                if isinstance(t, torch.Tensor) and t.dim() > 0 and t.shape != p.shape:
                    refuse(f"its optimizer state {name} of parameter {i} has shape {tuple(t.shape)}, the parameter "
                           f"{tuple(p.shape)}")
    except (KeyError, TypeError, AttributeError) as e:
        refuse(f"its optimizer state is not one of a torch optimizer ({type(e).__name__}: {e})")
    saved = st["generators"]
    if not isinstance(saved, list):
        refuse("its random-generator states are not one per process")
    for g in saved:
        if not isinstance(g, dict) or not {*gen_names, "_torch"} <= set(g):
            refuse(f"its random-generator states lack some of {', '.join(gen_names)}")
