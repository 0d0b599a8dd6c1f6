// ============================================================================
// Trainable parameters in the S5 parameterization, their initialisation, and
// their export to a sparrow model file.
//
//   Λ = −exp(ρ) + i·ω    continuous-time eigenvalues: Re Λ < 0 always, so every
//                        trained model is stable (|Λ̄| = exp(Re Λ · Δ) < 1)
//   Δ = exp(logΔ)        per-state step size
//   Λ̄ = exp(ΛΔ), B̄ = (Λ̄ − 1)/Λ · B      zero-order hold, as S5 and sparrow import
//   y = Re(C s) + D ⊙ v  complex B, C: with conjugate-symmetric pairs the usual
//                        2·Re(C s) has its 2 absorbed into the learned C
//   v = γ ⊙ (u − μ)/√(σ² + ε) + β         BatchNorm while training, folded into
//                        norm.scale/shift at export with the running statistics
//
// Every weight matrix may carry a pruning mask (1 = kept). Export applies it,
// so an exported model has exactly the sparsity pattern the trainer reached.
// ============================================================================

import { toCsr } from '../model/model';
import { Matrix, Model, ModelConfig } from '../model/types';
import { makeRng, Rng } from '../util/rng';
import { SparrowError } from '../util/errors';

export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;
/** Initial bias of SMA's run logit over its skip logit. */
export const SMA_INIT_BIAS = 2;

export interface LayerParams {
  /** BatchNorm scale and shift (trained) and running statistics (buffers). */
  gamma: Float64Array;
  beta: Float64Array;
  runMean: Float64Array;
  runVar: Float64Array;
  /** Re Λ = −exp(lamRho), Im Λ = lamIm, Δ = exp(logDt); [P]. */
  lamRho: Float64Array;
  lamIm: Float64Array;
  logDt: Float64Array;
  /** Continuous B (complex) [P, H] and C (complex) [H, P], row-major. */
  Bre: Float64Array;
  Bim: Float64Array;
  Cre: Float64Array;
  Cim: Float64Array;
  D: Float64Array;
  gateW?: Float64Array; // [H, H]
  gateB?: Float64Array; // [H]
  /** SMA: the two activation logits l = W_s y + b_s, [2, H] and [2] (row 1 = the gate runs). */
  smaW?: Float64Array;
  smaB?: Float64Array;
}

export interface TrainParams {
  config: ModelConfig;
  encW: Float64Array; // [H, d_in]
  encB: Float64Array; // [H]
  layers: LayerParams[];
  decW: Float64Array; // [d_out, H]
  decB: Float64Array; // [d_out]
}

/** Names of the prunable matrices, as the model file names them (B and C: one mask for re/im). */
export type MatrixName = string;
export type Masks = Map<MatrixName, Uint8Array>;

/** Trainable tensors in a fixed order (the optimizer's view); `ssm` ones get the SSM learning rate and no weight decay. */
export interface ParamRef {
  name: string;
  value: Float64Array;
  ssm: boolean;
  decay: boolean;
  /** The mask that applies to this tensor, if it is (part of) a prunable matrix. */
  maskName?: MatrixName;
}

export function paramRefs(p: TrainParams): ParamRef[] {
  const refs: ParamRef[] = [
    { name: 'encoder.weight', value: p.encW, ssm: false, decay: true, maskName: 'encoder.weight' },
    { name: 'encoder.bias', value: p.encB, ssm: false, decay: false },
  ];
  p.layers.forEach((L, i) => {
    const n = `layers.${i}`;
    refs.push(
      { name: `${n}.norm.gamma`, value: L.gamma, ssm: false, decay: false },
      { name: `${n}.norm.beta`, value: L.beta, ssm: false, decay: false },
      { name: `${n}.ssm.lambda_rho`, value: L.lamRho, ssm: true, decay: false },
      { name: `${n}.ssm.lambda_im`, value: L.lamIm, ssm: true, decay: false },
      { name: `${n}.ssm.log_step`, value: L.logDt, ssm: true, decay: false },
      { name: `${n}.ssm.B_re`, value: L.Bre, ssm: true, decay: false, maskName: `${n}.ssm.B` },
      { name: `${n}.ssm.B_im`, value: L.Bim, ssm: true, decay: false, maskName: `${n}.ssm.B` },
      { name: `${n}.ssm.C_re`, value: L.Cre, ssm: false, decay: true, maskName: `${n}.ssm.C` },
      { name: `${n}.ssm.C_im`, value: L.Cim, ssm: false, decay: true, maskName: `${n}.ssm.C` },
      { name: `${n}.ssm.D`, value: L.D, ssm: false, decay: false },
    );
    if (L.gateW) refs.push({ name: `${n}.gate.weight`, value: L.gateW, ssm: false, decay: true, maskName: `${n}.gate.weight` }, { name: `${n}.gate.bias`, value: L.gateB!, ssm: false, decay: false });
    if (L.smaW) refs.push({ name: `${n}.sma.weight`, value: L.smaW, ssm: false, decay: false }, { name: `${n}.sma.bias`, value: L.smaB!, ssm: false, decay: false });
  });
  refs.push({ name: 'decoder.weight', value: p.decW, ssm: false, decay: true, maskName: 'decoder.weight' }, { name: 'decoder.bias', value: p.decB, ssm: false, decay: false });
  return refs;
}

/** Same shapes, all zero: a gradient accumulator. */
export function zerosLike(p: TrainParams): TrainParams {
  const z = (a: Float64Array) => new Float64Array(a.length);
  return {
    config: p.config,
    encW: z(p.encW), encB: z(p.encB), decW: z(p.decW), decB: z(p.decB),
    layers: p.layers.map((L) => ({
      gamma: z(L.gamma), beta: z(L.beta), runMean: z(L.runMean), runVar: z(L.runVar),
      lamRho: z(L.lamRho), lamIm: z(L.lamIm), logDt: z(L.logDt), Bre: z(L.Bre), Bim: z(L.Bim), Cre: z(L.Cre), Cim: z(L.Cim), D: z(L.D),
      ...(L.gateW ? { gateW: z(L.gateW), gateB: z(L.gateB!) } : {}),
      ...(L.smaW ? { smaW: z(L.smaW), smaB: z(L.smaB!) } : {}),
    })),
  };
}

function normal(rng: Rng, n: number, std: number): Float64Array {
  return Float64Array.from({ length: n }, () => rng.normal() * std);
}

/**
 * S5-style initialisation: Λ with Re = −1/2 and Im spread as in HiPPO-LegS's diagonal
 * (π·n), log Δ uniform in [log 0.001, log 0.1], B and C Lecun-normal, D ~ N(0, 1).
 */
export function initParams(config: ModelConfig, seed: number, dtRange: [number, number] = [0.001, 0.1]): TrainParams {
  const rng = makeRng(seed);
  const { d_in, d_model: H, d_state: P, d_out, gate } = config;
  const layers: LayerParams[] = [];
  for (let l = 0; l < config.n_layers; l++) {
    layers.push({
      gamma: new Float64Array(H).fill(1),
      beta: new Float64Array(H),
      runMean: new Float64Array(H),
      runVar: new Float64Array(H).fill(1),
      lamRho: new Float64Array(P).fill(Math.log(0.5)),
      lamIm: Float64Array.from({ length: P }, (_, p) => Math.PI * p),
      logDt: Float64Array.from({ length: P }, () => Math.log(dtRange[0]) + rng.uniform() * (Math.log(dtRange[1]) - Math.log(dtRange[0]))),
      Bre: normal(rng, P * H, Math.sqrt(0.5 / H)),
      Bim: normal(rng, P * H, Math.sqrt(0.5 / H)),
      Cre: normal(rng, H * P, Math.sqrt(0.5 / P)),
      Cim: normal(rng, H * P, Math.sqrt(0.5 / P)),
      D: normal(rng, H, 1),
      ...(gate ? { gateW: normal(rng, H * H, Math.sqrt(1 / H)), gateB: new Float64Array(H) } : {}),
    });
  }
  const encW = normal(rng, H * d_in, Math.sqrt(1 / d_in));
  const decW = normal(rng, d_out * H, Math.sqrt(1 / H));
  // SMA logits drawn after everything else (the same seed gives the same other weights): small
  // weights and a run-logit bias of SMA_INIT_BIAS, so training starts with the gate nearly always on.
  if (config.sma) {
    for (const L of layers) {
      L.smaW = normal(rng, 2 * H, 0.1 / Math.sqrt(H));
      L.smaB = Float64Array.of(0, SMA_INIT_BIAS);
    }
  }
  return { config, encW, encB: new Float64Array(H), layers, decW, decB: new Float64Array(d_out) };
}

// ---------------------------------------------------------------------------
// Discretisation (zero-order hold), shared by the forward pass and export.
// ---------------------------------------------------------------------------

export interface Discrete {
  /** Λ̄ = exp(ΛΔ) [P]. */
  lbRe: Float64Array;
  lbIm: Float64Array;
  /** ZOH input factor c = (Λ̄ − 1)/Λ [P]; B̄ = c ⊙_row B. */
  cRe: Float64Array;
  cIm: Float64Array;
  /** B̄ [P, H] (masked). */
  bbRe: Float64Array;
  bbIm: Float64Array;
}

export function discretize(L: LayerParams, H: number, mask?: Uint8Array): Discrete {
  const P = L.lamRho.length;
  const d: Discrete = { lbRe: new Float64Array(P), lbIm: new Float64Array(P), cRe: new Float64Array(P), cIm: new Float64Array(P), bbRe: new Float64Array(P * H), bbIm: new Float64Array(P * H) };
  for (let p = 0; p < P; p++) {
    const lr = -Math.exp(L.lamRho[p]);
    const li = L.lamIm[p];
    const dt = Math.exp(L.logDt[p]);
    const mag = Math.exp(lr * dt);
    const er = mag * Math.cos(li * dt);
    const ei = mag * Math.sin(li * dt);
    d.lbRe[p] = er;
    d.lbIm[p] = ei;
    // c = (E − 1)/Λ
    const den = lr * lr + li * li;
    const nr = er - 1;
    d.cRe[p] = (nr * lr + ei * li) / den;
    d.cIm[p] = (ei * lr - nr * li) / den;
    for (let h = 0; h < H; h++) {
      const k = p * H + h;
      if (mask && !mask[k]) continue;
      d.bbRe[k] = d.cRe[p] * L.Bre[k] - d.cIm[p] * L.Bim[k];
      d.bbIm[k] = d.cRe[p] * L.Bim[k] + d.cIm[p] * L.Bre[k];
    }
  }
  return d;
}

// ---------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------

function matrix(values: Float64Array, rows: number, cols: number, mask?: Uint8Array): Matrix {
  const v = Float32Array.from(values, (x, i) => (mask && !mask[i] ? 0 : x));
  const dense: Matrix = { kind: 'dense', rows, cols, values: v };
  return mask && mask.some((m) => m === 0) ? toCsr(dense) : dense;
}

/** The model the trained parameters define, BatchNorm folded with the running statistics and masks applied. */
export function exportModel(p: TrainParams, masks: Masks = new Map(), metadata: Record<string, string> = {}): Model {
  const { d_in, d_model: H, d_state: P, d_out } = p.config;
  return {
    config: p.config,
    encoderWeight: matrix(p.encW, H, d_in, masks.get('encoder.weight')),
    encoderBias: Float32Array.from(p.encB),
    layers: p.layers.map((L, i) => {
      const scale = Float64Array.from(L.gamma, (g, h) => g / Math.sqrt(L.runVar[h] + BN_EPS));
      const d = discretize(L, H, masks.get(`layers.${i}.ssm.B`));
      const cMask = masks.get(`layers.${i}.ssm.C`);
      return {
        normScale: Float32Array.from(scale),
        normShift: Float32Array.from(L.beta, (b, h) => b - L.runMean[h] * scale[h]),
        lambdaRe: Float32Array.from(d.lbRe),
        lambdaIm: Float32Array.from(d.lbIm),
        B_re: matrix(d.bbRe, P, H, masks.get(`layers.${i}.ssm.B`)),
        B_im: matrix(d.bbIm, P, H, masks.get(`layers.${i}.ssm.B`)),
        C_re: matrix(L.Cre, H, P, cMask),
        C_im: matrix(L.Cim, H, P, cMask),
        D: Float32Array.from(L.D),
        ...(L.gateW ? { gateWeight: matrix(L.gateW, H, H, masks.get(`layers.${i}.gate.weight`)), gateBias: Float32Array.from(L.gateB!) } : {}),
        ...(L.smaW ? { smaWeight: matrix(L.smaW, 2, H), smaBias: Float32Array.from(L.smaB!) } : {}),
      };
    }),
    decoderWeight: matrix(p.decW, d_out, H, masks.get('decoder.weight')),
    decoderBias: Float32Array.from(p.decB),
    metadata,
  };
}

// ---------------------------------------------------------------------------
// Flat views, for sending parameters and gradients between threads.
// ---------------------------------------------------------------------------

export function flattenParams(p: TrainParams): Float64Array {
  const refs = paramRefs(p);
  const out = new Float64Array(refs.reduce((a, r) => a + r.value.length, 0));
  let o = 0;
  for (const r of refs) {
    out.set(r.value, o);
    o += r.value.length;
  }
  return out;
}

export function loadFlatParams(p: TrainParams, flat: Float64Array): void {
  let o = 0;
  for (const r of paramRefs(p)) {
    r.value.set(flat.subarray(o, o + r.value.length));
    o += r.value.length;
  }
  if (o !== flat.length) throw new Error(`flat parameter vector has ${flat.length} values, the model ${o}`);
}

// ---------------------------------------------------------------------------
// Import: a trained model back into this parameterization (tuning it).
// ---------------------------------------------------------------------------

function dense(m: Matrix): Float64Array {
  const out = new Float64Array(m.rows * m.cols);
  if (m.kind === 'dense') out.set(m.values);
  else for (let r = 0; r < m.rows; r++) for (let k = m.indptr[r]; k < m.indptr[r + 1]; k++) out[r * m.cols + m.indices[k]] = m.values[k];
  return out;
}

/** 1 where any of the matrices (re and im) is nonzero. */
function nonzeroMask(...ms: Float64Array[]): Uint8Array {
  return Uint8Array.from(ms[0], (_, i) => (ms.some((m) => m[i] !== 0) ? 1 : 0));
}

/**
 * Parameters that export to `model` (float), for tuning or further training: Δ = `dt` (default 1;
 * only ΛΔ is in the model, so any Δ gives the same Λ̄) and Λ = log(Λ̄)/Δ (so Λ̄ = exp(ΛΔ) as
 * stored), B = B̄·Λ/(Λ̄ − 1), BatchNorm with running mean 0 and variance 1 − ε
 * so that the folded scale is γ = norm.scale and the shift β = norm.shift. Train it with
 * BatchNorm frozen at those statistics (bn 'running'), which is what the model computes. The
 * masks are the model's patterns of nonzero weights (B, C: re or im nonzero), so fine-tuning
 * keeps its sparsity. exportModel of the result equals `model` up to float rounding
 * (tests/train/tune.test.ts). A state with |Λ̄| ≥ 1 (or 0) has no such Λ: an error names it.
 */
export function importModel(model: Model, dt = 1): { params: TrainParams; masks: Masks } {
  const { d_model: H, d_state: P } = model.config;
  const masks: Masks = new Map();
  const encW = dense(model.encoderWeight);
  const decW = dense(model.decoderWeight);
  masks.set('encoder.weight', nonzeroMask(encW));
  masks.set('decoder.weight', nonzeroMask(decW));
  const layers: LayerParams[] = model.layers.map((L, i) => {
    const lamRho = new Float64Array(P);
    const lamIm = new Float64Array(P);
    const bbRe = dense(L.B_re);
    const bbIm = dense(L.B_im);
    const Bre = new Float64Array(P * H);
    const Bim = new Float64Array(P * H);
    for (let p = 0; p < P; p++) {
      const er = L.lambdaRe[p];
      const ei = L.lambdaIm[p];
      const r = Math.hypot(er, ei);
      if (!(r > 0 && r < 1)) throw new SparrowError(`layers.${i}.ssm.lambda: state ${p} has |Λ̄| = ${r}, outside (0, 1); only a stable recurrence can be tuned`);
      const lr = Math.log(r) / dt;
      const li = Math.atan2(ei, er) / dt;
      lamRho[p] = Math.log(-lr);
      lamIm[p] = li;
      // B = B̄ / c with c = (Λ̄ − 1)/Λ, i.e. B = B̄ · Λ / (Λ̄ − 1).
      const nr = er - 1;
      const den = nr * nr + ei * ei;
      const kRe = (lr * nr + li * ei) / den;
      const kIm = (li * nr - lr * ei) / den;
      for (let h = 0; h < H; h++) {
        const k = p * H + h;
        Bre[k] = bbRe[k] * kRe - bbIm[k] * kIm;
        Bim[k] = bbRe[k] * kIm + bbIm[k] * kRe;
      }
    }
    const Cre = dense(L.C_re);
    const Cim = dense(L.C_im);
    masks.set(`layers.${i}.ssm.B`, nonzeroMask(bbRe, bbIm));
    masks.set(`layers.${i}.ssm.C`, nonzeroMask(Cre, Cim));
    const gate = L.gateWeight ? dense(L.gateWeight) : undefined;
    if (gate) masks.set(`layers.${i}.gate.weight`, nonzeroMask(gate));
    return {
      gamma: Float64Array.from(L.normScale),
      beta: Float64Array.from(L.normShift),
      runMean: new Float64Array(H),
      runVar: new Float64Array(H).fill(1 - BN_EPS),
      lamRho,
      lamIm,
      logDt: new Float64Array(P).fill(Math.log(dt)),
      Bre,
      Bim,
      Cre,
      Cim,
      D: Float64Array.from(L.D),
      ...(gate ? { gateW: gate, gateB: Float64Array.from(L.gateBias!) } : {}),
      ...(L.smaWeight ? { smaW: dense(L.smaWeight), smaB: Float64Array.from(L.smaBias!) } : {}),
    };
  });
  return { params: { config: model.config, encW, encB: Float64Array.from(model.encoderBias), layers, decW, decB: Float64Array.from(model.decoderBias) }, masks };
}
