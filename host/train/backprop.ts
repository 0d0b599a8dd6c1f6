// ============================================================================
// Forward and backward passes of a batch of sequences through the model in
// training form (params.ts): BatchNorm with batch statistics (or, to tune a
// trained model, frozen at its running statistics), the complex diagonal recurrence run as a scan, gradients by hand (reverse scan through
// time, then the zero-order hold's chain rule into Λ, Δ and B). float64
// throughout; tests/train/backprop.test.ts checks every gradient against
// central finite differences.
//
// Layout: the N sequences are stacked into one [N·T, ·] row-major matrix per
// quantity (row n·T + t), and a complex state is one real row [Re s | Im s]
// of 2P. Only the recurrence s_t = Λ̄ s_{t−1} + B̄ v_t and its reverse scan are
// sequential; every product with a weight is one matrix product over all
// N·T steps (gemm.ts), e.g. BV = V·B̄ᵀ, Y = S·[C_re | −C_im]ᵀ + D ⊙ V,
// ∂C = gYᵀ·S, ∂B̄ = gSᵀ·V.
//
// Activation formats: tuning onto a deployed base (fixed QAT grids with `act.*` formats,
// qat.ts gridsOf) saturates every int16 activation where the device does (host/reference/
// int.ts: input, encoder output, v, s, y, a, the gate's pre-activation, each block's output,
// the model output) at ±32767·2^−frac of the base's format: tuning sees what the device
// computes when a tensor outgrows its format. A saturated value passes nothing back from
// downstream (it no longer depends on its inputs); instead the loss gains a range penalty,
// SATURATION_PENALTY · Σ (excess / limit)² per sequence over every saturated value, whose
// gradient pulls the value back inside its format (a patch cannot change the formats).
// Without it a saturated value could never come back: a logit stuck at the limit ties with
// the others and gets no gradient to leave it.
//
// Masks: the forward pass uses W ⊙ M; the backward pass hands the gradient of
// W ⊙ M to W unmasked (straight-through), so a pruned weight can come back
// when the masks are recomputed.
//
// Cost per sequence: forward ≈ T·L·(4PH + H² [gate]) + T·H·(d_in + d_out)
// multiply-adds, backward ≈ 2× that, nearly all of it in gemm.ts (the scans,
// BatchNorm and gelu's tanh are O(T·L·(P + H)) but now take about half the
// time); memory per sequence ≈ T·(L·(2P + 3H [+ 2H gate]) + 2H + d_in)
// doubles for the tape.
// ============================================================================

import { ModelConfig } from '../model/types';
import { gemm } from './gemm';
import { ACT_FORMAT_ORDER, fakeQuantize, fakeQuantizeFixed, fakeQuantizeLambda, Qat } from './qat';
import { BN_EPS, BN_MOMENTUM, Discrete, discretize, LayerParams, Masks, TrainParams, zerosLike } from './params';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

function masked(w: Float64Array, m?: Uint8Array): Float64Array {
  return m ? Float64Array.from(w, (x, i) => (m[i] ? x : 0)) : w;
}

/** Saturation bounds of an int16 activation at frac f: [−32768, 32767]·2^−f. */
interface Bounds {
  lo: number;
  hi: number;
}
const boundsOf = (frac: number): Bounds => ({ lo: -32768 * 2 ** -frac, hi: 32767 * 2 ** -frac });

/** The activation formats to saturate at, from fixed QAT grids that carry them (else none). */
interface ActBounds {
  input: Bounds;
  encoder: Bounds;
  output: Bounds;
  layers: Record<(typeof ACT_FORMAT_ORDER)[number], Bounds>[];
}
function actBounds(qat: Qat, layers: number): ActBounds | undefined {
  if (typeof qat === 'boolean' || !qat.has('act.encoder')) return undefined;
  const one = (k: string): Bounds => boundsOf(qat.get(k)![0]);
  return {
    input: one('act.input'),
    encoder: one('act.encoder'),
    output: one('act.output'),
    layers: Array.from({ length: layers }, (_, i) => {
      const f = qat.get(`act.layers.${i}`)!;
      return Object.fromEntries(ACT_FORMAT_ORDER.map((k, j) => [k, boundsOf(f[j])])) as ActBounds['layers'][number];
    }),
  };
}

/** Weight of the range penalty (per sequence, in units of the task loss). */
export const SATURATION_PENALTY = 1;

/** Where a tensor saturated: excess[i] = value − its clamp (0: inside), and the format's limit. */
interface Saturated {
  excess: Float64Array;
  limit: number;
}

/** Σ (excess / limit)² over every saturated value of a forward pass. */
interface PenaltySum {
  sum: number;
}

/** Clamp a[k] into b in place for k in [from, to) (default all); records the excess into `into` and the penalty into `pen`. */
function saturateRange(a: Float64Array, b: Bounds, pen: PenaltySum, into: Saturated | undefined, from = 0, to = a.length): Saturated | undefined {
  for (let i = from; i < to; i++) {
    const x = a[i];
    if (x >= b.lo && x <= b.hi) continue;
    const c = x < b.lo ? b.lo : b.hi;
    a[i] = c;
    into ??= { excess: new Float64Array(a.length), limit: b.hi };
    into.excess[i] = x - c;
    pen.sum += ((x - c) / b.hi) ** 2;
  }
  return into;
}

function saturate(a: Float64Array, b: Bounds | undefined, pen: PenaltySum): Saturated | undefined {
  return b ? saturateRange(a, b, pen, undefined) : undefined;
}

/**
 * The gradient of a saturated value: nothing from downstream, the range penalty's own
 * (2·SATURATION_PENALTY·excess / limit², over `n` sequences).
 */
function atSaturated(g: Float64Array, sat: Saturated | undefined, n: number): void {
  if (!sat) return;
  const k = (2 * SATURATION_PENALTY) / (n * sat.limit * sat.limit);
  for (let i = 0; i < g.length; i++) if (sat.excess[i] !== 0) g[i] = k * sat.excess[i];
}

interface LayerEff {
  d: Discrete;
  /** B's mask: a pruned B̄ entry is 0 whatever Λ and Δ are, so it adds nothing to their gradient. */
  bMask?: Uint8Array;
  /** B̄ as a real [2P, H]: rows [Re B̄; Im B̄]. */
  bb: Float64Array;
  /** C (masked) as a real [H, 2P]: row h is [C_re[h] | −C_im[h]], so Re(C s) = Cc·[Re s | Im s]. */
  cc: Float64Array;
  /** D (on its int8 grid under QAT). */
  D: Float64Array;
  gateW?: Float64Array;
}

interface Effective {
  encW: Float64Array;
  decW: Float64Array;
  layers: LayerEff[];
}

/**
 * The weights the forward pass uses: masked, and with `qat` on the grids `sparrow quantize`
 * stores them on (host/train/qat.ts): encoder, decoder, gate and D as int8, B̄ re/im and C
 * re/im as int8 sharing one grid each, Λ̄ in Q15. The backward pass differentiates with
 * these and hands the gradients to the float parameters (straight-through).
 */
export function effective(p: TrainParams, masks: Masks, qat: Qat = false): Effective {
  const { d_model: H, d_state: P } = p.config;
  // Fixed grids with activation formats only (`act.*`): the weights stay float.
  if (qat && qat !== true && !qat.has('encoder.weight')) qat = false;
  /**
   * One or two (re, im) arrays onto their grid: the quantizer's choice now, or the fixed one
   * (with the base's values of each array under `names`, its pattern rules too).
   */
  const grid = (ws: Float64Array[], what: string, names: string[] = [what]): Float64Array[] => {
    if (qat === true) return fakeQuantize(ws, 127, what);
    const fracs = qat ? qat.get(what) : undefined;
    if (qat && !fracs) throw new Error(`QAT grids: no grid for ${what}`);
    return fakeQuantizeFixed(ws, fracs!, 127, qat ? names.map((n) => qat.get(`base.${n}`)) : []);
  };
  const q1 = (w: Float64Array, what: string): Float64Array => (qat ? grid([w], what)[0] : w);
  return {
    encW: q1(masked(p.encW, masks.get('encoder.weight')), 'encoder.weight'),
    decW: q1(masked(p.decW, masks.get('decoder.weight')), 'decoder.weight'),
    layers: p.layers.map((L, i) => {
      const bMask = masks.get(`layers.${i}.ssm.B`);
      let d = discretize(L, H, bMask);
      if (qat) {
        const [bbRe, bbIm] = grid([d.bbRe, d.bbIm], `layers.${i}.ssm.B`, [`layers.${i}.ssm.B_re`, `layers.${i}.ssm.B_im`]);
        const [lbRe, lbIm] = fakeQuantizeLambda(d.lbRe, d.lbIm);
        d = { ...d, bbRe, bbIm, lbRe, lbIm };
      }
      const bb = new Float64Array(2 * P * H);
      bb.set(d.bbRe);
      bb.set(d.bbIm, P * H);
      const cMask = masks.get(`layers.${i}.ssm.C`);
      let [cRe, cIm] = [masked(L.Cre, cMask), masked(L.Cim, cMask)];
      if (qat) [cRe, cIm] = grid([cRe, cIm], `layers.${i}.ssm.C`, [`layers.${i}.ssm.C_re`, `layers.${i}.ssm.C_im`]);
      const cc = new Float64Array(H * 2 * P);
      for (let h = 0; h < H; h++) {
        for (let q = 0; q < P; q++) {
          cc[h * 2 * P + q] = cRe[h * P + q];
          cc[h * 2 * P + P + q] = -cIm[h * P + q];
        }
      }
      return {
        d,
        bMask,
        bb,
        cc,
        D: q1(L.D, `layers.${i}.ssm.D`),
        ...(L.gateW ? { gateW: q1(masked(L.gateW, masks.get(`layers.${i}.gate.weight`)), `layers.${i}.gate.weight`) } : {}),
      };
    }),
  };
}

interface LayerTape {
  mean: Float64Array;
  invStd: Float64Array;
  /** Stacked over the batch, [N·T, ·]: normalised input x̂ and v = γ x̂ + β [H], states [Re s | Im s] [2P]. */
  xhat: Float64Array;
  v: Float64Array;
  s: Float64Array;
  /** act′(y) [H], taken in the forward pass where gelu's tanh is at hand. */
  actGrad: Float64Array;
  /** Gate only: a = act(y) and σ [H]; empty without a gate. */
  a: Float64Array;
  sig: Float64Array;
  /** SMA only, per row: y before the activation [H], p₁ = σ((l₁ − l₀)/τ), and the hard decision. */
  smaY?: Float64Array;
  smaP?: Float64Array;
  smaM?: Uint8Array;
  /** Where the base's activation formats saturated v, s, y, a, the gate's pre-activation and the block output. */
  sat: { v?: Saturated; s?: Saturated; y?: Saturated; a?: Saturated; g?: Saturated; u?: Saturated };
}

export interface Tape {
  T: number;
  N: number;
  bn: BnMode;
  sma: SmaTraining;
  /** penalty · mean p₁, summed over SMA layers (add it to the batch loss), and the mean hard activation rate. */
  smaPenalty: number;
  smaRate: number;
  eff: Effective;
  /** Inputs stacked [N·T, d_in]. */
  x: Float64Array;
  /** Encoder pre-activation [N·T, H] (for the ReLU's gradient). */
  encPre: Float64Array;
  layers: LayerTape[];
  /** Residual stream after the last layer [N·T, H]. */
  uLast: Float64Array;
  /** The residual stream after each block [N·T, H] (what hint distillation compares, hint.ts). */
  blockOut: Float64Array[];
  /** Where the encoder output and the model output saturated. */
  encSat?: Saturated;
  outSat?: Saturated;
  /** SATURATION_PENALTY · Σ (excess / limit)² / N over every saturated activation (add it to the batch loss). */
  satPenalty: number;
}

/** Every row of out [rows, cols] set to `row`. */
function fillRows(out: Float64Array, rows: number, row: Float64Array): Float64Array {
  for (let r = 0, o = 0; r < rows; r++, o += row.length) out.set(row, o);
  return out;
}

/** colSum[c] += Σ_r a[r, c]. */
function addColumnSums(a: Float64Array, rows: number, cols: number, colSum: Float64Array): void {
  for (let r = 0, o = 0; r < rows; r++, o += cols) for (let c = 0; c < cols; c++) colSum[c] += a[o + c];
}

/**
 * BatchNorm in the forward pass: 'batch' normalises with this batch's statistics (training);
 * 'running' with the running statistics, frozen, which is what the exported model computes
 * (tuning a trained model: host/train/tune.ts).
 */
export type BnMode = 'batch' | 'running';

/**
 * Sparse Modular Activation while training (docs/adaptation.md): the forward pass takes the
 * hard decision m = [l₁ > l₀] the deployed model takes; the backward pass hands ∂L/∂m straight
 * through the temperature softmax p₁ = σ((l₁ − l₀)/τ), and the loss gains penalty·mean(p₁)
 * over every step and layer (the soft activation rate), which pushes steps off.
 */
export interface SmaTraining {
  penalty: number;
  temperature: number;
}
export const SMA_DEFAULTS: SmaTraining = { penalty: 0, temperature: 1 };

/**
 * Forward pass of N sequences of length T ([T, d_in] each). With `updateStats` and bn 'batch'
 * the BatchNorm running statistics move toward this batch's (training); bn 'running' neither
 * uses nor updates the batch statistics.
 */
export function forwardBatch(p: TrainParams, masks: Masks, inputs: Float32Array[], T: number, updateStats = true, qat: Qat = false, bn: BnMode = 'batch', sma: SmaTraining = SMA_DEFAULTS): { outputs: Float64Array[]; tape: Tape } {
  const { d_in, d_model: H, d_out, encoder_act } = p.config;
  const eff = effective(p, masks, qat);
  const N = inputs.length;
  const M = N * T;
  const x = new Float64Array(M * d_in);
  inputs.forEach((xs, n) => x.set(xs.subarray(0, T * d_in), n * T * d_in));
  const act = actBounds(qat, p.layers.length);
  const pen: PenaltySum = { sum: 0 };
  // The input is data: it saturates, with nothing to learn about it.
  saturate(x, act?.input, { sum: 0 });
  // Encoder: the bias first, then the product, as a dot product would add them.
  const encPre = fillRows(new Float64Array(M * H), M, p.encB);
  gemm.nt(x, eff.encW, encPre, M, H, d_in, true);
  const encSat = saturate(encPre, act?.encoder, pen);
  const u = new Float64Array(encPre);
  if (encoder_act === 'relu') for (let i = 0; i < M * H; i++) if (u[i] < 0) u[i] = 0;
  const blockOut: Float64Array[] = [];
  const layers = p.layers.map((L, l) => {
    const t = forwardLayer(p.config, L, eff.layers[l], u, N, T, updateStats, bn, sma, act?.layers[l], pen);
    blockOut.push(l === p.layers.length - 1 ? u : Float64Array.from(u));
    return t;
  });
  const out = fillRows(new Float64Array(M * d_out), M, p.decB);
  gemm.nt(u, eff.decW, out, M, d_out, H, true);
  const outSat = saturate(out, act?.output, pen);
  const outputs = Array.from({ length: N }, (_, n) => out.slice(n * T * d_out, (n + 1) * T * d_out));
  // SMA: the rate penalty's value, and the hard activation rate, over this batch.
  let smaPenalty = 0;
  let smaRate = 0;
  for (const t of layers) {
    if (!t.smaP) continue;
    let soft = 0;
    let hard = 0;
    for (let r = 0; r < M; r++) {
      soft += t.smaP[r];
      hard += t.smaM![r];
    }
    smaPenalty += (sma.penalty * soft) / M;
    smaRate += hard / M / layers.length;
  }
  return { outputs, tape: { T, N, bn, sma, eff, x, encPre, layers, uLast: u, blockOut, smaPenalty, smaRate, encSat, outSat, satPenalty: (SATURATION_PENALTY * pen.sum) / N } };
}

/** One block on the stacked residual stream u [N·T, H], which it updates in place (u += z). */
function forwardLayer(config: ModelConfig, L: LayerParams, E: LayerEff, u: Float64Array, N: number, T: number, updateStats: boolean, bn: BnMode, sma: SmaTraining, fmt: ActBounds['layers'][number] | undefined, pen: PenaltySum): LayerTape {
  const { d_model: H, d_state: P, gate, act } = config;
  const M = N * T;
  const P2 = 2 * P;
  // BatchNorm statistics over every step of every sequence, or the running ones, frozen.
  const mean = bn === 'running' ? Float64Array.from(L.runMean) : new Float64Array(H);
  const varr = bn === 'running' ? Float64Array.from(L.runVar) : new Float64Array(H);
  if (bn === 'batch') {
    for (let r = 0; r < M; r++) for (let h = 0; h < H; h++) mean[h] += u[r * H + h];
    for (let h = 0; h < H; h++) mean[h] /= M;
    for (let r = 0; r < M; r++) for (let h = 0; h < H; h++) { const dlt = u[r * H + h] - mean[h]; varr[h] += dlt * dlt; }
    for (let h = 0; h < H; h++) varr[h] /= M;
  }
  const invStd = Float64Array.from(varr, (s) => 1 / Math.sqrt(s + BN_EPS));
  if (updateStats && bn === 'batch') {
    const unbiased = M > 1 ? M / (M - 1) : 1;
    for (let h = 0; h < H; h++) {
      L.runMean[h] = (1 - BN_MOMENTUM) * L.runMean[h] + BN_MOMENTUM * mean[h];
      L.runVar[h] = (1 - BN_MOMENTUM) * L.runVar[h] + BN_MOMENTUM * varr[h] * unbiased;
    }
  }
  const xhat = new Float64Array(M * H);
  const v = new Float64Array(M * H);
  for (let r = 0; r < M; r++) {
    for (let h = 0; h < H; h++) {
      const i = r * H + h;
      const xh = (u[i] - mean[h]) * invStd[h];
      xhat[i] = xh;
      v[i] = L.gamma[h] * xh + L.beta[h];
    }
  }
  const sat: LayerTape['sat'] = { v: saturate(v, fmt?.v, pen) };
  // B̄ v for every step, then s_t = Λ̄ s_{t−1} + B̄ v_t in place, one sequence at a time.
  const s = new Float64Array(M * P2);
  gemm.nt(v, E.bb, s, M, P2, H, false);
  const { lbRe, lbIm } = E.d;
  for (let n = 0; n < N; n++) {
    // Step 0 (s = B̄ v, no history), saturated before step 1 reads it.
    if (fmt) sat.s = saturateRange(s, fmt.s, pen, sat.s, n * T * P2, n * T * P2 + P2);
    for (let t = 1; t < T; t++) {
      const so = (n * T + t) * P2;
      for (let q = 0; q < P; q++) {
        const pr = s[so - P2 + q];
        const pi = s[so - P2 + P + q];
        s[so + q] = lbRe[q] * pr - lbIm[q] * pi + s[so + q];
        s[so + P + q] = lbRe[q] * pi + lbIm[q] * pr + s[so + P + q];
      }
      // The device saturates each step's state before the next step reads it.
      if (fmt) sat.s = saturateRange(s, fmt.s, pen, sat.s, so, so + P2);
    }
  }
  // y = D v + Re(C s); a = act(y), keeping act′(y) for the backward pass.
  const y = new Float64Array(M * H);
  for (let r = 0; r < M; r++) for (let h = 0; h < H; h++) y[r * H + h] = E.D[h] * v[r * H + h];
  gemm.nt(s, E.cc, y, M, H, P2, true);
  sat.y = saturate(y, fmt?.y, pen);
  // SMA: d = l₁ − l₀ from y (before the activation overwrites it); m = [d > 0], p₁ = σ(d/τ).
  let smaY: Float64Array | undefined;
  let smaP: Float64Array | undefined;
  let smaM: Uint8Array | undefined;
  if (L.smaW) {
    smaY = Float64Array.from(y);
    smaP = new Float64Array(M);
    smaM = new Uint8Array(M);
    const b = L.smaB![1] - L.smaB![0];
    for (let r = 0; r < M; r++) {
      let d = b;
      for (let h = 0; h < H; h++) d += (L.smaW[H + h] - L.smaW[h]) * y[r * H + h];
      smaM[r] = d > 0 ? 1 : 0;
      smaP[r] = 1 / (1 + Math.exp(-d / sma.temperature));
    }
  }
  const actGrad = new Float64Array(M * H);
  const a = y; // y is dead once act′(y) is taken: a overwrites it
  if (act === 'gelu') {
    for (let i = 0; i < M * H; i++) {
      const yi = y[i];
      const th = Math.tanh(SQRT_2_OVER_PI * (yi + 0.044715 * yi * yi * yi));
      actGrad[i] = 0.5 * (1 + th) + 0.5 * yi * (1 - th * th) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * yi * yi);
      a[i] = 0.5 * yi * (1 + th);
    }
    // The GELU table's outputs are int16 at frac a.
    sat.a = saturate(a, fmt?.a, pen);
  } else {
    for (let i = 0; i < M * H; i++) {
      const yi = y[i];
      actGrad[i] = yi > 0 ? 1 : 0;
      a[i] = yi > 0 ? yi : 0;
    }
  }
  // z = gate ? a ⊙ σ(W_g a + b_g) : a; u += z
  if (!gate) {
    for (let i = 0; i < M * H; i++) u[i] += a[i];
    sat.u = saturate(u, fmt?.uOut, pen);
    return { mean, invStd, xhat, v, s, actGrad, a: new Float64Array(0), sig: new Float64Array(0), sat };
  }
  const sig = fillRows(new Float64Array(M * H), M, L.gateB!);
  gemm.nt(a, E.gateW!, sig, M, H, H, true);
  sat.g = saturate(sig, fmt?.g, pen);
  for (let i = 0; i < M * H; i++) {
    sig[i] = 1 / (1 + Math.exp(-sig[i]));
    // SMA: a skipped step passes a through (its σ is still taken: the STE needs a ⊙ σ − a).
    u[i] += smaM && !smaM[Math.floor(i / H)] ? a[i] : a[i] * sig[i];
  }
  sat.u = saturate(u, fmt?.uOut, pen);
  return { mean, invStd, xhat, v, s, actGrad, a, sig, sat, ...(smaM ? { smaY, smaP, smaM } : {}) };
}

/**
 * Gradients of Σ_n ⟨gradOutputs[n], outputs[n]⟩ (+ Σ_l ⟨gradBlocks[l], blockOut[l]⟩ where given:
 * a loss on the residual stream after block l, hint.ts) with respect to every trainable parameter.
 */
export function backwardBatch(p: TrainParams, tape: Tape, gradOutputs: ArrayLike<number>[], gradBlocks?: (Float64Array | undefined)[]): TrainParams {
  const { d_in, d_model: H, d_out, encoder_act } = p.config;
  const { T, N, eff } = tape;
  if (gradOutputs.length !== N) throw new Error(`backwardBatch: ${gradOutputs.length} output gradients for a batch of ${N}`);
  const M = N * T;
  const g = zerosLike(p);
  // Decoder.
  const gOut = new Float64Array(M * d_out);
  gradOutputs.forEach((go, n) => {
    for (let i = 0, o = n * T * d_out; i < T * d_out; i++) gOut[o + i] = go[i];
  });
  atSaturated(gOut, tape.outSat, N);
  addColumnSums(gOut, M, d_out, g.decB);
  gemm.tn(gOut, tape.uLast, g.decW, d_out, H, M, true);
  const gu = new Float64Array(M * H);
  gemm.nn(gOut, eff.decW, gu, M, H, d_out, false);

  for (let l = p.layers.length - 1; l >= 0; l--) {
    // gu is ∂/∂(block l's output) here: the downstream layers' and any loss on that output itself.
    const gb = gradBlocks?.[l];
    if (gb) for (let i = 0; i < M * H; i++) gu[i] += gb[i];
    backwardLayer(p.config, p.layers[l], g.layers[l], eff.layers[l], tape.layers[l], gu, N, T, tape.bn, tape.sma);
  }
  // Encoder.
  if (encoder_act === 'relu') for (let i = 0; i < M * H; i++) if (tape.encPre[i] < 0) gu[i] = 0;
  atSaturated(gu, tape.encSat, N);
  addColumnSums(gu, M, H, g.encB);
  gemm.tn(gu, tape.x, g.encW, H, d_in, M, true);
  return g;
}

/** One block backward: gu [N·T, H] holds ∂/∂(block output) on entry and ∂/∂(block input) on return; G accumulates. */
function backwardLayer(config: ModelConfig, L: LayerParams, G: LayerParams, E: LayerEff, tp: LayerTape, gu: Float64Array, N: number, T: number, bn: BnMode, sma: SmaTraining): void {
  const { d_model: H, d_state: P, gate } = config;
  const M = N * T;
  const P2 = 2 * P;
  const { xhat, v, s, actGrad } = tp;
  // The block output saturated: nothing flows back through it from downstream, to the residual or to z.
  atSaturated(gu, tp.sat.u, N);
  const gy = new Float64Array(M * H);
  const gv = new Float64Array(M * H);
  const gs = new Float64Array(M * P2);
  const dcc = new Float64Array(H * P2);
  // z = a ⊙ σ(g): ga = gz ⊙ σ + W_gᵀ (gz ⊙ a ⊙ σ(1 − σ)); then gy = ga ⊙ act′(y).
  if (gate) {
    const gg = new Float64Array(M * H);
    const m = tp.smaM;
    for (let i = 0; i < M * H; i++) {
      if (m && !m[Math.floor(i / H)]) {
        gy[i] = gu[i]; // skipped step: z = a
        continue;
      }
      const sg = tp.sig[i];
      gg[i] = gu[i] * tp.a[i] * sg * (1 - sg);
      gy[i] = gu[i] * sg;
    }
    atSaturated(gg, tp.sat.g, N);
    addColumnSums(gg, M, H, G.gateB!);
    gemm.tn(gg, tp.a, G.gateW!, H, H, M, true);
    gemm.nn(gg, E.gateW!, gy, M, H, H, true);
    // gy holds ∂/∂a here; a saturated a takes the range penalty's instead.
    atSaturated(gy, tp.sat.a, N);
    for (let i = 0; i < M * H; i++) gy[i] *= actGrad[i];
    if (m) {
      // ∂L/∂m = Σ_h gz (a σ − a), straight through p₁: ∂L/∂d = (∂L/∂m + penalty/M) p₁(1 − p₁)/τ.
      const wd = Float64Array.from({ length: H }, (_, h) => L.smaW![H + h] - L.smaW![h]);
      for (let r = 0; r < M; r++) {
        let gm = 0;
        for (let h = 0; h < H; h++) {
          const i = r * H + h;
          gm += gu[i] * (tp.a[i] * tp.sig[i] - tp.a[i]);
        }
        const p1 = tp.smaP![r];
        const gd = (gm + sma.penalty / M) * p1 * (1 - p1) / sma.temperature;
        if (gd === 0) continue;
        G.smaB![1] += gd;
        G.smaB![0] -= gd;
        for (let h = 0; h < H; h++) {
          const i = r * H + h;
          const yv = tp.smaY![i];
          G.smaW![H + h] += gd * yv;
          G.smaW![h] -= gd * yv;
          gy[i] += gd * wd[h];
        }
      }
    }
  } else {
    gy.set(gu);
    atSaturated(gy, tp.sat.a, N);
    for (let i = 0; i < M * H; i++) gy[i] *= actGrad[i];
  }
  atSaturated(gy, tp.sat.y, N);
  for (let r = 0; r < M; r++) {
    for (let h = 0; h < H; h++) {
      const i = r * H + h;
      G.D[h] += gy[i] * v[i];
      gv[i] = E.D[h] * gy[i];
    }
  }
  // y = C_re s_re − C_im s_im: the gradient of s directly, then of C.
  gemm.nn(gy, E.cc, gs, M, P2, H, false);
  gemm.tn(gy, s, dcc, H, P2, M, false);
  for (let h = 0; h < H; h++) {
    for (let q = 0; q < P; q++) {
      G.Cre[h * P + q] += dcc[h * P2 + q];
      G.Cim[h * P + q] -= dcc[h * P2 + P + q];
    }
  }
  // Reverse scan: gs_t = direct_t + conj(Λ̄) gs_{t+1}, in place; Λ̄'s gradient from s_{t−1}.
  const { lbRe, lbIm } = E.d;
  const sSat = tp.sat.s;
  const sK = sSat ? (2 * SATURATION_PENALTY) / (N * sSat.limit * sSat.limit) : 0;
  const dlbRe = new Float64Array(P);
  const dlbIm = new Float64Array(P);
  for (let n = 0; n < N; n++) {
    for (let t = T - 1; t >= 0; t--) {
      const so = (n * T + t) * P2;
      for (let q = 0; q < P; q++) {
        let nr = gs[so + q];
        let ni = gs[so + P + q];
        if (t < T - 1) {
          const cr = gs[so + P2 + q];
          const ci = gs[so + P2 + P + q];
          nr = nr + lbRe[q] * cr + lbIm[q] * ci;
          ni = ni - lbIm[q] * cr + lbRe[q] * ci;
        }
        // A saturated component: what reaches it from later steps and from y stops there; the
        // range penalty's gradient goes on to s_{t−1} and B̄ v_t.
        if (sSat && sSat.excess[so + q] !== 0) nr = sK * sSat.excess[so + q];
        if (sSat && sSat.excess[so + P + q] !== 0) ni = sK * sSat.excess[so + P + q];
        gs[so + q] = nr;
        gs[so + P + q] = ni;
        if (t > 0) {
          const pr = s[so - P2 + q];
          const pi = s[so - P2 + P + q];
          dlbRe[q] += nr * pr + ni * pi;
          dlbIm[q] += -nr * pi + ni * pr;
        }
      }
    }
  }
  // bv_t = B̄ v_t with gradient gs_t.
  const dbb = new Float64Array(P2 * H);
  gemm.tn(gs, v, dbb, P2, H, M, false);
  gemm.nn(gs, E.bb, gv, M, H, P2, true);
  atSaturated(gv, tp.sat.v, N);
  // BatchNorm: v = γ x̂ + β, x̂ = (x − μ)·invStd; with frozen statistics (bn 'running') μ and
  // invStd are constants, so ∂x = γ·invStd·∂v and nothing flows through the statistics.
  if (bn === 'running') {
    for (let r = 0; r < M; r++) {
      for (let h = 0; h < H; h++) {
        const i = r * H + h;
        G.beta[h] += gv[i];
        G.gamma[h] += gv[i] * xhat[i];
        gu[i] += tp.invStd[h] * gv[i] * L.gamma[h];
      }
    }
    chainZoh(L, E.d, E.bMask, dlbRe, dlbIm, dbb.subarray(0, P * H), dbb.subarray(P * H), G, H);
    return;
  }
  // With batch statistics, they depend on x too.
  const sumG = new Float64Array(H);
  const sumGX = new Float64Array(H);
  for (let r = 0; r < M; r++) {
    for (let h = 0; h < H; h++) {
      const i = r * H + h;
      G.beta[h] += gv[i];
      G.gamma[h] += gv[i] * xhat[i];
      const gx = gv[i] * L.gamma[h];
      sumG[h] += gx;
      sumGX[h] += gx * xhat[i];
    }
  }
  for (let r = 0; r < M; r++) {
    for (let h = 0; h < H; h++) {
      const i = r * H + h;
      const gx = gv[i] * L.gamma[h];
      gu[i] += tp.invStd[h] * (gx - sumG[h] / M - (xhat[i] * sumGX[h]) / M);
    }
  }
  chainZoh(L, E.d, E.bMask, dlbRe, dlbIm, dbb.subarray(0, P * H), dbb.subarray(P * H), G, H);
}

/**
 * Gradients of Λ̄ and B̄ into the continuous parameters. With complex gradients
 * G = ∂L/∂Re + i ∂L/∂Im, a holomorphic f gives G_w = conj(f′(w)) · G_f:
 *   B̄ = c·B           G_B = conj(c)·G_B̄,     G_c = Σ_h conj(B)·G_B̄
 *   c = (E − 1)/Λ      G_E += conj(1/Λ)·G_c,  G_Λ += conj(−(E − 1)/Λ²)·G_c
 *   E = exp(ΛΔ)        G_Λ += conj(Δ·E)·G_E,  g_Δ = Re(conj(Λ·E)·G_E)
 *   Re Λ = −exp(ρ), Δ = exp(logΔ).
 */
function chainZoh(L: TrainParams['layers'][number], d: Discrete, bMask: Uint8Array | undefined, dlbRe: Float64Array, dlbIm: Float64Array, dbbRe: Float64Array, dbbIm: Float64Array, G: TrainParams['layers'][number], H: number): void {
  const P = L.lamRho.length;
  // conj(a)·b for complex a, b
  const cmulConj = (ar: number, ai: number, br: number, bi: number): [number, number] => [ar * br + ai * bi, ar * bi - ai * br];
  for (let p = 0; p < P; p++) {
    const lr = -Math.exp(L.lamRho[p]);
    const li = L.lamIm[p];
    const dt = Math.exp(L.logDt[p]);
    const cr = d.cRe[p];
    const ci = d.cIm[p];
    let gcR = 0;
    let gcI = 0;
    for (let h = 0; h < H; h++) {
      const k = p * H + h;
      const [gbr, gbi] = cmulConj(cr, ci, dbbRe[k], dbbIm[k]);
      G.Bre[k] += gbr;
      G.Bim[k] += gbi;
      if (bMask && !bMask[k]) continue;
      const [r2, i2] = cmulConj(L.Bre[k], L.Bim[k], dbbRe[k], dbbIm[k]);
      gcR += r2;
      gcI += i2;
    }
    const er = d.lbRe[p];
    const ei = d.lbIm[p];
    const den = lr * lr + li * li;
    // 1/Λ
    const invR = lr / den;
    const invI = -li / den;
    let [gER, gEI] = cmulConj(invR, invI, gcR, gcI);
    gER += dlbRe[p];
    gEI += dlbIm[p];
    // −(E − 1)/Λ² = −c/Λ
    const qR = -(cr * invR - ci * invI);
    const qI = -(cr * invI + ci * invR);
    let [gLR, gLI] = cmulConj(qR, qI, gcR, gcI);
    const [a1, a2] = cmulConj(dt * er, dt * ei, gER, gEI);
    gLR += a1;
    gLI += a2;
    // Λ·E
    const leR = lr * er - li * ei;
    const leI = lr * ei + li * er;
    const gDt = leR * gER + leI * gEI;
    G.logDt[p] += gDt * dt;
    G.lamRho[p] += gLR * lr; // ∂ReΛ/∂ρ = −exp(ρ) = ReΛ
    G.lamIm[p] += gLI;
  }
}
