// ============================================================================
// Cost model: estimated instructions, cycles, time, energy and memory of one
// step of an integer model on a board, per execution mode and kernel strategy.
//
//   instructions = Σ feature × weight, with the features counted from the model
//     (stored nonzeros and rows of table-driven mat-vecs, nonzeros and rows of
//     weights-in-code mat-vecs, elementwise work, LUT lookups) and the weights
//     fitted to QEMU instruction counts of the C target (sparrow bench --isa)
//     on a calibration set of random models, per ISA (Thumb-2, Thumb-1);
//   cycles = instructions × the board's average cycles per instruction of the
//     class mix × the execution mode's factor (native 1; WAMR AOT, fast and
//     classic interpreter figures below, each with its source);
//   energy = cycles / f × active current × voltage.
// Every output is an estimate and is labelled so; docs/benchmarks.md compares
// the instruction estimate with QEMU's count.
//
// SMA: a layer's gate runs only on the steps its decision is on, so the gate's
// features (its mat-vec, sigmoid lookups and products) are data-dependent. The
// estimate counts them at the share `gateRan` of layer-steps on, default 1:
// every gate running, the worst case, which is what a step's deadline and a
// board's fit must allow for. The decision itself (a dense int8 row of H
// weights per layer, as the firmware stores it) runs every step.
// ============================================================================

import { QMatrix, QuantModel } from '../model/quant';
import { KernelStrategy } from '../compile/layout_i16';
import { Board } from './boards';

export const EXECUTION_MODES = ['native', 'wamr-aot', 'wamr-fast', 'wamr-classic'] as const;
export type ExecutionMode = (typeof EXECUTION_MODES)[number];

/** Work of one step that the instruction estimate is linear in. */
export interface Features {
  tableNnz: number;
  tableRows: number;
  denseWeights: number;
  codeNnz: number;
  codeRows: number;
  elemH: number;
  elemP: number;
  lut: number;
}

export const FEATURE_NAMES: (keyof Features)[] = ['tableNnz', 'tableRows', 'denseWeights', 'codeNnz', 'codeRows', 'elemH', 'elemP', 'lut'];

function nonzeros(m: QMatrix): number {
  let n = 0;
  for (const v of m.values) if (v !== 0) n++;
  return n;
}

export type KernelChoice = (name: string, m: QMatrix) => KernelStrategy;

/**
 * Every weight matrix with a kernel choice, with its name, in step order. SMA's decision row
 * is not among them: the firmware stores it as a plain dense row (counted in stepFeatures).
 */
export function matricesOf(q: QuantModel): { name: string; m: QMatrix; x: 'in' | 'H' | 'P' }[] {
  const out: { name: string; m: QMatrix; x: 'in' | 'H' | 'P' }[] = [{ name: 'encoder.weight', m: q.encoderWeight, x: 'in' }];
  q.layers.forEach((L, i) => {
    out.push({ name: `layers.${i}.ssm.B_re`, m: L.B_re, x: 'H' }, { name: `layers.${i}.ssm.B_im`, m: L.B_im, x: 'H' });
    out.push({ name: `layers.${i}.ssm.C_re`, m: L.C_re, x: 'P' }, { name: `layers.${i}.ssm.C_im`, m: L.C_im, x: 'P' });
    if (L.gateWeight) out.push({ name: `layers.${i}.gate.weight`, m: L.gateWeight, x: 'H' });
  });
  out.push({ name: 'decoder.weight', m: q.decoderWeight, x: 'H' });
  return out;
}

/** Features of one matrix under a strategy (the C target: dense matrices use the dense kernel, sparse ones CSR). */
export function matrixFeatures(m: QMatrix, k: KernelStrategy): Partial<Features> {
  if (k === 'unrolled') return { codeNnz: nonzeros(m), codeRows: m.rows };
  if (m.kind === 'dense') return { denseWeights: m.rows * m.cols, tableRows: m.rows };
  return { tableNnz: m.indptr![m.rows], tableRows: m.rows };
}

/**
 * Features of one step. `gateRan` (SMA models only, 0…1, default 1) is the share of
 * layer-steps whose gate runs: the gate's features are counted at that share.
 */
export function stepFeatures(q: QuantModel, choose: KernelChoice, opts: { gateRan?: number } = {}): Features {
  const { d_model: H, d_state: P, d_out, n_layers: L, gate, act } = q.config;
  const sma = !!q.config.sma;
  const gateRan = sma ? opts.gateRan ?? 1 : 1;
  if (!(gateRan >= 0 && gateRan <= 1)) throw new RangeError(`stepFeatures: gateRan must be in [0, 1], got ${gateRan}`);
  const f: Features = { tableNnz: 0, tableRows: 0, denseWeights: 0, codeNnz: 0, codeRows: 0, elemH: 0, elemP: 0, lut: 0 };
  for (const { name, m } of matricesOf(q)) {
    const mf = matrixFeatures(m, choose(name, m));
    const share = name.endsWith('.gate.weight') ? gateRan : 1;
    for (const key of FEATURE_NAMES) f[key] += share * (mf[key] ?? 0);
  }
  if (sma) {
    // The decision: one dense row of H int8 weights per layer, every step.
    f.denseWeights += L * H;
    f.tableRows += L;
  }
  // Per layer: norm, y, residual (3H) and the gate's product (H, when it runs).
  f.elemH = H + L * H * (3 + (gate ? gateRan : 0)) + d_out;
  f.elemP = L * P;
  f.lut = L * H * ((act === 'gelu' ? 1 : 0) + (gate ? gateRan : 0));
  return f;
}

// ---------------------------------------------------------------------------
// Instruction weights per ISA, fitted by least squares to QEMU instruction
// counts of the C target (arm-none-eabi-gcc 12.2 -O2) on 14 random models
// (H, P 8–128, 1–3 layers, sparsity 0–0.95, gate and GELU on and off), both
// strategies. Refit with calibrateIsa() in host/bench/qemu.ts; tests/bench/cost.test.ts checks
// the estimate against QEMU on models outside the calibration set.
// ---------------------------------------------------------------------------

export type Isa = 'thumb2' | 'thumb1' | 'xtensa';

// Fitted 2026-11-24: Cortex-M4 on mps2-an386 (24 runs, worst in-sample error 5.1%), Cortex-M0 on microbit (28 runs, 3.6%).
const THUMB2: Features = { tableNnz: 7.68, tableRows: 37.58, denseWeights: 5.08, codeNnz: 2.57, codeRows: 26, elemH: 16.07, elemP: 60.18, lut: 10.52 };
const THUMB1: Features = { tableNnz: 16.36, tableRows: 66.75, denseWeights: 9.8, codeNnz: 5.95, codeRows: 51.55, elemH: 32.86, elemP: 121.26, lut: 22.64 };

export const INSTRUCTION_WEIGHTS: Record<'thumb2' | 'thumb1', Features> = {
  thumb2: THUMB2,
  thumb1: THUMB1,
};

/** Least-squares weights (relative error, so small and large models count alike) of instructions ≈ Σ feature × weight. */
export function fitInstructionWeights(samples: { features: Features; instructions: number }[]): Features {
  const n = FEATURE_NAMES.length;
  const A = Array.from({ length: n }, () => new Float64Array(n));
  const y = new Float64Array(n);
  for (const s of samples) {
    const x = FEATURE_NAMES.map((k) => s.features[k] / s.instructions);
    for (let i = 0; i < n; i++) {
      y[i] += x[i];
      for (let j = 0; j < n; j++) A[i][j] += x[i] * x[j];
    }
  }
  for (let i = 0; i < n; i++) A[i][i] += 1e-9; // a feature absent from every sample gets weight 0
  // Gaussian elimination with partial pivoting.
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(A[r][c]) > Math.abs(A[p][c])) p = r;
    [A[c], A[p]] = [A[p], A[c]];
    [y[c], y[p]] = [y[p], y[c]];
    for (let r = c + 1; r < n; r++) {
      const f = A[r][c] / A[c][c];
      for (let k = c; k < n; k++) A[r][k] -= f * A[c][k];
      y[r] -= f * y[c];
    }
  }
  const w = new Float64Array(n);
  for (let r = n - 1; r >= 0; r--) {
    let s = y[r];
    for (let k = r + 1; k < n; k++) s -= A[r][k] * w[k];
    w[r] = s / A[r][r];
  }
  return Object.fromEntries(FEATURE_NAMES.map((k, i) => [k, Math.round(w[i] * 100) / 100])) as unknown as Features;
}

/** Xtensa LX7 has no QEMU machine here: the Thumb-2 fit stands in (a labelled assumption). */
function weightsFor(isa: Isa): Features {
  return isa === 'thumb1' ? INSTRUCTION_WEIGHTS.thumb1 : INSTRUCTION_WEIGHTS.thumb2;
}

export function estimateInstructions(f: Features, isa: Isa): number {
  const w = weightsFor(isa);
  let n = 0;
  for (const k of FEATURE_NAMES) n += f[k] * w[k];
  return n;
}

// ---------------------------------------------------------------------------
// Execution modes. Speed factors are cycles relative to native C on the same
// core. The interpreters' factors and memory figures were measured here on
// x86 with WAMR 646b5a9bc built for Linux (fast and classic interpreter,
// memory profiling on) running sparrow firmware of the 90%-sparse H = P = 128,
// 4-layer model, against the native C target (docs/benchmarks.md, "WAMR
// execution modes"); AOT's from the issue #5 calibration (no wamrc here).
// On a Cortex-M the interpreter's dispatch costs differ: these are estimates.
// ---------------------------------------------------------------------------

export interface ModeFigures {
  /** Cycles relative to native, for table-driven and weights-in-code kernels. */
  slowdown: { table: number; code: number };
  /** Runtime's own code in flash (bytes); 0 for native. */
  runtimeFlashBytes: number;
  /** Runtime's own RAM besides linear memory and code (module and instance structures, exec env with an 8 KiB stack). */
  runtimeRamBytes: number;
  /** RAM bytes per byte of wasm code the loader builds (the fast interpreter pre-decodes the code into RAM). */
  codeRamFactor: number;
  /** The whole module image sits in RAM: WAMR's interpreter loader may rewrite its input buffer, so it cannot stay in flash. */
  moduleInRam: boolean;
  sources: Record<string, string>;
}

const STACK = 8 * 1024; // the bundle's exec-env stack (sparrow bundle main.c)

export const MODES: Record<ExecutionMode, ModeFigures> = {
  native: { slowdown: { table: 1, code: 1 }, runtimeFlashBytes: 0, runtimeRamBytes: 0, codeRamFactor: 0, moduleInRam: false, sources: { slowdown: 'definition' } },
  'wamr-aot': {
    slowdown: { table: 1.6, code: 1.0 },
    runtimeFlashBytes: 29.4 * 1024,
    runtimeRamBytes: STACK + 6 * 1024,
    codeRamFactor: 0,
    moduleInRam: false,
    sources: {
      slowdown: 'issue #5 calibration on x86: CSR 21.7 µs AOT vs 13.6 µs C; weights in code 9.7 µs AOT, native C measured 9.5 µs on the same shape here (assumed equal)',
      runtimeFlashBytes: 'WAMR README, binary size of the AOT runtime (Cortex-M4F build): 29.4K',
      runtimeRamBytes: 'estimate: the 8 KiB stack + 6 KiB for module, instance and exec env (the interpreters measured 1.6 KiB instance + 5–6 KiB module structures)',
      moduleInRam: 'an AOT image compiled for execute-in-place (wamrc --xip) runs from flash',
    },
  },
  'wamr-fast': {
    slowdown: { table: 26.1, code: 21.0 },
    runtimeFlashBytes: 58.9 * 1024,
    runtimeRamBytes: STACK + 8 * 1024,
    codeRamFactor: 4.45,
    moduleInRam: true,
    sources: {
      slowdown: 'measured on x86: iwasm fast interpreter 381 µs (CSR) and 199 µs (weights in code) per step vs native C 14.6 and 9.5 µs',
      runtimeFlashBytes: 'WAMR README, fast interpreter binary size: 58.9K',
      runtimeRamBytes: 'measured (WAMR memory profiling): instance 1.6 KiB, module structures ~5 KiB, exec env 8.3 KiB with an 8 KiB stack; rounded up',
      codeRamFactor: 'measured: module memory grew by 4.45 bytes per byte of code section (19.9 KB at 3.4 KB of code, 1,155 KB at 258 KB)',
      moduleInRam: 'wasm_export.h: the loader may modify the buffer it is given, so the host keeps a RAM copy (sparrow bundle main.c does)',
    },
  },
  'wamr-classic': {
    slowdown: { table: 62.3, code: 45.0 },
    runtimeFlashBytes: 56.3 * 1024,
    runtimeRamBytes: STACK + 11 * 1024,
    codeRamFactor: 0,
    moduleInRam: true,
    sources: {
      slowdown: 'measured on x86: iwasm classic interpreter 910 µs (CSR) and 426 µs (weights in code) per step vs native C 14.6 and 9.5 µs',
      runtimeFlashBytes: 'WAMR README, classic interpreter binary size: 56.3K',
      runtimeRamBytes: 'measured (WAMR memory profiling): instance 1.6 KiB, module structures 3.6–6 KiB, exec env 11.1 KiB with an 8 KiB stack; rounded up',
      codeRamFactor: 'measured: module memory did not grow with the code section (3.6 KB at 258 KB of code): the classic interpreter runs the bytecode in place, from the RAM copy of the module',
      moduleInRam: 'wasm_export.h: the loader may modify the buffer it is given, so the host keeps a RAM copy (sparrow bundle main.c does)',
    },
  },
};

// ---------------------------------------------------------------------------
// Per-board estimate
// ---------------------------------------------------------------------------

/**
 * Bytes per nonzero of weights in code and per stored entry of a table, measured on the
 * 90%-sparse H = P = 128, 4-layer model (docs/benchmarks.md): the wasm code section grew by
 * 9.66 B per nonzero after wasm-opt, the Thumb-2 program (arm-none-eabi-gcc -O2) by 10.1 B.
 */
export const BYTES = { wasmCodePerNnz: 9.7, nativeCodePerNnz: 10.1, tablePerNnz: 3, tablePerRow: 4, engineCode: 4096 };

export interface BoardEstimate {
  board: string;
  mode: ExecutionMode;
  instructions: number;
  cycles: number;
  usPerStep: number;
  uJPerStep: number;
  flashBytes: number;
  ramBytes: number;
  fits: boolean;
  /** What does not fit, by how much. */
  problems: string[];
}

export interface MemoryInput {
  /** Firmware data that is not weights: state, scratch, io (bytes). */
  mutableBytes: number;
  /** Bytes of the compiled wasm firmware, when known (else estimated). */
  wasmBytes?: number;
  /** Linear memory of the firmware (whole 64 KiB pages). */
  linearMemoryBytes?: number;
}

function averageCpi(b: Board): number {
  const c = b.cyclesPerInstruction;
  // Instruction mix of sparrow's kernels read off the Thumb-2 disassembly of the C target (estimate).
  return 0.45 * c.alu + 0.12 * c.mul + 0.3 * c.load + 0.05 * c.store + 0.08 * c.branch;
}

/** Per-step estimate on a board; with SMA at the share `gateRan` of gates running (default 1, the worst case). */
export function estimateOnBoard(q: QuantModel, choose: KernelChoice, b: Board, mode: ExecutionMode, mem: MemoryInput, opts: { gateRan?: number } = {}): BoardEstimate {
  const work = stepFeatures(q, choose, opts);
  const instructions = estimateInstructions(work, b.isa);
  const m = MODES[mode];
  const codeShare = work.codeNnz / Math.max(1, work.codeNnz + work.tableNnz + work.denseWeights);
  const slowdown = m.slowdown.table * (1 - codeShare) + m.slowdown.code * codeShare;
  const cycles = instructions * averageCpi(b) * slowdown;
  const us = cycles / b.clockMHz;
  const uJ = (us * 1e-6) * (b.activeCurrentUAPerMHz * 1e-6 * b.clockMHz) * b.voltage * 1e6;
  // Bytes are what is stored: every gate, however often it runs.
  const f = opts.gateRan === undefined ? work : stepFeatures(q, choose);
  const tableBytes = BYTES.tablePerNnz * f.tableNnz + f.denseWeights + BYTES.tablePerRow * f.tableRows;
  let flash: number;
  let ram: number;
  if (mode === 'native') {
    flash = BYTES.engineCode + BYTES.nativeCodePerNnz * f.codeNnz + tableBytes;
    ram = mem.mutableBytes;
  } else {
    const code = BYTES.engineCode + BYTES.wasmCodePerNnz * f.codeNnz;
    const wasm = mem.wasmBytes ?? code + tableBytes;
    const linear = mem.linearMemoryBytes ?? 65536 * Math.ceil((tableBytes + mem.mutableBytes + 192) / 65536);
    flash = m.runtimeFlashBytes + wasm;
    ram = linear + m.runtimeRamBytes + m.codeRamFactor * code + (m.moduleInRam ? wasm : 0);
  }
  const problems: string[] = [];
  if (flash > b.flashBytes) problems.push(`flash ${Math.ceil(flash / 1024)} KiB > ${b.flashBytes / 1024} KiB by ${Math.ceil((flash - b.flashBytes) / 1024)} KiB`);
  if (ram > b.ramBytes) problems.push(`RAM ${Math.ceil(ram / 1024)} KiB > ${b.ramBytes / 1024} KiB by ${Math.ceil((ram - b.ramBytes) / 1024)} KiB`);
  return { board: b.name, mode, instructions, cycles, usPerStep: us, uJPerStep: uJ, flashBytes: flash, ramBytes: ram, fits: problems.length === 0, problems };
}

/**
 * `--kernel auto`: start table-driven everywhere, then move matrices to weights in code in
 * order of estimated cycles saved per extra byte, while the board's budget for the mode holds
 * and the generated code stays under a compile-time limit (MAX_CODE_NNZ nonzeros).
 */
export const MAX_CODE_NNZ = 200_000;

export function chooseKernels(q: QuantModel, b: Board, mode: ExecutionMode, mutableBytes: number): Map<string, KernelStrategy> {
  const w = weightsFor(b.isa);
  const m = MODES[mode];
  const choice = new Map<string, KernelStrategy>(matricesOf(q).map(({ name }) => [name, 'csr']));
  const gains = matricesOf(q)
    .map(({ name, m: mat }) => {
      const t = matrixFeatures(mat, 'csr');
      const c = matrixFeatures(mat, 'unrolled');
      const cost = (x: Partial<Features>, slow: number): number => FEATURE_NAMES.reduce((s, k) => s + (x[k] ?? 0) * w[k], 0) * slow;
      const saved = cost(t, m.slowdown.table) - cost(c, m.slowdown.code);
      const extra = (mode === 'native' ? BYTES.nativeCodePerNnz : BYTES.wasmCodePerNnz * (1 + m.codeRamFactor + (m.moduleInRam ? 1 : 0))) * (c.codeNnz ?? 0);
      return { name, saved, perByte: saved / Math.max(1, extra), nnz: c.codeNnz ?? 0 };
    })
    .filter((g) => g.saved > 0)
    .sort((a, b2) => b2.perByte - a.perByte);
  const est = (c: Map<string, KernelStrategy>): BoardEstimate => estimateOnBoard(q, (n) => c.get(n)!, b, mode, { mutableBytes });
  let codeNnz = 0;
  for (const g of gains) {
    if (codeNnz + g.nnz > MAX_CODE_NNZ) continue;
    // Weights in code also move bytes out of linear memory, so a move may be what makes the model fit at all.
    const before = est(choice);
    choice.set(g.name, 'unrolled');
    const after = est(choice);
    if (!after.fits && (before.fits || after.flashBytes + after.ramBytes >= before.flashBytes + before.ramBytes)) choice.set(g.name, 'csr');
    else codeNnz += g.nnz;
  }
  // The greedy walk can stop short of a fixed strategy; never return worse than the better fitting one.
  const fixed = (['csr', 'unrolled'] as const).map((k) => new Map(matricesOf(q).map(({ name }) => [name, k] as [string, KernelStrategy])));
  const candidates = [choice, ...fixed].filter((c) => [...c.values()].every((k) => k === 'csr') || codeNnzOf(q, c) <= MAX_CODE_NNZ);
  const fitting = candidates.map((c) => ({ c, e: est(c) })).filter((x) => x.e.fits);
  if (fitting.length === 0) return choice;
  return fitting.reduce((best, x) => (x.e.cycles < best.e.cycles ? x : best)).c;
}

function codeNnzOf(q: QuantModel, c: Map<string, KernelStrategy>): number {
  let n = 0;
  for (const { name, m } of matricesOf(q)) if (c.get(name) === 'unrolled') n += nonzeros(m);
  return n;
}

/** Mutable bytes of a model's firmware (io, scratch, state), as layout_i16.ts allocates them (to 16-byte alignment, ± 64 B). */
export function mutableBytesOf(q: QuantModel): number {
  const { d_in, d_out, d_model: H, d_state: P, n_layers: L } = q.config;
  return 2 * (d_in + d_out) + 10 * H + 8 * Math.max(H, P, d_out) + 4 * L * P + 64;
}
