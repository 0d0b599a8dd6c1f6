// The f32 firmware against the float64 reference on many random models, and the binary
// properties every firmware must have (parsed from the bytes here, not taken from the compiler).

import { compileModel } from '../../host/compile/compile';
import { randomModel } from '../../host/model/random';
import { Model } from '../../host/model/types';
import { runFloat } from '../../host/reference/float';
import { createRunner } from '../../host/runtime/runtime';
import { makeRng } from '../../host/util/rng';
import { memoryLimits, parseModule, scanFunctions } from '../../host/wasm/binary';

const STEPS = 2000;

interface Case {
  name: string;
  model: Model;
  /** Every fourth model also goes through binaryen's wasm-opt (2 s each); the rest are linked only. */
  wasmOpt: boolean;
}

/**
 * ≥ 20 models covering every combination of activation, gate and encoder relu at least
 * twice, dims drawn from 1..96 and sparsity from 0..0.98 (including both ends).
 */
function cases(): Case[] {
  const rng = makeRng(2024);
  const sparsities = [0, 0.98, 0.5, 0.9, 0.3, 0.95, 0.7, 0.8];
  const dim = (): number => 1 + rng.int(96);
  const out: Case[] = [];
  for (let i = 0; i < 24; i++) {
    const act = i % 2 === 0 ? 'gelu' : 'relu';
    const gate = ((i >> 1) & 1) === 1;
    const encoder_act = ((i >> 2) & 1) === 1 ? 'relu' : 'none';
    // The first cases pin the extremes of every dimension; the rest are random.
    const d_in = i === 0 ? 1 : i === 1 ? 96 : dim();
    const d_model = i === 0 ? 1 : i === 1 ? 96 : dim();
    const d_state = i === 0 ? 1 : i === 1 ? 96 : dim();
    const d_out = i === 0 ? 1 : i === 1 ? 96 : dim();
    const n_layers = 1 + (i % 4);
    const sparsity = sparsities[i % sparsities.length];
    const model = randomModel({ d_in, d_model, d_state, d_out, n_layers, act, encoder_act, gate, sparsity, seed: 100 + i });
    const wasmOpt = i % 4 === 3;
    out.push({ name: `#${i} ${d_in}→H${d_model}/P${d_state}→${d_out} L${n_layers} ${act}${gate ? '+gate' : ''}${encoder_act === 'relu' ? ' enc-relu' : ''} s=${sparsity}${wasmOpt ? ' wasm-opt' : ''}`, model, wasmOpt });
  }
  return out;
}

function randomSequence(T: number, d: number, seed: number): Float32Array {
  const rng = makeRng(seed);
  const x = new Float32Array(T * d);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  return x;
}

describe.each(cases())('$name', ({ model, wasmOpt }) => {
  const fw = compileModel(model, { wasmOpt });

  test(`matches the float64 reference within 1e-4·(1 + |ref|) for ${STEPS} steps`, () => {
    const { d_in, d_out } = model.config;
    const x = randomSequence(STEPS, d_in, 7);
    const ref = runFloat(model, x, STEPS);
    const out = createRunner(fw.wasm).run(x, STEPS);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(out[i] - ref[i]) / (1 + Math.abs(ref[i])));
    expect(out.length).toBe(STEPS * d_out);
    expect(worst).toBeLessThanOrEqual(1e-4);
  });

  test('zero imports, no memory.grow, no SIMD, initial == maximum pages, selftest() == 0', () => {
    const mod = parseModule(fw.wasm);
    expect(mod.imports).toHaveLength(0);
    expect(WebAssembly.Module.imports(new WebAssembly.Module(fw.wasm))).toHaveLength(0);
    const limits = memoryLimits(mod)!;
    expect(limits.maximumPages).toBe(limits.initialPages);
    expect(limits.initialPages).toBe(fw.manifest.firmware.pages);
    const scan = scanFunctions(mod);
    expect(scan.some((f) => f.memoryGrow)).toBe(false);
    expect(scan.some((f) => f.simd)).toBe(false);
    // MVP + sign-extension only: nothing a WAMR build without bulk-memory or threads would reject.
    expect(scan.some((f) => f.bulkMemory || f.atomics)).toBe(false);
    expect(mod.start).toBeUndefined();
    const runner = createRunner(fw.wasm);
    expect(runner.exports.memory.buffer.byteLength).toBe(limits.initialPages * 65536);
    expect(runner.selftest()).toBe(0);
  });
});

test('selftest() detects a firmware whose weights do not match its golden vectors', () => {
  const model = randomModel({ d_in: 2, d_model: 8, d_state: 8, d_out: 2, n_layers: 1, act: 'gelu', encoder_act: 'none', gate: false, sparsity: 0, seed: 3 });
  const fw = compileModel(model);
  const runner = createRunner(fw.wasm);
  expect(runner.selftest()).toBe(0);
  // Flip the decoder bias inside linear memory: the golden outputs no longer match.
  const bias = model.decoderBias;
  const mem = new Float32Array(runner.exports.memory.buffer);
  let patched = 0;
  for (let i = 0; i + 1 < mem.length; i++) {
    if (mem[i] === bias[0] && mem[i + 1] === bias[1]) {
      mem[i] += 1;
      patched++;
    }
  }
  expect(patched).toBe(1);
  expect(runner.selftest()).toBe(16); // output 0 is off by 1 at each of the 16 golden steps
});
