"""Tests for mixup_repro.data: loading, integrity checks, batch augmentation, label noise, subsets, k-NN."""

from __future__ import annotations

import gzip
import math
import os
import shutil
from pathlib import Path

import pytest
import torch

from mixup_repro import data, images
from mixup_repro.data import (
    DATASET_NAMES,
    BatchIterator,
    Dataset,
    augment_batch,
    corrupt_labels,
    default_data_dir,
    iterate_batches,
    knn_partners,
    load_dataset,
    normalize,
    split_validation,
    subset_per_class,
)

FMNIST_DIR = data.SYSTEM_FASHION_MNIST_DIR
needs_fmnist = pytest.mark.skipif(not (FMNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
                                  reason="Fashion-MNIST IDX files not installed")


@pytest.fixture(autouse=True)
def _isolated_data_env(monkeypatch, tmp_path_factory):
    """Point $MIXUP_REPRO_DATA at an empty folder so a user's own data never leaks into the tests."""
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path_factory.mktemp("empty-data-env")))


@pytest.fixture(scope="module")
def fmnist():
    if not (FMNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST IDX files not installed")
    return load_dataset("fashion-mnist", FMNIST_DIR, download=False)


# --- paths and loading ------------------------------------------------------------------------------------

def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.delenv(data.DATA_ENV)
    assert default_data_dir() == Path.home() / ".cache" / "mixup_repro" / "data"


@needs_fmnist
def test_fashion_mnist_loads(fmnist):
    d = fmnist
    assert d.kind == "image" and d.name == "fashion-mnist"
    assert d.x_train.shape == (60000, 1, 28, 28) and d.x_train.dtype == torch.uint8
    assert d.x_test.shape == (10000, 1, 28, 28) and d.x_test.dtype == torch.uint8
    assert d.y_train.dtype == torch.int64 and d.y_test.dtype == torch.int64
    assert torch.equal(torch.bincount(d.y_train), torch.full((10,), 6000))
    assert torch.equal(torch.bincount(d.y_test), torch.full((10,), 1000))
    assert d.num_classes == 10 and len(d.classes) == 10 and d.in_channels == 1 and d.flip is True
    assert d.input_shape == (1, 28, 28)
    assert d.mean[0] == pytest.approx(0.2860, abs=1e-4) and d.std[0] == pytest.approx(0.3530, abs=1e-4)
    # First training labels of the official release.
    assert d.y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]


@needs_fmnist
def test_fashion_mnist_found_via_system_folder_and_verification_cached(monkeypatch, fmnist):
    calls = []
    real_md5 = images.hashlib.md5
    monkeypatch.setattr(images.hashlib, "md5", lambda *a, **k: calls.append(1) or real_md5(*a, **k))
    d = load_dataset("fashion_mnist", download=False)  # not in data_dir or $MIXUP_REPRO_DATA: system folder
    assert torch.equal(d.y_test, fmnist.y_test)
    # The MD5 verification is cached per (path, size, mtime): no hashing the second time.
    assert calls == []


def _copy_fmnist(dst):
    for f in images.FASHION_MNIST_FILES.values():
        shutil.copy(FMNIST_DIR / f, dst / f)


@needs_fmnist
def test_fashion_mnist_truncated_file_rejected(tmp_path):
    _copy_fmnist(tmp_path)
    target = tmp_path / "train-labels-idx1-ubyte.gz"
    blob = target.read_bytes()
    target.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz.*corrupt or truncated"):
        load_dataset("fashion-mnist", tmp_path, download=False)


@needs_fmnist
def test_fashion_mnist_flipped_byte_rejected(tmp_path):
    sub = tmp_path / "fashion-mnist"
    sub.mkdir()
    _copy_fmnist(sub)
    target = sub / "t10k-labels-idx1-ubyte.gz"
    blob = bytearray(target.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    target.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz.*corrupt or truncated.*md5"):
        load_dataset("fashion-mnist", tmp_path, download=False)


@needs_fmnist
def test_fashion_mnist_valid_gzip_with_wrong_content_rejected(tmp_path):
    # A well-formed gzip whose content is wrong (e.g. a different dataset) must not load either.
    _copy_fmnist(tmp_path)
    target = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(target.read_bytes()))
    raw[100] = (raw[100] + 1) % 10
    target.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz.*expected md5"):
        load_dataset("fashion-mnist", tmp_path, download=False)


def test_fashion_mnist_missing_without_download(monkeypatch, tmp_path):
    monkeypatch.setattr(images, "SYSTEM_FASHION_MNIST_DIR", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="Fashion-MNIST.*not found"):
        load_dataset("fashion-mnist", tmp_path, download=False)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_missing_folder_without_download(tmp_path, name):
    folder = "cifar-10-batches-py" if name == "cifar10" else "cifar-100-python"
    with pytest.raises(FileNotFoundError, match=folder):
        load_dataset(name, tmp_path, download=False)


# --- tabular and synthetic --------------------------------------------------------------------------------

@pytest.mark.parametrize("name,n,f,c", [("iris", 150, 4, 3), ("wine", 178, 13, 3),
                                        ("breast-cancer", 569, 30, 2), ("digits", 1797, 64, 10)])
def test_tabular(name, n, f, c):
    d = load_dataset(name, test_fraction=0.2, seed=3)
    assert d.kind == "tabular" and not d.flip and d.mean is None and d.in_channels == f
    assert d.num_train + d.num_test == n and abs(d.num_test - 0.2 * n) <= c
    assert d.x_train.dtype == torch.float32 and d.x_train.shape[1] == f and d.num_classes == c
    m, s = d.x_train.mean(0), d.x_train.std(0, unbiased=False)
    assert m.abs().max() < 1e-5
    varying = s > 0  # digits has a few always-blank pixels, left at 0
    assert torch.allclose(s[varying], torch.ones(()), atol=1e-4)
    # stratified: per-class test share within rounding of the overall one
    for k in range(c):
        tot = int((d.y_train == k).sum() + (d.y_test == k).sum())
        assert abs(int((d.y_test == k).sum()) - 0.2 * tot) <= 1
    d2 = load_dataset(name, test_fraction=0.2, seed=3)
    assert torch.equal(d.x_train, d2.x_train) and torch.equal(d.y_test, d2.y_test)
    d3 = load_dataset(name, test_fraction=0.2, seed=4)
    assert not torch.equal(d.y_train, d3.y_train) or not torch.equal(d.x_train, d3.x_train)


@pytest.mark.parametrize("name,c", [("two-moons", 2), ("spirals", 2), ("ring", 6)])
def test_synthetic(name, c):
    d = load_dataset(name, n_train=300, n_test=120, seed=1)
    assert d.kind == "points" and d.x_train.shape == (300, 2) and d.x_test.shape == (120, 2)
    assert d.x_train.dtype == torch.float32 and d.num_classes == c and d.in_channels == 2
    for y, n in ((d.y_train, 300), (d.y_test, 120)):
        counts = torch.bincount(y, minlength=c)
        assert counts.max() - counts.min() <= 1 and counts.sum() == n
    d2 = load_dataset(name, n_train=300, n_test=120, seed=1)
    assert torch.equal(d.x_train, d2.x_train) and torch.equal(d.y_test, d2.y_test)
    assert not torch.equal(d.x_train, load_dataset(name, n_train=300, n_test=120, seed=2).x_train)


def test_ring_num_classes_and_noise():
    d = load_dataset("ring", num_classes=8, noise=0.0, n_train=80, n_test=8)
    assert d.num_classes == 8
    assert torch.allclose(d.x_train.norm(dim=1), torch.ones(80), atol=1e-6)


def test_dataset_helpers():
    d = load_dataset("iris", seed=0)
    idx = subset_per_class(d.y_train, 5, seed=0)
    s = d.select_train(idx)
    assert s.num_train == 15 and torch.equal(torch.bincount(s.y_train), torch.full((3,), 5))
    assert s.x_test is d.x_test
    v = d.validation_split(0.25, seed=0)
    assert v.num_train + v.num_test == d.num_train and v.num_test == round(0.25 * d.num_train)
    noisy, _ = corrupt_labels(d.y_train, 0.5, 3, seed=0)
    assert torch.equal(d.with_train_labels(noisy).y_train, noisy)
    assert d.to("cpu").x_train.device.type == "cpu"
    with pytest.raises(ValueError, match="kind"):
        Dataset("x", "video", d.x_train, d.y_train, d.x_test, d.y_test, 3, ["a", "b", "c"], in_channels=4)


# --- augmentation and normalisation ----------------------------------------------------------------------

def _batch(b=5, c=2, h=6, w=7, seed=0):
    return torch.randint(1, 256, (b, c, h, w), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_augment_identity_and_shape():
    x = _batch()
    assert torch.equal(augment_batch(x, padding=0, flip=False), x)
    y = augment_batch(x, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == x.dtype


def test_augment_flip_only():
    x = _batch(b=64)
    y = augment_batch(x, padding=0, flip=True, generator=torch.Generator().manual_seed(1))
    same = (y == x).flatten(1).all(1)
    mirrored = (y == x.flip(-1)).flatten(1).all(1)
    assert torch.all(same | mirrored)
    assert same.any() and mirrored.any()


def test_augment_crop_matches_reference():
    x = _batch(b=40)
    p = 2
    y = augment_batch(x, padding=p, flip=True, generator=torch.Generator().manual_seed(2))
    padded = torch.nn.functional.pad(x, (p, p, p, p))
    h, w = x.shape[-2:]
    seen_offsets = set()
    for i in range(x.shape[0]):
        matches = []
        for dy in range(2 * p + 1):
            for dx in range(2 * p + 1):
                win = padded[i, :, dy:dy + h, dx:dx + w]
                matches += [(dy, dx, fl) for fl, ref in ((False, win), (True, win.flip(-1)))
                            if torch.equal(y[i], ref)]
        assert matches, f"image {i} is not a (flipped) window of the padded input"
        seen_offsets.add(matches[0][:2])
    assert len(seen_offsets) > 5  # offsets really vary per image


def test_augment_deterministic():
    x = _batch(b=16)
    a = augment_batch(x, generator=torch.Generator().manual_seed(7))
    b = augment_batch(x, generator=torch.Generator().manual_seed(7))
    c = augment_batch(x, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_augment_errors():
    with pytest.raises(ValueError, match="padding"):
        augment_batch(_batch(), padding=-1)
    with pytest.raises(ValueError, match="x must be a 4-D"):
        augment_batch(torch.zeros(3, 4, 4, dtype=torch.uint8))


def test_normalize():
    x = _batch(c=3)
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    got = normalize(x, mean, std)
    ref = torch.stack([(x[:, c].double() / 255 - mean[c]) / std[c] for c in range(3)], 1)
    assert got.dtype == torch.float32 and torch.allclose(got.double(), ref, atol=1e-5)
    assert normalize(x, mean, std, dtype=torch.float64).dtype == torch.float64
    with pytest.raises(ValueError, match="mean must have one value per channel"):
        normalize(x, (0.1,) * 2, std)
    with pytest.raises(TypeError, match="uint8"):
        normalize(x.float(), mean, std)


def test_batch_iterator():
    g = torch.Generator().manual_seed(0)
    batches = list(iterate_batches(10, 3, shuffle=True, generator=g))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
    it = BatchIterator(10, 3, shuffle=False, drop_last=True)
    assert len(it) == 3 and torch.equal(torch.cat(list(it)), torch.arange(9))
    a = torch.cat(list(iterate_batches(10, 4, generator=torch.Generator().manual_seed(5))))
    b = torch.cat(list(iterate_batches(10, 4, generator=torch.Generator().manual_seed(5))))
    assert torch.equal(a, b) and a.dtype == torch.int64


# --- label noise, subsets, splits -------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 0.8, 1.0])
def test_corrupt_labels(p):
    y = torch.arange(1003) % 10
    y0 = y.clone()
    noisy, mask = corrupt_labels(y, p, 10, seed=0)
    assert torch.equal(y, y0)  # input untouched
    assert int(mask.sum()) == round(p * 1003) and mask.dtype == torch.bool
    assert torch.equal(noisy[~mask], y[~mask])
    assert noisy.min() >= 0 and noisy.max() < 10 and noisy.dtype == torch.int64
    n2, m2 = corrupt_labels(y, p, 10, seed=0)
    assert torch.equal(noisy, n2) and torch.equal(mask, m2)
    if p == 1.0:  # uniform over all classes: about 10 % keep their label by chance
        assert 0.05 < float((noisy == y).float().mean()) < 0.15


def test_subset_per_class_and_split():
    y = torch.arange(100) % 4
    idx = subset_per_class(y, 7, seed=1)
    assert idx.numel() == 28 and torch.equal(torch.bincount(y[idx]), torch.full((4,), 7))
    assert idx.unique().numel() == 28 and torch.equal(idx, subset_per_class(y, 7, seed=1))
    tr, va = split_validation(100, 0.2, seed=0)
    assert va.numel() == 20 and tr.numel() == 80
    assert torch.equal(torch.cat([tr, va]).sort().values, torch.arange(100))
    assert torch.equal(va, split_validation(100, 0.2, seed=0)[1])


# --- k nearest neighbours ---------------------------------------------------------------------------------

def test_knn_matches_brute_force():
    x = torch.randn(150, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    k = 7
    got = knn_partners(x, k, chunk=32)
    flat = x.reshape(150, -1).double()
    d = ((flat[:, None] - flat[None]) ** 2).sum(-1)
    d.fill_diagonal_(math.inf)
    ref = d.argsort(1)[:, :k]
    assert got.shape == (150, k) and got.dtype == torch.int64
    assert torch.equal(got, ref)
    assert not (got == torch.arange(150)[:, None]).any()


def test_knn_uint8_and_cache(tmp_path, monkeypatch):
    x = torch.randint(0, 256, (60, 1, 5, 5), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    first = knn_partners(x, 4, cache_dir=tmp_path)
    files = list(tmp_path.glob("knn-*.pt"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp"))
    mtime = os.stat(files[0]).st_mtime_ns

    def boom(*a, **k):
        raise AssertionError("cdist called although a cache file exists")

    monkeypatch.setattr(torch, "cdist", boom)
    second = knn_partners(x, 4, cache_dir=tmp_path)
    assert torch.equal(first, second) and second.dtype == torch.int64
    assert os.stat(files[0]).st_mtime_ns == mtime
    with pytest.raises(AssertionError, match="cdist"):  # different k: a different cache file
        knn_partners(x, 5, cache_dir=tmp_path)


# --- error messages ---------------------------------------------------------------------------------------

def test_errors():
    with pytest.raises(ValueError, match="dataset must be one of .*fashion-mnist.*two-moons"):
        load_dataset("imagenet")
    assert "fashion-mnist" in DATASET_NAMES
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\], got 1.5"):
        corrupt_labels(torch.zeros(4, dtype=torch.long), 1.5, 3, seed=0)
    with pytest.raises(ValueError, match="subset.*n_per_class.*class 2 has only 1"):
        subset_per_class(torch.tensor([0, 0, 1, 1, 2]), 2, seed=0)
    with pytest.raises(ValueError, match=r"k must be <= 9"):
        knn_partners(torch.randn(10, 2), 10)
    with pytest.raises(TypeError, match="test_frac"):
        load_dataset("iris", test_frac=0.3)
    with pytest.raises(ValueError, match="test_fraction"):
        load_dataset("iris", test_fraction=1.0)


# --- the registry -----------------------------------------------------------------------------------------

def test_registry_lists_every_name_once():
    from mixup_repro.data import REGISTRY, DatasetEntry, build_registry

    assert set(REGISTRY) == set(DATASET_NAMES) and len(DATASET_NAMES) == len(set(DATASET_NAMES))
    entry = DatasetEntry("points", lambda name, data_dir, download: None)
    with pytest.raises(ValueError, match="'ring' is registered twice"):
        build_registry({"ring": entry}, {"ring": entry})
    with pytest.raises(ValueError, match="group must be one of"):
        DatasetEntry("video", entry.load)
