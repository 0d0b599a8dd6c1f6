// ============================================================================
// What would fit: when a model does not fit a board in an execution mode, say
// which kernel strategy, execution mode, board or sparsity would. Every
// answer comes from the cost model (host/bench/cost.ts) and is an estimate;
// the sparsity answer prunes the quantized weights by magnitude (uniformly
// per matrix) only to count what the memory would be: accuracy is not
// checked, and the message says so.
// ============================================================================

import { mapWeightMatrices } from '../model/model';
import { QMatrix, QuantModel } from '../model/quant';
import { Board } from './boards';
import { chooseKernels, estimateOnBoard, ExecutionMode, EXECUTION_MODES, matricesOf, mutableBytesOf } from './cost';

const SPARSITY_GRID = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.975, 0.99];

function fitsWithAuto(q: QuantModel, board: Board, mode: ExecutionMode): boolean {
  const mut = mutableBytesOf(q);
  const choice = chooseKernels(q, board, mode, mut);
  return estimateOnBoard(q, (n) => choice.get(n) ?? 'csr', board, mode, { mutableBytes: mut }).fits;
}

/** The matrix with only its `keep` largest-magnitude weights (real magnitude: int8 × 2^−rowFrac), in CSR. */
export function keepLargest(m: QMatrix, keep: number): QMatrix {
  const entries: { r: number; c: number; v: number; mag: number }[] = [];
  const push = (r: number, c: number, v: number) => v !== 0 && entries.push({ r, c, v, mag: Math.abs(v) * 2 ** -m.rowFrac[r] });
  if (m.kind === 'dense') for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) push(r, c, m.values[r * m.cols + c]);
  else for (let r = 0; r < m.rows; r++) for (let k = m.indptr![r]; k < m.indptr![r + 1]; k++) push(r, m.indices![k], m.values[k]);
  const kept = entries.sort((a, b) => b.mag - a.mag).slice(0, Math.max(0, keep)).sort((a, b) => a.r - b.r || a.c - b.c);
  const indptr = new Int32Array(m.rows + 1);
  for (const e of kept) indptr[e.r + 1]++;
  for (let r = 0; r < m.rows; r++) indptr[r + 1] += indptr[r];
  return { kind: 'csr', rows: m.rows, cols: m.cols, values: Int8Array.from(kept, (e) => e.v), indptr, indices: Int32Array.from(kept, (e) => e.c), rowFrac: m.rowFrac };
}

/** A copy of `q` with every weight matrix pruned to `sparsity` (uniform magnitude pruning), for memory and time estimates only. */
export function prunedForEstimate(q: QuantModel, sparsity: number): QuantModel {
  const prune = (m: QMatrix): QMatrix => keepLargest(m, Math.round((1 - sparsity) * m.rows * m.cols));
  return mapWeightMatrices(q, prune);
}

function matrixSparsity(q: QuantModel): number {
  let size = 0;
  let nnz = 0;
  for (const { m } of matricesOf(q)) {
    size += m.rows * m.cols;
    for (const v of m.values) if (v !== 0) nnz++;
  }
  return size === 0 ? 0 : 1 - nnz / size;
}

/**
 * One line of advice for a model that does not fit `board` in `mode` with `--kernel auto`:
 * the execution modes on this board, the other boards, and the lowest sparsity that would fit.
 */
export function fitAdvice(q: QuantModel, board: Board, mode: ExecutionMode, boards: Board[]): string {
  const parts: string[] = [];
  const modes = EXECUTION_MODES.filter((m) => m !== mode && fitsWithAuto(q, board, m));
  if (modes.length > 0) parts.push(`fits ${board.name} in ${modes.join(', ')}`);
  const others = boards.filter((b) => b.name !== board.name && fitsWithAuto(q, b, mode));
  if (others.length > 0) parts.push(`fits ${others.map((b) => b.name).join(', ')} in ${mode}`);
  const now = matrixSparsity(q);
  const s = SPARSITY_GRID.find((x) => x > now + 1e-9 && fitsWithAuto(prunedForEstimate(q, x), board, mode));
  parts.push(s === undefined ? `no sparsity up to 99% fits ${board.name} in ${mode}` : `at ≥ ${(s * 100).toFixed(1)}% sparsity it would fit ${board.name} in ${mode} (memory only; accuracy not checked)`);
  return `estimate: ${parts.join('; ')}`;
}
