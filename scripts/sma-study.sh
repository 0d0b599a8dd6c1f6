#!/usr/bin/env bash
# The Sparse Modular Activation study of docs/adaptation.md: a gated model with the gate always
# on against SMA models at several rate penalties, on denoise and on sFMNIST, each trained the
# same way from the same seed; every run prints the activation rate and MACs saved on the test
# split (float and w8a16). Resumable at the granularity of a finished model.
# Usage: scripts/sma-study.sh [denoise|sfmnist]…   (default both)
# OUT=dir (default out/sma); SPARROW_CJS=path runs a frozen copy of the build.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/sma}
S=${SPARROW_CJS:-dist/sparrow.cjs}
mkdir -p "$OUT"

run() { # name, train options…
  local name=$1; shift
  [[ -f "$OUT/$name.q.safetensors" ]] && return
  local resume=(); [[ -f "$OUT/$name.ckpt" ]] && resume=(--resume)
  echo "sma-study: $name"
  node "$S" train "$@" --checkpoint "$OUT/$name.ckpt" -o "$OUT/$name.safetensors" --quantized "$OUT/$name.q.safetensors" "${resume[@]}" > "$OUT/$name.log" 2>&1
}

studies=("$@"); [[ ${#studies[@]} -gt 0 ]] || studies=(denoise sfmnist)
for study in "${studies[@]}"; do
  case $study in
    denoise)
      D=(--task denoise --d-model 64 --d-state 64 --layers 2 --gate --epochs 12 --batch 16 --lr 0.008 --ssm-lr 0.002 --weight-decay 0.01 --threads 1)
      run dn-gate "${D[@]}"
      run dn-sma005 "${D[@]}" --sma --sma-penalty 0.05
      run dn-sma02 "${D[@]}" --sma --sma-penalty 0.2
      run dn-sma1 "${D[@]}" --sma --sma-penalty 1
      ;;
    sfmnist)
      F=(--task sfmnist --d-model 64 --d-state 64 --layers 2 --gate --epochs 3 --batch 32 --lr 0.008 --ssm-lr 0.002 --weight-decay 0.01 --train-limit 20000 --eval-limit 1000 --threads 1)
      run sf-gate "${F[@]}"
      run sf-sma002 "${F[@]}" --sma --sma-penalty 0.02
      run sf-sma01 "${F[@]}" --sma --sma-penalty 0.1
      ;;
    *) echo "sma-study: unknown study $study (denoise, sfmnist)" >&2; exit 2 ;;
  esac
done
grep -H -E "^(float model|w8a16 model|SMA:)" "$OUT"/*.log
