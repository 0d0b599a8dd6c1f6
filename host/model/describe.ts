// ============================================================================
// What a model is made of: per-tensor shapes, nonzeros, sparsity and bytes, and
// the multiply-accumulates of one step. Used by `sparrow info` and the demo.
//
// MACs per step count every gate as running: with SMA the gate runs only on the
// steps its decision is on, so its MACs (gateMacsPerStep) are data-dependent
// and macsPerStep is the worst case — what a step's deadline must allow for.
// At a measured share r of layer-steps on, a step costs on average
// macsPerStep − (1 − r)·gateMacsPerStep (macsAtGateRate).
//
// Idle states (idleStates): a state whose B row is all zero never leaves 0 (the
// recurrence starts at 0 and nothing feeds it), and one whose C column is all
// zero is never read; the nonzeros of C reading the first kind and of B feeding
// the second compute nothing. Magnitude pruning leaves many of them (the slow
// states lose their inputs first: docs/compression.md), so `sparrow info` counts
// them.
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
  /** Over the prunable matrices only (B, C, encoder, decoder, gate; not SMA's decision rows). */
  matrixSparsity: number;
  firmwareWeightBytes: number;
  /** Every gate running (the worst case with SMA). */
  macsPerStep: number;
  /** The gates' share of macsPerStep: W_g's nonzeros and the product a ⊙ σ, H per layer (0 without gate). */
  gateMacsPerStep: number;
  /** SMA's decision rows (float: the two logit rows; quantized: the one row w₁ − w₀); 0 without SMA. */
  smaDecisionMacsPerStep: number;
}

export interface IdleLayer {
  layer: number;
  /** States with no nonzero in their B row (re or im), and with none in their C column. */
  noInput: number;
  noOutput: number;
  /** Complex B and C entries (a stored re or im part) that only touch states with no input or no output. */
  idleEntries: number;
  /** Their MACs: one per stored part, as macsPerStep counts them. */
  idleMacs: number;
}

/** Per entry of a matrix: 0 absent, 1 stored as zero, 2 stored nonzero (a dense matrix stores its nonzeros, as nnzOf counts). */
function entryCodes(m: { kind: 'dense' | 'csr'; rows: number; cols: number; values: ArrayLike<number>; indptr?: ArrayLike<number>; indices?: ArrayLike<number> }): Uint8Array {
  const code = new Uint8Array(m.rows * m.cols);
  if (m.kind === 'csr') {
    for (let r = 0; r < m.rows; r++) for (let k = m.indptr![r]; k < m.indptr![r + 1]; k++) code[r * m.cols + m.indices![k]] = m.values[k] !== 0 ? 2 : 1;
  } else for (let i = 0; i < code.length; i++) code[i] = m.values[i] !== 0 ? 2 : 0;
  return code;
}

/** Idle states of each layer of a float or quantized model. */
export function idleStatesOf(model: Model | QuantModel): IdleLayer[] {
  const { d_model: H, d_state: P } = model.config;
  return (model.layers as (Model['layers'][number] | QuantModel['layers'][number])[]).map((L, layer) => {
    // Entry i of B (row s, P × H) or C (column s, H × P) of state s, re and im parts.
    const B = [L.B_re, L.B_im].map(entryCodes);
    const C = [L.C_re, L.C_im].map(entryCodes);
    const bAt = (s: number, j: number) => s * H + j;
    const cAt = (s: number, k: number) => k * P + s;
    let noInput = 0;
    let noOutput = 0;
    let idleEntries = 0;
    let idleMacs = 0;
    for (let s = 0; s < P; s++) {
      let input = false;
      let output = false;
      for (let j = 0; j < H; j++) input ||= B[0][bAt(s, j)] === 2 || B[1][bAt(s, j)] === 2;
      for (let k = 0; k < H; k++) output ||= C[0][cAt(s, k)] === 2 || C[1][cAt(s, k)] === 2;
      if (!input) noInput++;
      if (!output) noOutput++;
      if (input && output) continue;
      for (const [parts, at] of [[B, bAt], [C, cAt]] as const) {
        for (let j = 0; j < H; j++) {
          const stored = (parts[0][at(s, j)] > 0 ? 1 : 0) + (parts[1][at(s, j)] > 0 ? 1 : 0);
          if (stored > 0) idleEntries++;
          idleMacs += stored;
        }
      }
    }
    return { layer, noInput, noOutput, idleEntries, idleMacs };
  });
}

/** Mean MACs per step when a share `gateRan` (0…1) of the layer-steps run their gate (SMA). */
export function macsAtGateRate(s: { macsPerStep: number; gateMacsPerStep: number }, gateRan: number): number {
  return s.macsPerStep - (1 - gateRan) * s.gateMacsPerStep;
}

export function describeModel(model: Model): ModelSummary {
  const { matrices, vectors } = tensorSlots(model.config);
  const tensors: TensorSummary[] = [];
  let matrixEntries = 0;
  let matrixNonzeros = 0;
  let prunableEntries = 0;
  let prunableNonzeros = 0;
  let gateNonzeros = 0;
  let smaNonzeros = 0;
  for (const slot of matrices) {
    const m = slot.get(model);
    const nnz = nnzOf(m);
    const size = m.rows * m.cols;
    matrixEntries += size;
    matrixNonzeros += nnz;
    const sma = slot.name.endsWith('.sma.weight');
    if (!sma) {
      prunableEntries += size;
      prunableNonzeros += nnz;
    }
    if (sma) smaNonzeros += nnz;
    if (slot.name.endsWith('.gate.weight')) gateNonzeros += nnz;
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
    matrixSparsity: prunableEntries === 0 ? 0 : 1 - prunableNonzeros / prunableEntries,
    firmwareWeightBytes: tensors.reduce((a, t) => a + t.firmwareBytes, 0),
    macsPerStep,
    gateMacsPerStep: gate ? gateNonzeros + n_layers * H : 0,
    smaDecisionMacsPerStep: smaNonzeros,
  };
}

/** Counts of a quantized model (same definitions as describeModel; SMA's decision is one row and one bias per layer). */
export function describeQuantModel(q: QuantModel): { parameters: number; nonzeros: number; macsPerStep: number; gateMacsPerStep: number; smaDecisionMacsPerStep: number } {
  const { d_in, d_model: H, d_state: P, d_out, n_layers, gate } = q.config;
  const sma = !!q.config.sma;
  const nnz = (m: QMatrix): number => (m.kind === 'csr' ? m.indptr![m.rows] : m.values.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0));
  const mats: QMatrix[] = [q.encoderWeight, q.decoderWeight];
  for (const L of q.layers) mats.push(L.B_re, L.B_im, L.C_re, L.C_im, ...(L.gateWeight ? [L.gateWeight] : []), ...(L.smaWeight ? [L.smaWeight] : []));
  const matrixEntries = H * d_in + d_out * H + n_layers * (4 * P * H + (gate ? H * H : 0) + (sma ? H : 0));
  const matrixNonzeros = mats.reduce((a, m) => a + nnz(m), 0);
  const vectorParams = H + d_out + n_layers * (3 * H + 2 * P + (gate ? H : 0) + (sma ? 1 : 0));
  const gateNonzeros = q.layers.reduce((a, L) => a + (L.gateWeight ? nnz(L.gateWeight) : 0), 0);
  return {
    parameters: matrixEntries + vectorParams,
    nonzeros: matrixNonzeros + vectorParams,
    macsPerStep: matrixNonzeros + n_layers * (2 * H + 4 * P + (gate ? H : 0)),
    gateMacsPerStep: gate ? gateNonzeros + n_layers * H : 0,
    smaDecisionMacsPerStep: q.layers.reduce((a, L) => a + (L.smaWeight ? nnz(L.smaWeight) : 0), 0),
  };
}
