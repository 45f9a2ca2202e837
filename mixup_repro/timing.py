"""The time model of ``--dry-run``: every constant of the estimate, the per-run estimate and the dry-run text.

:data:`TIME_MODEL` holds measured (CPU) or assumed (GPU) costs with their source; :func:`estimate_seconds` turns
one config into seconds, :func:`schedule` packs runs on ``workers`` slots, and :func:`dry_run` lists a table's
rows and runs (done / missing) with the estimates, computing nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .evaluation import TRAIN_EVAL_SAMPLE
from .plan import plan_table, run_status
from .train import TrainConfig, run_id

__all__ = ["TIME_MODEL", "DATA_SIZES", "estimate_seconds", "schedule", "sweep_estimate", "format_duration",
           "dry_run"]

TIME_MODEL: dict[str, dict] = {
    "cpu": {
        "source": "measured on the 2-core development machine, one thread per run, two runs at once (--workers "
                  "2), nothing else running: 15 runs of results/cpu (the ablation's mix inputs only AC/SC + RP, "
                  "mixup AC + KNN and latent layers 1 and 3 at weight decay 1e-4, 2 seeds each, and the headline's "
                  "5 CutMix runs: PreAct ResNet-18 width 8, 10,000 training and 2,000 test images, 30 epochs, a "
                  "2,000-image training sample evaluated every epoch, 3 FGSM ε; 2026-12-03) took median 608 s "
                  "(564-653 s), and the width-8 costs per 1,000 images are fitted to them (training 1.70 s, "
                  "evaluation 0.715 s); the 23 label-noise runs at 50 % (2,000 training images, 40 epochs; "
                  "2026-12-02) took median 193 s (181-200 s): per image, 0.72x the training and 0.79x the "
                  "evaluation cost of the 10,000-image runs (a smaller working set), a factor the model "
                  "interpolates between 2,000 and 10,000 training images. The 25 earlier headline runs took median "
                  "773 s while other work loaded the cores. Other widths are scaled by the same factor from an "
                  "earlier Fashion-MNIST measurement",
        "threads": 1,
        "startup_s": 3.5,          # python -m mixup_repro train: interpreter, torch (+ torchvision) imports
        "load_s": {"image": 9.0, "tabular": 0.7},   # CIFAR-10 JPEG copy from its decode cache; scikit-learn sets
        # PreAct ResNet-18 on 32x32x3 images, 10,000 training images: seconds per 1,000 images, by width (train =
        # fwd + bwd + step; includes the batch mixing)
        "train_s_per_1k": {4: 1.23, 8: 1.70, 16: 2.93, 32: 7.70, 64: 26.2},
        "eval_s_per_1k": {4: 0.506, 8: 0.715, 16: 1.73, 32: 4.32, 64: 12.95},
        # per-image cost factor (train, eval) at 2,000 training images or fewer; linear up to 1 at 10,000
        "small_data_factor": (2000, 10000, 0.72, 0.79),
        "fgsm_train_fraction": 0.5,  # one FGSM pass ~ eval + this fraction of a training pass
        "model_factor": {"preact_resnet18": 1.0, "wrn28_10": 9.0, "densenet_bc_190": 17.0},
        "mlp_step_s": 0.0015,      # one Adam step of the 2 x 128 MLP, batch 16
        # Speech table (pilot runs of 3-4 epochs, one thread, batch 100, 3,322 training clips, 2026-12-01, while the
        # main CIFAR sweep ran on the same 2 cores: load average about 4, so about half a core per run; on an idle
        # machine expect roughly half these times). Seconds per epoch: training plus the per-epoch evaluation of
        # the validation (882) and test (686) speakers and of the 2,000-clip training sample (eval_train).
        "speech_epoch_s": {"lenet": 6.4, "vgg11": 15.6, "gru": 7.1},  # vgg11 width 8; gru 64 units, bidirectional
        "speech_load_s": 4.5,      # features from the cache, twice (training + test speakers, validation speakers)
    },
    "paper": {
        "source": "ASSUMPTION, not yet measured: one modern data-centre GPU per worker (A100 class, fp32), "
                  "PreAct ResNet-18 width 64 at about 12.5 s per CIFAR-10 training epoch; WRN-28-10 and "
                  "DenseNet-BC-190 scaled by their FLOPs (x9, x17). Replace with a GPU measurement.",
        "threads": None,
        "startup_s": 15.0,
        "load_s": {"image": 5.0, "tabular": 0.7},
        "train_s_per_1k": {64: 0.25},
        "eval_s_per_1k": {64: 0.08},
        "fgsm_train_fraction": 0.5,
        "model_factor": {"preact_resnet18": 1.0, "wrn28_10": 9.0, "densenet_bc_190": 17.0},
        "mlp_step_s": 0.0012,
        "speech_epoch_s": {"lenet": 0.5, "vgg11": 0.6, "gru": 0.6},  # ASSUMPTION: small models, launch-bound
        "speech_load_s": 5.0,
    },
}
TIME_MODEL["smoke"] = TIME_MODEL["cpu"]
"""Constants of :func:`estimate_seconds`. Image costs are for 32 x 32 inputs (CIFAR) and scale with the number of
pixels (Fashion-MNIST: 784 / 1024); FGSM costs one evaluation pass plus a fraction of a training pass per ε."""

DATA_SIZES = {  # (training images, test images, classes, pixels) for estimates only
    "fashion-mnist": (60000, 10000, 10, 784), "cifar10": (50000, 10000, 10, 1024),
    "cifar100": (50000, 10000, 100, 1024), "iris": (120, 30, 3, 0), "wine": (142, 36, 3, 0),
    "abalone": (3342, 835, 3, 0), "arcene": (100, 100, 2, 0), "arrhythmia": (361, 91, 13, 0),
    "htru2": (14318, 3580, 2, 0), "iris-uci": (120, 30, 3, 0), "phishing": (8844, 2211, 2, 0),
    "breast-cancer": (455, 114, 2, 0), "digits": (1437, 360, 10, 0),
}
"""(training images, test images, classes, pixels per channel) of each dataset, for estimates only."""


def _interp(table: Mapping[int, float], width: int) -> float:
    """Cost at ``width`` from ``table`` (linear between measured widths, quadratic above)."""
    keys = sorted(table)
    if width <= keys[0]:
        return table[keys[0]] * width / keys[0]
    if width >= keys[-1]:
        return table[keys[-1]] * (width / keys[-1]) ** 2
    for lo, hi in zip(keys, keys[1:]):
        if lo <= width <= hi:
            t = (width - lo) / (hi - lo)
            return table[lo] + t * (table[hi] - table[lo])
    raise AssertionError


def estimate_seconds(cfg: TrainConfig, scale: str) -> float:
    """Rough wall time of one run at ``scale`` under :data:`TIME_MODEL` (one run alone on its share)."""
    tm = TIME_MODEL[scale]
    n_train, n_test, classes, pixels = DATA_SIZES.get(cfg.dataset, (1000, 1000, 2, 0))
    if cfg.subset is not None:
        n_train = min(n_train, cfg.subset * classes)
    if cfg.test_subset is not None:
        n_test = min(n_test, cfg.test_subset * classes)
    if cfg.val_fraction > 0:
        n_eval = round(n_train * cfg.val_fraction)
        n_train -= n_eval
    else:
        n_eval = n_test
    fixed = tm["startup_s"]
    if cfg.dataset == "speech-commands":  # per-epoch costs measured at 3,322 training clips
        n = min(3322, cfg.subset * 12) if cfg.subset is not None else 3322
        per_epoch = tm["speech_epoch_s"].get(cfg.model, max(tm["speech_epoch_s"].values())) * (0.3 + 0.7 * n / 3322)
        return fixed + tm["speech_load_s"] + cfg.epochs * per_epoch
    if pixels == 0:  # MLP on tabular data; evaluation is negligible
        steps = -(-n_train // cfg.batch_size) * cfg.epochs
        return fixed + tm["load_s"]["tabular"] + steps * tm["mlp_step_s"]
    width = cfg.width if cfg.model == "preact_resnet18" else 64
    factor = tm["model_factor"].get(cfg.model, 1.0) * pixels / 1024
    tr = _interp(tm["train_s_per_1k"], width) * factor / 1000
    ev = _interp(tm["eval_s_per_1k"], width) * factor / 1000
    if "small_data_factor" in tm:  # per-image costs fall with the working set (measured at two sizes)
        lo, hi, f_tr, f_ev = tm["small_data_factor"]
        t = min(1.0, max(0.0, (n_train - lo) / (hi - lo)))
        tr *= f_tr + t * (1 - f_tr)
        ev *= f_ev + t * (1 - f_ev)
    # every epoch: the evaluation set, and training images: all of them under label noise (the memorisation
    # curves), else the regime curve's fixed sample of TRAIN_EVAL_SAMPLE when eval_train is on
    n_regime = n_train if cfg.label_noise > 0 else min(n_train, TRAIN_EVAL_SAMPLE) if cfg.eval_train else 0
    per_epoch = n_train * tr + (n_eval + n_regime) * ev
    # at the end: the evaluation set again (reliability counts), every training image (final training error)
    final = (n_eval + (n_train if cfg.eval_train else 0)) * ev
    fgsm = len(cfg.fgsm_eps) * n_eval * (ev + tm["fgsm_train_fraction"] * tr)
    return fixed + tm["load_s"]["image"] + cfg.epochs * per_epoch + final + fgsm


def schedule(times: list[float], workers: int) -> float:
    """Makespan of longest-first scheduling of ``times`` on ``workers`` slots."""
    slots = [0.0] * max(1, workers)
    for t in sorted(times, reverse=True):
        i = slots.index(min(slots))
        slots[i] += t
    return max(slots) if times else 0.0


def _speedup(scale: str, workers: int) -> float:
    """Per-run speed relative to one thread, given the threads each run gets with ``workers`` at once."""
    if TIME_MODEL[scale]["threads"] is None:
        return 1.0
    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    return 1.0 + 0.6 * (threads - 1)


def sweep_estimate(cfg: TrainConfig, scale: str, workers: int) -> float:
    """Estimated seconds of one run in a sweep with ``workers`` (in-process, without start-up, when 1)."""
    t = estimate_seconds(cfg, scale) - (TIME_MODEL[scale]["startup_s"] if workers == 1 else 0.0)
    return t / _speedup(scale, workers)


def format_duration(s: float) -> str:
    """Seconds as ``42 s``, ``3.5 min`` or ``2.1 h``."""
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def dry_run(specs, scale: str, out, *, seeds=None, workers: int = 1) -> str:
    """The text of ``--dry-run``: rows, their runs (done / missing) and time estimates; computes nothing."""
    lines, all_cfgs = [], {}
    for name, ds, rows in specs:
        table, ds, plan = plan_table(name, scale, ds, seeds, rows)
        lines.append(f"table {name}: {table.title} | scale {scale} | dataset {ds or 'per row'} | out {out}")
        lines.append(f"  note: {table.scale_note(scale)}")
        t_cfgs = {}
        for row, cfgs in plan:
            if cfgs is None:
                lines.append(f"  {row.key}: not run at {scale} scale ({row.skip[scale]})")
                continue
            st = [(c, run_status(c, out)) for c in cfgs]
            n_done = sum(s == "done" for _, s in st)
            est = sum(sweep_estimate(c, scale, workers) for c, s in st if s != "done")
            lines.append(f"  {row.key}: {n_done}/{len(cfgs)} done, {len(cfgs) - n_done} missing"
                         + (f" (~{format_duration(est)} of runs)" if n_done < len(cfgs) else ""))
            for c, s in st:
                lines.append(f"      {s:8s} {run_id(c)}  seed {c.seed}"
                             + (f"  ~{format_duration(sweep_estimate(c, scale, workers))}" if s != "done" else ""))
                t_cfgs[run_id(c)] = (c, s)
        if table.kind == "speech" and rows is None:  # the chosen rows' extra seeds (see speech_report)
            from .speech_report import speech_confirm_configs

            known = speech_confirm_configs(scale, out, seeds=seeds)
            later = speech_confirm_configs(scale, out, seeds=seeds, pending=True)
            for c in known:
                t_cfgs[run_id(c)] = (c, "missing")
            est = sum(sweep_estimate(c, scale, workers) for c in later)
            if known or later:
                lines.append(f"  chosen rows' remaining seeds: {len(known)} missing"
                             + (f"; {len(later)} more once the pending selections are made (~{format_duration(est)}"
                                " of runs, counted below)" if later else ""))
            for c in later:
                t_cfgs[f"pending {run_id(c)}"] = (c, "missing")
        all_cfgs.update(t_cfgs)
        miss = [c for c, s in t_cfgs.values() if s != "done"]
        total = schedule([sweep_estimate(c, scale, workers) for c in miss], workers)
        lines.append(f"  {name}: {len(t_cfgs)} distinct runs, {len(t_cfgs) - len(miss)} done, {len(miss)} missing; "
                     f"estimated {format_duration(total)} for this table alone with --workers {workers}")
        lines.append("")
    if len(specs) > 1:
        miss = [c for c, s in all_cfgs.values() if s != "done"]
        total = schedule([sweep_estimate(c, scale, workers) for c in miss], workers)
        lines.append(f"all {len(specs)} tables: {len(all_cfgs)} distinct runs (shared runs counted once), "
                     f"{len(all_cfgs) - len(miss)} done, {len(miss)} missing; estimated {format_duration(total)} "
                     f"with --workers {workers}")
    tm = TIME_MODEL[scale]
    threads = f"; {max(1, (os.cpu_count() or 1) // workers)} thread(s) per run" if tm["threads"] is not None else ""
    lines.append(f"time model ({scale}): {tm['source']}{threads}")
    return "\n".join(lines)

