// `sparrow emulate --task`: the task metric of emulated outputs, each example from a
// zero state, against the definition computed here (the integer reference's outputs,
// dequantized, scored by the task), on a short synthetic denoising set.

import { quantizeModel } from '../../host/compress/quantize';
import { loadChip } from '../../host/emulator/chip';
import { emulateModel, emulatorTaskInput } from '../../host/emulator/report';
import { randomModel } from '../../host/model/random';
import { quantizeInput, runInt } from '../../host/reference/int';
import { makeTask } from '../../host/train/tasks';

const task = makeTask({ name: 'denoise', seconds: 0.05, nFft: 64, testSize: 4, trainSize: 2 });
const float = randomModel({ d_in: task.dIn, d_model: 12, d_state: 8, d_out: task.dOut, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: false, sparsity: 0.7, seed: 4 });
const calib = Array.from({ length: 2 }, (_, i) => task.example('train', i));
const q = quantizeModel(float, { sequences: calib.map((e) => ({ data: e.inputs, T: e.T })) });
const chip = loadChip('loihi2');

test('the reference metric is the mean SI-SNRi of the integer reference per example; T=0 emulation equals it bit for bit', () => {
  const ti = emulatorTaskInput(q, task, 3);
  expect(ti.examples).toHaveLength(3);
  expect(ti.input.steps).toBe(3 * task.T);
  const r = emulateModel(q, 'm.q.safetensors', chip, ti.input, { threshold: 0, sigmaDeltaThreshold: 1, task: ti });
  let sum = 0;
  for (let i = 0; i < 3; i++) {
    const ex = task.example('test', i);
    const out = runInt(q, Int16Array.from(ex.inputs, (x) => quantizeInput(x, q.inputFrac)), ex.T);
    sum += task.metric(Float32Array.from(out, (v) => v * 2 ** -q.outputFrac), ex);
  }
  expect(r.task!.reference).toBeCloseTo(sum / 3, 12);
  expect(r.task!.exactBitExact).toBe(true);
  expect(r.task!.exact).toBe(r.task!.reference);
  expect(r.task!.metricName).toBe('SI-SNRi (dB)');
  // Sigma-delta at threshold 1 (one int16 LSB) barely moves the outputs: the metric stays within 0.5 dB.
  expect(r.task!.sigmaDelta.threshold).toBe(1);
  expect(Math.abs(r.task!.sigmaDelta.metric - r.task!.exact)).toBeLessThan(0.5);
  // A coarse threshold costs accuracy or at least changes the outputs.
  const coarse = emulateModel(q, 'm.q.safetensors', chip, ti.input, { threshold: 2000, task: ti });
  expect(coarse.task!.sigmaDelta.metric).not.toBe(coarse.task!.exact);
});

test('a model whose shape does not fit the task is refused with both shapes', () => {
  const other = quantizeModel(randomModel({ d_in: 3, d_model: 4, d_state: 2, d_out: task.dOut, n_layers: 1, act: 'relu', encoder_act: 'none', gate: false, sparsity: 0, seed: 1 }), { sequences: [{ data: new Float64Array(30).fill(0.5), T: 10 }] });
  expect(() => emulatorTaskInput(other, task, 2)).toThrow(`--task denoise: the model has d_in 3 and d_out ${task.dOut}; the task needs d_in ${task.dIn} and d_out ${task.dOut}`);
});
