// ============================================================================
// Event-driven, time-stepped execution of a placed neuron graph, with the
// chip profile's cost model. One model step is one barrier-synchronised chip
// time step; populations update in dependency order (host/emulator/graph.ts),
// so a step's values are the reference's values for the same input.
//
// Messages. A neuron sends only when it has something to say:
//   threshold 0   value mode: it sends its value when the value is nonzero;
//                 receivers clear their accumulators every step. Exact.
//   threshold T   sigma-delta (Lava's SigmaDelta): it sends Δ = value − sent
//                 when |Δ| ≥ T and keeps the unsent residue; receivers keep
//                 their accumulators and add w·Δ, so they see the last value
//                 sent, which lags the true one by less than T. Every message
//                 (x, u, v, s, a, z) follows the rule, in its own int16 units;
//                 the state's recurrence itself runs on the exact state.
//                 (T = 1 sends every change and is exact too.)
// A message is one per sending neuron; it is delivered once to each core
// holding one of its targets (a delivery), travelling the Manhattan distance
// between the tiles (hops, east-west and north-south counted apart). Each
// delivery does one synaptic op per synapse of the sender on that core,
// walking a precomputed fan-out list: no per-message allocation.
//
// Costs (estimates from the chip profile, never measurements):
//   core busy  = synaptic ops · t_syn + neuron updates · t_upd      per core
//   step time  = max over cores (busy) + slowest route + barrier    (routes:
//                t_tile + hops_EW · t_EW + hops_NS · t_NS; congestion ignored)
//   energy     = synaptic ops · E_syn + neuron updates · E_upd + deliveries ·
//                E_tile + hops_EW · E_EW + hops_NS · E_NS + P_static · time
// Every neuron but the host-set inputs updates every step (biases, decay).
// The step time is the throughput view: on the chip each population stage
// adds a step of pipeline delay, which changes latency, not values.
// ============================================================================

import { lutLookup, rshift, sat16 } from '../reference/int';
import { SparrowError } from '../util/errors';
import { ChipProfile, coreTile } from './chip';
import { NeuronGraph, Population } from './graph';
import { Placement } from './mapping';

export interface EmulatorProgram {
  graph: NeuronGraph;
  chip: ChipProfile;
  placement: Placement;
  /** Deliveries of source n: [delivPtr[n], delivPtr[n+1]); one per destination core. */
  delivPtr: Int32Array;
  /** Synapses of delivery d: [delivSyn[d], delivSyn[d+1]) in synTarget/synWeight. */
  delivSyn: Int32Array;
  /** group · cores + core of delivery d's targets (the counter its synaptic ops go to). */
  delivSlot: Int32Array;
  synTarget: Int32Array;
  synWeight: Int32Array;
  /** One message of source n: total hops over its deliveries, and its slowest route (ns). */
  srcHopsEW: Int32Array;
  srcHopsNS: Int32Array;
  srcRouteNs: Float64Array;
}

/** Group the graph's fan-out lists by destination core and precompute each route. */
export function prepareEmulation(graph: NeuronGraph, placement: Placement): EmulatorProgram {
  const chip = placement.chip;
  const C = chip.cores;
  const N = graph.neurons;
  const core = placement.coreOfNeuron;
  const delivPtr = new Int32Array(N + 1);
  const delivSynList: number[] = [0];
  const delivSlotList: number[] = [];
  const synTarget = new Int32Array(graph.synapses);
  const synWeight = new Int32Array(graph.synapses);
  const srcHopsEW = new Int32Array(N);
  const srcHopsNS = new Int32Array(N);
  const srcRouteNs = new Float64Array(N);
  let at = 0;
  for (let n = 0; n < N; n++) {
    const lo = graph.outPtr[n];
    const hi = graph.outPtr[n + 1];
    const order = Array.from({ length: hi - lo }, (_, i) => lo + i).sort((a, b) => core[graph.outTarget[a] >> 1] - core[graph.outTarget[b] >> 1] || a - b);
    const from = coreTile(chip, core[n]);
    let prevCore = -1;
    for (const k of order) {
      const target = graph.outTarget[k] >> 1;
      const c = core[target];
      if (c !== prevCore) {
        if (prevCore >= 0) delivSynList.push(at);
        prevCore = c;
        delivSlotList.push(graph.groupOfNeuron[target] * C + c);
        const to = coreTile(chip, c);
        const ew = Math.abs(to.x - from.x);
        const ns = Math.abs(to.y - from.y);
        srcHopsEW[n] += ew;
        srcHopsNS[n] += ns;
        srcRouteNs[n] = Math.max(srcRouteNs[n], chip.spikeWithinTile.timeNs + ew * chip.hopEastWest.timeNs + ns * chip.hopNorthSouth.timeNs);
      } else if (graph.groupOfNeuron[target] * C + c !== delivSlotList[delivSlotList.length - 1]) {
        // The graph never sends one neuron's message into two report groups; counters assume it.
        throw new Error(`emulator: ${n} feeds two groups on core ${c}`);
      }
      synTarget[at] = graph.outTarget[k];
      synWeight[at] = graph.outWeight[k];
      at++;
    }
    if (prevCore >= 0) delivSynList.push(at);
    delivPtr[n + 1] = delivSlotList.length;
  }
  return {
    graph, chip, placement, delivPtr, delivSyn: Int32Array.from(delivSynList), delivSlot: Int32Array.from(delivSlotList),
    synTarget, synWeight, srcHopsEW, srcHopsNS, srcRouteNs,
  };
}

// ---------------------------------------------------------------------------
// Neuron updates: the arithmetic of host/reference/int.ts on accumulators
// ---------------------------------------------------------------------------

const POW_RANGE = 255;
/** 2^e for |e| ≤ POW_RANGE: the same exact doubles `2 ** e` gives, looked up once instead of per call. */
const POW2 = Float64Array.from({ length: 2 * POW_RANGE + 2 }, (_, i) => 2 ** (i - POW_RANGE));

/**
 * host/reference/int.ts `rshift`, bit for bit (same operations on the same doubles), without
 * evaluating `2 **` per call: that made neuron updates ~2/3 of a sparse model's emulation time.
 */
function rshiftFast(a: number, k: number): number {
  if (k > POW_RANGE || k < -POW_RANGE) return rshift(a, k);
  return k <= 0 ? a * POW2[POW_RANGE - k] : Math.floor((a + POW2[POW_RANGE + k - 1]) / POW2[POW_RANGE + k]);
}

type Updater = (inputs: ArrayLike<number>, inputOffset: number) => void;

function makeUpdater(g: NeuronGraph, p: Population, value: Int32Array, acc: Float64Array): Updater {
  const m = g.model;
  const s0 = p.start;
  const count = p.count;
  const L = p.layer >= 0 && p.layer < m.layers.length ? m.layers[p.layer] : undefined;
  switch (p.kind) {
    case 'input':
      return (inputs, off) => {
        for (let j = 0; j < count; j++) value[s0 + j] = inputs[off + j];
      };
    case 'encoder': {
      const relu = m.config.encoder_act === 'relu';
      const k = Int32Array.from(m.encoderWeight.rowFrac, (f) => f + m.inputFrac - m.encoderFrac);
      return () => {
        for (let h = 0; h < count; h++) {
          const q = sat16(rshiftFast(acc[2 * (s0 + h)] + m.encoderBias[h], k[h]));
          value[s0 + h] = relu && q < 0 ? 0 : q;
        }
      };
    }
    case 'norm': {
      const k = L!.normScaleFrac + L!.fmt.uIn - L!.fmt.v;
      return () => {
        for (let h = 0; h < count; h++) value[s0 + h] = sat16(rshiftFast(acc[2 * (s0 + h)] + L!.normShift[h], k));
      };
    }
    case 'state': {
      const k = Int32Array.from(L!.B_re.rowFrac, (f) => f + L!.fmt.v - L!.fmt.s);
      return () => {
        for (let q = 0; q < count >> 1; q++) {
          const re = s0 + 2 * q;
          const sRe = value[re];
          const sIm = value[re + 1];
          const lr = L!.lambdaRe[q];
          const li = L!.lambdaIm[q];
          value[re] = sat16(rshiftFast(lr * sRe - li * sIm, 15) + rshiftFast(acc[2 * re], k[q]));
          value[re + 1] = sat16(rshiftFast(lr * sIm + li * sRe, 15) + rshiftFast(acc[2 * re + 2], k[q]));
        }
      };
    }
    case 'activation': {
      const f = L!.fmt;
      const kC = Int32Array.from(L!.C_re.rowFrac, (r) => r + f.s - f.y);
      const kD = L!.dFrac + f.v - f.y;
      const lut = m.config.act === 'gelu' ? L!.actLut! : undefined;
      return () => {
        for (let h = 0; h < count; h++) {
          const n = s0 + h;
          const y = sat16(rshiftFast(acc[2 * n], kC[h]) + rshiftFast(acc[2 * n + 1], kD));
          value[n] = lut ? lutLookup(lut, y) : y > 0 ? y : 0;
        }
      };
    }
    case 'gate': {
      const f = L!.fmt;
      const k = Int32Array.from(L!.gateWeight!.rowFrac, (r) => r + f.a - f.g);
      return () => {
        for (let h = 0; h < count; h++) {
          const n = s0 + h;
          const sigma = lutLookup(L!.sigmoidLut!, sat16(rshiftFast(acc[2 * n] + L!.gateBias![h], k[h])));
          value[n] = (acc[2 * n + 1] * sigma + 16384) >> 15;
        }
      };
    }
    case 'residual': {
      const f = L!.fmt;
      return () => {
        for (let h = 0; h < count; h++) {
          const n = s0 + h;
          value[n] = sat16(rshiftFast(acc[2 * n], f.uIn - f.uOut) + rshiftFast(acc[2 * n + 1], f.a - f.uOut));
        }
      };
    }
    case 'decoder': {
      const last = m.layers.length > 0 ? m.layers[m.layers.length - 1].fmt.uOut : m.encoderFrac;
      const k = Int32Array.from(m.decoderWeight.rowFrac, (r) => r + last - m.outputFrac);
      return () => {
        for (let j = 0; j < count; j++) value[s0 + j] = sat16(rshiftFast(acc[2 * (s0 + j)] + m.decoderBias[j], k[j]));
      };
    }
  }
}

// ---------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------

export interface EmulateOptions {
  /** 0: value messages (exact); > 0: sigma-delta threshold in int16 units. */
  threshold?: number;
  /** Record which neurons sent a message in the first `rasterSteps` steps (the HTML raster). */
  rasterSteps?: number;
}

/** Per-step means over the run; times and energies are estimates from the chip profile. */
export interface StepFigures {
  messages: number;
  deliveries: number;
  synOps: number;
  hops: number;
  hopsEastWest: number;
  hopsNorthSouth: number;
  neuronUpdates: number;
  /** Slowest core's busy time. */
  busyUs: number;
  /** Slowest route plus the barrier. */
  networkUs: number;
  timeUs: number;
  dynamicEnergyUj: number;
  staticEnergyUj: number;
  energyUj: number;
}

export interface GroupFigures {
  name: string;
  neurons: number;
  /** Synapses into the group's neurons. */
  synapses: number;
  /** Per-step means: messages sent by the group, synaptic ops done by its neurons, hops of its messages, its neuron updates. */
  messages: number;
  deliveries: number;
  synOps: number;
  hops: number;
  neuronUpdates: number;
  /** The group alone: slowest core's busy time on its work + its slowest route (no barrier), µs/step, estimate. */
  timeUs: number;
  /** Its dynamic energy (static power is chip-wide, in the totals only), µJ/step, estimate. */
  energyUj: number;
}

export interface EmulationResult {
  chip: string;
  threshold: number;
  dense: boolean;
  steps: number;
  /** [steps, d_out] int16, frac outputFrac: the decoder's values. */
  outputs: Int16Array;
  perStep: StepFigures;
  groups: GroupFigures[];
  /** Per core, per-step means: synaptic ops and busy time (µs, estimate). */
  coreSynOps: Float64Array;
  coreBusyUs: Float64Array;
  /** fired[t · neurons + n] = 1 when neuron n sent a message in step t < raster.steps. */
  raster?: { steps: number; neurons: number; fired: Uint8Array };
  /** Wall-clock of the step loop on this host (measured). */
  hostSeconds: number;
}

export function validateThreshold(threshold: number): void {
  if (!(Number.isFinite(threshold) && threshold >= 0)) throw new SparrowError(`threshold must be a number ≥ 0 (int16 units of each neuron's value; 0 = exact), got ${threshold}`);
}

/**
 * Run `steps` steps from a zero state on int16 inputs [steps, d_in] (frac inputFrac).
 * Returns the outputs and the counted events with their estimated cost.
 */
export function emulate(program: EmulatorProgram, inputs: ArrayLike<number>, steps: number, opts: EmulateOptions = {}): EmulationResult {
  const threshold = opts.threshold ?? 0;
  validateThreshold(threshold);
  const { graph: g, chip } = program;
  const { d_in, d_out } = g.model.config;
  if (inputs.length !== steps * d_in) throw new SparrowError(`emulator: ${inputs.length} input values, expected steps · d_in = ${steps} · ${d_in}`);
  for (let i = 0; i < inputs.length; i++) {
    const v = inputs[i];
    if (!Number.isInteger(v) || v < -32768 || v > 32767) throw new SparrowError(`emulator: input value ${v} at step ${Math.floor(i / d_in)} is not an int16 integer`);
  }
  const valueMode = threshold === 0;
  const N = g.neurons;
  const C = chip.cores;
  const G = g.groupNames.length;
  const value = new Int32Array(N);
  const sent = new Int32Array(N);
  const acc = new Float64Array(2 * N);
  const updaters = g.populations.map((p) => makeUpdater(g, p, value, acc));
  const dec = g.populations[g.populations.length - 1];
  const outputs = new Int16Array(steps * d_out);

  const { delivPtr, delivSyn, delivSlot, synTarget, synWeight, srcHopsEW, srcHopsNS, srcRouteNs } = program;
  const core = program.placement.coreOfNeuron;
  const messagesG = new Float64Array(G);
  const deliveriesG = new Float64Array(G);
  const hopsEWG = new Float64Array(G);
  const hopsNSG = new Float64Array(G);
  const synStep = new Float64Array(G * C);
  const synTotal = new Float64Array(G * C);
  const updatesSlot = new Float64Array(G * C);
  for (let n = 0; n < N; n++) updatesSlot[g.groupOfNeuron[n] * C + core[n]] += g.updates[n];
  const routeStepG = new Float64Array(G);
  const busyG = new Float64Array(G);
  const routeG = new Float64Array(G);
  const busyCoreStep = new Float64Array(C);
  const busyCore = new Float64Array(C);
  let timeNs = 0;
  let busyNs = 0;
  let networkNs = 0;
  const tSyn = chip.synapticOp.timeNs;
  const tUpd = chip.neuronUpdate.timeNs;
  const rasterSteps = Math.min(opts.rasterSteps ?? 0, steps);
  const fired = rasterSteps > 0 ? new Uint8Array(rasterSteps * N) : undefined;

  const started = process.hrtime.bigint();
  for (let t = 0; t < steps; t++) {
    for (let pi = 0; pi < g.populations.length; pi++) {
      const p = g.populations[pi];
      updaters[pi](inputs, t * d_in);
      const end = p.start + p.count;
      if (valueMode) acc.fill(0, 2 * p.start, 2 * end);
      if (p.kind === 'decoder') continue;
      const grp = p.group;
      let messages = 0;
      let deliveries = 0;
      let hopsEW = 0;
      let hopsNS = 0;
      let route = routeStepG[grp];
      for (let n = p.start; n < end; n++) {
        const v = value[n];
        let payload: number;
        if (valueMode) {
          if (v === 0) continue;
          payload = v;
        } else {
          payload = v - sent[n];
          if (payload < threshold && payload > -threshold) continue;
          sent[n] = v;
        }
        const dEnd = delivPtr[n + 1];
        for (let d = delivPtr[n]; d < dEnd; d++) {
          const kEnd = delivSyn[d + 1];
          let k = delivSyn[d];
          synStep[delivSlot[d]] += kEnd - k;
          for (; k < kEnd; k++) acc[synTarget[k]] += synWeight[k] * payload;
        }
        messages++;
        deliveries += dEnd - delivPtr[n];
        hopsEW += srcHopsEW[n];
        hopsNS += srcHopsNS[n];
        if (srcRouteNs[n] > route) route = srcRouteNs[n];
        if (t < rasterSteps) fired![t * N + n] = 1;
      }
      messagesG[grp] += messages;
      deliveriesG[grp] += deliveries;
      hopsEWG[grp] += hopsEW;
      hopsNSG[grp] += hopsNS;
      routeStepG[grp] = route;
    }
    for (let j = 0; j < d_out; j++) outputs[t * d_out + j] = value[dec.start + j];

    // Step time: per core busy, slowest core, slowest route, barrier.
    let route = 0;
    for (let grp = 0; grp < G; grp++) {
      let groupMax = 0;
      for (let c = 0; c < C; c++) {
        const slot = grp * C + c;
        const b = synStep[slot] * tSyn + updatesSlot[slot] * tUpd;
        busyCoreStep[c] += b;
        if (b > groupMax) groupMax = b;
        synTotal[slot] += synStep[slot];
        synStep[slot] = 0;
      }
      busyG[grp] += groupMax;
      routeG[grp] += routeStepG[grp];
      if (routeStepG[grp] > route) route = routeStepG[grp];
      routeStepG[grp] = 0;
    }
    let slowest = 0;
    for (let c = 0; c < C; c++) {
      if (busyCoreStep[c] > slowest) slowest = busyCoreStep[c];
      busyCore[c] += busyCoreStep[c];
      busyCoreStep[c] = 0;
    }
    busyNs += slowest;
    networkNs += route + chip.barrierSyncNs;
    timeNs += slowest + route + chip.barrierSyncNs;
  }
  const hostSeconds = Number(process.hrtime.bigint() - started) / 1e9;

  // Totals and the energy equation (pJ, ns → µJ, µs per step).
  const T = Math.max(steps, 1);
  const groups: GroupFigures[] = g.groupNames.map((name, grp) => {
    let synOps = 0;
    let updates = 0;
    for (let c = 0; c < C; c++) {
      synOps += synTotal[grp * C + c];
      updates += updatesSlot[grp * C + c];
    }
    const pops = g.populations.filter((p) => p.group === grp);
    const neurons = pops.reduce((a, p) => a + p.count, 0);
    const synapses = pops.reduce((a, p) => a + g.inPtr[p.start + p.count] - g.inPtr[p.start], 0);
    const energyPJ = synOps * chip.synapticOp.energyPJ + updates * steps * chip.neuronUpdate.energyPJ + deliveriesG[grp] * chip.spikeWithinTile.energyPJ + hopsEWG[grp] * chip.hopEastWest.energyPJ + hopsNSG[grp] * chip.hopNorthSouth.energyPJ;
    return {
      name, neurons, synapses,
      messages: messagesG[grp] / T, deliveries: deliveriesG[grp] / T, synOps: synOps / T, hops: (hopsEWG[grp] + hopsNSG[grp]) / T, neuronUpdates: updates,
      timeUs: (busyG[grp] + routeG[grp]) / T / 1e3, energyUj: energyPJ / T / 1e6,
    };
  });
  const sum = (f: (x: GroupFigures) => number): number => groups.reduce((a, x) => a + f(x), 0);
  const hopsEastWest = hopsEWG.reduce((a, b) => a + b, 0) / T;
  const hopsNorthSouth = hopsNSG.reduce((a, b) => a + b, 0) / T;
  const dynamicEnergyUj = sum((x) => x.energyUj);
  const staticEnergyUj = (chip.staticPowerW * timeNs * 1e3) / T / 1e6;
  const coreSynOps = new Float64Array(C);
  for (let slot = 0; slot < G * C; slot++) coreSynOps[slot % C] += synTotal[slot] / T;
  return {
    chip: chip.name,
    threshold,
    dense: g.dense,
    steps,
    outputs,
    perStep: {
      messages: sum((x) => x.messages), deliveries: sum((x) => x.deliveries), synOps: sum((x) => x.synOps),
      hops: hopsEastWest + hopsNorthSouth, hopsEastWest, hopsNorthSouth, neuronUpdates: sum((x) => x.neuronUpdates),
      busyUs: busyNs / T / 1e3, networkUs: networkNs / T / 1e3, timeUs: timeNs / T / 1e3,
      dynamicEnergyUj, staticEnergyUj, energyUj: dynamicEnergyUj + staticEnergyUj,
    },
    groups,
    coreSynOps,
    coreBusyUs: busyCore.map((b) => b / T / 1e3),
    raster: fired ? { steps: rasterSteps, neurons: N, fired } : undefined,
    hostSeconds,
  };
}

/** SQNR of `test` against `ref` (same integer scale), dB: ∞ when equal. */
export function sqnrDb(ref: ArrayLike<number>, test: ArrayLike<number>): number {
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < ref.length; i++) {
    signal += ref[i] * ref[i];
    noise += (ref[i] - test[i]) ** 2;
  }
  return noise === 0 ? Infinity : 10 * Math.log10(signal / noise);
}
