// ============================================================================
// Unstructured magnitude pruning of the prunable matrices: encoder, B, C, gate
// and decoder weights. Λ, D, the norm and every bias stay dense, as in the
// public SparseRNNs code of the edge linear-RNN paper (Pierro et al., 2025).
//
// A complex weight is one connection: B_re/B_im (and C_re/C_im) are pruned
// together with one mask by the complex magnitude √(re² + im²), so both parts
// keep the same pattern and a kept weight keeps its phase.
//
// Distributions of the overall sparsity S over the (complex) matrices:
//   uniform  every matrix gets S
//   global   one magnitude threshold over all matrices
//   erk      Erdős–Rényi-Kernel (Evci et al., 2020, "Rigging the Lottery"):
//            density_l = ε·(rows_l + cols_l)/(rows_l·cols_l), one ε for all l so the
//            kept entries total (1 − S)·Σ entries; a matrix whose density would pass 1
//            stays dense and ε is solved again over the rest.
// ============================================================================

import { LayerWeights, Matrix, Model } from '../model/types';
import { SparrowError } from '../util/errors';

export type PruneDistribution = 'uniform' | 'global' | 'erk';
export const MAX_SPARSITY = 0.99;

export interface PruneOptions {
  sparsity: number;
  distribution: PruneDistribution;
}

export interface PrunedMatrix {
  name: string;
  shape: [number, number];
  entries: number;
  kept: number;
  sparsity: number;
}

export interface PruneReport {
  target: number;
  distribution: PruneDistribution;
  matrices: PrunedMatrix[];
  /** Over all prunable matrices (a complex matrix counts its entries once). */
  achieved: number;
}

/** One prunable unit: a real matrix, or the re/im pair of a complex one. */
interface Unit {
  name: string;
  parts: Matrix[];
  rows: number;
  cols: number;
  /** Magnitude of each entry (complex magnitude for pairs), row-major. */
  magnitude: Float64Array;
  set: (pruned: Matrix[]) => void;
}

function denseValues(m: Matrix): Float32Array {
  if (m.kind === 'dense') return m.values;
  const v = new Float32Array(m.rows * m.cols);
  for (let r = 0; r < m.rows; r++) for (let k = m.indptr[r]; k < m.indptr[r + 1]; k++) v[r * m.cols + m.indices[k]] = m.values[k];
  return v;
}

function unit(name: string, parts: Matrix[], set: (pruned: Matrix[]) => void): Unit {
  const { rows, cols } = parts[0];
  const dense = parts.map(denseValues);
  const magnitude = new Float64Array(rows * cols);
  for (let i = 0; i < magnitude.length; i++) magnitude[i] = Math.sqrt(dense.reduce((a, d) => a + d[i] * d[i], 0));
  return { name, parts, rows, cols, magnitude, set };
}

function units(model: Model): Unit[] {
  const out: Unit[] = [unit('encoder.weight', [model.encoderWeight], ([m]) => (model.encoderWeight = m))];
  model.layers.forEach((L: LayerWeights, i) => {
    const p = `layers.${i}.`;
    out.push(unit(p + 'ssm.B', [L.B_re, L.B_im], ([re, im]) => ((L.B_re = re), (L.B_im = im))));
    out.push(unit(p + 'ssm.C', [L.C_re, L.C_im], ([re, im]) => ((L.C_re = re), (L.C_im = im))));
    if (L.gateWeight) out.push(unit(p + 'gate.weight', [L.gateWeight], ([m]) => (L.gateWeight = m)));
  });
  out.push(unit('decoder.weight', [model.decoderWeight], ([m]) => (model.decoderWeight = m)));
  return out;
}

/** Per-unit number of entries to keep. */
function keepCounts(us: Unit[], opts: PruneOptions): number[] {
  const sizes = us.map((u) => u.rows * u.cols);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (opts.distribution === 'uniform') return sizes.map((n) => Math.round((1 - opts.sparsity) * n));
  if (opts.distribution === 'erk') {
    const budget = (1 - opts.sparsity) * total;
    const dense = new Set<number>();
    for (;;) {
      const free = budget - [...dense].reduce((a, i) => a + sizes[i], 0);
      const raw = us.map((u, i) => (dense.has(i) ? 0 : (u.rows + u.cols) / (u.rows * u.cols)));
      const eps = free / raw.reduce((a, r, i) => a + r * sizes[i], 0);
      const over = us.findIndex((_, i) => !dense.has(i) && eps * raw[i] > 1);
      if (over < 0) return sizes.map((n, i) => (dense.has(i) ? n : Math.round(eps * raw[i] * n)));
      dense.add(over);
    }
  }
  // global: one threshold — rank every entry of every unit by magnitude.
  const keep = Math.round((1 - opts.sparsity) * total);
  const all: { u: number; i: number; m: number }[] = [];
  us.forEach((u, ui) => u.magnitude.forEach((m, i) => all.push({ u: ui, i, m })));
  all.sort((a, b) => b.m - a.m || a.u - b.u || a.i - b.i);
  const counts = us.map(() => 0);
  for (let k = 0; k < keep; k++) counts[all[k].u]++;
  return counts;
}

/** Keep the `keep` largest magnitudes of a unit (ties: lower row-major index first); zeros never count as kept. */
function pruneUnit(u: Unit, keep: number): { parts: Matrix[]; kept: number } {
  const order = Array.from(u.magnitude.keys()).sort((a, b) => u.magnitude[b] - u.magnitude[a] || a - b);
  const mask = new Uint8Array(u.magnitude.length);
  let kept = 0;
  for (let k = 0; k < keep && k < order.length; k++) {
    if (u.magnitude[order[k]] === 0) break;
    mask[order[k]] = 1;
    kept++;
  }
  if (kept === u.magnitude.length) return { parts: u.parts.map((m) => ({ kind: 'dense', rows: m.rows, cols: m.cols, values: denseValues(m) })), kept };
  return { parts: sharedPattern(u.parts, mask, u.rows, u.cols), kept };
}

/** CSR of each part on the mask's positions: re and im share one pattern (a stored 0 is allowed). */
function sharedPattern(parts: Matrix[], mask: Uint8Array, rows: number, cols: number): Matrix[] {
  return parts.map((m) => {
    const v = denseValues(m);
    const indptr = new Int32Array(rows + 1);
    const indices: number[] = [];
    const values: number[] = [];
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        if (mask[r * cols + c]) {
          indices.push(c);
          values.push(v[r * cols + c]);
        }
      }
      indptr[r + 1] = indices.length;
    }
    return { kind: 'csr', rows, cols, indptr, indices: Int32Array.from(indices), values: Float32Array.from(values) };
  });
}

/** Prune a copy of `model`; the input is not modified. */
export function pruneModel(input: Model, opts: PruneOptions): { model: Model; report: PruneReport } {
  if (!(opts.sparsity >= 0 && opts.sparsity <= MAX_SPARSITY)) throw new SparrowError(`--sparsity must be in [0, ${MAX_SPARSITY}], got ${opts.sparsity}`);
  const model: Model = { ...input, layers: input.layers.map((L) => ({ ...L })), metadata: { ...input.metadata } };
  const us = units(model);
  const counts = keepCounts(us, opts);
  const matrices: PrunedMatrix[] = [];
  let entries = 0;
  let keptTotal = 0;
  us.forEach((u, i) => {
    const { parts, kept } = pruneUnit(u, counts[i]);
    u.set(parts);
    const n = u.rows * u.cols;
    matrices.push({ name: u.name, shape: [u.rows, u.cols], entries: n, kept, sparsity: 1 - kept / n });
    entries += n;
    keptTotal += kept;
  });
  model.metadata.pruning = JSON.stringify({ sparsity: opts.sparsity, distribution: opts.distribution });
  return { model, report: { target: opts.sparsity, distribution: opts.distribution, matrices, achieved: 1 - keptTotal / entries } };
}
