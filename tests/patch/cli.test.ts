// `sparrow diff` and `sparrow patch` in-process, through the commands addPatchCommands builds:
// the file round trip against `sparrow compile`'s own output, the report, and every user
// error as one SparrowError line with nothing written and the firmware untouched.

import { Command } from 'commander';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { addPatchCommands } from '../../host/cli/patch';
import { compileToDirectory } from '../../host/compile/files';
import { serializeModel } from '../../host/model/model';
import { serializeQuantModel } from '../../host/model/quant_file';
import { randomModel } from '../../host/model/random';
import { SparrowError } from '../../host/util/errors';
import { baseModel, fewChanges, nonzeroAt, setEntry } from './tune';

let dir: string;
const file = (name: string): string => path.join(dir, name);
const read = (name: string): Buffer => fs.readFileSync(file(name));

const base = baseModel(12);
const tuned = fewChanges(base, 4);

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-patch-'));
  fs.writeFileSync(file('base.q.safetensors'), serializeQuantModel(base));
  fs.writeFileSync(file('tuned.q.safetensors'), serializeQuantModel(tuned));
  const lost = structuredClone(tuned);
  setEntry(lost.layers[1].B_im, nonzeroAt(lost.layers[1].B_im)[0], 0);
  fs.writeFileSync(file('pruned-more.q.safetensors'), serializeQuantModel(lost));
  fs.writeFileSync(file('float.safetensors'), serializeModel(randomModel({ d_in: 3, d_model: 24, d_state: 20, d_out: 2, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true, sparsity: 0.8, seed: 12 })));
  // What the user deployed, and what they would flash without patches.
  compileToDirectory(file('base.q.safetensors'), file('base'), { kernel: 'unrolled' });
  compileToDirectory(file('tuned.q.safetensors'), file('tuned'), { kernel: 'unrolled' });
  compileToDirectory(file('base.q.safetensors'), file('base-delta4'), { format: 'delta4' });
  compileToDirectory(file('tuned.q.safetensors'), file('tuned-delta4'), { format: 'delta4' });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Run a command in-process; returns what it printed on stdout. */
function sparrow(...args: string[]): string {
  const program = new Command('sparrow').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  addPatchCommands(program);
  const printed: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    printed.push(String(chunk));
    return true;
  });
  try {
    program.parse(args, { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return printed.join('');
}

function refuses(args: string[], message: RegExp, untouched: string[] = [], notWritten: string[] = []): void {
  const before = untouched.map(read);
  let error: unknown;
  try {
    sparrow(...args);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(SparrowError);
  expect((error as Error).message).toMatch(message);
  expect((error as Error).message).not.toContain('\n');
  untouched.forEach((f, i) => expect(read(f).equals(before[i])).toBe(true));
  for (const f of notWritten) expect(fs.existsSync(file(f))).toBe(false);
  expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
}

test('diff --firmware, then patch: the deployed firmware becomes what `sparrow compile` writes for the tuned model', () => {
  const text = sparrow('diff', file('base.q.safetensors'), file('tuned.q.safetensors'), '--firmware', file('base/firmware.wasm'), '-o', file('update.patch'));
  const patchBytes = read('update.patch').length;
  const firmwareBytes = read('base/firmware.wasm').length;
  expect(text).toContain(`wrote ${file('update.patch')}: ${patchBytes.toLocaleString('en-US')} B, ${((100 * patchBytes) / firmwareBytes).toFixed(1)}% of the ${firmwareBytes.toLocaleString('en-US')} B`);
  expect(text).toContain(`checked: ${file('base/firmware.wasm')} holds ${file('base.q.safetensors')}`);
  expect(text).toMatch(/^layers\.0\.ssm\.B_re +[12]$/m);

  const out = sparrow('patch', file('base/firmware.wasm'), file('update.patch'), '-o', file('new.wasm'));
  expect(read('new.wasm').equals(read('tuned/firmware.wasm'))).toBe(true);
  const manifest = JSON.parse(read('tuned/manifest.json').toString());
  expect(out).toContain(`wrote ${file('new.wasm')} (${read('new.wasm').length.toLocaleString('en-US')} B, sha256 ${manifest.source.firmwareSha256})`);
  expect(out).toContain('selftest() = 0');
});

test('diff with build options compiles the base itself and checks the result against a direct compile; --json', () => {
  const r = JSON.parse(sparrow('diff', file('base.q.safetensors'), file('tuned.q.safetensors'), '--format', 'delta4', '-o', file('delta4.patch'), '--json'));
  expect(r.checked).toMatch(/equals a direct compile of .*tuned\.q\.safetensors, byte for byte$/);
  expect(r.patchBytes).toBe(read('delta4.patch').length);
  expect(r.firmwareBytes).toBe(read('base-delta4/firmware.wasm').length);
  expect(r.baseSha256).toBe(JSON.parse(read('base-delta4/manifest.json').toString()).source.firmwareSha256);
  expect(r.values).toBe(r.tensors.filter((t: { name: string }) => t.name !== 'golden.outputs').reduce((n: number, t: { entries: number }) => n + t.entries, 0));
  expect(r.goldenOutputs).toBe(0);
  expect(r.goldenChanged).toBeGreaterThan(0);
  sparrow('patch', file('base-delta4/firmware.wasm'), file('delta4.patch'), '-o', file('new-delta4.wasm'));
  expect(read('new-delta4.wasm').equals(read('tuned-delta4/firmware.wasm'))).toBe(true);
});

test('the same patch refuses another base firmware; the firmware stays as it was and nothing is written', () => {
  sparrow('diff', file('base.q.safetensors'), file('tuned.q.safetensors'), '--firmware', file('base/firmware.wasm'), '-o', file('u.patch'));
  refuses(['patch', file('base-delta4/firmware.wasm'), file('u.patch'), '-o', file('x.wasm')], /u\.patch: made for another firmware \(sha256 [0-9a-f]{12}…, \d+ B\); .*base-delta4\/firmware\.wasm has sha256/, ['base-delta4/firmware.wasm'], ['x.wasm']);
  // Even when told to overwrite the firmware itself.
  refuses(['patch', file('base-delta4/firmware.wasm'), file('u.patch'), '-o', file('base-delta4/firmware.wasm')], /made for another firmware/, ['base-delta4/firmware.wasm']);
});

test('a truncated or tampered patch file', () => {
  const good = read('update.patch');
  fs.writeFileSync(file('cut.patch'), good.subarray(0, good.length - 7));
  refuses(['patch', file('base/firmware.wasm'), file('cut.patch'), '-o', file('x.wasm')], /cut\.patch: truncated patch \(\d+ of \d+ bytes\)$/, ['base/firmware.wasm'], ['x.wasm']);
  const bad = Buffer.from(good);
  bad[100] ^= 0x10;
  fs.writeFileSync(file('bad.patch'), bad);
  refuses(['patch', file('base/firmware.wasm'), file('bad.patch'), '-o', file('x.wasm')], /bad\.patch: checksum mismatch/, ['base/firmware.wasm'], ['x.wasm']);
  refuses(['patch', file('base/firmware.wasm'), file('base.q.safetensors'), '-o', file('x.wasm')], /base\.q\.safetensors: not a sparrow firmware patch \(bad magic\)$/, [], ['x.wasm']);
  refuses(['patch', file('base/firmware.wasm'), file('missing.patch'), '-o', file('x.wasm')], /missing\.patch: cannot read \(ENOENT\)$/, [], ['x.wasm']);
});

test('diff refuses another sparsity pattern, a float model, the wrong base, and --firmware with build options', () => {
  refuses(['diff', file('base.q.safetensors'), file('pruned-more.q.safetensors'), '--firmware', file('base/firmware.wasm'), '-o', file('p.patch')], /pruned-more\.q\.safetensors: layers\.1\.ssm\.B_im: the sparsity pattern differs from .*base\.q\.safetensors's at row \d+, column \d+ \(-?\d+ → 0\); a patch changes values only/, [], ['p.patch']);
  refuses(['diff', file('float.safetensors'), file('tuned.q.safetensors'), '-o', file('p.patch')], /float\.safetensors: a float model; patches carry the values of quantized \(w8a16\) models/, [], ['p.patch']);
  refuses(['diff', file('tuned.q.safetensors'), file('base.q.safetensors'), '--firmware', file('base/firmware.wasm'), '-o', file('p.patch')], /base\/firmware\.wasm was not compiled from .*tuned\.q\.safetensors \(/, [], ['p.patch']);
  refuses(['diff', file('base.q.safetensors'), file('tuned.q.safetensors'), '--firmware', file('base/firmware.wasm'), '--format', 'csr8', '-o', file('p.patch')], /^diff: --firmware is the base as built; drop the build options \(--format\)$/, [], ['p.patch']);
});
