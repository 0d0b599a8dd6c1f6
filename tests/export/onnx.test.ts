/**
 * @jest-environment ./tests/helpers/ort_environment.js
 */
// ONNX export run by onnxruntime-node against the float64 reference; the
// dequantized model against the quantizer's inputs and the integer reference;
// `sparrow export-onnx` through a Command built with addExportOnnxCommand.

import { Command } from 'commander';
import * as fs from 'fs';
import { onnx } from 'onnx-proto';
import * as os from 'os';
import * as path from 'path';
import { benchOnnx, onnxPeerAvailable, runOnnx } from '../../host/bench/peers/onnx';
import { addExportOnnxCommand } from '../../host/cli/export_onnx';
import { quantizeModel } from '../../host/compress/quantize';
import { dequantizeModel, exportOnnx } from '../../host/export/onnx';
import { serializeModel, toDense } from '../../host/model/model';
import { QuantModel } from '../../host/model/quant';
import { serializeQuantModel } from '../../host/model/quant_file';
import { randomModel, RandomModelOptions } from '../../host/model/random';
import { Matrix, Model } from '../../host/model/types';
import { runFloat, stepFloat, zeroState } from '../../host/reference/float';
import { quantizeInput, runInt } from '../../host/reference/int';
import { SparrowError } from '../../host/util/errors';
import { makeRng } from '../../host/util/rng';

const STEPS = 256;

function randomInputs(d_in: number, T: number, seed: number): Float64Array {
  const rng = makeRng(seed);
  return Float64Array.from({ length: d_in * T }, () => rng.normal());
}

/** Largest |got − ref| / (1 + |ref|). */
function worstRelative(ref: ArrayLike<number>, got: ArrayLike<number>): number {
  expect(got.length).toBe(ref.length);
  let worst = 0;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref[i]) / (1 + Math.abs(ref[i])));
  return worst;
}

function quantized(opts: RandomModelOptions): { model: Model; q: QuantModel } {
  const model = randomModel(opts);
  const calib = randomInputs(opts.d_in, 400, 99);
  return { model, q: quantizeModel(model, { sequences: [{ data: calib, T: 400 }] }, { perChannel: true }) };
}

const base = { d_in: 1, d_model: 16, d_state: 16, d_out: 1, n_layers: 1, act: 'gelu', encoder_act: 'none', gate: false, sparsity: 0, seed: 1 } as const;
const CASES: [string, RandomModelOptions][] = [
  ['gelu, dense, 1 layer, d_in = d_out = 1', { ...base }],
  ['relu, gate, encoder relu, 80% sparse, 3 layers', { ...base, d_in: 4, d_out: 3, d_model: 24, d_state: 20, n_layers: 3, act: 'relu', encoder_act: 'relu', gate: true, sparsity: 0.8, seed: 2 }],
  ['gelu, gate, encoder relu, 50% sparse, H ≠ P', { ...base, d_in: 2, d_out: 5, d_model: 12, d_state: 28, n_layers: 2, encoder_act: 'relu', gate: true, sparsity: 0.5, seed: 3 }],
  ['relu, dense, 4 layers, |Λ| up to 0.999 (long memory)', { ...base, d_in: 3, d_out: 2, d_model: 32, d_state: 32, n_layers: 4, act: 'relu', seed: 4, maxRadius: 0.999 }],
  ['gelu, gate, 95% sparse (rows with no weights)', { ...base, d_in: 8, d_out: 4, d_model: 20, d_state: 16, n_layers: 2, gate: true, sparsity: 0.95, seed: 5 }],
  ['SMA: gelu, gate, 70% sparse, 3 layers', { ...base, d_in: 3, d_out: 2, d_model: 16, d_state: 12, n_layers: 3, gate: true, sma: true, sparsity: 0.7, seed: 6 }],
  ['SMA: relu, gate, encoder relu, dense, 1 layer', { ...base, d_in: 2, d_out: 3, d_model: 10, d_state: 14, act: 'relu', encoder_act: 'relu', gate: true, sma: true, seed: 9 }],
];

// ---------------------------------------------------------------------------
// The graph
// ---------------------------------------------------------------------------

test('the graph: opset 17, float32, x and per-layer state in, y and state out, dense initializers, tanh GELU from primitives', () => {
  const model = randomModel({ ...base, d_in: 3, d_out: 2, d_model: 8, d_state: 6, n_layers: 2, gate: true, sparsity: 0.7 });
  const proto = onnx.ModelProto.decode(exportOnnx(model));
  expect(proto.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 17]]);
  const shapes = (vs: onnx.IValueInfoProto[]) => vs.map((v) => [v.name, v.type!.tensorType!.elemType, v.type!.tensorType!.shape!.dim!.map((d) => Number(d.dimValue))]);
  const F = onnx.TensorProto.DataType.FLOAT;
  expect(shapes(proto.graph!.input!)).toEqual([['x', F, [1, 3]], ['s_re_0', F, [1, 6]], ['s_im_0', F, [1, 6]], ['s_re_1', F, [1, 6]], ['s_im_1', F, [1, 6]]]);
  expect(shapes(proto.graph!.output!)).toEqual([['y', F, [1, 2]], ['s_re_0_out', F, [1, 6]], ['s_im_0_out', F, [1, 6]], ['s_re_1_out', F, [1, 6]], ['s_im_1_out', F, [1, 6]]]);
  // A 70%-sparse matrix is stored dense: rows·cols float32 values, its zeros included.
  const b = proto.graph!.initializer!.find((t) => t.name === 'layers.1.ssm.B_re')!;
  expect(b.dims!.map(Number)).toEqual([6, 8]);
  expect(b.dataType).toBe(F);
  expect(b.rawData!.length).toBe(6 * 8 * 4);
  const values = new Float32Array(Uint8Array.from(b.rawData!).buffer);
  expect(Array.from(values)).toEqual(Array.from(toDense(model.layers[1].B_re as Matrix).values));
  const ops = new Set(proto.graph!.node!.map((n) => n.opType));
  expect(ops.has('Tanh')).toBe(true);
  for (const op of ['Gelu', 'Erf', 'FastGelu']) expect(ops.has(op)).toBe(false);
});

test('SMA: the decision is Greater of the two logits (Gather on axis 1), and the gate an If whose else branch is a', () => {
  const model = randomModel({ ...base, d_in: 2, d_model: 6, d_state: 4, n_layers: 2, gate: true, sma: true, sparsity: 0.5 });
  const proto = onnx.ModelProto.decode(exportOnnx(model));
  const nodes = proto.graph!.node!;
  const ifs = nodes.filter((n) => n.opType === 'If');
  expect(ifs.map((n) => [n.input, n.output])).toEqual([[['layers.0.sma.run'], ['layers.0.z']], [['layers.1.sma.run'], ['layers.1.z']]]);
  const greater = nodes.find((n) => n.output![0] === 'layers.0.sma.run')!;
  expect([greater.opType, greater.input]).toEqual(['Greater', ['layers.0.sma.l1', 'layers.0.sma.l0']]);
  const branch = (name: string) => ifs[0].attribute!.find((a) => a.name === name)!.g!;
  expect(branch('else_branch').node!.map((n) => [n.opType, n.input])).toEqual([['Identity', ['layers.0.a']]]);
  expect(branch('then_branch').node!.map((n) => n.opType)).toEqual(['Gemm', 'Sigmoid', 'Mul']);
  // The gate's weights stay outer initializers, read by the branch (not dropped as unused).
  expect(proto.graph!.initializer!.map((t) => t.name)).toEqual(expect.arrayContaining(['layers.0.gate.weight', 'layers.0.gate.bias', 'layers.0.sma.weight', 'layers.0.sma.bias']));
});

test('onnxruntime-node is available (installed with its CPU binaries)', () => {
  expect(onnxPeerAvailable()).toEqual({ ok: true });
});

// ---------------------------------------------------------------------------
// ONNX Runtime against the float64 reference
// ---------------------------------------------------------------------------

/** SMA decisions of the float reference over a run: [on, off] layer-steps. */
function decisionCounts(model: Model, x: Float64Array, T: number): [number, number] {
  const state = zeroState(model);
  const counts: [number, number] = [0, 0];
  const d_in = model.config.d_in;
  for (let t = 0; t < T; t++) stepFloat(model, state, x.subarray(t * d_in, (t + 1) * d_in), (tensor, _l, v) => tensor === 'm' && counts[v[0] === 1 ? 0 : 1]++);
  return counts;
}

test.each(CASES)(`ONNX Runtime streams ${STEPS} steps within 1e-4·(1+|ref|) of runFloat: %s`, async (_name, opts) => {
  const model = randomModel(opts);
  const x = randomInputs(opts.d_in, STEPS, opts.seed + 100);
  const ref = runFloat(model, x, STEPS);
  // SMA: the input drives both branches of the If, or the comparison would test one of them.
  if (opts.sma) expect(Math.min(...decisionCounts(model, x, STEPS))).toBeGreaterThan(STEPS * model.config.n_layers * 0.1);
  const got = await runOnnx(model, x, STEPS);
  expect(worstRelative(ref, got)).toBeLessThan(1e-4);
  // The state really carries over: the last outputs depend on the earlier inputs.
  const late = x.slice();
  late.fill(0, 0, opts.d_in * (STEPS - 4));
  const lateOut = await runOnnx(model, late, STEPS);
  expect(worstRelative(ref.slice(-opts.d_out), lateOut.slice(-opts.d_out))).toBeGreaterThan(1e-4);
});

// ---------------------------------------------------------------------------
// Dequantization
// ---------------------------------------------------------------------------

const QCASES: [string, RandomModelOptions][] = [
  ['gelu, gate, 70% sparse', { ...base, d_in: 2, d_out: 3, d_model: 16, d_state: 12, n_layers: 2, gate: true, sparsity: 0.7, seed: 7 }],
  ['SMA: gelu, gate, 60% sparse', { ...base, d_in: 2, d_out: 2, d_model: 16, d_state: 12, n_layers: 2, gate: true, sma: true, sparsity: 0.6, seed: 10 }],
  ['relu, encoder relu, dense', { ...base, d_in: 3, d_out: 2, d_model: 12, d_state: 10, n_layers: 3, act: 'relu', encoder_act: 'relu', seed: 8 }],
];

/** Every dequantized value within half a step (2^−frac / 2) of the float value it was quantized from. */
function expectWithinHalfStep(what: string, original: ArrayLike<number>, dequantized: ArrayLike<number>, frac: (i: number) => number): void {
  expect(dequantized.length).toBe(original.length);
  for (let i = 0; i < original.length; i++) {
    const err = Math.abs(dequantized[i] - original[i]);
    if (err > 2 ** -frac(i) / 2 + 1e-6 * Math.abs(original[i])) throw new Error(`${what}[${i}]: ${dequantized[i]} vs ${original[i]} (step 2^-${frac(i)})`);
  }
}

function expectMatrixWithinHalfStep(what: string, original: Matrix, dequantized: Matrix, rowFrac: Int8Array): void {
  expect(dequantized.kind).toBe(original.kind);
  const cols = original.cols;
  expectWithinHalfStep(what, toDense(original).values, toDense(dequantized).values, (i) => rowFrac[Math.floor(i / cols)]);
}

test.each(QCASES)('dequantizeModel: every weight, bias, Λ, norm and D within half a quantization step of the float model: %s', (_name, opts) => {
  const { model, q } = quantized(opts);
  const d = dequantizeModel(q);
  expect(d.config).toEqual(model.config);
  expect(d.metadata.dequantized).toBe('w8a16');
  expectMatrixWithinHalfStep('encoder.weight', model.encoderWeight, d.encoderWeight, q.encoderWeight.rowFrac);
  expectWithinHalfStep('encoder.bias', model.encoderBias, d.encoderBias, (h) => q.encoderWeight.rowFrac[h] + q.inputFrac);
  model.layers.forEach((L, i) => {
    const D = d.layers[i];
    const Q = q.layers[i];
    expectWithinHalfStep('norm.scale', L.normScale, D.normScale, () => Q.normScaleFrac);
    expectWithinHalfStep('norm.shift', L.normShift, D.normShift, () => Q.normScaleFrac + Q.fmt.uIn);
    expectWithinHalfStep('lambda_re', L.lambdaRe, D.lambdaRe, () => 15);
    expectWithinHalfStep('lambda_im', L.lambdaIm, D.lambdaIm, () => 15);
    expectMatrixWithinHalfStep('B_re', L.B_re, D.B_re, Q.B_re.rowFrac);
    expectMatrixWithinHalfStep('B_im', L.B_im, D.B_im, Q.B_im.rowFrac);
    expectMatrixWithinHalfStep('C_re', L.C_re, D.C_re, Q.C_re.rowFrac);
    expectMatrixWithinHalfStep('C_im', L.C_im, D.C_im, Q.C_im.rowFrac);
    expectWithinHalfStep('D', L.D, D.D, () => Q.dFrac);
    if (opts.gate) {
      expectMatrixWithinHalfStep('gate.weight', L.gateWeight!, D.gateWeight!, Q.gateWeight!.rowFrac);
      expectWithinHalfStep('gate.bias', L.gateBias!, D.gateBias!, (h) => Q.gateWeight!.rowFrac[h] + Q.fmt.a);
    }
    if (opts.sma) {
      // The integer model keeps only l₁ − l₀: the dequantized logits' difference is w₁ − w₀ within half a step.
      const H = L.D.length;
      const [w, dw] = [L.smaWeight!, D.smaWeight!].map((m) => toDense(m).values);
      const diff = (v: Float32Array, b: Float32Array) => [...Array.from({ length: H }, (_, h) => v[H + h] - v[h]), b[1] - b[0]];
      const frac = Q.smaWeight!.rowFrac[0];
      expectWithinHalfStep('sma (w₁ − w₀, b₁ − b₀)', diff(w, L.smaBias!), diff(dw, D.smaBias!), (i) => (i < H ? frac : frac + Q.fmt.y));
    }
  });
  const last = q.layers[q.layers.length - 1].fmt.uOut;
  expectMatrixWithinHalfStep('decoder.weight', model.decoderWeight, d.decoderWeight, q.decoderWeight.rowFrac);
  expectWithinHalfStep('decoder.bias', model.decoderBias, d.decoderBias, (j) => q.decoderWeight.rowFrac[j] + last);
});

test.each(QCASES)('dequantized model: float run within 25 dB SQNR of the integer reference (the scales), ONNX within 1e-4 of runFloat: %s', async (_name, opts) => {
  const { q } = quantized(opts);
  const d = dequantizeModel(q);
  const x = randomInputs(opts.d_in, STEPS, 5);
  // Both paths see the same quantized inputs, so the difference is activation quantization only.
  const xq = Int16Array.from(x, (v) => quantizeInput(v, q.inputFrac));
  const xDeq = Float64Array.from(xq, (v) => v * 2 ** -q.inputFrac);
  const ref = runFloat(d, xDeq, STEPS);
  const intOut = runInt(q, xq, STEPS);
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < ref.length; i++) {
    signal += ref[i] ** 2;
    noise += (ref[i] - intOut[i] * 2 ** -q.outputFrac) ** 2;
  }
  expect(10 * Math.log10(signal / noise)).toBeGreaterThan(25);
  expect(worstRelative(ref, await runOnnx(d, xDeq, STEPS))).toBeLessThan(1e-4);
});

// ---------------------------------------------------------------------------
// Benchmark peer (structure only: tests never assert timings)
// ---------------------------------------------------------------------------

test('benchOnnx returns step and overhead statistics over the requested samples, single-threaded', async () => {
  const r = await benchOnnx(randomModel({ ...base, n_layers: 2 }), 50, 5);
  expect(r.intraOpThreads).toBe(1);
  for (const s of [r.step, r.overhead]) {
    expect(s.samples).toBe(50);
    expect(Number.isFinite(s.p50Us) && Number.isFinite(s.p99Us)).toBe(true);
  }
});

// ---------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------

describe('sparrow export-onnx', () => {
  let dir: string;
  beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-onnx-'))));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Run the command in-process; returns what it printed. */
  function exportOnnxCli(...args: string[]): string {
    const program = new Command('sparrow').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    addExportOnnxCommand(program);
    const printed: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    });
    try {
      program.parse(['export-onnx', ...args], { from: 'user' });
    } finally {
      spy.mockRestore();
    }
    return printed.join('');
  }

  test('float model: writes exactly exportOnnx(model), atomically, and one line with its units', async () => {
    const opts = CASES[2][1];
    const model = randomModel(opts);
    fs.writeFileSync(path.join(dir, 'f.safetensors'), serializeModel(model));
    const out = path.join(dir, 'f.onnx');
    const line = exportOnnxCli(path.join(dir, 'f.safetensors'), '-o', out);
    expect(line).toMatch(/^wrote .*f\.onnx \([\d.]+ KiB, ONNX opset 17, float32/);
    expect(line.trim().split('\n')).toHaveLength(1);
    expect(Array.from(fs.readFileSync(out))).toEqual(Array.from(exportOnnx(model)));
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  test('quantized model: dequantized, and the output says so (text and --json)', () => {
    const { q } = quantized(QCASES[0][1]);
    fs.writeFileSync(path.join(dir, 'q.safetensors'), serializeQuantModel(q));
    const out = path.join(dir, 'q.onnx');
    expect(exportOnnxCli(path.join(dir, 'q.safetensors'), '-o', out)).toMatch(/dequantized/);
    const r = JSON.parse(exportOnnxCli(path.join(dir, 'q.safetensors'), '-o', out, '--json'));
    expect(r.dequantized).toBe(true);
    expect(r.opset).toBe(17);
    expect(r.inputs).toEqual(['x', 's_re_0', 's_im_0', 's_re_1', 's_im_1']);
    expect(r.outputs).toEqual(['y', 's_re_0_out', 's_im_0_out', 's_re_1_out', 's_im_1_out']);
    expect(r.bytes).toBe(fs.statSync(out).size);
    expect(Array.from(fs.readFileSync(out))).toEqual(Array.from(exportOnnx(dequantizeModel(q))));
  });

  test('a missing or broken model file is one SparrowError line, and nothing is written', () => {
    const out = path.join(dir, 'never.onnx');
    expect(() => exportOnnxCli(path.join(dir, 'missing.safetensors'), '-o', out)).toThrow(SparrowError);
    expect(() => exportOnnxCli(path.join(dir, 'missing.safetensors'), '-o', out)).toThrow(/missing\.safetensors: cannot read \(ENOENT\)$/);
    fs.writeFileSync(path.join(dir, 'junk.safetensors'), 'not a model');
    expect(() => exportOnnxCli(path.join(dir, 'junk.safetensors'), '-o', out)).toThrow(SparrowError);
    expect(fs.existsSync(out)).toBe(false);
  });
});
