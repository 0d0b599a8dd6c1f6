// ============================================================================
// Fixed-point primitives, exactly as host/reference/int.ts defines them.
// i64 where an exact intermediate may pass 2^31 (a left shift, a sum of two
// requantized terms); the hot mat-vec loops stay in i32.
// ============================================================================

/** Rounding shift: k > 0 → floor((a + 2^(k−1)) / 2^k) (round half up); k ≤ 0 → a·2^(−k). |k| ≤ 31 (checked at compile time). */
@inline export function rshift(a: i64, k: i32): i64 {
  if (k <= 0) return a << <i64>(-k);
  return (a + (<i64>1 << <i64>(k - 1))) >> <i64>k;
}

@inline export function sat16(a: i64): i32 {
  return a < -32768 ? -32768 : a > 32767 ? 32767 : <i32>a;
}

/** 257-entry table over the int16 range, linear interpolation on the low 8 bits, rounding half up. */
@inline export function lut(table: usize, x: i32): i32 {
  const offset = x + 32768;
  const i = <usize>(offset >> 8);
  const frac = offset & 255;
  const t0 = <i32>load<i16>(table + (i << 1));
  const t1 = <i32>load<i16>(table + ((i + 1) << 1));
  return t0 + (((t1 - t0) * frac + 128) >> 8);
}
