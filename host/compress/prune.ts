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
//   erk-ssm  ERK's budgets for the encoder, gates and decoder; the B and C matrices of
//            every layer pool theirs and share one threshold, so the budget goes to
//            the layers and sides whose entries score highest. Meant for the balanced
//            saliency, whose B and C scores are on one scale (a state's two sides
//            have equal norms); plain magnitudes of B̄ and C are not comparable.
//
// Saliency, what ranks the entries within the budget of each matrix:
//   magnitude  |w| of the exported weights (B̄ after the zero-order hold).
//   balanced   (the default since 2026-12-03) B and C judged through the state between them. A diagonal SSM may
//              rescale any state (B̄ row × a, C column ÷ a) without changing what it
//              computes, and B̄ = (Λ̄ − 1)/Λ · B shrinks with the step Δ: plain
//              magnitude therefore ranks a slow state's inputs (small Δ, |Λ̄| near 1,
//              long memory) far below a fast state's and prunes them first — in the
//              90%-sparse sFMNIST model 37 and 41 of 64 states ended with no input at
//              all, the slowest ones, while 153 and 175 of C's 338 kept entries still
//              read them (models/README.md). Balanced scores state i by its H2 gain
//              g = 1/√(1 − |Λ̄|²) (the RMS of the state under unit white input) and
//              puts it in the balanced scale s = √(‖C_:,i‖ / (g‖B̄_i,:‖)): B̄ entries
//              score s·g·|B̄_ij|, C entries |C_ki|/s. Both are unchanged by rescaling
//              the state or by Δ, and a path u_j → x_i → y_k scores the product, its
//              H2 gain. Then orphans are released: a state left with no kept input
//              (or no kept output) computes nothing, so its entries on the other side
//              go last and the budget moves to live states. With `global`, these
//              scores compete with the other matrices' plain magnitudes.
// ============================================================================

import { LayerWeights, Matrix, Model } from '../model/types';
import { SparrowError } from '../util/errors';

export const DISTRIBUTIONS = ['uniform', 'global', 'erk', 'erk-ssm'] as const;
export type PruneDistribution = (typeof DISTRIBUTIONS)[number];
export const SALIENCIES = ['magnitude', 'balanced'] as const;
export type PruneSaliency = (typeof SALIENCIES)[number];
/** The saliency when none is given (since 2026-12-03; it kept more accuracy than 'magnitude' in every case measured, docs/compression.md). */
export const DEFAULT_SALIENCY: PruneSaliency = 'balanced';
export const MAX_SPARSITY = 0.99;

export interface PruneOptions {
  sparsity: number;
  distribution: PruneDistribution;
  /** Default DEFAULT_SALIENCY. */
  saliency?: PruneSaliency;
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
  /** Score of each entry (complex magnitude for pairs, then the saliency's weighting), row-major. */
  magnitude: Float64Array;
  set: (pruned: Matrix[]) => void;
  /** B and C of an SSM layer: which side of the states they are. */
  ssm?: { layer: number; side: 'B' | 'C' };
}

function denseValues(m: Matrix): Float32Array {
  if (m.kind === 'dense') return m.values;
  const v = new Float32Array(m.rows * m.cols);
  for (let r = 0; r < m.rows; r++) for (let k = m.indptr[r]; k < m.indptr[r + 1]; k++) v[r * m.cols + m.indices[k]] = m.values[k];
  return v;
}

function unit(name: string, parts: Matrix[], set: (pruned: Matrix[]) => void, ssm?: Unit['ssm']): Unit {
  const { rows, cols } = parts[0];
  const dense = parts.map(denseValues);
  const magnitude = new Float64Array(rows * cols);
  for (let i = 0; i < magnitude.length; i++) magnitude[i] = Math.sqrt(dense.reduce((a, d) => a + d[i] * d[i], 0));
  return { name, parts, rows, cols, magnitude, set, ...(ssm ? { ssm } : {}) };
}

function units(model: Model): Unit[] {
  const out: Unit[] = [unit('encoder.weight', [model.encoderWeight], ([m]) => (model.encoderWeight = m))];
  model.layers.forEach((L: LayerWeights, i) => {
    const p = `layers.${i}.`;
    out.push(unit(p + 'ssm.B', [L.B_re, L.B_im], ([re, im]) => ((L.B_re = re), (L.B_im = im)), { layer: i, side: 'B' }));
    out.push(unit(p + 'ssm.C', [L.C_re, L.C_im], ([re, im]) => ((L.C_re = re), (L.C_im = im)), { layer: i, side: 'C' }));
    if (L.gateWeight) out.push(unit(p + 'gate.weight', [L.gateWeight], ([m]) => (L.gateWeight = m)));
  });
  out.push(unit('decoder.weight', [model.decoderWeight], ([m]) => (model.decoderWeight = m)));
  return out;
}

/** An orphan's entries rank after every live entry but stay nonzero, so they are kept only if the budget exceeds the live entries. */
const ORPHAN = 1e-100;

/** B (P × H) and C (H × P) units of each layer. */
function ssmPairs(us: Unit[]): { B: Unit; C: Unit; layer: number }[] {
  const pairs: { B: Unit; C: Unit; layer: number }[] = [];
  for (const B of us) {
    if (B.ssm?.side !== 'B') continue;
    const C = us.find((u) => u.ssm?.side === 'C' && u.ssm.layer === B.ssm!.layer)!;
    pairs.push({ B, C, layer: B.ssm.layer });
  }
  return pairs;
}

/** Balanced saliency (header): rescale B's rows and C's columns state by state; a state with no input or no output scores ORPHAN on both sides. */
function balanceScores(model: Model, us: Unit[]): void {
  for (const { B, C, layer } of ssmPairs(us)) {
    const L = model.layers[layer];
    const P = B.rows;
    const H = B.cols;
    for (let i = 0; i < P; i++) {
      const r2 = L.lambdaRe[i] * L.lambdaRe[i] + L.lambdaIm[i] * L.lambdaIm[i];
      const g = 1 / Math.sqrt(Math.max(1e-12, 1 - r2));
      let b = 0;
      for (let j = 0; j < H; j++) b += B.magnitude[i * H + j] ** 2;
      let c = 0;
      for (let k = 0; k < C.rows; k++) c += C.magnitude[k * P + i] ** 2;
      b = g * Math.sqrt(b);
      c = Math.sqrt(c);
      const s = b > 0 && c > 0 ? Math.sqrt(c / b) : 0;
      for (let j = 0; j < H; j++) B.magnitude[i * H + j] *= s > 0 ? s * g : ORPHAN;
      for (let k = 0; k < C.rows; k++) C.magnitude[k * P + i] *= s > 0 ? 1 / s : ORPHAN;
    }
  }
}

/** States of a layer with at least one kept entry on both sides, from the kept masks of B and C. */
function liveStates(B: Unit, maskB: Uint8Array, maskC: Uint8Array, cRows: number): Uint8Array {
  const P = B.rows;
  const H = B.cols;
  const live = new Uint8Array(P);
  for (let i = 0; i < P; i++) {
    let input = false;
    let output = false;
    for (let j = 0; j < H && !input; j++) input = maskB[i * H + j] === 1;
    for (let k = 0; k < cRows && !output; k++) output = maskC[k * P + i] === 1;
    live[i] = input && output ? 1 : 0;
  }
  return live;
}

/** Per-unit number of entries to keep. */
function keepCounts(us: Unit[], opts: PruneOptions): number[] {
  const sizes = us.map((u) => u.rows * u.cols);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (opts.distribution === 'uniform') return sizes.map((n) => Math.round((1 - opts.sparsity) * n));
  if (opts.distribution === 'erk-ssm') {
    // ERK's counts, then the SSM units' total re-split by one threshold over their scores.
    const base = keepCounts(us, { ...opts, distribution: 'erk' });
    const ssm = us.map((u, i) => (u.ssm ? i : -1)).filter((i) => i >= 0);
    const pooled = thresholdCounts(us, ssm, ssm.reduce((a, i) => a + base[i], 0));
    return base.map((n, i) => (ssm.includes(i) ? pooled[i] : n));
  }
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
  return thresholdCounts(us, us.map((_, i) => i), Math.round((1 - opts.sparsity) * total));
}

/** Per-unit counts when the `keep` highest scores of the units `among` are kept under one threshold (others get 0). */
function thresholdCounts(us: Unit[], among: number[], keep: number): number[] {
  const all: { u: number; i: number; m: number }[] = [];
  for (const ui of among) us[ui].magnitude.forEach((m, i) => all.push({ u: ui, i, m }));
  all.sort((a, b) => b.m - a.m || a.u - b.u || a.i - b.i);
  const counts = us.map(() => 0);
  for (let k = 0; k < keep; k++) counts[all[k].u]++;
  return counts;
}

/** Mask of the `keep` largest scores of a unit (ties: lower row-major index first); zeros never count as kept. */
function keepMask(u: Unit, keep: number): { mask: Uint8Array; kept: number } {
  const order = Array.from(u.magnitude.keys()).sort((a, b) => u.magnitude[b] - u.magnitude[a] || a - b);
  const mask = new Uint8Array(u.magnitude.length);
  let kept = 0;
  for (let k = 0; k < keep && k < order.length; k++) {
    if (u.magnitude[order[k]] === 0) break;
    mask[order[k]] = 1;
    kept++;
  }
  return { mask, kept };
}

function maskedParts(u: Unit, mask: Uint8Array, kept: number): Matrix[] {
  if (kept === u.magnitude.length) return u.parts.map((m) => ({ kind: 'dense', rows: m.rows, cols: m.cols, values: denseValues(m) }));
  return sharedPattern(u.parts, mask, u.rows, u.cols);
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

/**
 * The score the pruner ranks each entry of each prunable matrix by (row-major, by unit name:
 * 'encoder.weight', 'layers.i.ssm.B', …), on the model's current weights: the complex magnitude,
 * balanced through the states' gains with 'balanced'. Regrowth drops the lowest (trainer.ts).
 */
export function saliencyScores(model: Model, saliency: PruneSaliency = DEFAULT_SALIENCY): Map<string, Float64Array> {
  const us = units(model); // (only read: no unit's `set` is called)
  if (saliency === 'balanced') balanceScores(model, us);
  return new Map(us.map((u) => [u.name, u.magnitude]));
}

/** Prune a copy of `model`; the input is not modified. */
export function pruneModel(input: Model, opts: PruneOptions): { model: Model; report: PruneReport } {
  if (!(opts.sparsity >= 0 && opts.sparsity <= MAX_SPARSITY)) throw new SparrowError(`--sparsity must be in [0, ${MAX_SPARSITY}], got ${opts.sparsity}`);
  const model: Model = { ...input, layers: input.layers.map((L) => ({ ...L })), metadata: { ...input.metadata } };
  const us = units(model);
  const saliency = opts.saliency ?? DEFAULT_SALIENCY;
  const balanced = saliency === 'balanced';
  if (balanced) balanceScores(model, us);
  const counts = keepCounts(us, opts);
  const masks = us.map((u, i) => keepMask(u, counts[i]));
  if (balanced) {
    // Release orphans: the entries of a state the first pass left with no input or no output
    // go last, and each of B and C is ranked again with its own budget. Demoting only moves
    // budget onto live states, so no live state loses its last entry.
    for (const { B, C } of ssmPairs(us)) {
      const [b, c] = [us.indexOf(B), us.indexOf(C)];
      const live = liveStates(B, masks[b].mask, masks[c].mask, C.rows);
      if (live.every((x) => x === 1)) continue;
      for (let i = 0; i < B.rows; i++) {
        if (live[i]) continue;
        for (let j = 0; j < B.cols; j++) B.magnitude[i * B.cols + j] *= ORPHAN;
        for (let k = 0; k < C.rows; k++) C.magnitude[k * C.cols + i] *= ORPHAN;
      }
      masks[b] = keepMask(B, counts[b]);
      masks[c] = keepMask(C, counts[c]);
    }
  }
  const matrices: PrunedMatrix[] = [];
  let entries = 0;
  let keptTotal = 0;
  us.forEach((u, i) => {
    const { mask, kept } = masks[i];
    u.set(maskedParts(u, mask, kept));
    const n = u.rows * u.cols;
    matrices.push({ name: u.name, shape: [u.rows, u.cols], entries: n, kept, sparsity: 1 - kept / n });
    entries += n;
    keptTotal += kept;
  });
  model.metadata.pruning = JSON.stringify({ sparsity: opts.sparsity, distribution: opts.distribution, saliency });
  return { model, report: { target: opts.sparsity, distribution: opts.distribution, matrices, achieved: 1 - keptTotal / entries } };
}
