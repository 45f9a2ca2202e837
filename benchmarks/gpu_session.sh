#!/usr/bin/env bash
# One prepared GPU session: the measurements of issue 7 (speed) and the runs of issue 8 (paper scale), in
# stages that fit the device tool's calls (at most 10 minutes each; 15 minutes of device time per session).
#
#   BUDGET_S=570 OUT=$OUT bash benchmarks/gpu_session.sh STAGE [STAGE ...]
#
# Stages (in the order worth running them; rough H100/H200 durations are guesses until measured):
#   env        GPU, driver and package versions
#   sync       benchmarks/sync_check.py: host syncs per epoch of every mixing method (none per step)
#   speed      benchmarks/speed.py on CIFAR-shaped random data (50,000 x 3 x 32 x 32): reference loop vs ours in
#              bf16, fp32 (IEEE, no TF32), bf16 + torch.compile with CUDA graphs (reduce-overhead), and a profile
#   speed-fm   the same on real Fashion-MNIST (reference, bf16), and 2 and 4 runs at once
#   precision  Fashion-MNIST mixup, 30 epochs, bf16 and fp32 (IEEE), seeds 0-2, a pair at a time -> results/precision
#   headline   issue 8 step 1: erm, mixup, label smoothing, mixup + LS; PreAct ResNet-18; seeds 0-2 -> results/paper
#   ablation   issue 8 step 2: the ablation rows at weight decay 1e-4 and 5e-4, seed 0
#   noise      issue 8 step 3: 50 % label noise, ERM vs mixup alpha 8 and 32, seed 0
#
# Every stage runs under `timeout`, ending 30 s before BUDGET_S (default 540 s) and skipped when too little is
# left; SIGTERM makes every unfinished training run write a checkpoint, and calling the stage again (while the
# machine is still warm) resumes it. After every stage the new results files and the logs are packed into
# $OUT/session.tgz (relative paths: unpack it in the repository root), so a call cut short still brings back
# what finished. WORKERS: training runs at once on the GPU (default 4); COMPILE: the torch.compile mode of the
# table stages (default none; reduce-overhead if speed-fm shows it faster).
# Data: Fashion-MNIST's four .gz files in .data/fashion-mnist/ (carry .data); see benchmarks/README.md.
# SMOKE=1: the same stages at toy size on the CPU, writing under $OUT/smoke only (make test runs it, so that the
# script itself is known to work before a GPU session is spent on it). DRY_RUN=1: the table stages only list
# their runs. The stages on Fashion-MNIST refuse to start (exit 2) when its four files are not there: with no
# network, a download attempt would only waste the call. The commit is read from .git, or from
# MIXUP_REPRO_GIT_COMMIT where the copy has no .git (the env stage warns when neither gives it).
# Exit status: 2 for an unknown stage (nothing runs), 1 if a stage failed (the others still ran and everything
# finished is packed), 0 otherwise; a stage stopped at the time limit is not a failure.
set -u -o pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 MIXUP_REPRO_DATA="${MIXUP_REPRO_DATA:-$PWD/.data}"
OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
BUDGET_S="${BUDGET_S:-540}"; WORKERS="${WORKERS:-4}"; PY="${PYTHON:-python3}"  # the device image has python3 only
if [ "${SMOKE:-0}" = 1 ]; then  # toy sizes on the CPU; nothing written outside $OUT
  W="$OUT/smoke"; BENCH_OUT="$W/benchmarks"; PAPER_OUT="$W/paper"; PREC_OUT="$W/precision"; LOGS="$W/logs"
  SCALE=smoke; TINY=(--device cpu --width 4 --subset 10 --test-subset 5)
  SPEED=("${TINY[@]}" --epochs 2 --reference-epochs 2 --num-workers 2 --profile-steps 8 --concurrency-epochs 3)
  VARIANTS=(fp32); VARIANTS_FM=(fp32); PREC=(--epochs 2 "${TINY[@]}"); PRECS=(fp32); CONC=(2)
else
  BENCH_OUT=benchmarks/results; PAPER_OUT=results/paper; PREC_OUT=results/precision; LOGS=results/tmp/session
  SCALE=paper; SPEED=(--epochs 5 --reference-epochs 3 --concurrency-epochs 5)
  VARIANTS=(bf16 fp32 bf16-reduce-overhead); VARIANTS_FM=(bf16)
  PREC=(--epochs 30); PRECS=(bf16 fp32); CONC=(2 4)
fi
mkdir -p "$LOGS"
STAGES=" env sync speed speed-fm precision headline ablation noise "
FMNIST_FILES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
fmnist_here() {  # the four files in one of the folders the loader searches first
  local d f
  # (FMNIST_SYSTEM_DIR: a hook for the tests; the loader's system folder is fixed)
  for d in "$MIXUP_REPRO_DATA/fashion-mnist" "$MIXUP_REPRO_DATA" "$MIXUP_REPRO_DATA/FashionMNIST/raw" \
    "${FMNIST_SYSTEM_DIR:-/usr/share/datasets/fashion-mnist}"; do
    for f in $FMNIST_FILES; do [ -f "$d/$f.gz" ] || [ -f "$d/$f" ] || continue 2; done
    return 0
  done
  return 1
}
for stage in "$@"; do
  case "$STAGES" in *" $stage "*) ;; *) echo "unknown stage '$stage'; stages:$STAGES" >&2; exit 2 ;; esac
  case "$stage" in env|speed) ;; *)
    [ -n "${DRY_RUN:-}" ] && continue  # listing the runs needs no data
    if ! fmnist_here; then
      echo "stage '$stage' needs Fashion-MNIST ($FMNIST_FILES, .gz) in $MIXUP_REPRO_DATA/fashion-mnist:" \
        "copy them there and carry .data (benchmarks/README.md); nothing ran" >&2
      exit 2
    fi ;;
  esac
done
FAILED=()
T0=$(date +%s)
left() { echo $(( BUDGET_S - ($(date +%s) - T0) )); }
say() { echo "== $(date -u +%H:%M:%S) [$(( $(date +%s) - T0 )) s] $*" | tee -a "$LOGS/session.log"; }

# limited MIN_S CMD...: run CMD with a time limit 30 s before the budget; skip it if less than MIN_S would remain
limited() {
  local min=$1; shift
  local t=$(( $(left) - 30 ))
  if [ "$t" -lt "$min" ]; then say "skipped (only $t s left, needs $min): $*"; return 0; fi
  timeout -s TERM -k 20 "$t" "$@"
  local rc=$?
  if [ $rc -eq 124 ]; then say "stopped at the time limit ($t s): $1 $2"; return 0; fi
  return $rc
}

pack() {
  find "$BENCH_OUT" "$PAPER_OUT" "$PREC_OUT" -maxdepth 2 -name '*.json' -newermt "@$T0" \
    2>/dev/null > "$LOGS/new_files.txt"
  tar czf "$OUT/session.tgz" -T "$LOGS/new_files.txt" "$LOGS" 2>/dev/null
}

run_table() {  # run_table NAME ARGS...: rows of NAME at paper scale on Fashion-MNIST, WORKERS at once
  local name=$1; shift
  limited 120 "$PY" -m mixup_repro table "$name" --scale "$SCALE" --dataset fashion-mnist --out "$PAPER_OUT" \
    --workers "$WORKERS" --compile "${COMPILE:-none}" --quiet ${DRY_RUN:+--dry-run} "$@" 2>&1 \
    | tail -n 30 | tee -a "$LOGS/$name.log"
}

for stage in "$@"; do
  say "stage $stage"
  ok=0
  case "$stage" in
    env)
      if command -v nvidia-smi > /dev/null; then
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv
      fi
      "$PY" -c "import torch, torchvision, sys; print(sys.version.split()[0], 'torch', torch.__version__, \
'cuda', torch.version.cuda, 'torchvision', torchvision.__version__, torch.cuda.is_available() and \
torch.cuda.get_device_name(0))" 2>&1 | tee "$LOGS/env.log"
      # torch.compile needs Triton and a C compiler (Triton builds a helper module on first use)
      "$PY" -c "import triton; print('triton', triton.__version__)" 2>&1 | tail -n 1 | tee -a "$LOGS/env.log"
      echo "C compiler: $(command -v gcc || command -v cc || echo 'none (torch.compile will fail)')" \
        | tee -a "$LOGS/env.log"
      "$PY" -c "from mixup_repro.results import git_commit; c = git_commit(); print('commit', c or \
'UNKNOWN: set MIXUP_REPRO_GIT_COMMIT (the records will say git_commit null)')" 2>&1 | tee -a "$LOGS/env.log"
      ls -l "$MIXUP_REPRO_DATA/fashion-mnist" 2>&1 | tee -a "$LOGS/env.log" || true ;;
    sync)
      if [ "$SCALE" = smoke ]; then say "skipped sync: it needs a GPU"; pack; continue; fi
      mkdir -p "$BENCH_OUT/sync"
      limited 60 "$PY" benchmarks/sync_check.py \
        --out "$BENCH_OUT/sync/sync_check_$(date -u +%Y%m%dT%H%M%S).json" 2>&1 | tee "$LOGS/sync.log" || ok=$? ;;
    speed)
      limited 240 "$PY" benchmarks/speed.py --dataset random-cifar "${SPEED[@]}" --out "$BENCH_OUT" \
        --label "issue 7" --variants "${VARIANTS[@]}" --profile 2>&1 | tee "$LOGS/speed.log" || ok=$? ;;
    speed-fm)
      limited 240 "$PY" benchmarks/speed.py --dataset fashion-mnist "${SPEED[@]}" --out "$BENCH_OUT" \
        --label "issue 7" --variants "${VARIANTS_FM[@]}" --concurrency "${CONC[@]}" 2>&1 | tee "$LOGS/speed-fm.log" || ok=$? ;;
    precision)
      # a seed at a time, bf16 and fp32 side by side: a stage cut short by the time limit leaves whole pairs
      # done, and a later session runs only the missing ones (finished results are reused, not run again)
      for s in 0 1 2; do
        t=$(( $(left) - 30 ))
        if [ "$t" -lt 60 ]; then say "precision: seed $s not started, only $t s left"; continue; fi
        pids=()
        for p in "${PRECS[@]}"; do
          timeout -s TERM -k 20 "$t" "$PY" -m mixup_repro train --dataset fashion-mnist --method mixup \
            "${PREC[@]}" --precision "$p" --seed "$s" --out "$PREC_OUT" --quiet > "$LOGS/precision_${p}_$s.log" 2>&1 &
          pids+=($!)
        done
        for pid in "${pids[@]}"; do wait "$pid" || { rc=$?; [ $rc -eq 124 ] || ok=$rc; }; done
      done
      tail -n 1 "$LOGS"/precision_*.log ;;
    headline)
      run_table headline --seeds 0 1 2 --rows "ERM [model=PreAct ResNet-18]" "mixup α=1 [model=PreAct ResNet-18]" \
        "label smoothing ε=0.1 [model=PreAct ResNet-18]" "mixup + label smoothing ε=0.1 [model=PreAct ResNet-18]" \
        || ok=$? ;;
    ablation)
      rows=()
      for wd in 1e-4 5e-4; do
        for r in "ERM" "mixup AC + RP" "label smoothing ε=0.05" "label smoothing ε=0.1" "label smoothing ε=0.2" \
          "mix inputs + label smoothing ε=0.05" "mix inputs + label smoothing ε=0.1" \
          "mix inputs + label smoothing ε=0.2" "mixup + label smoothing ε=0.05" "mixup + label smoothing ε=0.1" \
          "mixup + label smoothing ε=0.2"; do rows+=("$r [weight decay=$wd]"); done
      done
      run_table ablation --seeds 0 --rows "${rows[@]}" || ok=$? ;;
    noise)
      run_table label_noise --seeds 0 --rows "ERM [label noise=50%]" "mixup α=8 [label noise=50%]" \
        "mixup α=32 [label noise=50%]" || ok=$? ;;
  esac
  if [ "$ok" -ne 0 ]; then FAILED+=("$stage"); say "stage $stage FAILED (exit $ok)"; fi
  pack
done
say "done"
pack
echo "new results files: $(wc -l < "$LOGS/new_files.txt") (in $OUT/session.tgz); time left in this call: $(left) s"
if [ ${#FAILED[@]} -gt 0 ]; then echo "failed stages: ${FAILED[*]}"; exit 1; fi
