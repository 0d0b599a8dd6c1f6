// ============================================================================
// f32 matrix-vector kernels. This is where a step spends its time: one
// multiply-add per stored weight. The CSR kernel pays one extra u16 index load
// per nonzero and skips every zero, so at sparsity s it does (1 − s) of the
// dense kernel's multiply-adds.
// ============================================================================

import { KIND_DENSE, M_COLS, M_INDICES, M_INDPTR, M_KIND, M_ROWS, M_VALUES } from './abi';

/** y[r] (+)= Σ_c W[r, c] x[c] for a row-major dense W. */
export function denseMatvecF32(values: usize, rows: i32, cols: i32, x: usize, y: usize, accumulate: bool): void {
  let w = values;
  for (let r = 0; r < rows; r++) {
    let acc: f32 = accumulate ? load<f32>(y + (<usize>r << 2)) : 0;
    for (let c = 0; c < cols; c++) {
      acc += load<f32>(w) * load<f32>(x + (<usize>c << 2));
      w += 4;
    }
    store<f32>(y + (<usize>r << 2), acc);
  }
}

/** y[r] (+)= Σ_k values[k] x[indices[k]] over row r's nonzeros (u32 indptr, u16 indices). */
export function csrMatvecF32(indptr: usize, indices: usize, values: usize, rows: i32, x: usize, y: usize, accumulate: bool): void {
  let k = load<u32>(indptr);
  for (let r = 0; r < rows; r++) {
    const end = load<u32>(indptr + (<usize>(r + 1) << 2));
    let acc: f32 = accumulate ? load<f32>(y + (<usize>r << 2)) : 0;
    for (; k < end; k++) {
      const c = <usize>load<u16>(indices + (<usize>k << 1));
      acc += load<f32>(values + (<usize>k << 2)) * load<f32>(x + (c << 2));
    }
    store<f32>(y + (<usize>r << 2), acc);
  }
}

/** Dispatch on a matrix descriptor (see abi.ts). */
export function matvecF32(desc: usize, x: usize, y: usize, accumulate: bool): void {
  const rows = <i32>load<u32>(desc + M_ROWS);
  if (load<u32>(desc + M_KIND) == KIND_DENSE) {
    denseMatvecF32(load<u32>(desc + M_VALUES), rows, <i32>load<u32>(desc + M_COLS), x, y, accumulate);
  } else {
    csrMatvecF32(load<u32>(desc + M_INDPTR), load<u32>(desc + M_INDICES), load<u32>(desc + M_VALUES), rows, x, y, accumulate);
  }
}
