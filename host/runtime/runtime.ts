// ============================================================================
// Drive a sparrow firmware from Node with the plain WebAssembly API. The ABI is
// numbers and one exported memory, so no loader is needed (the deprecated
// @assemblyscript/loader would add nothing): copy the input into linear memory
// at input_ptr(), call step(), read output_len() values at output_ptr().
// ============================================================================

import { SparrowError } from '../util/errors';

/** The firmware ABI exports (docs/firmware-abi.md). */
export interface FirmwareExports {
  memory: WebAssembly.Memory;
  init(): void;
  reset(): void;
  input_ptr(): number;
  output_ptr(): number;
  input_len(): number;
  output_len(): number;
  /** 0: f32 I/O buffers; 1: int16 (integer firmware, with input_frac/output_frac). */
  io_format(): number;
  input_frac?(): number;
  output_frac?(): number;
  step(): void;
  selftest(): number;
}

export interface FirmwareRunner {
  readonly inputLen: number;
  readonly outputLen: number;
  readonly ioFormat: 'f32' | 'i16';
  readonly exports: FirmwareExports;
  /**
   * One time step: `x` has inputLen real values; returns a fresh array of outputLen real
   * values. Integer firmware quantizes the input (round half up, saturate) and
   * dequantizes the output with its fracs, so both kinds are drop-in for each other.
   */
  step(x: ArrayLike<number>): Float32Array;
  /** A whole [T, inputLen] sequence from the current state; returns [T, outputLen]. */
  run(sequence: ArrayLike<number>, T: number): Float32Array;
  /** Integer firmware only: int16 in, int16 out, no conversion (`sparrow run --raw`). */
  runRaw(sequence: ArrayLike<number>, T: number): Int16Array;
  /** Zero the recurrent state. */
  reset(): void;
  selftest(): number;
}

const REQUIRED = ['memory', 'init', 'reset', 'input_ptr', 'output_ptr', 'input_len', 'output_len', 'io_format', 'step', 'selftest'] as const;

export function instantiateFirmware(wasm: Uint8Array, name = 'firmware'): FirmwareExports {
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(wasm);
  } catch (e) {
    throw new SparrowError(`${name}: not a valid WebAssembly module (${(e as Error).message})`);
  }
  const imports = WebAssembly.Module.imports(module);
  if (imports.length > 0) {
    throw new SparrowError(`${name}: imports ${imports.map((i) => `${i.module}.${i.name}`).join(', ')}; sparrow firmware imports nothing`);
  }
  const instance = new WebAssembly.Instance(module, {});
  const exp = instance.exports as Record<string, unknown>;
  const missing = REQUIRED.filter((n) => exp[n] === undefined);
  if (missing.length > 0) throw new SparrowError(`${name}: missing firmware ABI exports: ${missing.join(', ')}`);
  return exp as unknown as FirmwareExports;
}

export function createRunner(wasm: Uint8Array, name = 'firmware'): FirmwareRunner {
  const fw = instantiateFirmware(wasm, name);
  fw.init();
  const inputLen = fw.input_len();
  const outputLen = fw.output_len();
  const inPtr = fw.input_ptr();
  const outPtr = fw.output_ptr();
  const integer = fw.io_format() === 1;
  // Memory never grows (fixed pages), so these views stay valid for the instance's life.
  const input = integer ? new Int16Array(fw.memory.buffer, inPtr, inputLen) : new Float32Array(fw.memory.buffer, inPtr, inputLen);
  const output = integer ? new Int16Array(fw.memory.buffer, outPtr, outputLen) : new Float32Array(fw.memory.buffer, outPtr, outputLen);
  const inScale = integer ? 2 ** fw.input_frac!() : 1;
  const outScale = integer ? 2 ** -fw.output_frac!() : 1;
  const toInput = (v: number): number => (integer ? Math.max(-32768, Math.min(32767, Math.floor(v * inScale + 0.5))) : v);

  const run = (sequence: ArrayLike<number>, T: number): Float32Array => {
    if (sequence.length !== T * inputLen) throw new SparrowError(`${name}: sequence has ${sequence.length} values, expected T·d_in = ${T}·${inputLen}`);
    const out = new Float32Array(T * outputLen);
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < inputLen; j++) input[j] = toInput(sequence[t * inputLen + j]);
      fw.step();
      for (let j = 0; j < outputLen; j++) out[t * outputLen + j] = output[j] * outScale;
    }
    return out;
  };
  // The streaming path: one copy in, one call, one copy out (no per-call closures or loops over T).
  const step = (x: ArrayLike<number>): Float32Array => {
    if (x.length !== inputLen) throw new SparrowError(`${name}: step input has ${x.length} values, the firmware takes ${inputLen}`);
    if (!integer) {
      input.set(x);
      fw.step();
      return (output as Float32Array).slice();
    }
    for (let j = 0; j < inputLen; j++) input[j] = toInput(x[j]);
    fw.step();
    const y = new Float32Array(outputLen);
    for (let j = 0; j < outputLen; j++) y[j] = output[j] * outScale;
    return y;
  };
  const runRaw = (sequence: ArrayLike<number>, T: number): Int16Array => {
    if (!integer) throw new SparrowError(`${name}: --raw needs an integer firmware; this one has f32 I/O`);
    if (sequence.length !== T * inputLen) throw new SparrowError(`${name}: sequence has ${sequence.length} values, expected T·d_in = ${T}·${inputLen}`);
    for (let i = 0; i < sequence.length; i++) {
      const v = sequence[i];
      if (!Number.isInteger(v) || v < -32768 || v > 32767) throw new SparrowError(`${name}: raw input value ${v} at step ${Math.floor(i / inputLen)} is not an int16 integer`);
    }
    const out = new Int16Array(T * outputLen);
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < inputLen; j++) input[j] = sequence[t * inputLen + j];
      fw.step();
      out.set(output, t * outputLen);
    }
    return out;
  };
  return { inputLen, outputLen, ioFormat: integer ? 'i16' : 'f32', exports: fw, step, run, runRaw, reset: () => fw.reset(), selftest: () => fw.selftest() };
}
