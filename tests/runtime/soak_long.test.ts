// Months on a device, compressed: 1,000,000 steps of adversarial input through an integer and
// a float firmware. No wrap (the integer firmware equals the clamping integer reference on
// every step of the first 250,000, which cover each input phase, the extremes twice), no NaN,
// no trap, linear memory unchanged, selftest still passing at the end.

import { compileModel, compileQuantModel } from '../../host/compile/compile';
import { quantizeModel } from '../../host/compress/quantize';
import { randomModel } from '../../host/model/random';
import { stepInt, zeroIntState } from '../../host/reference/int';
import { createRunner } from '../../host/runtime/runtime';
import { makeRng } from '../../host/util/rng';

const STEPS = 1_000_000;
/** The JS reference runs ~10 µs/step: compare on a prefix that covers every phase. */
const REFERENCE_STEPS = 250_000;
const D_IN = 2;

/** Phases of 50,000 steps: int16 extremes, alternating signs, long constant runs, noise. */
function adversarial(t: number, j: number, rng: () => number): number {
  switch (Math.floor(t / 50_000) % 4) {
    case 0: return (t + j) % 2 === 0 ? 32767 : -32768;
    case 1: return j === 0 ? 32767 : -32768;
    case 2: return 0;
    default: return Math.round((rng() * 2 - 1) * 32767);
  }
}

const model = randomModel({ d_in: D_IN, d_model: 16, d_state: 16, d_out: 2, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true, sparsity: 0.5, seed: 31, maxRadius: 0.999 });

test('integer firmware: 1,000,000 adversarial steps, equal to the clamping reference, memory unchanged', () => {
  const rng = makeRng(4);
  const q = quantizeModel(model, { sequences: [{ data: Float64Array.from({ length: 400 }, () => rng.normal()), T: 200 }] }, { perChannel: true });
  const runner = createRunner(compileQuantModel(q, { wasmOpt: false }).wasm);
  const fw = runner.exports;
  const bytes = fw.memory.buffer.byteLength;
  const input = new Int16Array(fw.memory.buffer, fw.input_ptr(), D_IN);
  const output = new Int16Array(fw.memory.buffer, fw.output_ptr(), 2);
  const state = zeroIntState(q);
  const x = new Int16Array(D_IN);
  const noise = makeRng(8);
  let mismatches = 0;
  for (let t = 0; t < STEPS; t++) {
    for (let j = 0; j < D_IN; j++) x[j] = adversarial(t, j, noise.uniform);
    input.set(x);
    fw.step();
    if (t < REFERENCE_STEPS) {
      const ref = stepInt(q, state, x);
      if (output[0] !== ref[0] || output[1] !== ref[1]) mismatches++;
    }
  }
  expect(mismatches).toBe(0);
  expect(fw.memory.buffer.byteLength).toBe(bytes);
  expect(runner.selftest()).toBe(0); // the weights were never overwritten
});

test('float firmware: 1,000,000 adversarial steps stay finite, memory unchanged', () => {
  const runner = createRunner(compileModel(model, { wasmOpt: false }).wasm);
  const fw = runner.exports;
  const bytes = fw.memory.buffer.byteLength;
  const input = new Float32Array(fw.memory.buffer, fw.input_ptr(), D_IN);
  const output = new Float32Array(fw.memory.buffer, fw.output_ptr(), 2);
  const noise = makeRng(8);
  let nonFinite = 0;
  for (let t = 0; t < STEPS; t++) {
    for (let j = 0; j < D_IN; j++) input[j] = adversarial(t, j, noise.uniform) / 1000; // ±32.8: far outside the training range
    fw.step();
    if (!Number.isFinite(output[0]) || !Number.isFinite(output[1])) nonFinite++;
  }
  expect(nonFinite).toBe(0);
  expect(fw.memory.buffer.byteLength).toBe(bytes);
  expect(runner.selftest()).toBe(0);
});
