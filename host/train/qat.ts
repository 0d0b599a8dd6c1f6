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
import { LAMBDA_FRAC, QuantModel } from '../model/quant';

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
 * `layers.i.ssm.C`, `layers.i.gate.weight` (one frac per row), `layers.i.ssm.D` (one).
 */
export type QatGrids = Map<string, Int8Array>;

/** QAT in a forward pass: off, on the grids the quantizer would choose now, or on fixed grids. */
export type Qat = boolean | QatGrids;

export function gridsOf(q: QuantModel): QatGrids {
  const g: QatGrids = new Map([['encoder.weight', q.encoderWeight.rowFrac.slice()], ['decoder.weight', q.decoderWeight.rowFrac.slice()]]);
  q.layers.forEach((L, i) => {
    g.set(`layers.${i}.ssm.B`, L.B_re.rowFrac.slice());
    g.set(`layers.${i}.ssm.C`, L.C_re.rowFrac.slice());
    g.set(`layers.${i}.ssm.D`, Int8Array.of(L.dFrac));
    if (L.gateWeight) g.set(`layers.${i}.gate.weight`, L.gateWeight.rowFrac.slice());
  });
  return g;
}

/**
 * Copies of `arrays` ([rows, cols] row-major, or vectors with one frac) on fixed row grids:
 * v → clamp(round(v·2^f_r), ±limit)·2^−f_r, float32 first, as quantizeOnto will store them.
 */
export function fakeQuantizeFixed(arrays: Float64Array[], fracs: Int8Array, limit: number): Float64Array[] {
  return arrays.map((a) => {
    const cols = a.length / fracs.length;
    return Float64Array.from(a, (v, i) => {
      const s = 2 ** fracs[Math.floor(i / cols)];
      return Math.max(-limit, Math.min(limit, roundHalfAway(Math.fround(v) * s))) / s;
    });
  });
}
