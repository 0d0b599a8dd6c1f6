// The bundled CLI end to end: random → info → compile → run, and one-line errors with no output on bad input.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { modelToTensorFile, readModel } from '../../host/model/model';
import { randomModel } from '../../host/model/random';
import { serializeSafetensors } from '../../host/model/safetensors';
import { runFloat } from '../../host/reference/float';

const CLI = path.join(__dirname, '..', '..', 'dist', 'sparrow.cjs');
let dir: string;

function sparrow(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: dir });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-cli-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('random → info → compile → run matches the float64 reference', () => {
  expect(sparrow('random', '-o', 'm.safetensors', '--d-in', '2', '--d-model', '16', '--d-state', '8', '--d-out', '3', '--layers', '2', '--gate', '--sparsity', '0.7', '--seed', '5').status).toBe(0);

  const info = sparrow('info', 'm.safetensors', '--json');
  expect(info.status).toBe(0);
  const summary = JSON.parse(info.stdout);
  expect(summary.config.d_model).toBe(16);
  const b = summary.tensors.find((t: { name: string }) => t.name === 'layers.0.ssm.B_re');
  expect(b.shape).toEqual([8, 16]);
  expect(b.nonzeros).toBe(Math.round(0.3 * 8 * 16));
  expect(sparrow('info', 'm.safetensors').stdout).toContain('MACs/step');

  const compiled = sparrow('compile', 'm.safetensors', '-o', 'out', '--json');
  expect(compiled.status).toBe(0);
  const manifest = JSON.parse(compiled.stdout);
  expect(manifest.firmware.pages).toBeGreaterThan(0);
  expect(JSON.parse(fs.readFileSync(path.join(dir, 'out', 'manifest.json'), 'utf8')).source.firmwareSha256).toMatch(/^[0-9a-f]{64}$/);

  const T = 50;
  const rows = Array.from({ length: T }, (_, t) => `${Math.sin(t / 3).toFixed(4)},${(t % 7) / 7 - 0.5}`);
  fs.writeFileSync(path.join(dir, 'x.csv'), 'a,b\n' + rows.join('\n') + '\n');
  const run = sparrow('run', 'out/firmware.wasm', '--input', 'x.csv');
  expect(run.status).toBe(0);
  const out = run.stdout.trim().split('\n').map((l) => l.split(',').map(Number));
  expect(out).toHaveLength(T);
  const ref = runFloat(readModel(path.join(dir, 'm.safetensors')), rows.flatMap((r) => r.split(',').map(Number)), T);
  out.forEach((row, t) => row.forEach((v, j) => expect(Math.abs(v - ref[t * 3 + j])).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(ref[t * 3 + j])))));

  // The same through a model file (compiled in memory) and into .npy.
  expect(sparrow('run', 'm.safetensors', '--input', 'x.csv', '--output', 'y.npy').status).toBe(0);
  expect(fs.existsSync(path.join(dir, 'y.npy'))).toBe(true);

  // export --dense round-trips the values.
  expect(sparrow('export', 'm.safetensors', '-o', 'd.safetensors', '--dense').status).toBe(0);
  expect(readModel(path.join(dir, 'd.safetensors')).layers[0].B_re.kind).toBe('dense');
});

describe('bad input: one line on stderr, non-zero exit, no firmware written', () => {
  function expectOneLineError(args: string[], ...fragments: string[]): void {
    const r = sparrow(...args);
    expect(r.status).not.toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^sparrow: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    for (const f of fragments) expect(lines[0]).toContain(f);
  }

  const cases: [string, (bytes: Uint8Array) => Uint8Array, string[]][] = [
    ['truncated', (b) => b.subarray(0, b.length - 10), ['truncated']],
    ['wrong header length', (b) => { const c = b.slice(); new DataView(c.buffer).setBigUint64(0, BigInt(b.length), true); return c; }, ['header length']],
    ['bad JSON', (b) => { const c = b.slice(); c[9] = 0x7d; return c; }, ['JSON']],
  ];
  test.each(cases)('%s', (name, corrupt, fragments) => {
    const m = randomModel({ d_in: 1, d_model: 4, d_state: 4, d_out: 1, n_layers: 1, act: 'relu', encoder_act: 'none', gate: false, sparsity: 0.5, seed: 1 });
    const file = `${name.replace(/ /g, '_')}.safetensors`;
    fs.writeFileSync(path.join(dir, file), corrupt(serializeSafetensors(modelToTensorFile(m))));
    const out = `out-${name.replace(/ /g, '_')}`;
    expectOneLineError(['compile', file, '-o', out], file, ...fragments);
    expect(fs.existsSync(path.join(dir, out, 'firmware.wasm'))).toBe(false);
  });

  test('unstable Λ names the layer and state', () => {
    const m = randomModel({ d_in: 1, d_model: 4, d_state: 4, d_out: 1, n_layers: 2, act: 'relu', encoder_act: 'none', gate: false, sparsity: 0, seed: 1 });
    m.layers[1].lambdaRe[3] = 1.01;
    fs.writeFileSync(path.join(dir, 'unstable.safetensors'), serializeSafetensors(modelToTensorFile(m)));
    expectOneLineError(['compile', 'unstable.safetensors', '-o', 'out-unstable'], 'unstable.safetensors', 'layers.1.ssm.lambda', 'unstable state 3');
    expect(fs.existsSync(path.join(dir, 'out-unstable'))).toBe(false);
  });

  test('missing file, bad option value, wrong input width', () => {
    expectOneLineError(['compile', 'nope.safetensors', '-o', 'o'], 'nope.safetensors', 'cannot read');
    expectOneLineError(['random', '-o', 'r.safetensors', '--sparsity', '1.5'], '--sparsity');
    expect(sparrow('random', '-o', 'w.safetensors', '--d-in', '3').status).toBe(0);
    fs.writeFileSync(path.join(dir, 'w.csv'), '1,2\n3,4\n');
    expectOneLineError(['run', 'w.safetensors', '--input', 'w.csv'], 'w.csv');
  });

  test('kernel strategies, profile and the C target: float model, unknown board', () => {
    expect(sparrow('random', '-o', 'f.safetensors').status).toBe(0);
    expectOneLineError(['compile', 'f.safetensors', '-o', 'o1', '--kernel', 'unrolled'], 'f.safetensors', 'quantize');
    expectOneLineError(['compile', 'f.safetensors', '-o', 'o2', '--profile'], 'f.safetensors', 'quantize');
    expectOneLineError(['compile', 'f.safetensors', '-o', 'o3', '--target', 'c'], 'f.safetensors', 'quantize');
    expectOneLineError(['compile', 'f.safetensors', '-o', 'o4', '--kernel', 'auto', '--board', 'nope'], 'unknown board "nope"', 'stm32l476');
    for (const o of ['o1', 'o2', 'o3', 'o4']) expect(fs.existsSync(path.join(dir, o))).toBe(false);
  });

  test('--target c writes a header and a source; --kernel unrolled and --profile compile a quantized model', () => {
    expect(sparrow('random', '-o', 'g.safetensors', '--d-model', '12', '--d-state', '10', '--sparsity', '0.8').status).toBe(0);
    expect(sparrow('quantize', 'g.safetensors', '-o', 'g.q.safetensors', '--calib-random', '4').status).toBe(0);
    expect(sparrow('compile', 'g.q.safetensors', '-o', 'gc', '--target', 'c', '--kernel', 'unrolled').status).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'gc', 'sparrow_model.h'), 'utf8')).toContain('void sparrow_step(const int16_t *in, int16_t *out);');
    const r = sparrow('compile', 'g.q.safetensors', '-o', 'gw', '--kernel', 'auto', '--board', 'rp2040', '--profile', '--json');
    expect(r.status).toBe(0);
    const manifest = JSON.parse(r.stdout);
    expect(manifest.build.profile).toBe(true);
    expect(manifest.build.kernel).toBe('auto (rp2040, wamr-aot)');
    expect(manifest.firmware.exports).toContain('counters_ptr');
    // auto reports its per-matrix choice, consistent with the storage the firmware got, and the board estimate.
    const unrolled = manifest.firmware.matrices.filter((m: { format: string }) => m.format === 'unrolled').map((m: { name: string }) => m.name);
    expect(manifest.autoKernel.unrolled).toEqual(unrolled);
    expect(manifest.autoKernel.tableDriven.every((t: string) => t.endsWith('(csr16)'))).toBe(true); // the format the cost model is fitted to
    expect(manifest.autoKernel.estimate.board).toBe('rp2040');
    const text = sparrow('compile', 'g.q.safetensors', '-o', 'gt', '--kernel', 'auto', '--board', 'stm32l476', '--mode', 'wamr-fast');
    expect(text.stdout).toMatch(/--kernel auto for stm32l476 \(wamr-fast\), by the cost model: weights in code for \d+ of 10 matrices/);
    expect(text.stdout).toMatch(/estimate on stm32l476 \(wamr-fast\): [\d,.]+ µs\/step, [\d,.]+ µJ\/step, flash .*: fits/);
  });

  test('emulate through the bundled CLI: a quantized model runs, its comparison is dense ≥ sparse in synaptic ops; a float model is one line', () => {
    const r = sparrow('emulate', 'g.q.safetensors', '--steps', '40', '--threshold', '8', '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    const [dense, sparse] = j.comparison;
    expect(dense.synapses).toBeGreaterThan(sparse.synapses);
    expect(dense.synOpsPerStep).toBeGreaterThanOrEqual(sparse.synOpsPerStep);
    expectOneLineError(['emulate', 'g.safetensors'], 'g.safetensors', 'sparrow quantize');
  });
});
