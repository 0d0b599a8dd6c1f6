// `sparrow random --sma` in-process (buildProgram): an SMA model whose file reads back with the
// decision tensors, and --sma without --gate refused in one line before anything is written.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildProgram } from '../../host/cli/main';
import { readModel } from '../../host/model/model';
import { randomModel } from '../../host/model/random';
import { runFloat } from '../../host/reference/float';
import { SparrowError } from '../../host/util/errors';

let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-random-'))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function sparrow(...args: string[]): void {
  const program = buildProgram().exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    program.parse(args, { from: 'user' });
  } finally {
    spy.mockRestore();
  }
}

test('--gate --sma writes randomModel({ gate, sma }) with the decision tensors', () => {
  const out = path.join(dir, 'sma.safetensors');
  sparrow('random', '-o', out, '--d-model', '8', '--d-state', '6', '--gate', '--sma', '--seed', '3');
  const m = readModel(out);
  expect(m.config.sma).toBe(true);
  expect(m.layers[0].smaWeight!.rows).toBe(2);
  const expected = randomModel({ d_in: 1, d_model: 8, d_state: 6, d_out: 1, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true, sma: true, sparsity: 0, seed: 3 });
  const x = Float64Array.from({ length: 40 }, (_, i) => Math.sin(i / 3));
  expect(Array.from(runFloat(m, x, 40))).toEqual(Array.from(runFloat(expected, x, 40)));
});

test('--sma without --gate is one SparrowError line and writes nothing', () => {
  const out = path.join(dir, 'bad.safetensors');
  expect(() => sparrow('random', '-o', out, '--sma')).toThrow(SparrowError);
  expect(() => sparrow('random', '-o', out, '--sma')).toThrow(/^random: --sma needs --gate \(SMA decides per step whether the gate runs\)$/);
  expect(fs.existsSync(out)).toBe(false);
});
