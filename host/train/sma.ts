// ============================================================================
// What Sparse Modular Activation saves on a task: per layer, the fraction of
// steps whose gate sub-module ran (the model's own decisions on the test
// examples, each from a zero state: the float reference for a float model,
// the integer reference for a w8a16 one), and the MACs that follows.
//
//   gate sub-module MACs per layer-step   nnz(W_g) + H   (the mat-vec, a ⊙ σ)
//   decision MACs per layer-step          H              (w₁ − w₀ row, as deployed)
//   MACs/step with SMA = always-on MACs − Σ_l (1 − rate_l)(nnz(W_g,l) + H)
//   "always-on" = the same model with the gate running every step and no
//   decision row: what the model costs without SMA.
// ============================================================================

import { QMatrix } from '../model/quant';
import { Matrix } from '../model/types';
import { stepFloat, zeroState } from '../reference/float';
import { IntTrace, quantizeInput, stepInt, zeroIntState } from '../reference/int';
import { SparrowError } from '../util/errors';
import { AnyModel } from './run';
import { Task } from './task';

export interface SmaActivation {
  /** Per layer: fraction of the examples' steps whose gate ran. */
  rates: number[];
  /** Mean over layers. */
  rate: number;
  layerSteps: number;
  /** Gate sub-module MACs per step at 100% activation, summed over layers, and the share skipped. */
  gateMacsPerStep: number;
  gateMacsSkipped: number;
  /** The decision rows' MACs per step (H per layer). */
  decisionMacsPerStep: number;
  /** Matrix + element-wise MACs per step: always on (no decision) and with SMA on this data. */
  alwaysOnMacsPerStep: number;
  smaMacsPerStep: number;
}

function nnz(m: Matrix | QMatrix): number {
  if (m.kind === 'csr') return m.indptr![m.rows];
  let n = 0;
  for (const v of m.values) if (v !== 0) n++;
  return n;
}

/** Activation statistics of an SMA model over the first `limit` test examples of `task`. */
export function smaActivation(any: AnyModel, task: Task, limit: number): SmaActivation {
  const c = any.model.config;
  if (!c.sma) throw new SparrowError('the model has no SMA (config.sma is off)');
  const { d_model: H, d_state: P, d_in, n_layers } = c;
  const active = new Array<number>(n_layers).fill(0);
  let steps = 0;
  const n = Math.min(task.size('test'), limit);
  for (let e = 0; e < n; e++) {
    const ex = task.example('test', e);
    if (any.kind === 'float') {
      const state = zeroState(any.model);
      for (let t = 0; t < ex.T; t++) {
        stepFloat(any.model, state, ex.inputs.subarray(t * d_in, (t + 1) * d_in), (tensor, layer, v) => {
          if (tensor === 'm') active[layer] += v[0];
        });
      }
    } else {
      const q = any.model;
      const state = zeroIntState(q);
      const trace: IntTrace = { u: [], v: [], y: [], a: [], m: [] };
      for (let t = 0; t < ex.T; t++) {
        trace.m!.length = 0;
        stepInt(q, state, Int16Array.from(ex.inputs.subarray(t * d_in, (t + 1) * d_in), (x) => quantizeInput(x, q.inputFrac)), trace);
        trace.m!.forEach((m, l) => (active[l] += m));
      }
    }
    steps += ex.T;
  }
  const rates = active.map((a) => a / Math.max(1, steps));
  const layers = any.model.layers as { gateWeight?: Matrix | QMatrix }[];
  const gate = layers.map((L) => nnz(L.gateWeight!) + H);
  const gateMacsPerStep = gate.reduce((a, b) => a + b, 0);
  const saved = gate.reduce((a, g, l) => a + (1 - rates[l]) * g, 0);
  const m = any.model as { encoderWeight: Matrix | QMatrix; decoderWeight: Matrix | QMatrix; layers: { B_re: Matrix | QMatrix; B_im: Matrix | QMatrix; C_re: Matrix | QMatrix; C_im: Matrix | QMatrix; gateWeight?: Matrix | QMatrix }[] };
  // As host/model/describe.ts counts them: matrix nonzeros + per layer 2H (norm, D) + 4P (Λ s) + H (gate product).
  let alwaysOn = nnz(m.encoderWeight) + nnz(m.decoderWeight);
  for (const L of m.layers) alwaysOn += nnz(L.B_re) + nnz(L.B_im) + nnz(L.C_re) + nnz(L.C_im) + nnz(L.gateWeight!) + 2 * H + 4 * P + H;
  const decisionMacsPerStep = n_layers * H;
  return {
    rates,
    rate: rates.reduce((a, b) => a + b, 0) / rates.length,
    layerSteps: steps * n_layers,
    gateMacsPerStep,
    gateMacsSkipped: saved / gateMacsPerStep,
    decisionMacsPerStep,
    alwaysOnMacsPerStep: alwaysOn,
    smaMacsPerStep: alwaysOn - saved + decisionMacsPerStep,
  };
}
