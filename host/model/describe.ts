// ============================================================================
// What a model is made of: per-tensor shapes, nonzeros, sparsity and bytes, and
// the multiply-accumulates of one step. Used by `sparrow info` and the demo.
// ============================================================================

import { nnzOf, tensorSlots } from './model';
import { QMatrix, QuantModel } from './quant';
import { Model } from './types';

export interface TensorSummary {
  name: string;
  shape: number[];
  storage: 'dense' | 'csr';
  nonzeros: number;
  /** Fraction of zero entries of the dense shape. */
  sparsity: number;
  /** Bytes this tensor takes in the f32 firmware (values + CSR indptr u32 + indices u16). */
  firmwareBytes: number;
}

export interface ModelSummary {
  config: Model['config'];
  tensors: TensorSummary[];
  parameters: number;
  nonzeros: number;
  /** Over the prunable matrices only (B, C, encoder, decoder, gate). */
  matrixSparsity: number;
  firmwareWeightBytes: number;
  macsPerStep: number;
}

export function describeModel(model: Model): ModelSummary {
  const { matrices, vectors } = tensorSlots(model.config);
  const tensors: TensorSummary[] = [];
  let matrixEntries = 0;
  let matrixNonzeros = 0;
  for (const slot of matrices) {
    const m = slot.get(model);
    const nnz = nnzOf(m);
    const size = m.rows * m.cols;
    matrixEntries += size;
    matrixNonzeros += nnz;
    tensors.push({
      name: slot.name,
      shape: [m.rows, m.cols],
      storage: m.kind,
      nonzeros: nnz,
      sparsity: size === 0 ? 0 : 1 - nnz / size,
      firmwareBytes: m.kind === 'dense' ? size * 4 : nnz * 4 + (m.rows + 1) * 4 + nnz * 2,
    });
  }
  for (const slot of vectors) {
    const v = slot.get(model);
    let nnz = 0;
    for (let i = 0; i < v.length; i++) if (v[i] !== 0) nnz++;
    tensors.push({ name: slot.name, shape: [slot.len], storage: 'dense', nonzeros: nnz, sparsity: 1 - nnz / slot.len, firmwareBytes: slot.len * 4 });
  }
  const { d_model: H, d_state: P, n_layers, gate } = model.config;
  // Mat-vec MACs (one per stored nonzero) plus per layer: norm H, complex Λ ⊙ s 4P, D ⊙ v H, gate product H.
  const macsPerStep = matrixNonzeros + n_layers * (2 * H + 4 * P + (gate ? H : 0));
  const vectorParams = vectors.reduce((a, v) => a + v.len, 0);
  return {
    config: model.config,
    tensors,
    parameters: matrixEntries + vectorParams,
    nonzeros: matrixNonzeros + vectorParams,
    matrixSparsity: matrixEntries === 0 ? 0 : 1 - matrixNonzeros / matrixEntries,
    firmwareWeightBytes: tensors.reduce((a, t) => a + t.firmwareBytes, 0),
    macsPerStep,
  };
}

/** Counts of a quantized model (same definitions as describeModel). */
export function describeQuantModel(q: QuantModel): { parameters: number; nonzeros: number; macsPerStep: number } {
  const { d_in, d_model: H, d_state: P, d_out, n_layers, gate } = q.config;
  const nnz = (m: QMatrix): number => (m.kind === 'csr' ? m.indptr![m.rows] : m.values.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0));
  const mats: QMatrix[] = [q.encoderWeight, q.decoderWeight];
  for (const L of q.layers) mats.push(L.B_re, L.B_im, L.C_re, L.C_im, ...(L.gateWeight ? [L.gateWeight] : []));
  const matrixEntries = H * d_in + d_out * H + n_layers * (4 * P * H + (gate ? H * H : 0));
  const matrixNonzeros = mats.reduce((a, m) => a + nnz(m), 0);
  const vectorParams = H + d_out + n_layers * (3 * H + 2 * P + (gate ? H : 0));
  return {
    parameters: matrixEntries + vectorParams,
    nonzeros: matrixNonzeros + vectorParams,
    macsPerStep: matrixNonzeros + n_layers * (2 * H + 4 * P + (gate ? H : 0)),
  };
}
