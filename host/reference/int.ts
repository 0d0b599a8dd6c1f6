// ============================================================================
// Integer reference: the bit-exact definition of a w8a16 sparrow model's step.
// Every integer executor (the WASM integer firmware, the C target, the
// emulator) must produce exactly these int16 outputs.
//
// All arithmetic is on exact integers (JS numbers stay exact below 2^53; every
// intermediate here is below 2^48). The only two non-linear integer operations:
//
//   rshift(a, k)  k > 0: floor((a + 2^(k−1)) / 2^k)   round half up (toward +∞)
//                 k ≤ 0: a · 2^(−k)                   exact
//   sat16(a)      clamp to [−32768, 32767]            saturate, never wrap
//
// One step, per layer (fractional bits in LayerFormats, docs/quantization.md):
//   v   = sat16(rshift(scale·u + shift, fns + uIn − v))
//   bv  = rshift(B v, fB[p] + v − s)                  int32 accumulators
//   s'  = sat16(rshift(λre·sre − λim·sim, 15) + bv)   (and the imaginary part)
//   y   = sat16(rshift(C_re s_re − C_im s_im, fC[h] + s − y) + rshift(D·v, fD + v − y))
//   a   = GELU-LUT(y) or max(y, 0)
//   z   = gate ? (a·σ-LUT(sat16(rshift(W_g a + b_g, fG[h] + a − g))) + 2^14) >> 15 : a
//   u'  = sat16(rshift(u, uIn − uOut) + rshift(z, a − uOut))
// ============================================================================

import { QLayer, QMatrix, QuantModel } from '../model/quant';

export const INT16_MIN = -32768;
export const INT16_MAX = 32767;

export function sat16(a: number): number {
  return a < INT16_MIN ? INT16_MIN : a > INT16_MAX ? INT16_MAX : a;
}

/** Rounding arithmetic shift right by k (left by −k when k < 0); exact on integers. */
export function rshift(a: number, k: number): number {
  if (k <= 0) return a * 2 ** -k;
  return Math.floor((a + 2 ** (k - 1)) / 2 ** k);
}

/**
 * Table lookup with linear interpolation over the int16 input range: entry i is
 * the function at input −32768 + 256·i; the low 8 bits of the input interpolate
 * between entries i and i+1, rounding half up.
 */
export function lutLookup(table: Int16Array, x: number): number {
  const offset = x + 32768; // 0 … 65535
  const i = offset >> 8;
  const frac = offset & 255;
  return table[i] + ((((table[i + 1] - table[i]) * frac + 128) >> 8));
}

/** Integer mat-vec: int32 accumulators (exact), one per row. */
export function matvecInt(W: QMatrix, x: ArrayLike<number>, acc: Float64Array): void {
  if (W.kind === 'dense') {
    for (let r = 0; r < W.rows; r++) {
      let s = 0;
      for (let c = 0; c < W.cols; c++) s += W.values[r * W.cols + c] * x[c];
      acc[r] = s;
    }
  } else {
    const { indptr, indices, values } = W as Required<QMatrix>;
    for (let r = 0; r < W.rows; r++) {
      let s = 0;
      for (let k = indptr[r]; k < indptr[r + 1]; k++) s += values[k] * x[indices[k]];
      acc[r] = s;
    }
  }
}

export interface IntState {
  sRe: Int16Array[];
  sIm: Int16Array[];
}

export function zeroIntState(model: QuantModel): IntState {
  const P = model.config.d_state;
  return { sRe: model.layers.map(() => new Int16Array(P)), sIm: model.layers.map(() => new Int16Array(P)) };
}

/** Optional per-step view of every intermediate int16 tensor (for SQNR reports and tests). */
export interface IntTrace {
  u: Int16Array[];
  v: Int16Array[];
  y: Int16Array[];
  a: Int16Array[];
  /** SMA models: per layer and step, 1 when the gate ran. */
  m?: number[];
}

function layerStep(L: QLayer, gate: boolean, act: 'gelu' | 'relu', u: Int16Array, sRe: Int16Array, sIm: Int16Array, trace?: IntTrace): Int16Array {
  const H = u.length;
  const P = sRe.length;
  const f = L.fmt;

  const v = new Int16Array(H);
  for (let h = 0; h < H; h++) v[h] = sat16(rshift(L.normScale[h] * u[h] + L.normShift[h], L.normScaleFrac + f.uIn - f.v));

  const bvRe = new Float64Array(P);
  const bvIm = new Float64Array(P);
  matvecInt(L.B_re, v, bvRe);
  matvecInt(L.B_im, v, bvIm);
  for (let p = 0; p < P; p++) {
    const k = L.B_re.rowFrac[p] + f.v - f.s;
    const re = rshift(L.lambdaRe[p] * sRe[p] - L.lambdaIm[p] * sIm[p], 15) + rshift(bvRe[p], k);
    const im = rshift(L.lambdaRe[p] * sIm[p] + L.lambdaIm[p] * sRe[p], 15) + rshift(bvIm[p], k);
    sRe[p] = sat16(re);
    sIm[p] = sat16(im);
  }

  const cRe = new Float64Array(H);
  const cIm = new Float64Array(H);
  matvecInt(L.C_re, sRe, cRe);
  matvecInt(L.C_im, sIm, cIm);
  const y = new Int16Array(H);
  const a = new Int16Array(H);
  for (let h = 0; h < H; h++) {
    y[h] = sat16(rshift(cRe[h] - cIm[h], L.C_re.rowFrac[h] + f.s - f.y) + rshift(L.D[h] * v[h], L.dFrac + f.v - f.y));
    a[h] = act === 'gelu' ? lutLookup(L.actLut!, y[h]) : Math.max(y[h], 0);
  }

  // SMA: the gate runs this step only when w_d·y + b_d > 0 (w_d = w₁ − w₀: l₁ > l₀).
  let active = true;
  if (L.smaWeight) {
    const d = new Float64Array(1);
    matvecInt(L.smaWeight, y, d);
    active = d[0] + L.smaBias![0] > 0;
    trace?.m?.push(active ? 1 : 0);
  }
  let z = a;
  if (gate && active) {
    z = new Int16Array(H);
    const g = new Float64Array(H);
    matvecInt(L.gateWeight!, a, g);
    for (let h = 0; h < H; h++) {
      const gq = sat16(rshift(g[h] + L.gateBias![h], L.gateWeight!.rowFrac[h] + f.a - f.g));
      const sigma = lutLookup(L.sigmoidLut!, gq);
      z[h] = (a[h] * sigma + 16384) >> 15;
    }
  }

  const out = new Int16Array(H);
  for (let h = 0; h < H; h++) out[h] = sat16(rshift(u[h], f.uIn - f.uOut) + rshift(z[h], f.a - f.uOut));
  if (trace) {
    trace.v.push(v);
    trace.y.push(y);
    trace.a.push(a);
    trace.u.push(out);
  }
  return out;
}

/** One integer step: int16 input x (frac inputFrac) → int16 output (frac outputFrac). */
export function stepInt(model: QuantModel, state: IntState, x: ArrayLike<number>, trace?: IntTrace): Int16Array {
  const { d_model: H, d_out } = model.config;
  const acc = new Float64Array(H);
  matvecInt(model.encoderWeight, x, acc);
  let u: Int16Array = new Int16Array(H);
  for (let h = 0; h < H; h++) {
    const q = sat16(rshift(acc[h] + model.encoderBias[h], model.encoderWeight.rowFrac[h] + model.inputFrac - model.encoderFrac));
    u[h] = model.config.encoder_act === 'relu' ? Math.max(q, 0) : q;
  }
  if (trace) trace.u.push(u);
  model.layers.forEach((L, i) => {
    u = layerStep(L, model.config.gate, model.config.act, u, state.sRe[i], state.sIm[i], trace);
  });
  const last = model.layers.length > 0 ? model.layers[model.layers.length - 1].fmt.uOut : model.encoderFrac;
  const o = new Float64Array(d_out);
  matvecInt(model.decoderWeight, u, o);
  const out = new Int16Array(d_out);
  for (let j = 0; j < d_out; j++) out[j] = sat16(rshift(o[j] + model.decoderBias[j], model.decoderWeight.rowFrac[j] + last - model.outputFrac));
  return out;
}

/** x_q = sat16(round-half-up(x · 2^frac)). */
export function quantizeInput(x: number, frac: number): number {
  return sat16(Math.floor(x * 2 ** frac + 0.5));
}

export function runInt(model: QuantModel, inputs: ArrayLike<number>, T: number): Int16Array {
  const { d_in, d_out } = model.config;
  const state = zeroIntState(model);
  const out = new Int16Array(T * d_out);
  const x = new Int16Array(d_in);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < d_in; j++) x[j] = inputs[t * d_in + j];
    out.set(stepInt(model, state, x), t * d_out);
  }
  return out;
}

