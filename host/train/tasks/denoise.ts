// ============================================================================
// denoise: streaming speech-like denoising in the style of the Intel N-DNS
// challenge, on synthetic audio (host/train/data/synth_audio.ts) so it needs
// no download and example i of a split is a pure function of (seed, split, i).
//
//   example  clean c (speech-like, RMS −35…−15 dBFS) + noise (white, pink,
//            brown or babble) at an SNR drawn uniformly in snrDb → noisy x.
//   inputs   log(1 + |X_t[k]|), X = STFT(x) (periodic Hann, unnormalised;
//            host/train/tasks/stft.ts); T = frames, dIn = dOut = nFft/2 + 1 bins
//   output   a mask m_t[k] per bin and frame; cleaned spectrum
//            Y = X·(1 + m) (magnitude |X|·(1 + m), the noisy phase), y = iSTFT(Y)
//   loss     λ·mean_{t,k}(|X|·(1 + m) − |C|)² + (100 − SI-SNR(y, c)),  λ = 0.001,
//            |C| = |STFT(c)|: the loss of the SparseRNNs code of Pierro et al.
//            (2025) and the N-DNS baseline (MSE on magnitudes, not waveforms)
//   gradient exact, by hand: SI-SNR → y (si_snr.ts), y → (Re Y, Im Y) by the
//            adjoint of the iSTFT, (Re Y, Im Y) → m: ∂/∂m = Re X·∂/∂Re Y + Im X·∂/∂Im Y
//   metric   SI-SNRi = SI-SNR(y, c) − SI-SNR(x, c) in dB (a zero mask scores 0)
//
// Defaults: 16 kHz, 1 s, nFft 256 (129 bins, 16 ms window), hop 128 (8 ms),
// so T = 126 frames. The example of 257 bins is a 512-point FFT
// (32 ms); 256 points halve what a microcontroller pays per frame — the FFT
// and inverse FFT (256 vs 512 points), the input and output projections
// (129 vs 257 columns) and the sample buffers — and halve the window latency,
// at the price of 2× the frames per second and coarser frequency resolution
// (62.5 Hz vs 31.25 Hz bins, still below the 100–300 Hz pitch harmonics spacing).
//
// Cost at the defaults: ≈ 1–3 ms to generate an example (babble is the
// dearest), ≈ 1 ms for its loss and gradient (one inverse FFT and one FFT per
// frame); buffers are reused across calls.
// ============================================================================

import { makeRng } from '../../util/rng';
import { SparrowError } from '../../util/errors';
import { cleanSignal, meanSquare, mixAtSnr, NOISE_TYPES, NoiseType, noiseSignal } from '../data/synth_audio';
import { Example, LossResult, Split, Task } from '../task';
import { siSnrDb, siSnrDbWithGrad } from './si_snr';
import { makeStft, Stft, stftAnalyze, stftSynthesize, stftSynthesizeAdjoint } from './stft';

export type { NoiseType } from '../data/synth_audio';

/** λ: weight of the magnitude MSE next to the SI-SNR term (Pierro et al.'s value). */
export const MAGNITUDE_MSE_WEIGHT = 0.001;
/** Clean signal RMS range in dBFS (the N-DNS synthesiser's target levels). */
export const CLEAN_LEVEL_DBFS: readonly [number, number] = [-35, -15];

export interface DenoiseOptions {
  /** Base seed of both splits (default 1). */
  seed?: number;
  /** Samples per second (default 16000). */
  sampleRate?: number;
  /** Length of an example in seconds (default 1.0). */
  seconds?: number;
  /** FFT points, a power of two (default 256 → 129 bins; see the banner for why not 512). */
  nFft?: number;
  /** Samples between frames (default nFft/2). */
  hop?: number;
  /** Examples in the train split (default 2000). */
  trainSize?: number;
  /** Examples in the test split (default 200). */
  testSize?: number;
  /** Noise colours to draw from, uniformly (default all four). */
  noises?: NoiseType[];
  /** SNR range in dB, drawn uniformly per example (default [−5, 20]). */
  snrDb?: [number, number];
}

/** Everything the loss and metric need about one example (float64). */
export interface DenoiseExtra {
  clean: Float64Array;
  noisy: Float64Array;
  /** STFT of the noisy signal, [T, K]. */
  noisyRe: Float64Array;
  noisyIm: Float64Array;
  noisyMag: Float64Array;
  /** |STFT| of the clean signal, [T, K]. */
  cleanMag: Float64Array;
  noise: NoiseType;
  /** The drawn SNR of the mixture in dB. */
  snrDb: number;
  /** SI-SNR(noisy, clean) in dB: the metric's baseline. */
  noisySiSnrDb: number;
}

export interface DenoiseTask extends Task {
  sampleRate: number;
  samples: number;
  nFft: number;
  hop: number;
  stft: Stft;
  noises: readonly NoiseType[];
  snrRangeDb: readonly [number, number];
  /** The example's extra, type-checked. */
  extraOf(ex: Example): DenoiseExtra;
}

/** Scratch for scoring masks; one per task. */
export interface MaskWorkspace {
  stft: Stft;
  re: Float64Array;
  im: Float64Array;
  cleaned: Float64Array;
  gradSignal: Float64Array;
  gradRe: Float64Array;
  gradIm: Float64Array;
}

export function makeMaskWorkspace(stft: Stft): MaskWorkspace {
  const cells = stft.frames * stft.bins;
  return {
    stft,
    re: new Float64Array(cells),
    im: new Float64Array(cells),
    cleaned: new Float64Array(stft.samples),
    gradSignal: new Float64Array(stft.samples),
    gradRe: new Float64Array(cells),
    gradIm: new Float64Array(cells),
  };
}

function checkMask(ws: MaskWorkspace, mask: ArrayLike<number>): void {
  const expected = ws.stft.frames * ws.stft.bins;
  if (mask.length !== expected) {
    throw new Error(`denoise: outputs have ${mask.length} values, expected T × dOut = ${ws.stft.frames} × ${ws.stft.bins}`);
  }
}

/** y = iSTFT(X·(1 + mask)) into ws.cleaned (and returned). */
export function applyMask(ws: MaskWorkspace, extra: DenoiseExtra, mask: ArrayLike<number>): Float64Array {
  checkMask(ws, mask);
  const { re, im } = ws;
  for (let i = 0; i < re.length; i++) {
    const gain = 1 + mask[i];
    re[i] = extra.noisyRe[i] * gain;
    im[i] = extra.noisyIm[i] * gain;
  }
  stftSynthesize(ws.stft, re, im, ws.cleaned);
  return ws.cleaned;
}

/**
 * The denoise loss of a mask, in float64; with `grad`, also ∂loss/∂mask ([T, K]).
 * loss = λ·mean((|X|·(1 + m) − |C|)²) + 100 − SI-SNR(iSTFT(X·(1 + m)), c).
 */
export function maskLoss(ws: MaskWorkspace, extra: DenoiseExtra, mask: ArrayLike<number>, grad?: Float64Array | Float32Array): number {
  const cleaned = applyMask(ws, extra, mask);
  const { noisyMag, cleanMag, noisyRe, noisyIm } = extra;
  const cells = noisyMag.length;
  let squaredError = 0;
  for (let i = 0; i < cells; i++) {
    const error = noisyMag[i] * (1 + mask[i]) - cleanMag[i];
    squaredError += error * error;
  }
  const mse = squaredError / cells;
  if (!grad) return MAGNITUDE_MSE_WEIGHT * mse + 100 - siSnrDb(cleaned, extra.clean);

  const { gradSignal, gradRe, gradIm } = ws;
  const siSnr = siSnrDbWithGrad(cleaned, extra.clean, gradSignal);
  for (let n = 0; n < gradSignal.length; n++) gradSignal[n] = -gradSignal[n]; // loss has −SI-SNR
  stftSynthesizeAdjoint(ws.stft, gradSignal, gradRe, gradIm);
  const mseScale = (2 * MAGNITUDE_MSE_WEIGHT) / cells;
  for (let i = 0; i < cells; i++) {
    const error = noisyMag[i] * (1 + mask[i]) - cleanMag[i];
    grad[i] = gradRe[i] * noisyRe[i] + gradIm[i] * noisyIm[i] + mseScale * error * noisyMag[i];
  }
  return MAGNITUDE_MSE_WEIGHT * mse + 100 - siSnr;
}

/** SI-SNR improvement of a mask in dB. */
export function maskSiSnrImprovementDb(ws: MaskWorkspace, extra: DenoiseExtra, mask: ArrayLike<number>): number {
  return siSnrDb(applyMask(ws, extra, mask), extra.clean) - extra.noisySiSnrDb;
}

/** 32-bit finaliser of MurmurHash3: decorrelates neighbouring seeds and indices. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The Rng seed of example i of a split: a hash of (seed, split, i). */
export function exampleSeed(seed: number, split: Split, i: number): number {
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  h = mix32(h ^ (split === 'train' ? 0x74726e31 : 0x74737432));
  return mix32(h ^ Math.imul(i + 1, 0x27d4eb2f));
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new SparrowError(`denoise: ${name} must be a positive whole number, got ${value}`);
  return value;
}

export function denoiseTask(opts: DenoiseOptions = {}): DenoiseTask {
  const seed = opts.seed ?? 1;
  if (!Number.isInteger(seed)) throw new SparrowError(`denoise: seed must be a whole number, got ${seed}`);
  const sampleRate = positiveInteger('sampleRate (Hz)', opts.sampleRate ?? 16000);
  const seconds = opts.seconds ?? 1.0;
  if (!(seconds > 0) || !Number.isFinite(seconds)) throw new SparrowError(`denoise: seconds must be > 0 s, got ${seconds}`);
  const samples = Math.round(sampleRate * seconds);
  const nFft = opts.nFft ?? 256;
  const hop = opts.hop ?? nFft / 2;
  if (samples < nFft) {
    throw new SparrowError(`denoise: ${seconds} s at ${sampleRate} Hz is ${samples} samples, shorter than one ${nFft}-point frame`);
  }
  const sizes: Record<Split, number> = {
    train: positiveInteger('trainSize', opts.trainSize ?? 2000),
    test: positiveInteger('testSize', opts.testSize ?? 200),
  };
  const noises = opts.noises ?? [...NOISE_TYPES];
  if (noises.length === 0) throw new SparrowError('denoise: noises is empty; give at least one of white, pink, brown, babble');
  for (const noise of noises) {
    if (!NOISE_TYPES.includes(noise)) {
      throw new SparrowError(`denoise: unknown noise type "${noise as string}"; expected one of white, pink, brown, babble`);
    }
  }
  const [snrLo, snrHi] = opts.snrDb ?? [-5, 20];
  if (!Number.isFinite(snrLo) || !Number.isFinite(snrHi) || snrLo > snrHi) {
    throw new SparrowError(`denoise: snrDb must be [low, high] dB with low ≤ high, got [${snrLo}, ${snrHi}]`);
  }

  const stft = makeStft(nFft, hop, samples);
  const { frames: T, bins: K } = stft;
  const ws = makeMaskWorkspace(stft);
  const cleanRe = new Float64Array(T * K);
  const cleanIm = new Float64Array(T * K);

  const example = (split: Split, i: number): Example => {
    if (!Number.isInteger(i) || i < 0 || i >= sizes[split]) {
      throw new RangeError(`denoise: example ${i} is outside the ${split} split of ${sizes[split]} examples`);
    }
    const rng = makeRng(exampleSeed(seed, split, i));
    const noise = noises[rng.int(noises.length)];
    const snrDb = snrLo + (snrHi - snrLo) * rng.uniform();
    const levelDbfs = CLEAN_LEVEL_DBFS[0] + (CLEAN_LEVEL_DBFS[1] - CLEAN_LEVEL_DBFS[0]) * rng.uniform();

    const clean = new Float64Array(samples);
    cleanSignal(rng, sampleRate, clean);
    const scale = 10 ** (levelDbfs / 20) / Math.sqrt(meanSquare(clean));
    for (let n = 0; n < samples; n++) clean[n] *= scale;
    const noisy = new Float64Array(samples);
    noiseSignal(noise, rng, sampleRate, noisy);
    mixAtSnr(clean, noisy, snrDb, noisy); // in place: noisy[n] = clean[n] + g·noise[n]

    const noisyRe = new Float64Array(T * K);
    const noisyIm = new Float64Array(T * K);
    const noisyMag = new Float64Array(T * K);
    const cleanMag = new Float64Array(T * K);
    const inputs = new Float32Array(T * K);
    stftAnalyze(stft, noisy, noisyRe, noisyIm);
    stftAnalyze(stft, clean, cleanRe, cleanIm);
    for (let c = 0; c < T * K; c++) {
      noisyMag[c] = Math.hypot(noisyRe[c], noisyIm[c]);
      cleanMag[c] = Math.hypot(cleanRe[c], cleanIm[c]);
      inputs[c] = Math.log1p(noisyMag[c]);
    }
    const extra: DenoiseExtra = {
      clean, noisy, noisyRe, noisyIm, noisyMag, cleanMag, noise, snrDb,
      noisySiSnrDb: siSnrDb(noisy, clean),
    };
    return { inputs, T, extra };
  };

  const extraOf = (ex: Example): DenoiseExtra => {
    const extra = ex.extra as DenoiseExtra | undefined;
    if (!extra || !(extra.clean instanceof Float64Array) || extra.noisyRe.length !== T * K) {
      throw new Error('denoise: example was not made by this denoise task');
    }
    return extra;
  };

  const loss = (outputs: Float32Array, ex: Example): LossResult => {
    const grad = new Float32Array(T * K);
    const value = maskLoss(ws, extraOf(ex), outputs, grad);
    return { loss: value, grad };
  };

  return {
    name: 'denoise',
    dIn: K,
    dOut: K,
    T,
    size: (split) => sizes[split],
    example,
    loss,
    metric: (outputs, ex) => maskSiSnrImprovementDb(ws, extraOf(ex), outputs),
    metricName: 'SI-SNRi (dB)',
    reduceMetric: (values) => (values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length),
    sampleRate,
    samples,
    nFft,
    hop,
    stft,
    noises,
    snrRangeDb: [snrLo, snrHi],
    extraOf,
  };
}
