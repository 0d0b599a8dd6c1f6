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
import { LAMBDA_FRAC } from '../model/quant';

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
