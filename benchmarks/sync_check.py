"""Count host synchronisations during training on a GPU: there must be a few per epoch, none per step.

    python benchmarks/sync_check.py [--out FILE.json]

Runs :func:`mixup_repro.fit` for a few short Fashion-MNIST runs (one per mixing method) under
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
    "label_noise": {"label_noise": 0.5},
}


def count_syncs(method: str, extra: dict, epochs: int, subset: int) -> dict:
    m = "mixup" if method in ("mixup_knn", "label_noise") else method
    cfg = TrainConfig(dataset="fashion-mnist", method=m, epochs=epochs, subset=subset, test_subset=100,
                      checkpoint_every=0, **extra)
    steps = -(-10 * subset // cfg.batch_size)
    fit(dataclasses.replace(cfg, epochs=1), quiet=True, keep_model=False)  # warm up (allocator, cuDNN)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fit(cfg, quiet=True, keep_model=False)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message).lower()]
    where = sorted({f"{Path(w.filename).name}:{w.lineno}" for w in syncs})
    return {"case": method, "epochs": epochs, "steps_per_epoch": steps, "syncs": len(syncs),
            "syncs_per_epoch": len(syncs) / epochs, "per_step_free": len(syncs) < epochs * steps / 4,
            "where": where}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--subset", type=int, default=500, help="training images per class (500: 40 steps per epoch)")
    p.add_argument("--out", default=None, help="JSON file for the counts")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        p.error("needs a CUDA GPU (set_sync_debug_mode only watches CUDA)")
    rows = [count_syncs(k, v, args.epochs, args.subset) for k, v in CASES.items()]
    for r in rows:
        print(f"{r['case']:16s} {r['syncs']:4d} syncs in {r['epochs']} epochs of {r['steps_per_epoch']} steps "
              f"({'none per step' if r['per_step_free'] else 'PER-STEP SYNC'}) {', '.join(r['where'][:6])}")
    rec = {"device": device_name("cuda"), "versions": versions(), "git_commit": git_commit(), "cases": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(rec, indent=1))
    return 0 if all(r["per_step_free"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
