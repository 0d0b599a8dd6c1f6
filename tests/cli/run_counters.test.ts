// `sparrow run --counters` through the bundled CLI: a --profile SMA firmware's counters for the
// run, against the integer reference's own decisions; a firmware without counters is refused in
// one line before anything runs.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { compileQuantModel } from '../../host/compile/compile';
import { quantizeModel } from '../../host/compress/quantize';
import { randomModel } from '../../host/model/random';
import { writeSequence } from '../../host/model/sequence';
import { IntTrace, quantizeInput, stepInt, zeroIntState } from '../../host/reference/int';

const CLI = path.join(__dirname, '..', '..', 'dist', 'sparrow.cjs');
let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-run-counters-'))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const model = randomModel({ d_in: 3, d_model: 12, d_state: 8, d_out: 2, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true, sma: true, sparsity: 0.5, seed: 17 });
const T = 50;
const x = Float64Array.from({ length: T * 3 }, (_, i) => Math.sin(0.2 * i) + Math.cos(0.05 * i * i));
const q = quantizeModel(model, { sequences: [{ data: x, T }] });

test('the SMA counters are the decisions of the integer reference; steps are the run', () => {
  fs.writeFileSync(path.join(dir, 'prof.wasm'), compileQuantModel(q, { profile: true }).wasm);
  writeSequence(path.join(dir, 'x.npy'), Float32Array.from(x), T, 3);
  const r = spawnSync(process.execPath, [CLI, 'run', 'prof.wasm', '-i', 'x.npy', '-o', 'y.npy', '--counters'], { cwd: dir, encoding: 'utf8' });
  expect(r.status).toBe(0);
  const trace: IntTrace = { u: [], v: [], y: [], a: [], m: [] };
  const state = zeroIntState(q);
  for (let t = 0; t < T; t++) stepInt(q, state, Int16Array.from(Float32Array.from(x.subarray(3 * t, 3 * t + 3)), (v) => quantizeInput(v, q.inputFrac)), trace);
  const ran = trace.m!.reduce((a, b) => a + b, 0);
  const row = (name: string): string[] => r.stderr.split('\n').find((l) => l.startsWith(name))!.trim().split(/\s{2,}/);
  expect(r.stderr).toContain(`op counters over ${T} steps`);
  expect(row('steps')[1]).toBe(String(T));
  expect(row('SMA gate ran')[1]).toBe(String(ran));
  expect(row('SMA gate skipped')[1]).toBe(String(2 * T - ran));
  expect(ran).toBeGreaterThan(0);
  expect(ran).toBeLessThan(2 * T);
});

test('a firmware built without --profile is refused in one line, nothing written', () => {
  fs.writeFileSync(path.join(dir, 'plain.wasm'), compileQuantModel(q).wasm);
  const r = spawnSync(process.execPath, [CLI, 'run', 'plain.wasm', '-i', 'x.npy', '-o', 'z.npy', '--counters'], { cwd: dir, encoding: 'utf8' });
  expect(r.status).not.toBe(0);
  expect(r.stderr.trim()).toBe('sparrow: plain.wasm: has no op counters; compile the quantized model with `sparrow compile --profile`');
  expect(fs.existsSync(path.join(dir, 'z.npy'))).toBe(false);
});
