"""The paper's data from local copies: CIFAR-10 (JPEG copy), the six UCI sets, Speech Commands.

Every loader is tested on small files generated here; the tests marked ``real`` also check the real copies
in ``$MIXUP_REPRO_DATA`` (``make test`` sets it to ``../shared/data`` when that folder exists) and skip with a
message naming the missing path otherwise.
"""

from __future__ import annotations

import io
import json
import math
import os
import tarfile
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from mixup_repro import load_dataset
from mixup_repro.cifar_jpeg import CIFAR10_CLASSES, JPEG_LABEL, read_cifar10_jpeg
from mixup_repro.cli import main as cli_main
from mixup_repro.speech import SPEECH_CLASSES, read_speech_commands, speaker_of, speaker_split
from mixup_repro.uci import UCI_DATASETS, UCI_SPECS

REAL = Path(os.environ.get("MIXUP_REPRO_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")


def need_real(*names):
    missing = [REAL / n for n in names if not (REAL / n).exists()]
    if missing:
        pytest.skip(f"real data not found: {', '.join(map(str, missing))} (set MIXUP_REPRO_DATA)")


@pytest.fixture(autouse=True)
def own_cache(request, tmp_path, monkeypatch):
    """A fresh cache per test on generated files; the real copies use the user's cache (decoded once)."""
    if request.node.get_closest_marker("real") is None:
        monkeypatch.setenv("MIXUP_REPRO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# --- CIFAR-10 JPEG copy ----------------------------------------------------------------------------------

def make_jpeg_copy(root: Path, per_class=(3, 2), skip_class=None) -> dict:
    from PIL import Image

    g = np.random.default_rng(0)
    truth = {}
    for split, n in zip(("train", "test"), per_class):
        for c in CIFAR10_CLASSES:
            if c == skip_class:
                continue
            d = root / "cifar10-jpeg" / split / c
            d.mkdir(parents=True)
            for i in range(n):
                ramp = np.add.outer(np.arange(32), np.arange(32))[..., None] * np.array([2, 1, 3])  # smooth
                img = (20 * CIFAR10_CLASSES.index(c) + ramp + g.integers(0, 20)).clip(0, 255).astype(np.uint8)
                Image.fromarray(img).save(d / f"{i:04d}.jpg", quality=95)
                truth[(split, c, i)] = img
    return truth


def tar_folder(src: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(src, arcname=src.name)
    return dest


def test_jpeg_folder_and_archive_decode_alike(tmp_path, own_cache):
    truth = make_jpeg_copy(tmp_path / "f")
    arrays, info = read_cifar10_jpeg(tmp_path / "f" / "cifar10-jpeg", per_class={"train": 3, "test": 2})
    assert arrays["x_train"].shape == (30, 3, 32, 32) and arrays["x_train"].dtype == np.uint8
    assert arrays["y_train"].tolist() == [c for c in range(10) for _ in range(3)]  # CIFAR-10's label order
    got = arrays["x_test"][2 * 4 + 1].transpose(1, 2, 0).astype(int)  # class "deer", image 1
    assert np.abs(got - truth[("test", "deer", 1)].astype(int)).mean() < 4  # lossy, but the same picture
    assert info["label"] == JPEG_LABEL and info["kind"] == "jpeg-copy" and not info["cached"]
    archive = tar_folder(tmp_path / "f" / "cifar10-jpeg", tmp_path / "cifar10-jpeg.tar.gz")
    arr2, info2 = read_cifar10_jpeg(archive, per_class={"train": 3, "test": 2})
    assert all(np.array_equal(arrays[k], arr2[k]) for k in arrays)
    assert len(info2["sha256"]) == 64
    arr3, info3 = read_cifar10_jpeg(archive, per_class={"train": 3, "test": 2})
    assert info3["cached"] and np.array_equal(arr3["x_train"], arrays["x_train"])
    # a damaged cache file is detected by its checksum and rebuilt, not trusted
    (cache_file,) = (own_cache / "cifar10-jpeg").glob(f"{info2['sha256'][:16]}*.npz")
    cache_file.write_bytes(cache_file.read_bytes()[:-100])
    arr4, info4 = read_cifar10_jpeg(archive, per_class={"train": 3, "test": 2})
    assert not info4["cached"] and np.array_equal(arr4["x_train"], arrays["x_train"])


def test_jpeg_copy_bad_input(tmp_path, own_cache):
    make_jpeg_copy(tmp_path / "a", skip_class="cat")
    with pytest.raises(ValueError, match=r"train/cat holds 0 JPEG images, expected 3 \(the class folder is missing"):
        read_cifar10_jpeg(tmp_path / "a" / "cifar10-jpeg", per_class={"train": 3, "test": 2})
    make_jpeg_copy(tmp_path / "b")
    bad = tmp_path / "b" / "cifar10-jpeg" / "train" / "ship" / "0001.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=r"ship/0001\.jpg does not decode"):
        read_cifar10_jpeg(tmp_path / "b" / "cifar10-jpeg", per_class={"train": 3, "test": 2})
    good = tmp_path / "c"
    make_jpeg_copy(good)
    archive = tar_folder(good / "cifar10-jpeg", tmp_path / "whole.tar.gz")
    cut = tmp_path / "cut" / "cifar10-jpeg.tar.gz"
    cut.parent.mkdir()
    for share in (0.1, 0.3, 0.5, 0.7, 0.9, 0.99):  # cut in a header or inside a member's data alike
        cut.write_bytes(archive.read_bytes()[: int(archive.stat().st_size * share)])
        with pytest.raises(ValueError, match=r"cifar10-jpeg\.tar\.gz is truncated"):
            read_cifar10_jpeg(cut, per_class={"train": 3, "test": 2})
    assert not list(own_cache.rglob("*.npz")), "nothing half-cached"
    # the full-size count is checked through load_dataset: the tiny copy is refused, naming what was expected
    with pytest.raises(ValueError, match=r"train/airplane holds 3 JPEG images, expected 5000"):
        load_dataset("cifar10", good, download=False)


def test_cifar_missing_source_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no data found in .*empty.*cifar10-jpeg\.tar\.gz"):
        load_dataset("cifar10", tmp_path / "empty", download=False)
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(NotADirectoryError, match="data_dir .*file.txt is a file"):
        load_dataset("cifar10", f, download=False)


@pytest.mark.real
def test_real_cifar10_jpeg_copy():
    need_real("cifar10-jpeg.tar.gz")
    ds = load_dataset("cifar10", REAL, download=False)
    assert ds.x_train.shape == (50000, 3, 32, 32) and ds.x_test.shape == (10000, 3, 32, 32)
    assert torch.bincount(ds.y_train).tolist() == [5000] * 10 and torch.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.source["label"] == JPEG_LABEL and ds.source["sha256"] == (REAL / "SHA256SUMS").read_text().split(
        "cifar10-jpeg.tar.gz")[0].split()[-1]
    mean = ds.x_train.double().mean((0, 2, 3)) / 255  # the README's training-set channel means
    assert torch.allclose(mean, torch.tensor([0.4913, 0.4821, 0.4465], dtype=torch.float64), atol=5e-4)


# --- UCI --------------------------------------------------------------------------------------------------

def make_uci(folder: Path) -> None:
    """Files with the real sets' shapes and formats (random values)."""
    g = np.random.default_rng(1)
    folder.mkdir(parents=True)

    def csv(name, rows, header=None):
        text = ([header] if header else []) + [",".join(map(str, r)) for r in rows]
        (folder / name).write_text("\n".join(text) + "\n")

    csv("abalone.csv", [[("M", "F", "I")[i % 3]] + list(np.round(g.random(7), 3)) + [1 + i % 29] for i in range(4177)])
    for split in ("train", "valid"):
        (folder / f"arcene_{split}.data").write_text(
            "\n" + "\n".join(" ".join(map(str, r)) + " " for r in g.integers(0, 999, (100, 10000))) + "\n")
        (folder / f"arcene_{split}.labels").write_text("\n".join(["1", "-1"] * 50) + "\n")
    classes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16]
    arr = [[("NaN" if (i + j) % 37 == 0 else round(float(v), 2)) for j, v in enumerate(g.random(279))]
           + [classes[i % 13]] for i in range(452)]
    csv("arrhythmia.data", arr)
    csv("HTRU_2.csv", [list(np.round(g.random(8), 4)) + [int(i % 11 == 0)] for i in range(17898)], header='"a","class"')
    csv("iris.csv", [list(np.round(g.random(4), 1)) + [("Iris-setosa", "Iris-versicolor", "Iris-virginica")[i % 3]]
                     for i in range(150)])
    csv("phishing.csv", [list(g.integers(-1, 2, 30)) + [(-1, 1)[i % 2]] for i in range(11055)])


EXPECTED = {"abalone": (10, 3), "arcene": (10000, 2), "arrhythmia": (279, 13), "htru2": (8, 2),
            "iris-uci": (4, 3), "phishing": (30, 2)}


def check_uci(ds, key):
    features, k = EXPECTED[key]
    rows = UCI_SPECS[key][1] * (2 if key == "arcene" else 1)
    assert ds.num_train + ds.num_test == rows and ds.in_channels == features and ds.num_classes == k
    assert ds.kind == "tabular" and ds.x_train.dtype == torch.float32 and torch.isfinite(ds.x_train).all()
    assert torch.allclose(ds.x_train.mean(0), torch.zeros(features), atol=1e-4)  # standardised on train
    assert torch.isfinite(ds.x_test).all() and ds.source["kind"] == "uci-file"


def test_uci_loaders_on_generated_files(tmp_path):
    make_uci(tmp_path / "uci")
    for key in UCI_DATASETS:
        ds = load_dataset(key, tmp_path)
        check_uci(ds, key)
    arc = load_dataset("arcene", tmp_path)
    assert arc.num_train == 100 and arc.num_test == 100  # the given train / valid split
    ab = load_dataset("abalone", tmp_path)
    assert ab.classes == ["rings 1-8", "rings 9-10", "rings 11+"]
    split_a, split_b = load_dataset("phishing", tmp_path), load_dataset("phishing", tmp_path)
    assert torch.equal(split_a.y_test, split_b.y_test)  # a fixed split


def test_arrhythmia_imputes_from_training_split_only(tmp_path):
    make_uci(tmp_path / "uci")
    raw = np.array([[math.nan if v == "NaN" else float(v) for v in ln.split(",")]
                    for ln in (tmp_path / "uci" / "arrhythmia.data").read_text().split()])
    ds = load_dataset("arrhythmia", tmp_path)
    from mixup_repro.tabular import stratified_split

    tr, te = stratified_split(torch.as_tensor(np.searchsorted(np.unique(raw[:, -1]), raw[:, -1])), 0.2, 0)
    j = 0  # feature 0 has NaNs in both splits
    med = np.nanmedian(raw[tr.numpy(), j])
    col = raw[tr.numpy(), j]
    filled = np.where(np.isnan(col), med, col)
    mu, sd = filled.mean(), filled.std()
    test_nan = np.isnan(raw[te.numpy(), j])
    assert test_nan.any()
    assert np.allclose(ds.x_test[torch.from_numpy(test_nan), j].numpy(), (med - mu) / sd, atol=1e-5)


def test_uci_bad_files(tmp_path):
    make_uci(tmp_path / "uci")
    p = tmp_path / "uci" / "HTRU_2.csv"
    lines = p.read_text().splitlines()
    lines[5] += ",7"
    p.write_text("\n".join(lines))
    with pytest.raises(ValueError, match=r"HTRU_2\.csv: line 6 has 10 columns, expected 9"):
        load_dataset("htru2", tmp_path)
    p = tmp_path / "uci" / "iris.csv"
    p.write_text("\n".join(p.read_text().splitlines()[:-3]))
    with pytest.raises(ValueError, match=r"iris\.csv has 147 data rows, expected 150"):
        load_dataset("iris-uci", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"UCI file abalone\.csv not found; looked for .*nowhere"):
        load_dataset("abalone", tmp_path / "nowhere")


@pytest.mark.real
def test_real_uci_sets():
    need_real("uci")
    for key in UCI_DATASETS:
        check_uci(load_dataset(key, REAL), key)
    assert torch.bincount(load_dataset("htru2", REAL).y_train).sum() + 3580 == 17898


# --- Speech Commands --------------------------------------------------------------------------------------

def wav_bytes(n=16000, rate=16000, freq=440.0, width=2) -> bytes:
    t = np.arange(n) / rate
    pcm = (0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes() if width == 2 else pcm.astype("<i4").tobytes())
    return buf.getvalue()


def make_speech(root: Path, speakers=12) -> Path:
    top = root / "speech-commands-test-v0.02"
    for ci, c in enumerate(SPEECH_CLASSES):
        (top / c).mkdir(parents=True)
        for s in range(speakers):
            name = f"{1000 + s}.wav" if c == "_silence_" else \
                f"{'backward_' if c == '_unknown_' else ''}{s:08x}_nohash_0.wav"
            (top / c / name).write_bytes(wav_bytes(freq=200 + 50 * ci + s))
    return top


def test_speech_features_and_speaker_disjoint_split(tmp_path):
    top = make_speech(tmp_path)
    arrays, info = read_speech_commands(top)
    assert arrays["x"].shape == (12 * 12, 1, 40, 101) and arrays["x"].dtype == np.float32
    assert speaker_of("_unknown_", "backward_0c540988_nohash_0.wav.wav") == "0c540988"
    assert speaker_of("yes", "022cd682_nohash_0.wav") == "022cd682"
    ds = load_dataset("speech-commands", tmp_path)
    split = [speaker_split(str(s)) for s in arrays["speaker"]]
    assert ds.num_train == split.count("train") and ds.num_test == split.count("test")
    assert ds.x_train.shape[1:] == (1, 40, 101) and ds.kind == "spectrogram"
    assert torch.allclose(ds.x_train.mean((0, 1, 3)), torch.zeros(40), atol=1e-4)  # standardised on train speakers
    by_split = {}
    for sp, sl in zip(arrays["speaker"], split):
        by_split.setdefault(sl, set()).add(str(sp))
    assert not (by_split["train"] & by_split.get("test", set())) and not (by_split["train"] & by_split.get(
        "validation", set()))
    seq = load_dataset("speech-commands", tmp_path, layout="sequence", eval_split="validation")
    assert seq.x_train.shape[1:] == (101, 40) and seq.kind == "sequence" and seq.num_test == split.count("validation")
    assert ds.source["split"]["train"]["clips"] == ds.num_train


def test_speech_bad_wavs(tmp_path):
    top = make_speech(tmp_path / "a", speakers=2)
    (top / "yes" / "00000000_nohash_0.wav").write_bytes(wav_bytes(rate=8000, n=8000))
    with pytest.raises(ValueError, match=r"yes/00000000_nohash_0\.wav is 8000 Hz.*expected 16000 Hz mono 16-bit"):
        read_speech_commands(top)
    top = make_speech(tmp_path / "b", speakers=2)
    (top / "no" / "00000001_nohash_0.wav").write_bytes(wav_bytes(n=12000))
    with pytest.raises(ValueError, match=r"no/00000001_nohash_0\.wav holds 12000 samples, expected 16000"):
        read_speech_commands(top)
    with pytest.raises(FileNotFoundError, match="speech-commands: neither .*tar.gz nor"):
        load_dataset("speech-commands", tmp_path / "none")


@pytest.mark.real
def test_real_speech_commands():
    need_real("speech-commands-test-v0.02.tar.gz")
    arrays, info = read_speech_commands(REAL / "speech-commands-test-v0.02.tar.gz")
    assert arrays["x"].shape == (4890, 1, 40, 101)
    # 239 speakers by the file names (<speaker>_nohash_<n>; <word>_<speaker>_nohash_<n> under _unknown_), plus
    # 408 _silence_ clips, each its own group (the data README's "672 speakers" is not what the names give)
    speakers = arrays["speaker"].tolist()
    assert len({s for s in speakers if not s.startswith("silence-")}) == 239
    assert sum(s.startswith("silence-") for s in speakers) == 408
    ds = load_dataset("speech-commands", REAL)
    sp = ds.source["split"]
    assert sp["train"]["clips"] + sp["validation"]["clips"] + sp["test"]["clips"] == 4890


# --- CLI smoke runs on the real copies ----------------------------------------------------------------------

@pytest.mark.real
@pytest.mark.parametrize("dataset, extra", [
    ("cifar10", ["--model", "preact_resnet18", "--width", "4", "--subset", "10", "--test-subset", "10"]),
    ("abalone", ["--model", "mlp", "--optimizer", "adam", "--lr", "0.001", "--batch-size", "16"]),
    ("arcene", ["--model", "mlp", "--optimizer", "adam", "--lr", "0.001", "--batch-size", "16"]),
    ("arrhythmia", ["--model", "mlp", "--optimizer", "adam", "--lr", "0.001", "--batch-size", "16"]),
    ("htru2", ["--model", "mlp", "--optimizer", "adam", "--lr", "0.001", "--batch-size", "512"]),
    ("iris-uci", ["--model", "mlp", "--optimizer", "adam", "--lr", "0.001", "--batch-size", "16"]),
    ("phishing", ["--model", "mlp", "--optimizer", "adam", "--lr", "0.001", "--batch-size", "256"]),
])
def test_cli_smoke_on_real_copies(dataset, extra, tmp_path, capsys):
    need_real("cifar10-jpeg.tar.gz" if dataset == "cifar10" else "uci")
    argv = ["train", "--dataset", dataset, "--data-dir", str(REAL), "--method", "mixup", "--epochs", "1",
            "--device", "cpu", "--out", str(tmp_path), "--quiet", *extra]
    assert cli_main(argv) == 0, capsys.readouterr().err  # the CLI's own entry point, in this process
    (path,) = tmp_path.glob(f"{dataset}_*.json")
    rec = json.loads(path.read_text())
    assert rec["data_source"]["name"] == dataset and rec["summary"]["num_eval"] > 0
    assert 0 <= rec["summary"]["final_train_error"] <= 100
    if dataset == "cifar10":
        assert rec["data_source"]["label"] == JPEG_LABEL
