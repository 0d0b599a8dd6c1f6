// ============================================================================
// Short-time Fourier transform of a fixed-length signal, its inverse, and the
// adjoint of the inverse (what the denoise loss backpropagates through).
//
//   window    periodic Hann w[j] = 0.5 − 0.5·cos(2πj/N), N = nFft
//   frames    frame t covers samples s_t … s_t + N − 1, s_t = t·hop − (N − hop);
//             the signal is zero outside [0, L). T = ⌊(L − 1 + N − hop)/hop⌋ + 1,
//             so every sample lies in as many frames as any other.
//   analysis  X_t[k] = Σ_j w[j]·x[s_t + j]·e^{−2πijk/N},  k = 0 … N/2 (unnormalised,
//             like torch.stft: a sinusoid of amplitude a peaks near a·N/4)
//   synthesis y[n] = (1/D[n]) Σ_t w[n − s_t]·Re IDFT(X_t)[n − s_t],
//             D[n] = Σ_t w[n − s_t]²  (window-sum normalisation; the IDFT uses
//             the Hermitian extension of bins 0 … N/2, imaginary parts of bins 0
//             and N/2 drop out). synthesis(analysis(x)) = x exactly.
//   adjoint   synthesis is linear in (Re X, Im X); for a gradient g = ∂L/∂y,
//             ∂L/∂Re X_t[k] = (c_k/N)·Re G_t[k], ∂L/∂Im X_t[k] = (c_k/N)·Im G_t[k],
//             G_t = DFT of w[j]·(g/D)[s_t + j], c_k = 1 for k = 0, N/2 and 2 otherwise:
//             an analysis with the synthesis window applied to g/D.
//
// Cost per frame: one real FFT (analysis, adjoint) or one complex inverse FFT
// of N points (synthesis) from fft.js; the FFT object, window, 1/D and frame
// buffers are built once per shape. Everything is float64: the loss gradient
// is checked to 1e-4 against finite differences.
// ============================================================================

import FFT from 'fft.js';
import { SparrowError } from '../../util/errors';

export interface Stft {
  nFft: number;
  hop: number;
  /** Signal length L in samples. */
  samples: number;
  /** Frames T. */
  frames: number;
  /** Bins K = nFft/2 + 1. */
  bins: number;
  /** Samples of zero padding before the first sample (frame 0 starts at −pad). */
  pad: number;
  /** Periodic Hann window, length nFft. */
  window: Float64Array;
  /** 1 / D[n], D[n] = Σ_t w[n − s_t]², length L. */
  invWindowSum: Float64Array;
  fft: FFT;
  /** Scratch: one windowed frame (N), a full complex spectrum (2N), an FFT output (2N). */
  frame: Float64Array;
  spectrum: Float64Array;
  transformed: Float64Array;
}

/** Periodic Hann window (the DFT-even one: w[0] = 0, w[N/2] = 1). */
export function periodicHann(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let j = 0; j < n; j++) w[j] = 0.5 - 0.5 * Math.cos((2 * Math.PI * j) / n);
  return w;
}

export function makeStft(nFft: number, hop: number, samples: number): Stft {
  if (!Number.isInteger(nFft) || nFft < 8 || (nFft & (nFft - 1)) !== 0) {
    throw new SparrowError(`STFT: nFft must be a power of two ≥ 8, got ${nFft}`);
  }
  if (!Number.isInteger(hop) || hop < 1 || hop > nFft) {
    throw new SparrowError(`STFT: hop must be a whole number of samples in 1..nFft = 1..${nFft}, got ${hop}`);
  }
  if (!Number.isInteger(samples) || samples < 1) {
    throw new SparrowError(`STFT: signal length must be a positive whole number of samples, got ${samples}`);
  }
  const pad = nFft - hop;
  const frames = Math.floor((samples - 1 + pad) / hop) + 1;
  const window = periodicHann(nFft);
  const windowSum = new Float64Array(samples);
  for (let t = 0; t < frames; t++) {
    const start = t * hop - pad;
    for (let j = Math.max(0, -start); j < nFft && start + j < samples; j++) windowSum[start + j] += window[j] * window[j];
  }
  const invWindowSum = new Float64Array(samples);
  for (let n = 0; n < samples; n++) {
    if (!(windowSum[n] > 1e-6)) {
      throw new SparrowError(`STFT: hop ${hop} with a ${nFft}-point Hann window leaves sample ${n} uncovered; use hop ≤ nFft/2`);
    }
    invWindowSum[n] = 1 / windowSum[n];
  }
  return {
    nFft,
    hop,
    samples,
    frames,
    bins: nFft / 2 + 1,
    pad,
    window,
    invWindowSum,
    fft: new FFT(nFft),
    frame: new Float64Array(nFft),
    spectrum: new Float64Array(2 * nFft),
    transformed: new Float64Array(2 * nFft),
  };
}

/** Windowed frame t of `signal` (zero outside [0, L)) × `scale` into stft.frame. */
function loadFrame(stft: Stft, signal: Float64Array, t: number, scale?: Float64Array): void {
  const { nFft, window, frame, samples } = stft;
  const start = t * stft.hop - stft.pad;
  for (let j = 0; j < nFft; j++) {
    const n = start + j;
    frame[j] = n >= 0 && n < samples ? window[j] * signal[n] * (scale ? scale[n] : 1) : 0;
  }
}

/** X = STFT(signal): re, im are [T, K] row-major. */
export function stftAnalyze(stft: Stft, signal: Float64Array, re: Float64Array, im: Float64Array): void {
  const { frames, bins, fft, frame, transformed } = stft;
  for (let t = 0; t < frames; t++) {
    loadFrame(stft, signal, t);
    fft.realTransform(transformed, frame);
    const row = t * bins;
    for (let k = 0; k < bins; k++) {
      re[row + k] = transformed[2 * k];
      im[row + k] = transformed[2 * k + 1];
    }
  }
}

/** signal = iSTFT(re, im) by windowed overlap-add with window-sum normalisation. */
export function stftSynthesize(stft: Stft, re: Float64Array, im: Float64Array, signal: Float64Array): void {
  const { nFft, frames, bins, fft, window, spectrum, transformed, samples, invWindowSum } = stft;
  const half = nFft / 2;
  signal.fill(0);
  for (let t = 0; t < frames; t++) {
    const row = t * bins;
    // Hermitian extension; Im of bins 0 and N/2 cannot reach the real part.
    spectrum[0] = re[row];
    spectrum[1] = 0;
    spectrum[2 * half] = re[row + half];
    spectrum[2 * half + 1] = 0;
    for (let k = 1; k < half; k++) {
      spectrum[2 * k] = re[row + k];
      spectrum[2 * k + 1] = im[row + k];
      spectrum[2 * (nFft - k)] = re[row + k];
      spectrum[2 * (nFft - k) + 1] = -im[row + k];
    }
    fft.inverseTransform(transformed, spectrum);
    const start = t * stft.hop - stft.pad;
    for (let j = Math.max(0, -start); j < nFft && start + j < samples; j++) {
      signal[start + j] += window[j] * transformed[2 * j];
    }
  }
  for (let n = 0; n < samples; n++) signal[n] *= invWindowSum[n];
}

/**
 * Adjoint of stftSynthesize: given g = ∂L/∂signal, write ∂L/∂re and ∂L/∂im ([T, K]).
 * ⟨synthesize(re, im), g⟩ = ⟨re, gradRe⟩ + ⟨im, gradIm⟩ for all re, im.
 */
export function stftSynthesizeAdjoint(stft: Stft, gradSignal: Float64Array, gradRe: Float64Array, gradIm: Float64Array): void {
  const { nFft, frames, bins, fft, frame, transformed, invWindowSum } = stft;
  const half = nFft / 2;
  for (let t = 0; t < frames; t++) {
    loadFrame(stft, gradSignal, t, invWindowSum);
    fft.realTransform(transformed, frame);
    const row = t * bins;
    gradRe[row] = transformed[0] / nFft;
    gradIm[row] = 0;
    gradRe[row + half] = transformed[2 * half] / nFft;
    gradIm[row + half] = 0;
    for (let k = 1; k < half; k++) {
      gradRe[row + k] = (2 / nFft) * transformed[2 * k];
      gradIm[row + k] = (2 / nFft) * transformed[2 * k + 1];
    }
  }
}
