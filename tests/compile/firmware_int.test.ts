// Integer (w8a16) firmware against the integer reference, bit for bit, on many random
// quantized models in every sparse format; no floating-point instruction reachable from step().

import { compileQuantModel } from '../../host/compile/compile';
import { SPARSE_FORMATS } from '../../host/compress/formats';
import { quantizeModel } from '../../host/compress/quantize';
import { QuantModel } from '../../host/model/quant';
import { randomModel } from '../../host/model/random';
import { IntTrace, quantizeInput, runInt, stepInt, zeroIntState } from '../../host/reference/int';
import { createRunner } from '../../host/runtime/runtime';
import { makeRng } from '../../host/util/rng';
import { parseModule, summarizeReachable } from '../../host/wasm/binary';

const STEPS = 5000;

const FORMATS = ['auto', ...SPARSE_FORMATS] as const;

function cases(): { name: string; q: QuantModel; wasmOpt: boolean; format: (typeof FORMATS)[number] }[] {
  const rng = makeRng(77);
  const sparsities = [0, 0.99, 0.5, 0.9, 0.3, 0.95, 0.7, 0.8];
  const dim = (): number => 1 + rng.int(128);
  return Array.from({ length: 32 }, (_, i) => {
    const act = i % 2 === 0 ? 'gelu' : 'relu';
    const gate = ((i >> 1) & 1) === 1;
    const encoder_act = ((i >> 2) & 1) === 1 ? 'relu' : 'none';
    const pin = i === 0 ? 1 : i === 1 ? 128 : 0;
    const [d_in, d_model, d_state, d_out] = [0, 0, 0, 0].map(() => pin || dim());
    const n_layers = 1 + (i % 3);
    const sparsity = sparsities[i % sparsities.length];
    const model = randomModel({ d_in, d_model, d_state, d_out, n_layers, act, encoder_act, gate, sparsity, seed: 300 + i });
    const calib = { sequences: [{ data: Float64Array.from({ length: 200 * d_in }, () => rng.normal()), T: 200 }] };
    const q = quantizeModel(model, calib, { perChannel: i % 3 === 0 });
    const format = FORMATS[i % FORMATS.length];
    return { name: `#${i} ${d_in}→H${d_model}/P${d_state}→${d_out} L${n_layers} ${act}${gate ? '+gate' : ''}${encoder_act === 'relu' ? ' enc-relu' : ''} s=${sparsity} ${format}`, q, wasmOpt: i % 8 === 7, format };
  });
}

function inputs(q: QuantModel, T: number, seed: number): Int16Array {
  const rng = makeRng(seed);
  // 3σ Gaussian in the calibrated format: some steps saturate the input, as in the field.
  return Int16Array.from({ length: T * q.config.d_in }, () => quantizeInput(3 * rng.normal(), q.inputFrac));
}

describe.each(cases())('$name', ({ q, wasmOpt, format }) => {
  const fw = compileQuantModel(q, { wasmOpt, format });

  test('every matrix is stored in the requested format', () => {
    const used = new Set(fw.manifest.firmware.matrices!.map((m) => m.format));
    if (format !== 'auto') expect([...used]).toEqual([format]);
  });

  test(`equals the integer reference exactly for ${STEPS} steps`, () => {
    const x = inputs(q, STEPS, 5);
    const ref = runInt(q, x, STEPS);
    const out = createRunner(fw.wasm).runRaw(x, STEPS);
    let first = -1;
    for (let i = 0; i < ref.length && first < 0; i++) if (out[i] !== ref[i]) first = i;
    expect(first).toBe(-1);
  });

  test('no float instruction reachable from step(); selftest() == 0', () => {
    const mod = parseModule(fw.wasm);
    expect(summarizeReachable(mod, 'step').float).toBe(0);
    expect(mod.imports).toHaveLength(0);
    expect(createRunner(fw.wasm).selftest()).toBe(0);
  });
});

test('saturation: int16 extremes with alternating signs for 10,000 steps never wrap', () => {
  // Large weights and slow states drive every tensor into saturation; the reference clamps exactly.
  const model = randomModel({ d_in: 4, d_model: 48, d_state: 48, d_out: 4, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true, sparsity: 0.5, seed: 12, maxRadius: 0.999 });
  const rng = makeRng(3);
  const q = quantizeModel(model, { sequences: [{ data: Float64Array.from({ length: 400 }, () => 0.1 * rng.normal()), T: 100 }] });
  const T = 10_000;
  const x = new Int16Array(T * 4);
  for (let t = 0; t < T; t++) for (let j = 0; j < 4; j++) x[t * 4 + j] = (t + j) % 2 === 0 ? 32767 : -32768;
  const ref = runInt(q, x, T);
  const out = createRunner(compileQuantModel(q).wasm).runRaw(x, T);
  expect(Array.from(out)).toEqual(Array.from(ref));
  // It really saturated: the residual stream or a state hit the int16 rails along the way.
  const state = zeroIntState(q);
  let railHits = 0;
  const rail = (a: Int16Array): number => a.reduce((n, v) => n + (v === 32767 || v === -32768 ? 1 : 0), 0);
  for (let t = 0; t < 200; t++) {
    const trace: IntTrace = { u: [], v: [], y: [], a: [] };
    stepInt(q, state, x.subarray(t * 4, t * 4 + 4), trace);
    railHits += trace.u.reduce((n, u) => n + rail(u), 0) + trace.y.reduce((n, y) => n + rail(y), 0) + state.sRe.reduce((n, s) => n + rail(s), 0);
  }
  expect(railHits).toBeGreaterThan(0);
});

test('float in, float out: an integer firmware is drop-in for the f32 one', () => {
  const model = randomModel({ d_in: 2, d_model: 16, d_state: 16, d_out: 2, n_layers: 1, act: 'relu', encoder_act: 'none', gate: false, sparsity: 0.5, seed: 4 });
  const rng = makeRng(9);
  const seq = Float64Array.from({ length: 400 }, () => rng.normal());
  const q = quantizeModel(model, { sequences: [{ data: seq, T: 200 }] });
  const runner = createRunner(compileQuantModel(q).wasm);
  expect(runner.ioFormat).toBe('i16');
  const real = runner.run(seq, 200);
  runner.reset();
  const raw = runner.runRaw(Int16Array.from(seq, (v) => quantizeInput(v, q.inputFrac)), 200);
  real.forEach((v, i) => expect(v).toBe(raw[i] * 2 ** -q.outputFrac));
});
