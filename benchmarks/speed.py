"""Time the reference training loop and this library's on the same machine, in the same run.

    python benchmarks/speed.py --device cuda --dataset random-cifar           # the issue's CIFAR-shaped data
    python benchmarks/speed.py --device cuda --dataset fashion-mnist
    python benchmarks/speed.py --device cpu --width 8 --subset 50 --epochs 3  # small, for any machine

Both loops train PreAct ResNet-18 (the library's) with mixup (α = 1), SGD lr 0.1, momentum 0.9, weight decay
1e-4, batch 128. The reference (``benchmarks/reference.py``) is the official code's loop: per-image PIL
transforms in a DataLoader with ``--num-workers`` workers, fp32, a host sync every step. Ours is
:func:`mixup_repro.fit` in each ``--variants`` setting (``PRECISION[-COMPILE_MODE]``, e.g. ``bf16``,
``fp32``, ``bf16-default``, ``bf16-reduce-overhead``). Seconds per epoch are the median over epochs 2..N
(the first epoch carries warm-up and compilation, reported apart). Writes one JSON record to ``--out``
(see :mod:`mixup_repro.speed`) and prints a table.

The record is rewritten after every phase (the reference, each variant, the concurrent runs, the profile), so
a run cut short by a time limit (SIGTERM) or a failing phase keeps what was measured: a failed phase is named
with its error under ``errors`` (exit status 1), a stop by signal under ``stopped`` (exit status 0), and
``complete`` is true only when every phase ran.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import sys
import time
import traceback
import warnings
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))
# compile times are measured cold, as on a fresh machine: no Inductor / AOTAutograd cache from earlier runs
COLD_CACHE = {"TORCHINDUCTOR_FX_GRAPH_CACHE": "0", "TORCHINDUCTOR_AUTOGRAD_CACHE": "0"}
for _k, _v in COLD_CACHE.items():
    os.environ.setdefault(_k, _v)

import torch  # noqa: E402

from benchmarks import reference  # noqa: E402
from mixup_repro import TrainConfig, fit  # noqa: E402
from mixup_repro.checkpoint import Interrupted  # noqa: E402
from mixup_repro.data import load_dataset, subset_per_class  # noqa: E402
from mixup_repro.models import build_model  # noqa: E402
from mixup_repro.results import device_name, git_commit, versions  # noqa: E402
from mixup_repro.runtime import cudnn_tf32  # noqa: E402
from mixup_repro.speed import SCHEMA, speed_table, train_flops_per_image, write_speed_result  # noqa: E402
from mixup_repro.train import COMPILE_MODES  # noqa: E402


class _TimeUp(BaseException):
    """SIGTERM outside :func:`mixup_repro.fit` (which turns it into :class:`Interrupted` after a checkpoint)."""


def _raise_time_up(signum, frame):
    raise _TimeUp("SIGTERM")


def parse_variant(text: str) -> tuple[str, str]:
    precision, _, mode = text.partition("-")
    mode = mode or "none"
    if precision not in ("fp32", "bf16") or mode not in COMPILE_MODES:
        raise argparse.ArgumentTypeError(f"--variants: {text!r} is not PRECISION[-MODE] with PRECISION in fp32, "
                                         f"bf16 and MODE in {', '.join(COMPILE_MODES)}")
    return precision, mode


def variant_name(variant) -> str:
    precision, mode = variant
    return precision + ("" if mode == "none" else f"-{mode}")


def ours_config(args, variant, device, **overrides) -> TrainConfig:
    """The benchmark's run of ours: mixup (α = 1) under the paper's optimiser, in ``variant`` (precision, mode)."""
    precision, mode = variant
    kw = dict(dataset=args.dataset, model=args.model, width=args.width, method="mixup", alpha=1.0,
              batch_size=args.batch_size, epochs=args.epochs, subset=args.subset, test_subset=args.test_subset,
              precision=precision, compile=mode, device=str(device), checkpoint_every=0, seed=0,
              eval_train=not getattr(args, "no_eval_train", False))
    return TrainConfig(**(kw | overrides))


def _median_2n(times):
    return statistics.median(times[1:]) if len(times) > 1 else times[0]


def _rates(num_train: int, flops: float, s_per_epoch: float) -> dict:
    """Images per second and achieved TFLOP/s of an epoch of ``num_train`` images in ``s_per_epoch`` seconds."""
    return {"images_per_s": num_train / s_per_epoch, "tflops": flops * num_train / s_per_epoch / 1e12}


def _peak_gib(device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def _reset_peak(device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def time_reference(args, ds, device, flops) -> dict:
    """Train ``--reference-epochs`` epochs of the official loop; per-epoch wall times."""
    torch.manual_seed(0)
    model = build_model(args.model, ds.num_classes, ds.in_channels, width=args.width).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = ds.x_train.permute(0, 2, 3, 1).numpy()  # (N, H, W, C) uint8, as torchvision stores CIFAR-10
    x = x[..., 0] if x.shape[-1] == 1 else x  # grayscale: (N, H, W), PIL mode "L"
    data = reference.ArrayImageDataset(x, ds.y_train.numpy(),
                                       reference.official_transform(x.shape[1], ds.mean, ds.std))
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch_size, shuffle=True, num_workers=args.num_workers)
    torch.backends.cudnn.benchmark = True  # as the official train.py (fit sets it on CUDA too)
    _reset_peak(device)
    epochs = [reference.train_epoch(model, loader, opt, device, alpha=1.0) for _ in range(args.reference_epochs)]
    secs = [e["seconds"] for e in epochs]
    med = _median_2n(secs)
    return {"num_workers": args.num_workers, "epochs": len(secs), "epoch_s": [round(s, 4) for s in secs],
            "first_epoch_s": secs[0], "s_per_epoch": med, **_rates(ds.num_train, flops, med),
            "peak_mem_gib": _peak_gib(device),
            "train_loss_last": epochs[-1]["train_loss"]}


def time_ours(args, variant, ds, device, flops) -> dict:
    precision, mode = variant
    torch._dynamo.reset()  # no compiled code carried over from the previous variant: its compile time counts
    cfg = ours_config(args, variant, device)
    _reset_peak(device)
    t0 = time.perf_counter()
    res = fit(cfg, None, quiet=True, keep_model=False)
    wall = time.perf_counter() - t0
    t = res.record["timing"]
    med = t["median_epoch_s"] or t["first_epoch_s"]
    return {"name": variant_name(variant), "precision": precision, "compile": mode,
            "channels_last": res.record["channels_last_used"], "tf32_training": res.record.get("tf32_training"),
            "epochs": args.epochs,
            "epoch_s": t["epoch_train_s"], "first_epoch_s": t["first_epoch_s"], "warmup_s": t["warmup_s"],
            "s_per_epoch": med, **_rates(ds.num_train, flops, med), "eval_s": t["median_eval_s"],
            "peak_mem_gib": _peak_gib(device), "wall_s": round(wall, 3),
            "projected_200_epoch_s": round(t["warmup_s"] + 200 * (med + t["median_eval_s"]), 1)
            if t["warmup_s"] is not None else None,
            "final_test_error": res.summary["final_error"]}


def time_concurrent(args, k: int, variant, device) -> dict:
    """``k`` training runs at once, as separate processes on the same device, as ``table --workers k`` starts them.

    Each is ``python -m mixup_repro train`` (seed 0..k-1, ``--concurrency-epochs`` epochs). Their start-up
    (imports, data, compilation) differs, so throughput is counted only in the window where all ``k`` are
    past their first epoch and none has finished: the epochs that end inside it, times the images per epoch,
    over its length (the window includes their per-epoch evaluations). ``lower_bound_images_per_s`` counts
    every training image over the wall time of the whole call.
    """
    import json
    import subprocess
    import tempfile

    from mixup_repro.experiments import train_command
    from mixup_repro.sweep import child_env

    epochs = args.concurrency_epochs
    with tempfile.TemporaryDirectory() as tmp:
        cmds = [train_command(ours_config(args, variant, device, epochs=epochs, seed=i), tmp, python=sys.executable)
                for i in range(k)]
        logs = [open(Path(tmp) / f"stderr_{i}.txt", "w") for i in range(k)]  # files, not pipes: no child blocks
        env = [dict(child_env(i, k, []), PYTHONPATH=str(ROOT)) for i in range(k)]
        t0 = time.perf_counter()
        procs = [subprocess.Popen(c, cwd=ROOT, env=e, stdout=subprocess.DEVNULL, stderr=f)
                 for c, e, f in zip(cmds, env, logs)]
        try:
            codes = [p.wait() for p in procs]
        finally:  # stopped (time limit) or failed: no child outlives its temporary folder
            for p in procs:
                if p.poll() is None:
                    p.terminate()
            for p in procs:
                p.wait()
            for f in logs:
                f.close()
        wall = time.perf_counter() - t0
        if any(codes):
            i = next(i for i, c in enumerate(codes) if c)
            raise RuntimeError(f"concurrent run {i} failed: " + (Path(tmp) / f"stderr_{i}.txt").read_text()[-800:])
        recs = [json.loads(f.read_text()) for f in sorted(Path(tmp).glob("*.json"))]
    n = recs[0]["summary"]["num_train"]
    ends = [r["timing"]["epoch_end_unix"] for r in recs]
    start, stop = max(e[0] for e in ends), min(e[-1] for e in ends)
    inside = sum(1 for e in ends for t in e[1:] if start < t <= stop)
    overlap = stop - start
    agg = inside * n / overlap if overlap > 0 and inside else None
    return {"runs": k, "variant": variant_name(variant), "epochs": epochs,
            "s_per_epoch_each": sorted(r["timing"]["median_epoch_s"] for r in recs),
            "overlap_s": round(overlap, 3), "epochs_in_overlap": inside, "aggregate_images_per_s": agg,
            "lower_bound_images_per_s": k * epochs * n / wall, "wall_s": round(wall, 2)}


def profile_ours(args, variant, device, steps: int = 60) -> dict:
    """Profile ``steps`` training steps of one variant with :mod:`torch.profiler`: where the time goes.

    One run of 2 epochs of ``steps`` steps each (compiled code of an earlier run of the same variant is
    reused where its guards allow); the profiler skips the first epoch (warm-up, compilation) and
    the first 5 steps of the second, then records the rest of its training steps (not the evaluation). Returns
    the device's busy time (the sum of its kernels' times) against the wall time of the recorded steps: a
    ratio well under 1 means the GPU waits for the host (launch-bound), near 1 that the kernels are the cost;
    and the 15 operators with the most device (on the CPU: host) time.
    """
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile, schedule

    per_class = max(1, steps * args.batch_size // 10)  # 10 classes: exactly `steps` full batches per epoch
    cfg = ours_config(args, variant, device, epochs=2, subset=per_class, test_subset=10)
    cuda = device.type == "cuda"
    warm, active = 5, steps - 5
    marks, count = {}, [0]

    def sync_time():
        if cuda:
            torch.cuda.synchronize(device)
        return time.perf_counter()

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=acts, schedule=schedule(wait=steps, warmup=warm, active=active, repeat=1)) as prof:
        def on_step():
            i = count[0]
            if i in (steps + warm - 1, steps + warm + active - 1):  # the recorded window's two ends
                marks[i] = sync_time()
            count[0] += 1
            prof.step()

        fit(cfg, None, quiet=True, keep_model=False, on_step=on_step)
    wall = marks[steps + warm + active - 1] - marks[steps + warm - 1]
    events = prof.key_averages()
    if cuda:
        kernels = [e for e in events if e.device_type == DeviceType.CUDA and not getattr(e, "is_user_annotation", False)]
        key = "self_device_time_total"
    else:
        kernels, key = list(events), "self_cpu_time_total"
    busy = sum(getattr(e, key) for e in kernels) / 1e6
    top = sorted(kernels, key=lambda e: getattr(e, key), reverse=True)[:15]
    return {"variant": variant_name(variant), "steps": active,
            "wall_s": wall, "device_busy_s": busy if cuda else None, "busy_fraction": busy / wall if cuda else None,
            "top": [{"op": e.key, "s": getattr(e, key) / 1e6, "calls": e.count} for e in top]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dataset", default="random-cifar", choices=("random-cifar", "fashion-mnist", "cifar10"))
    p.add_argument("--model", default="preact_resnet18")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--subset", type=int, default=None, help="training images per class (default: all)")
    p.add_argument("--test-subset", type=int, default=None, help="test images per class (default: all)")
    p.add_argument("--epochs", type=int, default=5, help="epochs of each of our variants (median of 2..N)")
    p.add_argument("--reference-epochs", type=int, default=3, help="epochs of the reference loop")
    p.add_argument("--num-workers", type=int, default=8, help="DataLoader workers of the reference (official: 8)")
    p.add_argument("--variants", type=parse_variant, nargs="+", default=[("bf16", "none"), ("fp32", "none")])
    p.add_argument("--no-reference", action="store_true", help="time our variants only")
    p.add_argument("--reference-last", action="store_true",
                   help="time our variants first, then the reference (a limited call then measures ours first)")
    p.add_argument("--no-eval-train", action="store_true",
                   help="our runs leave out the per-epoch training-error curve (as `train --no-eval-train`)")
    p.add_argument("--concurrency", type=int, nargs="*", default=[], metavar="K",
                   help="also time K runs at once as separate processes (table --workers K), for each K given")
    p.add_argument("--concurrency-epochs", type=int, default=8,
                   help="epochs of each concurrent run (enough for the runs to overlap after their start-up)")
    p.add_argument("--profile", action="store_true",
                   help="also profile training steps of the fastest variant (where the time goes)")
    p.add_argument("--profile-steps", type=int, default=60,
                   help="steps per epoch of the profiled run; all but the first 5 of epoch 2 are recorded")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--label", default="", help="free text stored with the record")
    args = p.parse_args(argv)
    for name in ("epochs", "reference_epochs", "batch_size", "width"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.num_workers < 0:
        p.error("--num-workers must be >= 0")
    if args.profile_steps < 6:
        p.error("--profile-steps must be >= 6 (5 warm-up steps, then at least one recorded)")
    if any(k < 1 for k in args.concurrency) or args.concurrency_epochs < 3:
        p.error("--concurrency values must be >= 1 and --concurrency-epochs >= 3")
    device = torch.device(args.device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", 0)

    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t_all = time.perf_counter()
    ds = load_dataset(args.dataset)
    if args.subset is not None:
        ds = ds.select_train(subset_per_class(ds.y_train, args.subset, seed=0))
    model = build_model(args.model, ds.num_classes, ds.in_channels, width=args.width)
    flops = train_flops_per_image(model, ds.input_shape)
    print(f"{args.dataset}: {ds.num_train} training images {tuple(ds.input_shape)}; {args.model} width {args.width}: "
          f"{flops / 1e9:.3f} GFLOP per image per training step; device {device_name(device)}", flush=True)
    record = {
        "schema": SCHEMA, "device": device_name(device), "dataset": args.dataset, "model": args.model,
        "batch_size": args.batch_size, "num_train": ds.num_train, "input_shape": list(ds.input_shape),
        "train_flops_per_image": flops, "data_source": ds.source, "reference_s_per_epoch": None, "ours_s_per_epoch": None,
        "ours_best_variant": None, "speedup": None, "reference": {}, "variants": [], "concurrent": [],
        "profile": None, "complete": False, "errors": {}, "stopped": None,
        "settings": {"width": args.width, "epochs": args.epochs, "reference_epochs": args.reference_epochs,
                     "subset": args.subset, "test_subset": args.test_subset, "method": "mixup", "alpha": 1.0,
                     "optimizer": "sgd lr 0.1 momentum 0.9 wd 1e-4", "statistic": "median s/epoch over epochs 2..N",
                     "eval_train": not args.no_eval_train,
                     "label": args.label},
        "compile_caches": {k: os.environ.get(k) for k in COLD_CACHE}, "backends": {},
        "versions": versions(), "git_commit": git_commit(), "started": started, "wall_s": None,
        "host": platform.node(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
    }

    def save() -> Path:
        done = record["variants"]
        best = min(done, key=lambda v: v["s_per_epoch"]) if done else None
        ref_s = record["reference"].get("s_per_epoch")
        # the global flags as the loops left them: the reference runs under PyTorch's defaults (TF32 cuDNN
        # convolutions on a GPU); our fp32 variants turn TF32 off in their training steps (``tf32_training``)
        record["backends"] = {"cudnn_benchmark": torch.backends.cudnn.benchmark, "cudnn_allow_tf32": cudnn_tf32()}
        record.update(reference_s_per_epoch=ref_s, ours_s_per_epoch=best and best["s_per_epoch"],
                      ours_best_variant=best and best["name"],
                      speedup=ref_s / best["s_per_epoch"] if ref_s and best else None,
                      wall_s=round(time.perf_counter() - t_all, 1))
        return write_speed_result(record, args.out)

    def run_phase(name: str, fn) -> bool:
        """Run one phase; record its failure or a stop by signal, then rewrite the record. False: stop here."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fn()
        except (Interrupted, _TimeUp) as e:
            record["stopped"] = f"{name}: {e.signame if isinstance(e, Interrupted) else e}"
            print(f"stopped during {record['stopped']}; the record keeps the phases before it", flush=True)
            return False
        except Exception as e:  # noqa: BLE001 - one failed phase must not lose the others' measurements
            record["errors"][name] = f"{type(e).__name__}: {e}"[:2000]
            traceback.print_exc()
            print(f"{name} FAILED: {type(e).__name__}: {e}", flush=True)
        finally:
            save()
        return True

    def reference_phase():
        ref = time_reference(args, ds, device, flops)
        record["reference"] = ref
        print(f"reference: {ref['s_per_epoch']:.3f} s/epoch (epochs {ref['epoch_s']})", flush=True)

    def variant_phase(variant):
        v = time_ours(args, variant, ds, device, flops)
        record["variants"].append(v)
        print(f"ours {v['name']}: {v['s_per_epoch']:.3f} s/epoch (epochs {v['epoch_s']})", flush=True)

    def concurrent_phase(k, variant):
        record["concurrent"].append(time_concurrent(args, k, variant, device))
        c = record["concurrent"][-1]
        together = "no overlap" if c["aggregate_images_per_s"] is None else \
            f"{c['aggregate_images_per_s']:,.0f} images/s together over {c['overlap_s']:.1f} s of overlap"
        print(f"{k} runs at once ({c['variant']}): {together} (at least {c['lower_bound_images_per_s']:,.0f} "
              f"over the whole {c['wall_s']:.0f} s)", flush=True)

    def profile_phase(variant):
        prof = record["profile"] = profile_ours(args, variant, device, steps=args.profile_steps)
        busy = prof["busy_fraction"]
        print(f"profile of {prof['variant']}: " + (f"device busy {100 * busy:.0f} % of the training time; "
              if busy is not None else "") + "top: " + ", ".join(f"{t['op']} {t['s']:.3f} s" for t in prof["top"][:5]))

    def phases():
        if not args.no_reference and not args.reference_last:
            yield "reference", reference_phase
        for v in args.variants:
            yield f"ours {variant_name(v)}", lambda v=v: variant_phase(v)
        if not args.no_reference and args.reference_last:
            yield "reference", reference_phase
        done = record["variants"]
        eager = [v for v in done if v["compile"] == "none"] or done  # as `table --workers K` runs by default
        if args.concurrency and eager:
            pick = min(eager, key=lambda v: v["s_per_epoch"])
            for k in args.concurrency:
                yield f"{k} at once", lambda k=k: concurrent_phase(k, (pick["precision"], pick["compile"]))
        if args.profile and done:
            best = min(done, key=lambda v: v["s_per_epoch"])
            yield "profile", lambda: profile_phase((best["precision"], best["compile"]))

    previous = signal.signal(signal.SIGTERM, _raise_time_up)  # outside fit (which checkpoints) too
    try:
        for name, fn in phases():
            if not run_phase(name, fn):
                break
        else:
            record["complete"] = not record["errors"]
    except _TimeUp:  # between two phases (e.g. while a record was written, atomically)
        record["stopped"] = "between phases: SIGTERM"
    finally:
        signal.signal(signal.SIGTERM, previous)  # a second SIGTERM now ends the process; the last record stays
    path = save()
    print(speed_table([dict(record, file=str(path))]))
    print(f"wrote {path}")
    return 1 if record["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
