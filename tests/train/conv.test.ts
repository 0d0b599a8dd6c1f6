// Convolution mode against its definitions: runFloat (the float64 reference, step by step),
// the materialised kernel K_k = Re(C Λ^k B), the DFT of λ^k summed term by term, and
// impulse responses worked out by hand.

import {
  convolutionSize, fftPlan, geometricKernelSpectrum, layerKernel, runConv, smaDecisions, ssmConvolve,
} from '../../host/train/conv';
import { runFloat, stepFloat, zeroState } from '../../host/reference/float';
import { randomModel, RandomModelOptions } from '../../host/model/random';
import { LayerWeights, Model } from '../../host/model/types';
import { makeRng } from '../../host/util/rng';

const f = (...v: number[]): Float32Array => Float32Array.from(v);
const dense = (rows: number, cols: number, ...v: number[]) => ({ kind: 'dense' as const, rows, cols, values: f(...v) });

/** max over i of |a − b| / (1 + |b|): the brief's 1e-4 relative criterion. */
function maxRelativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return worst;
}

function randomInputs(seed: number, T: number, dIn: number): Float64Array {
  const rng = makeRng(seed);
  const x = new Float64Array(T * dIn);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  return x;
}

const base: RandomModelOptions = {
  d_in: 3, d_model: 8, d_state: 6, d_out: 2, n_layers: 2,
  act: 'gelu', encoder_act: 'none', gate: false, sparsity: 0, seed: 1,
};

// ---------------------------------------------------------------------------
// Against the float64 reference
// ---------------------------------------------------------------------------

describe('runConv equals runFloat', () => {
  const variants: [string, Partial<RandomModelOptions>][] = [
    ['gelu, no gate, dense', {}],
    ['relu, gate, encoder relu, dense', { act: 'relu', gate: true, encoder_act: 'relu', seed: 2 }],
    ['gelu, gate, sparse 0.7', { gate: true, sparsity: 0.7, seed: 3 }],
    ['relu, no gate, encoder relu, sparse 0.5, 4 layers', { act: 'relu', encoder_act: 'relu', sparsity: 0.5, n_layers: 4, seed: 4 }],
    ['wide: H = 16, P = 24, gate, sparse 0.9', { d_model: 16, d_state: 24, gate: true, sparsity: 0.9, seed: 5 }],
    ['one layer, d_in = d_out = 1', { d_in: 1, d_out: 1, n_layers: 1, seed: 6 }],
    ['SMA: gelu, gate, sparse 0.7', { gate: true, sma: true, sparsity: 0.7, seed: 12 }],
    ['SMA: relu, encoder relu, 4 layers, H = 16, P = 10', { act: 'relu', encoder_act: 'relu', gate: true, sma: true, n_layers: 4, d_model: 16, d_state: 10, seed: 13 }],
  ];
  const lengths = [1, 2, 3, 5, 17, 64, 100, 257, 784, 1000];

  test.each(variants)('%s, T = 1 … 1000', (_name, overrides) => {
    const model = randomModel({ ...base, ...overrides });
    const errors = lengths.map((T) => {
      const x = randomInputs(100 + T, T, model.config.d_in);
      return { T, err: maxRelativeError(runConv(model, x, T), runFloat(model, x, T)) };
    });
    expect(errors.filter(({ err }) => !(err < 1e-4))).toEqual([]);
    // Both are float64: the agreement is far inside the 1e-4 contract (observed ≤ ~1e-14).
    expect(errors.filter(({ err }) => !(err < 1e-10))).toEqual([]);
  });

  test('SMA: each layer\'s decisions are the reference\'s, step by step, and both occur', () => {
    const model = randomModel({ ...base, gate: true, sma: true, sparsity: 0.5, seed: 14 });
    const T = 300;
    const x = randomInputs(15, T, model.config.d_in);
    // The reference's decisions (observer 'm') and its y per layer, channel-major.
    const H = model.config.d_model;
    const decided: number[][] = model.layers.map(() => []);
    const ys = model.layers.map(() => new Float64Array(H * T));
    const state = zeroState(model);
    for (let t = 0; t < T; t++) {
      stepFloat(model, state, x.subarray(t * 3, t * 3 + 3), (tensor, layer, v) => {
        if (tensor === 'm') decided[layer].push(v[0]);
        if (tensor === 'y') v.forEach((yh, h) => (ys[layer][h * T + t] = yh));
      });
    }
    model.layers.forEach((L, i) => {
      expect(Array.from(smaDecisions(L, ys[i], T))).toEqual(decided[i]);
      const on = decided[i].filter((m) => m === 1).length;
      expect(on).toBeGreaterThan(0.1 * T);
      expect(on).toBeLessThan(0.9 * T);
    });
    expect(maxRelativeError(runConv(model, x, T), runFloat(model, x, T))).toBeLessThan(1e-10);
  });

  test('long memory: |Λ| = 0.999 (time constant 1000 steps), T up to 4000', () => {
    const model = randomModel({ ...base, gate: true, minRadius: 0.999, maxRadius: 0.999, seed: 7 });
    for (const L of model.layers) {
      for (let p = 0; p < L.lambdaRe.length; p++) expect(Math.hypot(L.lambdaRe[p], L.lambdaIm[p])).toBeCloseTo(0.999, 6);
    }
    for (const T of [999, 1000, 4000]) {
      const x = randomInputs(8 + T, T, model.config.d_in);
      expect(maxRelativeError(runConv(model, x, T), runFloat(model, x, T))).toBeLessThan(1e-4);
    }
  });

  test('marginal states: λ = 1, −1, ±i (|λ| = 1 exactly, λω^j = 1 on a bin) and λ = 0', () => {
    const model = randomModel({ ...base, d_state: 6, seed: 9 });
    const special: [number, number][] = [[1, 0], [-1, 0], [0, 1], [0, -1], [0, 0], [0.999, 0]];
    for (const L of model.layers) {
      special.forEach(([re, im], p) => { L.lambdaRe[p] = re; L.lambdaIm[p] = im; });
    }
    for (const T of [1, 4, 33, 500]) {
      const x = randomInputs(10 + T, T, model.config.d_in);
      expect(maxRelativeError(runConv(model, x, T), runFloat(model, x, T))).toBeLessThan(1e-4);
    }
  });
});

// ---------------------------------------------------------------------------
// One layer against the materialised kernel
// ---------------------------------------------------------------------------

test('ssmConvolve = Σ_k K_k v_{t−k} + D v_t with K_k = Re(C Λ^k B) (layerKernel)', () => {
  const model = randomModel({ ...base, d_model: 5, d_state: 4, sparsity: 0.3, seed: 11 });
  const L = model.layers[0];
  const H = 5;
  const T = 40;
  const v = randomInputs(12, H * T, 1); // channel-major [H, T]
  const K = layerKernel(L, T);
  const expected = new Float64Array(H * T);
  for (let t = 0; t < T; t++) {
    for (let ho = 0; ho < H; ho++) {
      let acc = L.D[ho] * v[ho * T + t];
      for (let k = 0; k <= t; k++) for (let hi = 0; hi < H; hi++) acc += K[(k * H + ho) * H + hi] * v[hi * T + t - k];
      expected[ho * T + t] = acc;
    }
  }
  expect(maxRelativeError(ssmConvolve(L, v, T), expected)).toBeLessThan(1e-12);
});

// ---------------------------------------------------------------------------
// The closed-form spectrum against the DFT summed term by term
// ---------------------------------------------------------------------------

test.each([
  { lre: 0.5, lim: 0.5, T: 7 }, { lre: 0.9, lim: -0.3, T: 16 }, { lre: -0.999, lim: 0.01, T: 33 },
  { lre: 1, lim: 0, T: 9 }, { lre: 0, lim: 1, T: 20 }, { lre: -1, lim: 0, T: 3 }, { lre: 0, lim: 0, T: 5 }, { lre: 0.6, lim: 0.8, T: 1 },
  // near 1 on bin 0: |q − 1|·T = 3e-5, 3e-4 (series) and 3e-3, 0.03 (closed form) either side of the switch
  { lre: 1 - 1e-7, lim: 0, T: 300 }, { lre: 1 - 1e-6, lim: 0, T: 300 }, { lre: 1 - 1e-5, lim: 0, T: 300 }, { lre: 0.9999, lim: 0, T: 300 },
])('geometricKernelSpectrum(λ = ($lre, $lim), T = $T) = Σ_{k<T} λ^k ω^{jk}', ({ lre, lim, T }) => {
  const plan = fftPlan(convolutionSize(T));
  const N = plan.size;
  expect(N).toBeGreaterThanOrEqual(Math.max(2, 2 * T - 1));
  const got = new Float64Array(2 * N);
  geometricKernelSpectrum(lre, lim, T, plan, got);
  const want = new Float64Array(2 * N);
  for (let j = 0; j < N; j++) {
    let powRe = 1;
    let powIm = 0;
    for (let k = 0; k < T; k++) {
      const angle = (-2 * Math.PI * ((j * k) % N)) / N; // reduced: no large-angle rounding
      want[2 * j] += powRe * Math.cos(angle) - powIm * Math.sin(angle);
      want[2 * j + 1] += powRe * Math.sin(angle) + powIm * Math.cos(angle);
      [powRe, powIm] = [powRe * lre - powIm * lim, powRe * lim + powIm * lre];
    }
  }
  expect(maxRelativeError(got, want)).toBeLessThan(1e-12);
});

// ---------------------------------------------------------------------------
// Impulse responses by hand
// ---------------------------------------------------------------------------

/** One state, one channel: y_t = Re(C λ^t B) + D·v_t. */
function scalarLayer(lre: number, lim: number, bRe: number, bIm: number, cRe: number, cIm: number, d: number): LayerWeights {
  return {
    normScale: f(1), normShift: f(0),
    lambdaRe: f(lre), lambdaIm: f(lim),
    B_re: dense(1, 1, bRe), B_im: dense(1, 1, bIm),
    C_re: dense(1, 1, cRe), C_im: dense(1, 1, cIm),
    D: f(d),
  };
}

function impulse(T: number): Float64Array {
  const v = new Float64Array(T);
  v[0] = 1;
  return v;
}

test('impulse through λ = 0.5 + 0.5i, B = 2, C = 1, D = 0.25: y_t = 2·Re(λ^t) (+D at t = 0)', () => {
  // λ² = 0.5i, λ³ = −0.25 + 0.25i, λ⁴ = −0.25, λ⁵ = −0.125 − 0.125i, λ⁶ = −0.125i, λ⁷ = 0.0625 − 0.0625i, λ⁸ = 0.0625
  const y = ssmConvolve(scalarLayer(0.5, 0.5, 2, 0, 1, 0, 0.25), impulse(9), 9);
  const want = [2 + 0.25, 1, 0, -0.5, -0.5, -0.25, 0, 0.125, 0.125];
  want.forEach((w, t) => expect(y[t]).toBeCloseTo(w, 13));
});

test('impulse with C = i: y_t = Re(i·λ^t·2) = −2·Im(λ^t) (checks the sign of C_im)', () => {
  const y = ssmConvolve(scalarLayer(0.5, 0.5, 2, 0, 0, 1, 0), impulse(9), 9);
  const want = [0, -1, -1, -0.5, 0, 0.25, 0.25, 0.125, 0];
  want.forEach((w, t) => expect(y[t]).toBeCloseTo(w, 13));
});

test('impulse with complex B and C: y_t = Re(C λ^t B), B = 1 − i, C = 1 + 2i → Re((3 + i)·λ^t)', () => {
  // (1 + 2i)(1 − i) = 3 + i;  t=0: 3;  t=1: Re((3+i)(0.5+0.5i)) = 1.5 − 0.5 = 1;  t=2: Re((3+i)·0.5i) = −0.5
  const y = ssmConvolve(scalarLayer(0.5, 0.5, 1, -1, 1, 2, 0), impulse(3), 3);
  [3, 1, -0.5].forEach((w, t) => expect(y[t]).toBeCloseTo(w, 13));
});

test('integrator λ = 1: the impulse response is B·C at every step, a step input gives (t + 1)·B·C', () => {
  const L = scalarLayer(1, 0, 1.5, 0, 2, 0, 0);
  const T = 300;
  const y = ssmConvolve(L, impulse(T), T);
  for (let t = 0; t < T; t++) expect(y[t]).toBeCloseTo(3, 9);
  const ramp = ssmConvolve(L, new Float64Array(T).fill(1), T);
  for (let t = 0; t < T; t++) expect(ramp[t]).toBeCloseTo(3 * (t + 1), 8);
});

test('impulse through a whole 1-state model: o_t = x_t + relu(λ^t·B·C + D·δ_t), λ = 0.5 real', () => {
  const model: Model = {
    config: { d_in: 1, d_model: 1, d_state: 1, d_out: 1, n_layers: 1, act: 'relu', encoder_act: 'none', gate: false },
    encoderWeight: dense(1, 1, 1), encoderBias: f(0),
    layers: [scalarLayer(0.5, 0, 4, 0, 0.5, 0, 0.75)],
    decoderWeight: dense(1, 1, 1), decoderBias: f(0),
    metadata: {},
  };
  const T = 12;
  const o = runConv(model, impulse(T), T);
  // t = 0: u = 1, y = 4·0.5 + 0.75 = 2.75, o = 3.75;  t ≥ 1: u = 0, y = 2·0.5^t
  expect(o[0]).toBeCloseTo(3.75, 13);
  for (let t = 1; t < T; t++) expect(o[t]).toBeCloseTo(2 * Math.pow(0.5, t), 13);
});

test('rejects a bad length and a v of the wrong size', () => {
  const model = randomModel(base);
  expect(() => runConv(model, new Float64Array(3), 0)).toThrow(RangeError);
  expect(() => runConv(model, new Float64Array(3), 2)).toThrow(RangeError);
  expect(() => ssmConvolve(model.layers[0], new Float64Array(7), 2)).toThrow(RangeError);
});
