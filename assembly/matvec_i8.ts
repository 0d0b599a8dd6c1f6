// ============================================================================
// int8 × int16 → int32 matrix-vector kernels. One multiply-add per stored
// weight; the quantizer proved at compile time that no row's worst case can
// exceed int32, so the accumulators never wrap.
// ============================================================================

import { KIND_DENSE, M_COLS, M_INDICES, M_INDPTR, M_KIND, M_ROWS, M_VALUES } from './abi_i16';

export function denseMatvecI8(values: usize, rows: i32, cols: i32, x: usize, acc: usize): void {
  let w = values;
  for (let r = 0; r < rows; r++) {
    let s: i32 = 0;
    for (let c = 0; c < cols; c++) {
      s += <i32>load<i8>(w) * <i32>load<i16>(x + (<usize>c << 1));
      w += 1;
    }
    store<i32>(acc + (<usize>r << 2), s);
  }
}

export function csrMatvecI8(indptr: usize, indices: usize, values: usize, rows: i32, x: usize, acc: usize): void {
  let k = load<u32>(indptr);
  for (let r = 0; r < rows; r++) {
    const end = load<u32>(indptr + (<usize>(r + 1) << 2));
    let s: i32 = 0;
    for (; k < end; k++) {
      const c = <usize>load<u16>(indices + (<usize>k << 1));
      s += <i32>load<i8>(values + <usize>k) * <i32>load<i16>(x + (c << 1));
    }
    store<i32>(acc + (<usize>r << 2), s);
  }
}

export function matvecI8(desc: usize, x: usize, acc: usize): void {
  const rows = <i32>load<u32>(desc + M_ROWS);
  if (load<u32>(desc + M_KIND) == KIND_DENSE) {
    denseMatvecI8(load<u32>(desc + M_VALUES), rows, <i32>load<u32>(desc + M_COLS), x, acc);
  } else {
    csrMatvecI8(load<u32>(desc + M_INDPTR), load<u32>(desc + M_INDICES), load<u32>(desc + M_VALUES), rows, x, acc);
  }
}
