// ============================================================================
// Quantization-aware fine-tuning for the w8a16 scheme (docs/quantization.md):
// the forward pass uses every weight as `sparrow quantize` will store it —
// int8 on a power-of-two grid per matrix (B̄ re/im and C re/im share one
// grid, like the quantizer), D on its own int8 grid, Λ̄ in Q15 — and the
// backward pass hands the gradient straight through to the float weights
// (STE). Activations are int16 on the device; their rounding is ≈ 2^-15 of
// range and is left to the float forward pass.
//
// The grids are the quantizer's own (fracFor and round-half-away from
// host/compress/quantize.ts), so after fine-tuning, quantizing the exported
// model lands every weight exactly where the last forward passes had it
// (tests/train/qat.test.ts checks this against quantizeModel).
// ============================================================================

import { fracFor } from '../compress/quantize';
import { LAMBDA_FRAC, QMatrix, QuantModel } from '../model/quant';
import { discretize, TrainParams } from './params';

/** Round half away from zero, as the quantizer does; + 0 turns −0 into 0. */
const roundHalfAway = (x: number): number => Math.sign(x) * Math.floor(Math.abs(x) + 0.5) + 0;

function maxAbs(arrays: Float64Array[]): number {
  let m = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/**
 * Copies of `arrays` fake-quantized to one signed grid: v → clamp(round(v·2^f), ±limit)·2^−f with
 * f = fracFor(max |v| over all arrays, limit). Float32 first, as the exported model stores them.
 */
export function fakeQuantize(arrays: Float64Array[], limit: number, what: string): Float64Array[] {
  const f32 = arrays.map((a) => Float64Array.from(a, Math.fround));
  const frac = fracFor(maxAbs(f32), limit, what);
  const s = 2 ** frac;
  return f32.map((a) => Float64Array.from(a, (v) => Math.max(-limit, Math.min(limit, roundHalfAway(v * s))) / s));
}

/** Λ̄ (re and im) on the Q15 grid the integer engine uses. */
export function fakeQuantizeLambda(re: Float64Array, im: Float64Array): [Float64Array, Float64Array] {
  const s = 2 ** LAMBDA_FRAC;
  const q = (a: Float64Array) => Float64Array.from(a, (v) => Math.max(-32767, Math.min(32767, roundHalfAway(Math.fround(v) * s))) / s);
  return [q(re), q(im)];
}

/**
 * Fixed grids: the row fracs of an existing w8a16 model (tuning onto a deployed base, whose
 * scales a patch cannot change). Keys: `encoder.weight`, `decoder.weight`, `layers.i.ssm.B`,
 * `layers.i.ssm.C`, `layers.i.gate.weight` (one frac per row), `layers.i.ssm.D` (one); and the
 * int16 activation formats the forward pass saturates at, as the device does (backprop.ts):
 * `act.input`, `act.encoder`, `act.output` (one frac each) and `act.layers.i` (the fracs of
 * v, s, y, a, g and the block output, ACT_FORMAT_ORDER); and the base's own int8 values of
 * every matrix, logical row-major (`base.encoder.weight`, `base.layers.i.ssm.B_re`, …): where
 * the base is 0 the weight stays 0, where it is not a weight never rounds to 0 (it is kept at
 * ±1), the rules quantizeOnto stores the tuned model by, so that tuning sees those weights too.
 */
export type QatGrids = Map<string, Int8Array>;

/** QAT in a forward pass: off, on the grids the quantizer would choose now, or on fixed grids. */
export type Qat = boolean | QatGrids;

export function gridsOf(q: QuantModel): QatGrids {
  const g: QatGrids = new Map([['encoder.weight', q.encoderWeight.rowFrac.slice()], ['decoder.weight', q.decoderWeight.rowFrac.slice()]]);
  const values = (m: QMatrix): Int8Array => {
    const out = new Int8Array(m.rows * m.cols);
    if (m.kind === 'dense') out.set(m.values);
    else for (let r = 0; r < m.rows; r++) for (let k = m.indptr![r]; k < m.indptr![r + 1]; k++) out[r * m.cols + m.indices![k]] = m.values[k];
    return out;
  };
  g.set('base.encoder.weight', values(q.encoderWeight));
  g.set('base.decoder.weight', values(q.decoderWeight));
  q.layers.forEach((L, i) => {
    for (const [name, m] of [['B_re', L.B_re], ['B_im', L.B_im], ['C_re', L.C_re], ['C_im', L.C_im]] as const) g.set(`base.layers.${i}.ssm.${name}`, values(m));
    if (L.gateWeight) g.set(`base.layers.${i}.gate.weight`, values(L.gateWeight));
    g.set(`layers.${i}.ssm.B`, L.B_re.rowFrac.slice());
    g.set(`layers.${i}.ssm.C`, L.C_re.rowFrac.slice());
    g.set(`layers.${i}.ssm.D`, Int8Array.of(L.dFrac));
    if (L.gateWeight) g.set(`layers.${i}.gate.weight`, L.gateWeight.rowFrac.slice());
    g.set(`act.layers.${i}`, Int8Array.from(ACT_FORMAT_ORDER, (k) => L.fmt[k]));
  });
  g.set('act.input', Int8Array.of(q.inputFrac));
  g.set('act.encoder', Int8Array.of(q.encoderFrac));
  g.set('act.output', Int8Array.of(q.outputFrac));
  return g;
}

/** The order of a layer's activation fracs under `act.layers.i`. */
export const ACT_FORMAT_ORDER = ['v', 's', 'y', 'a', 'g', 'uOut'] as const;

/**
 * Copies of `arrays` ([rows, cols] row-major, or vectors with one frac) on fixed row grids:
 * v → clamp(round(v·2^f_r), ±limit)·2^−f_r, float32 first, as quantizeOnto will store them;
 * with the base's values of an array (`bases[k]`), also its pattern rules: 0 where the base is
 * 0, and ±1 step (v's sign, else the base's) where the base is nonzero and v rounds to 0.
 */
export function fakeQuantizeFixed(arrays: Float64Array[], fracs: Int8Array, limit: number, bases: (Int8Array | undefined)[] = []): Float64Array[] {
  return arrays.map((a, k) => {
    const cols = a.length / fracs.length;
    const base = bases[k];
    return Float64Array.from(a, (v, i) => {
      const s = 2 ** fracs[Math.floor(i / cols)];
      const f = Math.fround(v);
      let q = Math.max(-limit, Math.min(limit, roundHalfAway(f * s)));
      if (base) {
        if (base[i] === 0) q = 0;
        else if (q === 0) q = f !== 0 ? Math.sign(f) : Math.sign(base[i]);
      }
      return q / s;
    });
  });
}

/**
 * Clamp every weight of `p` into the range its fixed grid represents (±127 steps of the row's
 * frac; a value that already rounds inside is not touched): encoder, decoder, gate and C directly, D on its frac, and B̄ = c·B through B (B is
 * rescaled so that each of |Re B̄|, |Im B̄| stays within its row's range). Tuning projects onto
 * this box after every update, so the float model it writes is the one the w8a16 grids hold
 * (nothing saturates when quantizeOnto stores it). Returns how many values were clamped.
 */
export function clampToGrids(p: TrainParams, grids: QatGrids): number {
  const { d_model: H, d_state: P } = p.config;
  let clamped = 0;
  const rows = (w: Float64Array, fracs: Int8Array): void => {
    const cols = w.length / fracs.length;
    for (let i = 0; i < w.length; i++) {
      // A value that rounds within ±127 is left alone (so frozen base weights never move).
      const f = 2 ** fracs[Math.floor(i / cols)];
      if (Math.abs(w[i]) * f < 127.5) continue;
      w[i] = (Math.sign(w[i]) * 127) / f;
      clamped++;
    }
  };
  rows(p.encW, grids.get('encoder.weight')!);
  rows(p.decW, grids.get('decoder.weight')!);
  p.layers.forEach((L, i) => {
    rows(L.Cre, grids.get(`layers.${i}.ssm.C`)!);
    rows(L.Cim, grids.get(`layers.${i}.ssm.C`)!);
    rows(L.D, Int8Array.from(L.D, () => grids.get(`layers.${i}.ssm.D`)![0]));
    if (L.gateW) rows(L.gateW, grids.get(`layers.${i}.gate.weight`)!);
    const d = discretize(L, H);
    const bFrac = grids.get(`layers.${i}.ssm.B`)!;
    for (let q = 0; q < P; q++) {
      const lim = 127 * 2 ** -bFrac[q];
      for (let h = 0; h < H; h++) {
        const k = q * H + h;
        const m = Math.max(Math.abs(d.bbRe[k]), Math.abs(d.bbIm[k]));
        if (m * 2 ** bFrac[q] < 127.5) continue;
        // B̄ = c·B is linear in B: scaling B scales B̄.
        L.Bre[k] *= lim / m;
        L.Bim[k] *= lim / m;
        clamped++;
      }
    }
  });
  return clamped;
}
