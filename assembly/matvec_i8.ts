// ============================================================================
// int8 × int16 → int32 matrix-vector kernels, one per storage format
// (host/compress/formats.ts). Each does one multiply-add per stored weight; they
// differ in how they find the next nonzero's column:
//   dense   none (the loop counter)           csr*    one u8/u16 column load
//   delta*  a 4/8-bit gap read, escapes rare   bitmap  a bit test per entry (rows·cols)
// The quantizer proved at compile time that no row's worst case exceeds int32.
// ============================================================================

import {
  C_BRANCH, C_LOAD_ACTIVATION, C_LOAD_INDEX, C_LOAD_WEIGHT, C_MAC_MATRIX, KIND_UNROLLED,
  KIND_BITMAP, KIND_CSR16_P16, KIND_CSR16_P32, KIND_CSR8_P16, KIND_CSR8_P32, KIND_DELTA4, KIND_DELTA8, KIND_DENSE,
  M_COLS, M_INDICES, M_INDPTR, M_KIND, M_ROWS, M_VALUES,
} from './abi_i16';
import { count } from './profile';

/** One mat-vec's work for the op counters: MACs, weight, index and activation loads, loop iterations. */
@inline function countMatvec(macs: i32, weightLoads: i32, indexLoads: i32, branches: i32): void {
  count(C_MAC_MATRIX, macs);
  count(C_LOAD_WEIGHT, weightLoads);
  count(C_LOAD_INDEX, indexLoads);
  count(C_LOAD_ACTIVATION, macs);
  count(C_BRANCH, branches);
}

@inline function xAt(x: usize, c: usize): i32 {
  return <i32>load<i16>(x + (c << 1));
}

export function denseMatvecI8(values: usize, rows: i32, cols: i32, x: usize, acc: usize): void {
  let w = values;
  for (let r = 0; r < rows; r++) {
    let s: i32 = 0;
    for (let c = 0; c < cols; c++) {
      s += <i32>load<i8>(w) * xAt(x, <usize>c);
      w += 1;
    }
    store<i32>(acc + (<usize>r << 2), s);
  }
  countMatvec(rows * cols, rows * cols, 0, rows + rows * cols);
}

/** CSR with TP row pointers (u16/u32) and TI columns (u8/u16). */
function csrMatvecI8<TP, TI>(indptr: usize, indices: usize, values: usize, rows: i32, x: usize, acc: usize): void {
  let k = <u32>load<TP>(indptr);
  const first = k;
  for (let r = 0; r < rows; r++) {
    const end = <u32>load<TP>(indptr + (<usize>(r + 1) << alignof<TP>()));
    let s: i32 = 0;
    for (; k < end; k++) {
      const c = <usize>load<TI>(indices + (<usize>k << alignof<TI>()));
      s += <i32>load<i8>(values + <usize>k) * xAt(x, c);
    }
    store<i32>(acc + (<usize>r << 2), s);
  }
  const nnz = <i32>(k - first);
  countMatvec(nnz, nnz, rows + 1 + nnz, rows + nnz);
}

/** Gaps between consecutive nonzeros in row-major order; `nibbles` selects 4-bit gaps (escape 15) over bytes (escape 255). */
@inline function deltaMatvecI8(stream: usize, nnz: u32, values: usize, rows: i32, cols: i32, x: usize, acc: usize, nibbles: bool): void {
  const escape: i32 = nibbles ? 15 : 255;
  let r: i32 = 0;
  let c: i32 = -1;
  let s: i32 = 0;
  let i: usize = 0;
  for (let k: u32 = 0; k < nnz; k++) {
    let gap: i32 = 0;
    let v: i32;
    do {
      v = nibbles ? (<i32>load<u8>(stream + (i >> 1)) >> (<i32>(i & 1) << 2)) & 15 : <i32>load<u8>(stream + i);
      i++;
      gap += v;
    } while (v == escape);
    c += gap + 1;
    while (c >= cols) {
      store<i32>(acc + (<usize>r << 2), s);
      s = 0;
      r++;
      c -= cols;
    }
    s += <i32>load<i8>(values + <usize>k) * xAt(x, <usize>c);
  }
  for (; r < rows; r++) {
    store<i32>(acc + (<usize>r << 2), s);
    s = 0;
  }
  countMatvec(<i32>nnz, <i32>nnz, <i32>i, rows + <i32>i);
}

/**
 * One bit per entry, row-major, read a 32-bit word at a time: zero words cost one load and
 * a compare, each set bit one ctz; rows are tracked as in the delta kernel (no division).
 * The encoder pads the bitmap to whole words, so the last load stays inside it.
 */
function bitmapMatvecI8(bits: usize, values: usize, rows: i32, cols: i32, x: usize, acc: usize): void {
  const n = rows * cols;
  let r: i32 = 0;
  let rowStart: i32 = 0;
  let s: i32 = 0;
  let k: usize = 0;
  for (let base: i32 = 0; base < n; base += 32) {
    let word = load<u32>(bits + (<usize>base >> 3));
    while (word != 0) {
      const p = base + <i32>ctz(word);
      word &= word - 1;
      while (p >= rowStart + cols) {
        store<i32>(acc + (<usize>r << 2), s);
        s = 0;
        r++;
        rowStart += cols;
      }
      s += <i32>load<i8>(values + k) * xAt(x, <usize>(p - rowStart));
      k++;
    }
  }
  for (; r < rows; r++) {
    store<i32>(acc + (<usize>r << 2), s);
    s = 0;
  }
  const words = (n + 31) >> 5;
  countMatvec(<i32>k, <i32>k, words, rows + words + <i32>k);
}

/**
 * Weights in code (`sparrow compile --kernel unrolled`): the linker replaces this body with a
 * dispatch on `fn` to functions generated per matrix (host/compile/unrolled.ts), in which every
 * nonzero is an `i32.load16_s` of x at a constant offset times an `i32.const`. The placeholder
 * body below never runs; it is exported and deliberately larger than binaryen's inlining limit
 * (20 nodes) so that asc keeps it a separate function that matvecI8 calls (a test checks this).
 */
export function sparrow_unrolled(fn: i32, x: usize, acc: usize): void {
  for (let r = 0; r < fn; r++) {
    const a = xAt(x, <usize>r) * xAt(x, <usize>r + 1) + xAt(x, <usize>r + 2) * xAt(x, <usize>r + 3);
    const b = xAt(x, <usize>r + 4) * xAt(x, <usize>r + 5) - xAt(x, <usize>r + 6) * xAt(x, <usize>r + 7);
    store<i32>(acc + (<usize>r << 2), a ^ b);
    store<i32>(acc + (<usize>r << 2) + 4, a | b);
  }
}

export function matvecI8(desc: usize, x: usize, acc: usize): void {
  const kind = load<u32>(desc + M_KIND);
  const rows = <i32>load<u32>(desc + M_ROWS);
  const cols = <i32>load<u32>(desc + M_COLS);
  const values = <usize>load<u32>(desc + M_VALUES);
  const indptr = <usize>load<u32>(desc + M_INDPTR);
  const indices = <usize>load<u32>(desc + M_INDICES);
  switch (kind) {
    case KIND_DENSE: denseMatvecI8(values, rows, cols, x, acc); break;
    case KIND_CSR16_P32: csrMatvecI8<u32, u16>(indptr, indices, values, rows, x, acc); break;
    case KIND_CSR16_P16: csrMatvecI8<u16, u16>(indptr, indices, values, rows, x, acc); break;
    case KIND_CSR8_P32: csrMatvecI8<u32, u8>(indptr, indices, values, rows, x, acc); break;
    case KIND_CSR8_P16: csrMatvecI8<u16, u8>(indptr, indices, values, rows, x, acc); break;
    case KIND_DELTA8: deltaMatvecI8(indices, <u32>indptr, values, rows, cols, x, acc, false); break;
    case KIND_DELTA4: deltaMatvecI8(indices, <u32>indptr, values, rows, cols, x, acc, true); break;
    case KIND_UNROLLED: {
      sparrow_unrolled(<i32>indptr, x, acc);
      countMatvec(<i32>values, 0, 0, 0); // M_VALUES holds nnz: straight-line code, no weight or index loads
      break;
    }
    default: bitmapMatvecI8(indices, values, rows, cols, x, acc); // KIND_BITMAP, validated at compile time
  }
}
