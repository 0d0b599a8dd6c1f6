// ============================================================================
// The empty-step firmware: a module with the same call shape as a sparrow
// firmware's hot path (one exported memory, an exported `step` taking and
// returning nothing) whose step does no work. Timing the same input-writing
// loop against it measures what every measured step pays before computing
// anything: the JS → wasm call and the input copy. Hand-assembled (49 bytes):
// it is the definition of "nothing", so it must not depend on the compiler.
// ============================================================================

/** (module (memory (export "memory") 1 1) (func (export "step"))) */
export const EMPTY_STEP_WASM = Uint8Array.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
  0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: () -> ()
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x05, 0x04, 0x01, 0x01, 0x01, 0x01, // memory section: min 1, max 1 page (fixed, like a firmware)
  0x07, 0x11, 0x02, // export section, 2 exports
  0x04, 0x73, 0x74, 0x65, 0x70, 0x00, 0x00, // "step" → function 0
  0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, // "memory" → memory 0
  0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b, // code section: one empty body
]);

export interface EmptyStep {
  memory: WebAssembly.Memory;
  step(): void;
}

export function instantiateEmptyStep(): EmptyStep {
  return new WebAssembly.Instance(new WebAssembly.Module(EMPTY_STEP_WASM), {}).exports as unknown as EmptyStep;
}
