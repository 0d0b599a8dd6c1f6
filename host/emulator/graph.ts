// ============================================================================
// The neuron graph of a quantized model: which neurons exist, what each one
// computes per time step, and the synapses between them — the form an
// event-driven chip runs. Every neuron holds one int16 value and sends it
// (or its change) as a graded message; a receiver accumulates weight · payload
// into an int32 accumulator (a "port": a neuron has up to four, most use one
// or two), and its update turns the accumulators into its value with exactly
// the arithmetic of host/reference/int.ts. Per layer, in update order:
//
//   v[h]      norm       port0 ← normScale[h] · u[h]                      v = sat16(rshift(port0 + shift, ·))
//   s[p] re/im state      port0 ← B_re[p,:]·v  (im: B_im[p,:]·v)          the complex recurrence; re and im are
//                                                                          two neurons of one unit (never split),
//                                                                          coupled inside the core, no message
//   a[h]      activation port0 ← C_re[h,:]·s_re − C_im[h,:]·s_im,          y = sat16(rshift(port0,·) + rshift(port1,·))
//                        port1 ← D[h] · v[h]                              a = GELU-LUT(y) or max(y, 0); sends a
//   z[h]      gate       port0 ← W_g[h,:]·a, port1 ← a[h]                 z = (port1 · σ-LUT(g) + 2^14) >> 15
//   u'[h]     residual   port0 ← u[h], port1 ← z[h] (a[h] without gate)   u' = sat16(rshift(port0,·) + rshift(port1,·))
//
// With SMA (Sparse Modular Activation, config.sma) the decision needs the
// pre-activation y, so y and a become two compartments of one unit, and a
// decision neuron per layer enables the gate:
//
//   ya[h].y/.a activation the y compartment integrates as a[h] above;     y: sends y (to the decision only)
//                        the a compartment takes y inside the core         a: act(y), sends a
//                        (a two-compartment unit, no message)
//   m         decision   port0 ← w_d·y (w_d = w₁ − w₀, the stored row)     m = port0 + b_d > 0 ? 1 : 0; sends m
//   z[h]      gate       as above, port2 ← m (its enable)                  enabled: z as above; disabled: no
//                                                                          update, no message
//   u'[h]     residual   port0 ← u[h], port1 ← a[h], port2 ← z[h],         u' = … + rshift(port3 > 0 ? port2 : port1, ·):
//                        port3 ← m                                         z when the gate ran, a otherwise
//
// before them x[j] (input, set by the host) and the encoder u0[h] (port0 ←
// W_enc[h,:]·x), after them the decoder o[j] (port0 ← W_dec[j,:]·u), read by
// the host and sending nothing. Integer sums are exact in any order, so
// delivering messages in any order reproduces the reference bit for bit.
//
// Synapses are stored by source (fan-out lists, the transposed/CSC form):
// a message walks only its sender's row. `dense` keeps every matrix weight,
// zeros included, as a synapse: the same model as a dense accelerator sees it.
// ============================================================================

import { QMatrix, QuantModel } from '../model/quant';

export type PopulationKind = 'input' | 'encoder' | 'norm' | 'state' | 'activation' | 'decision' | 'gate' | 'residual' | 'decoder';

/**
 * Accumulators ("ports") per neuron: a synapse's target is `PORTS · neuron + port`. Four,
 * because an SMA residual listens to u, a, z and its layer's decision; a power of two, so
 * the neuron is `target >> PORT_BITS`.
 */
export const PORT_BITS = 2;
export const PORTS = 1 << PORT_BITS;
/** Port of an SMA gate unit that holds its layer's decision (1 = run this step). */
export const GATE_ENABLE_PORT = 2;
/** Ports of an SMA residual unit: the gate's z, and the layer's decision. */
export const RESIDUAL_Z_PORT = 2;
export const RESIDUAL_ENABLE_PORT = 3;

export interface Population {
  kind: PopulationKind;
  /** e.g. `layers.0.s`; neuron i is `<name>[i]` (state neurons `<name>[p].re` / `.im`). */
  name: string;
  /** Model layer, −1 for input and encoder, n_layers for the decoder. */
  layer: number;
  /** Index into `groupNames` (the rows of per-layer reports). */
  group: number;
  start: number;
  count: number;
  /**
   * Set when the population is made of two-compartment units (neurons 2i and 2i+1 are
   * unit i, never split across cores): the state's ['re', 'im'], SMA's ['y', 'a'].
   */
  compartments?: [string, string];
}

export interface NeuronGraph {
  model: QuantModel;
  dense: boolean;
  neurons: number;
  /** In update order: a population reads only messages of populations before it in the same step. */
  populations: Population[];
  /** `input`, `encoder`, `layer 0`, …, `decoder`. */
  groupNames: string[];
  groupOfNeuron: Int32Array;
  /** 1 when the neuron sends messages (all but the decoder). */
  sends: Uint8Array;
  /** 1 when the neuron computes each step (all but the host-driven input). */
  updates: Uint8Array;
  /** Placement units: neurons [unitStart[u], unitStart[u+1]) stay on one core (a state's re/im pair). */
  unitStart: Int32Array;
  /** Fan-out (CSC): synapses of source n are [outPtr[n], outPtr[n+1]); target accumulator = PORTS·neuron + port. */
  outPtr: Int32Array;
  outTarget: Int32Array;
  outWeight: Int32Array;
  /** Fan-in (CSR): sources of neuron n are inSource[inPtr[n] … inPtr[n+1]) (one entry per synapse). */
  inPtr: Int32Array;
  inSource: Int32Array;
  synapses: number;
}

// ---------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------

/** Growable (source, target accumulator, weight) lists. */
function synapseList() {
  let n = 0;
  let src: Int32Array<ArrayBuffer> = new Int32Array(1024);
  let acc: Int32Array<ArrayBuffer> = new Int32Array(1024);
  let w: Int32Array<ArrayBuffer> = new Int32Array(1024);
  const add = (source: number, target: number, port: number, weight: number): void => {
    if (n === src.length) {
      const grow = (a: Int32Array): Int32Array<ArrayBuffer> => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      src = grow(src);
      acc = grow(acc);
      w = grow(w);
    }
    src[n] = source;
    acc[n] = (target << PORT_BITS) | port;
    w[n] = weight;
    n++;
  };
  return { add, get: () => ({ n, src, acc, w }) };
}

/**
 * Synapses of y = W x for a QMatrix: row r of W feeds target neuron `rowNeuron(r)`,
 * column c comes from source neuron `colNeuron(c)`. Dense matrices keep only their
 * nonzero weights unless `keepZeros` (the dense-model comparison).
 */
function addMatrix(add: (s: number, t: number, p: number, w: number) => void, W: QMatrix, colNeuron: (c: number) => number, rowNeuron: (r: number) => number, port: number, keepZeros: boolean, sign = 1): void {
  if (W.kind === 'dense') {
    for (let r = 0; r < W.rows; r++) {
      for (let c = 0; c < W.cols; c++) {
        const v = W.values[r * W.cols + c];
        if (v !== 0 || keepZeros) add(colNeuron(c), rowNeuron(r), port, sign * v);
      }
    }
    return;
  }
  const { indptr, indices, values } = W as Required<QMatrix>;
  if (keepZeros) {
    const row = new Int32Array(W.cols);
    for (let r = 0; r < W.rows; r++) {
      row.fill(0);
      for (let k = indptr[r]; k < indptr[r + 1]; k++) row[indices[k]] = values[k];
      for (let c = 0; c < W.cols; c++) add(colNeuron(c), rowNeuron(r), port, sign * row[c]);
    }
    return;
  }
  for (let r = 0; r < W.rows; r++) {
    for (let k = indptr[r]; k < indptr[r + 1]; k++) add(colNeuron(indices[k]), rowNeuron(r), port, sign * values[k]);
  }
}

/** The neuron graph of `model`; `dense` makes every matrix weight (zeros too) a synapse. */
export function buildNeuronGraph(model: QuantModel, opts: { dense?: boolean } = {}): NeuronGraph {
  const dense = !!opts.dense;
  const { d_in, d_model: H, d_state: P, d_out, n_layers, gate } = model.config;
  const sma = !!model.config.sma;
  const populations: Population[] = [];
  const groupNames = ['input', 'encoder', ...model.layers.map((_, i) => `layer ${i}`), 'decoder'];
  let next = 0;
  const population = (kind: PopulationKind, name: string, layer: number, group: number, count: number, compartments?: [string, string]): Population => {
    const p: Population = { kind, name, layer, group, start: next, count, ...(compartments ? { compartments } : {}) };
    next += count;
    populations.push(p);
    return p;
  };

  const x = population('input', 'x', -1, 0, d_in);
  const enc = population('encoder', 'encoder', -1, 1, H);
  const layerPops = model.layers.map((_, i) => {
    const g = 2 + i;
    const v = population('norm', `layers.${i}.v`, i, g, H);
    const s = population('state', `layers.${i}.s`, i, g, 2 * P, ['re', 'im']);
    const a = sma ? population('activation', `layers.${i}.ya`, i, g, 2 * H, ['y', 'a']) : population('activation', `layers.${i}.a`, i, g, H);
    const m = sma ? population('decision', `layers.${i}.m`, i, g, 1) : undefined;
    const z = gate ? population('gate', `layers.${i}.z`, i, g, H) : undefined;
    const u = population('residual', `layers.${i}.u`, i, g, H);
    return { v, s, a, m, z, u };
  });
  const dec = population('decoder', 'decoder', n_layers, 2 + n_layers, d_out);
  const N = next;

  const list = synapseList();
  const add = list.add;
  addMatrix(add, model.encoderWeight, (c) => x.start + c, (r) => enc.start + r, 0, dense);
  let u = enc;
  model.layers.forEach((L, i) => {
    const { v, s, a, m, z, u: uOut } = layerPops[i];
    // Without SMA a[h] is one neuron; with it, y[h] and a[h] are compartments 2h and 2h+1.
    const yOf = (h: number): number => a.start + (m ? 2 * h : h);
    const aOf = (h: number): number => a.start + (m ? 2 * h + 1 : h);
    for (let h = 0; h < H; h++) add(u.start + h, v.start + h, 0, L.normScale[h]);
    addMatrix(add, L.B_re, (c) => v.start + c, (p) => s.start + 2 * p, 0, dense);
    addMatrix(add, L.B_im, (c) => v.start + c, (p) => s.start + 2 * p + 1, 0, dense);
    addMatrix(add, L.C_re, (p) => s.start + 2 * p, yOf, 0, dense);
    addMatrix(add, L.C_im, (p) => s.start + 2 * p + 1, yOf, 0, dense, -1);
    for (let h = 0; h < H; h++) add(v.start + h, yOf(h), 1, L.D[h]);
    if (m) addMatrix(add, L.smaWeight!, yOf, () => m.start, 0, dense);
    if (z) {
      addMatrix(add, L.gateWeight!, aOf, (h) => z.start + h, 0, dense);
      for (let h = 0; h < H; h++) add(aOf(h), z.start + h, 1, 1);
      if (m) for (let h = 0; h < H; h++) add(m.start, z.start + h, GATE_ENABLE_PORT, 1);
    }
    for (let h = 0; h < H; h++) add(u.start + h, uOut.start + h, 0, 1);
    if (m) {
      for (let h = 0; h < H; h++) add(aOf(h), uOut.start + h, 1, 1);
      for (let h = 0; h < H; h++) add(z!.start + h, uOut.start + h, RESIDUAL_Z_PORT, 1);
      for (let h = 0; h < H; h++) add(m.start, uOut.start + h, RESIDUAL_ENABLE_PORT, 1);
    } else {
      for (let h = 0; h < H; h++) add(z ? z.start + h : aOf(h), uOut.start + h, 1, 1);
    }
    u = uOut;
  });
  addMatrix(add, model.decoderWeight, (c) => u.start + c, (j) => dec.start + j, 0, dense);

  const { n: S, src, acc, w } = list.get();
  // Counting sort by source (fan-out) and by target (fan-in).
  const outPtr = new Int32Array(N + 1);
  const inPtr = new Int32Array(N + 1);
  for (let k = 0; k < S; k++) {
    outPtr[src[k] + 1]++;
    inPtr[(acc[k] >> PORT_BITS) + 1]++;
  }
  for (let n = 0; n < N; n++) {
    outPtr[n + 1] += outPtr[n];
    inPtr[n + 1] += inPtr[n];
  }
  const outTarget = new Int32Array(S);
  const outWeight = new Int32Array(S);
  const inSource = new Int32Array(S);
  const outFill = outPtr.slice(0, N);
  const inFill = inPtr.slice(0, N);
  for (let k = 0; k < S; k++) {
    const o = outFill[src[k]]++;
    outTarget[o] = acc[k];
    outWeight[o] = w[k];
    inSource[inFill[acc[k] >> PORT_BITS]++] = src[k];
  }

  const groupOfNeuron = new Int32Array(N);
  const sends = new Uint8Array(N);
  const updates = new Uint8Array(N);
  const units: number[] = [];
  for (const p of populations) {
    groupOfNeuron.fill(p.group, p.start, p.start + p.count);
    sends.fill(p.kind === 'decoder' ? 0 : 1, p.start, p.start + p.count);
    updates.fill(p.kind === 'input' ? 0 : 1, p.start, p.start + p.count);
    const stride = p.compartments ? 2 : 1;
    for (let i = 0; i < p.count; i += stride) units.push(p.start + i);
  }
  units.push(N);
  return {
    model, dense, neurons: N, populations, groupNames, groupOfNeuron, sends, updates,
    unitStart: Int32Array.from(units), outPtr, outTarget, outWeight, inPtr, inSource, synapses: S,
  };
}

/** `layers.0.s[3].re`, `layers.0.ya[1].y`, `encoder[2]`, … */
export function neuronName(g: NeuronGraph, n: number): string {
  const p = g.populations.find((q) => n >= q.start && n < q.start + q.count)!;
  const i = n - p.start;
  return p.compartments ? `${p.name}[${i >> 1}].${p.compartments[i & 1]}` : `${p.name}[${i}]`;
}
