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
// Every neuron but the host-set inputs updates every step (biases, decay),
// except the gate units of an SMA layer on the steps its decision is off.
// The step time is the throughput view: on the chip each population stage
// adds a step of pipeline delay, which changes latency, not values.
//
// SMA (graph.ts: the decision neuron m enables the layer's gate units). On a
// step whose decision is off the gate units neither update nor send, and the
// residual takes a instead of z. What they did not do is counted apart, as
// "saved" — never in the done figures: their H updates; the messages they
// would have sent (value mode: z ≠ 0; sigma-delta: |z − last sent| ≥ T, z
// computed on the host from the same accumulators), with those messages'
// deliveries, hops and synaptic ops; and at threshold 0 the synaptic ops of
// a's messages onto them (a sends before the decision is known, so its
// messages still reach the gate's cores and are counted as deliveries; the
// core drops them unwalked — an idealised core that holds a's messages for
// one stage, until the decision, which Loihi does not document). With T > 0
// those incoming synaptic ops are done even when the gate is off: a
// sigma-delta accumulator is the sum of every Δ sent to it, and skipping Δs
// while disabled would leave it wrong by all of them when the gate runs
// again — an error that never decays. The decision neuron sends every change
// of its 0/1 value whatever T (a binary event; T > 1 would silence it).
// ============================================================================

import { lutLookup, rshift, sat16 } from '../reference/int';
import { SparrowError } from '../util/errors';
import { ChipProfile, coreTile } from './chip';
import { GATE_ENABLE_PORT, NeuronGraph, Population, PORTS, PORT_BITS, RESIDUAL_ENABLE_PORT, RESIDUAL_Z_PORT } from './graph';
import { Placement } from './mapping';

export interface EmulatorProgram {
  graph: NeuronGraph;
  chip: ChipProfile;
  placement: Placement;
  /**
   * Synapse runs of source n: [delivPtr[n], delivPtr[n+1]). A run is the sender's synapses on
   * one destination core for one counter; a delivery (one per destination core) has one run,
   * or two when part of it lands on SMA gate units (their synaptic ops wait for the decision).
   */
  delivPtr: Int32Array;
  /** Synapses of run d: [delivSyn[d], delivSyn[d+1]) in synTarget/synWeight. */
  delivSyn: Int32Array;
  /**
   * group · cores + core of run d's targets (the counter its synaptic ops go to); runs onto
   * SMA gate units from the activation count in a pending copy, groups · cores further on.
   */
  delivSlot: Int32Array;
  /** Deliveries of one message of source n: its destination cores. */
  srcDeliveries: Int32Array;
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
  const G = graph.groupNames.length;
  const core = placement.coreOfNeuron;
  // a's synapses onto SMA gate units: their ops are settled once the layer's decision is known.
  const gateUnit = new Uint8Array(N);
  const activation = new Uint8Array(N);
  for (const p of graph.populations) {
    if (p.kind === 'gate' && graph.model.config.sma) gateUnit.fill(1, p.start, p.start + p.count);
    if (p.kind === 'activation') activation.fill(1, p.start, p.start + p.count);
  }
  const delivPtr = new Int32Array(N + 1);
  const delivSynList: number[] = [0];
  const delivSlotList: number[] = [];
  const srcDeliveries = new Int32Array(N);
  const synTarget = new Int32Array(graph.synapses);
  const synWeight = new Int32Array(graph.synapses);
  const srcHopsEW = new Int32Array(N);
  const srcHopsNS = new Int32Array(N);
  const srcRouteNs = new Float64Array(N);
  let at = 0;
  for (let n = 0; n < N; n++) {
    const lo = graph.outPtr[n];
    const hi = graph.outPtr[n + 1];
    const targetOf = (k: number): number => graph.outTarget[k] >> PORT_BITS;
    const pending = (k: number): number => (activation[n] && gateUnit[targetOf(k)] ? 1 : 0);
    const order = Array.from({ length: hi - lo }, (_, i) => lo + i).sort((a, b) => core[targetOf(a)] - core[targetOf(b)] || pending(a) - pending(b) || a - b);
    const from = coreTile(chip, core[n]);
    let prevCore = -1;
    let prevSlot = -1;
    for (const k of order) {
      const target = targetOf(k);
      const c = core[target];
      const group = graph.groupOfNeuron[target];
      const slot = pending(k) * G * C + group * C + c;
      if (c !== prevCore) {
        const to = coreTile(chip, c);
        const ew = Math.abs(to.x - from.x);
        const ns = Math.abs(to.y - from.y);
        srcDeliveries[n]++;
        srcHopsEW[n] += ew;
        srcHopsNS[n] += ns;
        srcRouteNs[n] = Math.max(srcRouteNs[n], chip.spikeWithinTile.timeNs + ew * chip.hopEastWest.timeNs + ns * chip.hopNorthSouth.timeNs);
      } else if (group !== Math.floor((prevSlot % (G * C)) / C)) {
        // The graph never sends one neuron's message into two report groups; counters assume it.
        throw new Error(`emulator: ${n} feeds two groups on core ${c}`);
      }
      if (slot !== prevSlot) {
        if (prevSlot >= 0) delivSynList.push(at);
        delivSlotList.push(slot);
      }
      prevCore = c;
      prevSlot = slot;
      synTarget[at] = graph.outTarget[k];
      synWeight[at] = graph.outWeight[k];
      at++;
    }
    if (prevSlot >= 0) delivSynList.push(at);
    delivPtr[n + 1] = delivSlotList.length;
  }
  return {
    graph, chip, placement, delivPtr, delivSyn: Int32Array.from(delivSynList), delivSlot: Int32Array.from(delivSlotList), srcDeliveries,
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

/** z of gate unit h from its accumulators (port0 W_g·a, port1 a[h]): the reference's gate, one unit. */
function gateOutput(g: NeuronGraph, p: Population, acc: Float64Array): (h: number) => number {
  const L = g.model.layers[p.layer];
  const f = L.fmt;
  const k = Int32Array.from(L.gateWeight!.rowFrac, (r) => r + f.a - f.g);
  const lut = L.sigmoidLut!;
  const bias = L.gateBias!;
  return (h) => {
    const n = PORTS * (p.start + h);
    const sigma = lutLookup(lut, sat16(rshiftFast(acc[n] + bias[h], k[h])));
    return (acc[n + 1] * sigma + 16384) >> 15;
  };
}

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
          const q = sat16(rshiftFast(acc[PORTS * (s0 + h)] + m.encoderBias[h], k[h]));
          value[s0 + h] = relu && q < 0 ? 0 : q;
        }
      };
    }
    case 'norm': {
      const k = L!.normScaleFrac + L!.fmt.uIn - L!.fmt.v;
      return () => {
        for (let h = 0; h < count; h++) value[s0 + h] = sat16(rshiftFast(acc[PORTS * (s0 + h)] + L!.normShift[h], k));
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
          value[re] = sat16(rshiftFast(lr * sRe - li * sIm, 15) + rshiftFast(acc[PORTS * re], k[q]));
          value[re + 1] = sat16(rshiftFast(lr * sIm + li * sRe, 15) + rshiftFast(acc[PORTS * (re + 1)], k[q]));
        }
      };
    }
    case 'activation': {
      const f = L!.fmt;
      const kC = Int32Array.from(L!.C_re.rowFrac, (r) => r + f.s - f.y);
      const kD = L!.dFrac + f.v - f.y;
      const lut = m.config.act === 'gelu' ? L!.actLut! : undefined;
      // SMA: compartment 2h holds y (it integrates), 2h+1 holds a = act(y).
      const paired = p.compartments !== undefined;
      const H = paired ? count >> 1 : count;
      return () => {
        for (let h = 0; h < H; h++) {
          const n = paired ? s0 + 2 * h : s0 + h;
          const y = sat16(rshiftFast(acc[PORTS * n], kC[h]) + rshiftFast(acc[PORTS * n + 1], kD));
          const a = lut ? lutLookup(lut, y) : y > 0 ? y : 0;
          if (paired) {
            value[n] = y;
            value[n + 1] = a;
          } else {
            value[n] = a;
          }
        }
      };
    }
    case 'decision': {
      const bias = L!.smaBias![0];
      return () => {
        value[s0] = acc[PORTS * s0] + bias > 0 ? 1 : 0;
      };
    }
    case 'gate': {
      const z = gateOutput(g, p, acc);
      return () => {
        for (let h = 0; h < count; h++) value[s0 + h] = z(h);
      };
    }
    case 'residual': {
      const f = L!.fmt;
      const kU = f.uIn - f.uOut;
      const kZ = f.a - f.uOut;
      if (m.config.sma) {
        // z when the layer's gate ran this step, a when it did not.
        return () => {
          for (let h = 0; h < count; h++) {
            const n = PORTS * (s0 + h);
            const za = acc[n + RESIDUAL_ENABLE_PORT] > 0 ? acc[n + RESIDUAL_Z_PORT] : acc[n + 1];
            value[s0 + h] = sat16(rshiftFast(acc[n], kU) + rshiftFast(za, kZ));
          }
        };
      }
      return () => {
        for (let h = 0; h < count; h++) {
          const n = PORTS * (s0 + h);
          value[s0 + h] = sat16(rshiftFast(acc[n], kU) + rshiftFast(acc[n + 1], kZ));
        }
      };
    }
    case 'decoder': {
      const last = m.layers.length > 0 ? m.layers[m.layers.length - 1].fmt.uOut : m.encoderFrac;
      const k = Int32Array.from(m.decoderWeight.rowFrac, (r) => r + last - m.outputFrac);
      return () => {
        for (let j = 0; j < count; j++) value[s0 + j] = sat16(rshiftFast(acc[PORTS * (s0 + j)] + m.decoderBias[j], k[j]));
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

/**
 * Work the gate units of SMA layers did not do on the steps their decision was off, per-step
 * means (µJ: dynamic energy by the profile's equation, an estimate). Never part of the done
 * figures beside it.
 */
export interface SavedWork {
  messages: number;
  deliveries: number;
  synOps: number;
  hops: number;
  neuronUpdates: number;
  energyUj: number;
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
  /** SMA models: what the skipped gates saved, over all layers. */
  saved?: SavedWork;
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
  /** Layers of SMA models: the fraction of steps the gate ran, and what it saved on the others. */
  sma?: { gateRan: number; saved: SavedWork };
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
  /** SMA models: ran[t · layers + i] = 1 when layer i's gate ran in step t (host/reference/int.ts's trace `m`, same order). */
  decisions?: { steps: number; layers: number; ran: Uint8Array };
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
  const { d_in, d_out, n_layers } = g.model.config;
  const sma = !!g.model.config.sma;
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
  const acc = new Float64Array(PORTS * N);
  const updaters = g.populations.map((p) => makeUpdater(g, p, value, acc));
  const dec = g.populations[g.populations.length - 1];
  const outputs = new Int16Array(steps * d_out);

  const { delivPtr, delivSyn, delivSlot, srcDeliveries, synTarget, synWeight, srcHopsEW, srcHopsNS, srcRouteNs } = program;
  const core = program.placement.coreOfNeuron;
  const messagesG = new Float64Array(G);
  const deliveriesG = new Float64Array(G);
  const hopsEWG = new Float64Array(G);
  const hopsNSG = new Float64Array(G);
  // [0, G·C): synaptic ops done this step per group and core; [G·C, 2·G·C): a's ops onto SMA
  // gate units, pending until the layer's decision (done, or saved at threshold 0 when off).
  const synStep = new Float64Array(2 * G * C);
  const pendingBase = G * C;
  const synTotal = new Float64Array(G * C);
  const updatesSlot = new Float64Array(G * C);
  for (let n = 0; n < N; n++) updatesSlot[g.groupOfNeuron[n] * C + core[n]] += g.updates[n];
  const skippedUpdatesSlot = new Float64Array(G * C);
  const updatesG = new Float64Array(G);
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

  // SMA: per gate population, its units' slots (for the updates they skip) and the host-side z
  // of a disabled unit (for the messages it would have sent).
  const gateSlots = g.populations.map((p) => {
    if (!(sma && p.kind === 'gate')) return undefined;
    const perSlot = new Map<number, number>();
    for (let n = p.start; n < p.start + p.count; n++) perSlot.set(g.groupOfNeuron[n] * C + core[n], (perSlot.get(g.groupOfNeuron[n] * C + core[n]) ?? 0) + 1);
    return { slots: Int32Array.from(perSlot.keys()), counts: Int32Array.from(perSlot.values()), z: gateOutput(g, p, acc) };
  });
  const ranG = new Float64Array(G);
  const savedMessagesG = new Float64Array(G);
  const savedDeliveriesG = new Float64Array(G);
  const savedSynG = new Float64Array(G);
  const savedHopsEWG = new Float64Array(G);
  const savedHopsNSG = new Float64Array(G);
  const savedUpdatesG = new Float64Array(G);
  const ran = sma ? new Uint8Array(steps * n_layers) : undefined;

  const started = process.hrtime.bigint();
  for (let t = 0; t < steps; t++) {
    for (let pi = 0; pi < g.populations.length; pi++) {
      const p = g.populations[pi];
      const end = p.start + p.count;
      const grp = p.group;
      const gate = gateSlots[pi];
      // Every unit of an SMA gate gets the same enable message; the first one's port stands for all.
      if (gate && !(acc[PORTS * p.start + GATE_ENABLE_PORT] > 0)) {
        // Disabled: no update, no message. Count what the units would have sent.
        for (let h = 0; h < p.count; h++) {
          const n = p.start + h;
          const z = gate.z(h);
          if (valueMode ? z === 0 : z - sent[n] < threshold && z - sent[n] > -threshold) continue;
          savedMessagesG[grp]++;
          savedDeliveriesG[grp] += srcDeliveries[n];
          savedSynG[grp] += g.outPtr[n + 1] - g.outPtr[n];
          savedHopsEWG[grp] += srcHopsEW[n];
          savedHopsNSG[grp] += srcHopsNS[n];
        }
        for (let i = 0; i < gate.slots.length; i++) skippedUpdatesSlot[gate.slots[i]] += gate.counts[i];
        savedUpdatesG[grp] += p.count;
        if (valueMode) acc.fill(0, PORTS * p.start, PORTS * end);
        continue;
      }
      updaters[pi](inputs, t * d_in);
      if (valueMode) acc.fill(0, PORTS * p.start, PORTS * end);
      if (p.kind === 'decoder') continue;
      // The decision is a 0/1 event: with sigma-delta it sends every change, whatever T.
      const rule = p.kind === 'decision' && !valueMode ? 1 : threshold;
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
          if (payload < rule && payload > -rule) continue;
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
        deliveries += srcDeliveries[n];
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
      if (p.kind === 'decision') {
        const on = value[p.start] > 0;
        ran![t * n_layers + p.layer] = on ? 1 : 0;
        if (on) ranG[grp]++;
        // a's synaptic ops onto the gate units: done when the gate runs, or with sigma-delta (see the banner).
        for (let c = 0; c < C; c++) {
          const pending = pendingBase + grp * C + c;
          if (synStep[pending] === 0) continue;
          if (on || !valueMode) synStep[grp * C + c] += synStep[pending];
          else savedSynG[grp] += synStep[pending];
          synStep[pending] = 0;
        }
      }
    }
    for (let j = 0; j < d_out; j++) outputs[t * d_out + j] = value[dec.start + j];

    // Step time: per core busy, slowest core, slowest route, barrier.
    let route = 0;
    for (let grp = 0; grp < G; grp++) {
      let groupMax = 0;
      for (let c = 0; c < C; c++) {
        const slot = grp * C + c;
        const updates = updatesSlot[slot] - skippedUpdatesSlot[slot];
        const b = synStep[slot] * tSyn + updates * tUpd;
        busyCoreStep[c] += b;
        if (b > groupMax) groupMax = b;
        synTotal[slot] += synStep[slot];
        updatesG[grp] += updates;
        synStep[slot] = 0;
        skippedUpdatesSlot[slot] = 0;
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
  const dynamicPJ = (synOps: number, updates: number, deliveries: number, hopsEW: number, hopsNS: number): number =>
    synOps * chip.synapticOp.energyPJ + updates * chip.neuronUpdate.energyPJ + deliveries * chip.spikeWithinTile.energyPJ + hopsEW * chip.hopEastWest.energyPJ + hopsNS * chip.hopNorthSouth.energyPJ;
  const savedOf = (grp: number): SavedWork => ({
    messages: savedMessagesG[grp] / T, deliveries: savedDeliveriesG[grp] / T, synOps: savedSynG[grp] / T,
    hops: (savedHopsEWG[grp] + savedHopsNSG[grp]) / T, neuronUpdates: savedUpdatesG[grp] / T,
    energyUj: dynamicPJ(savedSynG[grp], savedUpdatesG[grp], savedDeliveriesG[grp], savedHopsEWG[grp], savedHopsNSG[grp]) / T / 1e6,
  });
  const groups: GroupFigures[] = g.groupNames.map((name, grp) => {
    let synOps = 0;
    for (let c = 0; c < C; c++) synOps += synTotal[grp * C + c];
    const pops = g.populations.filter((p) => p.group === grp);
    const neurons = pops.reduce((a, p) => a + p.count, 0);
    const synapses = pops.reduce((a, p) => a + g.inPtr[p.start + p.count] - g.inPtr[p.start], 0);
    const energyPJ = dynamicPJ(synOps, updatesG[grp], deliveriesG[grp], hopsEWG[grp], hopsNSG[grp]);
    const smaLayer = sma && pops.some((p) => p.kind === 'decision');
    return {
      name, neurons, synapses,
      messages: messagesG[grp] / T, deliveries: deliveriesG[grp] / T, synOps: synOps / T, hops: (hopsEWG[grp] + hopsNSG[grp]) / T, neuronUpdates: updatesG[grp] / T,
      timeUs: (busyG[grp] + routeG[grp]) / T / 1e3, energyUj: energyPJ / T / 1e6,
      ...(smaLayer ? { sma: { gateRan: ranG[grp] / T, saved: savedOf(grp) } } : {}),
    };
  });
  const sum = (f: (x: GroupFigures) => number): number => groups.reduce((a, x) => a + f(x), 0);
  const hopsEastWest = hopsEWG.reduce((a, b) => a + b, 0) / T;
  const hopsNorthSouth = hopsNSG.reduce((a, b) => a + b, 0) / T;
  const dynamicEnergyUj = sum((x) => x.energyUj);
  const staticEnergyUj = (chip.staticPowerW * timeNs * 1e3) / T / 1e6;
  const coreSynOps = new Float64Array(C);
  for (let slot = 0; slot < G * C; slot++) coreSynOps[slot % C] += synTotal[slot] / T;
  const savedTotal = (key: keyof SavedWork): number => sum((x) => x.sma?.saved[key] ?? 0);
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
      ...(sma ? { saved: { messages: savedTotal('messages'), deliveries: savedTotal('deliveries'), synOps: savedTotal('synOps'), hops: savedTotal('hops'), neuronUpdates: savedTotal('neuronUpdates'), energyUj: savedTotal('energyUj') } } : {}),
    },
    groups,
    coreSynOps,
    coreBusyUs: busyCore.map((b) => b / T / 1e3),
    raster: fired ? { steps: rasterSteps, neurons: N, fired } : undefined,
    ...(ran ? { decisions: { steps, layers: n_layers, ran } } : {}),
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
