// Kernel strategies (table-driven vs weights in code) and the op counters of
// `--profile` builds: bit-exact with the integer reference, and counts equal to
// the analytic formula computed here from the dimensions and the nonzeros.

import { compileQuantModel } from '../../host/compile/compile';
import { ABI_I16 } from '../../host/compile/abi_i16';
import { SparseFormat } from '../../host/compress/formats';
import { quantizeModel } from '../../host/compress/quantize';
import { QuantModel } from '../../host/model/quant';
import { randomModel } from '../../host/model/random';
import { quantizeInput, runInt } from '../../host/reference/int';
import { createRunner } from '../../host/runtime/runtime';
import { makeRng } from '../../host/util/rng';
import { matvecCounts } from '../helpers/counters';
import { parseModule } from '../../host/wasm/binary';

function model(i: number, sparsity: number, over: Partial<Parameters<typeof randomModel>[0]> = {}): QuantModel {
  const rng = makeRng(900 + i);
  const dim = (): number => 1 + rng.int(48);
  const cfg = {
    d_in: dim(), d_model: dim(), d_state: dim(), d_out: dim(), n_layers: 1 + (i % 3),
    act: (i % 2 ? 'relu' : 'gelu') as 'gelu' | 'relu', encoder_act: (i % 3 ? 'none' : 'relu') as 'none' | 'relu', gate: i % 4 < 2, sparsity, seed: 40 + i, ...over,
  };
  const m = randomModel(cfg);
  return quantizeModel(m, { sequences: [{ data: Float64Array.from({ length: 100 * cfg.d_in }, () => rng.normal()), T: 100 }] });
}

function inputs(q: QuantModel, T: number, seed: number): Int16Array {
  const rng = makeRng(seed);
  return Int16Array.from({ length: T * q.config.d_in }, () => quantizeInput(3 * rng.normal(), q.inputFrac));
}

function firstDifference(a: Int16Array, b: Int16Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

describe('weights in code (--kernel unrolled)', () => {
  const cases = [0, 0.5, 0.9, 0.99, 0.8, 0.95].map((s, i) => ({ name: `#${i} s=${s}`, q: model(i, s), wasmOpt: i % 2 === 1 }));

  test.each(cases)('$name: unrolled equals the integer reference exactly for 2000 steps', ({ q, wasmOpt }) => {
    const fw = compileQuantModel(q, { kernel: 'unrolled', wasmOpt });
    expect(new Set(fw.manifest.firmware.matrices!.map((m) => m.format))).toEqual(new Set(['unrolled']));
    const x = inputs(q, 2000, 3);
    expect(firstDifference(createRunner(fw.wasm).runRaw(x, 2000), runInt(q, x, 2000))).toBe(-1);
  });

  test('a per-matrix mix of strategies equals the reference too', () => {
    const q = model(7, 0.9);
    let n = 0;
    const fw = compileQuantModel(q, { kernel: () => (n++ % 2 === 0 ? 'unrolled' : 'csr'), format: 'delta4' });
    const formats = fw.manifest.firmware.matrices!.map((m) => m.format);
    expect(formats).toContain('unrolled');
    expect(formats).toContain('delta4');
    const x = inputs(q, 1000, 4);
    expect(firstDifference(createRunner(fw.wasm).runRaw(x, 1000), runInt(q, x, 1000))).toBe(-1);
  });

  test('no weight or index data is stored for unrolled matrices, and the placeholder export is gone', () => {
    const q = model(2, 0.9);
    const table = compileQuantModel(q, { kernel: 'csr' });
    const code = compileQuantModel(q, { kernel: 'unrolled' });
    for (const m of code.manifest.firmware.matrices!) expect(m.indexBytes + m.valueBytes).toBe(0);
    const names = parseModule(code.wasm).exports.map((e) => e.name);
    expect(names).not.toContain('sparrow_unrolled');
    expect(code.manifest.firmware.dataBytes).toBeLessThan(table.manifest.firmware.dataBytes);
  });
});

// ---------------------------------------------------------------------------
// Op counters
// ---------------------------------------------------------------------------

type Strategy = SparseFormat | 'unrolled';
const C = ABI_I16;

function expectedPerStep(q: QuantModel, s: Strategy): number[] {
  const { d_model: H, d_state: P, d_out, act, gate } = q.config;
  const c = new Array<number>(C.N_COUNTERS).fill(0);
  const plus = (v: number[]): void => v.forEach((x, i) => (c[i] += x));
  const elem = (mac: number, state: number, param: number, lut: number, branch: number): void => {
    c[C.C_MAC_ELEMENTWISE] += mac;
    c[C.C_LOAD_STATE] += state;
    c[C.C_LOAD_PARAM] += param;
    c[C.C_LUT] += lut;
    c[C.C_BRANCH] += branch;
  };
  c[C.C_STEPS] = 1;
  plus(matvecCounts(q.encoderWeight, s));
  elem(0, 0, 2 * H, 0, H); // bias + shift per unit
  for (const L of q.layers) {
    elem(H, 0, 2 * H, 0, H); // norm
    for (const m of [L.B_re, L.B_im, L.C_re, L.C_im]) plus(matvecCounts(m, s));
    elem(4 * P, 2 * P, 3 * P, 0, P); // complex diagonal recurrence
    elem(H, 0, 2 * H, act === 'gelu' ? H : 0, H); // C shift, D, activation
    if (gate) {
      plus(matvecCounts(L.gateWeight!, s));
      elem(H, 0, 2 * H, H, H);
    }
    elem(0, 0, 0, 0, H); // residual
  }
  plus(matvecCounts(q.decoderWeight, s));
  elem(0, 0, 2 * d_out, 0, d_out);
  return c;
}

describe('--profile op counters', () => {
  const strategies: Strategy[] = ['dense', 'csr16', 'csr8', 'delta8', 'delta4', 'bitmap', 'unrolled'];
  test.each(strategies.map((s, i) => ({ s, i })))('$s: counters after 7 steps = 7 × the analytic formula', ({ s, i }) => {
    // Large gaps at 0.97 exercise the delta escapes; gate and GELU on alternating cases.
    const q = model(20 + i, s === 'delta4' ? 0.97 : 0.85, { d_model: 40 + i, d_state: 24, gate: i % 2 === 0, act: i % 3 === 0 ? 'relu' : 'gelu' });
    const fw = compileQuantModel(q, s === 'unrolled' ? { kernel: 'unrolled', profile: true } : { format: s, profile: true });
    expect(fw.manifest.firmware.exports).toContain('counters_ptr');
    const r = createRunner(fw.wasm);
    const exp = r.exports as unknown as { counters_ptr(): number; memory: WebAssembly.Memory };
    r.runRaw(inputs(q, 7, 1), 7); // run() resets first, and reset() clears the counters
    const counters = Array.from(new BigUint64Array(exp.memory.buffer, exp.counters_ptr(), C.N_COUNTERS), Number);
    expect(counters).toEqual(expectedPerStep(q, s).map((v) => 7 * v));
  });

  test('the profile build computes the same outputs, and normal builds report counters_ptr() = 0', () => {
    const q = model(30, 0.9);
    const plain = compileQuantModel(q);
    const prof = compileQuantModel(q, { profile: true });
    const x = inputs(q, 500, 9);
    expect(firstDifference(createRunner(prof.wasm).runRaw(x, 500), createRunner(plain.wasm).runRaw(x, 500))).toBe(-1);
    expect((createRunner(plain.wasm).exports as unknown as { counters_ptr(): number }).counters_ptr()).toBe(0);
  });
});
