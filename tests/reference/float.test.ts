// The float64 reference against cases computed by hand (comments show the arithmetic).

import { gelu, runFloat, sigmoid, stepFloat, zeroState } from '../../host/reference/float';
import { Model } from '../../host/model/types';

const f = (...v: number[]): Float32Array => Float32Array.from(v);
const dense = (rows: number, cols: number, ...v: number[]) => ({ kind: 'dense' as const, rows, cols, values: f(...v) });

/** d_in = H = P = d_out = 1, relu, no gate: every quantity is one number. */
function scalarModel(): Model {
  return {
    config: { d_in: 1, d_model: 1, d_state: 1, d_out: 1, n_layers: 1, act: 'relu', encoder_act: 'none', gate: false },
    encoderWeight: dense(1, 1, 2), encoderBias: f(0.5),
    layers: [{
      normScale: f(1.5), normShift: f(-0.25),
      lambdaRe: f(0.5), lambdaIm: f(0.5),
      B_re: dense(1, 1, 1), B_im: dense(1, 1, -1),
      C_re: dense(1, 1, 2), C_im: dense(1, 1, 1),
      D: f(0.5),
    }],
    decoderWeight: dense(1, 1, 3), decoderBias: f(0.125), // every weight is exact in f32
    metadata: {},
  };
}

test('one-dimensional model, two steps, by hand', () => {
  const m = scalarModel();
  const s = zeroState(m);
  // t=1, x=1: u = 2·1 + 0.5 = 2.5; v = 1.5·2.5 − 0.25 = 3.5; s = B v = 3.5 − 3.5i
  // y = C_re·s_re − C_im·s_im + D·v = 7 + 3.5 + 1.75 = 12.25; a = 12.25; u = 14.75; o = 3·14.75 + 0.125 = 44.375
  expect(stepFloat(m, s, [1])[0]).toBeCloseTo(44.375, 12);
  expect(s.sRe[0][0]).toBeCloseTo(3.5, 12);
  expect(s.sIm[0][0]).toBeCloseTo(-3.5, 12);
  // t=2, x=0: u = 0.5; v = 0.5; s_re = 0.5·3.5 − 0.5·(−3.5) + 0.5 = 4; s_im = 0.5·(−3.5) + 0.5·3.5 − 0.5 = −0.5
  // y = 2·4 − 1·(−0.5) + 0.5·0.5 = 8.75; u = 0.5 + 8.75 = 9.25; o = 27.75 + 0.125 = 27.875
  expect(stepFloat(m, s, [0])[0]).toBeCloseTo(27.875, 12);
  expect(s.sRe[0][0]).toBeCloseTo(4, 12);
  expect(s.sIm[0][0]).toBeCloseTo(-0.5, 12);
});

test('relu clips a negative block output; the residual keeps u', () => {
  const m = scalarModel();
  // x = −1: u = −1.5; v = −2.5; s = −2.5 + 2.5i; y = −5 − 2.5 − 1.25 = −8.75 → a = 0; u = −1.5; o = −4.5 + 0.125
  expect(stepFloat(m, zeroState(m), [-1])[0]).toBeCloseTo(-4.375, 12);
});

test('gate and gelu: a ⊙ σ(W_g a + b_g) with published GELU values', () => {
  // GELU(tanh approx.)(1) = 0.5·(1 + tanh(√(2/π)·1.044715)) = 0.8411919906 (Hendrycks & Gimpel 2016, tanh form).
  expect(gelu(1)).toBeCloseTo(0.8411919906, 9);
  expect(gelu(-1)).toBeCloseTo(-0.1588080094, 9);
  expect(sigmoid(0)).toBe(0.5);
  const m = scalarModel();
  m.config = { ...m.config, act: 'gelu', gate: true };
  m.layers[0].gateWeight = dense(1, 1, 0);
  m.layers[0].gateBias = f(0);
  // x = 1: y = 12.25 as above; a = gelu(12.25) ≈ 12.25 (tanh saturates); gate σ(0) = 0.5 → u = 2.5 + 6.125
  expect(stepFloat(m, zeroState(m), [1])[0]).toBeCloseTo(3 * (2.5 + 0.5 * gelu(12.25)) + 0.125, 12);
  expect(gelu(12.25)).toBeCloseTo(12.25, 12);
});

test('CSR and dense give the same result; runFloat restarts from zero state', () => {
  const m = scalarModel();
  const seq = [1, 0, -1, 0.5];
  const out = runFloat(m, seq, 4);
  expect(out[0]).toBeCloseTo(44.375, 12);
  expect(out[1]).toBeCloseTo(27.875, 12);
  const csr: Model = { ...m, encoderWeight: { kind: 'csr', rows: 1, cols: 1, indptr: Int32Array.from([0, 1]), indices: Int32Array.from([0]), values: f(2) } };
  expect(Array.from(runFloat(csr, seq, 4))).toEqual(Array.from(out));
});
