// ============================================================================
// sparrow model types: the in-memory form of a model file.
//
// One S5-style block per layer (see docs/model-format.md for the math):
//   v   = scale ⊙ u + shift                      (BatchNorm folded)
//   s_t = Λ ⊙ s_{t-1} + B v                      (complex, diagonal Λ)
//   y   = Re(C s_t) + D ⊙ v
//   a   = act(y);  z = gate ? a ⊙ σ(W_g a + b_g) : a;  u ← u + z
//   sma (Sparse Modular Activation, needs gate): two logits l = W_s y + b_s
//        per step decide whether the gate runs: z = l₁ > l₀ ? a ⊙ σ(…) : a
// Encoder before the layers, decoder after them.
// ============================================================================

/** Hyper-parameters of a model; stored as the JSON string `config` in the safetensors metadata. */
export interface ModelConfig {
  /** Input features per time step. */
  d_in: number;
  /** Model width H (residual stream). */
  d_model: number;
  /** Complex states per layer P. */
  d_state: number;
  /** Output features per time step. */
  d_out: number;
  n_layers: number;
  /** `gelu` is the tanh approximation (JAX's default), `relu` is max(0, x). */
  act: 'gelu' | 'relu';
  encoder_act: 'none' | 'relu';
  gate: boolean;
  /**
   * Sparse Modular Activation (SeqBoat-style, streaming): each step, each block decides from
   * its SSM output y whether its gate sub-module runs (docs/adaptation.md). Needs gate. Absent
   * = false (files from before it).
   */
  sma?: boolean;
}

/** Row-major dense matrix of shape [rows, cols]. */
export interface DenseMatrix {
  kind: 'dense';
  rows: number;
  cols: number;
  values: Float32Array;
}

/**
 * Compressed sparse rows. `indptr` has rows+1 entries starting at 0 and ending at nnz;
 * the column indices of each row are strictly increasing.
 */
export interface CsrMatrix {
  kind: 'csr';
  rows: number;
  cols: number;
  indptr: Int32Array;
  indices: Int32Array;
  values: Float32Array;
}

export type Matrix = DenseMatrix | CsrMatrix;

export interface LayerWeights {
  normScale: Float32Array; // [H]
  normShift: Float32Array; // [H]
  lambdaRe: Float32Array; // [P]
  lambdaIm: Float32Array; // [P]
  B_re: Matrix; // [P, H]
  B_im: Matrix; // [P, H]
  C_re: Matrix; // [H, P]
  C_im: Matrix; // [H, P]
  D: Float32Array; // [H]
  /** Present only when config.gate. */
  gateWeight?: Matrix; // [H, H]
  gateBias?: Float32Array; // [H]
  /** Present only when config.sma: the two activation logits l = W_s y + b_s (index 1 = run). */
  smaWeight?: Matrix; // [2, H]
  smaBias?: Float32Array; // [2]
}

export interface Model {
  config: ModelConfig;
  encoderWeight: Matrix; // [H, d_in]
  encoderBias: Float32Array; // [H]
  layers: LayerWeights[];
  decoderWeight: Matrix; // [d_out, H]
  decoderBias: Float32Array; // [d_out]
  /** Free-form string metadata carried through read/write (provenance, pruning, ...). */
  metadata: Record<string, string>;
}
