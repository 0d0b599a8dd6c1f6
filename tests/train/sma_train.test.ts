// Training Sparse Modular Activation (host/train/backprop.ts): the hard decision in the forward
// pass is the deployed model's (the exported model's float reference gives the same outputs and
// decisions); every non-SMA gradient matches central differences while no decision flips; the
// rate penalty's gradient matches central differences of the penalty; a strong penalty turns
// steps off in a few updates; smaActivation counts what the references decide.

import { backwardBatch, forwardBatch, SmaTraining } from '../../host/train/backprop';
import { adamState, adamStep } from '../../host/train/optim';
import { exportModel, importModel, initParams, Masks, paramRefs, SMA_INIT_BIAS, TrainParams } from '../../host/train/params';
import { ModelConfig } from '../../host/model/types';
import { runFloat, stepFloat, zeroState } from '../../host/reference/float';
import { makeRng } from '../../host/util/rng';
import { smaActivation } from '../../host/train/sma';
import { Task } from '../../host/train/task';
import { quantizeModel } from '../../host/compress/quantize';
import { centralDifference } from '../helpers/fd';

const config: ModelConfig = { d_in: 2, d_model: 4, d_state: 3, d_out: 2, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true, sma: true };

function setup(seed: number) {
  const p = initParams(config, seed, [0.05, 0.5]);
  const rng = makeRng(seed + 1);
  for (const r of paramRefs(p)) for (let i = 0; i < r.value.length; i++) r.value[i] += 0.3 * rng.normal();
  // Logits that put the decisions on both sides.
  for (const L of p.layers) {
    L.smaW!.forEach((_, i) => (L.smaW![i] = rng.normal()));
    L.smaB!.set([0, 0.1]);
  }
  const T = 6;
  const inputs = Array.from({ length: 3 }, () => Float32Array.from({ length: T * 2 }, () => rng.normal()));
  const weights = Array.from({ length: 3 }, () => Float32Array.from({ length: T * 2 }, () => rng.normal()));
  return { p, T, inputs, weights };
}

const masks: Masks = new Map();
const lossOf = (p: TrainParams, inputs: Float32Array[], T: number, weights: Float32Array[], sma: SmaTraining): number => {
  const { outputs, tape } = forwardBatch(p, masks, inputs, T, false, false, 'running', sma);
  let s = 0;
  outputs.forEach((o, n) => o.forEach((v, i) => (s += v * weights[n][i])));
  return s + tape.smaPenalty;
};

test('the hard forward pass is the exported model: same outputs and the same decisions as its float reference', () => {
  const { p, T, inputs } = setup(3);
  const { outputs, tape } = forwardBatch(p, masks, [inputs[0]], T, false, false, 'running');
  const model = exportModel(p, masks);
  expect(model.config.sma).toBe(true);
  const ref = runFloat(model, inputs[0], T);
  for (let i = 0; i < ref.length; i++) expect(Math.abs(outputs[0][i] - ref[i])).toBeLessThan(1e-5 * (1 + Math.abs(ref[i])));
  const state = zeroState(model);
  const decisions: number[][] = [[], []];
  for (let t = 0; t < T; t++) stepFloat(model, state, inputs[0].subarray(2 * t, 2 * t + 2), (k, l, v) => k === 'm' && decisions[l].push(v[0]));
  tape.layers.forEach((L, l) => expect(Array.from(L.smaM!)).toEqual(decisions[l]));
  // Both kinds of step occur, so the test exercises both branches.
  const all = tape.layers.flatMap((L) => Array.from(L.smaM!));
  expect(all).toContain(0);
  expect(all).toContain(1);
});

test('at a temperature where the softmax is flat around every decision, every gradient matches central differences of the hard model', () => {
  // The straight-through term p₁(1 − p₁)/τ vanishes (|l₁ − l₀|/τ ≫ 1), so the analytic gradient
  // is the hard model's own; the probe is too small to flip a decision.
  const { p, T, inputs, weights } = setup(5);
  const sma = { penalty: 0, temperature: 1e-3 };
  const { tape } = forwardBatch(p, masks, inputs, T, false, false, 'running', sma);
  const g = paramRefs(backwardBatch(p, tape, weights));
  paramRefs(p).forEach((ref, k) => {
    if (ref.name.includes('.sma.')) return;
    for (let i = 0; i < ref.value.length; i++) {
      const fd = centralDifference(ref.value, i, 1e-6, () => lossOf(p, inputs, T, weights, sma));
      const an = g[k].value[i];
      if (Math.abs(fd - an) / (1e-5 + Math.abs(fd) + Math.abs(an)) > 1e-4) throw new Error(`${ref.name}[${i}]: analytic ${an}, finite difference ${fd}`);
    }
  });
});

test('with no task gradient, the last layer\'s SMA logits get exactly the gradient of penalty · mean p₁', () => {
  // (An earlier layer's logits also get the later layers' penalty through the straight-through
  // path, which a finite difference of the hard model cannot see.)
  const { p, T, inputs } = setup(7);
  const sma = { penalty: 0.7, temperature: 1.5 };
  const zero = inputs.map(() => new Float32Array(T * 2));
  const { tape } = forwardBatch(p, masks, inputs, T, false, false, 'running', sma);
  const g = paramRefs(backwardBatch(p, tape, zero));
  const penalty = (): number => forwardBatch(p, masks, inputs, T, false, false, 'running', sma).tape.smaPenalty;
  let checked = 0;
  paramRefs(p).forEach((ref, k) => {
    if (!ref.name.startsWith('layers.1.sma.')) return;
    for (let i = 0; i < ref.value.length; i++) {
      expect(g[k].value[i]).toBeCloseTo(centralDifference(ref.value, i, 1e-6, penalty), 7);
      checked++;
    }
  });
  expect(checked).toBe(2 * 4 + 2);
});

test('a strong rate penalty turns steps off within a few updates, far below the unpenalised run', () => {
  const rate = (penalty: number): number[] => {
    const { p, T, inputs, weights } = setup(9);
    for (const L of p.layers) L.smaB!.set([0, SMA_INIT_BIAS]);
    const sma = { penalty, temperature: 1 };
    const refs = paramRefs(p);
    const s = adamState(refs);
    const rates: number[] = [];
    for (let step = 0; step < 30; step++) {
      const { tape } = forwardBatch(p, masks, inputs, T, false, false, 'running', sma);
      rates.push(tape.smaRate);
      adamStep(refs, paramRefs(backwardBatch(p, tape, weights.map((w) => w.map((x) => x * 1e-3)))), s, { lr: 0.05, ssmLr: 0.05, weightDecay: 0 }, 1);
    }
    return rates;
  };
  const penalised = rate(5);
  const free = rate(0);
  const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
  expect(penalised[0]).toBeGreaterThan(0.5);
  expect(penalised[29]).toBeLessThan(0.05);
  expect(mean(penalised.slice(5))).toBeLessThan(mean(free.slice(5)) / 2);
});

test('import and export keep the SMA logits', () => {
  const { p } = setup(11);
  const m = exportModel(p, masks);
  const back = importModel(m);
  expect(Array.from(back.params.layers[1].smaW!)).toEqual(Array.from(m.layers[1].smaWeight!.kind === 'dense' ? m.layers[1].smaWeight!.values : []));
  expect(Array.from(back.params.layers[0].smaB!)).toEqual(Array.from(m.layers[0].smaBias!));
});

test('smaActivation: per-layer rates as the float and integer references decide, and the MACs that follow', () => {
  const { p } = setup(13);
  const model = exportModel(p, masks);
  const rng = makeRng(4);
  const examples = Array.from({ length: 3 }, () => ({ inputs: Float32Array.from({ length: 20 * 2 }, () => rng.normal()), T: 20 }));
  const task = { size: () => examples.length, example: (_s: string, i: number) => examples[i] } as unknown as Task;
  const a = smaActivation({ kind: 'float', model }, task, Infinity);
  const counts = [0, 0];
  for (const ex of examples) {
    const st = zeroState(model);
    for (let t = 0; t < 20; t++) stepFloat(model, st, ex.inputs.subarray(2 * t, 2 * t + 2), (k, l, v) => k === 'm' && (counts[l] += v[0]));
  }
  expect(a.rates).toEqual(counts.map((c) => c / 60));
  expect(a.layerSteps).toBe(120);
  // Dense gate 4×4 + 4 products per layer; decision rows 4 per layer.
  expect(a.gateMacsPerStep).toBe(2 * (16 + 4));
  expect(a.decisionMacsPerStep).toBe(8);
  expect(a.smaMacsPerStep).toBeCloseTo(a.alwaysOnMacsPerStep - (1 - a.rates[0]) * 20 - (1 - a.rates[1]) * 20 + 8, 9);
  const q = quantizeModel(model, { sequences: examples.map((e) => ({ data: e.inputs, T: e.T })) });
  const qa = smaActivation({ kind: 'quantized', model: q }, task, Infinity);
  expect(qa.rates.every((r, l) => Math.abs(r - a.rates[l]) < 0.15)).toBe(true);
});
