/**
 * @jest-environment ./tests/helpers/ort_environment.js
 */
// `sparrow bench` end to end on tiny models: what it measures, what it estimates (checked
// against the board figures by hand), the fit advice, the target verdicts on a hand-built
// report, the three renderings, and the CLI's errors and skip notes. No timing is asserted.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BenchReport, runBench, sweepModels } from '../../host/bench/bench';
import { boardsDir, loadBoard, parseBoard } from '../../host/bench/boards';
import { keepLargest, prunedForEstimate } from '../../host/bench/advice';
import { EMPTY_STEP_WASM } from '../../host/bench/empty_step';
import { benchStep } from '../../host/bench/host_bench';
import { benchHtml, benchMarkdown, benchText } from '../../host/bench/report';
import { checkTargets } from '../../host/bench/targets';
import { compileQuantModel } from '../../host/compile/compile';
import { QMatrix } from '../../host/model/quant';
import { serializeModel } from '../../host/model/model';
import { randomModel } from '../../host/model/random';

const CLI = path.join(__dirname, '..', '..', 'dist', 'sparrow.cjs');
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-bench-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function sparrow(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: dir, env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the empty-step firmware is a valid module with a fixed one-page memory and an empty step', () => {
  const m = new WebAssembly.Module(EMPTY_STEP_WASM); // throws on an invalid module
  expect(WebAssembly.Module.imports(m)).toEqual([]);
  expect(WebAssembly.Module.exports(m).map((e) => `${e.name}:${e.kind}`).sort()).toEqual(['memory:memory', 'step:function']);
});

test('benchStep reports ordered percentiles, and compute = step p50 − empty-step p50', () => {
  const [bm] = sweepModels([0.5], { dModel: 8, dState: 8, layers: 1 });
  const t = benchStep(compileQuantModel(bm.quant, { wasmOpt: false }).wasm, 300, 30);
  expect(t.step.samples).toBe(300);
  expect(t.step.p50Us).toBeLessThanOrEqual(t.step.p90Us);
  expect(t.step.p90Us).toBeLessThanOrEqual(t.step.p99Us);
  expect(t.overhead.p50Us).toBeGreaterThan(0);
  expect(t.computeP50Us).toBeCloseTo(Math.max(0, t.step.p50Us - t.overhead.p50Us), 9);
});

describe('runBench on a two-model sweep', () => {
  let r: BenchReport;
  const rate = 8000;
  beforeAll(async () => {
    const models = sweepModels([0, 0.8], { dModel: 12, dState: 10, layers: 1, dIn: 2, dOut: 3 });
    r = await runBench(models, { steps: 200, warmup: 20, boards: [loadBoard('stm32l476'), loadBoard('rp2040')], rateHz: rate, isa: true, wasmOpt: false });
  }, 300_000);

  test('measures every engine and kernel, both peers, and counts instructions per Arm core', () => {
    for (const m of ['random s=0', 'random s=0.8']) {
      expect(r.host.filter((h) => h.model === m).map((h) => `${h.engine} ${h.kernel}`).sort()).toEqual(['f32 csr', 'f32 dense', 'int csr', 'int dense', 'int unrolled']);
      expect(r.peers.filter((p) => p.model === m).map((p) => `${p.peer} ${p.kernel}`).sort()).toEqual(['native-c csr', 'native-c unrolled', 'onnxruntime dense-float']);
      expect(r.isa.filter((i) => i.model === m).map((i) => `${i.core} ${i.kernel}`).sort()).toEqual(['cortex-m0plus csr', 'cortex-m0plus unrolled', 'cortex-m4f csr', 'cortex-m4f unrolled']);
    }
    for (const p of r.peers) expect(p.p50Us).toBeGreaterThan(0);
    // MACs/step of the dense model by hand: matrices H·d_in + 4·P·H + d_out·H, plus per layer 2H + 4P.
    expect(r.models[0].macsPerStep).toBeLessThanOrEqual(12 * 2 + 4 * 10 * 12 + 3 * 12 + 2 * 12 + 4 * 10);
    expect(r.models[1].sparsity).toBeGreaterThan(0.75);
  });

  test('per-board energy, load and fit follow from the time and the board file', () => {
    const boards = { stm32l476: loadBoard('stm32l476'), rp2040: loadBoard('rp2040') };
    for (const b of r.boards) {
      const board = boards[b.board as keyof typeof boards];
      // µJ = µs × (µA/MHz × MHz) × V × 1e-6
      expect(b.uJPerStep).toBeCloseTo(b.usPerStep * board.activeCurrentUAPerMHz * board.clockMHz * board.voltage * 1e-6, 9);
      // load = step time / sample period
      expect(b.loadPct).toBeCloseTo((b.usPerStep / (1e6 / rate)) * 100, 9);
      expect(b.fits).toBe(b.flashBytes <= board.flashBytes && b.ramBytes <= board.ramBytes);
    }
    // Every model × board × mode has an auto row.
    expect(r.boards.filter((b) => b.kernel === 'auto')).toHaveLength(2 * 2 * 4);
  });

  test('renders as text, Markdown and a self-contained HTML page with SVG charts', () => {
    const text = benchText(r);
    for (const s of ['Host step latency, measured', 'Peers, measured', 'Per board, --kernel auto, estimated', 'Arm instruction counts', 'Targets']) expect(text).toContain(s);
    const md = benchMarkdown(r, 'sparrow bench test');
    expect(md).toContain('`sparrow bench test`');
    expect(md).toContain(r.machine);
    const html = benchHtml(r);
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    // latency-vs-sparsity, and per model µs, µJ, RAM and flash charts
    expect(html.match(/<svg /g)).toHaveLength(1 + 2 * 4);
    expect(html).not.toMatch(/<script|src="http|href="http/);
    expect(html).toContain('ideal: dense × (1 − s)');
  });
});

test('a model that does not fit gets the shortfall and advice on what would fit', async () => {
  const tiny = { ...JSON.parse(fs.readFileSync(path.join(boardsDir(), 'stm32l476.json'), 'utf8')), name: 'tiny', title: 'tiny test board', ramBytes: 140 * 1024 };
  const file = path.join(dir, 'tiny.json');
  fs.writeFileSync(file, JSON.stringify(tiny));
  const models = sweepModels([0], { dModel: 96, dState: 96, layers: 2 });
  const r = await runBench(models, { steps: 100, warmup: 10, boards: [parseBoard(fs.readFileSync(file, 'utf8'), file), loadBoard('stm32f767')], modes: ['wamr-fast'], peers: { c: false, onnx: false }, wasmOpt: false });
  const row = r.boards.find((b) => b.board === 'tiny' && b.kernel === 'auto')!;
  expect(row.fits).toBe(false);
  expect(row.problems.join()).toMatch(/RAM \d+ KiB > 140 KiB by \d+ KiB/);
  expect(row.advice).toMatch(/fits stm32f767 in wamr-fast/);
  expect(row.advice).toMatch(/at ≥ \d+(\.\d)?% sparsity it would fit tiny/);
});

test('keepLargest keeps the largest real magnitudes (int8 × 2^−rowFrac), in row order', () => {
  // Row 0 frac 0: [4, −1, 0]; row 1 frac 2: [8, 0, −12] = [2, 0, −3] real.
  const m: QMatrix = { kind: 'dense', rows: 2, cols: 3, values: Int8Array.of(4, -1, 0, 8, 0, -12), rowFrac: Int8Array.of(0, 2) };
  const k = keepLargest(m, 2);
  expect(Array.from(k.indptr!)).toEqual([0, 1, 2]);
  expect(Array.from(k.indices!)).toEqual([0, 2]);
  expect(Array.from(k.values)).toEqual([4, -12]);
  const [bm] = sweepModels([0], { dModel: 10, dState: 10, layers: 1 });
  const p = prunedForEstimate(bm.quant, 0.9);
  expect(p.layers[0].B_re.indptr![10]).toBe(10); // round(0.1 · 100)
});

test('target verdicts on a hand-built report', () => {
  const timing = (p50: number, compute: number) => ({ step: { samples: 1, p50Us: p50, p90Us: p50, p99Us: p50, meanUs: p50 }, overhead: { samples: 1, p50Us: p50 - compute, p90Us: 0, p99Us: 0, meanUs: 0 }, computeP50Us: compute });
  const config = { d_in: 8, d_model: 128, d_state: 128, d_out: 8, n_layers: 4, act: 'gelu' as const, encoder_act: 'none' as const, gate: false };
  const host = (kernel: 'dense' | 'csr' | 'unrolled', p50: number) => ({ model: 'm', engine: 'int' as const, kernel, wasmBytes: 0, linearMemoryBytes: 0, compileMs: 0, timing: timing(p50, p50 - 0.1), nsPerMac: 0 });
  const r: BenchReport = {
    date: '', machine: '', node: '', steps: 1, warmup: 0, boardBudgets: {}, notes: [], isa: [],
    // 1,000 synaptic ops per step at 9,990 steps/s = 9.99 M/s: just short of 10 M/s.
    emulator: [{ model: 'm', chip: 'loihi2', threshold: 0, steps: 100, synOpsPerStep: 1000, synOpsPerSecond: 9.99e6, stepsPerSecond: 9990 }],
    models: [{ label: 'm', source: '', config, sparsity: 0.9, matrixNonzeros: 0, macsPerStep: 0, notes: [] }],
    // compute: dense 140, csr 30, unrolled 19.8 → 7.07× ≥ 0.7 × 10× (met).
    host: [host('dense', 140.1), host('csr', 30.1), host('unrolled', 19.9)],
    peers: [
      { model: 'm', peer: 'native-c', kernel: 'unrolled', p50Us: 13.2, p90Us: 0, p99Us: 0, meanUs: 0, overheadUs: 0, detail: '' },
      { model: 'm', peer: 'onnxruntime', kernel: 'dense-float', p50Us: 99, p90Us: 0, p99Us: 0, meanUs: 0, overheadUs: 0, detail: '' },
    ],
    boards: [],
  };
  const t = Object.fromEntries(checkTargets(r).map((x) => [x.target.slice(0, 12), x]));
  expect(t['Node step ≤ '].met).toBe(false); // 19.9 / 13.2 = 1.508
  expect(t['sparse speed'].met).toBe(true);
  expect(t['≥ 5× faster '].met).toBe(false); // 99 / 19.9 = 4.97
  expect(t['neuromorphic'].met).toBe(false);
  r.peers[0].p50Us = 13.3; // 1.496
  r.emulator[0].synOpsPerSecond = 10e6;
  expect(checkTargets(r).find((x) => x.target.startsWith('Node'))!.met).toBe(true);
  expect(checkTargets(r).find((x) => x.target.startsWith('neuromorphic'))!.met).toBe(true);
});

describe('the bench command', () => {
  test('unknown board, bad board file, bad sparsities and a missing model: one line each, non-zero exit', () => {
    const unknown = sparrow(['bench', '--boards', 'nosuch', '--steps', '100']);
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr.trim().split('\n')).toEqual([expect.stringMatching(/unknown board "nosuch"; known boards: esp32s3, nrf52840, rp2040, stm32f767, stm32l476/)]);
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ ...JSON.parse(fs.readFileSync(path.join(boardsDir(), 'rp2040.json'), 'utf8')), voltage: 'high' }));
    const badRun = sparrow(['bench', '--boards', bad]);
    expect(badRun.status).not.toBe(0);
    expect(badRun.stderr.trim().split('\n')).toEqual([expect.stringMatching(/bad\.json: voltage: /)]);
    expect(sparrow(['bench', '--sparsities', '0.5,1']).stderr).toMatch(/^sparrow: --sparsities: each must be a number in \[0, 1\)/);
    const missing = sparrow(['bench', 'nope.safetensors']);
    expect(missing.stderr.trim()).toMatch(/^sparrow: nope\.safetensors: cannot read \(ENOENT\)$/);
  });

  test('a model file with no C compiler or QEMU on the PATH: those columns become notes, the report is still written', () => {
    fs.writeFileSync(path.join(dir, 'm.safetensors'), serializeModel(randomModel({ d_in: 1, d_model: 8, d_state: 8, d_out: 1, n_layers: 1, act: 'relu', encoder_act: 'none', gate: true, sparsity: 0.5, seed: 3 })));
    const r = sparrow(['bench', 'm.safetensors', '--boards', 'rp2040', '--steps', '100', '--warmup', '10', '--isa', '--no-wasm-opt', '--json', 'r.json', '--html', 'r.html'], { ...process.env, PATH: path.join(dir, 'empty-path'), CC: '' });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('note: native C peer skipped: no C compiler');
    expect(r.stdout).toContain('note: instruction counts skipped: arm-none-eabi-gcc not installed');
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'r.json'), 'utf8')) as BenchReport;
    expect(json.models[0].notes.join()).toMatch(/quantized for the bench/);
    expect(json.peers.map((p) => p.peer)).toEqual(['onnxruntime']);
    // The emulator's speed, exact and sigma-delta, on the model's own synapse count.
    expect(json.emulator.map((e) => e.threshold)).toEqual([0, 16]);
    expect(json.emulator[0].synOpsPerSecond).toBeCloseTo(json.emulator[0].synOpsPerStep * json.emulator[0].stepsPerSecond, 0);
    expect(fs.readFileSync(path.join(dir, 'r.html'), 'utf8')).toContain('<svg ');
  });
});
