// Training tasks against independent definitions: sequential Fashion-MNIST on a
// fake 28×28 set written by the test (inputs against directly computed pixel
// statistics, the cross-entropy of the time-mean logits against a hand-worked
// case and central differences), SI-SNR against a hand-worked case and its
// invariances, the STFT against a DFT written out term by term (and its
// adjoint against the dot-product identity), and the denoise task against the
// same naive STFT, a plain SI-SNR and finite differences of its loss.

import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { Example, Task } from '../../host/train/task';
import { pixelStats, sfmnistTask } from '../../host/train/tasks/sfmnist';
import { SI_SNR_EPS, siSnrDb, siSnrDbWithGrad } from '../../host/train/tasks/si_snr';
import { makeStft, periodicHann, stftAnalyze, stftSynthesize, stftSynthesizeAdjoint } from '../../host/train/tasks/stft';
import {
  CLEAN_LEVEL_DBFS, denoiseTask, DenoiseTask, exampleSeed, MAGNITUDE_MSE_WEIGHT, makeMaskWorkspace, maskLoss,
  maskSiSnrImprovementDb,
} from '../../host/train/tasks/denoise';
import { SparrowError } from '../../host/util/errors';
import { makeRng } from '../../host/util/rng';
import { fakePixels, FakeSplit, writeFakeFashionMnist } from '../helpers/idx';

// ---------------------------------------------------------------------------
// Independent definitions
// ---------------------------------------------------------------------------

function randomVector(seed: number, n: number, scale = 1): Float64Array {
  const rng = makeRng(seed);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = scale * rng.normal();
  return v;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** SI-SNR written straight from its definition (zero-mean, project, 10·log10 of the energy ratio). */
function siSnrReference(estimate: ArrayLike<number>, target: ArrayLike<number>): number {
  const L = target.length;
  const mean = (x: ArrayLike<number>) => Array.from(x).reduce((a, b) => a + b, 0) / L;
  const ms = mean(target);
  const my = mean(estimate);
  const s = Array.from(target, (v) => v - ms);
  const y = Array.from(estimate, (v) => v - my);
  const alpha = dot(y, s) / dot(s, s);
  const p = s.map((v) => alpha * v);
  const e = y.map((v, n) => v - p[n]);
  return 10 * Math.log10(dot(p, p) / (dot(e, e) + SI_SNR_EPS) + SI_SNR_EPS);
}

/** Frames of the STFT contract: start s_t = t·hop − (N − hop), every start ≤ L − 1. */
function frameStarts(nFft: number, hop: number, L: number): number[] {
  const starts: number[] = [];
  for (let s = -(nFft - hop); s <= L - 1; s += hop) starts.push(s);
  return starts;
}

function hann(n: number): Float64Array {
  return Float64Array.from({ length: n }, (_, j) => Math.sin((Math.PI * j) / n) ** 2); // = 0.5 − 0.5·cos(2πj/n)
}

/** X_t[k] = Σ_j w[j]·x[s_t + j]·e^{−2πijk/N}, term by term; [T, N/2 + 1]. */
function naiveAnalyze(x: ArrayLike<number>, nFft: number, hop: number): { re: Float64Array; im: Float64Array; T: number } {
  const starts = frameStarts(nFft, hop, x.length);
  const K = nFft / 2 + 1;
  const w = hann(nFft);
  const re = new Float64Array(starts.length * K);
  const im = new Float64Array(starts.length * K);
  starts.forEach((s, t) => {
    for (let k = 0; k < K; k++) {
      let sr = 0;
      let si = 0;
      for (let j = 0; j < nFft; j++) {
        const n = s + j;
        if (n < 0 || n >= x.length) continue;
        const theta = (2 * Math.PI * ((j * k) % nFft)) / nFft;
        sr += w[j] * x[n] * Math.cos(theta);
        si -= w[j] * x[n] * Math.sin(theta);
      }
      re[t * K + k] = sr;
      im[t * K + k] = si;
    }
  });
  return { re, im, T: starts.length };
}

/**
 * y[n] = Σ_t w[n − s_t]·x_t[n − s_t] / Σ_t w[n − s_t]², x_t = the real IDFT of the
 * Hermitian spectrum whose bins 0 … N/2 are given (Re(X_k·e^{iθ}) drops Im at k = 0, N/2).
 */
function naiveSynthesize(re: ArrayLike<number>, im: ArrayLike<number>, nFft: number, hop: number, L: number): Float64Array {
  const starts = frameStarts(nFft, hop, L);
  const K = nFft / 2 + 1;
  const w = hann(nFft);
  const y = new Float64Array(L);
  const weight = new Float64Array(L);
  starts.forEach((s, t) => {
    for (let j = 0; j < nFft; j++) {
      const n = s + j;
      if (n < 0 || n >= L) continue;
      let sum = 0;
      for (let k = 0; k < K; k++) {
        const theta = (2 * Math.PI * ((j * k) % nFft)) / nFft;
        const term = re[t * K + k] * Math.cos(theta) - im[t * K + k] * Math.sin(theta);
        sum += k === 0 || k === nFft / 2 ? term : 2 * term;
      }
      y[n] += (w[j] * sum) / nFft;
      weight[n] += w[j] * w[j];
    }
  });
  return y.map((v, n) => v / weight[n]);
}

/** Central differences of f at x (float64), for the indices given (default all). */
function centralDifferences(f: (x: Float64Array) => number, x: Float64Array, h: number, indices?: number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const i of indices ?? Array.from(x.keys())) {
    const saved = x[i];
    x[i] = saved + h;
    const up = f(x);
    x[i] = saved - h;
    const down = f(x);
    x[i] = saved;
    out.set(i, (up - down) / (2 * h));
  }
  return out;
}

/** The Task interface's promises for one example: shapes, the [T, dOut] gradient, finite values. */
function checkTaskContract(task: Task, ex: Example, outputs: Float32Array): void {
  expect(ex.T).toBe(task.T);
  expect(ex.inputs).toBeInstanceOf(Float32Array);
  expect(ex.inputs.length).toBe(task.T * task.dIn);
  expect(ex.inputs.every(Number.isFinite)).toBe(true);
  expect(outputs.length).toBe(task.T * task.dOut);
  const { loss, grad } = task.loss(outputs, ex);
  expect(Number.isFinite(loss)).toBe(true);
  expect(grad).toBeInstanceOf(Float32Array);
  expect(grad.length).toBe(task.T * task.dOut);
  expect(grad.every(Number.isFinite)).toBe(true);
  expect(Number.isFinite(task.metric(outputs, ex))).toBe(true);
  // Layout: a nudge to output (t, c) moves the loss by grad[t·dOut + c]. Steps that are
  // powers of two keep outputs ± h exact in float32.
  const h = 2 ** -8;
  const probes: [number, number][] = [[0, 0], [1, task.dOut - 1], [task.T - 1, 1], [Math.floor(task.T / 2), Math.floor(task.dOut / 3)]];
  for (const [t, c] of probes) {
    const i = t * task.dOut + c;
    const nudged = Float32Array.from(outputs);
    nudged[i] = outputs[i] + h;
    const up = task.loss(nudged, ex).loss;
    nudged[i] = outputs[i] - h;
    const down = task.loss(nudged, ex).loss;
    expect(Math.abs((up - down) / (2 * h) - grad[i])).toBeLessThan(1e-3 * maxAbs(grad) + 1e-9);
  }
}

const roundTo = (x: number, step: number) => Math.round(x / step) * step;

// ---------------------------------------------------------------------------
// sfmnist on a fake 28×28 Fashion-MNIST
// ---------------------------------------------------------------------------

let scratch: string;
const trainSplit: FakeSplit = { pixels: fakePixels(6, 1), labels: [0, 1, 2, 3, 4, 9] };
const testSplit: FakeSplit = { pixels: fakePixels(4, 2), labels: [7, 3, 9, 0] };
let fakeDir: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'sparrow-tasks-test-'));
  fakeDir = join(scratch, 'fashion');
  writeFakeFashionMnist(fakeDir, trainSplit, testSplit);
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('sfmnist', () => {
  /** μ, σ of the training pixels / 255, by the textbook two-pass formula. */
  function directStats(pixels: Uint8Array): { mean: number; std: number } {
    let sum = 0;
    for (const p of pixels) sum += p / 255;
    const mean = sum / pixels.length;
    let squares = 0;
    for (const p of pixels) squares += (p / 255 - mean) ** 2;
    return { mean, std: Math.sqrt(squares / pixels.length) };
  }

  test('pixelStats: hand-worked cases', () => {
    expect(pixelStats(Uint8Array.from([0, 255]))).toEqual({ mean: 0.5, std: 0.5 });
    const quarter = pixelStats(Uint8Array.from([0, 0, 0, 255]));
    expect(quarter.mean).toBeCloseTo(0.25, 15);
    expect(quarter.std).toBeCloseTo(Math.sqrt(3) / 4, 15); // √(0.25 − 0.0625)
    // A constant set has σ = 0 exactly (the task refuses to normalise it).
    for (const v of [0, 7, 51, 255]) expect(pixelStats(new Uint8Array(1000).fill(v))).toEqual({ mean: v / 255, std: 0 });
  });

  test('normalisation uses the training pixels only, and matches (p/255 − μ)/σ', () => {
    const { mean, std } = directStats(trainSplit.pixels);
    const task = sfmnistTask({ dir: fakeDir });
    expect(task.pixelMean).toBeCloseTo(mean, 14);
    expect(task.pixelStd).toBeCloseTo(std, 13);
    for (const [split, data] of [['train', trainSplit], ['test', testSplit]] as const) {
      for (let i = 0; i < data.labels.length; i++) {
        const ex = task.example(split, i);
        expect(ex.label).toBe(data.labels[i]);
        const expected = Array.from(data.pixels.subarray(i * 784, (i + 1) * 784), (p) => (p / 255 - mean) / std);
        expect(maxAbsDiff(ex.inputs, expected)).toBeLessThan(1e-6);
      }
    }
  });

  test('196 × 4 (default) and 784 × 1 layouts: x[t, j] = pixel t·P + j in reading order', () => {
    const { mean, std } = directStats(trainSplit.pixels);
    const byFour = sfmnistTask({ dir: fakeDir });
    expect([byFour.T, byFour.dIn, byFour.dOut, byFour.pixelsPerStep]).toEqual([196, 4, 10, 4]);
    const byOne = sfmnistTask({ dir: fakeDir, pixelsPerStep: 1 });
    expect([byOne.T, byOne.dIn, byOne.dOut]).toEqual([784, 1, 10]);
    const four = byFour.example('train', 2);
    const one = byOne.example('train', 2);
    const pixel = (row: number, col: number) => trainSplit.pixels[2 * 784 + row * 28 + col];
    // Step 9 of the 4-wide layout is row 1, columns 8..11; step 29 of the 1-wide layout is row 1, column 1.
    for (let j = 0; j < 4; j++) expect(four.inputs[9 * 4 + j]).toBeCloseTo((pixel(1, 8 + j) / 255 - mean) / std, 6);
    expect(one.inputs[29]).toBeCloseTo((pixel(1, 1) / 255 - mean) / std, 6);
    expect(Array.from(four.inputs)).toEqual(Array.from(one.inputs));
  });

  test('sizes, limits and out-of-range examples', () => {
    const task = sfmnistTask({ dir: fakeDir });
    expect([task.size('train'), task.size('test')]).toEqual([6, 4]);
    const limited = sfmnistTask({ dir: fakeDir, limit: { train: 2, test: 100 } });
    expect([limited.size('train'), limited.size('test')]).toEqual([2, 4]);
    expect(() => limited.example('train', 2)).toThrow(RangeError);
    expect(() => task.example('test', -1)).toThrow(RangeError);
    expect(() => task.example('test', 1.5)).toThrow(RangeError);
    expect(() => sfmnistTask({ dir: fakeDir, limit: { train: 0 } })).toThrow(SparrowError);
    expect(() => sfmnistTask({ dir: fakeDir, pixelsPerStep: 2 as 1 })).toThrow(SparrowError);
  });

  test('classes: only the images of those labels, in file order, in both splits; μ, σ and dOut those of the whole set', () => {
    const all = sfmnistTask({ dir: fakeDir });
    const task = sfmnistTask({ dir: fakeDir, classes: [9, 3] });
    // Train labels [0, 1, 2, 3, 4, 9] → images 3 and 5; test [7, 3, 9, 0] → images 1 and 2.
    expect([task.size('train'), task.size('test'), task.dOut]).toEqual([2, 2, 10]);
    expect([task.example('train', 0).label, task.example('train', 1).label]).toEqual([3, 9]);
    expect(Array.from(task.example('train', 1).inputs)).toEqual(Array.from(all.example('train', 5).inputs));
    expect(Array.from(task.example('test', 0).inputs)).toEqual(Array.from(all.example('test', 1).inputs));
    expect([task.pixelMean, task.pixelStd]).toEqual([all.pixelMean, all.pixelStd]);
    expect(sfmnistTask({ dir: fakeDir, classes: [9, 3], limit: { train: 1 } }).size('train')).toBe(1);
    expect(() => sfmnistTask({ dir: fakeDir, classes: [] })).toThrow(/classes is empty/);
    expect(() => sfmnistTask({ dir: fakeDir, classes: [10] })).toThrow(/class 10 is not a label 0–9/);
    expect(() => sfmnistTask({ dir: fakeDir, classes: [5, 6] })).toThrow(/the train split has no image of class 5, 6/);
  });

  test('a missing data set gives the install command; a blank set cannot be normalised', () => {
    expect(() => sfmnistTask({ dir: join(scratch, 'absent') })).toThrow(/apt-get install dataset-fashion-mnist/);
    const blank = join(scratch, 'blank');
    writeFakeFashionMnist(blank, { pixels: new Uint8Array(2 * 784).fill(7), labels: [0, 1] }, testSplit);
    expect(() => sfmnistTask({ dir: blank })).toThrow(/all training pixels are equal/);
  });

  test('loss: hand-worked case with logits z_c = ln(c + 1), so softmax_c = (c + 1)/55', () => {
    const task = sfmnistTask({ dir: fakeDir });
    const T = task.T;
    // Alternate ±d around ln(c + 1) over time: the time mean is still ln(c + 1).
    const outputs = new Float32Array(T * 10);
    for (let t = 0; t < T; t++) for (let c = 0; c < 10; c++) outputs[t * 10 + c] = Math.log(c + 1) + (t % 2 ? 0.75 : -0.75);
    const ex: Example = { inputs: new Float32Array(T * 4), T, label: 6 };
    const { loss, grad } = task.loss(outputs, ex);
    expect(loss).toBeCloseTo(Math.log(55) - Math.log(7), 6);
    for (const t of [0, 1, 100, T - 1]) {
      for (let c = 0; c < 10; c++) expect(grad[t * 10 + c]).toBeCloseTo(((c + 1) / 55 - (c === 6 ? 1 : 0)) / T, 9);
    }
    expect(task.metric(outputs, ex)).toBe(0); // argmax is class 9
    expect(task.metric(outputs, { ...ex, label: 9 })).toBe(1);
  });

  test('loss gradient equals central differences (196 × 4: every output; 784 × 1: a sample)', () => {
    for (const pixelsPerStep of [4, 1] as const) {
      const task = sfmnistTask({ dir: fakeDir, pixelsPerStep });
      const ex = task.example('train', 3);
      const rng = makeRng(pixelsPerStep);
      // Outputs on a 2^-10 grid so that outputs ± h are exact in float32.
      const h = 2 ** -10;
      const outputs = Float32Array.from({ length: task.T * 10 }, () => roundTo(2 * rng.normal(), h));
      const { grad } = task.loss(outputs, ex);
      const indices = pixelsPerStep === 4 ? Array.from(outputs.keys()) : Array.from({ length: 300 }, () => rng.int(outputs.length));
      let worst = 0;
      for (const i of indices) {
        const nudged = Float32Array.from(outputs);
        nudged[i] = outputs[i] + h;
        const up = task.loss(nudged, ex).loss;
        nudged[i] = outputs[i] - h;
        const down = task.loss(nudged, ex).loss;
        worst = Math.max(worst, Math.abs((up - down) / (2 * h) - grad[i]));
      }
      expect(worst).toBeLessThan(1e-6 * maxAbs(grad));
      // Σ_c ∂loss/∂o[t, c] = (Σ softmax − 1)/T = 0 at every step.
      for (let t = 0; t < task.T; t += 37) expect(Math.abs(grad.subarray(t * 10, t * 10 + 10).reduce((a, b) => a + b, 0))).toBeLessThan(1e-8);
    }
  });

  test('distillLoss: hand-worked against a uniform teacher; α = 0 is the loss; α mixes linearly; the teacher itself is its minimum', () => {
    const task = sfmnistTask({ dir: fakeDir });
    const T = task.T;
    const outputs = new Float32Array(T * 10);
    for (let t = 0; t < T; t++) for (let c = 0; c < 10; c++) outputs[t * 10 + c] = Math.log(c + 1) + (t % 2 ? 0.75 : -0.75);
    const uniform = new Float32Array(T * 10).fill(0.25); // logits all equal: q_c = 1/10
    const ex: Example = { inputs: new Float32Array(T * 4), T, label: 6 };
    // τ = 2: softmax(z/2)_c = √(c + 1)/S, S = Σ √(c + 1); loss = τ² Σ q (ln q − ln p); ∂/∂z_c = τ (p_c − q_c).
    const S = Array.from({ length: 10 }, (_, c) => Math.sqrt(c + 1)).reduce((a, b) => a + b, 0);
    const kd = task.distillLoss!(outputs, ex, uniform, { weight: 1, temperature: 2 });
    const kl = Array.from({ length: 10 }, (_, c) => 0.1 * (Math.log(0.1) - Math.log(Math.sqrt(c + 1) / S))).reduce((a, b) => a + b, 0);
    expect(kd.loss).toBeCloseTo(4 * kl, 6);
    for (const t of [0, 1, T - 1]) for (let c = 0; c < 10; c++) expect(kd.grad[t * 10 + c]).toBeCloseTo((2 * (Math.sqrt(c + 1) / S - 0.1)) / T, 9);
    // α = 0: the task's loss, bit for bit; α = 0.3: 0.7 × loss + 0.3 × the α = 1 term.
    const plain = task.loss(outputs, ex);
    const none = task.distillLoss!(outputs, ex, uniform, { weight: 0, temperature: 2 });
    expect(none.loss).toBe(plain.loss);
    expect(Array.from(none.grad)).toEqual(Array.from(plain.grad));
    const mixed = task.distillLoss!(outputs, ex, uniform, { weight: 0.3, temperature: 2 });
    expect(mixed.loss).toBeCloseTo(0.7 * plain.loss + 0.3 * kd.loss, 9);
    for (let i = 0; i < 20; i++) expect(mixed.grad[i]).toBeCloseTo(0.7 * plain.grad[i] + 0.3 * kd.grad[i], 9);
    // A student that equals its teacher has nothing to learn from it.
    const self = task.distillLoss!(outputs, ex, outputs, { weight: 1, temperature: 3 });
    expect(Math.abs(self.loss)).toBeLessThan(1e-12);
    expect(maxAbs(self.grad)).toBeLessThan(1e-12);
  });

  test('distillLoss gradient equals central differences (α = 0.4, τ = 3, random student and teacher)', () => {
    const task = sfmnistTask({ dir: fakeDir });
    const ex = task.example('train', 5);
    const rng = makeRng(11);
    const h = 2 ** -10;
    const outputs = Float32Array.from({ length: task.T * 10 }, () => roundTo(2 * rng.normal(), h));
    const teacher = Float32Array.from({ length: task.T * 10 }, () => 3 * rng.normal());
    const d = { weight: 0.4, temperature: 3 };
    const { grad } = task.distillLoss!(outputs, ex, teacher, d);
    let worst = 0;
    for (let i = 0; i < outputs.length; i += 7) {
      const nudged = Float32Array.from(outputs);
      nudged[i] = outputs[i] + h;
      const up = task.distillLoss!(nudged, ex, teacher, d).loss;
      nudged[i] = outputs[i] - h;
      const down = task.distillLoss!(nudged, ex, teacher, d).loss;
      worst = Math.max(worst, Math.abs((up - down) / (2 * h) - grad[i]));
    }
    expect(worst).toBeLessThan(1e-6 * maxAbs(grad));
  });

  test('metric: accuracy of the time-mean argmax; ties to the lowest class; reduced as a percentage', () => {
    const task = sfmnistTask({ dir: fakeDir });
    const T = task.T;
    const outputs = new Float32Array(T * 10);
    // Class 3 wins only on average: big at one step, small elsewhere.
    outputs[5 * 10 + 3] = T * 0.5;
    for (let t = 0; t < T; t++) outputs[t * 10 + 7] = 0.4;
    const ex = (label: number): Example => ({ inputs: new Float32Array(0), T, label });
    expect(task.metric(outputs, ex(3))).toBe(1);
    expect(task.metric(outputs, ex(7))).toBe(0);
    expect(task.metric(new Float32Array(T * 10), ex(0))).toBe(1); // all tied → class 0
    expect(task.metricName).toBe('accuracy (%)');
    expect(task.reduceMetric([1, 0, 1, 1])).toBe(75);
    expect(task.reduceMetric([])).toBeNaN();
    expect(() => task.metric(new Float32Array(T * 10 - 1), ex(0))).toThrow(/outputs have/);
    expect(() => task.loss(new Float32Array(10), ex(0))).toThrow(/outputs have/);
  });

  test('Task contract (both layouts)', () => {
    for (const pixelsPerStep of [4, 1] as const) {
      const task = sfmnistTask({ dir: fakeDir, pixelsPerStep });
      expect(task.name).toBe('sfmnist');
      const outputs = Float32Array.from(randomVector(7, task.T * task.dOut), (v) => roundTo(v, 2 ** -8));
      checkTaskContract(task, task.example('test', 1), outputs);
    }
  });
});

// ---------------------------------------------------------------------------
// SI-SNR
// ---------------------------------------------------------------------------

describe('SI-SNR', () => {
  // s = [1, −1, 1, −1], n = [1, 1, −1, −1]: zero-mean and orthogonal.
  const s = Float64Array.from([1, -1, 1, -1]);
  const n = Float64Array.from([1, 1, -1, -1]);

  test('hand-worked: y = 2s + 0.5n + 3 → ‖p‖² = 16, ‖e‖² = 1 → 10·log10(16) dB', () => {
    const y = s.map((v, i) => 2 * v + 0.5 * n[i] + 3);
    expect(siSnrDb(y, s)).toBeCloseTo(10 * Math.log10(16 / (1 + 1e-8) + 1e-8), 12);
    expect(siSnrDb(y, s)).toBeCloseTo(12.0412, 4);
    // The estimate and target also shifted: the means come off both.
    expect(siSnrDb(y, s.map((v) => v - 5))).toBeCloseTo(10 * Math.log10(16), 6);
  });

  test('a perfect estimate scores 10·log10(‖p‖²/ε), not +∞', () => {
    const y = s.map((v) => 3 * v);
    expect(siSnrDb(y, s)).toBeCloseTo(10 * Math.log10(36 / 1e-8 + 1e-8), 10); // ≈ 95.56 dB
  });

  test('invariant to scaling and offsetting the estimate and scaling the target (while ε ≪ ‖e‖²)', () => {
    const target = randomVector(1, 200);
    const estimate = target.map((v, i) => v + randomVector(2, 200)[i] * 0.7); // ‖e‖² ≈ 200 · 0.49
    const base = siSnrDb(estimate, target);
    expect(base).toBeCloseTo(siSnrReference(estimate, target), 10);
    // Scaling y by a scales ‖e‖² by a²; ε = 1e-8 then moves the result by ≈ 4.3·ε/(a²‖e‖²) dB.
    for (const [a, b] of [[3.5, 0], [2.5, 2], [-2, -1], [1e3, 7]]) {
      expect(Math.abs(siSnrDb(estimate.map((v) => a * v + b), target) - base)).toBeLessThan(1e-9);
    }
    expect(Math.abs(siSnrDb(estimate, target.map((v) => 0.2 * v)) - base)).toBeLessThan(1e-9);
  });

  test('gradient equals central differences; it is orthogonal to the constant and to the estimate', () => {
    for (const [seed, noise] of [[3, 1], [4, 0.05], [5, 5]]) {
      const target = randomVector(seed, 64);
      const estimate = target.map((v, i) => 0.8 * v + noise * randomVector(seed + 100, 64)[i] + 0.3);
      const grad = new Float64Array(64);
      expect(siSnrDbWithGrad(estimate, target, grad)).toBe(siSnrDb(estimate, target));
      const fd = centralDifferences((y) => siSnrDb(y, target), Float64Array.from(estimate), 1e-6);
      let worst = 0;
      for (const [i, d] of fd) worst = Math.max(worst, Math.abs(d - grad[i]));
      expect(worst).toBeLessThan(1e-6 * maxAbs(grad));
      // Offsetting or scaling y does not change SI-SNR: ⟨∇, 1⟩ = 0 and ⟨∇, y⟩ = 0.
      expect(Math.abs(grad.reduce((a, b) => a + b, 0))).toBeLessThan(1e-10 * maxAbs(grad) * 64);
      expect(Math.abs(dot(grad, estimate))).toBeLessThan(1e-8 * maxAbs(grad) * maxAbs(estimate) * 64);
    }
  });

  test('a constant target or mismatched lengths are errors', () => {
    expect(() => siSnrDb(Float64Array.from([1, 2]), Float64Array.from([3, 3]))).toThrow(/constant/);
    expect(() => siSnrDb(Float64Array.from([1, 2, 3]), Float64Array.from([1, 2]))).toThrow(/samples/);
  });
});

// ---------------------------------------------------------------------------
// STFT
// ---------------------------------------------------------------------------

describe('STFT', () => {
  // (nFft, hop, L): hop dividing N or not, L shorter than a frame, a single sample.
  const shapes: [number, number, number][] = [
    [16, 8, 50], [16, 4, 37], [16, 5, 40], [16, 12, 33], [16, 8, 10], [8, 4, 1], [64, 32, 800], [256, 128, 1000], [512, 256, 1300],
  ];

  test('periodic Hann window: w[0] = 0, w[N/2] = 1, symmetric about N/2', () => {
    const w = periodicHann(16);
    expect(w[0]).toBe(0);
    expect(w[8]).toBe(1);
    for (let j = 1; j < 8; j++) expect(w[16 - j]).toBeCloseTo(w[j], 15);
    expect(maxAbsDiff(w, hann(16))).toBeLessThan(1e-15);
  });

  test.each(shapes)('N = %i, hop = %i, L = %i: frame count and 1/D follow the contract', (nFft, hop, L) => {
    const stft = makeStft(nFft, hop, L);
    const starts = frameStarts(nFft, hop, L);
    expect(stft.frames).toBe(starts.length);
    expect(stft.bins).toBe(nFft / 2 + 1);
    expect(stft.pad).toBe(nFft - hop);
    const w = hann(nFft);
    for (let n = 0; n < L; n++) {
      let D = 0;
      for (const s of starts) if (n - s >= 0 && n - s < nFft) D += w[n - s] ** 2;
      expect(stft.invWindowSum[n]).toBeCloseTo(1 / D, 10);
    }
  });

  test.each(shapes)('N = %i, hop = %i, L = %i: analysis equals the DFT term by term', (nFft, hop, L) => {
    const stft = makeStft(nFft, hop, L);
    const x = randomVector(nFft + hop + L, L);
    const re = new Float64Array(stft.frames * stft.bins);
    const im = new Float64Array(stft.frames * stft.bins);
    stftAnalyze(stft, x, re, im);
    const naive = naiveAnalyze(x, nFft, hop);
    expect(naive.T).toBe(stft.frames);
    const scale = maxAbs(naive.re) + maxAbs(naive.im);
    expect(maxAbsDiff(re, naive.re)).toBeLessThan(1e-12 * scale);
    expect(maxAbsDiff(im, naive.im)).toBeLessThan(1e-12 * scale);
  });

  test.each(shapes)('N = %i, hop = %i, L = %i: synthesis equals the overlap-add definition; synthesis(analysis(x)) = x', (nFft, hop, L) => {
    const stft = makeStft(nFft, hop, L);
    const cells = stft.frames * stft.bins;
    const re = randomVector(1, cells);
    const im = randomVector(2, cells);
    const y = new Float64Array(L);
    stftSynthesize(stft, re, im, y);
    expect(maxAbsDiff(y, naiveSynthesize(re, im, nFft, hop, L))).toBeLessThan(1e-12 * (1 + maxAbs(y)));

    const x = randomVector(3, L);
    stftAnalyze(stft, x, re, im);
    stftSynthesize(stft, re, im, y);
    expect(maxAbsDiff(y, x)).toBeLessThan(1e-12 * maxAbs(x));
  });

  test.each(shapes)('N = %i, hop = %i, L = %i: adjoint ⟨S(re, im), g⟩ = ⟨re, Sᵀg⟩ + ⟨im, Sᵀg⟩', (nFft, hop, L) => {
    const stft = makeStft(nFft, hop, L);
    const cells = stft.frames * stft.bins;
    for (const seed of [1, 2, 3]) {
      // Random Im at bins 0 and N/2 too: synthesis ignores them, so the adjoint must give 0 there.
      const re = randomVector(10 * seed, cells);
      const im = randomVector(10 * seed + 1, cells);
      const g = randomVector(10 * seed + 2, L);
      const y = new Float64Array(L);
      stftSynthesize(stft, re, im, y);
      const gradRe = new Float64Array(cells);
      const gradIm = new Float64Array(cells);
      stftSynthesizeAdjoint(stft, g, gradRe, gradIm);
      const lhs = dot(y, g);
      const rhs = dot(re, gradRe) + dot(im, gradIm);
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-12 * (Math.abs(lhs) + maxAbs(g) * maxAbs(y) * L));
      for (let t = 0; t < stft.frames; t++) {
        expect(gradIm[t * stft.bins]).toBe(0);
        expect(gradIm[t * stft.bins + nFft / 2]).toBe(0);
      }
    }
  });

  test('a cosine on bin k₀ of amplitude a peaks at a·N/4, its neighbours at a·N/8 (interior frames)', () => {
    const nFft = 64;
    const hop = 16;
    const L = 400;
    const a = 0.7;
    const k0 = 9;
    const x = Float64Array.from({ length: L }, (_, n) => a * Math.cos((2 * Math.PI * k0 * n) / nFft + 0.4));
    const stft = makeStft(nFft, hop, L);
    const re = new Float64Array(stft.frames * stft.bins);
    const im = new Float64Array(stft.frames * stft.bins);
    stftAnalyze(stft, x, re, im);
    const starts = frameStarts(nFft, hop, L);
    let interior = 0;
    starts.forEach((s, t) => {
      if (s < 0 || s + nFft > L) return;
      interior++;
      const mag = (k: number) => Math.hypot(re[t * stft.bins + k], im[t * stft.bins + k]);
      expect(mag(k0)).toBeCloseTo((a * nFft) / 4, 10);
      expect(mag(k0 - 1)).toBeCloseTo((a * nFft) / 8, 10);
      expect(mag(k0 + 1)).toBeCloseTo((a * nFft) / 8, 10);
      expect(mag(k0 + 2)).toBeLessThan(1e-10);
      expect(mag(0)).toBeLessThan(1e-10);
    });
    expect(interior).toBeGreaterThan(10);
  });

  test('invalid shapes are SparrowErrors', () => {
    expect(() => makeStft(12, 6, 100)).toThrow(SparrowError);
    expect(() => makeStft(4, 2, 100)).toThrow(SparrowError);
    expect(() => makeStft(16, 0, 100)).toThrow(SparrowError);
    expect(() => makeStft(16, 17, 100)).toThrow(SparrowError);
    expect(() => makeStft(16, 8, 0)).toThrow(SparrowError);
    // hop = N: each frame start falls on w[0] = 0 only.
    expect(() => makeStft(16, 16, 100)).toThrow(/uncovered/);
  });
});

// ---------------------------------------------------------------------------
// denoise
// ---------------------------------------------------------------------------

describe('denoise', () => {
  // 800 samples, 64-point frames: T = 26 frames × 33 bins.
  const small = { seconds: 0.05, nFft: 64, trainSize: 20, testSize: 10 };

  test('default sizes: 16 kHz, 1 s, nFft 256, hop 128 → T = 126 frames, 129 bins in and out', () => {
    const task = denoiseTask();
    expect([task.sampleRate, task.samples, task.nFft, task.hop]).toEqual([16000, 16000, 256, 128]);
    expect(task.T).toBe(frameStarts(256, 128, 16000).length);
    expect([task.T, task.dIn, task.dOut]).toEqual([126, 129, 129]);
    expect([task.size('train'), task.size('test')]).toEqual([2000, 200]);
    expect(task.snrRangeDb).toEqual([-5, 20]);
    expect(task.metricName).toBe('SI-SNRi (dB)');
    const ex = task.example('train', 0);
    expect(ex.inputs.length).toBe(126 * 129);
  });

  test('example i of a split is a pure function of (seed, split, i)', () => {
    const a = denoiseTask(small);
    const b = denoiseTask(small);
    const same = (x: Example, y: Example) => {
      expect(x.inputs).toEqual(y.inputs);
      expect(a.extraOf(x).clean).toEqual(a.extraOf(y).clean);
      expect(a.extraOf(x).noisy).toEqual(a.extraOf(y).noisy);
    };
    same(a.example('train', 3), b.example('train', 3));
    same(a.example('train', 3), a.example('train', 3));
    // Any order of generation: example 3 after example 7 is still example 3.
    a.example('train', 7);
    same(a.example('train', 3), b.example('train', 3));
    const differ = (x: Example, y: Example) => expect(a.extraOf(x).clean).not.toEqual(a.extraOf(y).clean);
    differ(a.example('train', 3), a.example('train', 4));
    differ(a.example('train', 3), a.example('test', 3));
    differ(a.example('train', 3), denoiseTask({ ...small, seed: 2 }).example('train', 3));
  });

  test('train and test draw from disjoint seeds (default sizes, several base seeds)', () => {
    for (const seed of [0, 1, 2, 3, 12345]) {
      const train = new Set(Array.from({ length: 2000 }, (_, i) => exampleSeed(seed, 'train', i)));
      expect(train.size).toBe(2000);
      const test = Array.from({ length: 200 }, (_, i) => exampleSeed(seed, 'test', i));
      expect(new Set(test).size).toBe(200);
      expect(test.filter((s) => train.has(s))).toEqual([]);
    }
  });

  test('an example: level, SNR, noise colour, STFT and inputs against their definitions', () => {
    const task = denoiseTask({ ...small, snrDb: [-3, 8], noises: ['pink', 'brown'] });
    for (const i of [0, 1, 2, 5]) {
      const ex = task.example('train', i);
      const extra = task.extraOf(ex);
      const levelDbfs = 10 * Math.log10(extra.clean.reduce((s, v) => s + v * v, 0) / extra.clean.length);
      expect(levelDbfs).toBeGreaterThanOrEqual(CLEAN_LEVEL_DBFS[0] - 1e-9);
      expect(levelDbfs).toBeLessThanOrEqual(CLEAN_LEVEL_DBFS[1] + 1e-9);
      expect(['pink', 'brown']).toContain(extra.noise);
      expect(extra.snrDb).toBeGreaterThanOrEqual(-3);
      expect(extra.snrDb).toBeLessThanOrEqual(8);
      const noisePower = extra.noisy.reduce((s, v, n) => s + (v - extra.clean[n]) ** 2, 0);
      const cleanPower = extra.clean.reduce((s, v) => s + v * v, 0);
      expect(Math.abs(10 * Math.log10(cleanPower / noisePower) - extra.snrDb)).toBeLessThan(1e-9);

      const X = naiveAnalyze(extra.noisy, 64, 32);
      const C = naiveAnalyze(extra.clean, 64, 32);
      expect(X.T).toBe(task.T);
      const scale = maxAbs(X.re) + maxAbs(X.im);
      expect(maxAbsDiff(extra.noisyRe, X.re)).toBeLessThan(1e-12 * scale);
      expect(maxAbsDiff(extra.noisyIm, X.im)).toBeLessThan(1e-12 * scale);
      const noisyMag = X.re.map((r, c) => Math.hypot(r, X.im[c]));
      const cleanMag = C.re.map((r, c) => Math.hypot(r, C.im[c]));
      expect(maxAbsDiff(extra.noisyMag, noisyMag)).toBeLessThan(1e-12 * scale);
      expect(maxAbsDiff(extra.cleanMag, cleanMag)).toBeLessThan(1e-12 * scale);
      expect(maxAbsDiff(ex.inputs, noisyMag.map(Math.log1p))).toBeLessThan(1e-6);
      expect(extra.noisySiSnrDb).toBeCloseTo(siSnrReference(extra.noisy, extra.clean), 9);
    }
  });

  test('loss of a mask equals λ·mean((|X|(1 + m) − |C|)²) + 100 − SI-SNR(iSTFT(X(1 + m)), c)', () => {
    const task = denoiseTask(small);
    const ex = task.example('test', 4);
    const extra = task.extraOf(ex);
    const cells = task.T * task.dOut;
    for (const seed of [0, 1, 2]) {
      const mask = seed === 0 ? new Float32Array(cells) : Float32Array.from(randomVector(seed, cells, 0.4));
      const gain = Array.from(mask, (m) => 1 + m);
      const y = naiveSynthesize(extra.noisyRe.map((v, c) => v * gain[c]), extra.noisyIm.map((v, c) => v * gain[c]), 64, 32, task.samples);
      if (seed === 0) expect(maxAbsDiff(y, extra.noisy)).toBeLessThan(1e-12 * maxAbs(extra.noisy));
      let squaredError = 0;
      for (let c = 0; c < cells; c++) squaredError += (extra.noisyMag[c] * gain[c] - extra.cleanMag[c]) ** 2;
      const expected = MAGNITUDE_MSE_WEIGHT * (squaredError / cells) + 100 - siSnrReference(y, extra.clean);
      expect(task.loss(mask, ex).loss).toBeCloseTo(expected, 8);
      expect(task.metric(mask, ex)).toBeCloseTo(siSnrReference(y, extra.clean) - siSnrReference(extra.noisy, extra.clean), 8);
    }
  });

  test('maskLoss gradient equals central differences at every cell', () => {
    const task = denoiseTask({ ...small, noises: ['white', 'babble'] });
    const ws = makeMaskWorkspace(task.stft);
    for (const i of [0, 1]) {
      const extra = task.extraOf(task.example('train', i));
      const mask = randomVector(50 + i, task.T * task.dOut, 0.3);
      const grad = new Float64Array(mask.length);
      const loss = maskLoss(ws, extra, mask, grad);
      expect(loss).toBe(maskLoss(ws, extra, mask));
      const fd = centralDifferences((m) => maskLoss(ws, extra, m), Float64Array.from(mask), 1e-5);
      let worst = 0;
      for (const [c, d] of fd) worst = Math.max(worst, Math.abs(d - grad[c]));
      expect(worst).toBeLessThan(1e-6 * maxAbs(grad));
    }
  });

  test('task.loss returns maskLoss and its gradient rounded to float32, in [T, dOut] layout', () => {
    const task = denoiseTask(small);
    const ex = task.example('train', 2);
    const outputs = Float32Array.from(randomVector(9, task.T * task.dOut, 0.2));
    const { loss, grad } = task.loss(outputs, ex);
    const ws = makeMaskWorkspace(task.stft);
    const grad64 = new Float64Array(outputs.length);
    expect(loss).toBe(maskLoss(ws, task.extraOf(ex), outputs, grad64));
    expect(Array.from(grad)).toEqual(Array.from(grad64, Math.fround));
  });

  test('row t of the outputs masks frame t: silencing every other frame leaves sound only under frame t', () => {
    const task = denoiseTask(small);
    const ex = task.example('train', 1);
    const K = task.dOut;
    const ws = makeMaskWorkspace(task.stft);
    const starts = frameStarts(64, 32, task.samples);
    for (const t of [0, 7, task.T - 1]) {
      const mask = new Float64Array(task.T * K).fill(-1);
      mask.fill(0, t * K, (t + 1) * K);
      // y = iSTFT(X·(1 + m)): with 1 + m = 0 off frame t, only frame t's samples can be non-zero.
      const y = naiveSynthesize(task.extraOf(ex).noisyRe.map((v, c) => v * (1 + mask[c])), task.extraOf(ex).noisyIm.map((v, c) => v * (1 + mask[c])), 64, 32, task.samples);
      let inside = 0;
      y.forEach((v, n) => {
        if (n >= starts[t] && n < starts[t] + 64) inside = Math.max(inside, Math.abs(v));
        else expect(v).toBe(0);
      });
      expect(inside).toBeGreaterThan(0);
      // The task's own synthesis agrees with the definition for this mask.
      maskLoss(ws, task.extraOf(ex), mask);
      expect(maxAbsDiff(ws.cleaned, y)).toBeLessThan(1e-12 * (1 + inside));
    }
  });

  test('a zero mask scores 0 dB SI-SNR improvement; the metric is maskSiSnrImprovementDb', () => {
    const task = denoiseTask(small);
    const ws = makeMaskWorkspace(task.stft);
    for (let i = 0; i < 4; i++) {
      const ex = task.example('test', i);
      const zero = new Float32Array(task.T * task.dOut);
      expect(Math.abs(task.metric(zero, ex))).toBeLessThan(1e-9);
      const mask = Float32Array.from(randomVector(i, zero.length, 0.3));
      expect(task.metric(mask, ex)).toBe(maskSiSnrImprovementDb(ws, task.extraOf(ex), mask));
    }
    expect(task.reduceMetric([1, 2, 6])).toBe(3);
    expect(task.reduceMetric([])).toBeNaN();
  });

  test('an oracle mask (ideal ratio mask |C|/|X| clipped to 1, minus 1) improves SI-SNR for every noise colour', () => {
    for (const noise of ['white', 'pink', 'brown', 'babble'] as const) {
      const task = denoiseTask({ seconds: 0.25, noises: [noise], snrDb: [0, 0], trainSize: 3 });
      for (let i = 0; i < 3; i++) {
        const ex = task.example('train', i);
        const { cleanMag, noisyMag } = task.extraOf(ex);
        // Babble can be digital silence where every talker is (leading silences): 0/0 → leave those cells alone.
        const mask = Float32Array.from(cleanMag, (c, k) => (noisyMag[k] > 0 ? Math.min(c / noisyMag[k], 1) - 1 : 0));
        expect(task.metric(mask, ex)).toBeGreaterThan(2);
        // And it lowers the loss below that of doing nothing.
        expect(task.loss(mask, ex).loss).toBeLessThan(task.loss(new Float32Array(mask.length), ex).loss);
      }
    }
  });

  test('Task contract', () => {
    const task = denoiseTask(small);
    expect(task.name).toBe('denoise');
    expect(task.dIn).toBe(task.dOut);
    const ex = task.example('train', 0);
    checkTaskContract(task, ex, Float32Array.from(randomVector(3, task.T * task.dOut, 0.25), (v) => roundTo(v, 2 ** -8)));
  });

  test('bad options and foreign examples', () => {
    expect(() => denoiseTask({ seconds: 0.001 })).toThrow(/shorter than one 256-point frame/);
    expect(() => denoiseTask({ nFft: 100, seconds: 0.05 })).toThrow(SparrowError);
    expect(() => denoiseTask({ noises: [] })).toThrow(SparrowError);
    expect(() => denoiseTask({ noises: ['pink', 'purple' as 'pink'] })).toThrow(/unknown noise type "purple"/);
    expect(() => denoiseTask({ snrDb: [5, 0] })).toThrow(SparrowError);
    expect(() => denoiseTask({ trainSize: 0 })).toThrow(SparrowError);
    expect(() => denoiseTask({ seed: 1.5 })).toThrow(SparrowError);
    const task: DenoiseTask = denoiseTask(small);
    expect(() => task.example('test', 10)).toThrow(RangeError);
    const other = denoiseTask({ ...small, nFft: 128 });
    expect(() => task.loss(new Float32Array(task.T * task.dOut), other.example('train', 0))).toThrow(/not made by this denoise task/);
    expect(() => task.loss(new Float32Array(5), task.example('train', 0))).toThrow(/outputs have 5 values/);
  });
});
