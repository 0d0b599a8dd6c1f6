// The independent definition of the integer firmware's op counters for one mat-vec
// (docs/firmware-abi.md, "Op counters"), shared by the kernel and SMA tests.

import { ABI_I16 as C } from '../../host/compile/abi_i16';
import { QMatrix } from '../../host/model/quant';

/** Row-major positions a table stores: CSR what its indices say (explicit zeros too), dense its nonzeros. */
export function storedPositions(m: QMatrix): number[] {
  const pos: number[] = [];
  if (m.kind === 'csr') for (let r = 0; r < m.rows; r++) for (let k = m.indptr![r]; k < m.indptr![r + 1]; k++) pos.push(r * m.cols + m.indices![k]);
  else m.values.forEach((v, i) => v !== 0 && pos.push(i));
  return pos;
}

/** One mat-vec's counters in a storage format, or `unrolled` (weights in code: its nonzeros, no loads, no loop). */
export function matvecCounts(m: QMatrix, format: string): number[] {
  const c = new Array<number>(C.N_COUNTERS).fill(0);
  const { rows, cols } = m;
  const pos = storedPositions(m);
  const n = pos.length;
  const add = (macs: number, weights: number, index: number, branches: number): void => {
    c[C.C_MAC_MATRIX] += macs;
    c[C.C_LOAD_WEIGHT] += weights;
    c[C.C_LOAD_INDEX] += index;
    c[C.C_LOAD_ACTIVATION] += macs;
    c[C.C_BRANCH] += branches;
  };
  if (format === 'dense') add(rows * cols, rows * cols, 0, rows + rows * cols);
  else if (format === 'csr16' || format === 'csr8') add(n, n, rows + 1 + n, rows + n);
  else if (format === 'delta8' || format === 'delta4') {
    const escape = format === 'delta8' ? 255 : 15;
    let entries = 0;
    let prev = -1;
    for (const p of pos) {
      entries += Math.floor((p - prev - 1) / escape) + 1;
      prev = p;
    }
    add(n, n, entries, rows + entries);
  } else if (format === 'bitmap') {
    const words = Math.ceil((rows * cols) / 32);
    add(n, n, words, rows + words + n);
  } else if (format === 'unrolled') add(Array.from(m.values).filter((v) => v !== 0).length, 0, 0, 0);
  else throw new Error(`matvecCounts: unknown format ${format}`);
  return c;
}
