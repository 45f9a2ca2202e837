"""Checkpoints that cannot run code, written atomically, and a graceful stop on SIGTERM / SIGINT.

A checkpoint is a plain dictionary of tensors, numbers, strings, lists and dicts, saved with
``torch.save`` and loaded with ``torch.load(..., weights_only=True)``: loading one from someone else
never unpickles arbitrary objects, so it cannot execute code. Anything else is refused with a
:class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import io
import pickle
import signal
import threading
from pathlib import Path

import torch

from .results import atomic_write_bytes

__all__ = ["CheckpointError", "Interrupted", "save_checkpoint", "load_checkpoint", "StopSignal"]

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
