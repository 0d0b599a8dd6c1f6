// Tuning through the base's activation formats (host/train/backprop.ts): the forward pass
// saturates every int16 activation where the integer reference does, and the backward pass
// is the gradient of that saturating function plus its range penalty. Checked against central differences of the
// forward pass, and against the integer reference (host/reference/int.ts) on inputs that
// drive the activations past the formats a calibration gave them.

import { calibrate, quantizeModel } from '../../host/compress/quantize';
import { ModelConfig } from '../../host/model/types';
import { quantizeInput, runInt } from '../../host/reference/int';
import { backwardBatch, BnMode, forwardBatch } from '../../host/train/backprop';
import { exportModel, importModel, initParams, Masks, paramRefs, TrainParams } from '../../host/train/params';
import { ACT_FORMAT_ORDER, gridsOf, QatGrids } from '../../host/train/qat';
import { makeRng } from '../../host/util/rng';
import { centralDifference } from '../helpers/fd';

/**
 * Activation formats only (weights stay float) whose limits, 32767·2^−frac, sit between 45% and
 * 90% of each tensor's largest value in the unsaturated model (the input's are loose, so that the
 * others see their own ranges; the output's, behind every other saturation, at 15–30%).
 */
function tightFormats(p: TrainParams, inputs: Float32Array[], T: number): QatGrids {
  const ranges = calibrate(exportModel(p), { sequences: inputs.map((data) => ({ data, T })) });
  const frac = (key: string, at = 0.9): number => Math.ceil(Math.log2(32767 / (at * ranges.get(key)!)));
  const g: QatGrids = new Map([['act.input', Int8Array.of(frac('x') - 4)], ['act.encoder', Int8Array.of(frac('u.-1'))], ['act.output', Int8Array.of(frac('o', 0.3))]]);
  const key = { v: 'v', s: 's', y: 'y', a: 'a', g: 'g', uOut: 'u' } as const;
  // a follows y, which saturates first: a's limit at 20–40% of its range, so that it saturates too.
  p.layers.forEach((_, i) => g.set(`act.layers.${i}`, Int8Array.from(ACT_FORMAT_ORDER, (k) => (ranges.has(`${key[k]}.${i}`) ? frac(`${key[k]}.${i}`, k === 'a' ? 0.4 : 0.9) : 0))));
  return g;
}

function setup(config: ModelConfig, seed: number) {
  const p = initParams(config, seed, [0.05, 0.5]);
  const rng = makeRng(seed + 1);
  for (const r of paramRefs(p)) for (let i = 0; i < r.value.length; i++) r.value[i] += 0.3 * rng.normal();
  for (const L of p.layers) for (let q = 0; q < L.lamRho.length; q++) L.lamRho[q] = Math.log(0.2 + rng.uniform());
  const T = 6;
  const N = 3;
  const inputs = Array.from({ length: N }, () => Float32Array.from({ length: T * config.d_in }, () => 1.5 * rng.normal()));
  const weights = Array.from({ length: N }, () => Float32Array.from({ length: T * config.d_out }, () => rng.normal()));
  return { p, T, inputs, weights };
}

const configs: [string, ModelConfig, BnMode][] = [
  ['gelu, gate, relu encoder, BatchNorm frozen (tuning)', { d_in: 2, d_model: 4, d_state: 3, d_out: 2, n_layers: 2, act: 'gelu', encoder_act: 'relu', gate: true }, 'running'],
  // Formats are saturated only when tuning onto a base, with BatchNorm frozen ('running').
  ['relu, no gate', { d_in: 2, d_model: 3, d_state: 4, d_out: 3, n_layers: 1, act: 'relu', encoder_act: 'none', gate: false }, 'running'],
];

test.each(configs)('%s: with every activation saturating somewhere, every gradient matches central differences of the saturating forward pass plus its range penalty', (_, config, bn) => {
  const { p, T, inputs, weights } = setup(config, 7);
  const grids = tightFormats(p, inputs, T);
  const masks: Masks = new Map();
  const lossOf = (q: TrainParams): number => {
    const { outputs, tape: t } = forwardBatch(q, masks, inputs, T, false, grids, bn);
    let s = t.satPenalty;
    outputs.forEach((o, n) => o.forEach((v, i) => (s += v * weights[n][i])));
    return s;
  };
  const { tape } = forwardBatch(p, masks, inputs, T, false, grids, bn);
  // Not vacuous: every saturation point saturates somewhere.
  const share = (m: { excess: Float64Array } | undefined): number => (m ? m.excess.reduce((a, e) => a + (e !== 0 ? 1 : 0), 0) / m.excess.length : 0);
  expect(share(tape.encSat)).toBeGreaterThan(0);
  expect(share(tape.outSat)).toBeGreaterThan(0);
  const kinds = ['v', 's', 'y', 'u', ...(config.gate ? ['g', 'a'] : [])] as const;
  for (const k of kinds) expect(Math.max(...tape.layers.map((L) => share(L.sat[k as 'v'])))).toBeGreaterThan(0);
  const all = [tape.encSat, tape.outSat, ...tape.layers.flatMap((L) => kinds.map((k) => L.sat[k as 'v']))];
  expect(all.reduce((a, m) => a + share(m), 0) / all.length).toBeGreaterThan(0.02);
  expect(tape.satPenalty).toBeGreaterThan(0);

  const g = backwardBatch(p, tape, weights);
  const gRefs = paramRefs(g);
  let nonzero = 0;
  paramRefs(p).forEach((ref, k) => {
    for (let i = 0; i < ref.value.length; i++) {
      const fd = centralDifference(ref.value, i, 1e-6, () => lossOf(p));
      const an = gRefs[k].value[i];
      if (Math.abs(fd - an) > 1e-5 * (1e-3 + Math.abs(fd) + Math.abs(an))) throw new Error(`${ref.name}[${i}]: analytic ${an}, finite difference ${fd}`);
      if (an !== 0) nonzero++;
    }
  });
  expect(nonzero).toBeGreaterThan(20);
});

test('the formats of a w8a16 model: on inputs 6× beyond its calibration, the saturating forward pass follows the integer reference; without them it does not', () => {
  const config: ModelConfig = { d_in: 3, d_model: 8, d_state: 6, d_out: 3, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true };
  const p = initParams(config, 3, [0.05, 0.5]);
  p.layers.forEach((L) => {
    L.runMean.fill(0.1);
    L.runVar.fill(1.2);
  });
  const model = exportModel(p);
  const T = 40;
  const rng = makeRng(9);
  const seq = (scale: number): Float32Array => Float32Array.from({ length: T * config.d_in }, () => scale * rng.normal());
  const q = quantizeModel(model, { sequences: [seq(1), seq(1), seq(1)].map((data) => ({ data, T })) });
  const x = seq(6);
  const device = Array.from(runInt(q, Array.from(x, (v) => quantizeInput(v, q.inputFrac)), T), (v) => v * 2 ** -q.outputFrac);
  // The calibration's ranges are exceeded: the device saturates.
  const beyond = calibrate(model, { sequences: [{ data: x, T }] });
  expect(beyond.get('y.0')!).toBeGreaterThan(32767 * 2 ** -q.layers[0].fmt.y);

  const { params, masks } = importModel(model);
  const withFormats = gridsOf(q);
  const weightsOnly: QatGrids = new Map([...withFormats].filter(([k]) => !k.startsWith('act.')));
  const run = (grids: QatGrids): Float64Array => forwardBatch(params, masks, [x], T, false, grids, 'running').outputs[0];
  const err = (out: Float64Array): number => {
    let e = 0;
    let n = 0;
    out.forEach((v, i) => {
      e += (v - device[i]) ** 2;
      n += device[i] ** 2;
    });
    return Math.sqrt(e / n);
  };
  const saturating = err(run(withFormats));
  const unbounded = err(run(weightsOnly));
  expect(saturating).toBeLessThan(0.05);
  expect(unbounded).toBeGreaterThan(5 * saturating);
});
