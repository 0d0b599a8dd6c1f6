#!/usr/bin/env bash
# The transfer study of docs/adaptation.md: a base trained on one task, then tuned to another
# by every method of `sparrow tune` (full, SDT, LoRA, SDT + LoRA), each quantized onto the
# base's w8a16 scales and diffed into a firmware patch. Resumable at the granularity of a
# finished file: what exists is skipped. Needs `npm run build` (and Fashion-MNIST for sfmnist).
# Usage: scripts/adaptation-study.sh [denoise|denoise-brown|denoise-dense|sfmnist]…   (default all but denoise-dense)
# OUT=dir (default out/adapt) holds the bases, the tuned models, <name>.json summaries and patches.
# SPARROW_CJS=path runs a frozen copy of the build. ONLY=regex runs only the tuned models whose
# names match (the bases are trained as needed).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/adapt}
S=${SPARROW_CJS:-dist/sparrow.cjs}
mkdir -p "$OUT"

base() { # name, train options…
  local name=$1; shift
  [[ -f "$OUT/$name.q.safetensors" ]] && return
  local resume=(); [[ -f "$OUT/$name.ckpt" ]] && resume=(--resume)
  echo "adaptation-study: base $name"
  node "$S" train "$@" --checkpoint "$OUT/$name.ckpt" --checkpoint-every 100 \
    -o "$OUT/$name.safetensors" --quantized "$OUT/$name.q.safetensors" "${resume[@]}"
}

tune() { # base, name, tune options…
  local b=$1 name=$2; shift 2
  [[ -f "$OUT/$name.json" ]] && return
  [[ -n "${ONLY:-}" && ! $name =~ $ONLY ]] && return
  echo "adaptation-study: $name"
  node "$S" tune "$OUT/$b.safetensors" "$@" -o "$OUT/$name.safetensors" \
    --quantized "$OUT/$name.q.safetensors" --like "$OUT/$b.q.safetensors" --quiet --json > "$OUT/$name.json.part"
  mv "$OUT/$name.json.part" "$OUT/$name.json"
}

patches() { # base, names…: the base firmware (default compile options) and a patch per tuned model
  local b=$1; shift
  node "$S" compile "$OUT/$b.q.safetensors" -o "$OUT/$b-fw" > /dev/null
  for name in "$@"; do
    [[ -f "$OUT/$name.json" ]] || continue
    node "$S" diff "$OUT/$b.q.safetensors" "$OUT/$name.q.safetensors" --firmware "$OUT/$b-fw/firmware.wasm" -o "$OUT/$name.patch" > /dev/null
  done
}

# The denoise bases (80%-sparse and dense): trained on white and pink noise only.
# The bases were pruned by magnitude, the default before 2026-12-03 (docs/compression.md): the
# study's figures are theirs, so the bases keep it.
DENOISE_BASE=(--task denoise --noises white,pink --d-model 64 --d-state 64 --layers 2 --epochs 12 --batch 16
  --lr 0.008 --ssm-lr 0.002 --weight-decay 0.01 --threads 1)
studies=("$@"); [[ ${#studies[@]} -gt 0 ]] || studies=(denoise denoise-brown sfmnist)
for study in "${studies[@]}"; do
  case $study in
    denoise)
      # Trained on white and pink noise; tuned to babble (speech-like noise under speech).
      base denoise-wp-s80 "${DENOISE_BASE[@]}" --sparsity 0.8 --saliency magnitude
      T=(--task denoise --noises babble --epochs 4 --batch 16 --threads 1)
      tune denoise-wp-s80 dn-full "${T[@]}" --method full --lr 0.002 --ssm-lr 0.002
      tune denoise-wp-s80 dn-sdt-c16-s8 "${T[@]}" --method sdt --channels 16 --states 8 --lr 0.01 --ssm-lr 0.01
      tune denoise-wp-s80 dn-sdt-c8-s16 "${T[@]}" --method sdt --channels 8 --states 16 --lr 0.01 --ssm-lr 0.01
      tune denoise-wp-s80 dn-lora-r2 "${T[@]}" --method lora --lora-rank 2 --lr 0.01
      tune denoise-wp-s80 dn-sdt-c16-s8-lora-r1 "${T[@]}" --method sdt --channels 16 --states 8 --lora-rank 1 --lr 0.01 --ssm-lr 0.01
      # Learning-rate probes of SDT (few parameters take a larger step); a later --epochs wins.
      tune denoise-wp-s80 dn-sdt-c16-s8-lr03 "${T[@]}" --method sdt --channels 16 --states 8 --lr 0.03 --ssm-lr 0.03
      tune denoise-wp-s80 dn-sdt-c16-s8-lr05-e8 "${T[@]}" --epochs 8 --method sdt --channels 16 --states 8 --lr 0.05 --ssm-lr 0.05
      tune denoise-wp-s80 dn-sdt-c8-s8-lora-r1-lr03 "${T[@]}" --method sdt --channels 8 --states 8 --lora-rank 1 --lr 0.03 --ssm-lr 0.03
      # SDT with the decoder's bias (257 values, one per frequency bin: BitFit) inside the 5% budget.
      tune denoise-wp-s80 dn-sdt-c8-s8-lr03-bdec "${T[@]}" --method sdt --channels 8 --states 8 --biases decoder --lr 0.03 --ssm-lr 0.03
      # LoRA on the encoder (the input projection from the 129 STFT bins), alone and with SDT.
      tune denoise-wp-s80 dn-lora-enc-r1 "${T[@]}" --method lora --lora-rank 1 --lora-on encoder --lr 0.01
      tune denoise-wp-s80 dn-lora-enc-r1-lr03 "${T[@]}" --method lora --lora-rank 1 --lora-on encoder --lr 0.03
      tune denoise-wp-s80 dn-lora-enc-r2 "${T[@]}" --method lora --lora-rank 2 --lora-on encoder --lr 0.01
      tune denoise-wp-s80 dn-lora-encdec-r1 "${T[@]}" --method lora --lora-rank 1 --lora-on encoder,decoder --lr 0.01
      tune denoise-wp-s80 dn-lora-enc-r1-ben "${T[@]}" --method lora --lora-rank 1 --lora-on encoder --biases encoder,norm --lr 0.01
      tune denoise-wp-s80 dn-sdt-c8-s8-lora-enc-r1 "${T[@]}" --method sdt --channels 8 --states 8 --lora-rank 1 --lora-on encoder --lr 0.01 --ssm-lr 0.01
      tune denoise-wp-s80 dn-sdt-c8-s8-lora-enc-r1-lr03 "${T[@]}" --method sdt --channels 8 --states 8 --lora-rank 1 --lora-on encoder --lr 0.03 --ssm-lr 0.03
      tune denoise-wp-s80 dn-sdt-c4-s4-lora-enc-r2-lr03 "${T[@]}" --method sdt --channels 4 --states 4 --lora-rank 2 --lora-on encoder --lr 0.03 --ssm-lr 0.03
      tune denoise-wp-s80 dn-sdt-c4-s4-lora-enc-r1-ben-lr03 "${T[@]}" --method sdt --channels 4 --states 4 --lora-rank 1 --lora-on encoder --biases encoder,norm --lr 0.03 --ssm-lr 0.03
      tune denoise-wp-s80 dn-sdt-c4-s4-lora-encdec-r1-lr03 "${T[@]}" --method sdt --channels 4 --states 4 --lora-rank 1 --lora-on encoder,decoder --lr 0.03 --ssm-lr 0.03
      # Twice the epochs, for the best of those and for the full fine-tune it is measured against.
      tune denoise-wp-s80 dn-sdt-c8-s8-lora-enc-r1-lr03-e8 "${T[@]}" --epochs 8 --method sdt --channels 8 --states 8 --lora-rank 1 --lora-on encoder --lr 0.03 --ssm-lr 0.03
      tune denoise-wp-s80 dn-full-e8 "${T[@]}" --epochs 8 --method full --lr 0.002 --ssm-lr 0.002
      # Where the full fine-tune's gain sits: full fine-tunes of one group of tensors each.
      tune denoise-wp-s80 dg-enc "${T[@]}" --method full --only encoder --lr 0.002 --ssm-lr 0.002
      tune denoise-wp-s80 dg-dec "${T[@]}" --method full --only decoder --lr 0.002 --ssm-lr 0.002
      tune denoise-wp-s80 dg-ssm "${T[@]}" --method full --only lambda,B,C --lr 0.002 --ssm-lr 0.002
      tune denoise-wp-s80 dg-B "${T[@]}" --method full --only lambda,B --lr 0.002 --ssm-lr 0.002
      tune denoise-wp-s80 dg-C "${T[@]}" --method full --only C --lr 0.002 --ssm-lr 0.002
      tune denoise-wp-s80 dg-lam "${T[@]}" --method full --only lambda --lr 0.002 --ssm-lr 0.002
      tune denoise-wp-s80 dg-normd "${T[@]}" --method full --only norm,D --lr 0.002 --ssm-lr 0.002
      tune denoise-wp-s80 dg-noenc "${T[@]}" --method full --only decoder,lambda,B,C,D,norm --lr 0.002 --ssm-lr 0.002
      tune denoise-wp-s80 dh-norm "${T[@]}" --method full --only norm --lr 0.01 --ssm-lr 0.01
      tune denoise-wp-s80 dh-normd-lr01 "${T[@]}" --method full --only norm,D --lr 0.01 --ssm-lr 0.01
      # The cheap levers together (--also), and LoRA on the SSM's projections.
      tune denoise-wp-s80 dh-lenc1-n "${T[@]}" --method lora --lora-rank 1 --lora-on encoder --also norm --lr 0.01
      tune denoise-wp-s80 dh-lenc1-n-lr03 "${T[@]}" --method lora --lora-rank 1 --lora-on encoder --also norm --lr 0.03
      tune denoise-wp-s80 dh-lenc1-nd "${T[@]}" --method lora --lora-rank 1 --lora-on encoder --also norm,D --lr 0.01
      tune denoise-wp-s80 dh-sdt44-lenc1-n-lr03 "${T[@]}" --method sdt --channels 4 --states 4 --lora-rank 1 --lora-on encoder --also norm --lr 0.03 --ssm-lr 0.03
      tune denoise-wp-s80 dl-B-r1 "${T[@]}" --method lora --lora-rank 1 --lora-on B --lr 0.01
      tune denoise-wp-s80 dl-C-r1 "${T[@]}" --method lora --lora-rank 1 --lora-on C --lr 0.01
      tune denoise-wp-s80 dl-B-r1-n "${T[@]}" --method lora --lora-rank 1 --lora-on B --also norm --lr 0.01
      # Seeds of the full fine-tune and of the best run inside both limits.
      for seed in 1 2; do
        tune denoise-wp-s80 dn-full-seed$seed "${T[@]}" --seed $seed --method full --lr 0.002 --ssm-lr 0.002
        tune denoise-wp-s80 dn-sdt-c4-s4-lora-enc-r2-lr03-seed$seed "${T[@]}" --seed $seed --method sdt --channels 4 --states 4 --lora-rank 2 --lora-on encoder --lr 0.03 --ssm-lr 0.03
      done
      patches denoise-wp-s80 dn-full dn-sdt-c16-s8 dn-sdt-c8-s16 dn-lora-r2 dn-sdt-c16-s8-lora-r1 dn-sdt-c16-s8-lr03 dn-sdt-c16-s8-lr05-e8 dn-sdt-c8-s8-lora-r1-lr03 dn-sdt-c8-s8-lr03-bdec \
        dn-lora-enc-r1 dn-lora-enc-r1-lr03 dn-lora-enc-r2 dn-lora-encdec-r1 dn-lora-enc-r1-ben dn-sdt-c8-s8-lora-enc-r1 dn-sdt-c8-s8-lora-enc-r1-lr03 \
        dn-sdt-c4-s4-lora-enc-r2-lr03 dn-sdt-c4-s4-lora-enc-r1-ben-lr03 dn-sdt-c4-s4-lora-encdec-r1-lr03 dn-sdt-c8-s8-lora-enc-r1-lr03-e8 dn-full-e8 \
        dh-norm dh-normd-lr01 dh-lenc1-n dh-lenc1-n-lr03 dh-lenc1-nd dh-sdt44-lenc1-n-lr03 dl-B-r1 dl-C-r1 dl-B-r1-n \
        dn-full-seed{1,2} dn-sdt-c4-s4-lora-enc-r2-lr03-seed{1,2}
      ;;
    denoise-brown)
      # The same base tuned to brown noise (low-frequency rumble), the issue's other transfer.
      base denoise-wp-s80 "${DENOISE_BASE[@]}" --sparsity 0.8 --saliency magnitude
      T=(--task denoise --noises brown --epochs 4 --batch 16 --threads 1)
      tune denoise-wp-s80 dnb-full "${T[@]}" --method full --lr 0.002 --ssm-lr 0.002
      tune denoise-wp-s80 dnb-sdt-c16-s8-lr03 "${T[@]}" --method sdt --channels 16 --states 8 --lr 0.03 --ssm-lr 0.03
      tune denoise-wp-s80 dnb-lora-r2 "${T[@]}" --method lora --lora-rank 2 --lr 0.01
      tune denoise-wp-s80 dnb-sdt-c8-s8-lr03 "${T[@]}" --method sdt --channels 8 --states 8 --lr 0.03 --ssm-lr 0.03
      tune denoise-wp-s80 dnb-sdt-c8-s8-lr03-bdec "${T[@]}" --method sdt --channels 8 --states 8 --biases decoder --lr 0.03 --ssm-lr 0.03
      tune denoise-wp-s80 dnb-sdt-c8-s8-lora-enc-r1-lr03 "${T[@]}" --method sdt --channels 8 --states 8 --lora-rank 1 --lora-on encoder --lr 0.03 --ssm-lr 0.03
      tune denoise-wp-s80 dnb-sdt-c4-s4-lora-enc-r2-lr03 "${T[@]}" --method sdt --channels 4 --states 4 --lora-rank 2 --lora-on encoder --lr 0.03 --ssm-lr 0.03
      tune denoise-wp-s80 dhb-ssm "${T[@]}" --method full --only lambda,B,C --lr 0.002 --ssm-lr 0.002
      tune denoise-wp-s80 dhb-enc "${T[@]}" --method full --only encoder --lr 0.002 --ssm-lr 0.002
      tune denoise-wp-s80 dhb-norm "${T[@]}" --method full --only norm --lr 0.01 --ssm-lr 0.01
      tune denoise-wp-s80 dhb-lenc1-n-lr03 "${T[@]}" --method lora --lora-rank 1 --lora-on encoder --also norm --lr 0.03
      patches denoise-wp-s80 dhb-norm dhb-lenc1-n-lr03 dnb-full dnb-sdt-c16-s8-lr03 dnb-lora-r2 dnb-sdt-c8-s8-lr03 dnb-sdt-c8-s8-lr03-bdec dnb-sdt-c8-s8-lora-enc-r1-lr03 dnb-sdt-c4-s4-lora-enc-r2-lr03
      ;;
    denoise-dense)
      # The same transfer (white + pink → babble) from a dense base: does SDT recover more of the
      # full fine-tune when the base has dense, redundant channels and states to select from?
      base denoise-wp-s0 "${DENOISE_BASE[@]}" --sparsity 0
      T=(--task denoise --noises babble --epochs 4 --batch 16 --threads 1)
      tune denoise-wp-s0 dd-full "${T[@]}" --method full --lr 0.002 --ssm-lr 0.002
      tune denoise-wp-s0 dd-sdt-c16-s8-lr03 "${T[@]}" --method sdt --channels 16 --states 8 --lr 0.03 --ssm-lr 0.03
      tune denoise-wp-s0 dd-norm "${T[@]}" --method full --only norm --lr 0.01 --ssm-lr 0.01
      tune denoise-wp-s0 dd-sdt-c16-s8-lora-enc-r1-n-lr03 "${T[@]}" --method sdt --channels 16 --states 8 --lora-rank 1 --lora-on encoder --also norm --lr 0.03 --ssm-lr 0.03
      # A dense base has 50,113 parameters: 5% is 2,505, room for twice the states or channels.
      tune denoise-wp-s0 dd-sdt-c16-s16-lr03 "${T[@]}" --method sdt --channels 16 --states 16 --lr 0.03 --ssm-lr 0.03
      tune denoise-wp-s0 dd-sdt-c32-s8-lr03 "${T[@]}" --method sdt --channels 32 --states 8 --lr 0.03 --ssm-lr 0.03
      tune denoise-wp-s0 dd-lenc1-n-lr03 "${T[@]}" --method lora --lora-rank 1 --lora-on encoder --also norm --lr 0.03
      tune denoise-wp-s0 dd-sdt-c16-s16-lora-enc-r1-n-lr03 "${T[@]}" --method sdt --channels 16 --states 16 --lora-rank 1 --lora-on encoder --also norm --lr 0.03 --ssm-lr 0.03
      # A dense encoder update changes all 8,256 stored encoder values (patches of 9.7–16.3% with
      # it): SDT with the norms instead keeps the patch small.
      tune denoise-wp-s0 dd-sdt-c16-s16-n-lr03 "${T[@]}" --method sdt --channels 16 --states 16 --also norm --lr 0.03 --ssm-lr 0.03
      tune denoise-wp-s0 dd-sdt-c32-s8-n-lr03 "${T[@]}" --method sdt --channels 32 --states 8 --also norm --lr 0.03 --ssm-lr 0.03
      # Seeds of the full fine-tune and of SDT 32 × 8 + the norms (the first run at the target).
      for seed in 1 2; do
        tune denoise-wp-s0 dd-full-seed$seed "${T[@]}" --seed $seed --method full --lr 0.002 --ssm-lr 0.002
        tune denoise-wp-s0 dd-sdt-c32-s8-n-lr03-seed$seed "${T[@]}" --seed $seed --method sdt --channels 32 --states 8 --also norm --lr 0.03 --ssm-lr 0.03
      done
      # The same recipe on the other transfer, white + pink → brown.
      TB=(--task denoise --noises brown --epochs 4 --batch 16 --threads 1)
      tune denoise-wp-s0 dd-brown-full "${TB[@]}" --method full --lr 0.002 --ssm-lr 0.002
      tune denoise-wp-s0 dd-brown-sdt-c32-s8-n-lr03 "${TB[@]}" --method sdt --channels 32 --states 8 --also norm --lr 0.03 --ssm-lr 0.03
      # With D too (128 more values, 4.92% trainable), three seeds.
      tune denoise-wp-s0 dd-sdt-c32-s8-nd-lr03 "${T[@]}" --method sdt --channels 32 --states 8 --also norm,D --lr 0.03 --ssm-lr 0.03
      for seed in 1 2; do
        tune denoise-wp-s0 dd-sdt-c32-s8-nd-lr03-seed$seed "${T[@]}" --seed $seed --method sdt --channels 32 --states 8 --also norm,D --lr 0.03 --ssm-lr 0.03
      done
      patches denoise-wp-s0 dd-full dd-sdt-c16-s8-lr03 dd-norm dd-sdt-c16-s8-lora-enc-r1-n-lr03 dd-sdt-c16-s16-lr03 dd-sdt-c32-s8-lr03 dd-lenc1-n-lr03 \
        dd-sdt-c16-s16-lora-enc-r1-n-lr03 dd-sdt-c16-s16-n-lr03 dd-sdt-c32-s8-n-lr03 dd-sdt-c32-s8-nd-lr03 dd-sdt-c32-s8-nd-lr03-seed{1,2} \
        dd-full-seed{1,2} dd-sdt-c32-s8-n-lr03-seed{1,2} dd-brown-full dd-brown-sdt-c32-s8-n-lr03
      ;;
    sfmnist)
      # Trained on classes 0–4 (T-shirt, trouser, pullover, dress, coat); tuned to 5–9
      # (sandal, shirt, sneaker, bag, ankle boot), same inputs and 10 outputs.
      base sfmnist-04-s80 --task sfmnist --classes 0-4 --d-model 64 --d-state 64 --layers 2 --epochs 4 --batch 32 \
        --lr 0.008 --ssm-lr 0.002 --weight-decay 0.01 --eval-limit 1000 --threads 1 --sparsity 0.8 --saliency magnitude
      T=(--task sfmnist --classes 5-9 --epochs 2 --batch 32 --train-limit 8000 --eval-limit 1000 --threads 1)
      tune sfmnist-04-s80 sf-full "${T[@]}" --method full --lr 0.002 --ssm-lr 0.002
      tune sfmnist-04-s80 sf-sdt-c16-s8 "${T[@]}" --method sdt --channels 16 --states 8 --lr 0.01 --ssm-lr 0.01
      tune sfmnist-04-s80 sf-lora-r2 "${T[@]}" --method lora --lora-rank 2 --lr 0.01
      tune sfmnist-04-s80 sf-sdt-c16-s8-lora-r1 "${T[@]}" --method sdt --channels 16 --states 8 --lora-rank 1 --lr 0.01 --ssm-lr 0.01
      # Within the 5% budget with the read-out free: a small SDT block plus LoRA, and LoRA alone at rank 3.
      tune sfmnist-04-s80 sf-sdt-c4-s4-lora-r2 "${T[@]}" --method sdt --channels 4 --states 4 --lora-rank 2 --lr 0.01 --ssm-lr 0.01
      tune sfmnist-04-s80 sf-lora-r3 "${T[@]}" --method lora --lora-rank 3 --lr 0.01
      tune sfmnist-04-s80 sf-sdt-c2-s2-lora-r3 "${T[@]}" --method sdt --channels 2 --states 2 --lora-rank 3 --lr 0.01 --ssm-lr 0.01
      tune sfmnist-04-s80 sf-sdt-c4-s4-lora-r3 "${T[@]}" --method sdt --channels 4 --states 4 --lora-rank 3 --lr 0.01 --ssm-lr 0.01
      # Seeds (example order, warm-up and LoRA initialisation) of the two runs at the target.
      for seed in 1 2; do
        tune sfmnist-04-s80 sf-sdt-c2-s2-lora-r3-seed$seed "${T[@]}" --seed $seed --method sdt --channels 2 --states 2 --lora-rank 3 --lr 0.01 --ssm-lr 0.01
        tune sfmnist-04-s80 sf-sdt-c4-s4-lora-r3-seed$seed "${T[@]}" --seed $seed --method sdt --channels 4 --states 4 --lora-rank 3 --lr 0.01 --ssm-lr 0.01
        tune sfmnist-04-s80 sf-full-seed$seed "${T[@]}" --seed $seed --method full --lr 0.002 --ssm-lr 0.002
      done
      patches sfmnist-04-s80 sf-full sf-sdt-c16-s8 sf-lora-r2 sf-sdt-c16-s8-lora-r1 sf-sdt-c4-s4-lora-r2 sf-lora-r3 sf-sdt-c2-s2-lora-r3 sf-sdt-c4-s4-lora-r3 \
        sf-{sdt-c2-s2-lora-r3,sdt-c4-s4-lora-r3,full}-seed{1,2}
      ;;
    *) echo "adaptation-study: unknown study $study (denoise, denoise-brown, denoise-dense, sfmnist)" >&2; exit 2 ;;
  esac
done
# The table of docs/adaptation.md from the summaries.
node -e '
const fs = require("fs"), path = require("path");
const dir = process.argv[1];
const rows = fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort().map((f) => {
  const s = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
  const name = f.replace(/\.json$/, "");
  const base = /^dd-/.test(name) ? "denoise-wp-s0" : /^d[nghl]/.test(name) ? "denoise-wp-s80" : "sfmnist-04-s80";
  const pf = path.join(dir, name + ".patch");
  const fwf = path.join(dir, base + "-fw", "firmware.wasm");
  const size = (f) => fs.statSync(f).size;
  const patch = fs.existsSync(pf) && fs.existsSync(fwf) ? `${size(pf)} B (${(100 * size(pf) / size(fwf)).toFixed(1)}% of ${size(fwf)} B)` : "–";
  return `| ${name} | ${s.method} | ${s.trainable} (${(100 * s.trainableFraction).toFixed(2)}%) | ${s.baseMetric.toFixed(2)} | ${s.metric.toFixed(2)} | ${s.quantizedMetric.toFixed(2)} | ${patch} | ${s.trainSeconds} s |`;
});
console.log("| run | method | trainable (of deployed) | frozen base | tuned float | tuned w8a16 | patch | tuning time |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n" + rows.join("\n"));
' "$OUT"
