"""Count host synchronisations during training on a GPU: there must be a few per epoch, none per step.

    python benchmarks/sync_check.py [--out FILE.json]

Runs :func:`mixup_repro.fit` for a few short Fashion-MNIST runs (one per mixing method), and the public
``mix`` / ``Mixup`` with ``validate=False`` on GPU batches (expected: no sync at all), under
``torch.cuda.set_sync_debug_mode("warn")``, which makes every synchronising CUDA call (``.item()``,
``.cpu()``, ``.tolist()``, ``nonzero``, a blocking copy) raise a warning, and counts the warnings. With S steps
per epoch and E epochs, a loop that syncs every step shows at least S·E of them; ours should show a handful per
epoch (the epoch-end read of the metrics and the evaluation).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from mixup_repro import TrainConfig, fit  # noqa: E402
from mixup_repro.results import device_name, git_commit, versions  # noqa: E402

CASES = {
    "erm": {}, "mixup": {}, "mixup_ls": {"label_smoothing": 0.1}, "mix_inputs_only": {},
    "manifold": {"mix_layer": 2}, "mixup_knn": {"pairing": "knn", "knn_k": 10},
    "label_noise": {"label_noise": 0.5}, "cutmix": {}, "mixup_cutmix": {},
}


def _syncs_during(fn) -> list:
    """The synchronisation warnings raised while ``fn()`` runs under ``set_sync_debug_mode("warn")``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return [w for w in caught if "synchroniz" in str(w.message).lower()]


def _where(syncs) -> list[str]:
    return sorted({f"{Path(w.filename).name}:{w.lineno}" for w in syncs})


def count_syncs(case: str, extra: dict, epochs: int, subset: int, dataset: str = "fashion-mnist") -> dict:
    """Syncs of one more epoch: runs of ``epochs`` and ``epochs + 1`` epochs, monitored, and their difference.

    Set-up (moving the model and data to the GPU, which warns for every blocking copy) and the final
    evaluation are the same in both runs and cancel out; what remains is one epoch's worth: the per-epoch
    reads plus, if there were any, one per training step.
    """
    method = "mixup" if case in ("mixup_knn", "label_noise") else case
    cfg = TrainConfig(dataset=dataset, method=method, epochs=epochs, subset=subset, test_subset=100,
                      milestones=(), checkpoint_every=0, **extra)
    steps = -(-10 * subset // cfg.batch_size)
    fit(dataclasses.replace(cfg, epochs=1), quiet=True, keep_model=False)  # warm-up: allocator, cuDNN autotuning
    short = _syncs_during(lambda: fit(cfg, quiet=True, keep_model=False))
    long = _syncs_during(lambda: fit(dataclasses.replace(cfg, epochs=epochs + 1), quiet=True, keep_model=False))
    per_epoch = len(long) - len(short)
    extra_lines = _where(long[len(short):])
    return {"case": case, "steps_per_epoch": steps, "syncs_short_run": len(short), "syncs_long_run": len(long),
            # a sync in every step (or every 4th) makes at least steps / 4 per epoch; the epoch-end reads, 10 or fewer
            "syncs_per_epoch": per_epoch, "per_step_free": per_epoch < steps / 4, "where": extra_lines}


def count_mixing_syncs(calls: int = 50) -> list[dict]:
    """Syncs of the public mixing API on GPU tensors with ``validate=False`` (expected: none per call)."""
    from mixup_repro import CutMix, Mixup, cutmix, mix

    x = torch.randn(128, 3, 32, 32, device="cuda")
    y = torch.randint(0, 10, (128,), device="cuda")
    gen = torch.Generator(device="cuda").manual_seed(0)
    mixup, mixup_elem = (Mixup(1.0, num_classes=10, label_smoothing=0.1, validate=False),
                         Mixup(1.0, num_classes=10, mode="elem", prob=0.5, validate=False))
    mixup_switch = Mixup(1.0, num_classes=10, mode="elem", switch_prob=0.5, generator=gen, validate=False)
    cutmix_pair = CutMix(1.0, num_classes=10, mode="elem", pairing="cycle", generator=gen, validate=False)
    cases = {
        "mix(validate=False)": lambda: mix(x, y, num_classes=10, label_smoothing=0.1, generator=gen, validate=False),
        "Mixup(validate=False)": lambda: mixup(x, y),
        "Mixup(elem, prob=0.5, validate=False)": lambda: mixup_elem(x, y),
        "cutmix(validate=False)": lambda: cutmix(x, y, num_classes=10, generator=gen, validate=False),
        "Mixup(elem, switch_prob=0.5, validate=False)": lambda: mixup_switch(x, y),
        "CutMix(elem, cycle, validate=False)": lambda: cutmix_pair(x, y),
        "mix(validate=True)": lambda: mix(x, y, num_classes=10, label_smoothing=0.1, generator=gen),
    }
    rows = []
    for name, call in cases.items():
        call()  # warm-up
        syncs = _syncs_during(lambda call=call: [call() for _ in range(calls)])
        rows.append({"case": name, "calls": calls, "syncs": len(syncs),
                     "per_step_free": len(syncs) == 0 or name.endswith("validate=True)"), "where": _where(syncs)})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=1, help="epochs of the shorter of the two monitored runs")
    p.add_argument("--subset", type=int, default=1000, help="training images per class (1000: 79 steps per epoch)")
    p.add_argument("--out", default=None, help="JSON file for the counts")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        p.error("needs a CUDA GPU (set_sync_debug_mode only watches CUDA)")
    rows = [count_syncs(k, v, args.epochs, args.subset) for k, v in CASES.items()]
    for r in rows:
        print(f"{r['case']:16s} {r['syncs_per_epoch']:4d} syncs per epoch of {r['steps_per_epoch']} steps "
              f"({'none per step' if r['per_step_free'] else 'PER-STEP SYNC'}) {', '.join(r['where'][:6])}")
    mixing = count_mixing_syncs()
    for r in mixing:
        print(f"{r['case']:40s} {r['syncs']:4d} syncs in {r['calls']} calls {', '.join(r['where'][:4])}")
    rows += mixing
    rec = {"device": device_name("cuda"), "versions": versions(), "git_commit": git_commit(), "cases": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(rec, indent=1))
    return 0 if all(r["per_step_free"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
