// ============================================================================
// Random stable models, reproducible from a seed: the test fixtures of every
// executor and the example model of the demo. Not trained — the weights are
// scaled so activations stay O(1) through the layers, like an initialized net.
// ============================================================================

import { makeRng, Rng } from '../util/rng';
import { toCsr } from './model';
import { LayerWeights, Matrix, Model, ModelConfig } from './types';

export interface RandomModelOptions extends ModelConfig {
  /** Fraction of zero weights in B, C, encoder, decoder and gate matrices, in [0, 1). */
  sparsity: number;
  seed: number;
  /** Smallest and largest |Λ| of the random eigenvalues (defaults 0.5 and 0.99). */
  minRadius?: number;
  maxRadius?: number;
}

/**
 * A rows×cols matrix with exactly round((1−sparsity)·rows·cols) nonzeros at
 * uniformly random positions, entries N(0, 1)·gain/sqrt(nonzeros per row).
 * Stored CSR when sparsity > 0, dense otherwise.
 */
export function randomMatrix(rng: Rng, rows: number, cols: number, sparsity: number, gain: number): Matrix {
  const total = rows * cols;
  const nnz = Math.max(sparsity > 0 ? 0 : total, Math.round((1 - sparsity) * total));
  const values = new Float32Array(total);
  // Partial Fisher–Yates: the first nnz positions of a random permutation.
  const positions = new Int32Array(total);
  for (let i = 0; i < total; i++) positions[i] = i;
  for (let i = 0; i < nnz; i++) {
    const j = i + rng.int(total - i);
    const t = positions[i];
    positions[i] = positions[j];
    positions[j] = t;
  }
  const scale = gain / Math.sqrt(Math.max(1, nnz / rows));
  for (let i = 0; i < nnz; i++) {
    let w = 0;
    while (w === 0) w = Math.fround(rng.normal() * scale); // an explicit zero would change nnz
    values[positions[i]] = w;
  }
  const dense: Matrix = { kind: 'dense', rows, cols, values };
  return sparsity > 0 ? toCsr(dense) : dense;
}

function randomVector(rng: Rng, n: number, mean: number, std: number): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = mean + std * rng.normal();
  return v;
}

export function randomModel(opts: RandomModelOptions): Model {
  const { d_in, d_model: H, d_state: P, d_out, n_layers, sparsity } = opts;
  if (!(sparsity >= 0 && sparsity < 1)) throw new RangeError(`sparsity must be in [0, 1), got ${sparsity}`);
  const rng = makeRng(opts.seed);
  const rMin = opts.minRadius ?? 0.5;
  const rMax = opts.maxRadius ?? 0.99;
  const config: ModelConfig = {
    d_in, d_model: H, d_state: P, d_out, n_layers,
    act: opts.act, encoder_act: opts.encoder_act, gate: opts.gate,
    ...(opts.sma ? { sma: true } : {}),
  };
  if (opts.sma && !opts.gate) throw new RangeError('sma needs gate');

  const layers: LayerWeights[] = [];
  for (let i = 0; i < n_layers; i++) {
    const lambdaRe = new Float32Array(P);
    const lambdaIm = new Float32Array(P);
    let meanGain = 0;
    for (let p = 0; p < P; p++) {
      const r = rMin + (rMax - rMin) * rng.uniform();
      const theta = Math.PI * rng.uniform();
      lambdaRe[p] = r * Math.cos(theta);
      lambdaIm[p] = r * Math.sin(theta);
      meanGain += Math.sqrt(1 - r * r) / P;
    }
    // √(1 − |Λ|²) keeps the stationary state variance ≈ the input variance.
    const layer: LayerWeights = {
      normScale: randomVector(rng, H, 1, 0.1),
      normShift: randomVector(rng, H, 0, 0.1),
      lambdaRe,
      lambdaIm,
      B_re: randomMatrix(rng, P, H, sparsity, meanGain),
      B_im: randomMatrix(rng, P, H, sparsity, meanGain),
      C_re: randomMatrix(rng, H, P, sparsity, 0.7),
      C_im: randomMatrix(rng, H, P, sparsity, 0.7),
      D: randomVector(rng, H, 0, 0.5),
    };
    if (opts.gate) {
      layer.gateWeight = randomMatrix(rng, H, H, sparsity, 1);
      layer.gateBias = randomVector(rng, H, 0, 0.1);
    }
    if (opts.sma) {
      // Drawn last, so a seed gives the same other weights with or without SMA.
      layer.smaWeight = randomMatrix(rng, 2, H, 0, 1);
      layer.smaBias = randomVector(rng, 2, 0, 0.1);
    }
    layers.push(layer);
  }
  return {
    config,
    encoderWeight: randomMatrix(rng, H, d_in, sparsity, 1),
    encoderBias: randomVector(rng, H, 0, 0.1),
    layers,
    decoderWeight: randomMatrix(rng, d_out, H, sparsity, 1),
    decoderBias: randomVector(rng, d_out, 0, 0.1),
    metadata: { source: 'random', seed: String(opts.seed), sparsity: String(sparsity) },
  };
}
