"""Files written whole or not at all: atomic writes (temp file, fsync, rename) and a writable-folder probe.

The one implementation of an atomic write in the library: results files, checkpoints, caches, data and the
book's generated files all go through :func:`atomic_write_bytes` (:func:`atomic_write_json` for JSON). It
imports nothing from the package, so every module can use it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_json", "check_writable", "current_umask", "file_size_limit", "finite",
           "first_missing", "format_bytes", "remove_empty"]


def current_umask() -> int:
    """This process's file-mode creation mask, read without changing it where Linux reports it (else set back at
    once): the permissions an atomically written file gets are those of a plain ``open``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FULL_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def format_bytes(n: float) -> str:
    """``n`` bytes in readable units (``"90.2 MB"``)."""
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def file_size_limit() -> int | None:
    """The soft ``RLIMIT_FSIZE`` of this process (``ulimit -f``) in bytes, or None when unlimited."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _space_note(folder) -> str:
    notes = []
    try:
        notes.append(f"{format_bytes(shutil.disk_usage(folder).free)} free in {folder}")
    except OSError:
        pass
    limit = file_size_limit()
    if limit is not None:
        notes.append(f"file-size limit (ulimit -f) {format_bytes(limit)}")
    return f" ({'; '.join(notes)})" if notes else ""


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, flush + fsync, rename.

    A crash at any moment leaves either the old file or the new one, never a half-written file. A full disk
    (``ENOSPC``, ``EDQUOT``) or a file-size limit (``EFBIG``) raises ``OSError`` naming ``path``, the size and
    the free space.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if e.errno in _FULL_ERRNOS:  # the bare message ("No space left on device") names no file
            raise OSError(e.errno, f"cannot write {path} ({format_bytes(len(data))}): {e.strerror}"
                                   f"{_space_note(path.parent)}") from None
        raise
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path


def atomic_write_json(path, obj) -> Path:
    """Serialize ``obj`` (strict JSON: NaN/inf become null) and write it atomically."""
    return atomic_write_bytes(path, (json.dumps(finite(obj), indent=1, allow_nan=False) + "\n").encode())


def finite(obj):
    """``obj`` with every NaN / infinite float (in nested dicts, lists and tuples) replaced by None: strict JSON."""
    if isinstance(obj, float):
        return obj if obj == obj and abs(obj) != float("inf") else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def check_writable(folder) -> Path:
    """Create ``folder`` if needed and prove it is writable (and not full) by writing a small probe.

    Raises ``OSError`` naming the folder, so a run fails before training, not after.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-probe-") as f:  # unique: runs may start together
            f.write(b"x" * 65536)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise OSError(f"--out folder {folder} is not writable: {e.strerror or e}") from None
    return folder


def first_missing(folder) -> Path | None:
    """The outermost folder of ``folder`` (itself or a parent) that does not exist yet, or None."""
    folder, missing = Path(folder).absolute(), None
    while not folder.exists() and folder != folder.parent:
        folder, missing = folder.parent, folder
    return missing


def remove_empty(folder: Path, top: Path) -> None:
    """Remove ``folder`` and its parents up to ``top`` (folders this run created) while they are empty;
    an empty ``checkpoints`` sub-folder goes too. Anything holding a file stays."""
    folder = folder.absolute()
    with contextlib.suppress(OSError):
        (folder / "checkpoints").rmdir()
    while True:
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == top or folder == folder.parent:
            return
        folder = folder.parent
