// ============================================================================
// model → firmware.wasm
//
//   1. golden vectors: seeded inputs through the float64 reference;
//   2. layout: every array of the model placed in linear memory (layout.ts);
//   3. engine: the prebuilt engine (assembly/, built by `npm run build` with
//      `asc --runtime stub --use abort=`), through binaryen's wasm-opt once per
//      process (MVP + sign-ext features only);
//   4. link: the model's generated code (weights in code) appended as new
//      functions, its data as active segments without their zero runs, and a
//      memory of exactly the pages it needs, initial == maximum;
//   5. checks: zero imports, no memory.grow, no SIMD, fixed memory, the ABI
//      exports, and selftest() == 0 in Node before anything is written.
//
// Nothing model-specific goes through wasm-opt: the model's bytes land in the
// firmware exactly as sparrow wrote them. That is what lets `sparrow patch`
// rewrite a firmware's values in place and still produce the bytes a direct
// compile of the tuned model gives (host/patch/). It costs little: over the
// whole linked module, wasm-opt used to inline the dispatch to the generated
// functions (two calls per weights-in-code mat-vec remain) and drop zero runs,
// which packSegments does the same way. Measured on the example model: the
// same data segments, 24 B more code table-driven, 157 B with weights in code.
// ============================================================================

import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { describeModel, describeQuantModel } from '../model/describe';
import { QMatrix, QuantModel } from '../model/quant';
import { Model } from '../model/types';
import { stepFloat, zeroState } from '../reference/float';
import { quantizeInput, runInt } from '../reference/int';
import { createRunner } from '../runtime/runtime';
import { SparrowError } from '../util/errors';
import { makeRng } from '../util/rng';
import { parseModule, WasmModule } from '../wasm/binary';
import { packSegments, setMemoryAndData } from '../wasm/link';
import { ABI, WASM_PAGE_BYTES } from './abi';
import { checkForRuntime } from './runtime_check';
import { SparseFormat } from '../compress/formats';
import { checkSma, FirmwareLayout, GoldenVectors, layoutF32, MatrixStorage, MemoryRegion } from './layout';
import { checkSma as checkSmaI16, IntGoldenVectors, KernelStrategy, layoutI16 } from './layout_i16';
import { dispatchFunction, unrolledFunction } from './unrolled';
import { patchFunctions } from '../wasm/functions';
import { Board, loadBoard } from '../bench/boards';
import { chooseKernels, ExecutionMode, mutableBytesOf } from '../bench/cost';


export interface CompileOptions {
  /** Golden input steps embedded for selftest() (≥ 16). */
  goldenSteps?: number;
  /** Seed of the golden inputs. */
  goldenSeed?: number;
  /** selftest() relative tolerance of the f32 engine: |out − ref| ≤ tol·(1 + |ref|); the integer engine compares exactly. */
  tolerance?: number;
  /** Run binaryen's wasm-opt over the engine before linking the model (default true). */
  wasmOpt?: boolean;
  /** Integer engine: the sparse format of every matrix, or 'auto' (the smallest per matrix, default). */
  format?: SparseFormat | 'auto';
  /** Integer engine: table-driven kernels, weights in code, or a per-matrix choice (default 'csr'). */
  kernel?: KernelStrategy | 'auto' | ((name: string, m: QMatrix) => KernelStrategy);
  /** With kernel 'auto': the board and execution mode whose cost model and budget decide. */
  board?: Board;
  mode?: ExecutionMode;
  /** Integer engine: build the op-counting variant (counters_ptr()). */
  profile?: boolean;
}

export interface Manifest {
  generator: string;
  abiVersion: number;
  engine: EngineName;
  model: {
    config: Model['config'];
    parameters: number;
    nonzeros: number;
    macsPerStep: number;
  };
  firmware: {
    wasmBytes: number;
    /** Bytes of initialised data (the part of the image that goes to flash besides code). */
    dataBytes: number;
    linearMemoryBytes: number;
    pages: number;
    /** Bytes that change at run time: I/O, scratch, state. */
    mutableBytes: number;
    regions: MemoryRegion[];
    /** Integer engine: the storage format of each weight matrix. */
    matrices?: MatrixStorage[];
    exports: string[];
  };
  golden: { steps: number; seed: number; tolerance: number };
  build: { wasmOpt: boolean; features: string; profile?: boolean; kernel?: string };
}

export interface Firmware {
  wasm: Uint8Array;
  manifest: Manifest;
}

export const DEFAULT_GOLDEN_STEPS = 16;
export const DEFAULT_TOLERANCE = 1e-4;
/** Features the firmware may use: WebAssembly MVP plus sign-extension, which every WAMR mode runs. */
export const FIRMWARE_FEATURES = ['--mvp-features', '--enable-sign-ext'];

// ---------------------------------------------------------------------------
// Engine and tools
// ---------------------------------------------------------------------------

export type EngineName = 'f32' | 'i16' | 'i16-profile';

/** A prebuilt engine: next to the bundled CLI (dist/), or in build/ during development. */
export function enginePath(name: EngineName = 'f32'): string {
  const file = `engine-${name}.wasm`;
  const candidates = [path.join(__dirname, file), path.join(__dirname, '..', '..', 'build', file)];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new SparrowError(`firmware engine not built (looked for ${candidates.join(', ')}); run 'npm run build'`);
  return found;
}

const engineCache = new Map<EngineName, { bytes: Uint8Array; module: WasmModule }>();
function loadEngine(name: EngineName): { bytes: Uint8Array; module: WasmModule } {
  let e = engineCache.get(name);
  if (!e) {
    const bytes = new Uint8Array(fs.readFileSync(enginePath(name)));
    e = { bytes, module: parseModule(bytes) };
    engineCache.set(name, e);
  }
  return e;
}

function engineDataEnd(mod: WasmModule): number {
  let end = 0;
  for (const seg of mod.dataSegments) {
    if (seg.mode !== 'active' || seg.offset === undefined) throw new Error('engine has a data segment without a constant offset');
    end = Math.max(end, seg.offset + seg.size);
  }
  return end;
}

function runWasmOpt(wasm: Uint8Array): Uint8Array {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-opt-'));
  try {
    const input = path.join(dir, 'in.wasm');
    const output = path.join(dir, 'out.wasm');
    fs.writeFileSync(input, wasm);
    execFileSync(process.execPath, [require.resolve('binaryen/bin/wasm-opt'), input, '-o', output, '-O3', '--memory-packing', '--strip-producers', ...FIRMWARE_FEATURES], { stdio: ['ignore', 'ignore', 'pipe'] });
    return new Uint8Array(fs.readFileSync(output));
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim().split('\n')[0];
    throw new SparrowError(`wasm-opt failed: ${stderr || (e as Error).message}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Golden vectors
// ---------------------------------------------------------------------------

export function goldenVectors(model: Model, steps: number, seed: number, tolerance: number): GoldenVectors {
  const { d_in, d_out } = model.config;
  const rng = makeRng(seed);
  const inputs = new Float32Array(steps * d_in);
  for (let i = 0; i < inputs.length; i++) inputs[i] = rng.normal();
  const outputs = new Float32Array(steps * d_out);
  const state = zeroState(model);
  for (let t = 0; t < steps; t++) {
    outputs.set(stepFloat(model, state, inputs.subarray(t * d_in, (t + 1) * d_in)), t * d_out);
  }
  return { steps, inputs, outputs, tolerance };
}

// ---------------------------------------------------------------------------
// Compile
// ---------------------------------------------------------------------------

function goldenSteps(opts: CompileOptions): { steps: number; seed: number } {
  const steps = opts.goldenSteps ?? DEFAULT_GOLDEN_STEPS;
  if (!Number.isInteger(steps) || steps < 16) throw new SparrowError(`golden steps must be an integer ≥ 16, got ${steps}`);
  return { steps, seed: opts.goldenSeed ?? 1 };
}

/** The engine as the model is linked into it: once through wasm-opt per process, unless opts.wasmOpt is false. */
const optimizedEngines = new Map<EngineName, Uint8Array>();
function engineToLink(name: EngineName, wasmOpt: boolean): Uint8Array {
  if (!wasmOpt) return loadEngine(name).bytes;
  let bytes = optimizedEngines.get(name);
  if (!bytes) {
    bytes = runWasmOpt(loadEngine(name).bytes);
    optimizedEngines.set(name, bytes);
  }
  return bytes;
}

/** Link a layout into an engine, check the binary, and run selftest() before anyone sees the firmware. */
function finish(engine: EngineName, layout: FirmwareLayout & { unrolled?: QMatrix[] }, opts: CompileOptions): { wasm: Uint8Array; exports: string[] } {
  let engineBytes = engineToLink(engine, opts.wasmOpt ?? true);
  if (engine !== 'f32') {
    // Weights in code: the placeholder becomes a dispatch to one generated function per matrix (none: a no-op),
    // appended after the engine's functions in matrix order (function number = M_INDPTR of the descriptor).
    const generated = (layout.unrolled ?? []).map(unrolledFunction);
    engineBytes = patchFunctions(engineBytes, { placeholder: 'sparrow_unrolled', body: (first) => dispatchFunction(generated.length, first), functions: generated });
  }
  const wasm = setMemoryAndData(engineBytes, {
    pages: layout.pages,
    segments: packSegments([
      { offset: ABI.HEADER, data: layout.header },
      { offset: layout.constStart, data: layout.constBytes },
    ]),
  });
  // The same checks as `sparrow check --runtime wamr-classic`, the strictest execution mode.
  const check = checkForRuntime(wasm, 'wamr-classic', { expectedPages: layout.pages, integer: engine !== 'f32' });
  if (check.problems.length > 0) throw new SparrowError(`compiled firmware failed its checks: ${check.problems.join('; ')}`);
  const misses = createRunner(wasm, 'compiled firmware').selftest();
  if (misses !== 0) throw new SparrowError(`compiled firmware failed selftest(): ${misses} output values differ from the reference (this is a sparrow bug; please report it with the model)`);
  return { wasm, exports: check.exports };
}

function manifestFor(engine: EngineName, model: { config: Model['config'] }, summary: { parameters: number; nonzeros: number; macsPerStep: number }, layout: FirmwareLayout, fw: { wasm: Uint8Array; exports: string[] }, golden: Manifest['golden'], opts: CompileOptions): Manifest {
  return {
    generator: 'sparrow',
    abiVersion: ABI.ABI_VERSION,
    engine,
    model: { config: model.config, parameters: summary.parameters, nonzeros: summary.nonzeros, macsPerStep: summary.macsPerStep },
    firmware: {
      wasmBytes: fw.wasm.length,
      dataBytes: layout.header.length + layout.constBytes.length,
      linearMemoryBytes: layout.pages * WASM_PAGE_BYTES,
      pages: layout.pages,
      mutableBytes: layout.stateEnd - layout.stateStart,
      regions: layout.regions,
      ...(layout.matrices ? { matrices: layout.matrices } : {}),
      exports: fw.exports,
    },
    golden,
    build: {
      wasmOpt: opts.wasmOpt ?? true,
      features: 'mvp+sign-ext',
      ...(engine === 'f32' ? {} : { profile: opts.profile ?? false, kernel: typeof opts.kernel === 'function' ? 'custom' : opts.kernel === 'auto' ? `auto (${opts.board?.name ?? 'stm32f767'}, ${opts.mode ?? 'wamr-aot'})` : opts.kernel ?? 'csr' }),
    },
  };
}

/** f32 firmware of a float model. */
export function compileModel(model: Model, opts: CompileOptions = {}): Firmware {
  const { steps, seed } = goldenSteps(opts);
  const tolerance = opts.tolerance ?? DEFAULT_TOLERANCE;
  checkSma(model); // before the reference runs it
  const golden = goldenVectors(model, steps, seed, tolerance);
  const layout = layoutF32(model, golden, engineDataEnd(loadEngine('f32').module));
  const fw = finish('f32', layout, opts);
  return { wasm: fw.wasm, manifest: manifestFor('f32', model, describeModel(model), layout, fw, { steps, seed, tolerance }, opts) };
}

/** Integer golden vectors: N(0, 1) inputs quantized to the model's input format, outputs from the integer reference. */
export function intGoldenVectors(q: QuantModel, steps: number, seed: number): IntGoldenVectors {
  const rng = makeRng(seed);
  const inputs = new Int16Array(steps * q.config.d_in);
  for (let i = 0; i < inputs.length; i++) inputs[i] = quantizeInput(rng.normal(), q.inputFrac);
  return { steps, inputs, outputs: runInt(q, inputs, steps) };
}

/** A per-matrix chooser from --kernel (auto: the cost model for opts.board in opts.mode, default STM32F767 / WAMR AOT). */
export function resolveKernel(q: QuantModel, opts: Pick<CompileOptions, 'kernel' | 'board' | 'mode'>): (name: string, m: QMatrix) => KernelStrategy {
  const k = opts.kernel ?? 'csr';
  if (typeof k === 'function') return k;
  if (k !== 'auto') return () => k;
  const board = opts.board ?? loadBoard('stm32f767');
  const choice = chooseKernels(q, board, opts.mode ?? 'wamr-aot', mutableBytesOf(q));
  return (name) => choice.get(name) ?? 'csr';
}

/** Integer (w8a16) firmware of a quantized model: bit-exact with host/reference/int.ts. */
export function compileQuantModel(q: QuantModel, opts: CompileOptions = {}): Firmware {
  const { steps, seed } = goldenSteps(opts);
  checkSmaI16(q); // before the reference runs it
  const golden = intGoldenVectors(q, steps, seed);
  const engine: EngineName = opts.profile ? 'i16-profile' : 'i16';
  const kernel = resolveKernel(q, opts);
  const layout = layoutI16(q, golden, engineDataEnd(loadEngine(engine).module), {
    format: opts.format ?? 'auto',
    kernel: typeof kernel === 'function' ? kernel : () => kernel,
    profile: opts.profile,
  });
  const fw = finish(engine, layout, opts);
  return { wasm: fw.wasm, manifest: manifestFor('i16', q, describeQuantModel(q), layout, fw, { steps, seed, tolerance: 0 }, opts) };
}
