// ============================================================================
// `sparrow bench`: every number a user picks a board, a sparsity and a kernel
// strategy from, in one report, each labelled measured or estimated.
//
//   measured on this host   Node step latency of the firmware per engine (int,
//                           f32) and kernel (own dense kernel, CSR, weights in
//                           code); peers: the native C target (gcc -O3
//                           -march=native) and ONNX Runtime on the float graph;
//                           Arm instruction counts of the C target on QEMU
//   estimated per board     µs and µJ per step, real-time load at --rate, and
//                           flash/RAM fit for each execution mode, from the
//                           cost model (cost.ts) fitted to those QEMU counts
//
// A column that cannot run here (no C compiler, no QEMU, no ONNX Runtime, a
// model too big for weights in code) becomes a note, never a crash.
// ============================================================================

import { DEFAULT_CHIP, loadChip } from '../emulator/chip';
import { emulate, prepareEmulation } from '../emulator/emulate';
import { buildNeuronGraph } from '../emulator/graph';
import { mapToChip } from '../emulator/mapping';
import { DEFAULT_SIGMA_DELTA_THRESHOLD } from '../emulator/report';
import * as path from 'path';
import { compileModel, compileQuantModel, Firmware } from '../compile/compile';
import { buildHostProgram, findCompiler, NativeTiming } from '../compile/c_build';
import { KernelStrategy } from '../compile/layout_i16';
import { quantizeModel } from '../compress/quantize';
import { dequantizeModel } from '../export/dequantize';
import { describeQuantModel } from '../model/describe';
import { mapWeightMatrices, toCsr, toDense } from '../model/model';
import { QuantModel } from '../model/quant';
import { readAnyModel } from '../model/quant_file';
import { randomModel } from '../model/random';
import { Matrix, Model } from '../model/types';
import { makeRng } from '../util/rng';
import { quantizeInput } from '../reference/int';
import { fitAdvice } from './advice';
import { Board } from './boards';
import { chooseKernels, estimateInstructions, estimateOnBoard, ExecutionMode, EXECUTION_MODES, MAX_CODE_NNZ, matricesOf, mutableBytesOf, stepFeatures } from './cost';
import { benchStep, machineDescription, StepTiming } from './host_bench';
import { benchOnnx, onnxPeerAvailable } from './peers/onnx';
import { QEMU_MACHINES, qemuTools, runIsa } from './qemu';
import { LatencyStats } from './timing';

// ---------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------

export interface BenchModel {
  label: string;
  /** Where it came from: a file path or the recipe of a generated model. */
  source: string;
  quant: QuantModel;
  /** The float model the f32 engine and ONNX Runtime run: the original, or the dequantized integer model. */
  float: Model;
  notes: string[];
}

function calibrationOf(d_in: number, seed: number) {
  const rng = makeRng(seed);
  return { sequences: [{ data: Float64Array.from({ length: 300 * d_in }, () => rng.normal()), T: 300 }] };
}

/** A model file, float or quantized; a float model is quantized here on 300 steps of N(0, 1) input. */
export function loadBenchModel(file: string): BenchModel {
  const m = readAnyModel(file);
  const label = path.basename(file).replace(/\.safetensors$/, '');
  if (m.kind === 'quantized') {
    return { label, source: file, quant: m.model, float: dequantizeModel(m.model), notes: ['f32 engine and ONNX Runtime run the dequantized integer model'] };
  }
  return { label, source: file, quant: quantizeModel(m.model, calibrationOf(m.model.config.d_in, 0)), float: m.model, notes: ['integer engine: quantized for the bench on 300 steps of N(0, 1) input'] };
}

export interface SweepShape {
  dModel: number;
  dState: number;
  layers: number;
  dIn?: number;
  dOut?: number;
}

/** The reference sweep (no model given): random GELU models of one shape at each sparsity, seed 1. */
export function sweepModels(sparsities: number[], shape: SweepShape): BenchModel[] {
  const d_in = shape.dIn ?? 8;
  const d_out = shape.dOut ?? 8;
  return sparsities.map((s) => {
    const float = randomModel({ d_in, d_model: shape.dModel, d_state: shape.dState, d_out, n_layers: shape.layers, act: 'gelu', encoder_act: 'none', gate: false, sparsity: s, seed: 1 });
    return {
      label: `random s=${s}`,
      source: `random, H = ${shape.dModel}, P = ${shape.dState}, ${shape.layers} layers, d_in = ${d_in}, d_out = ${d_out}, GELU, no gate, ${s * 100}% sparse, seed 1`,
      quant: quantizeModel(float, calibrationOf(d_in, 2)),
      float,
      notes: [],
    };
  });
}

// ---------------------------------------------------------------------------
// Report records
// ---------------------------------------------------------------------------

export interface ModelFacts {
  label: string;
  source: string;
  config: Model['config'];
  /** Fraction of zero weights over the weight matrices. */
  sparsity: number;
  matrixNonzeros: number;
  macsPerStep: number;
  notes: string[];
}

export type HostKernel = 'dense' | 'csr' | 'unrolled';

export interface HostRow {
  model: string;
  engine: 'int' | 'f32';
  /** dense: the engine's own dense kernel on every matrix; csr: table-driven sparse (u16 CSR); unrolled: weights in code. */
  kernel: HostKernel;
  wasmBytes: number;
  linearMemoryBytes: number;
  compileMs: number;
  timing: StepTiming;
  nsPerMac: number;
}

export interface PeerRow {
  model: string;
  peer: 'native-c' | 'onnxruntime';
  kernel: 'csr' | 'unrolled' | 'dense-float';
  p50Us: number;
  p90Us: number;
  p99Us: number;
  meanUs: number;
  /** Per-call cost measured apart (ONNX Runtime: a one-op graph; C: the timer's own floor). */
  overheadUs: number;
  detail: string;
}

export interface BoardRow {
  model: string;
  board: string;
  mode: ExecutionMode;
  kernel: 'csr' | 'unrolled' | 'auto';
  /** Matrices with weights in code of all matrices (auto's choice). */
  unrolledMatrices: number;
  matrices: number;
  instructions: number;
  usPerStep: number;
  uJPerStep: number;
  /** Share of the real-time budget at --rate (step time × rate), percent. */
  loadPct?: number;
  flashBytes: number;
  ramBytes: number;
  fits: boolean;
  problems: string[];
  advice?: string;
}

export interface IsaRow {
  model: string;
  board: string;
  core: string;
  machine: string;
  kernel: 'csr' | 'unrolled';
  measuredInstructions: number;
  estimatedInstructions: number;
  /** estimate / measured − 1. */
  error: number;
  flashBytes: number;
  ramBytes: number;
}

/** The neuromorphic emulator's own speed on a model (measured: synaptic ops emulated per wall-clock second, one core). */
export interface EmulatorRow {
  model: string;
  chip: string;
  threshold: number;
  steps: number;
  synOpsPerStep: number;
  synOpsPerSecond: number;
  stepsPerSecond: number;
}

export interface BenchReport {
  date: string;
  machine: string;
  node: string;
  steps: number;
  warmup: number;
  rateHz?: number;
  models: ModelFacts[];
  host: HostRow[];
  peers: PeerRow[];
  boards: BoardRow[];
  isa: IsaRow[];
  emulator: EmulatorRow[];
  /** RAM and flash of each board in the report (bytes), for the memory charts. */
  boardBudgets: Record<string, { ram: number; flash: number }>;
  /** What was skipped and why, and how things were measured. */
  notes: string[];
}

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

export interface BenchOptions {
  steps: number;
  warmup: number;
  boards: Board[];
  modes?: readonly ExecutionMode[];
  rateHz?: number;
  /** QEMU instruction counts of the C target per Arm core of the boards. */
  isa?: boolean;
  peers?: { c?: boolean; onnx?: boolean };
  /** Run wasm-opt on the measured firmware (what `compile` ships; default true). */
  wasmOpt?: boolean;
  /** Measure the neuromorphic emulator's speed on each model (default true). */
  emulator?: boolean;
  /** Weights in code in the native C build only up to this many nonzeros (gcc's time grows with straight-line code). */
  cUnrolledMaxNnz?: number;
  onProgress?: (label: string, done: number, total: number) => void;
}

/** ~25 s of gcc -O3 at 26k weights in code (docs/benchmarks.md): above this the native unrolled build is skipped. */
export const C_UNROLLED_MAX_NNZ = 40_000;

// ---------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------

function codeNnz(q: QuantModel): number {
  let n = 0;
  for (const { m } of matricesOf(q)) for (const v of m.values) if (v !== 0) n++;
  return n;
}

function factsOf(bm: BenchModel): ModelFacts {
  const d = describeQuantModel(bm.quant);
  const entries = matricesOf(bm.quant).reduce((a, { m }) => a + m.rows * m.cols, 0);
  const nnz = codeNnz(bm.quant);
  return { label: bm.label, source: bm.source, config: bm.quant.config, sparsity: entries === 0 ? 0 : 1 - nnz / entries, matrixNonzeros: nnz, macsPerStep: d.macsPerStep, notes: bm.notes };
}

interface Unit {
  label: string;
  run: () => Promise<void> | void;
}

/** Run the whole benchmark; `onProgress` sees each unit of work as it starts. */
export async function runBench(models: BenchModel[], opts: BenchOptions): Promise<BenchReport> {
  const modes = opts.modes ?? EXECUTION_MODES;
  const report: BenchReport = {
    date: new Date().toISOString().slice(0, 10),
    machine: machineDescription(),
    node: process.version,
    steps: opts.steps,
    warmup: opts.warmup,
    ...(opts.rateHz ? { rateHz: opts.rateHz } : {}),
    models: models.map(factsOf),
    host: [],
    peers: [],
    boards: [],
    isa: [],
    emulator: [],
    boardBudgets: Object.fromEntries(opts.boards.map((b) => [b.name, { ram: b.ramBytes, flash: b.flashBytes }])),
    notes: [],
  };
  const note = (n: string) => report.notes.includes(n) || report.notes.push(n);
  const cc = opts.peers?.c === false ? undefined : findCompiler();
  if (opts.peers?.c !== false && !cc) note('native C peer skipped: no C compiler (cc, gcc or clang) on the PATH');
  const onnx = opts.peers?.onnx === false ? undefined : onnxPeerAvailable();
  if (onnx && !onnx.ok) note(`ONNX Runtime peer skipped: ${onnx.note}`);
  const qemu = opts.isa ? qemuTools() : undefined;
  if (qemu && !qemu.ok) note(`instruction counts skipped: ${qemu.missing}`);
  const cMax = opts.cUnrolledMaxNnz ?? C_UNROLLED_MAX_NNZ;

  const units: Unit[] = [];
  for (const bm of models) {
    const facts = factsOf(bm);
    const firmware = new Map<string, Firmware>();
    const host = (engine: HostRow['engine'], kernel: HostKernel, build: () => Firmware): Unit => ({
      label: `${bm.label}: Node ${engine} ${kernel}`,
      run: () => {
        const t0 = performance.now();
        const fw = build();
        const compileMs = performance.now() - t0;
        firmware.set(`${engine} ${kernel}`, fw);
        const timing = benchStep(fw.wasm, opts.steps, opts.warmup);
        report.host.push({ model: bm.label, engine, kernel, wasmBytes: fw.wasm.length, linearMemoryBytes: fw.manifest.firmware.linearMemoryBytes, compileMs, timing, nsPerMac: (timing.computeP50Us * 1000) / facts.macsPerStep });
      },
    });
    const wasmOpt = opts.wasmOpt ?? true;
    units.push(host('int', 'dense', () => compileQuantModel(bm.quant, { wasmOpt, format: 'dense' })));
    units.push(host('int', 'csr', () => compileQuantModel(bm.quant, { wasmOpt, format: 'csr16' })));
    if (facts.matrixNonzeros <= MAX_CODE_NNZ) units.push(host('int', 'unrolled', () => compileQuantModel(bm.quant, { wasmOpt, kernel: 'unrolled', format: 'csr16' })));
    else note(`${bm.label}: weights in code skipped (${facts.matrixNonzeros.toLocaleString('en-US')} nonzeros > the ${MAX_CODE_NNZ.toLocaleString('en-US')} compile-time cap)`);
    units.push(host('f32', 'dense', () => compileModel(mapWeightMatrices<Matrix, Model>(bm.float, toDense), { wasmOpt })));
    units.push(host('f32', 'csr', () => compileModel(mapWeightMatrices<Matrix, Model>(bm.float, toCsr), { wasmOpt })));

    if (cc) {
      for (const kernel of ['csr', 'unrolled'] as const) {
        if (kernel === 'unrolled' && facts.matrixNonzeros > cMax) {
          note(`${bm.label}: native C with weights in code skipped (${facts.matrixNonzeros.toLocaleString('en-US')} nonzeros > ${cMax.toLocaleString('en-US')}: gcc's time grows with straight-line code)`);
          continue;
        }
        units.push({
          label: `${bm.label}: native C ${kernel} (${cc} -O3 -march=native)`,
          run: () => {
            const prog = buildHostProgram(bm.quant, { kernel })!;
            try {
              const t: NativeTiming = prog.bench(opts.steps);
              report.peers.push({ model: bm.label, peer: 'native-c', kernel, p50Us: t.p50Us, p90Us: t.p90Us, p99Us: t.p99Us, meanUs: t.meanUs, overheadUs: t.timerUs, detail: `${cc} ${t.flags.join(' ')}, each step timed alone with clock_gettime` });
            } finally {
              prog.dispose();
            }
          },
        });
      }
    }
    if (onnx?.ok) {
      units.push({
        label: `${bm.label}: ONNX Runtime (float32, dense)`,
        run: async () => {
          const r = await benchOnnx(bm.float, opts.steps, opts.warmup);
          const s: LatencyStats = r.step;
          report.peers.push({ model: bm.label, peer: 'onnxruntime', kernel: 'dense-float', p50Us: s.p50Us, p90Us: s.p90Us, p99Us: s.p99Us, meanUs: s.meanUs, overheadUs: r.overhead.p50Us, detail: `onnxruntime-node, CPU, ${r.intraOpThreads} intra-op thread, float32 step graph (sparrow export-onnx), states fed back` });
        },
      });
    }
    if (opts.emulator !== false) {
      units.push({ label: `${bm.label}: neuromorphic emulator (${DEFAULT_CHIP})`, run: () => void report.emulator.push(...benchEmulator(bm, Math.min(opts.steps, EMULATOR_STEPS))) });
    }
    units.push({
      label: `${bm.label}: board estimates`,
      run: () => estimateBoards(bm, facts, firmware, opts.boards, modes, opts.rateHz, report.boards),
    });
    if (qemu?.ok) {
      const cores = [...new Set(opts.boards.map((b) => b.core))].filter((c) => QEMU_MACHINES[c]);
      for (const b of opts.boards) if (!QEMU_MACHINES[b.core]) note(`instruction counts: no QEMU machine for ${b.name}'s ${b.core}; its estimate borrows the ${b.isa === 'xtensa' ? 'Thumb-2' : b.isa} weights`);
      for (const core of cores) {
        const board = opts.boards.find((b) => b.core === core)!;
        for (const kernel of ['csr', 'unrolled'] as const) {
          if (kernel === 'unrolled' && facts.matrixNonzeros > cMax) continue;
          units.push({
            label: `${bm.label}: QEMU ${QEMU_MACHINES[core].machine} (${core}) ${kernel}`,
            run: () => {
              const estimated = estimateInstructions(stepFeatures(bm.quant, () => kernel), board.isa);
              const steps = Math.max(2, Math.min(20, Math.ceil(2e6 / estimated)));
              try {
                const r = runIsa(bm.quant, core, kernel, steps);
                report.isa.push({ model: bm.label, board: board.name, core, machine: r.machine, kernel, measuredInstructions: r.instructionsPerStep, estimatedInstructions: estimated, error: estimated / r.instructionsPerStep - 1, flashBytes: r.flashBytes, ramBytes: r.ramBytes });
              } catch (e) {
                note(`${bm.label}: QEMU ${core} ${kernel} did not run: ${(e as Error).message.split('\n')[0]}`);
              }
            },
          });
        }
      }
    }
  }
  for (let i = 0; i < units.length; i++) {
    opts.onProgress?.(units[i].label, i, units.length);
    await units[i].run();
  }
  opts.onProgress?.('done', units.length, units.length);
  return report;
}

/** Steps of each emulator run (after EMULATOR_WARMUP): a few seconds per model at H = P = 128. */
export const EMULATOR_STEPS = 2000;
const EMULATOR_WARMUP = 200;

/**
 * The emulator's speed on the sparse model at threshold 0 (exact) and with sigma-delta (T = 16):
 * synaptic ops of the run over the wall-clock of its step loop. A model larger than the chip
 * runs without per-core limits (the speed is the point here, not the fit).
 */
function benchEmulator(bm: BenchModel, steps: number): EmulatorRow[] {
  const chip = loadChip(DEFAULT_CHIP);
  const graph = buildNeuronGraph(bm.quant);
  const program = prepareEmulation(graph, mapToChip(graph, chip, { ignoreLimits: true }));
  const rng = makeRng(7);
  const x = Int16Array.from({ length: (steps + EMULATOR_WARMUP) * bm.quant.config.d_in }, () => quantizeInput(rng.normal(), bm.quant.inputFrac));
  return [0, DEFAULT_SIGMA_DELTA_THRESHOLD].map((threshold) => {
    emulate(program, x.subarray(0, EMULATOR_WARMUP * bm.quant.config.d_in), EMULATOR_WARMUP, { threshold });
    const r = emulate(program, x.subarray(EMULATOR_WARMUP * bm.quant.config.d_in), steps, { threshold });
    return { model: bm.label, chip: chip.name, threshold, steps, synOpsPerStep: r.perStep.synOps, synOpsPerSecond: (r.perStep.synOps * steps) / r.hostSeconds, stepsPerSecond: steps / r.hostSeconds };
  });
}

function estimateBoards(bm: BenchModel, facts: ModelFacts, firmware: Map<string, Firmware>, boards: Board[], modes: readonly ExecutionMode[], rateHz: number | undefined, out: BoardRow[]): void {
  const q = bm.quant;
  const mut = mutableBytesOf(q);
  const names = matricesOf(q).map((x) => x.name);
  for (const b of boards) {
    for (const mode of modes) {
      const kernels: ['csr' | 'unrolled' | 'auto', (n: string) => KernelStrategy, Firmware | undefined][] = [
        ['csr', () => 'csr', firmware.get('int csr')],
        ...(facts.matrixNonzeros <= MAX_CODE_NNZ ? [['unrolled', () => 'unrolled', firmware.get('int unrolled')] as ['unrolled', () => KernelStrategy, Firmware | undefined]] : []),
      ];
      const auto = chooseKernels(q, b, mode, mut);
      kernels.push(['auto', (n) => auto.get(n) ?? 'csr', undefined]);
      for (const [kernel, choose, fw] of kernels) {
        // The measured firmware's size and pages where we built it; auto's per-board build is estimated.
        const mem = { mutableBytes: fw?.manifest.firmware.mutableBytes ?? mut, wasmBytes: fw?.wasm.length, linearMemoryBytes: fw?.manifest.firmware.linearMemoryBytes };
        const e = estimateOnBoard(q, choose, b, mode, mem);
        const row: BoardRow = {
          model: bm.label, board: b.name, mode, kernel,
          unrolledMatrices: names.filter((n) => choose(n) === 'unrolled').length, matrices: names.length,
          instructions: e.instructions, usPerStep: e.usPerStep, uJPerStep: e.uJPerStep,
          ...(rateHz ? { loadPct: e.usPerStep * rateHz * 1e-4 } : {}),
          flashBytes: e.flashBytes, ramBytes: e.ramBytes, fits: e.fits, problems: e.problems,
        };
        if (kernel === 'auto' && !e.fits) row.advice = fitAdvice(q, b, mode, boards);
        out.push(row);
      }
    }
  }
}
