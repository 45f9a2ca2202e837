"""Speed measurements: FLOP counts, benchmark records and the README's speed table.

``benchmarks/speed.py`` times the reference training loop (``benchmarks/reference.py``, written the way the
official mixup code trains) and this library's :func:`~mixup_repro.train.fit` on the same machine in the same
run, and writes one JSON record per run to ``benchmarks/results/`` (schema :data:`SCHEMA`). This module holds
the parts that are library logic: the model's training FLOPs per image, reading the records back, and the
markdown table the README shows (``python -m mixup_repro report``).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import torch

from .results import atomic_write_json

__all__ = ["SCHEMA", "train_flops_per_image", "read_speed_results", "speed_rows", "speed_frame", "speed_table", "speed_summary",
           "precision_summary", "write_speed_result"]

SCHEMA = "mixup_repro.speed/1"
REQUIRED = ("schema", "device", "dataset", "model", "batch_size", "num_train", "reference_s_per_epoch",
            "ours_s_per_epoch", "speedup", "settings", "versions", "git_commit")


def train_flops_per_image(model: torch.nn.Module, input_shape, *, batch: int = 2) -> float:
    """Floating-point operations of one training step per image (forward + backward), counted by
    :class:`torch.utils.flop_counter.FlopCounterMode` on a CPU copy of ``model`` in fp32.

    Convolutions and matrix products are counted (a multiply-add is 2 FLOPs); element-wise work (batch
    norm, ReLU, the optimizer) is not, as is usual for "model FLOPs".
    """
    import copy

    from torch.utils.flop_counter import FlopCounterMode

    m = copy.deepcopy(model).float().cpu().train()
    x = torch.randn(batch, *input_shape)
    counter = FlopCounterMode(display=False)
    with counter:
        m(x).sum().backward()
    return counter.get_total_flops() / batch


def _check_record(record) -> None:
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise ValueError(f"not a {SCHEMA} record")
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise ValueError(f"speed record lacks {', '.join(missing)}")


def write_speed_result(record: dict, out) -> Path:
    """Validate ``record`` and write it atomically as ``out/<device>_<dataset>_<started>.json``."""
    _check_record(record)
    import re

    stem = "_".join(re.sub(r"[^a-z0-9]+", "-", str(record[k]).lower()).strip("-")
                    for k in ("device", "dataset", "started"))
    path = Path(out) / f"{stem}.json"
    atomic_write_json(path, record)
    return path


def read_speed_results(folder="benchmarks/results") -> list[dict]:
    """Every valid speed record under ``folder`` (a file that is not one is skipped with a warning)."""
    recs = []
    for p in sorted(Path(folder).glob("*.json")):
        try:
            rec = json.loads(p.read_text())
            _check_record(rec)
        except (OSError, ValueError) as e:
            warnings.warn(f"skipping {p}: {e}", stacklevel=2)
            continue
        rec["file"] = p.as_posix()
        recs.append(rec)
    return recs


def _f(v, fmt):
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


_COLUMNS = ("device", "data", "model", "loop", "s / epoch", "images / s", "× reference", "first epoch (s)",
            "eval (s)", "peak GPU mem (GiB)", "TFLOP/s", "file")


def record_loops(record: dict) -> list[tuple[str, dict, float | None]]:
    """``(label, timings, × reference)`` for every loop of a speed record: the reference first, then ours."""
    ref, loops = record["reference"], []
    if ref:
        loops.append((f"reference ({ref.get('num_workers')} workers, fp32)", ref, 1.0))
    for v in record["variants"]:
        ratio = record["reference_s_per_epoch"] / v["s_per_epoch"] \
            if v.get("s_per_epoch") and record.get("reference_s_per_epoch") else None
        loops.append((f"ours: {v['name']}", v, ratio))
    return loops


def speed_rows(records: list[dict]) -> list[dict]:
    """One row per loop of every record (:func:`record_loops`), formatted."""
    rows = []
    for r in records:
        data = (r.get("data_source") or {}).get("label") or r["dataset"]  # e.g. "CIFAR-10 (JPEG copy)"
        common = {"device": r["device"], "data": f"{data} ({r['num_train']:,})",
                  "model": f"{r['model']} w{r['settings'].get('width', '')}"}
        for i, (name, v, ratio) in enumerate(record_loops(r)):
            ev = v.get("eval_s")
            rows.append({**common, "loop": name, "s / epoch": _f(v.get("s_per_epoch"), ".3g"),
                         "images / s": _f(v.get("images_per_s"), ",.0f"), "× reference": _f(ratio, ".1f"),
                         "first epoch (s)": _f(v.get("first_epoch_s"), ".3g"), "eval (s)": _f(ev, ".3g"),
                         "peak GPU mem (GiB)": _f(v.get("peak_mem_gib"), ".2f"), "TFLOP/s": _f(v.get("tflops"), ".2f"),
                         "file": Path(r["file"]).name if i == 0 and "file" in r else ""})
    return rows


def speed_frame(records: list[dict]):
    """:func:`speed_rows` as a DataFrame indexed by (measurement, loop): the machine, data and model of each
    record said once for its loops, instead of a bare 0, 1, 2 index and three repeated columns."""
    import pandas as pd

    rows = speed_rows(records)
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    df.insert(0, "measurement", df["device"] + "; " + df["data"] + "; " + df["model"])
    return df.drop(columns=["device", "data", "model"]).set_index(["measurement", "loop"])


def speed_table(records: list[dict]) -> str:
    """:func:`speed_rows` as a markdown table (for the README)."""
    if not records:
        return "No speed measurement is committed yet (`benchmarks/results/` is empty)."
    head = "| " + " | ".join(_COLUMNS) + " |\n| " + " | ".join("---" if i < 4 or c == "file" else "---:"
                                                              for i, c in enumerate(_COLUMNS)) + " |"
    return head + "\n" + "\n".join("| " + " | ".join(row[c] for c in _COLUMNS) + " |" for row in speed_rows(records))


TARGETS = ("≥ 10× faster per epoch than the reference loop (same GPU, same run)",
           "≤ 1.0 s per training epoch of 50,000 CIFAR-shaped images (PreAct ResNet-18 width 64, batch 128)")


def precision_summary(folder="results/precision", metric: str = "median_last10_error") -> str:
    """Does bf16 training land within seed noise of fp32? From the runs in ``folder`` that differ only in
    ``precision`` (Fashion-MNIST mixup, 30 epochs, 3 seeds each, made on a GPU by ``train --precision bf16`` and
    ``--precision fp32``; the GPU window's check compares a single bf16 step with fp32).

    "Within seed noise" means the difference of the means is under 2 standard errors of the difference
    (:func:`mixup_repro.se_claims.compare`).
    """
    from .results import load_results
    from .se_claims import compare

    folder = Path(folder)
    df = load_results(folder) if folder.is_dir() else None
    if df is None or df.empty or "precision" not in df:
        return (f"bf16 against fp32 accuracy: **not measured yet** (`{folder.as_posix()}` holds no runs; "
                "on a GPU, `python -m mixup_repro train --dataset fashion-mnist --method mixup --epochs 30 "
                "--precision bf16` and `--precision fp32`, seeds 0-2, `--out results/precision` make them).")
    rows = {}
    for prec in ("bf16", "fp32"):
        sub = df[df["precision"] == prec][metric].dropna()
        rows[prec] = {"row": prec, "n_done": len(sub), f"{metric}_mean": sub.mean() if len(sub) else math.nan,
                      f"{metric}_std": sub.std(ddof=1) if len(sub) > 1 else math.nan}
    c = compare(rows["bf16"], rows["fp32"], metric)
    verdict = {"unclear": "within seed noise", "lower": "bf16 lower (beyond seed noise)",
               "higher": "bf16 higher (beyond seed noise)"}.get(c.outcome, c.outcome)
    cfg = df.iloc[0]
    return (f"bf16 against fp32 accuracy ({cfg['dataset']}, {cfg['method']}, {int(cfg['epochs'])} epochs, "
            f"`{folder.as_posix()}`, test error %, median of the last 10 epochs): {c.text()} — **{verdict}**.")


def speed_summary(folder="benchmarks/results", precision_dir=None, *, table: bool = True) -> str:
    """The README's speed section: the targets and whether a committed GPU measurement meets them, the bf16
    accuracy check (:func:`precision_summary` of ``precision_dir``, if given), then (with ``table``) the table
    of every record in ``folder``; a notebook shows ``pandas.DataFrame(speed_rows(...))`` instead."""
    folder = Path(folder)
    recs = read_speed_results(folder) if folder.is_dir() else []
    gpu = [r for r in recs if not r["device"].startswith("cpu") and r["dataset"] == "random-cifar"
           and r["settings"].get("width") == 64 and r["batch_size"] == 128 and r["num_train"] == 50000
           and r.get("speedup") is not None]
    lines = [f"Generated from the JSON records in `{folder.as_posix()}/` (written by `benchmarks/speed.py`; "
             "each holds the settings, versions, commit and every epoch's time). Seconds per epoch are medians "
             "over epochs 2..N of training alone; the first epoch (warm-up, compilation) and the per-epoch "
             "evaluation are listed apart. TFLOP/s counts convolution and matrix FLOPs of forward + backward."]
    if gpu:
        best = min(gpu, key=lambda r: r["ours_s_per_epoch"])
        met = [best["speedup"] >= 10, best["ours_s_per_epoch"] <= 1.0]
        lines.append(f"Targets on {best['device']} ({Path(best['file']).name}): " + "; ".join(
            f"{t}: **{'met' if m else 'missed'}** ({v})" for t, m, v in zip(
                TARGETS, met, (f"{best['speedup']:.1f}×", f"{best['ours_s_per_epoch']:.2f} s"))) + ".")
        prof = best.get("profile")
        if prof and prof.get("busy_fraction") is not None:
            lines.append(f"Profile of {prof['variant']} ({prof['steps']} steps): the GPU is busy "
                         f"{100 * prof['busy_fraction']:.0f} % of the training time "
                         f"({'launch- or host-bound' if prof['busy_fraction'] < 0.8 else 'kernel-bound'}); "
                         "most device time: " + ", ".join(f"`{t['op']}` {t['s']:.2f} s" for t in prof["top"][:4]) + ".")
    else:
        small = "every record below is a small CPU run that keeps the benchmark working; its ratios say nothing " \
            "about a GPU" if all(r["device"].startswith("cpu") for r in recs) else \
            "the records below that were made on a GPU are not the full-size CIFAR-shaped measurement, so they do not " \
            "test the targets"
        lines.append("Targets (" + "; ".join(TARGETS) + "): **not measured yet** — no full-size GPU record is "
                     f"committed; {small}.")
    for r in recs:
        conc = r.get("concurrent") or []
        if conc:
            alone = next((v for v in r["variants"] if v["name"] == conc[0]["variant"]), None)
            parts = []
            for c in conc:
                agg = c.get("aggregate_images_per_s")
                text = f"{c['runs']} at once: " + ("no overlap measured" if agg is None else
                                                   f"{agg:,.0f} images/s together over {c['overlap_s']:.0f} s")
                if agg is not None and alone:
                    text += f" ({agg / alone['images_per_s']:.2f}× one run's training throughput)"
                parts.append(text)
            lines.append(f"Several runs on one device ({r['device']}, {r['dataset']}, {conc[0]['variant']}, "
                         f"`{Path(r['file']).name}`; the together figures include the runs' evaluations): "
                         + "; ".join(parts) + ".")
    for r in recs:
        if r.get("complete") is False:  # rewritten after every phase: a cut-short run keeps what it measured
            why = [f"stopped during {r['stopped']}"] if r.get("stopped") else []
            why += [f"{name} failed ({err.splitlines()[0][:160]})" for name, err in (r.get("errors") or {}).items()]
            lines.append(f"`{Path(r['file']).name}` is incomplete: " + ("; ".join(why) or "it ended early") + ".")
    if precision_dir is not None:
        lines.append(precision_summary(precision_dir))
    if table:
        lines.append(speed_table(recs))
    return "\n\n".join(lines)
