// Mapping: every neuron placed within the per-core limits, state pairs kept together, per-core use
// recounted independently, LPT's load within Graham's 4/3 bound, and "does not fit" naming the limit
// and the amount.

import { quantizeModel } from '../../host/compress/quantize';
import { randomModel } from '../../host/model/random';
import { makeRng } from '../../host/util/rng';
import { SparrowError } from '../../host/util/errors';
import { ChipProfile, loadChip } from '../../host/emulator/chip';
import { buildNeuronGraph } from '../../host/emulator/graph';
import { mapToChip } from '../../host/emulator/mapping';

function quantModel(sparsity: number, gate: boolean, d = 48) {
  const model = randomModel({ d_in: 3, d_model: d, d_state: d, d_out: 2, n_layers: 2, act: 'gelu', encoder_act: 'none', gate, sparsity, seed: 4 });
  const rng = makeRng(4);
  return quantizeModel(model, { sequences: [{ data: Float64Array.from({ length: 600 }, () => rng.normal()), T: 200 }] });
}

test('placement on Loihi 2: limits respected, pairs together, use recounted, load within 4/3 of optimal', () => {
  const chip = loadChip('loihi2');
  const g = buildNeuronGraph(quantModel(0.9, true));
  const p = mapToChip(g, chip);
  expect(p.overLimit).toBeUndefined();
  // Recount each core's neurons, synapses and distinct sources from the graph and the assignment.
  const neurons = new Array(chip.cores).fill(0);
  const synapses = new Array(chip.cores).fill(0);
  const sources = Array.from({ length: chip.cores }, () => new Set<number>());
  for (let n = 0; n < g.neurons; n++) {
    const c = p.coreOfNeuron[n];
    neurons[c]++;
    for (let k = g.inPtr[n]; k < g.inPtr[n + 1]; k++) {
      synapses[c]++;
      sources[c].add(g.inSource[k]);
    }
  }
  expect(p.cores.map((c) => c.neurons)).toEqual(neurons);
  expect(p.cores.map((c) => c.synapses)).toEqual(synapses);
  expect(p.cores.map((c) => c.fanIn)).toEqual(sources.map((s) => s.size));
  for (const c of p.cores) {
    expect(c.neurons).toBeLessThanOrEqual(chip.core.neurons);
    expect(c.synapseBytes).toBeLessThanOrEqual(chip.core.synapseMemoryBytes);
    expect(c.fanIn).toBeLessThanOrEqual(chip.core.fanIn);
  }
  expect(synapses.reduce((a, b) => a + b, 0)).toBe(g.synapses);
  for (const pop of g.populations.filter((q) => q.kind === 'state')) {
    for (let i = 0; i < pop.count; i += 2) expect(p.coreOfNeuron[pop.start + i]).toBe(p.coreOfNeuron[pop.start + i + 1]);
  }
  // Graham (1969): LPT's largest load ≤ 4/3 · OPT, and OPT ≥ max(mean load, largest single unit).
  const unitLoad = (u: number): number => {
    let ns = 0;
    for (let n = g.unitStart[u]; n < g.unitStart[u + 1]; n++) ns += (g.inPtr[n + 1] - g.inPtr[n]) * chip.synapticOp.timeNs + g.updates[n] * chip.neuronUpdate.timeNs;
    return ns;
  };
  const loads = Array.from({ length: g.unitStart.length - 1 }, (_, u) => unitLoad(u));
  const lowerBound = Math.max(loads.reduce((a, b) => a + b, 0) / chip.cores, ...loads);
  expect(Math.max(...p.cores.map((c) => c.loadNs))).toBeLessThanOrEqual((4 / 3) * lowerBound + 1e-9);
});

/** Loihi 2 with the limits replaced (sources kept). */
function smallChip(edit: Partial<Pick<ChipProfile, 'cores' | 'bytesPerSynapse'>> & { core?: Partial<ChipProfile['core']> }): ChipProfile {
  const chip = loadChip('loihi2');
  return { ...chip, ...edit, core: { ...chip.core, ...edit.core }, mesh: { width: 1, height: 1, coresPerTile: edit.cores ?? chip.cores } };
}

describe('a model that does not fit: which limit, by how much', () => {
  // H = P = 48, 2 layers, gate, dense: d_in 3 + encoder 48 + 2 · (48 v + 96 s + 48 a + 48 z + 48 u) + 2 decoder = 629 neurons.
  const g = buildNeuronGraph(quantModel(0, true));

  test('neurons, in total', () => {
    expect(g.neurons).toBe(629);
    expect(() => mapToChip(g, smallChip({ cores: 4, core: { neurons: 100 } }))).toThrow('model does not fit loihi2: neurons: needs 629, the chip holds 400 (4 cores × 100); over by 229 neurons');
  });

  test('synapse memory, in total', () => {
    const bytes = g.synapses * 2;
    const chip = smallChip({ cores: 2, core: { synapseMemoryBytes: 10000 } });
    expect(() => mapToChip(g, chip)).toThrow(SparrowError);
    expect(() => mapToChip(g, chip)).toThrow(new RegExp(`^model does not fit loihi2: synapse memory: needs ${(bytes / 1024).toFixed(1)} KiB \\(${g.synapses.toLocaleString('en-US')} synapses × 2 B\\), the chip has 19\\.5 KiB \\(2 cores × 9\\.8 KiB\\); over by ${((bytes - 20000) / 1024).toFixed(1)} KiB$`));
  });

  test('synapse memory of one neuron, and fan-in of one neuron', () => {
    // Units in order: inputs (no synapses), encoder (3 synapses each), v (1), then the first state pair:
    // B_re and B_im rows of 48 weights each, 96 synapses = 192 B, listening to the 48 v neurons.
    // 1,000 cores of 150 B hold the model's 46.7 KiB in total, so the per-unit limit is the one that binds.
    expect(() => mapToChip(g, smallChip({ cores: 1000, core: { synapseMemoryBytes: 150 } }))).toThrow('model does not fit loihi2: synapse memory: layers.0.s[0].re needs 192 B (96 synapses × 2 B), a core has 150 B; over by 42 B');
    expect(() => mapToChip(g, smallChip({ core: { fanIn: 40 } }))).toThrow('model does not fit loihi2: fan-in: layers.0.s[0].re listens to 48 neurons, a core takes 40; over by 8');
  });

  test('ignoring the limits maps it anyway and records why it does not fit', () => {
    const p = mapToChip(g, smallChip({ core: { fanIn: 40 } }), { ignoreLimits: true });
    expect(p.overLimit).toBe('fan-in: layers.0.s[0].re listens to 48 neurons, a core takes 40; over by 8');
    expect(p.usedCores).toBeGreaterThan(1);
  });
});
