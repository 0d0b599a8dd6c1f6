// `sparrow check`: each defect a WAMR deployment would hit is reported, a real firmware is clean.

import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as os from 'os';
import { compileModel } from '../../host/compile/compile';
import { checkForRuntime } from '../../host/compile/runtime_check';
import { randomModel } from '../../host/model/random';
import { wat } from '../helpers/wat';

/** A module with every ABI export; `extra` adds functions, `memory` replaces the memory. */
function firmwareLike(opts: { extra?: string; step?: string; memory?: string; start?: boolean; imports?: string } = {}): Uint8Array {
  const abi = ['init', 'reset', 'input_ptr', 'output_ptr', 'input_len', 'output_len', 'io_format', 'selftest'];
  return wat(`(module
    ${opts.imports ?? ''}
    ${opts.memory ?? '(memory (export "memory") 1 1)'}
    ${abi.map((n) => `(func (export "${n}") (result i32) i32.const 0)`).join('\n')}
    (func $step (export "step") ${opts.step ?? ''})
    ${opts.extra ?? ''}
    ${opts.start ? '(start $step)' : ''}
  )`, ['--all-features']);
}

test('a compiled sparrow firmware is clean on every runtime, with a bounded stack estimate', () => {
  const fw = compileModel(randomModel({ d_in: 2, d_model: 8, d_state: 8, d_out: 2, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true, sparsity: 0.5, seed: 1 }), { wasmOpt: false });
  for (const rt of ['wamr-classic', 'wamr-fast', 'wamr-aot'] as const) {
    const r = checkForRuntime(fw.wasm, rt);
    expect(r.problems).toEqual([]);
    expect(r.stackBytesEstimate).toBeGreaterThan(0);
    expect(r.stackBytesEstimate).toBeLessThan(16 * 1024);
    expect(r.callDepth).toBeGreaterThanOrEqual(2); // step → matvec at least
  }
});

test.each([
  ['an import (env.abort)', { imports: '(import "env" "abort" (func (param i32 i32 i32 i32)))' }, 'imports env.abort'],
  ['SIMD', { step: '(drop (i32x4.extract_lane 0 (v128.const i32x4 1 2 3 4)))' }, 'SIMD instructions in 1 function'],
  ['memory.grow', { step: '(drop (memory.grow (i32.const 1)))' }, 'memory.grow in 1 function'],
  ['memory without maximum', { memory: '(memory (export "memory") 1)' }, 'memory has no maximum'],
  ['growable memory', { memory: '(memory (export "memory") 1 4)' }, 'memory not fixed: initial 1 pages, maximum 4'],
  ['a start function', { start: true }, 'has a start function'],
  ['recursion', { step: '(call $r)', extra: '(func $r (call $r))' }, 'recursion reachable from step()'],
  ['atomics', { memory: '(memory (export "memory") 1 1 shared)', step: '(drop (i32.atomic.load (i32.const 0)))' }, 'atomic instructions'],
])('%s is a problem', (_name, opts, fragment) => {
  const r = checkForRuntime(firmwareLike(opts), 'wamr-classic');
  expect(r.problems.join('\n')).toContain(fragment);
});

test('missing ABI exports are named; bulk memory is a warning, not a problem', () => {
  const bare = wat('(module (memory (export "memory") 1 1) (func (export "step")))');
  expect(checkForRuntime(bare, 'wamr-fast').problems.join('\n')).toContain('missing ABI exports: init, reset, input_ptr, output_ptr, input_len, output_len, io_format, selftest');
  const bulk = checkForRuntime(firmwareLike({ step: '(memory.fill (i32.const 0) (i32.const 0) (i32.const 4))' }), 'wamr-classic');
  expect(bulk.problems).toEqual([]);
  expect(bulk.warnings.join('\n')).toContain('WAMR_BUILD_BULK_MEMORY');
});

test('CLI: exit 0 when clean, 1 with one line per problem', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-check-'));
  try {
    fs.writeFileSync(path.join(dir, 'bad.wasm'), firmwareLike({ step: '(drop (memory.grow (i32.const 1)))', start: true }));
    const r = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'dist', 'sparrow.cjs'), 'check', 'bad.wasm', '--runtime', 'wamr-aot'], { cwd: dir, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout.split('\n').filter((l) => l.includes('problem:'))).toHaveLength(2);
    fs.writeFileSync(path.join(dir, 'good.wasm'), compileModel(randomModel({ d_in: 1, d_model: 4, d_state: 4, d_out: 1, n_layers: 1, act: 'relu', encoder_act: 'none', gate: false, sparsity: 0, seed: 2 }), { wasmOpt: false }).wasm);
    expect(spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'dist', 'sparrow.cjs'), 'check', 'good.wasm'], { cwd: dir }).status).toBe(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
