// ============================================================================
// Convolution mode (the S4 evaluation mode): a float model run over a whole
// sequence at once, each layer's SSM applied as a causal convolution by FFT
// instead of step by step. The definition is still host/reference/float.ts;
// runConv equals runFloat up to float64 rounding (tests/train/conv.test.ts).
//
// Why it is exact. Each layer's SSM is linear and time-invariant. From s_{-1} = 0,
//   s_t = Λ ⊙ s_{t-1} + B v_t   ⇒   s_t[p] = Σ_{k=0..t} λ_p^k z_p[t−k],   z_p = (B v)[p]
//   y_t = Re(C s_t) + D ⊙ v_t   = Σ_k K_k v_{t−k} + D ⊙ v_t,   K_k = Re(C diag(Λ^k) B)
// Materialising K (H×H×T) is wasteful; instead each complex state sequence z_p
// (length T) is convolved with its own geometric kernel λ_p^k (k < T):
//   s_p = IFFT( FFT(z_p) · FFT(λ_p^k) )   over N = nextpow2(2T−1) points,
// zero-padded so the circular convolution does not wrap into t < T. The
// nonlinearities (activation, gate, residual) act between layers on the whole
// sequence, so a model is: encoder, per layer [normalise, ssmConvolve, act,
// gate, residual], decoder — each a whole-sequence operation.
//
// SMA (config.sma) fits because its decision is pointwise in time: step t's
// decision reads only y_t. With y known for the whole sequence, the two logits
// are one more mat-mul (l = W_s y + b_s, [2, T]); the gate then runs on the
// steps with l₁ > l₀ only — their columns of a gathered into [H, T_on], so the
// gate's mat-mul costs 2·nnz(W_g)·T_on instead of ·T — and the others add a.
//
// The kernel's spectrum is computed in closed form (geometricKernelSpectrum), not
// by an FFT: with ω = e^{−2πi/N} (fft.js's forward sign),
//   K̂_j = Σ_{k<T} (λ ω^j)^k = (1 − λ^T ω^{jT}) / (1 − λ ω^j),
// O(N) per state instead of an O(N log N) transform, and no λ^k table. Where
// q = λ ω^j is within |q − 1|·T < 1e-3 of 1 (only possible for |λ| ≈ 1 with
// arg λ on a bin) the quotient cancels badly (relative error ≈ ε/|δ|, δ = q − 1,
// so ≤ 2e-13·T past the switch), and the sum is taken from its series
// Σ_m δ^m·C(T, m+1), m ≤ 3, instead (truncation ≤ (|δ|T)⁴/120 ≈ 1e-14).
//
// Layout: inside this file sequences are channel-major [channels, T] — one
// contiguous time series per channel or state — so every mat-mul is a run of
// axpys over t and every FFT reads a contiguous row. runConv takes and returns
// row-major [T, features] like runFloat.
//
// Cost per layer and sequence (flops; a real MAC = 2, a complex MAC = 8;
// nnz = nonzeros of B_re + B_im + C_re + C_im, 4PH when dense):
//   both modes   B and C mat-muls   2·nnz·T      (+ gate 2H²·T, elementwise O(H·T);
//                                                  SMA: + 4H·T logits, gate 2H²·T_on)
//   recurrent    state update       8·P·T        (one complex MAC per state and step)
//   conv         per state: 2 complex FFTs of N points (≈ 5·N·log2 N each) + N
//                complex products + the closed-form spectrum (N complex divides):
//                ≈ P·(10·N·log2 N + 20·N),  N ∈ [2T−1, 4T−3]
// At T = 784 (N = 2048): the recurrence costs 8·T ≈ 6.3 kflop per state, the
// convolution ≈ 266 kflop — ~40× more. Against the mat-muls (dense, H = 64)
// the recurrence adds 8PT / 8PHT = 1/H ≈ 2 % and the convolution ≈ 60 %.
// So for a *diagonal* Λ conv mode never wins on work: the recurrence is O(P·T),
// the convolution O(P·T log T). It wins on depth — its critical path is
// O(log T) FFT stages instead of a T-long chain of dependent updates — i.e. on
// parallel hardware (GPU, batched SIMD over time), which is why S4 (whose
// discretised A is not diagonal, so a step costs more than P) evaluates this
// way and why S5 uses a parallel scan (same O(P·T) work as the recurrence,
// O(log T) depth) rather than FFTs. On one JS thread, measured figures
// (docs/training.md, "Convolution mode") are against runFloat, whose per-step allocations and
// dispatch cost more than the arithmetic; a batched scan with the same
// loop structure as this file is faster than conv mode.
// ============================================================================

import FFT from 'fft.js';
import { toDense } from '../model/model';
import { gelu, relu, sigmoid } from '../reference/float';
import { LayerWeights, Matrix, Model } from '../model/types';

// ---------------------------------------------------------------------------
// FFT plans: one fft.js object, twiddles and scratch per power-of-two size
// ---------------------------------------------------------------------------

export interface FftPlan {
  /** Number of points N (a power of two ≥ 2, fft.js's requirement). */
  size: number;
  fft: FFT;
  /** ω^j = e^{−2πij/N}, j < N: fft.js's forward-transform sign. */
  omegaRe: Float64Array;
  omegaIm: Float64Array;
  /** Interleaved complex scratch, 2N each (fft.js needs distinct in and out buffers). */
  timeBuffer: Float64Array;
  spectrumBuffer: Float64Array;
}

const plans = new Map<number, FftPlan>();

/** Points of the FFT that convolves two length-T sequences without wrap-around: nextpow2(2T − 1), at least 2. */
export function convolutionSize(T: number): number {
  let N = 2;
  while (N < 2 * T - 1) N *= 2;
  return N;
}

/** The cached plan for `size` points (built once: the fft.js tables cost O(N) trig calls). */
export function fftPlan(size: number): FftPlan {
  let plan = plans.get(size);
  if (plan === undefined) {
    const omegaRe = new Float64Array(size);
    const omegaIm = new Float64Array(size);
    for (let j = 0; j < size; j++) {
      omegaRe[j] = Math.cos((2 * Math.PI * j) / size);
      omegaIm[j] = -Math.sin((2 * Math.PI * j) / size);
    }
    plan = {
      size,
      fft: new FFT(size),
      omegaRe,
      omegaIm,
      timeBuffer: new Float64Array(2 * size),
      spectrumBuffer: new Float64Array(2 * size),
    };
    plans.set(size, plan);
  }
  return plan;
}

// ---------------------------------------------------------------------------
// The geometric kernel λ^k, k < T, in the frequency domain
// ---------------------------------------------------------------------------

/** Below this |q − 1|·T the closed form cancels; the series is used instead (its error ≤ (|δ|T)⁴/120 ≈ 1e-14 relative). */
const SERIES_THRESHOLD = 1e-3;
const SERIES_THRESHOLD_SQUARED = SERIES_THRESHOLD * SERIES_THRESHOLD;

/**
 * K̂_j = Σ_{k<T} λ^k ω^{jk} for j < N (the N-point DFT of λ^k zero-padded past T), interleaved
 * re/im into `out` (length 2N), from the closed form (1 − λ^T ω^{jT}) / (1 − λ ω^j). O(N).
 */
export function geometricKernelSpectrum(lambdaRe: number, lambdaIm: number, T: number, plan: FftPlan, out: Float64Array): void {
  const { size: N, omegaRe, omegaIm } = plan;
  // λ^T in polar form: one rounding of T·arg λ instead of T accumulated products.
  const radiusT = Math.pow(Math.hypot(lambdaRe, lambdaIm), T);
  const angleT = T * Math.atan2(lambdaIm, lambdaRe);
  const powRe = radiusT * Math.cos(angleT);
  const powIm = radiusT * Math.sin(angleT);
  const c1 = (T * (T - 1)) / 2;
  const c2 = (T * (T - 1) * (T - 2)) / 6;
  const c3 = (T * (T - 1) * (T - 2) * (T - 3)) / 24;
  const T2 = T * T;
  const stepT = T % N;
  // wT = j·T mod N, stepped by addition: ω^{jT} is an exact table entry, and no float modulo per bin.
  for (let j = 0, wT = 0; j < N; j++, wT = wT + stepT >= N ? wT + stepT - N : wT + stepT) {
    const qRe = lambdaRe * omegaRe[j] - lambdaIm * omegaIm[j];
    const qIm = lambdaRe * omegaIm[j] + lambdaIm * omegaRe[j];
    const dRe = qRe - 1;
    const dIm = qIm;
    if ((dRe * dRe + dIm * dIm) * T2 < SERIES_THRESHOLD_SQUARED) { // |δ|·T < threshold, without Math.hypot (slow in V8)
      // Σ_{k<T} (1+δ)^k = T + δ·C(T,2) + δ²·C(T,3) + δ³·C(T,4) + …
      const d2Re = dRe * dRe - dIm * dIm;
      const d2Im = 2 * dRe * dIm;
      const d3Re = d2Re * dRe - d2Im * dIm;
      const d3Im = d2Re * dIm + d2Im * dRe;
      out[2 * j] = T + c1 * dRe + c2 * d2Re + c3 * d3Re;
      out[2 * j + 1] = c1 * dIm + c2 * d2Im + c3 * d3Im;
      continue;
    }
    const numRe = 1 - (powRe * omegaRe[wT] - powIm * omegaIm[wT]);
    const numIm = -(powRe * omegaIm[wT] + powIm * omegaRe[wT]);
    // num / (1 − q) = −num · conj(δ) / |δ|²
    const scale = -1 / (dRe * dRe + dIm * dIm);
    out[2 * j] = (numRe * dRe + numIm * dIm) * scale;
    out[2 * j + 1] = (numIm * dRe - numRe * dIm) * scale;
  }
}

// ---------------------------------------------------------------------------
// Whole-sequence mat-mul on channel-major sequences
// ---------------------------------------------------------------------------

/**
 * out[r, ·] += sign · Σ_c W[r, c] · x[c, ·] for channel-major x [cols, T] and out [rows, T]:
 * 2·nnz·T flops as axpys of length T. Four nonzeros of a row share one pass over out[r, ·]
 * (one load and store of out per four MACs instead of per MAC). Zeros of a dense W cost
 * their MACs in the blocks of four and are skipped in the remainder; CSR has none.
 */
export function matmulSequence(W: Matrix, x: Float64Array, T: number, out: Float64Array, sign: 1 | -1): void {
  const dense = W.kind === 'dense';
  for (let r = 0; r < W.rows; r++) {
    const outRow = r * T;
    let start = dense ? r * W.cols : W.indptr[r];
    const end = dense ? start + W.cols : W.indptr[r + 1];
    const column = (k: number): number => (dense ? k - r * W.cols : W.indices[k]) * T;
    for (; start + 4 <= end; start += 4) {
      const w0 = sign * W.values[start], w1 = sign * W.values[start + 1];
      const w2 = sign * W.values[start + 2], w3 = sign * W.values[start + 3];
      const x0 = column(start), x1 = column(start + 1), x2 = column(start + 2), x3 = column(start + 3);
      for (let t = 0; t < T; t++) out[outRow + t] += w0 * x[x0 + t] + w1 * x[x1 + t] + w2 * x[x2 + t] + w3 * x[x3 + t];
    }
    for (let k = start; k < end; k++) {
      const w = sign * W.values[k];
      if (w === 0) continue;
      const inRow = column(k);
      for (let t = 0; t < T; t++) out[outRow + t] += w * x[inRow + t];
    }
  }
}

/** [rows, cols] row-major → [cols, rows] row-major. */
function transpose(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c];
  return out;
}

// ---------------------------------------------------------------------------
// One layer's SSM: y = Re(C (λ^k * B v)) + D ⊙ v
// ---------------------------------------------------------------------------

/**
 * The linear part of one layer over a whole sequence from the zero state: v is the
 * normalised input, channel-major [H, T]; returns y channel-major [H, T]. Cost: the B and
 * C mat-muls (2·nnz·T flops) + 2 complex FFTs of N = nextpow2(2T−1) points per state.
 */
export function ssmConvolve(layer: LayerWeights, v: Float64Array, T: number): Float64Array {
  const H = layer.D.length;
  const P = layer.lambdaRe.length;
  if (v.length !== H * T) throw new RangeError(`ssmConvolve: v has ${v.length} values, expected H·T = ${H}·${T}`);

  // z = B v, one complex sequence per state; overwritten in place by s = λ^k * z.
  const sRe = new Float64Array(P * T);
  const sIm = new Float64Array(P * T);
  matmulSequence(layer.B_re, v, T, sRe, 1);
  matmulSequence(layer.B_im, v, T, sIm, 1);

  const plan = fftPlan(convolutionSize(T));
  const { fft, timeBuffer, spectrumBuffer } = plan;
  const kernel = new Float64Array(2 * plan.size);
  for (let p = 0; p < P; p++) {
    const row = p * T;
    timeBuffer.fill(0);
    for (let t = 0; t < T; t++) {
      timeBuffer[2 * t] = sRe[row + t];
      timeBuffer[2 * t + 1] = sIm[row + t];
    }
    fft.transform(spectrumBuffer, timeBuffer);
    geometricKernelSpectrum(layer.lambdaRe[p], layer.lambdaIm[p], T, plan, kernel);
    for (let j = 0; j < 2 * plan.size; j += 2) {
      const zRe = spectrumBuffer[j];
      const zIm = spectrumBuffer[j + 1];
      spectrumBuffer[j] = zRe * kernel[j] - zIm * kernel[j + 1];
      spectrumBuffer[j + 1] = zRe * kernel[j + 1] + zIm * kernel[j];
    }
    fft.inverseTransform(timeBuffer, spectrumBuffer); // divides by N
    for (let t = 0; t < T; t++) {
      sRe[row + t] = timeBuffer[2 * t];
      sIm[row + t] = timeBuffer[2 * t + 1];
    }
  }

  // y = C_re s_re − C_im s_im + D ⊙ v
  const y = new Float64Array(H * T);
  matmulSequence(layer.C_re, sRe, T, y, 1);
  matmulSequence(layer.C_im, sIm, T, y, -1);
  for (let h = 0; h < H; h++) {
    const d = layer.D[h];
    for (let t = h * T; t < (h + 1) * T; t++) y[t] += d * v[t];
  }
  return y;
}

/**
 * The layer's convolution kernel materialised: K_k = Re(C diag(Λ^k) B) for k < T, as
 * [T, H, H] row-major (K[k, h_out, h_in]); D is not included. O(T·H²·P) time and
 * T·H² memory — for tests and inspection, not for running a model.
 */
export function layerKernel(layer: LayerWeights, T: number): Float64Array {
  const H = layer.D.length;
  const P = layer.lambdaRe.length;
  const [Bre, Bim, Cre, Cim] = [layer.B_re, layer.B_im, layer.C_re, layer.C_im].map((m) => toDense(m).values);
  const K = new Float64Array(T * H * H);
  for (let p = 0; p < P; p++) {
    let powRe = 1;
    let powIm = 0;
    for (let k = 0; k < T; k++) {
      for (let ho = 0; ho < H; ho++) {
        // c·λ^k, then Re((c λ^k)·b) over the inputs
        const cRe = Cre[ho * P + p] * powRe - Cim[ho * P + p] * powIm;
        const cIm = Cre[ho * P + p] * powIm + Cim[ho * P + p] * powRe;
        const base = (k * H + ho) * H;
        for (let hi = 0; hi < H; hi++) K[base + hi] += cRe * Bre[p * H + hi] - cIm * Bim[p * H + hi];
      }
      const nextRe = powRe * layer.lambdaRe[p] - powIm * layer.lambdaIm[p];
      powIm = powRe * layer.lambdaIm[p] + powIm * layer.lambdaRe[p];
      powRe = nextRe;
    }
  }
  return K;
}

// ---------------------------------------------------------------------------
// SMA: the decision per step and the gate on the steps it runs
// ---------------------------------------------------------------------------

/**
 * SMA's decision for every step of a layer from its y, channel-major [H, T]: 1 where the gate
 * runs (l₁ > l₀, l = W_s y + b_s; a tie skips it, as stepFloat). Cost 2·nnz(W_s)·T flops.
 */
export function smaDecisions(layer: LayerWeights, y: Float64Array, T: number): Uint8Array {
  const logits = new Float64Array(2 * T);
  matmulSequence(layer.smaWeight!, y, T, logits, 1);
  const [b0, b1] = layer.smaBias!;
  return Uint8Array.from({ length: T }, (_, t) => (logits[T + t] + b1 > logits[t] + b0 ? 1 : 0));
}

/**
 * u += a ⊙ σ(W_g a + b_g) on the steps where `runs` is 1 (every step without it), u += a on
 * the others; a and u channel-major [H, T]. The gate's mat-mul sees only the running steps'
 * columns, gathered: 2·nnz(W_g)·T_on flops.
 */
function addGated(layer: LayerWeights, a: Float64Array, u: Float64Array, H: number, T: number, runs?: Uint8Array): void {
  const steps = runs ? Int32Array.from(Array.from(runs.keys()).filter((t) => runs[t] === 1)) : undefined;
  const Ton = steps ? steps.length : T;
  let aOn = a;
  if (steps) {
    aOn = new Float64Array(H * Ton);
    for (let h = 0; h < H; h++) for (let j = 0; j < Ton; j++) aOn[h * Ton + j] = a[h * T + steps[j]];
  }
  const g = new Float64Array(H * Ton);
  if (Ton > 0) matmulSequence(layer.gateWeight!, aOn, Ton, g, 1);
  for (let h = 0; h < H; h++) {
    const b = layer.gateBias![h];
    if (runs) for (let t = h * T; t < (h + 1) * T; t++) if (!runs[t - h * T]) u[t] += a[t];
    for (let j = 0; j < Ton; j++) {
      const t = h * T + (steps ? steps[j] : j);
      u[t] += a[t] * sigmoid(g[h * Ton + j] + b);
    }
  }
}

// ---------------------------------------------------------------------------
// The whole model
// ---------------------------------------------------------------------------

/**
 * Run a float model over a whole [T, d_in] row-major sequence from the zero state in
 * convolution mode; returns [T, d_out] row-major, equal to runFloat up to float64 rounding.
 */
export function runConv(model: Model, inputs: ArrayLike<number>, T: number): Float64Array {
  const { d_in, d_model: H, d_out } = model.config;
  if (!(Number.isInteger(T) && T >= 1)) throw new RangeError(`runConv: T must be a positive integer, got ${T}`);
  if (inputs.length < T * d_in) throw new RangeError(`runConv: ${inputs.length} inputs, expected T·d_in = ${T}·${d_in}`);
  const act = model.config.act === 'gelu' ? gelu : relu;

  // u = encoder_act(W_enc x + b_enc), channel-major [H, T]
  const x = transpose(inputs, T, d_in);
  const u = new Float64Array(H * T);
  matmulSequence(model.encoderWeight, x, T, u, 1);
  for (let h = 0; h < H; h++) {
    for (let t = h * T; t < (h + 1) * T; t++) {
      u[t] += model.encoderBias[h];
      if (model.config.encoder_act === 'relu') u[t] = relu(u[t]);
    }
  }

  const v = new Float64Array(H * T);
  for (const L of model.layers) {
    for (let h = 0; h < H; h++) {
      for (let t = h * T; t < (h + 1) * T; t++) v[t] = L.normScale[h] * u[t] + L.normShift[h];
    }
    const a = ssmConvolve(L, v, T); // y, then act(y) in place
    const runs = model.config.sma ? smaDecisions(L, a, T) : undefined; // from y, before the activation
    for (let i = 0; i < a.length; i++) a[i] = act(a[i]);
    if (model.config.gate) {
      addGated(L, a, u, H, T, runs);
    } else {
      for (let i = 0; i < u.length; i++) u[i] += a[i];
    }
  }

  const o = new Float64Array(d_out * T);
  matmulSequence(model.decoderWeight, u, T, o, 1);
  for (let j = 0; j < d_out; j++) for (let t = j * T; t < (j + 1) * T; t++) o[t] += model.decoderBias[j];
  return transpose(o, d_out, T);
}
