// ============================================================================
// Scale-invariant signal-to-noise ratio, as the Intel N-DNS baseline and the
// SparseRNNs code of Pierro et al. (2025) compute it, and its exact gradient
// with respect to the estimate.
//
//   ŝ = s − mean(s),  ŷ = y − mean(y)               (s: clean target, y: estimate)
//   p = (⟨ŷ, ŝ⟩ / ‖ŝ‖²)·ŝ,  e = ŷ − p              (projection on the target, residual)
//   SI-SNR = 10·log10(‖p‖² / (‖e‖² + ε) + ε) dB,  ε = 1e-8
//
// With that ε a perfect estimate scores 10·log10(‖p‖²/ε): ≥ 100 dB once
// ‖p‖² ≥ 100 (e.g. 1000 samples of unit power), not +∞.
//
// Gradient (P = ‖p‖², E = ‖e‖², r = P/(E + ε), S = ‖ŝ‖², α = ⟨ŷ, ŝ⟩/S):
//   ∂P/∂ŷ = 2α·ŝ,   ∂E/∂ŷ = 2(e − ŝ·⟨e, ŝ⟩/S)
//   ∂SI/∂ŷ = (10/ln 10)/(r + ε) · (∂P/∂ŷ/(E + ε) − P·∂E/∂ŷ/(E + ε)²)
//   ∂SI/∂y = ∂SI/∂ŷ − mean(∂SI/∂ŷ)                 (centring is a symmetric projector)
// Cost: four passes over L float64 samples.
// ============================================================================

export const SI_SNR_EPS = 1e-8;

const DB_PER_NEPER = 10 / Math.LN10;

interface Projection {
  /** ⟨ŷ, ŝ⟩ / ‖ŝ‖². */
  alpha: number;
  targetEnergy: number;
  targetMean: number;
  estimateMean: number;
  /** ‖p‖². */
  projected: number;
  /** ‖e‖². */
  residual: number;
}

function mean(x: Float64Array): number {
  let sum = 0;
  for (let n = 0; n < x.length; n++) sum += x[n];
  return sum / x.length;
}

function project(estimate: Float64Array, target: Float64Array): Projection {
  if (estimate.length !== target.length) {
    throw new Error(`SI-SNR: estimate has ${estimate.length} samples, target ${target.length}`);
  }
  const targetMean = mean(target);
  const estimateMean = mean(estimate);
  let dot = 0;
  let targetEnergy = 0;
  for (let n = 0; n < target.length; n++) {
    const s = target[n] - targetMean;
    dot += (estimate[n] - estimateMean) * s;
    targetEnergy += s * s;
  }
  if (!(targetEnergy > 0)) throw new Error('SI-SNR: the target signal is constant (silent); SI-SNR is undefined');
  const alpha = dot / targetEnergy;
  let residual = 0;
  for (let n = 0; n < target.length; n++) {
    const e = estimate[n] - estimateMean - alpha * (target[n] - targetMean);
    residual += e * e;
  }
  return { alpha, targetEnergy, targetMean, estimateMean, projected: alpha * alpha * targetEnergy, residual };
}

function fromEnergies(projected: number, residual: number): number {
  return DB_PER_NEPER * Math.log(projected / (residual + SI_SNR_EPS) + SI_SNR_EPS);
}

/** SI-SNR of `estimate` against `target`, in dB. */
export function siSnrDb(estimate: Float64Array, target: Float64Array): number {
  const { projected, residual } = project(estimate, target);
  return fromEnergies(projected, residual);
}

/** SI-SNR in dB, and ∂SI-SNR/∂estimate written to `grad` (length L, dB per unit sample). */
export function siSnrDbWithGrad(estimate: Float64Array, target: Float64Array, grad: Float64Array): number {
  const { alpha, targetEnergy, targetMean, estimateMean, projected, residual } = project(estimate, target);
  const L = target.length;
  const residualEps = residual + SI_SNR_EPS;
  const ratio = projected / residualEps;
  const scale = DB_PER_NEPER / (ratio + SI_SNR_EPS);
  const dProjected = scale / residualEps; // × ∂P/∂ŷ
  const dResidual = -scale * projected / (residualEps * residualEps); // × ∂E/∂ŷ
  // ⟨e, ŝ⟩ is 0 up to rounding; keeping it makes the gradient that of the function as computed.
  let residualDotTarget = 0;
  for (let n = 0; n < L; n++) {
    const s = target[n] - targetMean;
    residualDotTarget += (estimate[n] - estimateMean - alpha * s) * s;
  }
  const back = residualDotTarget / targetEnergy;
  let gradMean = 0;
  for (let n = 0; n < L; n++) {
    const s = target[n] - targetMean;
    const e = estimate[n] - estimateMean - alpha * s;
    const g = dProjected * 2 * alpha * s + dResidual * 2 * (e - s * back);
    grad[n] = g;
    gradMean += g;
  }
  gradMean /= L;
  for (let n = 0; n < L; n++) grad[n] -= gradMean;
  return fromEnergies(projected, residual);
}
