// `sparrow emulate` in-process, through a Command built with addEmulateCommand: outputs against the
// integer reference, the report's figures labelled as estimates, the HTML self-contained, and every
// user error one SparrowError line.

import { Command } from 'commander';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { addEmulateCommand } from '../../host/cli/emulate';
import { quantizeModel } from '../../host/compress/quantize';
import { serializeModel } from '../../host/model/model';
import { parseNpy } from '../../host/model/npy';
import { serializeQuantModel } from '../../host/model/quant_file';
import { randomModel } from '../../host/model/random';
import { quantizeInput, runInt } from '../../host/reference/int';
import { SparrowError } from '../../host/util/errors';
import { makeRng } from '../../host/util/rng';

let dir: string;
const file = (name: string): string => path.join(dir, name);
const float = randomModel({ d_in: 2, d_model: 16, d_state: 12, d_out: 2, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true, sparsity: 0.8, seed: 8 });
const rng = makeRng(8);
const q = quantizeModel(float, { sequences: [{ data: Float64Array.from({ length: 600 }, () => rng.normal()), T: 300 }] }, { perChannel: true });
const smaFloat = randomModel({ d_in: 2, d_model: 16, d_state: 12, d_out: 2, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true, sma: true, sparsity: 0.8, seed: 8 });
const smaQ = quantizeModel(smaFloat, { sequences: [{ data: Float64Array.from({ length: 600 }, () => rng.normal()), T: 300 }] }, { perChannel: true });

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-emulate-'));
  fs.writeFileSync(file('m.q.safetensors'), serializeQuantModel(q));
  fs.writeFileSync(file('m.safetensors'), serializeModel(float));
  fs.writeFileSync(file('sma.q.safetensors'), serializeQuantModel(smaQ));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Run the command in-process; returns what it printed on stdout. */
function emulateCli(...args: string[]): string {
  const program = new Command('sparrow').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  addEmulateCommand(program);
  const printed: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    printed.push(String(chunk));
    return true;
  });
  try {
    program.parse(['emulate', ...args], { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return printed.join('');
}

test('--input csv and --output npy: the outputs are runInt\'s, dequantized as `sparrow run` does', () => {
  const T = 40;
  const rows = Array.from({ length: T }, (_, t) => [Math.sin(t / 6), Math.cos(t / 9) * 0.5]);
  fs.writeFileSync(file('x.csv'), 'a,b\n' + rows.map((r) => r.join(',')).join('\n') + '\n');
  const text = emulateCli(file('m.q.safetensors'), '--input', file('x.csv'), '--output', file('o.npy'));
  const x = Int16Array.from(rows.flat(), (v) => quantizeInput(v, q.inputFrac));
  const reference = runInt(q, x, T);
  const o = parseNpy(fs.readFileSync(file('o.npy')), 'o.npy');
  expect(o.shape).toEqual([T, 2]);
  expect(Array.from(o.data as Float32Array)).toEqual(Array.from(reference, (v) => Math.fround(v * 2 ** -q.outputFrac)));
  expect(text).toContain('outputs bit-exact with the integer reference (checked against host/reference/int.ts)');
  expect(text).toContain(`input: ${T} steps of ${file('x.csv')} (${T} of ${T} steps)`);
  expect(text).toMatch(/µs and µJ are estimates \(chip profile\)/);
  expect(text).toMatch(/group +messages +synaptic ops +hops +neuron updates +µs\/step \(estimate\) +µJ\/step \(estimate\)/);
  for (const g of ['input', 'encoder', 'layer 0', 'layer 1', 'decoder', 'total']) expect(text).toMatch(new RegExp(`^${g} `, 'm'));
  expect(text).toMatch(/^dense \(every weight a synapse\) .* ∞ \(identical\)$/m);
  expect(text).toMatch(/^sparse \+ sigma-delta \(T=16\) /m);
  expect(text).toContain(`wrote ${file('o.npy')}`);
  expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
});

test('--json: three comparison rows, dense doing at least the sparse synaptic ops, counts consistent', () => {
  const r = JSON.parse(emulateCli(file('m.q.safetensors'), '--steps', '30', '--threshold', '8', '--json'));
  expect(r.threshold).toBe(8);
  expect(r.input).toEqual({ source: 'N(0, 1) noise, seed 0', steps: 30 });
  expect(r.comparison.map((c: { label: string }) => c.label)).toEqual(['dense (every weight a synapse)', 'sparse', 'sparse + sigma-delta (T=8)']);
  const [dense, sparse, sd] = r.comparison;
  expect(dense.synapses).toBeGreaterThan(sparse.synapses);
  expect(dense.synOpsPerStep).toBeGreaterThanOrEqual(sparse.synOpsPerStep);
  expect(dense.messagesPerStep).toBe(sparse.messagesPerStep); // same values, same nonzeros
  expect(dense.outputSqnrDb).toBe('Infinity');
  expect(sd.messagesPerStep).toBe(r.run.perStep.messages);
  expect(r.run.groups.reduce((a: number, g: { synOps: number }) => a + g.synOps, 0)).toBeCloseTo(r.run.perStep.synOps, 9);
  expect(r.run.coreSynOps).toHaveLength(128);
  expect(r.estimates).toMatch(/estimates from the chip profile/);
  expect(r.run.outputs).toBeUndefined();
});

test('--html: one self-contained page with the heatmap, both rasters and the tables', () => {
  emulateCli(file('m.q.safetensors'), '--steps', '25', '--html', file('r.html'));
  const html = fs.readFileSync(file('r.html'), 'utf8');
  expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
  expect(html).not.toMatch(/<script|<link|\ssrc=|\shref=/i);
  expect(html.match(/<svg /g)).toHaveLength(3); // heatmap, raster at threshold 0, raster with sigma-delta
  expect(html).toContain('Busy time per core, µs/step (estimate');
  expect(html).toContain('Messages: first 25 steps');
  expect(html).toContain('Dense vs sparse vs sigma-delta');
});

describe('an SMA model', () => {
  test('text: bit-exact, the saved-work table per layer, and a fourth row with the gate every step', () => {
    const text = emulateCli(file('sma.q.safetensors'), '--steps', '40');
    expect(text).toMatch(/^model: .*gelu, gate, SMA; /m);
    expect(text).toContain('outputs bit-exact with the integer reference');
    expect(text).toMatch(/layer +gate ran +messages saved +synaptic ops saved +neuron updates saved +µJ\/step saved \(estimate, dynamic\)/);
    expect(text).toMatch(/^layer 0 +\d+\.\d% /m);
    expect(text).toMatch(/^sparse, gate every step \(SMA off\) † .* 100\.0%$/m);
    expect(text).toContain('all four runs');
  });

  test('--json: per-layer share and savings equal the run\'s groups; the gate-every-step row is the gated model\'s run', () => {
    const r = JSON.parse(emulateCli(file('sma.q.safetensors'), '--steps', '40', '--json'));
    expect(r.comparison.map((c: { label: string }) => c.label)).toEqual(['dense (every weight a synapse)', 'sparse', 'sparse + sigma-delta (T=16)', 'sparse, gate every step (SMA off)']);
    expect(r.comparison[3].smaOff).toBe(true);
    expect(r.comparison[3].gateRan).toBe(1);
    expect(r.sma.layers.map((l: { name: string }) => l.name)).toEqual(['layer 0', 'layer 1']);
    r.sma.layers.forEach((l: { gateRan: number; saved: { synOps: number } }, i: number) => {
      expect(l.gateRan).toBe(r.run.groups[2 + i].sma.gateRan);
      expect(l.saved.synOps).toBe(r.run.groups[2 + i].sma.saved.synOps);
    });
    expect(r.comparison[1].gateRan).toBeCloseTo((r.sma.layers[0].gateRan + r.sma.layers[1].gateRan) / 2, 12);
    expect(r.run.decisions).toBeUndefined();
  });

  test('--html: the SMA table and the fourth row', () => {
    emulateCli(file('sma.q.safetensors'), '--steps', '20', '--html', file('sma.html'));
    const html = fs.readFileSync(file('sma.html'), 'utf8');
    expect(html).toContain('SMA: work the skipped gates saved');
    expect(html).toContain('sparse, gate every step (SMA off)');
    expect(html).toContain('layers.0.ya');
  });
});

describe('bad input: one SparrowError line', () => {
  const expectError = (args: string[], message: RegExp): void => {
    let err: unknown;
    try {
      emulateCli(...args);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SparrowError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('\n');
  };

  test('a float model', () => expectError([file('m.safetensors')], /m\.safetensors: a float model; .*run `sparrow quantize` first$/));

  test('a negative or non-numeric threshold', () => {
    expectError([file('m.q.safetensors'), '--threshold=-1'], /^threshold must be a number ≥ 0 .*got -1$/);
    expectError([file('m.q.safetensors'), '--threshold', '-1'], /^threshold must be a number ≥ 0 .*got -1$/);
    expectError([file('m.q.safetensors'), '--threshold', 'lots'], /^threshold must be a number ≥ 0 .*got NaN$/);
  });

  test('a chip profile failing the schema names the field', () => {
    const chip = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'boards', 'loihi2.json'), 'utf8'));
    fs.writeFileSync(file('bad.json'), JSON.stringify({ ...chip, hopNorthSouth: { energyPJ: 4 } }));
    expectError([file('m.q.safetensors'), '--chip', file('bad.json')], /bad\.json: hopNorthSouth\.timeNs: /);
  });

  test('a model too large for the chip: which limit, by how much', () => {
    const chip = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'boards', 'loihi2.json'), 'utf8'));
    fs.writeFileSync(file('tiny.json'), JSON.stringify({ ...chip, cores: 2, mesh: { width: 2, height: 1, coresPerTile: 1 }, core: { ...chip.core, neurons: 50 } }));
    // d_in 2 + encoder 16 + 2 · (16 v + 24 s + 16 a + 16 z + 16 u) + decoder 2 = 196 neurons.
    expectError([file('m.q.safetensors'), '--chip', file('tiny.json')], /^model does not fit loihi2: neurons: needs 196, the chip holds 100 \(2 cores × 50\); over by 96 neurons$/);
  });

  test('an input of the wrong width, and nothing written when a run fails', () => {
    fs.writeFileSync(file('wide.csv'), '1,2,3\n4,5,6\n');
    expectError([file('m.q.safetensors'), '--input', file('wide.csv'), '--output', file('never.npy')], /wide\.csv: has 3 values per step, the model takes d_in = 2/);
    expect(fs.existsSync(file('never.npy'))).toBe(false);
  });

  test('--task with --input, and a model that does not fit the task', () => {
    expectError([file('m.q.safetensors'), '--task', 'denoise', '--input', file('wide.csv')], /^emulate: give --input <file> or --task <name>, not both$/);
    expectError([file('m.q.safetensors'), '--task', 'denoise', '--test-size', '2'], /^--task denoise: the model has d_in 2 and d_out 2; the task needs d_in 129 and d_out 129$/);
  });
});
