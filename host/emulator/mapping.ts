// ============================================================================
// Mapping: place the neuron graph's units (a neuron, or a state's re/im pair)
// on the chip's cores within the per-core limits — neurons, synapse memory
// (every synapse lives on its target's core) and fan-in (distinct presynaptic
// neurons a core listens to) — balancing the synaptic load.
//
// Greedy longest-processing-time first (Graham 1969): units in decreasing
// order of the core time they cost when every source fires (fan-in synapses ·
// synaptic-op time + neuron-update time), each onto the least-loaded core
// that still has room. Within 4/3 of the best makespan for identical cores;
// it ignores locality, so messages travel further than a locality-aware
// placement would (hops are counted, not minimised).
//
// A model that does not fit is a SparrowError naming the limit and by how much.
// ============================================================================

import { SparrowError } from '../util/errors';
import { ChipProfile } from './chip';
import { NeuronGraph, neuronName } from './graph';

export interface CoreUse {
  neurons: number;
  synapses: number;
  synapseBytes: number;
  /** Distinct presynaptic neurons with a synapse on this core. */
  fanIn: number;
  /** Core time per step when every source fires (the LPT load), ns, estimate. */
  loadNs: number;
}

export interface Placement {
  chip: ChipProfile;
  coreOfNeuron: Int32Array;
  cores: CoreUse[];
  usedCores: number;
  /** Set when the limits were ignored (`ignoreLimits`) and the model does not fit: the reason. */
  overLimit?: string;
}

const coresText = (n: number): string => `${n} core${n === 1 ? '' : 's'}`;
const bytesText = (b: number): string => (b < 1024 ? `${Math.round(b)} B` : b < 1024 * 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${(b / 1024 / 1024).toFixed(2)} MiB`);

/** De-duplication marks: a fresh mark per call, so no call sees another's (or an earlier pass's). */
interface Stamp {
  seen: Int32Array;
  mark: number;
}

/** Synapses into a unit, its distinct sources (into `sources`), its updating neurons. */
function unitDemand(g: NeuronGraph, u: number, stamp: Stamp, sources: number[]): { synapses: number; neurons: number; updating: number } {
  const lo = g.unitStart[u];
  const hi = g.unitStart[u + 1];
  const mark = ++stamp.mark;
  sources.length = 0;
  let updating = 0;
  for (let n = lo; n < hi; n++) {
    updating += g.updates[n];
    for (let k = g.inPtr[n]; k < g.inPtr[n + 1]; k++) {
      const s = g.inSource[k];
      if (stamp.seen[s] !== mark) {
        stamp.seen[s] = mark;
        sources.push(s);
      }
    }
  }
  return { synapses: g.inPtr[hi] - g.inPtr[lo], neurons: hi - lo, updating };
}

/** Whole-chip capacity: the first limit a model exceeds in total, or undefined. */
function capacityProblem(g: NeuronGraph, chip: ChipProfile): string | undefined {
  const neuronCap = chip.cores * chip.core.neurons;
  if (g.neurons > neuronCap) return `neurons: needs ${g.neurons.toLocaleString('en-US')}, the chip holds ${neuronCap.toLocaleString('en-US')} (${coresText(chip.cores)} × ${chip.core.neurons}); over by ${(g.neurons - neuronCap).toLocaleString('en-US')} neurons`;
  const bytes = g.synapses * chip.bytesPerSynapse;
  const memCap = chip.cores * chip.core.synapseMemoryBytes;
  if (bytes > memCap) return `synapse memory: needs ${bytesText(bytes)} (${g.synapses.toLocaleString('en-US')} synapses × ${chip.bytesPerSynapse} B), the chip has ${bytesText(memCap)} (${coresText(chip.cores)} × ${bytesText(chip.core.synapseMemoryBytes)}); over by ${bytesText(bytes - memCap)}`;
  return undefined;
}

/** Place `g` on `chip` by LPT. With `ignoreLimits`, per-core limits are not enforced and `overLimit` says what was exceeded. */
export function mapToChip(g: NeuronGraph, chip: ChipProfile, opts: { ignoreLimits?: boolean } = {}): Placement {
  const enforce = !opts.ignoreLimits;
  let overLimit = capacityProblem(g, chip);
  if (overLimit && enforce) throw new SparrowError(`model does not fit ${chip.name}: ${overLimit}`);

  const C = chip.cores;
  const N = g.neurons;
  const units = g.unitStart.length - 1;
  const stamp: Stamp = { seen: new Int32Array(N), mark: 0 };
  const sources: number[] = [];
  const unitSynapses = new Float64Array(units);
  const unitLoad = new Float64Array(units);
  for (let u = 0; u < units; u++) {
    const d = unitDemand(g, u, stamp, sources);
    unitSynapses[u] = d.synapses;
    unitLoad[u] = d.synapses * chip.synapticOp.timeNs + d.updating * chip.neuronUpdate.timeNs;
    // A unit that exceeds an empty core can never be placed.
    const bytes = d.synapses * chip.bytesPerSynapse;
    const name = () => neuronName(g, g.unitStart[u]);
    let problem: string | undefined;
    if (d.neurons > chip.core.neurons) problem = `neurons: ${name()} needs ${d.neurons} on one core, a core holds ${chip.core.neurons}; over by ${d.neurons - chip.core.neurons}`;
    else if (bytes > chip.core.synapseMemoryBytes) problem = `synapse memory: ${name()} needs ${bytesText(bytes)} (${d.synapses} synapses × ${chip.bytesPerSynapse} B), a core has ${bytesText(chip.core.synapseMemoryBytes)}; over by ${bytesText(bytes - chip.core.synapseMemoryBytes)}`;
    else if (sources.length > chip.core.fanIn) problem = `fan-in: ${name()} listens to ${sources.length} neurons, a core takes ${chip.core.fanIn}; over by ${sources.length - chip.core.fanIn}`;
    if (problem) {
      if (enforce) throw new SparrowError(`model does not fit ${chip.name}: ${problem}`);
      overLimit ??= problem;
    }
  }

  const order = Array.from({ length: units }, (_, u) => u).sort((a, b) => unitLoad[b] - unitLoad[a] || a - b);
  const coreNeurons = new Int32Array(C);
  const coreSynapses = new Float64Array(C);
  const coreFanIn = new Int32Array(C);
  const coreLoad = new Float64Array(C);
  // inCore[c·N + s] = 1 when source s already has a synapse on core c (fan-in counts it once).
  const inCore = new Uint8Array(C * N);
  const coreOfNeuron = new Int32Array(N);
  const newSources = (c: number): number => {
    let k = 0;
    for (const s of sources) k += inCore[c * N + s] ^ 1;
    return k;
  };

  for (const u of order) {
    const d = unitDemand(g, u, stamp, sources);
    const bytes = d.synapses * chip.bytesPerSynapse;
    let best = -1;
    for (let c = 0; c < C; c++) {
      if (best >= 0 && coreLoad[c] >= coreLoad[best]) continue;
      if (enforce) {
        if (coreNeurons[c] + d.neurons > chip.core.neurons) continue;
        if ((coreSynapses[c] * chip.bytesPerSynapse) + bytes > chip.core.synapseMemoryBytes) continue;
        if (coreFanIn[c] + newSources(c) > chip.core.fanIn) continue;
      }
      best = c;
    }
    if (best < 0) throw new SparrowError(`model does not fit ${chip.name}: ${shortestShortfall(g, chip, u, d, bytes, coreNeurons, coreSynapses, coreFanIn, newSources)}`);
    coreFanIn[best] += newSources(best);
    for (const s of sources) inCore[best * N + s] = 1;
    coreNeurons[best] += d.neurons;
    coreSynapses[best] += d.synapses;
    coreLoad[best] += unitLoad[u];
    for (let n = g.unitStart[u]; n < g.unitStart[u + 1]; n++) coreOfNeuron[n] = best;
  }

  const placement = placementFromCores(g, chip, coreOfNeuron);
  if (overLimit) placement.overLimit = overLimit;
  return placement;
}

/** Why a unit fits nowhere: the core that comes closest, and the limit it misses by the least. */
function shortestShortfall(g: NeuronGraph, chip: ChipProfile, u: number, d: { neurons: number; synapses: number }, bytes: number, coreNeurons: Int32Array, coreSynapses: Float64Array, coreFanIn: Int32Array, newSources: (c: number) => number): string {
  let best = { over: Infinity, text: '' };
  for (let c = 0; c < chip.cores; c++) {
    const misses = [
      { over: (coreNeurons[c] + d.neurons - chip.core.neurons) / chip.core.neurons, text: `neurons: every core is full; the emptiest with room would need ${coreNeurons[c] + d.neurons} of ${chip.core.neurons}, over by ${coreNeurons[c] + d.neurons - chip.core.neurons}` },
      { over: (coreSynapses[c] * chip.bytesPerSynapse + bytes - chip.core.synapseMemoryBytes) / chip.core.synapseMemoryBytes, text: `synapse memory: no core has ${bytesText(bytes)} left; the closest would need ${bytesText(coreSynapses[c] * chip.bytesPerSynapse + bytes)} of ${bytesText(chip.core.synapseMemoryBytes)}, over by ${bytesText(coreSynapses[c] * chip.bytesPerSynapse + bytes - chip.core.synapseMemoryBytes)}` },
      { over: (coreFanIn[c] + newSources(c) - chip.core.fanIn) / chip.core.fanIn, text: `fan-in: the closest core would listen to ${coreFanIn[c] + newSources(c)} neurons of ${chip.core.fanIn}, over by ${coreFanIn[c] + newSources(c) - chip.core.fanIn}` },
    ].filter((m) => m.over > 0);
    const worst = misses.reduce((a, m) => (m.over > a.over ? m : a), { over: 0, text: '' });
    if (worst.over > 0 && worst.over < best.over) best = worst;
  }
  return `${best.text} (placing ${neuronName(g, g.unitStart[u])})`;
}

/** Per-core use of an explicit placement (any mapper's, or a test's). */
export function placementFromCores(g: NeuronGraph, chip: ChipProfile, coreOfNeuron: Int32Array): Placement {
  const C = chip.cores;
  const cores: CoreUse[] = Array.from({ length: C }, () => ({ neurons: 0, synapses: 0, synapseBytes: 0, fanIn: 0, loadNs: 0 }));
  const lastSourceOnCore = new Int32Array(g.neurons).fill(-1);
  // Fan-in per core: distinct sources; visit targets core by core.
  const byCore: number[][] = Array.from({ length: C }, () => []);
  for (let n = 0; n < g.neurons; n++) {
    const c = coreOfNeuron[n];
    if (!(c >= 0 && c < C)) throw new SparrowError(`placement: neuron ${neuronName(g, n)} on core ${c}, the chip has cores 0…${C - 1}`);
    byCore[c].push(n);
  }
  for (let c = 0; c < C; c++) {
    const use = cores[c];
    for (const n of byCore[c]) {
      use.neurons++;
      const syn = g.inPtr[n + 1] - g.inPtr[n];
      use.synapses += syn;
      use.loadNs += syn * chip.synapticOp.timeNs + g.updates[n] * chip.neuronUpdate.timeNs;
      for (let k = g.inPtr[n]; k < g.inPtr[n + 1]; k++) {
        const s = g.inSource[k];
        if (lastSourceOnCore[s] !== c) {
          lastSourceOnCore[s] = c;
          use.fanIn++;
        }
      }
    }
    use.synapseBytes = use.synapses * chip.bytesPerSynapse;
  }
  return { chip, coreOfNeuron, cores, usedCores: cores.filter((c) => c.neurons > 0).length };
}
