// The integer reference against cases computed by hand: rounding, saturation, LUT, a full step.

import { QMatrix, QuantModel } from '../../host/model/quant';
import { lutLookup, rshift, sat16, stepInt, zeroIntState } from '../../host/reference/int';

test('rshift rounds half up (toward +∞), shifts left exactly for k ≤ 0', () => {
  expect(rshift(5, 1)).toBe(3); // 2.5 → 3
  expect(rshift(-5, 1)).toBe(-2); // −2.5 → −2
  expect(rshift(7, 2)).toBe(2); // 1.75 → 2
  expect(rshift(-7, 2)).toBe(-2); // −1.75 → −2
  expect(rshift(6, 2)).toBe(2); // 1.5 → 2
  expect(rshift(-6, 2)).toBe(-1); // −1.5 → −1
  expect(rshift(3, -2)).toBe(12);
  expect(rshift(-(2 ** 31), 0)).toBe(-(2 ** 31));
});

test('sat16 clamps instead of wrapping', () => {
  expect(sat16(40000)).toBe(32767);
  expect(sat16(-40000)).toBe(-32768);
  expect(sat16(32767)).toBe(32767);
  expect(sat16(-32768)).toBe(-32768);
});

test('LUT: entry i at input −32768 + 256·i, low 8 bits interpolate, rounding half up', () => {
  const ramp = Int16Array.from({ length: 257 }, (_, i) => 10 * i);
  // x = −32768 + 3·256 + 128: entry 3 (30) and entry 4 (40), halfway: 30 + ((10·128 + 128) >> 8) = 30 + 5
  expect(lutLookup(ramp, -32768 + 3 * 256 + 128)).toBe(35);
  expect(lutLookup(ramp, -32768)).toBe(0);
  // x = 32767: entry 255 (2550), 255/256 of the way to entry 256: 2550 + ((10·255 + 128) >> 8) = 2560
  expect(lutLookup(ramp, 32767)).toBe(2560);
});

const dense = (v: number, frac: number): QMatrix => ({ kind: 'dense', rows: 1, cols: 1, values: Int8Array.of(v), rowFrac: Int8Array.of(frac) });

/** d_in = H = P = d_out = 1, relu, no gate; every real value is a power of two, all formats Q8. */
function tinyModel(): QuantModel {
  return {
    config: { d_in: 1, d_model: 1, d_state: 1, d_out: 1, n_layers: 1, act: 'relu', encoder_act: 'none', gate: false },
    scheme: 'w8a16',
    inputFrac: 8,
    outputFrac: 8,
    encoderWeight: dense(64, 6), // 1.0
    encoderBias: Int32Array.of(0),
    encoderFrac: 8,
    layers: [{
      fmt: { uIn: 8, v: 8, s: 8, y: 8, a: 8, g: 0, uOut: 8 },
      normScale: Int16Array.of(16384), // 1.0 in Q14
      normScaleFrac: 14,
      normShift: Int32Array.of(0),
      lambdaRe: Int16Array.of(16384), // 0.5 in Q15
      lambdaIm: Int16Array.of(0),
      B_re: dense(64, 6), // 1.0
      B_im: dense(32, 6), // 0.5
      C_re: dense(64, 6), // 1.0
      C_im: dense(64, 6), // 1.0
      D: Int8Array.of(32), // 0.5
      dFrac: 6,
    }],
    decoderWeight: dense(64, 6),
    decoderBias: Int32Array.of(0),
    metadata: {},
  };
}

test('a full integer step by hand (the real-valued math in brackets)', () => {
  const m = tinyModel();
  const st = zeroIntState(m);
  // t=1, x_q = 256 [1.0]: u = rshift(64·256, 6+8−8) = 256 [1]; v = rshift(16384·256, 14+8−8) = 256 [1]
  // bv = rshift(64·256, 6) = 256, rshift(32·256, 6) = 128;  s = 0 + bv = 256 + 128i [1 + 0.5i]
  // y = rshift(64·256 − 64·128, 6) + rshift(32·256, 6) = 128 + 128 = 256 [Re((1+i)(1+0.5i)) + 0.5·1 = 1]
  // a = 256; u' = 256 + 256 = 512 [2]; o = rshift(64·512, 6) = 512 [2]
  expect(Array.from(stepInt(m, st, [256]))).toEqual([512]);
  expect([st.sRe[0][0], st.sIm[0][0]]).toEqual([256, 128]);
  // t=2, x_q = 0: s = rshift(16384·256, 15) + i·rshift(16384·128, 15) = 128 + 64i [0.5 + 0.25i]
  // y = rshift(64·128 − 64·64, 6) = 64 [0.25]; u' = 0 + 64; o = rshift(64·64, 6) = 64 [0.25]
  expect(Array.from(stepInt(m, st, [0]))).toEqual([64]);
  expect([st.sRe[0][0], st.sIm[0][0]]).toEqual([128, 64]);
});

test('extreme inputs saturate every int16 tensor instead of wrapping', () => {
  const m = tinyModel();
  m.encoderWeight = dense(127, 6);
  const st = zeroIntState(m);
  // u = rshift(127·32767, 6) = 65022 → 32767; v = 32767; bv_re = rshift(64·32767, 6) = 32767 → s_re = 32767
  // y = rshift(64·32767 − 64·16384, 6) + rshift(32·32767, 6) = 16383 + 16384 = 32767; u' = sat(32767 + 32767)
  for (let t = 0; t < 100; t++) {
    const out = stepInt(m, st, [t % 2 === 0 ? 32767 : -32768])[0];
    expect(out).toBeGreaterThanOrEqual(-32768);
    expect(out).toBeLessThanOrEqual(32767);
  }
  const fresh = zeroIntState(m);
  expect(stepInt(m, fresh, [32767])[0]).toBe(32767);
  expect(fresh.sRe[0][0]).toBe(32767);
});
