"""Speech Commands v0.02 (its official test set) as log-mel spectrograms, split by speaker.

The paper's speech experiment (Section 3.4) used Google's Speech Commands (30 classes, 65,000 utterances).
Offline we have its official **test set** only (``speech-commands-test-v0.02.tar.gz``: 4,890 one-second
16 kHz clips, 12 classes — ten words plus ``_silence_`` and ``_unknown_`` — and 672 speakers), so this is a
12-class miniature. It is read from the data folder (``--data-dir`` / ``$MIXUP_REPRO_DATA``) as the archive
or as the extracted ``speech-commands-test-v0.02/`` folder, without extracting the archive.

Features: every clip must be 16 kHz mono 16-bit PCM of exactly 16,000 samples (anything else is an error
naming the file); log-mel spectrograms from librosa's mel filter bank (:data:`MEL`: 40 mel bands, 30 ms
windows, 10 ms hop → 40 × 101), ``log(mel power + 1e-6)``, standardised per mel band with the **training
speakers'** statistics. Decoded features are cached once (:mod:`mixup_repro.cache`), keyed by the archive's
SHA-256 and the feature settings.

Split: deterministic and **speaker-disjoint**, by a SHA-1 hash of the speaker id (as the dataset's own
``which_set`` rule): a speaker is in ``train`` when its hash mod 100 < 70, ``validation`` when < 85,
else ``test``. Speakers are the file-name prefix (``<speaker>_nohash_<n>.wav``; for ``_unknown_`` files
``<word>_<speaker>_nohash_<n>.wav``); each ``_silence_`` clip (background noise, no speaker) is its own group.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import wave
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from ._checks import check_choice
from .cache import cache_dir, decode_once, source_key
from .dataset import DATA_ENV, Dataset, DatasetEntry, data_folders

__all__ = ["MEL", "SPEECH_ARCHIVE", "SPEECH_CLASSES", "SPEECH_ENTRIES", "SPEECH_FOLDER", "SPEECH_LABEL",
           "find_speech_commands", "load_speech_commands", "read_speech_commands", "speaker_of", "speaker_split"]

SPEECH_ARCHIVE = "speech-commands-test-v0.02.tar.gz"
SPEECH_FOLDER = "speech-commands-test-v0.02"
SPEECH_LABEL = "Speech Commands v0.02 (test-set miniature)"
SPEECH_CLASSES = ("_silence_", "_unknown_", "down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes")
"""The 12 classes, in label order (sorted folder names)."""
SAMPLE_RATE = 16000
MEL = {"n_mels": 40, "n_fft": 480, "hop_length": 160, "fmin": 20.0, "fmax": 8000.0}
"""Log-mel settings: 40 bands, 30 ms windows, 10 ms hop (101 frames per 1 s clip)."""
SPLIT_PERCENT = {"train": 70, "validation": 85}  # cumulative upper bounds of the hash buckets


def speaker_of(cls: str, filename: str) -> str:
    """The speaker id of a clip (``_silence_`` clips: a group of their own)."""
    stem = filename.split(".")[0]
    if cls == "_silence_":
        return f"silence-{stem}"
    head = filename.split("_nohash_")[0]
    return head.split("_")[-1] if cls == "_unknown_" else head


def speaker_split(speaker: str) -> str:
    """``train``, ``validation`` or ``test`` for a speaker, from the SHA-1 of its id (deterministic)."""
    bucket = int(hashlib.sha1(speaker.encode()).hexdigest(), 16) % 100
    return "train" if bucket < SPLIT_PERCENT["train"] else "validation" if bucket < SPLIT_PERCENT["validation"] \
        else "test"


def find_speech_commands(bases) -> Path | None:
    """``<base>/speech-commands-test-v0.02/`` or ``<base>/speech-commands-test-v0.02.tar.gz``, first found."""
    for base in bases:
        base = Path(base)
        if (base / SPEECH_FOLDER).is_dir():
            return base / SPEECH_FOLDER
        if (base / SPEECH_ARCHIVE).is_file():
            return base / SPEECH_ARCHIVE
    return None


def _read_wav(data: bytes, where: str) -> np.ndarray:
    """The samples of a 1 s 16 kHz mono 16-bit WAV file as float32 in [-1, 1) (``ValueError`` naming ``where``)."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            rate, ch, width, n = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
            frames = w.readframes(n)
    except (wave.Error, EOFError) as err:
        raise ValueError(f"Speech Commands: {where} is not a readable WAV file ({err})") from err
    if (rate, ch, width) != (SAMPLE_RATE, 1, 2):
        raise ValueError(f"Speech Commands: {where} is {rate} Hz, {ch} channel(s), {8 * width}-bit; expected "
                         f"{SAMPLE_RATE} Hz mono 16-bit PCM")
    if n != SAMPLE_RATE or len(frames) != 2 * SAMPLE_RATE:
        raise ValueError(f"Speech Commands: {where} holds {len(frames) // 2} samples, expected {SAMPLE_RATE} (1 s)")
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0


def _members(source: Path):
    """Yield ``(label, file name, bytes, where)`` for every ``.wav`` of the folder or archive."""
    if source.is_dir():
        for p in sorted(source.glob("*/*.wav")):
            yield p.parent.name, p.name, p.read_bytes(), str(p)
        return
    try:
        with tarfile.open(source, "r:gz") as tar:
            for m in tar:
                parts = PurePosixPath(m.name).parts
                if m.isfile() and m.name.endswith(".wav") and len(parts) >= 2:
                    f = tar.extractfile(m)
                    yield parts[-2], parts[-1], f.read(), f"{source}:{m.name}"
    except (tarfile.TarError, EOFError, OSError) as err:
        raise ValueError(f"Speech Commands archive {source} is truncated or not a .tar.gz archive ({err}); "
                         f"expected {SPEECH_FOLDER}/<label>/*.wav inside") from err


def _log_mel(audio: np.ndarray) -> np.ndarray:
    """The ``log(mel power + 1e-6)`` spectrogram (40 × 101) of one clip, with the settings of :data:`MEL`."""
    import librosa

    mel = librosa.feature.melspectrogram(y=audio, sr=SAMPLE_RATE, power=2.0, **MEL)
    return np.log(mel + 1e-6).astype(np.float32)


def _decode_all(source: Path) -> dict[str, np.ndarray]:
    """Features ``x``, labels ``y`` and speaker ids of every clip at ``source``."""
    feats, labels, speakers = [], [], []
    for cls, name, data, where in _members(source):
        if cls not in SPEECH_CLASSES:
            raise ValueError(f"Speech Commands: {where} is in an unknown label folder {cls!r}; expected one of "
                             f"{', '.join(SPEECH_CLASSES)}")
        feats.append(_log_mel(_read_wav(data, where)))
        labels.append(SPEECH_CLASSES.index(cls))
        speakers.append(speaker_of(cls, name))
    if not feats:
        raise ValueError(f"Speech Commands: no WAV files found in {source}")
    missing = sorted(set(SPEECH_CLASSES) - {SPEECH_CLASSES[i] for i in labels})
    if missing:
        raise ValueError(f"Speech Commands {source}: no clips for label(s) {', '.join(missing)}")
    return {"x": np.stack(feats)[:, None], "y": np.asarray(labels, dtype=np.int64),
            "speaker": np.asarray(speakers)}


def read_speech_commands(source, *, use_cache: bool = True) -> tuple[dict[str, np.ndarray], dict]:
    """Log-mel features ``x`` (N, 1, 40, 101) float32 (not yet standardised), labels ``y`` and speaker ids
    ``speaker`` of every clip at ``source`` (archive or folder), with the source record."""
    source = Path(source).expanduser()
    key, checksum = source_key(source, "*.wav", "Speech Commands copy")
    info = {"name": "speech-commands", "label": SPEECH_LABEL, "kind": "official-test-set",
            "path": str(source.resolve()), **checksum, "features": dict(MEL, log_offset=1e-6)}
    tag = hashlib.sha1(repr(sorted(MEL.items())).encode()).hexdigest()[:8]
    arrays, how = decode_once(cache_dir() / "speech-commands" / f"{key[:16]}-{tag}.npz", lambda: _decode_all(source),
                              {"source": str(source)}, use_cache=use_cache)
    return arrays, {**info, **how}


def load_speech_commands(data_dir=None, *, eval_split: str = "test", layout: str = "cnn") -> Dataset:
    """The speech-commands :class:`~mixup_repro.dataset.Dataset`: log-mel features standardised per mel band with
    the training speakers' statistics, trained on the training speakers and evaluated on ``eval_split``'s
    (``layout="sequence"``: ``(N, time, mel)`` for recurrent nets)."""
    check_choice("eval_split", eval_split, ("test", "validation"))
    check_choice("layout", layout, ("cnn", "sequence"))
    bases = data_folders(data_dir)
    found = find_speech_commands(bases)
    if found is None:
        raise FileNotFoundError(f"speech-commands: neither {SPEECH_ARCHIVE} nor {SPEECH_FOLDER}/ found in "
                                f"{', '.join(str(b) for b in bases)}; put the official test set there "
                                f"(--data-dir or ${DATA_ENV})")
    arrays, source = read_speech_commands(found)
    split = np.array([speaker_split(str(sp)) for sp in arrays["speaker"]])
    tr, ev = split == "train", split == eval_split
    x = torch.from_numpy(arrays["x"])
    mu = x[torch.from_numpy(tr)].mean((0, 1, 3), keepdim=True)  # per mel band, training speakers only
    sd = x[torch.from_numpy(tr)].std((0, 1, 3), keepdim=True).clamp_min(1e-6)
    x = (x - mu) / sd
    y = torch.from_numpy(arrays["y"])
    counts = {k: {"clips": int((split == k).sum()), "speakers": len(set(arrays["speaker"][split == k].tolist()))}
              for k in ("train", "validation", "test")}
    source = dict(source, split={"rule": "sha1(speaker) % 100: <70 train, <85 validation, else test",
                                 "evaluated_on": eval_split, **counts})
    x_train, x_eval = x[torch.from_numpy(tr)], x[torch.from_numpy(ev)]
    kind, in_ch = "spectrogram", 1
    if layout == "sequence":  # (N, time, mel) for recurrent nets
        x_train, x_eval = x_train[:, 0].transpose(1, 2).contiguous(), x_eval[:, 0].transpose(1, 2).contiguous()
        kind, in_ch = "sequence", int(x_train.shape[-1])
    return Dataset(name="speech-commands", kind=kind, x_train=x_train, y_train=y[torch.from_numpy(tr)],
                   x_test=x_eval, y_test=y[torch.from_numpy(ev)], num_classes=len(SPEECH_CLASSES),
                   classes=list(SPEECH_CLASSES), flip=False, in_channels=in_ch, source=source)



SPEECH_ENTRIES: dict[str, DatasetEntry] = {
    "speech-commands": DatasetEntry(
        "audio", lambda name, data_dir, download, **kw: load_speech_commands(data_dir, **kw), ("eval_split", "layout")),
}
"""The speech dataset of :func:`mixup_repro.data.load_dataset`."""
