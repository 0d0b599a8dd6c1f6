// ============================================================================
// f32 activations. GELU is the tanh approximation (JAX's default); tanh and exp
// come from AssemblyScript's Mathf, which is plain wasm code (no imports), at
// roughly a few dozen instructions per call.
// ============================================================================

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;

@inline export function geluF32(x: f32): f32 {
  return <f32>0.5 * x * (<f32>1 + Mathf.tanh(SQRT_2_OVER_PI * (x + <f32>0.044715 * x * x * x)));
}

@inline export function reluF32(x: f32): f32 {
  return x > 0 ? x : <f32>0;
}

@inline export function sigmoidF32(x: f32): f32 {
  return <f32>1 / (<f32>1 + Mathf.exp(-x));
}
