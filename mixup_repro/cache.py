"""A checksummed cache of decoded arrays, outside the (possibly read-only) data folder.

Local copies of the paper's data (the CIFAR-10 JPEG copy, Speech Commands) are decoded once and kept as
``.npz`` files under :func:`cache_dir` (``$MIXUP_REPRO_CACHE``, else ``~/.cache/mixup_repro``). Each cache
file is keyed by the fingerprint of its source (an archive's SHA-256, or a folder's file list), and stores
the SHA-256 of its own arrays; a cache file whose arrays do not match it is deleted and rebuilt. Writes are
atomic (temp file + rename), so an interrupted decode never leaves a half-written cache behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import zipfile
from pathlib import Path

import numpy as np

from .files import atomic_write_bytes

__all__ = ["CACHE_ENV", "cache_dir", "decode_once", "file_sha256", "folder_fingerprint", "load_cached_arrays",
           "save_cached_arrays", "source_key"]

CACHE_ENV = "MIXUP_REPRO_CACHE"
"""Environment variable that overrides :func:`cache_dir`."""

_SHA_CACHE: dict[tuple, str] = {}


def cache_dir() -> Path:
    """``$MIXUP_REPRO_CACHE`` if set and non-empty, else ``~/.cache/mixup_repro``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mixup_repro"


def file_sha256(path) -> str:
    """SHA-256 of a file (memoised per path, size and modification time)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def folder_fingerprint(folder, pattern: str) -> str:
    """SHA-256 of the sorted relative paths, sizes and modification times of ``folder``'s files matching
    ``pattern`` (a cheap stand-in for hashing every file)."""
    folder = Path(folder)
    h = hashlib.sha256()
    for p in sorted(folder.rglob(pattern)):
        st = p.stat()
        h.update(f"{p.relative_to(folder)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _arrays_sha256(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of ``arrays`` (sorted by name)."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}\0{a.dtype.str}\0{a.shape}\n".encode())
        h.update(a.data)
    return h.hexdigest()


def save_cached_arrays(path, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write ``arrays`` (+ JSON-able ``meta``) to ``path`` atomically, with the arrays' SHA-256 inside."""
    buf = io.BytesIO()
    meta = dict(meta, arrays_sha256=_arrays_sha256(arrays))
    np.savez(buf, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def load_cached_arrays(path) -> tuple[dict[str, np.ndarray], dict] | None:
    """The arrays and meta of a cache file, or ``None`` (after deleting it) when it is unreadable or its
    arrays no longer match their stored checksum."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["__meta__"].tobytes().decode())
            arrays = {k: z[k] for k in z.files if k != "__meta__"}
        if _arrays_sha256(arrays) != meta.get("arrays_sha256"):
            raise ValueError("checksum mismatch")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # JSONDecodeError is a ValueError
        path.unlink(missing_ok=True)
        return None
    return arrays, meta


def source_key(source: Path, pattern: str, what: str) -> tuple[str, dict]:
    """The cache key of a local copy and its checksum record: an archive's SHA-256, or a folder's fingerprint
    (``pattern`` selects its files). ``FileNotFoundError`` names ``what`` and the path when it is neither."""
    if source.is_dir():
        key = folder_fingerprint(source, pattern)
        return key, {"fingerprint": key}
    if source.is_file():
        key = file_sha256(source)
        return key, {"sha256": key}
    raise FileNotFoundError(f"{what} {source} not found")


def decode_once(cache_file: Path, decode, meta: dict, *, use_cache: bool = True) -> tuple[dict, dict]:
    """``decode()``'s arrays, read from ``cache_file`` when a valid copy is there, else decoded and cached.

    Returns the arrays and ``{"decode_s": seconds the decode took (when it was done), "cached": bool}``. An
    unwritable cache only costs the decode next time.
    """
    if use_cache:
        hit = load_cached_arrays(cache_file)
        if hit is not None:
            arrays, stored = hit
            return arrays, {"decode_s": stored.get("decode_s"), "cached": True}
    t0 = time.perf_counter()
    arrays = decode()
    decode_s = round(time.perf_counter() - t0, 2)
    if use_cache:
        try:
            save_cached_arrays(cache_file, arrays, {**meta, "decode_s": decode_s})
        except OSError:
            pass
    return arrays, {"decode_s": decode_s, "cached": False}
