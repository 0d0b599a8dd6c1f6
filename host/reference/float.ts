// ============================================================================
// float64 reference: the executable definition of a sparrow model's math.
// Every executor (WASM f32 firmware, later the integer path, the C target, the
// emulator, ONNX) is tested against this file. It is written to be read, not
// to be fast: one plain loop per equation, all in float64.
//
// One time step:
//   u = encoder_act(W_enc x + b_enc)
//   per layer:  v = scale ⊙ u + shift
//               s = Λ ⊙ s + B v                  (complex: Λ = λre + iλim, B = B_re + iB_im)
//               y = Re(C s) + D ⊙ v = C_re s_re − C_im s_im + D ⊙ v
//               a = act(y);  z = gate ? a ⊙ σ(W_g a + b_g) : a;  u = u + z
//   o = W_dec u + b_dec
// ============================================================================

import { Matrix, Model } from '../model/types';

export interface FloatState {
  /** Per layer: real and imaginary parts of the P complex states. */
  sRe: Float64Array[];
  sIm: Float64Array[];
}

export function zeroState(model: Model): FloatState {
  const P = model.config.d_state;
  return {
    sRe: model.layers.map(() => new Float64Array(P)),
    sIm: model.layers.map(() => new Float64Array(P)),
  };
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** GELU, tanh approximation (JAX's `approximate=True` default). */
export function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
}

export function relu(x: number): number {
  return x > 0 ? x : 0;
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** y = W x (+ y when accumulate), in float64, for dense or CSR W. */
export function matvec(W: Matrix, x: ArrayLike<number>, y: Float64Array, accumulate = false): void {
  if (!accumulate) y.fill(0);
  if (W.kind === 'dense') {
    for (let r = 0; r < W.rows; r++) {
      let acc = 0;
      for (let c = 0; c < W.cols; c++) acc += W.values[r * W.cols + c] * x[c];
      y[r] += acc;
    }
  } else {
    for (let r = 0; r < W.rows; r++) {
      let acc = 0;
      for (let k = W.indptr[r]; k < W.indptr[r + 1]; k++) acc += W.values[k] * x[W.indices[k]];
      y[r] += acc;
    }
  }
}

/**
 * Sees every intermediate tensor of a step (calibration, SQNR reports): `layer` is −1
 * for the encoder output `u` and the model output `o`; `m` is SMA's decision [1 = the gate ran].
 */
export type FloatObserver = (tensor: 'u' | 'v' | 's' | 'y' | 'a' | 'g' | 'o' | 'm', layer: number, values: Float64Array) => void;

/** Advance the state by one input step `x` (length d_in); returns the d_out outputs. */
export function stepFloat(model: Model, state: FloatState, x: ArrayLike<number>, observe?: FloatObserver): Float64Array {
  const { d_model: H, d_state: P, d_out } = model.config;
  const act = model.config.act === 'gelu' ? gelu : relu;

  const u = new Float64Array(H);
  matvec(model.encoderWeight, x, u);
  for (let h = 0; h < H; h++) {
    u[h] += model.encoderBias[h];
    if (model.config.encoder_act === 'relu') u[h] = relu(u[h]);
  }
  observe?.('u', -1, u);

  const v = new Float64Array(H);
  const bvRe = new Float64Array(P);
  const bvIm = new Float64Array(P);
  const y = new Float64Array(H);
  const tmp = new Float64Array(H);
  const a = new Float64Array(H);
  const g = new Float64Array(H);

  model.layers.forEach((L, i) => {
    const sRe = state.sRe[i];
    const sIm = state.sIm[i];
    for (let h = 0; h < H; h++) v[h] = L.normScale[h] * u[h] + L.normShift[h];
    observe?.('v', i, v);

    matvec(L.B_re, v, bvRe);
    matvec(L.B_im, v, bvIm);
    for (let p = 0; p < P; p++) {
      const re = L.lambdaRe[p] * sRe[p] - L.lambdaIm[p] * sIm[p] + bvRe[p];
      const im = L.lambdaRe[p] * sIm[p] + L.lambdaIm[p] * sRe[p] + bvIm[p];
      sRe[p] = re;
      sIm[p] = im;
    }
    observe?.('s', i, sRe);
    observe?.('s', i, sIm);

    matvec(L.C_re, sRe, y);
    matvec(L.C_im, sIm, tmp);
    for (let h = 0; h < H; h++) {
      y[h] = y[h] - tmp[h] + L.D[h] * v[h];
      a[h] = act(y[h]);
    }
    observe?.('y', i, y);
    observe?.('a', i, a);

    // SMA: the gate runs this step only when its logit l₁ beats l₀ (ties: it does not).
    let active = true;
    if (model.config.sma) {
      const w = L.smaWeight!;
      const l = new Float64Array(2);
      matvec(w, y, l);
      active = l[1] + L.smaBias![1] > l[0] + L.smaBias![0];
      observe?.('m', i, Float64Array.of(active ? 1 : 0));
    }
    if (model.config.gate && active) {
      matvec(L.gateWeight!, a, g);
      for (let h = 0; h < H; h++) g[h] += L.gateBias![h];
      observe?.('g', i, g);
      for (let h = 0; h < H; h++) u[h] += a[h] * sigmoid(g[h]);
    } else {
      for (let h = 0; h < H; h++) u[h] += a[h];
    }
    observe?.('u', i, u);
  });

  const o = new Float64Array(d_out);
  matvec(model.decoderWeight, u, o);
  for (let j = 0; j < d_out; j++) o[j] += model.decoderBias[j];
  observe?.('o', -1, o);
  return o;
}

/** Run a whole [T, d_in] sequence from the zero state; returns [T, d_out] row-major. */
export function runFloat(model: Model, inputs: ArrayLike<number>, T: number): Float64Array {
  const { d_in, d_out } = model.config;
  const state = zeroState(model);
  const out = new Float64Array(T * d_out);
  const x = new Float64Array(d_in);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < d_in; j++) x[j] = inputs[t * d_in + j];
    out.set(stepFloat(model, state, x), t * d_out);
  }
  return out;
}
