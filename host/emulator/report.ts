// ============================================================================
// `sparrow emulate` underneath the CLI: read a quantized model and its input,
// run the emulator three ways — the dense model (every matrix weight a
// synapse), the sparse model, and the sparse model with sigma-delta messages
// — and render the placement, per-layer figures and the comparison as text.
// The comparison is the one of Pierro et al. 2025 (a dense baseline against
// sparse, event-driven execution on Loihi 2), here on one chip profile. An
// SMA model adds a fourth row, the same weights with the gate run every step
// (no decision): what SMA saves net of what its decision costs.
// Times and energies are estimates from the chip profile; the host speed is
// measured; bit-exactness at threshold 0 is checked against the reference.
// ============================================================================

import * as fs from 'fs';
import { QuantModel } from '../model/quant';
import { parseAnyModel } from '../model/quant_file';
import { readSequence } from '../model/sequence';
import { quantizeInput, runInt } from '../reference/int';
import { SparrowError } from '../util/errors';
import { makeRng } from '../util/rng';
import { Example, Task } from '../train/task';
import { ChipProfile } from './chip';
import { emulate, EmulationResult, prepareEmulation, SavedWork, sqnrDb, validateThreshold } from './emulate';
import { buildNeuronGraph, PopulationKind } from './graph';
import { CoreUse, mapToChip, Placement } from './mapping';

/** Sigma-delta threshold of the comparison when the run itself is exact (threshold 0). */
export const DEFAULT_SIGMA_DELTA_THRESHOLD = 16;

/** A quantized model file; a float model is refused with what to do. */
export function readQuantModelFile(file: string): QuantModel {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(fs.readFileSync(file));
  } catch (e) {
    throw new SparrowError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const parsed = parseAnyModel(bytes, file);
  if (parsed.kind !== 'quantized') throw new SparrowError(`${file}: a float model; the emulator runs the w8a16 integer model: run \`sparrow quantize\` first`);
  return parsed.model;
}

export interface EmulatorInput {
  /** What the input was, for the report. */
  source: string;
  steps: number;
  /** [steps, d_in] int16 at the model's inputFrac. */
  x: Int16Array;
}

/** Inputs from a .npy/.csv file (first `steps` steps when given), or `steps` of N(0, 1) noise; quantized like `sparrow run`. */
export function emulatorInput(model: QuantModel, opts: { input?: string; steps?: number; seed?: number }): EmulatorInput {
  const { d_in } = model.config;
  if (opts.input !== undefined) {
    const seq = readSequence(opts.input, d_in);
    const steps = Math.min(seq.T, opts.steps ?? seq.T);
    const x = new Int16Array(steps * d_in);
    for (let i = 0; i < x.length; i++) x[i] = quantizeInput(seq.data[i], model.inputFrac);
    return { source: `${opts.input} (${steps} of ${seq.T} steps)`, steps, x };
  }
  const steps = opts.steps ?? 200;
  const seed = opts.seed ?? 0;
  const rng = makeRng(seed);
  const x = Int16Array.from({ length: steps * d_in }, () => quantizeInput(rng.normal(), model.inputFrac));
  return { source: `N(0, 1) noise, seed ${seed}`, steps, x };
}

/** The first `examples` test examples of a task, quantized, for the task metric; `input` streams them back to back for the traffic figures. */
export interface TaskInput {
  task: Task;
  examples: { ex: Example; x: Int16Array }[];
  input: EmulatorInput;
}

export function emulatorTaskInput(model: QuantModel, task: Task, examples: number): TaskInput {
  const { d_in, d_out } = model.config;
  if (d_in !== task.dIn || d_out !== task.dOut) {
    throw new SparrowError(`--task ${task.name}: the model has d_in ${d_in} and d_out ${d_out}; the task needs d_in ${task.dIn} and d_out ${task.dOut}`);
  }
  const n = Math.min(examples, task.size('test'));
  const list = Array.from({ length: n }, (_, i) => {
    const ex = task.example('test', i);
    return { ex, x: Int16Array.from(ex.inputs, (v) => quantizeInput(v, model.inputFrac)) };
  });
  const steps = list.reduce((a, e) => a + e.ex.T, 0);
  const x = new Int16Array(steps * d_in);
  let o = 0;
  for (const e of list) {
    x.set(e.x, o);
    o += e.x.length;
  }
  return { task, examples: list, input: { source: `${task.name} test examples 0–${n - 1} back to back (${list[0].ex.T} steps each)`, steps, x } };
}

/** The task metric of the integer reference and of the emulated outputs, each example from a zero state. */
export interface TaskScore {
  task: string;
  examples: number;
  metricName: string;
  /** Integer reference (host/reference/int.ts), as the firmware computes. */
  reference: number;
  /** Emulated at threshold 0, and whether every example's outputs equal the reference's. */
  exact: number;
  exactBitExact: boolean;
  /** Emulated with sigma-delta messages at this threshold. */
  sigmaDelta: { threshold: number; metric: number };
}

function scoreTask(model: QuantModel, program: ReturnType<typeof prepareEmulation>, t: TaskInput, sdThreshold: number): TaskScore {
  const scale = 2 ** -model.outputFrac;
  const metricOf = (out: Int16Array, ex: Example): number => t.task.metric(Float32Array.from(out, (v) => v * scale), ex);
  const ref: number[] = [];
  const exact: number[] = [];
  const sd: number[] = [];
  let bitExact = true;
  for (const { ex, x } of t.examples) {
    const r = runInt(model, x, ex.T);
    const e = emulate(program, x, ex.T, { threshold: 0 }).outputs;
    bitExact &&= e.every((v, i) => v === r[i]);
    ref.push(metricOf(r, ex));
    exact.push(metricOf(e, ex));
    sd.push(metricOf(emulate(program, x, ex.T, { threshold: sdThreshold }).outputs, ex));
  }
  return {
    task: t.task.name,
    examples: t.examples.length,
    metricName: t.task.metricName,
    reference: t.task.reduceMetric(ref),
    exact: t.task.reduceMetric(exact),
    exactBitExact: bitExact,
    sigmaDelta: { threshold: sdThreshold, metric: t.task.reduceMetric(sd) },
  };
}

/** A population of the neuron graph: neurons [start, start + count). */
export interface PopulationSummary {
  kind: PopulationKind;
  name: string;
  start: number;
  count: number;
}

export interface ComparisonRow {
  label: string;
  dense: boolean;
  threshold: number;
  synapses: number;
  synOpsPerStep: number;
  messagesPerStep: number;
  energyUjPerStep: number;
  timeUsPerStep: number;
  /** Output SQNR against the sparse threshold-0 outputs (dB; ∞ = identical). */
  outputSqnrDb: number;
  /** SMA models: the fraction of layer-steps whose gate ran (1 for the gate-every-step row). */
  gateRan?: number;
  /** The SMA row "gate every step": a different model (no decision), so its SQNR is how much SMA changes the outputs, not an error. */
  smaOff?: boolean;
  /** Set when the model does not fit the chip; its figures are then for a chip without per-core limits. */
  overLimit?: string;
}

/** An SMA model's gated model: the same weights with the gate run every step (the decision dropped). */
export function gateEveryStep(model: QuantModel): QuantModel {
  const { sma: _sma, ...config } = model.config;
  return { ...model, config, layers: model.layers.map(({ smaWeight: _w, smaBias: _b, ...L }) => L) };
}

/** Share of layer-steps whose gate ran, over a run's SMA layers. */
function gateRanOf(r: EmulationResult): number | undefined {
  const layers = r.groups.filter((g) => g.sma);
  return layers.length ? layers.reduce((a, g) => a + g.sma!.gateRan, 0) / layers.length : undefined;
}

export interface PlacementSummary {
  usedCores: number;
  cores: number;
  mesh: ChipProfile['mesh'];
  maxNeurons: number;
  maxSynapseBytes: number;
  maxFanIn: number;
  /** Largest / mean LPT load over used cores. */
  loadImbalance: number;
  perCore: CoreUse[];
}

export interface EmulationReport {
  model: { file: string; config: QuantModel['config']; neurons: number; synapses: number; denseSynapses: number; populations: PopulationSummary[] };
  chip: { name: string; title: string; limits: ChipProfile['core'] };
  input: { source: string; steps: number };
  threshold: number;
  placement: PlacementSummary;
  /** The sparse model at the requested threshold. */
  run: EmulationResult;
  /** Threshold 0 only: the outputs were compared with host/reference/int.ts runInt. */
  bitExact?: boolean;
  /** Sigma-delta (at the requested threshold, or the default when it is 0) against threshold 0. */
  sigmaDelta: { threshold: number; messagesSavedPct: number; synOpsSavedPct: number; energySavedPct: number; outputSqnrDb: number };
  /** SMA models: per layer, the share of steps the gate ran and what it saved on the others (the main run, per-step means). */
  sma?: { layers: { name: string; gateRan: number; saved: SavedWork }[]; total: SavedWork };
  comparison: ComparisonRow[];
  /** Which neurons sent in the first steps, threshold 0 and sigma-delta (when `rasterSteps` was given). */
  rasters?: { threshold: number; steps: number; neurons: number; fired: Uint8Array }[];
  /** Emulated synaptic ops per second of host wall-clock, over all runs (measured). */
  hostSynOpsPerSecond: number;
  /** With --task: the task metric of reference, exact and sigma-delta runs. */
  task?: TaskScore;
}

function summarizePlacement(p: Placement): PlacementSummary {
  const used = p.cores.filter((c) => c.neurons > 0);
  const meanLoad = used.reduce((a, c) => a + c.loadNs, 0) / Math.max(used.length, 1);
  return {
    usedCores: p.usedCores,
    cores: p.chip.cores,
    mesh: p.chip.mesh,
    maxNeurons: Math.max(...p.cores.map((c) => c.neurons)),
    maxSynapseBytes: Math.max(...p.cores.map((c) => c.synapseBytes)),
    maxFanIn: Math.max(...p.cores.map((c) => c.fanIn)),
    loadImbalance: meanLoad > 0 ? Math.max(...used.map((c) => c.loadNs)) / meanLoad : 1,
    perCore: p.cores,
  };
}

/** Run the three configurations on one input; `rasterSteps` records the main run's messages for the HTML raster. */
export function emulateModel(model: QuantModel, file: string, chip: ChipProfile, input: EmulatorInput, opts: { threshold: number; sigmaDeltaThreshold?: number; rasterSteps?: number; task?: TaskInput }): EmulationReport {
  validateThreshold(opts.threshold);
  const sdThreshold = opts.threshold > 0 ? opts.threshold : opts.sigmaDeltaThreshold ?? DEFAULT_SIGMA_DELTA_THRESHOLD;
  validateThreshold(sdThreshold);
  const sparseGraph = buildNeuronGraph(model);
  const sparsePlacement = mapToChip(sparseGraph, chip);
  const sparse = prepareEmulation(sparseGraph, sparsePlacement);
  const denseGraph = buildNeuronGraph(model, { dense: true });
  const densePlacement = mapToChip(denseGraph, chip, { ignoreLimits: true });

  const { x, steps } = input;
  const exact = emulate(sparse, x, steps, { threshold: 0, rasterSteps: opts.rasterSteps });
  const sd = emulate(sparse, x, steps, { threshold: sdThreshold, rasterSteps: opts.rasterSteps });
  const dense = emulate(prepareEmulation(denseGraph, densePlacement), x, steps, { threshold: 0 });
  const reference = opts.threshold === 0 ? runInt(model, x, steps) : undefined;

  // SMA: the same weights with the gate every step, on the same chip and input.
  let smaOff: { run: EmulationResult; synapses: number } | undefined;
  if (model.config.sma) {
    const g = buildNeuronGraph(gateEveryStep(model));
    smaOff = { run: emulate(prepareEmulation(g, mapToChip(g, chip, { ignoreLimits: true })), x, steps, { threshold: 0 }), synapses: g.synapses };
  }

  const row = (label: string, r: EmulationResult, synapses: number, overLimit?: string): ComparisonRow => {
    const gateRan = r === smaOff?.run ? 1 : gateRanOf(r);
    return {
      label, dense: r.dense, threshold: r.threshold, synapses,
      synOpsPerStep: r.perStep.synOps, messagesPerStep: r.perStep.messages, energyUjPerStep: r.perStep.energyUj, timeUsPerStep: r.perStep.timeUs,
      outputSqnrDb: sqnrDb(exact.outputs, r.outputs), ...(gateRan !== undefined ? { gateRan } : {}), ...(r === smaOff?.run ? { smaOff: true } : {}), ...(overLimit ? { overLimit } : {}),
    };
  };
  const saved = (a: number, b: number): number => (a > 0 ? (100 * (a - b)) / a : 0);
  const main = opts.threshold === 0 ? exact : sd;
  const runs = [exact, sd, dense, ...(smaOff ? [smaOff.run] : [])];
  const hostSynOps = runs.reduce((a, r) => a + r.perStep.synOps * r.steps, 0);
  const hostSeconds = runs.reduce((a, r) => a + r.hostSeconds, 0);
  return {
    model: {
      file, config: model.config, neurons: sparseGraph.neurons, synapses: sparseGraph.synapses, denseSynapses: denseGraph.synapses,
      populations: sparseGraph.populations.map(({ kind, name, start, count }) => ({ kind, name, start, count })),
    },
    chip: { name: chip.name, title: chip.title, limits: chip.core },
    input: { source: input.source, steps },
    threshold: opts.threshold,
    placement: summarizePlacement(sparsePlacement),
    run: main,
    ...(reference ? { bitExact: exact.outputs.every((v, i) => v === reference[i]) } : {}),
    sigmaDelta: {
      threshold: sdThreshold,
      messagesSavedPct: saved(exact.perStep.messages, sd.perStep.messages),
      synOpsSavedPct: saved(exact.perStep.synOps, sd.perStep.synOps),
      energySavedPct: saved(exact.perStep.energyUj, sd.perStep.energyUj),
      outputSqnrDb: sqnrDb(exact.outputs, sd.outputs),
    },
    ...(main.perStep.saved ? { sma: { layers: main.groups.filter((g) => g.sma).map((g) => ({ name: g.name, ...g.sma! })), total: main.perStep.saved } } : {}),
    comparison: [
      row('dense (every weight a synapse)', dense, denseGraph.synapses, densePlacement.overLimit),
      row('sparse', exact, sparseGraph.synapses),
      row(`sparse + sigma-delta (T=${sdThreshold})`, sd, sparseGraph.synapses),
      ...(smaOff ? [row('sparse, gate every step (SMA off)', smaOff.run, smaOff.synapses)] : []),
    ],
    ...(opts.rasterSteps ? { rasters: [exact, sd].map((run) => ({ threshold: run.threshold, ...run.raster! })) } : {}),
    hostSynOpsPerSecond: hostSeconds > 0 ? hostSynOps / hostSeconds : 0,
    ...(opts.task ? { task: scoreTask(model, sparse, opts.task, sdThreshold) } : {}),
  };
}

// ---------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const fixed = (n: number, digits: number): string => n.toFixed(digits);
const db = (x: number): string => (x === Infinity ? '∞ (identical)' : x.toFixed(1));
const bytes = (b: number): string => (b < 1024 ? `${Math.round(b)} B` : b < 1024 * 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${(b / 1024 / 1024).toFixed(2)} MiB`);

/** A per-step mean count: whole numbers with separators from 100 up, one decimal below. */
function countText(n: number): string {
  return n >= 100 || Number.isInteger(n) ? int(n) : n.toFixed(1);
}

/** µs or µJ: 4 significant digits, never an exponent above 1e-6. */
function sigText(n: number): string {
  return n === 0 ? '0' : n >= 1000 ? int(n) : String(Number(n.toPrecision(4)));
}

/** A plain-text table; the first column left-aligned, the others (figures) right-aligned. */
function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function formatEmulationText(r: EmulationReport): string {
  const c = r.model.config;
  const p = r.placement;
  const run = r.run;
  const lines: string[] = [];
  lines.push(`sparrow emulate ${r.model.file} on ${r.chip.name}: ${r.chip.title}`);
  lines.push('  µs and µJ are estimates (chip profile), not measurements; counts are exact for this input');
  lines.push(`model: d_in ${c.d_in}, H ${c.d_model}, P ${c.d_state}, ${c.n_layers} layer${c.n_layers === 1 ? '' : 's'}, d_out ${c.d_out}, ${c.act}${c.gate ? ', gate' : ''}${c.sma ? ', SMA' : ''}; ${int(r.model.neurons)} neurons, ${int(r.model.synapses)} synapses (${int(r.model.denseSynapses)} if dense)`);
  lines.push(`input: ${r.input.steps} steps of ${r.input.source}`);
  lines.push(`placement (greedy LPT on synaptic load): ${p.usedCores} of ${p.cores} cores on the ${p.mesh.width} × ${p.mesh.height} mesh of ${p.mesh.coresPerTile}-core tiles; per core at most ${int(p.maxNeurons)} of ${int(r.chip.limits.neurons)} neurons, ${bytes(p.maxSynapseBytes)} of ${bytes(r.chip.limits.synapseMemoryBytes)} synapse memory, fan-in ${int(p.maxFanIn)} of ${int(r.chip.limits.fanIn)}; load max/mean ${p.loadImbalance.toFixed(2)}`);
  const sd = r.sigmaDelta;
  if (r.threshold === 0) {
    lines.push(`threshold 0: a message carries a nonzero value; outputs ${r.bitExact ? 'bit-exact with the integer reference (checked against host/reference/int.ts)' : 'DIFFER from the integer reference (a bug: please report)'}`);
  } else {
    lines.push(`threshold ${r.threshold}: sigma-delta messages (|Δ| ≥ ${r.threshold}); output SQNR ${db(sd.outputSqnrDb)} dB vs threshold 0; messages −${fixed(sd.messagesSavedPct, 1)}%, synaptic ops −${fixed(sd.synOpsSavedPct, 1)}%, energy −${fixed(sd.energySavedPct, 1)}%`);
  }
  lines.push('');
  lines.push(`per step, mean over ${run.steps} steps (T=${run.threshold}):`);
  const groupRows = run.groups.map((g) => [g.name, countText(g.messages), countText(g.synOps), countText(g.hops), countText(g.neuronUpdates), sigText(g.timeUs), sigText(g.energyUj)]);
  const s = run.perStep;
  groupRows.push(['total', countText(s.messages), countText(s.synOps), countText(s.hops), countText(s.neuronUpdates), sigText(s.timeUs), sigText(s.energyUj)]);
  lines.push(textTable(['group', 'messages', 'synaptic ops', 'hops', 'neuron updates', 'µs/step (estimate)', 'µJ/step (estimate)'], groupRows));
  lines.push(`  group µs: slowest core on the group's work + its slowest route; total µs: slowest core ${sigText(s.busyUs)} µs + network and barrier ${sigText(s.networkUs)} µs`);
  lines.push(`  group µJ: dynamic only; total µJ: dynamic ${sigText(s.dynamicEnergyUj)} µJ + static ${sigText(s.staticEnergyUj)} µJ (static power × step time); ${countText(s.deliveries)} deliveries/step (one per message per destination core)`);
  if (r.sma) {
    lines.push('');
    lines.push(`SMA: per layer a decision neuron runs the gate only when w_d·y + b_d > 0; on its off steps the gate units neither update nor send${run.threshold === 0 ? ', and a\'s synaptic ops onto them are skipped' : ' (with T > 0 they still integrate a\'s Δs)'}. Saved work, per step (mean over ${run.steps} steps), not in the figures above:`);
    const savedRow = (name: string, ran: string, w: SavedWork): string[] => [name, ran, countText(w.messages), countText(w.synOps), countText(w.neuronUpdates), sigText(w.energyUj)];
    lines.push(textTable(
      ['layer', 'gate ran', 'messages saved', 'synaptic ops saved', 'neuron updates saved', 'µJ/step saved (estimate, dynamic)'],
      [...r.sma.layers.map((l) => savedRow(l.name, `${fixed(100 * l.gateRan, 1)}%`, l.saved)), savedRow('total', '', r.sma.total)],
    ));
  }
  lines.push('');
  lines.push(`dense vs sparse vs sigma-delta${r.sma ? ' vs gate every step' : ''} (estimates from the chip profile; SQNR of outputs against the sparse T=0 run):`);
  lines.push(textTable(
    ['model', 'synapses', 'synaptic ops/step', 'messages/step', 'µJ/step (estimate)', 'µs/step (estimate)', 'output SQNR (dB)', ...(r.sma ? ['gate ran'] : [])],
    r.comparison.map((row) => [row.label + (row.overLimit ? ' *' : '') + (row.smaOff ? ' †' : ''), int(row.synapses), countText(row.synOpsPerStep), countText(row.messagesPerStep), sigText(row.energyUjPerStep), sigText(row.timeUsPerStep), db(row.outputSqnrDb), ...(r.sma ? [`${fixed(100 * (row.gateRan ?? 0), 1)}%`] : [])]),
  ));
  for (const row of r.comparison.filter((x) => x.overLimit)) lines.push(`  * does not fit ${r.chip.name} (${row.overLimit}); figures for the same chip without per-core limits`);
  if (r.sma) lines.push('  † the same weights without the decision (a different model: its SQNR is how much SMA changes the outputs, not an error); it has no y messages, decision or enables to pay for');
  if (r.task) {
    const t = r.task;
    const m = (x: number): string => x.toFixed(2);
    lines.push(`task ${t.task}, ${t.examples} test examples, each from a zero state: ${t.metricName} ${m(t.reference)} integer reference, ${m(t.exact)} emulated at T=0 (${t.exactBitExact ? 'bit-exact' : 'DIFFERS: a bug, please report'}), ${m(t.sigmaDelta.metric)} with sigma-delta T=${t.sigmaDelta.threshold} (${t.sigmaDelta.metric - t.exact >= 0 ? '+' : ''}${m(t.sigmaDelta.metric - t.exact)})`);
  }
  lines.push(`host: ${(r.hostSynOpsPerSecond / 1e6).toFixed(1)} M synaptic ops/s emulated (measured wall-clock, all ${r.comparison.length === 4 ? 'four' : 'three'} runs)`);
  return lines.join('\n');
}

/** The report as JSON: typed arrays as plain arrays, outputs, raster and per-step decisions left out (groups[].sma has the share). */
export function emulationJson(r: EmulationReport): unknown {
  const { outputs: _outputs, raster: _raster, decisions: _decisions, coreSynOps, coreBusyUs, ...run } = r.run;
  const { rasters: _rasters, ...rest } = r;
  const finite = (x: number): number | string => (Number.isFinite(x) ? x : String(x));
  return {
    ...rest,
    run: { ...run, coreSynOps: Array.from(coreSynOps), coreBusyUs: Array.from(coreBusyUs) },
    sigmaDelta: { ...r.sigmaDelta, outputSqnrDb: finite(r.sigmaDelta.outputSqnrDb) },
    comparison: r.comparison.map((row) => ({ ...row, outputSqnrDb: finite(row.outputSqnrDb) })),
    estimates: 'µs and µJ figures are estimates from the chip profile; hostSynOpsPerSecond is measured',
  };
}
