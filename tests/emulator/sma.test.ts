// SMA (Sparse Modular Activation) on the emulator, against definitions computed here from the
// integer reference (host/reference/int.ts stepInt and its trace): the graph's neurons and
// synapses by formula; at threshold 0 every layer's messages (done and saved), the gate's
// synaptic ops saved and the neuron updates, recounted from the reference's v, s, y, a, z, u'
// and decisions; with sigma-delta, exactness at T = 1, silent gates on their off steps, and a
// decision neuron that sends exactly its changes.

import { quantizeModel } from '../../host/compress/quantize';
import { QMatrix, QuantModel } from '../../host/model/quant';
import { randomModel } from '../../host/model/random';
import { IntTrace, lutLookup, matvecInt, quantizeInput, rshift, runInt, sat16, stepInt, zeroIntState } from '../../host/reference/int';
import { makeRng } from '../../host/util/rng';
import { loadChip } from '../../host/emulator/chip';
import { emulate, prepareEmulation, sqnrDb } from '../../host/emulator/emulate';
import { buildNeuronGraph, neuronName } from '../../host/emulator/graph';
import { mapToChip } from '../../host/emulator/mapping';

const chip = loadChip('loihi2');
const H = 12;
const P = 10;
const LAYERS = 2;
const D_IN = 2;
const float = randomModel({ d_in: D_IN, d_model: H, d_state: P, d_out: 2, n_layers: LAYERS, act: 'gelu', encoder_act: 'none', gate: true, sma: true, sparsity: 0.6, seed: 11 });
const rng = makeRng(11);
const q = quantizeModel(float, { sequences: [{ data: Float64Array.from({ length: 600 }, () => rng.normal()), T: 300 }] });
const STEPS = 80;
const x = Int16Array.from({ length: STEPS * D_IN }, (_, i) => quantizeInput(Math.sin(Math.floor(i / D_IN) / 5 + (i % D_IN)) + 0.4 * rng.normal(), q.inputFrac));

const nnz = (v: ArrayLike<number>): number => Array.from(v).filter((e) => e !== 0).length;
/** Synapses the graph stores for a matrix: a dense matrix's nonzero weights, a CSR matrix's stored entries. */
const storedEntries = (m: QMatrix): number => (m.kind === 'csr' ? m.indptr![m.rows] : nnz(m.values));
/** Stored entries of column c (the fan-out of source c). */
const columnEntries = (m: QMatrix, c: number): number => {
  if (m.kind === 'dense') return Array.from({ length: m.rows }, (_, r) => m.values[r * m.cols + c]).filter((w) => w !== 0).length;
  return Array.from(m.indices!).filter((i) => i === c).length;
};

/** The reference's gate output z for activation a (host/reference/int.ts, written out again). */
function referenceGate(q: QuantModel, layer: number, a: Int16Array): Int16Array {
  const L = q.layers[layer];
  const g = new Float64Array(H);
  matvecInt(L.gateWeight!, a, g);
  return Int16Array.from(a, (ah, h) => (ah * lutLookup(L.sigmoidLut!, sat16(rshift(g[h] + L.gateBias![h], L.gateWeight!.rowFrac[h] + L.fmt.a - L.fmt.g))) + 16384) >> 15);
}

interface LayerStep {
  v: Int16Array;
  sRe: Int16Array;
  sIm: Int16Array;
  y: Int16Array;
  a: Int16Array;
  z: Int16Array;
  u: Int16Array;
  ran: boolean;
}

/** Every layer's tensors per step from stepInt's trace and state: steps[t][layer]. */
function referenceSteps(): LayerStep[][] {
  const state = zeroIntState(q);
  const out: LayerStep[][] = [];
  for (let t = 0; t < STEPS; t++) {
    const trace: IntTrace = { u: [], v: [], y: [], a: [], m: [] };
    stepInt(q, state, x.subarray(t * D_IN, (t + 1) * D_IN), trace);
    out.push(q.layers.map((_, i) => ({
      v: trace.v[i], y: trace.y[i], a: trace.a[i], u: trace.u[i + 1], ran: trace.m![i] === 1,
      sRe: state.sRe[i].slice(), sIm: state.sIm[i].slice(), z: referenceGate(q, i, trace.a[i]),
    })));
  }
  return out;
}

test('the graph: y and a two compartments of one unit, a decision neuron per layer, 8H synapses per layer besides the matrices', () => {
  const g = buildNeuronGraph(q);
  // d_in + encoder H + per layer (v H, s 2P, y/a 2H, m 1, z H, u H) + d_out
  expect(g.neurons).toBe(D_IN + H + LAYERS * (5 * H + 2 * P + 1) + 2);
  const matrices = storedEntries(q.encoderWeight) + storedEntries(q.decoderWeight) + q.layers.reduce((a, L) => a + [L.B_re, L.B_im, L.C_re, L.C_im, L.gateWeight!, L.smaWeight!].reduce((b, m) => b + storedEntries(m), 0), 0);
  // norm, D, a→z, m→z, u→u', a→u', z→u', m→u'
  expect(g.synapses).toBe(matrices + LAYERS * 8 * H);
  const ya = g.populations.find((p) => p.name === 'layers.0.ya')!;
  expect([neuronName(g, ya.start), neuronName(g, ya.start + 1), neuronName(g, ya.start + 2)]).toEqual(['layers.0.ya[0].y', 'layers.0.ya[0].a', 'layers.0.ya[1].y']);
  expect(Array.from(g.unitStart)).toContain(ya.start + 2);
  expect(Array.from(g.unitStart)).not.toContain(ya.start + 1);
  expect(g.populations.filter((p) => p.kind === 'decision').map((p) => [p.name, p.count])).toEqual([['layers.0.m', 1], ['layers.1.m', 1]]);
});

describe('threshold 0, recounted from the integer reference', () => {
  const ref = referenceSteps();
  const g = buildNeuronGraph(q);
  const r = emulate(prepareEmulation(g, mapToChip(g, chip)), x, STEPS, { threshold: 0 });

  test('outputs bit-exact; the decisions are the reference\'s and both occur', () => {
    expect(Array.from(r.outputs)).toEqual(Array.from(runInt(q, x, STEPS)));
    expect(Array.from(r.decisions!.ran)).toEqual(ref.flatMap((step) => step.map((l) => (l.ran ? 1 : 0))));
    const ranSteps = ref.filter((step) => step[0].ran).length;
    expect(ranSteps).toBeGreaterThan(0);
    expect(ranSteps).toBeLessThan(STEPS);
  });

  test.each([0, 1])('layer %i: messages done and saved, synaptic ops saved, neuron updates, share of steps the gate ran', (i) => {
    const L = q.layers[i];
    let messages = 0;
    let savedMessages = 0;
    let savedSynOps = 0;
    let ran = 0;
    for (const step of ref) {
      const l = step[i];
      // v, s (re and im), y, a, the decision (1 when on), z when the gate ran, u'.
      messages += nnz(l.v) + nnz(l.sRe) + nnz(l.sIm) + nnz(l.y) + nnz(l.a) + (l.ran ? 1 + nnz(l.z) : 0) + nnz(l.u);
      if (l.ran) {
        ran++;
        continue;
      }
      // Off: z would have sent where nonzero (one synapse, to u'); a's ops onto the gate units skipped:
      // each nonzero a[h] walks column h of W_g and its a[h] → z[h] synapse.
      savedMessages += nnz(l.z);
      savedSynOps += nnz(l.z);
      l.a.forEach((ah, h) => {
        if (ah !== 0) savedSynOps += columnEntries(L.gateWeight!, h) + 1;
      });
    }
    const group = r.groups[2 + i];
    expect(group.messages * STEPS).toBeCloseTo(messages, 9);
    expect(group.sma!.gateRan).toBeCloseTo(ran / STEPS, 12);
    expect(group.sma!.saved.messages * STEPS).toBeCloseTo(savedMessages, 9);
    expect(group.sma!.saved.synOps * STEPS).toBeCloseTo(savedSynOps, 9);
    expect(group.sma!.saved.neuronUpdates * STEPS).toBeCloseTo((STEPS - ran) * H, 9);
    // Every neuron of the layer updates every step but the gate units on their off steps.
    expect(group.neuronUpdates * STEPS).toBeCloseTo(STEPS * (5 * H + 2 * P + 1) - (STEPS - ran) * H, 9);
    expect(group.sma!.saved.energyUj).toBeGreaterThan(0);
  });

  test('totals: the saved work is the sum over layers', () => {
    const saved = r.perStep.saved!;
    for (const key of ['messages', 'deliveries', 'synOps', 'hops', 'neuronUpdates', 'energyUj'] as const) {
      expect(saved[key]).toBeCloseTo(r.groups.reduce((a, x) => a + (x.sma?.saved[key] ?? 0), 0), 12);
    }
  });
});

describe('decision forced on and off', () => {
  /** The SMA model with every decision row zero and its bias ±1000: always on, or always off. */
  const forced = (on: boolean): QuantModel => ({ ...q, layers: q.layers.map((L) => ({ ...L, smaWeight: { ...L.smaWeight!, kind: 'dense', values: new Int8Array(H), indptr: undefined, indices: undefined }, smaBias: Int32Array.of(on ? 1000 : -1000) })) });
  const run = (m: QuantModel) => {
    const g = buildNeuronGraph(m);
    return emulate(prepareEmulation(g, mapToChip(g, chip)), x, STEPS, { threshold: 0 });
  };
  const gated: QuantModel = { ...q, config: { ...q.config, sma: undefined }, layers: q.layers.map(({ smaWeight: _w, smaBias: _b, ...L }) => L) };
  const ungated: QuantModel = { ...gated, config: { ...gated.config, gate: false }, layers: gated.layers.map(({ gateWeight: _w, gateBias: _b, sigmoidLut: _s, ...L }) => L) };

  test('on: the gated model\'s outputs, its gate messages, nothing saved', () => {
    const r = run(forced(true));
    const base = run(gated);
    expect(Array.from(r.outputs)).toEqual(Array.from(runInt(gated, x, STEPS)));
    expect(r.perStep.saved!.synOps + r.perStep.saved!.messages + r.perStep.saved!.neuronUpdates).toBe(0);
    for (const i of [0, 1]) {
      expect(r.groups[2 + i].sma!.gateRan).toBe(1);
      // Same gate values, so the same z messages; the SMA graph adds y's messages and one decision a step.
      const y = r.groups[2 + i].messages - base.groups[2 + i].messages;
      expect(y).toBeGreaterThanOrEqual(1);
      expect(y).toBeLessThanOrEqual(H + 1);
    }
  });

  test('off: the ungated model\'s outputs, every gate update saved', () => {
    const r = run(forced(false));
    expect(Array.from(r.outputs)).toEqual(Array.from(runInt(ungated, x, STEPS)));
    for (const i of [0, 1]) {
      expect(r.groups[2 + i].sma!.gateRan).toBe(0);
      expect(r.groups[2 + i].sma!.saved.neuronUpdates).toBe(H);
    }
  });
});

describe('sigma-delta', () => {
  const g = buildNeuronGraph(q);
  const program = prepareEmulation(g, mapToChip(g, chip));
  const reference = runInt(q, x, STEPS);
  const gates = g.populations.filter((p) => p.kind === 'gate');
  const decisions = g.populations.filter((p) => p.kind === 'decision');

  test('T = 1 is exact; T = 16 and 64 have a finite SQNR', () => {
    expect(sqnrDb(reference, emulate(program, x, STEPS, { threshold: 1 }).outputs)).toBe(Infinity);
    for (const threshold of [16, 64]) expect(Number.isFinite(sqnrDb(reference, emulate(program, x, STEPS, { threshold }).outputs))).toBe(true);
  });

  test.each([0, 1, 16])('T = %i: a gate unit never sends on a step its decision is off; the decision sends its value (T = 0) or its changes (T > 0)', (threshold) => {
    const r = emulate(program, x, STEPS, { threshold, rasterSteps: STEPS });
    const { fired, neurons } = r.raster!;
    gates.forEach((p, i) => {
      let decisionMessages = 0;
      let expected = 0;
      for (let t = 0; t < STEPS; t++) {
        const on = r.decisions!.ran[t * LAYERS + i] === 1;
        const before = t > 0 ? r.decisions!.ran[(t - 1) * LAYERS + i] : 0;
        if (!on) for (let n = p.start; n < p.start + p.count; n++) expect(fired[t * neurons + n]).toBe(0);
        decisionMessages += fired[t * neurons + decisions[i].start];
        expected += threshold === 0 ? (on ? 1 : 0) : on !== (before === 1) ? 1 : 0;
      }
      expect(decisionMessages).toBe(expected);
    });
  });

  test('with T > 0, a\'s synaptic ops onto a disabled gate are done (its accumulators must follow every Δ): only updates and messages are saved', () => {
    const r = emulate(program, x, STEPS, { threshold: 16 });
    for (const group of r.groups.filter((x) => x.sma)) {
      const off = 1 - group.sma!.gateRan;
      expect(group.sma!.saved.neuronUpdates).toBeCloseTo(off * H, 9);
      // Saved synaptic ops are only those of z's would-be messages (one synapse each, to u').
      expect(group.sma!.saved.synOps).toBeCloseTo(group.sma!.saved.messages, 9);
    }
  });
});
