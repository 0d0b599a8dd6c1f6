// ============================================================================
// w8a16 post-training quantization with power-of-two scales.
//
//   1. calibrate: run the float64 reference over calibration sequences and
//      record max |value| of every activation tensor (x, u, v, s, y, a, g, o);
//   2. formats: each int16 tensor gets the largest frac with max·2^frac ≤ 32767,
//      each int8 weight row the largest frac with max|w|·2^frac ≤ 127 (per
//      tensor unless --per-channel; re and im of a complex row share one);
//   3. quantize weights (round half away from zero, clamp ±127), biases to
//      int32 at their accumulator's frac, Λ to Q15, build the GELU and sigmoid
//      tables for each layer's formats;
//   4. check every accumulator's worst case fits int32 and every shift is sane,
//      so the integer kernels can never wrap.
// The integer arithmetic itself is defined in host/reference/int.ts.
// ============================================================================

import { LAMBDA_FRAC, LayerFormats, LUT_ENTRIES, QLayer, QMatrix, QUANT_SCHEME, QuantModel } from '../model/quant';
import { Matrix, Model } from '../model/types';
import { gelu, sigmoid, stepFloat, zeroState } from '../reference/float';
import { SparrowError } from '../util/errors';

export interface QuantizeOptions {
  /** One frac per weight row instead of one per matrix. */
  perChannel?: boolean;
}

/** Calibration data: S sequences, each [T, d_in] row-major (T may differ per sequence). */
export interface CalibrationSet {
  sequences: { data: ArrayLike<number>; T: number }[];
}

/** Largest |value| per tensor: keys `x`, `o`, `u.-1` (encoder), and `<tensor>.<layer>`. */
export type Ranges = Map<string, number>;

const INT32_MAX = 2 ** 31 - 1;
/** Fractional bits allowed for any tensor: outside this range a scale is unusable. */
const FRAC_MIN = -16;
const FRAC_MAX = 40;

export function calibrate(model: Model, calib: CalibrationSet): Ranges {
  const ranges: Ranges = new Map();
  const note = (key: string, values: ArrayLike<number>): void => {
    let m = ranges.get(key) ?? 0;
    for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
    ranges.set(key, m);
  };
  const { d_in } = model.config;
  for (const seq of calib.sequences) {
    const state = zeroState(model);
    for (let t = 0; t < seq.T; t++) {
      const x = Array.from({ length: d_in }, (_, j) => seq.data[t * d_in + j]);
      note('x', x);
      stepFloat(model, state, x, (tensor, layer, values) => note(tensor === 'o' ? 'o' : `${tensor}.${layer}`, values));
    }
  }
  return ranges;
}

/** Largest frac with round(maxAbs·2^frac) ≤ limit. */
export function fracFor(maxAbs: number, limit: number, what: string): number {
  if (!(maxAbs > 0)) return limit === 127 ? 7 : 15; // all zero: any format represents it
  const f = Math.floor(Math.log2(limit / maxAbs));
  const frac = Math.round(maxAbs * 2 ** f) > limit ? f - 1 : f;
  if (frac < FRAC_MIN || frac > FRAC_MAX) {
    throw new SparrowError(`${what}: range ${maxAbs.toExponential(3)} needs 2^${-frac} scaling, outside the w8a16 formats (frac ${FRAC_MIN}…${FRAC_MAX})`);
  }
  return frac;
}

const roundHalfAway = (x: number): number => Math.sign(x) * Math.floor(Math.abs(x) + 0.5);

function rowMax(m: Matrix, r: number): number {
  let mx = 0;
  if (m.kind === 'dense') for (let c = 0; c < m.cols; c++) mx = Math.max(mx, Math.abs(m.values[r * m.cols + c]));
  else for (let k = m.indptr[r]; k < m.indptr[r + 1]; k++) mx = Math.max(mx, Math.abs(m.values[k]));
  return mx;
}

/** Row fracs for one or two matrices of the same shape (re and im share). */
function weightFracs(name: string, perChannel: boolean, ...ms: Matrix[]): Int8Array {
  const rows = ms[0].rows;
  const maxes = Array.from({ length: rows }, (_, r) => Math.max(...ms.map((m) => rowMax(m, r))));
  const fracs = new Int8Array(rows);
  if (perChannel) maxes.forEach((mx, r) => (fracs[r] = fracFor(mx, 127, `${name} row ${r}`)));
  else fracs.fill(fracFor(Math.max(0, ...maxes), 127, name));
  return fracs;
}

function quantizeMatrix(m: Matrix, rowFrac: Int8Array): QMatrix {
  const q = (v: number, r: number): number => Math.max(-127, Math.min(127, roundHalfAway(v * 2 ** rowFrac[r])));
  if (m.kind === 'dense') {
    const values = new Int8Array(m.values.length);
    for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) values[r * m.cols + c] = q(m.values[r * m.cols + c], r);
    return { kind: 'dense', rows: m.rows, cols: m.cols, values, rowFrac };
  }
  const values = new Int8Array(m.values.length);
  for (let r = 0; r < m.rows; r++) for (let k = m.indptr[r]; k < m.indptr[r + 1]; k++) values[k] = q(m.values[k], r);
  return { kind: 'csr', rows: m.rows, cols: m.cols, values, indptr: m.indptr.slice(), indices: m.indices.slice(), rowFrac };
}

function quantizeBias(name: string, bias: Float32Array, fracs: (i: number) => number): Int32Array {
  const out = new Int32Array(bias.length);
  for (let i = 0; i < bias.length; i++) {
    const q = roundHalfAway(bias[i] * 2 ** fracs(i));
    if (Math.abs(q) > INT32_MAX) throw new SparrowError(`${name}: element ${i} (${bias[i]}) overflows int32 at its accumulator scale 2^-${fracs(i)}`);
    out[i] = q;
  }
  return out;
}

function rowAbsSum(m: QMatrix, r: number): number {
  let sum = 0;
  if (m.kind === 'dense') for (let c = 0; c < m.cols; c++) sum += Math.abs(m.values[r * m.cols + c]);
  else for (let k = m.indptr![r]; k < m.indptr![r + 1]; k++) sum += Math.abs(m.values[k]);
  return sum;
}

/**
 * Worst-case |accumulator| of each row for int16 inputs plus the bias must fit int32;
 * several matrices are summed when they share one accumulator (C_re s_re − C_im s_im).
 */
function checkAccumulators(name: string, ms: QMatrix[], bias?: Int32Array): void {
  for (let r = 0; r < ms[0].rows; r++) {
    const worst = ms.reduce((a, m) => a + rowAbsSum(m, r), 0) * 32768 + Math.abs(bias?.[r] ?? 0);
    if (worst > INT32_MAX) {
      throw new SparrowError(`${name}: row ${r}: worst-case accumulator ${worst.toExponential(3)} exceeds int32 (fan-in or bias too large for w8a16)`);
    }
  }
}

/** Table of f over the int16 input range (input frac inFrac), outputs at outFrac saturated to int16. */
export function buildLut(f: (x: number) => number, inFrac: number, outFrac: number): Int16Array {
  const t = new Int16Array(LUT_ENTRIES);
  for (let i = 0; i < LUT_ENTRIES; i++) {
    const x = (-32768 + 256 * i) * 2 ** -inFrac;
    t[i] = Math.max(-32768, Math.min(32767, roundHalfAway(f(x) * 2 ** outFrac)));
  }
  return t;
}

export function quantizeModel(model: Model, calib: CalibrationSet, opts: QuantizeOptions = {}): QuantModel {
  if (model.metadata.quantization !== undefined) throw new SparrowError('model is already quantized');
  const per = !!opts.perChannel;
  const ranges = calibrate(model, calib);
  const fmt = (key: string): number => fracFor(ranges.get(key) ?? 0, 32767, `activation ${key}`);
  const inputFrac = fmt('x');
  const encoderFrac = fmt('u.-1');
  const encFrac = weightFracs('encoder.weight', per, model.encoderWeight);
  const encoderWeight = quantizeMatrix(model.encoderWeight, encFrac);
  const encoderBias = quantizeBias('encoder.bias', model.encoderBias, (h) => encFrac[h] + inputFrac);
  checkAccumulators('encoder.weight', [encoderWeight], encoderBias);

  let uIn = encoderFrac;
  const layers: QLayer[] = model.layers.map((L, i) => {
    const p = `layers.${i}.`;
    const y = fmt(`y.${i}`);
    const f: LayerFormats = {
      uIn,
      v: fmt(`v.${i}`),
      s: fmt(`s.${i}`),
      y,
      a: model.config.act === 'relu' ? y : fmt(`a.${i}`),
      g: model.config.gate ? fmt(`g.${i}`) : 0,
      uOut: fmt(`u.${i}`),
    };
    uIn = f.uOut;

    let maxScale = 0;
    for (const s of L.normScale) maxScale = Math.max(maxScale, Math.abs(s));
    const normScaleFrac = fracFor(maxScale, 32767, `${p}norm.scale`);
    const normScale = Int16Array.from(L.normScale, (s) => roundHalfAway(s * 2 ** normScaleFrac));
    const normShift = quantizeBias(`${p}norm.shift`, L.normShift, () => normScaleFrac + f.uIn);

    const bFrac = weightFracs(`${p}ssm.B`, per, L.B_re, L.B_im);
    const cFrac = weightFracs(`${p}ssm.C`, per, L.C_re, L.C_im);
    let maxD = 0;
    for (const d of L.D) maxD = Math.max(maxD, Math.abs(d));
    const dFrac = fracFor(maxD, 127, `${p}ssm.D`);
    const q: QLayer = {
      fmt: f,
      normScale,
      normScaleFrac,
      normShift,
      lambdaRe: Int16Array.from(L.lambdaRe, (l) => Math.max(-32767, Math.min(32767, roundHalfAway(l * 2 ** LAMBDA_FRAC)))),
      lambdaIm: Int16Array.from(L.lambdaIm, (l) => Math.max(-32767, Math.min(32767, roundHalfAway(l * 2 ** LAMBDA_FRAC)))),
      B_re: quantizeMatrix(L.B_re, bFrac),
      B_im: quantizeMatrix(L.B_im, bFrac),
      C_re: quantizeMatrix(L.C_re, cFrac),
      C_im: quantizeMatrix(L.C_im, cFrac),
      D: Int8Array.from(L.D, (d) => Math.max(-127, Math.min(127, roundHalfAway(d * 2 ** dFrac)))),
      dFrac,
    };
    if (model.config.act === 'gelu') q.actLut = buildLut(gelu, f.y, f.a);
    if (model.config.gate) {
      const gFrac = weightFracs(`${p}gate.weight`, per, L.gateWeight!);
      q.gateWeight = quantizeMatrix(L.gateWeight!, gFrac);
      q.gateBias = quantizeBias(`${p}gate.bias`, L.gateBias!, (h) => gFrac[h] + f.a);
      q.sigmoidLut = buildLut(sigmoid, f.g, 15).map((v) => Math.max(0, v)) as Int16Array;
      checkAccumulators(`${p}gate.weight`, [q.gateWeight], q.gateBias);
    }
    checkAccumulators(`${p}ssm.B_re`, [q.B_re]);
    checkAccumulators(`${p}ssm.B_im`, [q.B_im]);
    checkAccumulators(`${p}ssm.C`, [q.C_re, q.C_im]);
    // scale·u + shift: |int16·int16| < 2^30, so the shift must leave room in int32.
    normShift.forEach((v, h) => {
      if (Math.abs(v) + 32767 * 32768 > INT32_MAX) throw new SparrowError(`${p}norm.shift: element ${h} overflows int32 next to scale·u`);
    });
    return q;
  });

  const decFrac = weightFracs('decoder.weight', per, model.decoderWeight);
  const outputFrac = fmt('o');
  const decoderWeight = quantizeMatrix(model.decoderWeight, decFrac);
  const decoderBias = quantizeBias('decoder.bias', model.decoderBias, (j) => decFrac[j] + uIn);
  checkAccumulators('decoder.weight', [decoderWeight], decoderBias);

  return {
    config: model.config,
    scheme: QUANT_SCHEME,
    inputFrac,
    outputFrac,
    encoderWeight,
    encoderBias,
    encoderFrac,
    layers,
    decoderWeight,
    decoderBias,
    metadata: { ...model.metadata, quantization: JSON.stringify({ scheme: QUANT_SCHEME, perChannel: per, calibrationSteps: calib.sequences.reduce((a, s) => a + s.T, 0) }) },
  };
}
