// The emulator's counts and cost equations on a model small enough to follow by hand:
// d_in = H = P = d_out = 1, one relu layer, no gate (tests/reference/int.test.ts's tinyModel).
// Neurons: x 0, encoder 1, v 2, s.re 3, s.im 4, a 5, u' 6, decoder 7; ten synapses:
// x→enc, u→v, v→s.re, v→s.im, v→a (D), s.re→a, s.im→a, u→u', a→u', u'→dec.

import { QMatrix, QuantModel } from '../../host/model/quant';
import { ChipProfile, CHIP_FIGURES } from '../../host/emulator/chip';
import { emulate, prepareEmulation } from '../../host/emulator/emulate';
import { buildNeuronGraph, neuronName, PORT_BITS, PORTS } from '../../host/emulator/graph';
import { mapToChip, placementFromCores } from '../../host/emulator/mapping';

const dense = (v: number, frac: number): QMatrix => ({ kind: 'dense', rows: 1, cols: 1, values: Int8Array.of(v), rowFrac: Int8Array.of(frac) });

function tinyModel(): QuantModel {
  return {
    config: { d_in: 1, d_model: 1, d_state: 1, d_out: 1, n_layers: 1, act: 'relu', encoder_act: 'none', gate: false },
    scheme: 'w8a16',
    inputFrac: 8,
    outputFrac: 8,
    encoderWeight: dense(64, 6),
    encoderBias: Int32Array.of(0),
    encoderFrac: 8,
    layers: [{
      fmt: { uIn: 8, v: 8, s: 8, y: 8, a: 8, g: 0, uOut: 8 },
      normScale: Int16Array.of(16384),
      normScaleFrac: 14,
      normShift: Int32Array.of(0),
      lambdaRe: Int16Array.of(16384),
      lambdaIm: Int16Array.of(0),
      B_re: dense(64, 6),
      B_im: dense(32, 6),
      C_re: dense(64, 6),
      C_im: dense(64, 6),
      D: Int8Array.of(32),
      dFrac: 6,
    }],
    decoderWeight: dense(64, 6),
    decoderBias: Int32Array.of(0),
    metadata: {},
  };
}

/** Round numbers so the equations can be checked in the head: ns and pJ. */
function testChip(cores: number, width: number, height: number, coresPerTile: number): ChipProfile {
  return {
    kind: 'neuromorphic', name: 'test', title: 'test chip', cores,
    mesh: { width, height, coresPerTile },
    core: { neurons: 1000, synapseMemoryBytes: 1 << 20, fanIn: 1000 },
    bytesPerSynapse: 2,
    synapticOp: { energyPJ: 10, timeNs: 1 },
    neuronUpdate: { energyPJ: 100, timeNs: 10 },
    spikeWithinTile: { energyPJ: 1, timeNs: 2 },
    hopEastWest: { energyPJ: 3, timeNs: 4 },
    hopNorthSouth: { energyPJ: 5, timeNs: 6 },
    barrierSyncNs: 50,
    staticPowerW: 0.001,
    sources: Object.fromEntries(CHIP_FIGURES.map((f) => [f, 'test'])),
  };
}

test('the neuron graph: eight neurons, ten synapses, the state pair one placement unit', () => {
  const g = buildNeuronGraph(tinyModel());
  expect(g.neurons).toBe(8);
  expect(g.synapses).toBe(10);
  expect(Array.from({ length: 8 }, (_, n) => neuronName(g, n))).toEqual(['x[0]', 'encoder[0]', 'layers.0.v[0]', 'layers.0.s[0].re', 'layers.0.s[0].im', 'layers.0.a[0]', 'layers.0.u[0]', 'decoder[0]']);
  // Fan-out of v: s.re and s.im (port 0, weights B_re = 64, B_im = 32) and a (port 1, weight D = 32).
  const fanOut = (n: number) => Array.from({ length: g.outPtr[n + 1] - g.outPtr[n] }, (_, i) => [g.outTarget[g.outPtr[n] + i] >> PORT_BITS, g.outTarget[g.outPtr[n] + i] & (PORTS - 1), g.outWeight[g.outPtr[n] + i]]);
  expect(fanOut(2).sort()).toEqual([[3, 0, 64], [4, 0, 32], [5, 1, 32]].sort());
  // s.im reaches a with −C_im.
  expect(fanOut(4)).toEqual([[5, 0, -64]]);
  expect(Array.from(g.unitStart)).toEqual([0, 1, 2, 3, 5, 6, 7, 8]);
});

test('threshold 0 on one core: messages, synaptic ops and updates counted by hand', () => {
  const g = buildNeuronGraph(tinyModel());
  const chip = testChip(1, 1, 1, 1);
  const r = emulate(prepareEmulation(g, mapToChip(g, chip)), [256, 0], 2, { threshold: 0 });
  // Values (tests/reference/int.test.ts): step 1 x 256, u 256, v 256, s 256+128i, a 256, u' 512, o 512;
  // step 2 x 0, u 0, v 0, s 128+64i, a 64, u' 64, o 64.
  expect(Array.from(r.outputs)).toEqual([512, 64]);
  // Step 1: seven senders, all nonzero; x 1 + u 2 + v 3 + s.re 1 + s.im 1 + a 1 + u' 1 = 10 synaptic ops.
  // Step 2: only s.re, s.im, a, u' are nonzero: 4 messages, 4 synaptic ops.
  expect(r.perStep.messages).toBe((7 + 4) / 2);
  expect(r.perStep.synOps).toBe((10 + 4) / 2);
  expect(r.perStep.deliveries).toBe((7 + 4) / 2); // one core: one delivery per message
  expect(r.perStep.hops).toBe(0);
  expect(r.perStep.neuronUpdates).toBe(7); // all but x
  // Synaptic ops belong to the receiving group: layer 0 does u→v, u→u', v→s (2), v→a, s→a (2), a→u' = 8
  // in step 1 and s→a (2), a→u' = 3 in step 2; the encoder x→enc once; the decoder u'→o in both steps.
  expect(r.groups.map((x) => [x.name, x.messages, x.synOps])).toEqual([
    ['input', 0.5, 0], ['encoder', 0.5, 0.5], ['layer 0', 4.5, 5.5], ['decoder', 0, 1],
  ]);
});

test('two tiles: deliveries, hops, step time and energy by the cost equations', () => {
  const g = buildNeuronGraph(tinyModel());
  const chip = testChip(2, 2, 1, 1); // cores 0 and 1 one east-west hop apart
  // Everything on core 0 but the state pair on core 1.
  const placement = placementFromCores(g, chip, Int32Array.from([0, 0, 0, 1, 1, 0, 0, 0]));
  expect(placement.cores.map((c) => [c.neurons, c.synapses, c.fanIn])).toEqual([[6, 8, 7], [2, 2, 1]]); // core 0 listens to x, u, v, s.re, s.im, a, u'
  const r = emulate(prepareEmulation(g, placement), [256, 0], 2, { threshold: 0 });
  expect(Array.from(r.outputs)).toEqual([512, 64]);
  // Step 1: v reaches core 1 (s) and core 0 (a): 8 deliveries; hops v→1, s.re→0, s.im→0 = 3.
  //   Synaptic ops: core 1 does v→s.re, v→s.im (2), core 0 the other 8.
  //   Busy: core 0 = 8·1 + 5 updates·10 = 58 ns, core 1 = 2·1 + 2·10 = 22 ns.
  //   Slowest route 2 + 4 = 6 ns; step = 58 + 6 + 50 (barrier) = 114 ns.
  //   Energy: 10·10 + 7·100 + 8·1 + 3·3 = 817 pJ dynamic, 0.001 W · 114 ns = 114 pJ static.
  // Step 2: s.re, s.im, a, u' send: 4 deliveries, 2 hops, 4 synaptic ops all on core 0.
  //   Busy: core 0 = 4 + 50 = 54 ns; step = 54 + 6 + 50 = 110 ns.
  //   Energy: 4·10 + 700 + 4·1 + 2·3 = 750 pJ dynamic, 110 pJ static.
  expect(r.perStep.deliveries).toBe((8 + 4) / 2);
  expect(r.perStep.hopsEastWest).toBe((3 + 2) / 2);
  expect(r.perStep.hopsNorthSouth).toBe(0);
  expect(r.perStep.busyUs).toBeCloseTo((58 + 54) / 2 / 1e3, 12);
  expect(r.perStep.networkUs).toBeCloseTo((56 + 56) / 2 / 1e3, 12);
  expect(r.perStep.timeUs).toBeCloseTo((114 + 110) / 2 / 1e3, 12);
  expect(r.perStep.dynamicEnergyUj).toBeCloseTo((817 + 750) / 2 / 1e6, 12);
  expect(r.perStep.staticEnergyUj).toBeCloseTo((114 + 110) / 2 / 1e6, 12);
  expect(Array.from(r.coreSynOps)).toEqual([(8 + 4) / 2, (2 + 0) / 2]);
  expect(Array.from(r.coreBusyUs).map((b) => b * 1e3)).toEqual([(58 + 54) / 2, (22 + 20) / 2].map((x) => expect.closeTo(x, 9)));
});

test('north-south hops are counted apart from east-west ones', () => {
  const g = buildNeuronGraph(tinyModel());
  const chip = testChip(4, 2, 2, 1); // tiles (0,0) (1,0) (0,1) (1,1)
  // State pair on core 3 (x 1, y 1): v → s is one E-W and one N-S hop, s.re/s.im → a back the same.
  const r = emulate(prepareEmulation(g, placementFromCores(g, chip, Int32Array.from([0, 0, 0, 3, 3, 0, 0, 0]))), [256], 1, { threshold: 0 });
  expect(r.perStep.hopsEastWest).toBe(3);
  expect(r.perStep.hopsNorthSouth).toBe(3);
  // Slowest route 2 + 4 + 6 = 12 ns; energy 3·3 + 3·5 = 24 pJ of hops on top of 10·10 + 700 + 8·1.
  expect(r.perStep.networkUs).toBeCloseTo((12 + 50) / 1e3, 12);
  expect(r.perStep.dynamicEnergyUj).toBeCloseTo((100 + 700 + 8 + 24) / 1e6, 12);
});

test('cores of one tile exchange messages without hops', () => {
  const g = buildNeuronGraph(tinyModel());
  const chip = testChip(2, 1, 1, 2);
  const r = emulate(prepareEmulation(g, placementFromCores(g, chip, Int32Array.from([0, 0, 0, 1, 1, 0, 0, 0]))), [256], 1, { threshold: 0 });
  expect(r.perStep.deliveries).toBe(8);
  expect(r.perStep.hops).toBe(0);
});

test('sigma-delta, threshold 100: who sends, and what the receivers see, by hand', () => {
  const g = buildNeuronGraph(tinyModel());
  const chip = testChip(1, 1, 1, 1);
  const r = emulate(prepareEmulation(g, mapToChip(g, chip)), [256, 0], 2, { threshold: 100 });
  // Step 1: everything starts at 0, every value is ≥ 100 away: the same 7 messages (payload = value), exact.
  // Step 2: x Δ −256, u −256, v −256 send; s.re Δ 128 − 256 = −128 sends; s.im Δ 64 − 128 = −64 does not
  //   (a still sees s.im = 128): y = rshift(64·128 − 64·128, 6) + rshift(32·0, 6) = 0, a = 0 (Δ −256 sends),
  //   u' = 0 + 0 (Δ −512 sends), o = 0 where the reference has 64.
  expect(Array.from(r.outputs)).toEqual([512, 0]);
  expect(r.perStep.messages).toBe((7 + 6) / 2);
  // Step 2 synaptic ops: x 1 + u 2 + v 3 + s.re 1 + a 1 + u' 1 = 9.
  expect(r.perStep.synOps).toBe((10 + 9) / 2);
});

test('threshold 1 (send every change) is exact and sends nothing for a constant signal', () => {
  const g = buildNeuronGraph(tinyModel());
  const prog = prepareEmulation(g, mapToChip(g, testChip(1, 1, 1, 1)));
  // Zero input: every value stays 0, nothing changes, nothing is sent; value mode sends nothing either.
  expect(emulate(prog, [0, 0, 0], 3, { threshold: 1 }).perStep.messages).toBe(0);
  const exact = emulate(prog, [256, 0, 0, 0], 4, { threshold: 0 });
  const delta = emulate(prog, [256, 0, 0, 0], 4, { threshold: 1 });
  expect(Array.from(delta.outputs)).toEqual(Array.from(exact.outputs));
});

test('a packing no placement can satisfy: two cores that listen to at most 3 neurons each', () => {
  // a listens to v, s.re, s.im (3): its core can take only units whose sources are among those (the state
  // pair). The other core then needs x, u, a and u' for enc, v, u' and the decoder: 4 > 3, whichever way.
  const g = buildNeuronGraph(tinyModel());
  const chip = { ...testChip(2, 2, 1, 1), core: { neurons: 1000, synapseMemoryBytes: 1 << 20, fanIn: 3 } };
  expect(() => mapToChip(g, chip)).toThrow(/^model does not fit test: fan-in: the closest core would listen to 4 neurons of 3, over by 1 \(placing .*\)$/);
});
