// ============================================================================
// Op counters. The engine is built twice from the same source: with
// `--use SPARROW_PROFILE=0` every count() folds away, with `=1` (sparrow compile
// --profile) each adds to a u64 counter whose array the header points at.
// Kernels count per row or per call with the numbers their loops actually ran,
// so the counted firmware does the same work in the same order.
// ============================================================================

import { HEADER, H_COUNTERS } from './abi_i16';

// @ts-ignore: defined by asc --use
const PROFILE: bool = SPARROW_PROFILE != 0;

@inline export function count(counter: usize, n: i32): void {
  if (PROFILE) {
    const at = <usize>load<u32>(HEADER + H_COUNTERS) + (counter << 3);
    store<u64>(at, load<u64>(at) + <u64>n);
  }
}

@inline export function profiling(): bool {
  return PROFILE;
}
