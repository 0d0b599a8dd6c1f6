// ============================================================================
// Complex diagonal recurrence s ← Λ ⊙ s + B v, with the real and imaginary
// parts in separate arrays. 4 multiplies and 4 adds per state: cheap next to
// the mat-vecs, but it runs on every state every step (no sparsity to skip).
// ============================================================================

export function diagRecurrenceF32(lambdaRe: usize, lambdaIm: usize, sRe: usize, sIm: usize, bvRe: usize, bvIm: usize, states: i32): void {
  for (let p = 0; p < states; p++) {
    const o = <usize>p << 2;
    const lr = load<f32>(lambdaRe + o);
    const li = load<f32>(lambdaIm + o);
    const re = load<f32>(sRe + o);
    const im = load<f32>(sIm + o);
    store<f32>(sRe + o, lr * re - li * im + load<f32>(bvRe + o));
    store<f32>(sIm + o, lr * im + li * re + load<f32>(bvIm + o));
  }
}
