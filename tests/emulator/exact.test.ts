// The emulator against the bit-exact integer reference (host/reference/int.ts runInt) on many random
// quantized models: at threshold 0 (and at 1, which sends every change) the outputs are equal bit for
// bit, for the sparse graph and the dense one (zeros as synapses), on the Loihi 2 profile's placement.
// SMA models too, with each layer's decision equal to the reference's trace.

import fc from 'fast-check';
import { quantizeModel } from '../../host/compress/quantize';
import { QuantModel } from '../../host/model/quant';
import { randomModel } from '../../host/model/random';
import { IntTrace, quantizeInput, runInt, stepInt, zeroIntState } from '../../host/reference/int';
import { SparrowError } from '../../host/util/errors';
import { makeRng } from '../../host/util/rng';
import { loadChip } from '../../host/emulator/chip';
import { emulate, prepareEmulation } from '../../host/emulator/emulate';
import { buildNeuronGraph } from '../../host/emulator/graph';
import { mapToChip } from '../../host/emulator/mapping';

const chip = loadChip('loihi2');

interface Case {
  d_in: number;
  d_model: number;
  d_state: number;
  d_out: number;
  n_layers: number;
  act: 'gelu' | 'relu';
  encoder_act: 'none' | 'relu';
  gate: boolean;
  sma?: boolean;
  sparsity: number;
  perChannel: boolean;
  seed: number;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  d_in: fc.integer({ min: 1, max: 4 }),
  d_model: fc.integer({ min: 1, max: 64 }),
  d_state: fc.integer({ min: 1, max: 64 }),
  d_out: fc.integer({ min: 1, max: 3 }),
  n_layers: fc.integer({ min: 1, max: 3 }),
  act: fc.constantFrom<'gelu' | 'relu'>('gelu', 'relu'),
  encoder_act: fc.constantFrom<'none' | 'relu'>('none', 'relu'),
  gate: fc.boolean(),
  sparsity: fc.constantFrom(0, 0.3, 0.5, 0.8, 0.9, 0.95),
  perChannel: fc.boolean(),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
});

/** A random float model quantized on N(0, 1) calibration; undefined when the quantizer refuses it (a SparrowError by design). */
function quantized(c: Case): QuantModel | undefined {
  const { perChannel, ...options } = c;
  const model = randomModel(options);
  const config = model.config;
  const seed = c.seed;
  const rng = makeRng(seed ^ 0x5eed);
  try {
    return quantizeModel(model, { sequences: [{ data: Float64Array.from({ length: 120 * config.d_in }, () => rng.normal()), T: 120 }] }, { perChannel });
  } catch (e) {
    if (e instanceof SparrowError) return undefined;
    throw e;
  }
}

/** Steps of a smooth signal plus noise and a few saturating spikes, quantized like `sparrow run`. */
function inputs(q: QuantModel, steps: number, seed: number): Int16Array {
  const rng = makeRng(seed);
  const { d_in } = q.config;
  return Int16Array.from({ length: steps * d_in }, (_, i) => {
    const t = Math.floor(i / d_in);
    const spike = t % 17 === 5 ? 40 * (rng.uniform() - 0.5) : 0;
    return quantizeInput(Math.sin(t / 4 + (i % d_in)) + 0.5 * rng.normal() + spike, q.inputFrac);
  });
}

test('threshold 0 (and 1) reproduce runInt bit for bit on random quantized models, sparse and dense', () => {
  let checked = 0;
  fc.assert(
    fc.property(caseArb, (c) => {
      const q = quantized(c);
      fc.pre(q !== undefined);
      const steps = 24;
      const x = inputs(q!, steps, c.seed);
      const reference = runInt(q!, x, steps);
      for (const dense of [false, true]) {
        const g = buildNeuronGraph(q!, { dense });
        const program = prepareEmulation(g, mapToChip(g, chip, { ignoreLimits: dense }));
        expect(Array.from(emulate(program, x, steps, { threshold: 0 }).outputs)).toEqual(Array.from(reference));
        if (!dense) expect(Array.from(emulate(program, x, steps, { threshold: 1 }).outputs)).toEqual(Array.from(reference));
      }
      checked++;
    }),
    { numRuns: 40, seed: 20250101 },
  );
  expect(checked).toBeGreaterThanOrEqual(30);
});

/** The reference's SMA decisions, trace.m: [steps · layers], layer-minor. */
function referenceDecisions(q: QuantModel, x: Int16Array, steps: number): number[] {
  const trace: IntTrace = { u: [], v: [], y: [], a: [], m: [] };
  const state = zeroIntState(q);
  const d_in = q.config.d_in;
  for (let t = 0; t < steps; t++) stepInt(q, state, x.subarray(t * d_in, (t + 1) * d_in), trace);
  return trace.m!;
}

test('SMA models: threshold 0 and 1 reproduce runInt bit for bit, sparse and dense, and every decision is the reference\'s', () => {
  let checked = 0;
  let ran = 0;
  let decided = 0;
  fc.assert(
    fc.property(caseArb.map((c) => ({ ...c, gate: true, sma: true })), (c) => {
      const q = quantized(c);
      fc.pre(q !== undefined);
      const steps = 32;
      const x = inputs(q!, steps, c.seed);
      const reference = runInt(q!, x, steps);
      const decisions = referenceDecisions(q!, x, steps);
      for (const dense of [false, true]) {
        const g = buildNeuronGraph(q!, { dense });
        const program = prepareEmulation(g, mapToChip(g, chip, { ignoreLimits: dense }));
        for (const threshold of dense ? [0] : [0, 1]) {
          const r = emulate(program, x, steps, { threshold });
          expect(Array.from(r.outputs)).toEqual(Array.from(reference));
          expect(Array.from(r.decisions!.ran)).toEqual(decisions);
        }
      }
      ran += decisions.reduce((a, m) => a + m, 0);
      decided += decisions.length;
      checked++;
    }),
    { numRuns: 30, seed: 20261124 },
  );
  expect(checked).toBeGreaterThanOrEqual(20);
  // Random decision rows: both outcomes occur, so both paths of the gate were checked.
  expect(ran).toBeGreaterThan(0.1 * decided);
  expect(ran).toBeLessThan(0.9 * decided);
});

test('per-neuron counts: with the value rule, a step sends one message per nonzero value', () => {
  // Independent count: runInt's trace gives every u, v, y/a of the step; the messages the emulator reports
  // for the encoder group are its nonzero u values (the input group: nonzero x).
  const model = randomModel({ d_in: 2, d_model: 24, d_state: 16, d_out: 2, n_layers: 2, act: 'relu', encoder_act: 'relu', gate: false, sparsity: 0.8, seed: 3 });
  const rng = makeRng(3);
  const q = quantizeModel(model, { sequences: [{ data: Float64Array.from({ length: 400 }, () => rng.normal()), T: 200 }] });
  const steps = 30;
  const x = inputs(q, steps, 9);
  const g = buildNeuronGraph(q);
  const r = emulate(prepareEmulation(g, mapToChip(g, chip)), x, steps, { threshold: 0 });
  // Encoder values from the reference definition, computed directly: u = relu(sat16(rshift(W x + b, k))).
  let nonzeroX = 0;
  let nonzeroU = 0;
  for (let t = 0; t < steps; t++) {
    for (let j = 0; j < 2; j++) nonzeroX += x[t * 2 + j] !== 0 ? 1 : 0;
    const acc = new Float64Array(24);
    const W = q.encoderWeight as Required<typeof q.encoderWeight>;
    for (let h = 0; h < 24; h++) for (let k = W.indptr[h]; k < W.indptr[h + 1]; k++) acc[h] += W.values[k] * x[t * 2 + W.indices[k]];
    for (let h = 0; h < 24; h++) {
      const k = W.rowFrac[h] + q.inputFrac - q.encoderFrac;
      const v = Math.floor((acc[h] + q.encoderBias[h] + 2 ** (k - 1)) / 2 ** k);
      nonzeroU += Math.min(32767, v) > 0 ? 1 : 0;
    }
  }
  expect(r.groups[0].messages * steps).toBe(nonzeroX);
  expect(r.groups[1].messages * steps).toBe(nonzeroU);
});
