// ============================================================================
// Compact sparse formats for int8 weight matrices. Unstructured sparsity only
// saves memory when the index costs little next to the int8 values, so the
// compiler stores each matrix in whichever of these is smallest:
//
//   dense    rows·cols int8 values, no index
//   csr8     CSR: row pointers (u16, or u32 past 65,535 nonzeros) + u8 columns (cols ≤ 256)
//   csr16    CSR: row pointers + u16 columns
//   delta8   the gaps between consecutive nonzeros in row-major order, one byte
//            each; 255 means "255 more zeros, read another byte" (no row pointers)
//   delta4   the same with 4-bit gaps, two per byte (low nibble first); 15 = escape
//   bitmap   one bit per entry, row-major, LSB first, padded to whole 32-bit words
//
// The entropy bound log2(C(rows·cols, nnz)) bits is what any encoding of a
// uniformly random pattern needs; `sparrow info` reports each matrix against it.
// ============================================================================

import { QMatrix } from '../model/quant';
import { SparrowError } from '../util/errors';

export const SPARSE_FORMATS = ['dense', 'csr8', 'csr16', 'delta8', 'delta4', 'bitmap'] as const;
export type SparseFormat = (typeof SPARSE_FORMATS)[number];

export interface EncodedIndex {
  format: SparseFormat;
  /** The index structure as stored in the firmware (empty for dense). */
  index: Uint8Array;
  /** Row pointers for the CSR formats (u16 or u32, as stored), else empty. */
  rowPointerBytes: number;
  /** Values stored: nnz for sparse formats, rows·cols for dense. */
  valueCount: number;
}

/** Row-major positions of the nonzeros of a matrix. */
export function nonzeroPositions(m: QMatrix): Int32Array {
  if (m.kind === 'csr') {
    const pos = new Int32Array(m.indptr![m.rows]);
    for (let r = 0; r < m.rows; r++) for (let k = m.indptr![r]; k < m.indptr![r + 1]; k++) pos[k] = r * m.cols + m.indices![k];
    return pos;
  }
  const out: number[] = [];
  for (let i = 0; i < m.values.length; i++) if (m.values[i] !== 0) out.push(i);
  return Int32Array.from(out);
}

/** log2 of the binomial coefficient C(n, k), in bits (via log-gamma sums, exact enough for sizes). */
export function entropyBoundBits(n: number, k: number): number {
  if (k <= 0 || k >= n) return 0;
  let bits = 0;
  const kk = Math.min(k, n - k);
  for (let i = 1; i <= kk; i++) bits += Math.log2(n - kk + i) - Math.log2(i);
  return bits;
}

function rowPointers(m: QMatrix, pos: Int32Array): Uint8Array {
  const counts = new Int32Array(m.rows + 1);
  for (const p of pos) counts[Math.floor(p / m.cols) + 1]++;
  for (let r = 0; r < m.rows; r++) counts[r + 1] += counts[r];
  const wide = pos.length > 65535;
  const out = wide ? new Uint32Array(counts) : new Uint16Array(counts);
  return new Uint8Array(out.buffer);
}

function gaps(pos: Int32Array): Int32Array {
  const g = new Int32Array(pos.length);
  let prev = -1;
  pos.forEach((p, i) => {
    g[i] = p - prev - 1;
    prev = p;
  });
  return g;
}

/** Encode the sparsity pattern of `m` in `format` (values are stored separately, in nonzero order). */
export function encodeIndex(m: QMatrix, format: SparseFormat): EncodedIndex {
  const pos = nonzeroPositions(m);
  const nnz = pos.length;
  switch (format) {
    case 'dense':
      return { format, index: new Uint8Array(0), rowPointerBytes: 0, valueCount: m.rows * m.cols };
    case 'csr8':
    case 'csr16': {
      if (format === 'csr8' && m.cols > 256) throw new SparrowError(`csr8 needs at most 256 columns, the matrix has ${m.cols}`);
      const ptrs = rowPointers(m, pos);
      const cols = format === 'csr8' ? Uint8Array.from(pos, (p) => p % m.cols) : new Uint8Array(Uint16Array.from(pos, (p) => p % m.cols).buffer);
      const index = new Uint8Array(ptrs.length + cols.length);
      index.set(ptrs);
      index.set(cols, ptrs.length);
      return { format, index, rowPointerBytes: ptrs.length, valueCount: nnz };
    }
    case 'delta8': {
      const out: number[] = [];
      for (let g of gaps(pos)) {
        while (g >= 255) {
          out.push(255);
          g -= 255;
        }
        out.push(g);
      }
      return { format, index: Uint8Array.from(out), rowPointerBytes: 0, valueCount: nnz };
    }
    case 'delta4': {
      const nibbles: number[] = [];
      for (let g of gaps(pos)) {
        while (g >= 15) {
          nibbles.push(15);
          g -= 15;
        }
        nibbles.push(g);
      }
      const index = new Uint8Array(Math.ceil(nibbles.length / 2));
      nibbles.forEach((v, i) => (index[i >> 1] |= v << ((i & 1) * 4)));
      return { format, index, rowPointerBytes: 0, valueCount: nnz };
    }
    case 'bitmap': {
      // Whole 32-bit words: the kernel reads a word at a time.
      const index = new Uint8Array(4 * Math.ceil((m.rows * m.cols) / 32));
      for (const p of pos) index[p >> 3] |= 1 << (p & 7);
      return { format, index, rowPointerBytes: 0, valueCount: nnz };
    }
  }
}

/** Decode any format back to row-major nonzero positions (tests and `sparrow info` use it as the check). */
export function decodePositions(e: EncodedIndex, rows: number, cols: number): Int32Array {
  const out: number[] = [];
  switch (e.format) {
    case 'dense':
      for (let i = 0; i < rows * cols; i++) out.push(i);
      break;
    case 'csr8':
    case 'csr16': {
      const wide = e.rowPointerBytes === 4 * (rows + 1);
      const dv = new DataView(e.index.buffer, e.index.byteOffset, e.index.byteLength);
      const ptr = (r: number): number => (wide ? dv.getUint32(4 * r, true) : dv.getUint16(2 * r, true));
      for (let r = 0; r < rows; r++) {
        for (let k = ptr(r); k < ptr(r + 1); k++) {
          const c = e.format === 'csr8' ? e.index[e.rowPointerBytes + k] : dv.getUint16(e.rowPointerBytes + 2 * k, true);
          out.push(r * cols + c);
        }
      }
      break;
    }
    case 'delta8':
    case 'delta4': {
      const width = e.format === 'delta8' ? 8 : 4;
      const escape = (1 << width) - 1;
      const count = e.format === 'delta8' ? e.index.length : e.index.length * 2;
      const at = (i: number): number => (width === 8 ? e.index[i] : (e.index[i >> 1] >> ((i & 1) * 4)) & 15);
      let pos = -1;
      let gap = 0;
      for (let i = 0; i < count && out.length < e.valueCount; i++) {
        const v = at(i);
        gap += v;
        if (v === escape) continue;
        pos += gap + 1;
        out.push(pos);
        gap = 0;
      }
      break;
    }
    case 'bitmap':
      for (let i = 0; i < rows * cols; i++) if ((e.index[i >> 3] >> (i & 7)) & 1) out.push(i);
      break;
  }
  return Int32Array.from(out);
}

/** Bytes a matrix takes in a format: index plus one int8 per stored value. */
export function formatBytes(e: EncodedIndex): number {
  return e.index.length + e.valueCount;
}

/** The smallest applicable format (ties: the earlier in SPARSE_FORMATS, i.e. the simpler kernel). */
export function chooseFormat(m: QMatrix): EncodedIndex {
  let best: EncodedIndex | undefined;
  for (const f of SPARSE_FORMATS) {
    if (f === 'csr8' && m.cols > 256) continue;
    const e = encodeIndex(m, f);
    if (!best || formatBytes(e) < formatBytes(best)) best = e;
  }
  return best!;
}
