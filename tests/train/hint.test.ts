// Hint distillation (host/train/hint.ts): the loss against values worked out by hand, its
// gradient against central differences, and the backward pass's gradBlocks (a loss on the
// residual stream after each block) against central differences of the forward pass.

import { backwardBatch, forwardBatch } from '../../host/train/backprop';
import { hintLoss } from '../../host/train/hint';
import { initParams, Masks, paramRefs } from '../../host/train/params';
import { ModelConfig } from '../../host/model/types';
import { makeRng } from '../../host/util/rng';
import { centralDifference } from '../helpers/fd';

test('hintLoss by hand: per example and block, β/L · squared error over the teacher energy', () => {
  // N = 2 sequences, T = 1, H = 2, L = 2 blocks.
  const teacher = [Float64Array.of(3, 4, 1, 0), Float64Array.of(0, 2, 0, 0)];
  const student = [Float64Array.of(3, 5, 0, 0), Float64Array.of(1, 1, 7, 7)];
  const { loss, grads } = hintLoss(student, teacher, 2, 1, 2, 0.5);
  // Block 0: example 0 error 1 over energy 25, example 1 error 1 over energy 1.
  // Block 1: example 0 error 1 + 1 = 2 over energy 4; example 1's teacher is 0: no term.
  const k = 0.5 / 2;
  expect(loss).toBeCloseTo(k * (1 / 25 + 1 / 1 + 2 / 4), 14);
  expect(Array.from(grads[0])).toEqual([0, (2 * k * 1) / 25, (2 * k * -1) / 1, 0]);
  expect(Array.from(grads[1])).toEqual([(2 * k * 1) / 4, (2 * k * -1) / 4, 0, 0]);
  // A student equal to its teacher: nothing to learn.
  const same = hintLoss(teacher, teacher, 2, 1, 2, 3);
  expect(same.loss).toBe(0);
  expect(same.grads.every((g) => g.every((v) => v === 0))).toBe(true);
  // Scale-free: the teacher and the student scaled alike give the same loss.
  const scaled = hintLoss(student.map((s) => s.map((v) => 10 * v)), teacher.map((t) => t.map((v) => 10 * v)), 2, 1, 2, 0.5);
  expect(scaled.loss).toBeCloseTo(loss, 12);
});

test('hintLoss gradient equals central differences', () => {
  const rng = makeRng(4);
  const N = 3;
  const T = 4;
  const H = 3;
  const student = [0, 1].map(() => Float64Array.from({ length: N * T * H }, () => rng.normal()));
  const teacher = [0, 1].map(() => Float64Array.from({ length: N * T * H }, () => rng.normal()));
  const { grads } = hintLoss(student, teacher, N, T, H, 1.7);
  student.forEach((s, l) => {
    for (let i = 0; i < s.length; i++) {
      const fd = centralDifference(s, i, 1e-6, () => hintLoss(student, teacher, N, T, H, 1.7).loss);
      expect(Math.abs(fd - grads[l][i])).toBeLessThan(1e-7 * (1 + Math.abs(fd)));
    }
  });
});

test('hintLoss refuses streams of the wrong shape', () => {
  expect(() => hintLoss([new Float64Array(4)], [new Float64Array(4), new Float64Array(4)], 1, 2, 2, 1)).toThrow(/1 student blocks, 2 teacher blocks/);
  expect(() => hintLoss([new Float64Array(4)], [new Float64Array(6)], 1, 2, 2, 1)).toThrow(/block 0 has 4 and 6 values, want 4/);
});

test('backwardBatch with gradBlocks: the gradient of outputs and block streams together matches central differences', () => {
  const config: ModelConfig = { d_in: 2, d_model: 3, d_state: 2, d_out: 2, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true };
  const p = initParams(config, 9, [0.05, 0.5]);
  const rng = makeRng(10);
  for (const r of paramRefs(p)) for (let i = 0; i < r.value.length; i++) r.value[i] += 0.2 * rng.normal();
  const T = 4;
  const N = 2;
  const inputs = Array.from({ length: N }, () => Float32Array.from({ length: T * config.d_in }, () => rng.normal()));
  const wOut = Array.from({ length: N }, () => Float64Array.from({ length: T * config.d_out }, () => rng.normal()));
  // A fixed random linear loss of the first block's stream, and none on the second's.
  const w0 = Float64Array.from({ length: N * T * config.d_model }, () => rng.normal());
  const wBlock = [w0, undefined];
  const masks: Masks = new Map();
  const lossOf = (): number => {
    const { outputs, tape } = forwardBatch(p, masks, inputs, T, false);
    let s = 0;
    outputs.forEach((o, n) => o.forEach((v, i) => (s += v * wOut[n][i])));
    tape.blockOut[0].forEach((v, i) => (s += v * w0[i]));
    return s;
  };
  const { tape } = forwardBatch(p, masks, inputs, T, false);
  // The last block's stream is what the decoder reads.
  expect(tape.blockOut[1]).toBe(tape.uLast);
  const g = paramRefs(backwardBatch(p, tape, wOut, wBlock));
  const without = paramRefs(backwardBatch(p, tape, wOut));
  let moved = false;
  paramRefs(p).forEach((ref, k) => {
    for (let i = 0; i < ref.value.length; i++) {
      const fd = centralDifference(ref.value, i, 1e-5, lossOf);
      const an = g[k].value[i];
      if (Math.abs(fd - an) / (1e-6 + Math.abs(fd) + Math.abs(an)) > 1e-5) throw new Error(`${ref.name}[${i}]: analytic ${an}, finite difference ${fd}`);
      if (Math.abs(an - without[k].value[i]) > 1e-9) moved = true;
    }
  });
  // The block term reached the parameters (it is not lost on the way down).
  expect(moved).toBe(true);
});
