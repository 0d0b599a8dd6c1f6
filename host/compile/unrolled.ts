// ============================================================================
// Weights in code (`sparrow compile --kernel unrolled`): one generated wasm
// function per matrix, `(x, acc) → ()`, in which each row is a straight-line
// sum of `i32.load16_s x[offset 2c] · i32.const w` — no weight, index or row
// pointer loads and no loop. Weight 1 skips the multiply, −1 becomes i32.sub.
// Zero weights (also in a dense matrix) generate nothing.
//
// The engine's placeholder `sparrow_unrolled(fn, x, acc)` becomes a br_table
// dispatch on fn (host/wasm/functions.ts). Cost: about 7–9 bytes of code per
// nonzero (docs/benchmarks.md). The functions are linked after wasm-opt, as
// generated, so decodeUnrolled can read the weights back (host/patch/).
// ============================================================================

import { QMatrix } from '../model/quant';
import { GeneratedFunction } from '../wasm/functions';
import { encodeS32, encodeU32, peekByte, readByte, reader, Reader, readS32, readU32 } from '../wasm/leb128';

const OP = {
  block: 0x02, end: 0x0b, brTable: 0x0e, ret: 0x0f, call: 0x10, localGet: 0x20,
  i32Load16S: 0x2e, i32Store: 0x36, i32Const: 0x41, i32Add: 0x6a, i32Sub: 0x6b, i32Mul: 0x6c,
};
const EMPTY_BLOCK = 0x40;

/** Row-major nonzeros of an int8 matrix as [row, col, value] triples, zeros skipped. */
export function nonzerosOf(m: QMatrix): { rowStart: Int32Array; cols: Int32Array; values: Int8Array } {
  const rowStart = new Int32Array(m.rows + 1);
  const cols: number[] = [];
  const values: number[] = [];
  for (let r = 0; r < m.rows; r++) {
    if (m.kind === 'dense') {
      for (let c = 0; c < m.cols; c++) {
        const w = m.values[r * m.cols + c];
        if (w !== 0) {
          cols.push(c);
          values.push(w);
        }
      }
    } else {
      for (let k = m.indptr![r]; k < m.indptr![r + 1]; k++) {
        if (m.values[k] !== 0) {
          cols.push(m.indices![k]);
          values.push(m.values[k]);
        }
      }
    }
    rowStart[r + 1] = cols.length;
  }
  return { rowStart, cols: Int32Array.from(cols), values: Int8Array.from(values) };
}

class Code {
  private buf = new Uint8Array(256);
  length = 0;
  push(...bytes: number[]): void {
    if (this.length + bytes.length > this.buf.length) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, this.length + bytes.length));
      grown.set(this.buf.subarray(0, this.length));
      this.buf = grown;
    }
    for (const b of bytes) this.buf[this.length++] = b;
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** The generated kernel of one matrix: params (x: i32, acc: i32), acc[r] = Σ w·x[c] as i32. */
export function unrolledFunction(m: QMatrix): GeneratedFunction {
  const nz = nonzerosOf(m);
  const code = new Code();
  for (let r = 0; r < m.rows; r++) {
    code.push(OP.localGet, 1);
    const start = nz.rowStart[r];
    const end = nz.rowStart[r + 1];
    if (start === end) code.push(OP.i32Const, 0);
    for (let k = start; k < end; k++) {
      const w = nz.values[k];
      const first = k === start;
      code.push(OP.localGet, 0, OP.i32Load16S, 1, ...encodeU32(2 * nz.cols[k]));
      if (w === 1) {
        if (!first) code.push(OP.i32Add);
      } else if (w === -1 && !first) {
        code.push(OP.i32Sub);
      } else {
        code.push(OP.i32Const, ...encodeS32(w), OP.i32Mul);
        if (!first) code.push(OP.i32Add);
      }
    }
    code.push(OP.i32Store, 2, ...encodeU32(4 * r));
  }
  code.push(OP.end);
  return { params: ['i32', 'i32'], results: [], locals: [], code: code.bytes() };
}

/**
 * The inverse of unrolledFunction: the matrix (CSR, its nonzeros only; rowFrac zero) whose
 * generated kernel is `code` (instructions including the final `end`), or undefined when
 * `code` is not exactly what unrolledFunction writes for some rows×cols matrix. A firmware
 * patch reads the weights of a matrix compiled to code this way (host/patch/).
 */
export function decodeUnrolled(code: Uint8Array, rows: number, cols: number): QMatrix | undefined {
  const indptr = new Int32Array(rows + 1);
  const indices: number[] = [];
  const values: number[] = [];
  const r = reader(code, 0, code.length, 'generated function');
  const expect = (rd: Reader, ...bytes: number[]): void => {
    for (const b of bytes) if (readByte(rd) !== b) throw new Error('not generated code');
  };
  try {
    for (let row = 0; row < rows; row++) {
      expect(r, OP.localGet, 1);
      if (peekByte(r) === OP.i32Const) {
        r.pos++;
        if (readS32(r) !== 0) return undefined; // an empty row stores 0
      }
      for (let first = true; peekByte(r) === OP.localGet; first = false) {
        expect(r, OP.localGet, 0, OP.i32Load16S, 1);
        const offset = readU32(r);
        if (offset % 2 !== 0 || offset / 2 >= cols) return undefined;
        if (!first && offset / 2 <= indices[indices.length - 1]) return undefined; // columns ascending, each once
        let w = 1; // first term with weight 1: the load alone
        const op = peekByte(r);
        if (op === OP.i32Const) {
          r.pos++;
          w = readS32(r);
          expect(r, OP.i32Mul);
          if (!first) expect(r, OP.i32Add);
        } else if (!first && (op === OP.i32Add || op === OP.i32Sub)) {
          r.pos++;
          w = op === OP.i32Add ? 1 : -1;
        }
        if (w < -128 || w > 127 || w === 0) return undefined;
        indices.push(offset / 2);
        values.push(w);
      }
      expect(r, OP.i32Store, 2);
      if (readU32(r) !== 4 * row) return undefined;
      indptr[row + 1] = values.length;
    }
    expect(r, OP.end);
  } catch {
    return undefined; // a byte out of place or a malformed LEB128: not sparrow's generated form
  }
  if (r.pos !== code.length) return undefined;
  const m: QMatrix = { kind: 'csr', rows, cols, indptr, indices: Int32Array.from(indices), values: Int8Array.from(values), rowFrac: new Int8Array(rows) };
  // Canonical form only: the decoded matrix must generate these very bytes.
  const again = unrolledFunction(m).code;
  return again.length === code.length && again.every((b, i) => b === code[i]) ? m : undefined;
}

/** Body of `sparrow_unrolled(fn, x, acc)`: br_table on fn to `call firstNew + fn`; an fn out of range does nothing. */
export function dispatchFunction(count: number, firstNew: number): GeneratedFunction {
  const code = new Code();
  code.push(OP.block, EMPTY_BLOCK);
  for (let i = 0; i < count; i++) code.push(OP.block, EMPTY_BLOCK);
  code.push(OP.localGet, 0, OP.brTable, ...encodeU32(count));
  for (let i = 0; i < count; i++) code.push(...encodeU32(i));
  code.push(...encodeU32(count)); // default: the outer block
  for (let i = 0; i < count; i++) {
    code.push(OP.end, OP.localGet, 1, OP.localGet, 2, OP.call, ...encodeU32(firstNew + i), OP.ret);
  }
  code.push(OP.end, OP.end);
  return { params: ['i32', 'i32', 'i32'], results: [], locals: [], code: code.bytes() };
}
