// Sigma-delta messages on a smooth input: traffic falls as the threshold grows, accuracy degrades
// gracefully (finite SQNR against the exact outputs, the reference's), and thresholds 0 and 1 are exact.

import { quantizeModel } from '../../host/compress/quantize';
import { randomModel } from '../../host/model/random';
import { quantizeInput, runInt } from '../../host/reference/int';
import { SparrowError } from '../../host/util/errors';
import { makeRng } from '../../host/util/rng';
import { loadChip } from '../../host/emulator/chip';
import { emulate, prepareEmulation, sqnrDb } from '../../host/emulator/emulate';
import { buildNeuronGraph } from '../../host/emulator/graph';
import { mapToChip } from '../../host/emulator/mapping';

const THRESHOLDS = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256];

describe.each([
  ['relu, no gate', { act: 'relu' as const, gate: false, seed: 2 }],
  ['gelu, gate', { act: 'gelu' as const, gate: true, seed: 3 }],
])('%s', (_name, opts) => {
  const steps = 300;
  const model = randomModel({ d_in: 2, d_model: 32, d_state: 32, d_out: 2, n_layers: 2, encoder_act: 'none', sparsity: 0.8, ...opts });
  // Slow sines (period ≈ 157 steps): consecutive values differ little, the case sigma-delta is for.
  const smooth = Float64Array.from({ length: steps * 2 }, (_, i) => Math.sin(Math.floor(i / 2) / 25 + (i % 2)));
  const rng = makeRng(opts.seed);
  const q = quantizeModel(model, { sequences: [{ data: smooth, T: steps }, { data: Float64Array.from({ length: 400 }, () => rng.normal()), T: 200 }] });
  const x = Int16Array.from(smooth, (v) => quantizeInput(v, q.inputFrac));
  const reference = runInt(q, x, steps);
  const g = buildNeuronGraph(q);
  const program = prepareEmulation(g, mapToChip(g, loadChip('loihi2')));
  const runs = THRESHOLDS.map((threshold) => emulate(program, x, steps, { threshold }));

  test('messages and synaptic ops never rise as the threshold grows', () => {
    for (let i = 1; i < runs.length; i++) {
      expect(runs[i].perStep.messages).toBeLessThanOrEqual(runs[i - 1].perStep.messages);
      expect(runs[i].perStep.synOps).toBeLessThanOrEqual(runs[i - 1].perStep.synOps);
    }
    // And they do fall: the largest threshold sends well under half of threshold 0's messages.
    expect(runs[runs.length - 1].perStep.messages).toBeLessThan(0.5 * runs[0].perStep.messages);
  });

  test('thresholds 0 and 1 are exact; larger ones have a finite SQNR that falls with the threshold', () => {
    expect(sqnrDb(reference, runs[0].outputs)).toBe(Infinity);
    expect(sqnrDb(reference, runs[1].outputs)).toBe(Infinity);
    const sqnr = runs.slice(4).map((r) => sqnrDb(reference, r.outputs)); // T ≥ 8
    for (const s of sqnr) expect(Number.isFinite(s)).toBe(true);
    expect(sqnr[sqnr.length - 1]).toBeLessThan(sqnr[0]);
    expect(sqnr[0]).toBeGreaterThan(20); // T = 8 on int16 values: small errors
  });

  test('neuron updates do not depend on the threshold (every neuron computes every step)', () => {
    for (const r of runs) expect(r.perStep.neuronUpdates).toBe(g.neurons - q.config.d_in);
  });
});

test('a negative, NaN or infinite threshold is one SparrowError line', () => {
  const model = randomModel({ d_in: 1, d_model: 4, d_state: 4, d_out: 1, n_layers: 1, act: 'relu', encoder_act: 'none', gate: false, sparsity: 0, seed: 1 });
  const q = quantizeModel(model, { sequences: [{ data: Float64Array.from({ length: 50 }, (_, i) => Math.sin(i)), T: 50 }] });
  const g = buildNeuronGraph(q);
  const program = prepareEmulation(g, mapToChip(g, loadChip('loihi2')));
  for (const threshold of [-1, NaN, Infinity]) {
    expect(() => emulate(program, [0], 1, { threshold })).toThrow(SparrowError);
    expect(() => emulate(program, [0], 1, { threshold })).toThrow(/^threshold must be a number ≥ 0 .*got (-1|NaN|Infinity)$/);
  }
});
