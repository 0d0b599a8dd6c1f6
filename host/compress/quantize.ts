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

/** A matrix's bias and the frac of the int16 input the matrix reads: the bias is stored at rowFrac + inFrac. */
interface RowBias {
  values: ArrayLike<number>;
  inFrac: number;
}

/** Largest stored |bias| (2^30): the other half of int32 is left to the products. */
const BIAS_LIMIT = 2 ** 30;

/**
 * Row fracs for one or two matrices of the same shape (re and im share). With a bias, a row's
 * frac is also capped so that its bias fits the accumulator (|b|·2^(frac + inFrac) ≤ 2^30): a row
 * whose few weights are tiny next to its bias (e.g. a pruned encoder row) would otherwise get an
 * accumulator scale too fine for the bias. The cap only coarsens such rows' weights, whose
 * products are small next to the bias anyway.
 */
function weightFracs(name: string, perChannel: boolean, ms: Matrix[], bias?: RowBias): Int8Array {
  const rows = ms[0].rows;
  const maxes = Array.from({ length: rows }, (_, r) => Math.max(...ms.map((m) => rowMax(m, r))));
  const caps = Array.from({ length: rows }, (_, r) => {
    const b = bias ? Math.abs(bias.values[r]) : 0;
    return b > 0 ? Math.floor(Math.log2(BIAS_LIMIT / b)) - bias!.inFrac : Infinity;
  });
  const capped = (frac: number, cap: number, what: string): number => {
    const f = Math.min(frac, cap);
    if (f < FRAC_MIN) throw new SparrowError(`${what}: its bias needs 2^${-f} weight scaling, outside the w8a16 formats (frac ${FRAC_MIN}…${FRAC_MAX})`);
    return f;
  };
  const fracs = new Int8Array(rows);
  if (perChannel) maxes.forEach((mx, r) => (fracs[r] = capped(fracFor(mx, 127, `${name} row ${r}`), caps[r], `${name} row ${r}`)));
  else fracs.fill(capped(fracFor(Math.max(0, ...maxes), 127, name), Math.min(...caps), name));
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

/**
 * Every scale of a w8a16 model: the fracs of the int16 tensors and of each int8 weight row.
 * They fix every requantization shift of the integer engine, and the firmware stores them.
 */
export interface QuantFormats {
  perChannel: boolean;
  inputFrac: number;
  outputFrac: number;
  encoderFrac: number;
  encoder: Int8Array;
  layers: { fmt: LayerFormats; normScaleFrac: number; b: Int8Array; c: Int8Array; dFrac: number; gate?: Int8Array; sma?: Int8Array }[];
  decoder: Int8Array;
}

/** SMA's two logit rows [2, H] as the one row that decides, w₁ − w₀ [1, H] (l₁ > l₀ ⇔ (w₁ − w₀)·y + b₁ − b₀ > 0). */
export function smaDifference(w: Matrix): Matrix {
  const H = w.cols;
  const full = new Float32Array(2 * H);
  if (w.kind === 'dense') full.set(w.values);
  else for (let r = 0; r < 2; r++) for (let k = w.indptr[r]; k < w.indptr[r + 1]; k++) full[r * H + w.indices[k]] = w.values[k];
  return { kind: 'dense', rows: 1, cols: H, values: Float32Array.from({ length: H }, (_, h) => full[H + h] - full[h]) };
}

/** SMA's two logit biases as the one bias that decides, b₁ − b₀ (see smaDifference). */
const smaBiasDifference = (b: Float32Array): Float32Array => Float32Array.of(b[1] - b[0]);

/** The formats calibration chooses: the largest frac that holds each calibrated range and each weight row. */
export function chooseFormats(model: Model, ranges: Ranges, perChannel: boolean): QuantFormats {
  const fmt = (key: string): number => fracFor(ranges.get(key) ?? 0, 32767, `activation ${key}`);
  const inputFrac = fmt('x');
  const encoderFrac = fmt('u.-1');
  let uIn = encoderFrac;
  const layers = model.layers.map((L, i) => {
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
    let maxD = 0;
    for (const d of L.D) maxD = Math.max(maxD, Math.abs(d));
    return {
      fmt: f,
      normScaleFrac: fracFor(maxScale, 32767, `${p}norm.scale`),
      b: weightFracs(`${p}ssm.B`, perChannel, [L.B_re, L.B_im]),
      c: weightFracs(`${p}ssm.C`, perChannel, [L.C_re, L.C_im]),
      dFrac: fracFor(maxD, 127, `${p}ssm.D`),
      ...(model.config.gate ? { gate: weightFracs(`${p}gate.weight`, perChannel, [L.gateWeight!], { values: L.gateBias!, inFrac: f.a }) } : {}),
      ...(model.config.sma
        ? { sma: weightFracs(`${p}sma.weight`, false, [smaDifference(L.smaWeight!)], { values: smaBiasDifference(L.smaBias!), inFrac: f.y }) }
        : {}),
    };
  });
  return {
    perChannel,
    inputFrac,
    outputFrac: fmt('o'),
    encoderFrac,
    encoder: weightFracs('encoder.weight', perChannel, [model.encoderWeight], { values: model.encoderBias, inFrac: inputFrac }),
    layers,
    // uIn is now the last layer's output frac (the encoder's with no layers): the decoder's input.
    decoder: weightFracs('decoder.weight', perChannel, [model.decoderWeight], { values: model.decoderBias, inFrac: uIn }),
  };
}

/** The formats a quantized model was made with. */
export function formatsOf(q: QuantModel): QuantFormats {
  const quant = q.metadata.quantization ? (JSON.parse(q.metadata.quantization) as { perChannel?: boolean }) : {};
  return {
    perChannel: !!quant.perChannel,
    inputFrac: q.inputFrac,
    outputFrac: q.outputFrac,
    encoderFrac: q.encoderFrac,
    encoder: q.encoderWeight.rowFrac.slice(),
    layers: q.layers.map((L) => ({
      fmt: { ...L.fmt },
      normScaleFrac: L.normScaleFrac,
      b: L.B_re.rowFrac.slice(),
      c: L.C_re.rowFrac.slice(),
      dFrac: L.dFrac,
      ...(L.gateWeight ? { gate: L.gateWeight.rowFrac.slice() } : {}),
      ...(L.smaWeight ? { sma: L.smaWeight.rowFrac.slice() } : {}),
    })),
    decoder: q.decoderWeight.rowFrac.slice(),
  };
}

/** Quantize every tensor of `model` in the formats `F` (weights saturate at ±127, int16 tensors at ±32767). */
function quantizeWith(model: Model, F: QuantFormats): Omit<QuantModel, 'metadata'> {
  const { inputFrac, encoderFrac } = F;
  const encoderWeight = quantizeMatrix(model.encoderWeight, F.encoder);
  const encoderBias = quantizeBias('encoder.bias', model.encoderBias, (h) => F.encoder[h] + inputFrac);
  checkAccumulators('encoder.weight', [encoderWeight], encoderBias);

  const layers: QLayer[] = model.layers.map((L, i) => {
    const p = `layers.${i}.`;
    const { fmt: f, normScaleFrac, dFrac } = F.layers[i];
    const normScale = Int16Array.from(L.normScale, (s) => Math.max(-32767, Math.min(32767, roundHalfAway(s * 2 ** normScaleFrac))));
    const normShift = quantizeBias(`${p}norm.shift`, L.normShift, () => normScaleFrac + f.uIn);
    const bFrac = F.layers[i].b;
    const cFrac = F.layers[i].c;
    const q: QLayer = {
      fmt: { ...f },
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
      const gFrac = F.layers[i].gate!;
      q.gateWeight = quantizeMatrix(L.gateWeight!, gFrac);
      q.gateBias = quantizeBias(`${p}gate.bias`, L.gateBias!, (h) => gFrac[h] + f.a);
      q.sigmoidLut = buildLut(sigmoid, f.g, 15).map((v) => Math.max(0, v)) as Int16Array;
      checkAccumulators(`${p}gate.weight`, [q.gateWeight], q.gateBias);
    }
    if (model.config.sma) {
      const sFrac = F.layers[i].sma!;
      q.smaWeight = quantizeMatrix(smaDifference(L.smaWeight!), sFrac);
      q.smaBias = quantizeBias(`${p}sma.bias`, smaBiasDifference(L.smaBias!), () => sFrac[0] + f.y);
      checkAccumulators(`${p}sma.weight`, [q.smaWeight], q.smaBias);
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

  const uLast = layers.length ? layers[layers.length - 1].fmt.uOut : encoderFrac;
  const decoderWeight = quantizeMatrix(model.decoderWeight, F.decoder);
  const decoderBias = quantizeBias('decoder.bias', model.decoderBias, (j) => F.decoder[j] + uLast);
  checkAccumulators('decoder.weight', [decoderWeight], decoderBias);

  return { config: model.config, scheme: QUANT_SCHEME, inputFrac, outputFrac: F.outputFrac, encoderWeight, encoderBias, encoderFrac, layers, decoderWeight, decoderBias };
}

export function quantizeModel(model: Model, calib: CalibrationSet, opts: QuantizeOptions = {}): QuantModel {
  if (model.metadata.quantization !== undefined) throw new SparrowError('model is already quantized');
  const per = !!opts.perChannel;
  const q = quantizeWith(model, chooseFormats(model, calibrate(model, calib), per));
  return {
    ...q,
    metadata: { ...model.metadata, quantization: JSON.stringify({ scheme: QUANT_SCHEME, perChannel: per, calibrationSteps: calib.sequences.reduce((a, s) => a + s.T, 0) }) },
  };
}

export interface OntoReport {
  /** Stored weights of the base that rounded to 0 in the model and were kept at ±1 (the pattern stays). */
  keptNonzero: number;
  /** Weights the base stores as 0 that were nonzero in the model and were set to 0. */
  heldZero: number;
  /** Entries (weights, Λ, biases, …) that saturated at the edge of their format. */
  saturated: number;
}

/**
 * Quantize `model` onto the scales and the sparsity pattern of the quantized model `base`
 * (same config): every frac, the stored entries of every matrix and which of them are zero are
 * the base's, so `sparrow diff base tuned` can ship the result as a patch of values. Values
 * outside a format saturate (counted); a weight the base stores as nonzero that rounds to 0 is
 * kept at ±1 (its sign), one the base stores as 0 stays 0.
 */
export function quantizeOnto(model: Model, base: QuantModel): { model: QuantModel; report: OntoReport } {
  if (model.metadata.quantization !== undefined) throw new SparrowError('model is already quantized');
  if (JSON.stringify(model.config) !== JSON.stringify(base.config)) {
    throw new SparrowError(`its config ${JSON.stringify(model.config)} differs from the base's ${JSON.stringify(base.config)}`);
  }
  const F = formatsOf(base);
  const report: OntoReport = { keptNonzero: 0, heldZero: 0, saturated: 0 };
  // Saturation count: a float that scales beyond the limit.
  const countSat = (values: ArrayLike<number>, frac: (i: number) => number, limit: number): void => {
    for (let i = 0; i < values.length; i++) if (Math.abs(roundHalfAway(values[i] * 2 ** frac(i))) > limit) report.saturated++;
  };
  const q = quantizeWith(model, F);
  /** The model's matrix in the base's storage (kind, indptr, indices), its pattern of zeros. */
  const onto = (m: Matrix, quantized: QMatrix, b: QMatrix): QMatrix => {
    const logical = (x: QMatrix): Int8Array => {
      const out = new Int8Array(x.rows * x.cols);
      if (x.kind === 'dense') out.set(x.values);
      else for (let r = 0; r < x.rows; r++) for (let k = x.indptr![r]; k < x.indptr![r + 1]; k++) out[r * x.cols + x.indices![k]] = x.values[k];
      return out;
    };
    const float = new Float64Array(m.rows * m.cols);
    if (m.kind === 'dense') float.set(m.values);
    else for (let r = 0; r < m.rows; r++) for (let k = m.indptr[r]; k < m.indptr[r + 1]; k++) float[r * m.cols + m.indices[k]] = m.values[k];
    countSat(float, (i) => b.rowFrac[Math.floor(i / m.cols)], 127);
    const mine = logical(quantized);
    const theirs = logical(b);
    for (let i = 0; i < mine.length; i++) {
      if (theirs[i] === 0 && mine[i] !== 0) {
        mine[i] = 0;
        report.heldZero++;
      } else if (theirs[i] !== 0 && mine[i] === 0) {
        mine[i] = (float[i] !== 0 ? Math.sign(float[i]) : Math.sign(theirs[i])) as number;
        report.keptNonzero++;
      }
    }
    if (b.kind === 'dense') return { ...b, values: mine, rowFrac: b.rowFrac.slice() };
    const values = new Int8Array(b.values.length);
    for (let r = 0; r < b.rows; r++) for (let k = b.indptr![r]; k < b.indptr![r + 1]; k++) values[k] = mine[r * b.cols + b.indices![k]];
    return { ...b, values, indptr: b.indptr!.slice(), indices: b.indices!.slice(), rowFrac: b.rowFrac.slice() };
  };
  q.encoderWeight = onto(model.encoderWeight, q.encoderWeight, base.encoderWeight);
  q.layers.forEach((L, i) => {
    const M = model.layers[i];
    const B = base.layers[i];
    L.B_re = onto(M.B_re, L.B_re, B.B_re);
    L.B_im = onto(M.B_im, L.B_im, B.B_im);
    L.C_re = onto(M.C_re, L.C_re, B.C_re);
    L.C_im = onto(M.C_im, L.C_im, B.C_im);
    if (L.gateWeight) L.gateWeight = onto(M.gateWeight!, L.gateWeight, B.gateWeight!);
    countSat(M.lambdaRe, () => LAMBDA_FRAC, 32767);
    countSat(M.lambdaIm, () => LAMBDA_FRAC, 32767);
    countSat(M.D, () => B.dFrac, 127);
    countSat(M.normScale, () => B.normScaleFrac, 32767);
    checkAccumulators(`layers.${i}.ssm.B_re`, [L.B_re]);
    checkAccumulators(`layers.${i}.ssm.B_im`, [L.B_im]);
    checkAccumulators(`layers.${i}.ssm.C`, [L.C_re, L.C_im]);
    if (L.gateWeight) checkAccumulators(`layers.${i}.gate.weight`, [L.gateWeight], L.gateBias);
  });
  q.decoderWeight = onto(model.decoderWeight, q.decoderWeight, base.decoderWeight);
  checkAccumulators('encoder.weight', [q.encoderWeight], q.encoderBias);
  checkAccumulators('decoder.weight', [q.decoderWeight], q.decoderBias);
  return { model: { ...q, metadata: { ...model.metadata, quantization: base.metadata.quantization ?? JSON.stringify({ scheme: QUANT_SCHEME, perChannel: F.perChannel }) } }, report };
}

/**
 * Activations of `model` on `calib` that the int16 formats of `base` cannot hold (they would
 * saturate on the device): per tensor, its calibrated max |value| and the format's limit,
 * largest overflow first. quantizeOnto keeps the base's formats, so a tuned model whose
 * activations outgrew them loses accuracy in w8a16 that its float copy does not.
 */
export function activationOverflow(model: Model, base: QuantModel, calib: CalibrationSet): { tensor: string; max: number; limit: number }[] {
  const ranges = calibrate(model, calib);
  const out: { tensor: string; max: number; limit: number }[] = [];
  const check = (tensor: string, key: string, frac: number): void => {
    const max = ranges.get(key) ?? 0;
    const limit = 32767 * 2 ** -frac;
    if (max > limit) out.push({ tensor, max, limit });
  };
  check('input', 'x', base.inputFrac);
  check('encoder output', 'u.-1', base.encoderFrac);
  base.layers.forEach((L, i) => {
    check(`layers.${i} v`, `v.${i}`, L.fmt.v);
    check(`layers.${i} state`, `s.${i}`, L.fmt.s);
    check(`layers.${i} y`, `y.${i}`, L.fmt.y);
    if (model.config.act === 'gelu') check(`layers.${i} a`, `a.${i}`, L.fmt.a);
    if (model.config.gate) check(`layers.${i} gate pre-activation`, `g.${i}`, L.fmt.g);
    check(`layers.${i} output`, `u.${i}`, L.fmt.uOut);
  });
  check('output', 'o', base.outputFrac);
  return out.sort((a, b) => b.max / b.limit - a.max / a.limit);
}
