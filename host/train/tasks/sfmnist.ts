// ============================================================================
// sfmnist: sequential Fashion-MNIST. Each 28×28 image is read row-major as a
// pixel sequence, `pixelsPerStep` pixels per step; the model's per-step
// outputs are averaged over time into 10 logits (on a device: a running mean,
// one add per class per step and one divide at the end); loss = softmax
// cross-entropy of those logits; metric = accuracy.
//
//   inputs   x[t, j] = (p[t·P + j] / 255 − μ) / σ,  P = pixelsPerStep
//            μ, σ = mean and std of all training pixels scaled to [0, 1]
//            (Fashion-MNIST: μ = 0.2860406, σ = 0.3530242; computed from the
//            loaded training file, so a fake set gets its own)
//   logits   z = (1/T) Σ_t o[t]
//   loss     log Σ_c e^{z_c} − z_y;   ∂loss/∂o[t, c] = (softmax(z)_c − [c = y]) / T
//   metric   1 if argmax z = y else 0; reported as mean × 100 = accuracy (%)
//   distill  with a teacher's logits t, weight α and temperature τ (train --teacher):
//            (1 − α) loss + α τ² KL(softmax(t/τ) ‖ softmax(z/τ));
//            ∂/∂z_c = (1 − α)(softmax(z)_c − [c = y]) + α τ (softmax(z/τ)_c − softmax(t/τ)_c)
//   classes  optionally only the images of some labels, in both splits, with
//            dOut still 10 and μ, σ still those of the whole training file:
//            a model trained on classes 0–4 can be tuned to 5–9 on the same
//            inputs and outputs (docs/adaptation.md)
//
// Cost: an example is 784 table look-ups (no per-example allocation beyond
// the returned inputs); the loss is O(T·10). Loading is the gunzip (≈ 0.5 s).
// ============================================================================

import { SparrowError } from '../../util/errors';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_CLASS_NAMES, LabelledImages, loadFashionMnist } from '../data/fashion_mnist';
import { Distillation, Example, LossResult, Split, Task } from '../task';

export interface SfmnistOptions {
  /** Dataset directory (default: $SPARROW_FASHION_MNIST_DIR, else /usr/share/datasets/fashion-mnist). */
  dir?: string;
  /**
   * Pixels fed per step. 4 (default) gives 196 steps × 4 inputs: it is for
   * training time — 4× fewer sequential steps per image than 784 × 1, the
   * classic pixel-by-pixel benchmark (pixelsPerStep 1).
   */
  pixelsPerStep?: 1 | 4;
  /** Use only the first `train` / `test` images of each split (tests, quick runs); counted after `classes`. */
  limit?: { train?: number; test?: number };
  /** Only the images of these labels (0–9), in both splits; dOut stays 10. Default all. */
  classes?: number[];
}

export interface SfmnistTask extends Task {
  /** Mean of the training pixels scaled to [0, 1]. */
  pixelMean: number;
  /** Standard deviation (population) of the training pixels scaled to [0, 1]. */
  pixelStd: number;
  pixelsPerStep: 1 | 4;
  classNames: readonly string[];
}

/** Mean and standard deviation of all pixels / 255 (float64 sums: 47 M pixels). */
export function pixelStats(pixels: Uint8Array): { mean: number; std: number } {
  // Histogram first: 256 bins make the byte sum exact and the pass cheap.
  const histogram = new Float64Array(256);
  for (let i = 0; i < pixels.length; i++) histogram[pixels[i]]++;
  let byteSum = 0;
  for (let v = 0; v < 256; v++) byteSum += histogram[v] * v;
  const mean = byteSum / pixels.length / 255;
  // Two passes, not E[x²] − E[x]²: that difference leaves rounding noise (σ ≈ 1e-9
  // instead of 0) on a constant image set, which the caller's σ > 0 check would pass.
  let squares = 0;
  for (let v = 0; v < 256; v++) squares += histogram[v] * (v / 255 - mean) ** 2;
  return { mean, std: Math.sqrt(squares / pixels.length) };
}

function checkLimit(name: string, value: number | undefined, available: number): number {
  if (value === undefined) return available;
  if (!Number.isInteger(value) || value < 1) {
    throw new SparrowError(`sfmnist: limit.${name} must be a positive whole number of images, got ${value}`);
  }
  return Math.min(value, available);
}

function checkClasses(classes: number[] | undefined): Set<number> | undefined {
  if (classes === undefined) return undefined;
  if (classes.length === 0) throw new SparrowError('sfmnist: classes is empty; give at least one label 0–9');
  for (const c of classes) {
    if (!Number.isInteger(c) || c < 0 || c >= FASHION_MNIST_CLASSES) throw new SparrowError(`sfmnist: class ${c} is not a label 0–${FASHION_MNIST_CLASSES - 1}`);
  }
  return new Set(classes);
}

export function sfmnistTask(opts: SfmnistOptions = {}): SfmnistTask {
  const pixelsPerStep = opts.pixelsPerStep ?? 4;
  if (pixelsPerStep !== 1 && pixelsPerStep !== 4) {
    throw new SparrowError(`sfmnist: pixelsPerStep must be 1 or 4, got ${pixelsPerStep as number}`);
  }
  const data = loadFashionMnist(opts.dir);
  const pixelsPerImage = data.train.rows * data.train.cols;
  if (pixelsPerImage % pixelsPerStep !== 0) {
    throw new SparrowError(`sfmnist: ${data.train.rows}×${data.train.cols} images do not split into steps of ${pixelsPerStep} pixels`);
  }
  const { mean, std } = pixelStats(data.train.pixels);
  if (!(std > 0)) throw new SparrowError(`Fashion-MNIST at ${data.dir}: all training pixels are equal; cannot normalise`);
  // Byte → normalised input: the whole per-pixel cost of an example.
  const normalised = new Float32Array(256);
  for (let v = 0; v < 256; v++) normalised[v] = (v / 255 - mean) / std;

  const classes = FASHION_MNIST_CLASSES;
  const wanted = checkClasses(opts.classes);
  /** Image numbers of a split's examples: every image, or those of the wanted classes in file order. */
  const pick = (images: LabelledImages, split: Split): Int32Array => {
    const all = Int32Array.from({ length: images.count }, (_, i) => i);
    if (!wanted) return all;
    const kept = all.filter((i) => wanted.has(images.labels[i]));
    if (kept.length === 0) throw new SparrowError(`sfmnist: the ${split} split has no image of class ${[...wanted].join(', ')}`);
    return kept;
  };
  const trainImages = pick(data.train, 'train');
  const testImages = pick(data.test, 'test');
  const splits: Record<Split, { images: LabelledImages; index: Int32Array; size: number }> = {
    train: { images: data.train, index: trainImages, size: checkLimit('train', opts.limit?.train, trainImages.length) },
    test: { images: data.test, index: testImages, size: checkLimit('test', opts.limit?.test, testImages.length) },
  };
  const T = pixelsPerImage / pixelsPerStep;

  const example = (split: Split, i: number): Example => {
    const { images, index, size } = splits[split];
    if (!Number.isInteger(i) || i < 0 || i >= size) {
      throw new RangeError(`sfmnist: example ${i} is outside the ${split} split of ${size} images`);
    }
    const image = index[i];
    const pixels = images.pixels.subarray(image * pixelsPerImage, (image + 1) * pixelsPerImage);
    const inputs = new Float32Array(pixelsPerImage);
    for (let p = 0; p < pixelsPerImage; p++) inputs[p] = normalised[pixels[p]];
    return { inputs, T, label: images.labels[image] };
  };

  /** Time-mean logits z[c] = (1/T) Σ_t o[t, c], in float64. */
  const logits = (outputs: Float32Array): Float64Array => {
    if (outputs.length !== T * classes) {
      throw new Error(`sfmnist: outputs have ${outputs.length} values, expected T × dOut = ${T} × ${classes}`);
    }
    const z = new Float64Array(classes);
    for (let t = 0; t < T; t++) {
      const row = t * classes;
      for (let c = 0; c < classes; c++) z[c] += outputs[row + c];
    }
    for (let c = 0; c < classes; c++) z[c] /= T;
    return z;
  };

  const labelOf = (ex: Example): number => {
    if (ex.label === undefined) throw new Error('sfmnist: example has no label');
    return ex.label;
  };

  /** log Σ_c e^{z_c / τ}, stably. */
  const logSumExp = (z: Float64Array, tau = 1): number => {
    let zMax = -Infinity;
    for (let c = 0; c < classes; c++) zMax = Math.max(zMax, z[c] / tau);
    let expSum = 0;
    for (let c = 0; c < classes; c++) expSum += Math.exp(z[c] / tau - zMax);
    return zMax + Math.log(expSum);
  };

  /** ∂loss/∂z spread over the steps: every step contributes z with weight 1/T. */
  const perStep = (dz: Float64Array): Float32Array => {
    const grad = new Float32Array(T * classes);
    for (let t = 0; t < T; t++) {
      const row = t * classes;
      for (let c = 0; c < classes; c++) grad[row + c] = dz[c] / T;
    }
    return grad;
  };

  const loss = (outputs: Float32Array, ex: Example): LossResult => {
    const y = labelOf(ex);
    const z = logits(outputs);
    const lse = logSumExp(z);
    // ∂loss/∂z_c = softmax_c − onehot_c.
    const dz = new Float64Array(classes);
    for (let c = 0; c < classes; c++) dz[c] = Math.exp(z[c] - lse) - (c === y ? 1 : 0);
    return { loss: lse - z[y], grad: perStep(dz) };
  };

  const distillLoss = (outputs: Float32Array, ex: Example, teacher: Float32Array, d: Distillation): LossResult => {
    const y = labelOf(ex);
    const z = logits(outputs);
    const t = logits(teacher);
    const { weight: a, temperature: tau } = d;
    const lse = logSumExp(z);
    const lseS = logSumExp(z, tau);
    const lseT = logSumExp(t, tau);
    let kl = 0;
    const dz = new Float64Array(classes);
    for (let c = 0; c < classes; c++) {
      const logQ = t[c] / tau - lseT;
      const logP = z[c] / tau - lseS;
      const q = Math.exp(logQ);
      kl += q * (logQ - logP);
      dz[c] = (1 - a) * (Math.exp(z[c] - lse) - (c === y ? 1 : 0)) + a * tau * (Math.exp(logP) - q);
    }
    return { loss: (1 - a) * (lse - z[y]) + a * tau * tau * kl, grad: perStep(dz) };
  };

  const metric = (outputs: Float32Array, ex: Example): number => {
    const z = logits(outputs);
    let best = 0; // ties go to the lowest class index
    for (let c = 1; c < classes; c++) if (z[c] > z[best]) best = c;
    return best === labelOf(ex) ? 1 : 0;
  };

  return {
    name: 'sfmnist',
    dIn: pixelsPerStep,
    dOut: classes,
    T,
    size: (split) => splits[split].size,
    example,
    loss,
    distillLoss,
    metric,
    metricName: 'accuracy (%)',
    reduceMetric: (values) => (values.length === 0 ? NaN : (values.reduce((a, b) => a + b, 0) / values.length) * 100),
    pixelMean: mean,
    pixelStd: std,
    pixelsPerStep,
    classNames: FASHION_MNIST_CLASS_NAMES,
  };
}
