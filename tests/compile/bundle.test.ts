// `sparrow bundle`: the files an embedded project needs, consistent with each other; main.c compiles.

import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { serializeModel } from '../../host/model/model';
import { randomModel } from '../../host/model/random';

const CLI = path.join(__dirname, '..', '..', 'dist', 'sparrow.cjs');
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-bundle-'));
  fs.writeFileSync(path.join(dir, 'm.safetensors'), serializeModel(randomModel({ d_in: 2, d_model: 16, d_state: 16, d_out: 2, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true, sparsity: 0.9, seed: 3 })));
  const q = spawnSync(process.execPath, [CLI, 'quantize', 'm.safetensors', '-o', 'q.safetensors', '--calib-random', '200'], { cwd: dir, encoding: 'utf8' });
  if (q.status !== 0) throw new Error(q.stderr);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test.each(['m.safetensors', 'q.safetensors'])('bundle of %s: files, C array = firmware.wasm, manifest budgets, main.c compiles', (model) => {
  const out = path.join(dir, `b-${model}`);
  const r = spawnSync(process.execPath, [CLI, 'bundle', model, '-o', out, '--json'], { cwd: dir, encoding: 'utf8' });
  expect(r.status).toBe(0);
  for (const f of ['firmware.wasm', 'firmware_wasm.h', 'main.c', 'CMakeLists.txt', 'manifest.json']) expect(fs.existsSync(path.join(out, f))).toBe(true);

  const wasm = fs.readFileSync(path.join(out, 'firmware.wasm'));
  const header = fs.readFileSync(path.join(out, 'firmware_wasm.h'), 'utf8');
  const bytes = Uint8Array.from([...header.matchAll(/0x([0-9a-f]{2}),/g)].map((m) => parseInt(m[1], 16)));
  expect(Buffer.from(bytes).equals(wasm)).toBe(true);
  expect(header).toContain(`#define FIRMWARE_WASM_LEN ${wasm.length}u`);
  expect(header).toMatch(/static const uint8_t firmware_wasm\[FIRMWARE_WASM_LEN\] __attribute__\(\(aligned\(4\)\)\)/);

  const manifest = JSON.parse(r.stdout);
  expect(manifest.wamr.flashBytes).toBe(wasm.length);
  expect(manifest.wamr.heapBytes).toBe(0);
  expect(manifest.wamr.poolBytesEstimate).toBe(manifest.wamr.linearMemoryBytes + manifest.wamr.stackBytes + 32 * 1024);
  expect(manifest.wamr.ramBytesEstimate).toBe(manifest.wamr.poolBytesEstimate + wasm.length);
  expect(manifest.engine).toBe(model === 'q.safetensors' ? 'i16' : 'f32');
  const main = fs.readFileSync(path.join(out, 'main.c'), 'utf8');
  expect(main).toContain(`#define POOL_BYTES ${manifest.wamr.poolBytesEstimate}u`);
  expect(main).toContain(`#define STACK_BYTES ${manifest.wamr.stackBytes}u`);

  // The generated C compiles (strict warnings) against the WAMR API declarations.
  execFileSync('cc', ['-std=c99', '-Wall', '-Wextra', '-Werror', '-fsyntax-only', '-D_DEFAULT_SOURCE', '-I', path.join(__dirname, '..', 'helpers', 'wamr-stub'), '-I', out, path.join(out, 'main.c')], { stdio: 'pipe' });
});

test('bundle writes nothing for a model that does not load', () => {
  fs.writeFileSync(path.join(dir, 'bad.safetensors'), 'not a model at all');
  const r = spawnSync(process.execPath, [CLI, 'bundle', 'bad.safetensors', '-o', 'never'], { cwd: dir, encoding: 'utf8' });
  expect(r.status).not.toBe(0);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(fs.existsSync(path.join(dir, 'never'))).toBe(false);
});

test('with wamrc on the PATH and a board, bundle writes firmware.aot with the board core flags', () => {
  // A stand-in wamrc records its arguments into the -o file (the real one needs LLVM, not installed here).
  const bin = path.join(dir, 'fakebin');
  fs.mkdirSync(bin, { recursive: true });
  const fake = path.join(bin, 'wamrc');
  fs.writeFileSync(fake, '#!/bin/sh\n[ "$1" = "--version" ] && { echo "wamrc fake"; exit 0; }\nout=""; prev=""\nfor a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; done\necho "$@" > "$out"\n');
  fs.chmodSync(fake, 0o755);
  const env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` };
  const run = (board: string) => spawnSync(process.execPath, [CLI, 'bundle', 'q.safetensors', '-o', `aot-${board}`, '--board', board], { cwd: dir, encoding: 'utf8', env });
  const m4 = run('nrf52840');
  expect(m4.status).toBe(0);
  const args = fs.readFileSync(path.join(dir, 'aot-nrf52840', 'firmware.aot'), 'utf8');
  expect(args).toContain('--target=thumbv7em --target-abi=eabihf --cpu=cortex-m4');
  expect(args.trim().endsWith('firmware.wasm')).toBe(true);
  expect(run('rp2040').status).toBe(0);
  expect(fs.readFileSync(path.join(dir, 'aot-rp2040', 'firmware.aot'), 'utf8')).toContain('--target=thumbv6m --target-abi=eabi --cpu=cortex-m0plus');

  // A wamrc that fails: the bundle says so and leaves no firmware.aot behind.
  fs.writeFileSync(fake, '#!/bin/sh\n[ "$1" = "--version" ] && exit 0\necho "unsupported target" >&2; exit 3\n');
  const failed = run('stm32f767');
  expect(failed.status).toBe(0);
  expect(failed.stdout).toContain('wamrc failed, no firmware.aot: unsupported target');
  expect(fs.readdirSync(path.join(dir, 'aot-stm32f767')).filter((f) => f.includes('aot'))).toEqual([]);
});
