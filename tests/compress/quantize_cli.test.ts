// Quantized model files and `sparrow quantize` / compile / run / info on them, and the bad inputs.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { quantizeModel } from '../../host/compress/quantize';
import { serializeModel } from '../../host/model/model';
import { parseAnyModel, quantModelToTensorFile, serializeQuantModel } from '../../host/model/quant_file';
import { randomModel } from '../../host/model/random';
import { serializeSafetensors } from '../../host/model/safetensors';
import { runInt } from '../../host/reference/int';
import { SparrowError } from '../../host/util/errors';
import { makeRng } from '../../host/util/rng';

const CLI = path.join(__dirname, '..', '..', 'dist', 'sparrow.cjs');
let dir: string;
const sparrow = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: dir });

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-q-'));
  const m = randomModel({ d_in: 2, d_model: 16, d_state: 16, d_out: 3, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true, sparsity: 0.8, seed: 21 });
  fs.writeFileSync(path.join(dir, 'f.safetensors'), serializeModel(m));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function quantized(sparsity: number, gate: boolean) {
  const m = randomModel({ d_in: 3, d_model: 12, d_state: 10, d_out: 2, n_layers: 2, act: gate ? 'gelu' : 'relu', encoder_act: 'relu', gate, sparsity, seed: 4 });
  const rng = makeRng(1);
  return quantizeModel(m, { sequences: [{ data: Float64Array.from({ length: 300 }, () => rng.normal()), T: 100 }] }, { perChannel: true });
}

test.each([[0, true], [0.7, false]])('quantized file round trip (sparsity %p, gate %p): identical integers and outputs', (s, gate) => {
  const q = quantized(s, gate);
  const bytes = serializeQuantModel(q);
  const back = parseAnyModel(bytes, 'q.safetensors');
  expect(back.kind).toBe('quantized');
  if (back.kind !== 'quantized') return;
  expect(serializeQuantModel(back.model)).toEqual(bytes);
  const x = Int16Array.from({ length: 300 }, (_, i) => (i * 977) % 20000 - 10000);
  expect(Array.from(runInt(back.model, x, 100))).toEqual(Array.from(runInt(q, x, 100)));
});

test('a tampered quantized file is refused with one line naming the tensor', () => {
  const tf = quantModelToTensorFile(quantized(0.7, true));
  const t = tf.tensors.get('layers.1.ssm.C.row_frac')!;
  tf.tensors.set('layers.1.ssm.C.row_frac', { ...t, shape: [t.shape[0] - 1], data: t.data.slice(1) });
  expect(() => parseAnyModel(serializeSafetensors(tf), 'bad.safetensors')).toThrow(SparrowError);
  expect(() => parseAnyModel(serializeSafetensors(tf), 'bad.safetensors')).toThrow('bad.safetensors: layers.1.ssm.C.row_frac: shape');
});

test("quantizing a trained model without a task drops its float test_metric (it would claim the float's score)", () => {
  const m = randomModel({ d_in: 2, d_model: 4, d_state: 4, d_out: 2, n_layers: 1, act: 'relu', encoder_act: 'none', gate: false, sparsity: 0, seed: 1 });
  m.metadata = { ...m.metadata, test_metric: '91.000', task: 'sfmnist' };
  fs.writeFileSync(path.join(dir, 'scored.safetensors'), serializeModel(m));
  expect(sparrow('quantize', 'scored.safetensors', '-o', 'scored.q.safetensors', '--calib-random', '50').status).toBe(0);
  const q = parseAnyModel(new Uint8Array(fs.readFileSync(path.join(dir, 'scored.q.safetensors'))), 'q');
  expect(q.model.metadata.test_metric).toBeUndefined();
  expect(q.model.metadata.task).toBe('sfmnist');
});

test('quantize → info → compile → run (float and --raw) through the CLI', () => {
  const q = sparrow('quantize', 'f.safetensors', '-o', 'q.safetensors', '--calib-random', '500', '--json');
  expect(q.status).toBe(0);
  const report = JSON.parse(q.stdout);
  expect(report.sqnr.outputDb).toBeGreaterThan(25);
  expect(report.sqnr.blocks).toHaveLength(3);
  expect(JSON.parse(sparrow('info', 'q.safetensors', '--json').stdout).scheme).toBe('w8a16');
  const c = sparrow('compile', 'q.safetensors', '-o', 'out', '--json');
  expect(c.status).toBe(0);
  expect(JSON.parse(c.stdout).engine).toBe('i16');
  fs.writeFileSync(path.join(dir, 'x.csv'), '0.5,-0.25\n1,2\n-3,0\n');
  const run = sparrow('run', 'out/firmware.wasm', '--input', 'x.csv');
  expect(run.status).toBe(0);
  expect(run.stdout.trim().split('\n')).toHaveLength(3);
  fs.writeFileSync(path.join(dir, 'xi.csv'), '100,-200\n32767,-32768\n');
  const raw = sparrow('run', 'out/firmware.wasm', '--input', 'xi.csv', '--raw');
  expect(raw.status).toBe(0);
  const parsed = parseAnyModel(new Uint8Array(fs.readFileSync(path.join(dir, 'q.safetensors'))), 'q');
  if (parsed.kind !== 'quantized') throw new Error('expected a quantized model');
  const ref = runInt(parsed.model, [100, -200, 32767, -32768], 2);
  expect(raw.stdout.trim().split('\n').map((l) => l.split(',').map(Number))).toEqual([Array.from(ref.slice(0, 3)), Array.from(ref.slice(3, 6))]);
});

test("quantize --task calibrates on the task's first training examples: the integers `sparrow train --quantized` writes", () => {
  const TASK = ['--task', 'denoise', '--noises', 'white', '--train-size', '40', '--test-size', '4'];
  const t = sparrow('train', ...TASK, '--d-model', '8', '--d-state', '6', '--layers', '1', '--epochs', '1', '--batch', '8', '--threads', '1', '-o', 'dn.safetensors', '--quantized', 'dn-train.q.safetensors', '--quiet');
  expect(t.stderr).toBe('');
  expect(t.status).toBe(0);
  const r = sparrow('quantize', 'dn.safetensors', ...TASK, '-o', 'dn.q.safetensors', '--json');
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  // Scored like train's w8a16 model: the same metric, recorded in the file (not the float model's).
  const trainQ = parseAnyModel(new Uint8Array(fs.readFileSync(path.join(dir, 'dn-train.q.safetensors'))), 'q');
  expect(JSON.parse(r.stdout).metric.toFixed(3)).toBe(trainQ.model.metadata.test_metric);
  const mine = parseAnyModel(new Uint8Array(fs.readFileSync(path.join(dir, 'dn.q.safetensors'))), 'q');
  expect(mine.model.metadata.test_metric).toBe(trainQ.model.metadata.test_metric);
  const read = (f: string) => {
    const m = parseAnyModel(new Uint8Array(fs.readFileSync(path.join(dir, f))), f);
    if (m.kind !== 'quantized') throw new Error('expected a quantized model');
    return { ...m.model, metadata: {} };
  };
  expect(serializeQuantModel(read('dn.q.safetensors'))).toEqual(serializeQuantModel(read('dn-train.q.safetensors')));
  // Per-channel from the same examples: other (row) scales, same shapes.
  const pcRun = sparrow('quantize', 'dn.safetensors', ...TASK, '--per-channel', '-o', 'dn-pc.q.safetensors');
  expect(pcRun.status).toBe(0);
  expect(pcRun.stdout).toMatch(/w8a16 model: SI-SNRi \(dB\) -?\d+\.\d\d on the denoise test split/);
  const pc = read('dn-pc.q.safetensors');
  expect(new Set(pc.decoderWeight.rowFrac).size).toBeGreaterThan(1);
}, 60_000);

describe('bad input: one line, non-zero exit, no output file', () => {
  test.each([
    ['calibration of the wrong width', ['--calib', 'w.csv'], 'w.csv', '1,2,3\n4,5,6\n', 'd_in = 2'],
    ['calibration with NaN', ['--calib', 'n.csv'], 'n.csv', '1,2\nNaN,1\n', 'line 2, column 1'],
    ['calibration with zero rows', ['--calib', 'z.csv'], 'z.csv', 'a,b\n', 'zero time steps'],
    ['no calibration', [], '', '', 'exactly one of --calib'],
    ['two calibrations', ['--calib-random', '10', '--task', 'denoise'], '', '', 'exactly one of --calib <file>, --calib-random <steps> or --task <name>'],
    ["a task whose inputs the model does not take", ['--task', 'denoise', '--train-size', '2'], '', '', "f.safetensors: the task's inputs have 129 values per step; the model takes d_in 2"],
  ])('%s', (_name, args, file, content, fragment) => {
    if (file) fs.writeFileSync(path.join(dir, file), content);
    const r = sparrow('quantize', 'f.safetensors', '-o', 'never.safetensors', ...args);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(fragment);
    expect(fs.existsSync(path.join(dir, 'never.safetensors'))).toBe(false);
  });

  test('quantizing an already quantized model', () => {
    expect(sparrow('quantize', 'f.safetensors', '-o', 'q2.safetensors', '--calib-random', '50').status).toBe(0);
    const r = sparrow('quantize', 'q2.safetensors', '-o', 'never.safetensors', '--calib-random', '50');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('quantized');
    expect(fs.existsSync(path.join(dir, 'never.safetensors'))).toBe(false);
  });

  test('a model whose accumulator could overflow int32', () => {
    const wide = randomModel({ d_in: 1, d_model: 1000, d_state: 1, d_out: 1, n_layers: 1, act: 'relu', encoder_act: 'none', gate: false, sparsity: 0, seed: 2 });
    if (wide.decoderWeight.kind === 'dense') wide.decoderWeight.values.fill(0.01);
    fs.writeFileSync(path.join(dir, 'wide.safetensors'), serializeModel(wide));
    const r = sparrow('quantize', 'wide.safetensors', '-o', 'never.safetensors', '--calib-random', '20');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/^sparrow: wide\.safetensors: decoder\.weight: row 0: worst-case accumulator/);
    expect(fs.existsSync(path.join(dir, 'never.safetensors'))).toBe(false);
  });
});
