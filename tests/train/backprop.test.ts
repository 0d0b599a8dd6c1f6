// The hand-written backward pass against central finite differences of the forward pass,
// for every parameter tensor, on tiny models covering every option; and the exported model
// against the training-form forward pass (BatchNorm folded, ZOH, masks).

import { backwardBatch, BnMode, forwardBatch } from '../../host/train/backprop';
import { adamState, adamStep } from '../../host/train/optim';
import { exportModel, initParams, Masks, paramRefs, TrainParams } from '../../host/train/params';
import { runFloat } from '../../host/reference/float';
import { ModelConfig } from '../../host/model/types';
import { makeRng } from '../../host/util/rng';
import { centralDifference } from '../helpers/fd';

function setup(config: ModelConfig, seed: number) {
  const p = initParams(config, seed, [0.05, 0.5]);
  const rng = makeRng(seed + 1);
  // Move every parameter off its initial value so no gradient is trivially zero.
  for (const r of paramRefs(p)) for (let i = 0; i < r.value.length; i++) r.value[i] += 0.2 * rng.normal();
  for (const L of p.layers) for (let q = 0; q < L.lamRho.length; q++) L.lamRho[q] = Math.log(0.2 + rng.uniform());
  const T = 5;
  const N = 3;
  const inputs = Array.from({ length: N }, () => Float32Array.from({ length: T * config.d_in }, () => rng.normal()));
  // A fixed random linear loss of the outputs: L = Σ w ⊙ out.
  const weights = Array.from({ length: N }, () => Float32Array.from({ length: T * config.d_out }, () => rng.normal()));
  return { p, T, inputs, weights };
}

function lossOf(p: TrainParams, masks: Masks, inputs: Float32Array[], T: number, weights: Float32Array[], bn: BnMode = 'batch'): number {
  const { outputs } = forwardBatch(p, masks, inputs, T, false, false, bn);
  let s = 0;
  outputs.forEach((o, n) => o.forEach((v, i) => (s += v * weights[n][i])));
  return s;
}

const configs: [string, ModelConfig][] = [
  ['gelu, gate, relu encoder', { d_in: 2, d_model: 4, d_state: 3, d_out: 2, n_layers: 2, act: 'gelu', encoder_act: 'relu', gate: true }],
  ['relu, no gate', { d_in: 1, d_model: 3, d_state: 4, d_out: 3, n_layers: 1, act: 'relu', encoder_act: 'none', gate: false }],
];

test.each(configs)('%s: every gradient matches central finite differences', (_, config) => {
  const { p, T, inputs, weights } = setup(config, 11);
  const masks: Masks = new Map([['layers.0.ssm.B', Uint8Array.from({ length: config.d_state * config.d_model }, (_, i) => (i % 3 === 0 ? 0 : 1))]]);
  const { tape } = forwardBatch(p, masks, inputs, T, false);
  // Forward outputs are float32; the finite difference uses float64 sums of them, so the step is moderate.
  const g = backwardBatch(p, tape, weights);
  const gRefs = paramRefs(g);
  let worst = 0;
  paramRefs(p).forEach((ref, k) => {
    const mask = ref.maskName ? masks.get(ref.maskName) : undefined;
    for (let i = 0; i < ref.value.length; i++) {
      if (mask && !mask[i]) continue; // straight-through: a pruned weight's gradient is not the loss's (next test)
      const fd = centralDifference(ref.value, i, 1e-5, () => lossOf(p, masks, inputs, T, weights));
      const an = gRefs[k].value[i];
      const err = Math.abs(fd - an) / (1e-6 + Math.abs(fd) + Math.abs(an));
      worst = Math.max(worst, err);
      if (err > 1e-5) throw new Error(`${ref.name}[${i}]: analytic ${an}, finite difference ${fd}`);
    }
  });
  expect(worst).toBeLessThan(1e-5);
});

test('the straight-through estimator hands masked weights their gradient', () => {
  const config: ModelConfig = { d_in: 2, d_model: 3, d_state: 2, d_out: 2, n_layers: 1, act: 'gelu', encoder_act: 'none', gate: false };
  const { p, T, inputs, weights } = setup(config, 5);
  const mask = Uint8Array.of(0, 1, 1, 1, 0, 1);
  const { tape } = forwardBatch(p, new Map([['layers.0.ssm.C', mask]]), inputs, T, false);
  const g = backwardBatch(p, tape, weights);
  expect(g.layers[0].Cre[0]).not.toBe(0);
  expect(g.layers[0].Cre[4]).not.toBe(0);
});

test('the exported model (BatchNorm folded with running statistics, ZOH, masks) equals the training forward pass in eval form', () => {
  const config: ModelConfig = { d_in: 2, d_model: 5, d_state: 4, d_out: 3, n_layers: 2, act: 'gelu', encoder_act: 'relu', gate: true };
  const { p, T, inputs } = setup(config, 21);
  const masks: Masks = new Map([['layers.1.ssm.C', Uint8Array.from({ length: 20 }, (_, i) => (i % 2 ? 1 : 0))], ['decoder.weight', Uint8Array.from({ length: 15 }, (_, i) => (i === 3 ? 0 : 1))]]);
  // Make the running statistics equal this batch's statistics: then training form == eval form.
  const one = [inputs[0]];
  for (const L of p.layers) { L.runMean.fill(0); L.runVar.fill(1); }
  const { tape } = forwardBatch(p, masks, one, T, false);
  p.layers.forEach((L, l) => {
    L.runMean.set(tape.layers[l].mean);
    L.runVar.set(Float64Array.from(tape.layers[l].invStd, (s) => 1 / (s * s) - 1e-5));
  });
  const { outputs } = forwardBatch(p, masks, one, T, false);
  const model = exportModel(p, masks);
  expect(model.decoderWeight.kind).toBe('csr');
  const ref = runFloat(model, one[0], T);
  for (let i = 0; i < ref.length; i++) expect(Math.abs(outputs[0][i] - ref[i])).toBeLessThan(1e-4 * (1 + Math.abs(ref[i])));
});

test('BatchNorm frozen at its running statistics (tuning): every gradient matches central differences, and the forward pass is the exported model', () => {
  const config: ModelConfig = { d_in: 2, d_model: 4, d_state: 3, d_out: 2, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true };
  const { p, T, inputs, weights } = setup(config, 17);
  p.layers.forEach((L, l) => L.runMean.forEach((_, h) => {
    L.runMean[h] = 0.3 * Math.sin(h + l);
    L.runVar[h] = 0.5 + 0.2 * h;
  }));
  const masks: Masks = new Map();
  const { outputs, tape } = forwardBatch(p, masks, inputs, T, true, false, 'running');
  // updateStats is ignored with frozen statistics.
  expect(p.layers[0].runMean[1]).toBe(0.3 * Math.sin(1));
  const exported = exportModel(p, masks);
  inputs.forEach((x, n) => {
    const want = runFloat(exported, x, T);
    let d = 0;
    want.forEach((v, i) => (d = Math.max(d, Math.abs(v - outputs[n][i]))));
    expect(d).toBeLessThan(1e-5);
  });
  const g = paramRefs(backwardBatch(p, tape, weights));
  paramRefs(p).forEach((ref, k) => {
    for (let i = 0; i < ref.value.length; i++) {
      const fd = centralDifference(ref.value, i, 1e-5, () => lossOf(p, masks, inputs, T, weights, 'running'));
      const an = g[k].value[i];
      if (Math.abs(fd - an) / (1e-6 + Math.abs(fd) + Math.abs(an)) > 1e-5) throw new Error(`${ref.name}[${i}]: analytic ${an}, finite difference ${fd}`);
    }
  });
});

test('AdamW with a trainable mask leaves frozen entries and frozen tensors bit for bit as they were', () => {
  const config: ModelConfig = { d_in: 2, d_model: 3, d_state: 2, d_out: 2, n_layers: 1, act: 'gelu', encoder_act: 'none', gate: false };
  const p = initParams(config, 3);
  const refs = paramRefs(p);
  const before = refs.map((r) => Float64Array.from(r.value));
  const grads = refs.map((r) => ({ ...r, value: Float64Array.from(r.value, (_, i) => 0.1 * (i + 1)) }));
  const trainable = refs.map((r, k) => (k === 0 ? Uint8Array.from(r.value, (_, i) => i % 2) : null));
  const s = adamState(refs);
  adamStep(refs, grads, s, { lr: 0.1, ssmLr: 0.1, weightDecay: 0.5 }, 1, trainable);
  refs[0].value.forEach((v, i) => (i % 2 ? expect(v).not.toBe(before[0][i]) : expect(v).toBe(before[0][i])));
  refs.slice(1).forEach((r, k) => expect(Array.from(r.value)).toEqual(Array.from(before[k + 1])));
  expect(s.m[1].every((m) => m === 0)).toBe(true);
});
