#!/usr/bin/env bash
# One prepared GPU session: the measurements of issue 7 (speed) and the runs of issue 8 (paper scale), in
# stages that fit the device tool's calls (at most 10 minutes each; 15 minutes of device time per session).
#
#   bash benchmarks/gpu_session.sh STAGE [STAGE ...]
#
# Stages (in the order worth running them):
#   env        GPU, driver and package versions
#   sync       benchmarks/sync_check.py: host syncs per epoch of every mixing method (none per step)
#   speed      benchmarks/speed.py on CIFAR-shaped random data (50,000 x 3 x 32 x 32): reference loop vs ours
#              in bf16, fp32, bf16 + torch.compile, bf16 + CUDA graphs (reduce-overhead)
#   speed-fm   the same on real Fashion-MNIST (reference, bf16, bf16 + CUDA graphs)
#   precision  Fashion-MNIST mixup, 30 epochs, bf16 and fp32, seeds 0-2, six runs at once -> results/precision
#   headline   issue 8 step 1: erm, mixup, label smoothing, mixup + LS; PreAct ResNet-18; seeds 0-2 -> results/paper
#   ablation   issue 8 step 2: the ablation rows at weight decay 1e-4 and 5e-4, seed 0
#   noise      issue 8 step 3: 50 % label noise, ERM vs mixup alpha 8 and 32, seed 0
#
# Environment: BUDGET_S (seconds this call may use, default 540): the run stages stop with SIGTERM before it,
# which checkpoints every unfinished run; calling the stage again resumes them (checkpoints are ignored files,
# kept on the machine while it stays warm). WORKERS (runs at once on the GPU, default 6). OUT (default
# /tmp/out): session.tgz there holds every new results file and the logs.
# Data: Fashion-MNIST's four .gz files in .data/fashion-mnist/ (carry .data); see benchmarks/README.md.
set -u
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 MIXUP_REPRO_DATA="${MIXUP_REPRO_DATA:-$PWD/.data}"
OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
BUDGET_S="${BUDGET_S:-540}"; WORKERS="${WORKERS:-6}"
T0=$(date +%s)
left() { echo $(( BUDGET_S - ($(date +%s) - T0) )); }
say() { echo "== $(date -u +%H:%M:%S) [$(( $(date +%s) - T0 )) s] $*"; }

run_table() {  # run_table NAME ROW... : the rows at paper scale on Fashion-MNIST, stopped before the budget
  local name=$1; shift
  local t=$(( $(left) - 45 ))
  if [ "$t" -lt 60 ]; then say "skip $name: $(left) s left"; return; fi
  say "table $name for at most $t s"
  timeout -s TERM -k 40 "$t" python -m mixup_repro table "$name" --scale paper --dataset fashion-mnist \
    --out results/paper --workers "$WORKERS" --quiet "$@" 2>&1 | tail -n 40
}

for stage in "$@"; do
  say "stage $stage"
  case "$stage" in
    env)
      nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv
      python -c "import torch, torchvision, sys; print(sys.version.split()[0], 'torch', torch.__version__, \
'cuda', torch.version.cuda, 'torchvision', torchvision.__version__, torch.cuda.get_device_name(0))"
      ls -l "$MIXUP_REPRO_DATA/fashion-mnist" ;;
    sync)
      mkdir -p benchmarks/results/sync
      python benchmarks/sync_check.py --out "benchmarks/results/sync/sync_check_$(date -u +%Y%m%dT%H%M%S).json" ;;
    speed)
      python benchmarks/speed.py --dataset random-cifar --epochs 5 --reference-epochs 3 --label "issue 7" \
        --variants bf16 fp32 bf16-default bf16-reduce-overhead --profile ;;
    speed-fm)
      python benchmarks/speed.py --dataset fashion-mnist --epochs 5 --reference-epochs 3 --label "issue 7" \
        --variants bf16 bf16-reduce-overhead ;;
    precision)
      for p in bf16 fp32; do for s in 0 1 2; do
        timeout -s TERM -k 40 $(( $(left) - 45 )) python -m mixup_repro train --dataset fashion-mnist \
          --method mixup --epochs 30 --precision $p --seed $s --out results/precision --quiet \
          > "$OUT/precision_${p}_$s.log" 2>&1 &
      done; done
      wait; tail -n 2 "$OUT"/precision_*.log ;;
    headline)
      run_table headline --seeds 0 1 2 --rows "ERM [model=PreAct ResNet-18]" "mixup α=1 [model=PreAct ResNet-18]" \
        "label smoothing ε=0.1 [model=PreAct ResNet-18]" "mixup + label smoothing ε=0.1 [model=PreAct ResNet-18]" ;;
    ablation)
      rows=()
      for wd in 1e-4 5e-4; do
        for r in "ERM" "mixup AC + RP" "label smoothing ε=0.05" "label smoothing ε=0.1" "label smoothing ε=0.2" \
          "mix inputs + label smoothing ε=0.05" "mix inputs + label smoothing ε=0.1" \
          "mix inputs + label smoothing ε=0.2" "mixup + label smoothing ε=0.05" "mixup + label smoothing ε=0.1" \
          "mixup + label smoothing ε=0.2"; do rows+=("$r [weight decay=$wd]"); done
      done
      run_table ablation --seeds 0 --rows "${rows[@]}" ;;
    noise)
      run_table label_noise --seeds 0 --rows "ERM [label noise=50%]" "mixup α=8 [label noise=50%]" \
        "mixup α=32 [label noise=50%]" ;;
    *) echo "unknown stage $stage" >&2 ;;
  esac
done
say "done; packing"
find benchmarks/results results/paper results/precision -maxdepth 2 -name '*.json' -newermt "@$T0" 2>/dev/null \
  > "$OUT/new_files.txt"
tar czf "$OUT/session.tgz" -T "$OUT/new_files.txt" "$OUT"/*.log 2>/dev/null
python -m mixup_repro table headline --scale paper --dataset fashion-mnist --out results/paper --dry-run 2>&1 | tail -n 3
echo "new files: $(wc -l < "$OUT/new_files.txt"); device time left in this call: $(left) s"
