// Long runs: constant memory and finite outputs over 100,000 streamed steps.

import { compileModel } from '../../host/compile/compile';
import { randomModel } from '../../host/model/random';
import { runFloat, stepFloat, zeroState } from '../../host/reference/float';
import { createRunner } from '../../host/runtime/runtime';
import { makeRng } from '../../host/util/rng';

test('100,000 steps: linear memory size unchanged, outputs finite, every step on the float64 reference', () => {
  // |Λ| up to 0.999 (slow states) and gelu + gate: the hardest case for f32 drift.
  const model = randomModel({ d_in: 4, d_model: 32, d_state: 32, d_out: 4, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true, sparsity: 0.8, seed: 11, maxRadius: 0.999 });
  const runner = createRunner(compileModel(model).wasm);
  const bytesBefore = runner.exports.memory.buffer.byteLength;
  const rng = makeRng(5);
  const x = new Float32Array(4);
  const refState = zeroState(model);
  let finite = true;
  let worst = 0;
  for (let t = 0; t < 100_000; t++) {
    // Adversarial segments: noise, then long constant runs, then large alternating inputs.
    const phase = Math.floor(t / 10_000) % 3;
    for (let j = 0; j < 4; j++) x[j] = phase === 0 ? rng.normal() : phase === 1 ? 3 : (t % 2 === 0 ? 50 : -50);
    const y = runner.step(x);
    const ref = stepFloat(model, refState, x);
    for (let j = 0; j < 4; j++) {
      if (!Number.isFinite(y[j])) finite = false;
      worst = Math.max(worst, Math.abs(y[j] - ref[j]) / (1 + Math.abs(ref[j])));
    }
  }
  expect(finite).toBe(true);
  expect(runner.exports.memory.buffer.byteLength).toBe(bytesBefore);
  // f32 rounding must not accumulate: the whole run stays on the float64 reference.
  expect(worst).toBeLessThanOrEqual(1e-4);
});

test('reset() returns the firmware to the zero state', () => {
  const model = randomModel({ d_in: 1, d_model: 8, d_state: 8, d_out: 1, n_layers: 1, act: 'relu', encoder_act: 'none', gate: false, sparsity: 0.5, seed: 2 });
  const runner = createRunner(compileModel(model).wasm);
  const seq = Float32Array.from({ length: 20 }, (_, i) => Math.cos(i));
  const first = runner.run(seq, 20);
  const second = runner.run(seq, 20);
  expect(Array.from(second)).not.toEqual(Array.from(first)); // state carried over
  runner.reset();
  expect(Array.from(runner.run(seq, 20))).toEqual(Array.from(first));
  const ref = runFloat(model, seq, 20);
  first.forEach((v, i) => expect(Math.abs(v - ref[i])).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(ref[i]))));
});
