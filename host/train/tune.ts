// ============================================================================
// Cheap adaptation of a trained model (docs/adaptation.md): Sparse Dimension
// Tuning (SDT, after Galim et al., "Parameter-Efficient Fine-Tuning of State
// Space Models", 2024), LoRA on the decoder, and full fine-tuning, all on the
// trainer's loop with everything not selected frozen to the bit.
//
//   import    the float model back into training form (params.ts importModel:
//             Δ = 1, Λ = log Λ̄), BatchNorm frozen at what the model folds
//   warm-up   W steps of AdamW on Λ, B and C only (a throw-away copy); scores:
//               state p    |ΔΛ_p|²                         (Λ is per state in S5)
//               channel h  Σ_p |ΔB[p,h]|² + |ΔC[h,p]|²      (S5 shares Λ across
//                          channels, so a channel's score is its B and C moves)
//   select    per layer the top F channels, then the top G states
//   train     from the base again: Λ of the selected states; B[p,h], C[h,p] for
//             selected p and h where the base is nonzero (the sparsity pattern
//             stays); optionally LoRA factors on the decoder (and/or the encoder),
//             merged into its nonzeros (W = W0 + M ⊙ (U V)); nothing else moves
//
// The tuned model is stored in the base's matrix storage (same stored entries),
// and quantized onto the base's scales (quantize.ts quantizeOnto) it ships as a
// patch of values: `sparrow diff base.q tuned.q` (host/patch).
// ============================================================================

import { Model } from '../model/types';
import { SparrowError } from '../util/errors';
import { makeRng } from '../util/rng';
import { adamState } from './optim';
import { exportModel, importModel, Masks, ParamRef, paramRefs, TrainParams } from './params';
import { TrainPool } from './pool';
import { clampToGrids, Qat, QatGrids } from './qat';
import { Task } from './task';
import { TaskSpec } from './tasks';
import { Adapter, EpochRecord, TrainOptions, TrainState, train, stepsPerEpoch } from './trainer';

export type TuneMethod = 'sdt' | 'lora' | 'full';
export const TUNE_METHODS: readonly TuneMethod[] = ['sdt', 'lora', 'full'];

export interface Selection {
  /** Per layer, ascending. */
  channels: number[];
  states: number[];
}

// ---------------------------------------------------------------------------
// LoRA on the decoder, the encoder, B and C
// ---------------------------------------------------------------------------

/**
 * Matrices a low-rank update can go on (`tune --lora-on`): the decoder [d_out, H], the encoder
 * [H, d_in], and the SSM's own projections B [P, H] and C [H, P] of every layer (the analogue of
 * the SDT paper's LoRA on Mamba's input and output projections; their real and imaginary parts
 * each get a rank-R update).
 */
export type LoraTarget = 'decoder' | 'encoder' | 'B' | 'C';
export const LORA_TARGETS: readonly LoraTarget[] = ['decoder', 'encoder', 'B', 'C'];

/**
 * W = W0 + M ⊙ (U V) on one matrix [rows, cols] of the parameters (`get` finds it), U [rows, r]
 * starting at 0, V [r, cols] ~ N(0, 1/cols): the model starts as the base, and the update lives
 * only where the base matrix is nonzero (mask M).
 */
function matrixLora(name: string, get: (q: TrainParams) => Float64Array, p: TrainParams, rows: number, cols: number, mask: Uint8Array | undefined, rank: number, rng: ReturnType<typeof makeRng>): Adapter {
  const w0 = Float64Array.from(get(p));
  const U = new Float64Array(rows * rank);
  const V = Float64Array.from({ length: rank * cols }, () => rng.normal() / Math.sqrt(cols));
  const refs: ParamRef[] = [
    { name: `${name}.lora_u`, value: U, ssm: false, decay: false },
    { name: `${name}.lora_v`, value: V, ssm: false, decay: false },
  ];
  return {
    refs,
    apply(q: TrainParams): void {
      const W = get(q);
      for (let o = 0; o < rows; o++) {
        for (let h = 0; h < cols; h++) {
          const i = o * cols + h;
          if (mask && !mask[i]) {
            W[i] = w0[i];
            continue;
          }
          let s = 0;
          for (let k = 0; k < rank; k++) s += U[o * rank + k] * V[k * cols + h];
          W[i] = w0[i] + s;
        }
      }
    },
    gradient(g: TrainParams): Float64Array[] {
      // G_M = M ⊙ ∂L/∂W; ∂L/∂U = G_M Vᵀ, ∂L/∂V = Uᵀ G_M.
      const G = get(g);
      const gU = new Float64Array(rows * rank);
      const gV = new Float64Array(rank * cols);
      for (let o = 0; o < rows; o++) {
        for (let h = 0; h < cols; h++) {
          const i = o * cols + h;
          if (mask && !mask[i]) continue;
          const gw = G[i];
          if (gw === 0) continue;
          for (let k = 0; k < rank; k++) {
            gU[o * rank + k] += gw * V[k * cols + h];
            gV[k * cols + h] += gw * U[o * rank + k];
          }
        }
      }
      return [gU, gV];
    },
  };
}

/**
 * A rank-`rank` LoRA update of `target` merged into its nonzeros (masks: the base's patterns).
 * B and C: the continuous B (B̄ follows through the zero-order hold) and C of every layer, real
 * and imaginary parts each; refs are named `layers.i.ssm.B_re.lora_u` and so on.
 */
export function loraAdapter(p: TrainParams, target: LoraTarget, masks: Masks, rank: number, seed: number): Adapter {
  const { d_out, d_model: H, d_in, d_state: P } = p.config;
  const rng = makeRng(seed + { decoder: 1013, encoder: 2027, B: 3041, C: 4057 }[target]);
  if (target === 'decoder') return matrixLora('decoder', (q) => q.decW, p, d_out, H, masks.get('decoder.weight'), rank, rng);
  if (target === 'encoder') return matrixLora('encoder', (q) => q.encW, p, H, d_in, masks.get('encoder.weight'), rank, rng);
  const [rows, cols] = target === 'B' ? [P, H] : [H, P];
  return combineAdapters(p.layers.flatMap((_, l) => (['re', 'im'] as const).map((part) => {
    const field = `${target}${part}` as const;
    return matrixLora(`layers.${l}.ssm.${target}_${part}`, (q) => q.layers[l][field], p, rows, cols, masks.get(`layers.${l}.ssm.${target}`), rank, rng);
  })));
}

/** Several adapters on different tensors as one: refs in order, each applied, gradients concatenated. */
export function combineAdapters(list: Adapter[]): Adapter {
  if (list.length === 1) return list[0];
  return {
    refs: list.flatMap((a) => a.refs),
    apply: (q) => list.forEach((a) => a.apply(q)),
    gradient: (g) => list.flatMap((a) => a.gradient(g)),
  };
}

// ---------------------------------------------------------------------------
// Selection
// ---------------------------------------------------------------------------

/** Indices of the `k` largest scores (ties: lower index first), ascending. */
export function topK(scores: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: scores.length }, (_, i) => i)
    .sort((a, b) => scores[b] - scores[a] || a - b)
    .slice(0, k)
    .sort((a, b) => a - b);
}

export interface Scores {
  /** Per layer: [H] and [P]. */
  channels: Float64Array[];
  states: Float64Array[];
}

/** SDT importance from a warm-up: `before` and `after` the warm-up updates (see the header). */
export function dimensionScores(before: TrainParams, after: TrainParams): Scores {
  const { d_model: H, d_state: P } = before.config;
  const channels: Float64Array[] = [];
  const states: Float64Array[] = [];
  before.layers.forEach((A, l) => {
    const Z = after.layers[l];
    const ch = new Float64Array(H);
    const st = new Float64Array(P);
    for (let p = 0; p < P; p++) {
      const dRe = -Math.exp(Z.lamRho[p]) + Math.exp(A.lamRho[p]);
      const dIm = Z.lamIm[p] - A.lamIm[p];
      st[p] = dRe * dRe + dIm * dIm;
      for (let h = 0; h < H; h++) {
        const b = p * H + h;
        const c = h * P + p;
        ch[h] += (Z.Bre[b] - A.Bre[b]) ** 2 + (Z.Bim[b] - A.Bim[b]) ** 2 + (Z.Cre[c] - A.Cre[c]) ** 2 + (Z.Cim[c] - A.Cim[c]) ** 2;
      }
    }
    channels.push(ch);
    states.push(st);
  });
  return { channels, states };
}

export function selectDimensions(scores: Scores, channels: number, states: number): Selection[] {
  return scores.channels.map((ch, l) => ({ channels: topK(ch, channels), states: topK(scores.states[l], states) }));
}

/** What trains in SDT: Λ of the selected states, B and C at selected (state, channel) where the base is nonzero. */
export function sdtTrainable(p: TrainParams, masks: Masks, sel: Selection[]): Map<string, Uint8Array> {
  const { d_model: H, d_state: P } = p.config;
  const out = new Map<string, Uint8Array>();
  sel.forEach((s, l) => {
    const n = `layers.${l}`;
    const lam = new Uint8Array(P);
    for (const q of s.states) lam[q] = 1;
    const bMask = masks.get(`${n}.ssm.B`);
    const cMask = masks.get(`${n}.ssm.C`);
    const b = new Uint8Array(P * H);
    const c = new Uint8Array(H * P);
    for (const q of s.states) {
      for (const h of s.channels) {
        if (!bMask || bMask[q * H + h]) b[q * H + h] = 1;
        if (!cMask || cMask[h * P + q]) c[h * P + q] = 1;
      }
    }
    out.set(`${n}.ssm.lambda_rho`, lam);
    out.set(`${n}.ssm.lambda_im`, lam.slice());
    out.set(`${n}.ssm.B_re`, b);
    out.set(`${n}.ssm.B_im`, b.slice());
    out.set(`${n}.ssm.C_re`, c);
    out.set(`${n}.ssm.C_im`, c.slice());
  });
  return out;
}

/** Warm-up trainables: Λ (ρ and ω), B and C where the base is nonzero, every layer. */
function warmupTrainable(p: TrainParams, masks: Masks): Map<string, Uint8Array> {
  const { d_model: H, d_state: P } = p.config;
  const all = Array.from({ length: H }, (_, h) => h);
  return sdtTrainable(p, masks, p.layers.map(() => ({ channels: all, states: Array.from({ length: P }, (_, q) => q) })));
}

/**
 * What trains in a full fine-tune: every weight the base has (pruned ones stay 0), every bias,
 * norm scale and shift, Λ and D. Not Δ: after import Λ alone sets Λ̄ (Δ = 1), so a trained Δ
 * would only duplicate it.
 */
export function fullTrainable(p: TrainParams, masks: Masks, only?: readonly TensorGroup[]): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const r of paramRefs(p)) {
    if (r.name.endsWith('.ssm.log_step')) continue;
    if (only && !only.includes(tensorGroup(r.name))) continue;
    const mask = r.maskName ? masks.get(r.maskName) : undefined;
    out.set(r.name, mask ? mask.slice() : new Uint8Array(r.value.length).fill(1));
  }
  return out;
}

/**
 * Groups of tensors a full fine-tune can be restricted to (`tune --method full --only`): the
 * diagnosis of where a full fine-tune's gain sits (docs/adaptation.md).
 */
export const TENSOR_GROUPS = ['encoder', 'decoder', 'lambda', 'B', 'C', 'D', 'norm', 'gate'] as const;
export type TensorGroup = (typeof TENSOR_GROUPS)[number];

/** The group of a parameter name (paramRefs): encoder.*, decoder.*, layers.i.ssm.{lambda_*,B_*,C_*,D}, layers.i.norm.*, layers.i.{gate,sma}.*. */
export function tensorGroup(name: string): TensorGroup {
  if (name.startsWith('encoder.')) return 'encoder';
  if (name.startsWith('decoder.')) return 'decoder';
  const m = /^layers\.\d+\.(?:ssm\.(lambda|B|C|D)(?:_|$)|(norm|gate|sma)\.)/.exec(name);
  if (!m) throw new Error(`tensorGroup: no group for ${name}`);
  if (m[1]) return m[1] as TensorGroup;
  return m[2] === 'norm' ? 'norm' : 'gate';
}

/** Bias vectors `--biases` adds to what trains (BitFit, Ben Zaken et al. 2022): each a handful of parameters. */
export const BIAS_GROUPS = ['decoder', 'encoder', 'norm', 'gate'] as const;
export type BiasGroup = (typeof BIAS_GROUPS)[number];

/** decoder.bias, encoder.bias, every layer's norm shift (β) or gate bias, whole. */
export function biasTrainable(p: TrainParams, groups: readonly BiasGroup[]): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const names = new Set<string>();
  for (const g of groups) {
    if (g === 'decoder' || g === 'encoder') names.add(`${g}.bias`);
    else p.layers.forEach((_, i) => names.add(g === 'norm' ? `layers.${i}.norm.beta` : `layers.${i}.gate.bias`));
  }
  for (const r of paramRefs(p)) if (names.has(r.name)) out.set(r.name, new Uint8Array(r.value.length).fill(1));
  return out;
}

/** Parameters of a model as deployed: nonzero matrix entries plus every vector entry (biases, norm, Λ re/im, D). */
export function deployedParameters(model: Model): number {
  const nz = (m: Model['encoderWeight']): number => {
    let n = 0;
    for (const v of m.values) if (v !== 0) n++;
    return n;
  };
  let n = nz(model.encoderWeight) + model.encoderBias.length + nz(model.decoderWeight) + model.decoderBias.length;
  for (const L of model.layers) {
    n += L.normScale.length + L.normShift.length + L.lambdaRe.length + L.lambdaIm.length + L.D.length;
    n += nz(L.B_re) + nz(L.B_im) + nz(L.C_re) + nz(L.C_im);
    if (L.gateWeight) n += nz(L.gateWeight) + L.gateBias!.length;
  }
  return n;
}

/** The model's matrices re-stored in the base's storage: same kind and stored entries; what the base does not store is dropped (counted). */
export function ontoBaseStorage(model: Model, base: Model): { model: Model; dropped: number } {
  let dropped = 0;
  const re = (m: Model['encoderWeight'], b: Model['encoderWeight']): Model['encoderWeight'] => {
    const full = new Float32Array(m.rows * m.cols);
    if (m.kind === 'dense') full.set(m.values);
    else for (let r = 0; r < m.rows; r++) for (let k = m.indptr[r]; k < m.indptr[r + 1]; k++) full[r * m.cols + m.indices[k]] = m.values[k];
    const stored = new Uint8Array(full.length);
    if (b.kind === 'dense') stored.fill(1);
    else for (let r = 0; r < b.rows; r++) for (let k = b.indptr[r]; k < b.indptr[r + 1]; k++) stored[r * b.cols + b.indices[k]] = 1;
    for (let i = 0; i < full.length; i++) if (!stored[i] && full[i] !== 0) dropped++;
    if (b.kind === 'dense') return { kind: 'dense', rows: b.rows, cols: b.cols, values: full };
    const values = new Float32Array(b.values.length);
    for (let r = 0; r < b.rows; r++) for (let k = b.indptr[r]; k < b.indptr[r + 1]; k++) values[k] = full[r * b.cols + b.indices[k]];
    return { ...b, values, indptr: b.indptr.slice(), indices: b.indices.slice() };
  };
  const out: Model = {
    ...model,
    encoderWeight: re(model.encoderWeight, base.encoderWeight),
    layers: model.layers.map((L, i) => {
      const B = base.layers[i];
      return {
        ...L,
        B_re: re(L.B_re, B.B_re),
        B_im: re(L.B_im, B.B_im),
        C_re: re(L.C_re, B.C_re),
        C_im: re(L.C_im, B.C_im),
        ...(L.gateWeight ? { gateWeight: re(L.gateWeight, B.gateWeight!) } : {}),
      };
    }),
    decoderWeight: re(model.decoderWeight, base.decoderWeight),
  };
  return { model: out, dropped };
}

// ---------------------------------------------------------------------------
// A tuning run
// ---------------------------------------------------------------------------

export interface TuneArgs {
  base: Model;
  spec: TaskSpec;
  task: Task;
  method: TuneMethod;
  /** SDT: channels and states selected per layer. */
  channels?: number;
  states?: number;
  /** LoRA rank (sdt: optional; lora: required), on the matrices of loraOn (default the decoder). */
  loraRank?: number;
  loraOn?: readonly LoraTarget[];
  /** SDT: optimizer steps of the importance warm-up. */
  warmupSteps: number;
  /** sdt and lora: these bias vectors train too. */
  biases?: readonly BiasGroup[];
  /** full: only these groups of tensors train (default all). */
  only?: readonly TensorGroup[];
  /** sdt and lora: these groups of tensors train too, whole (every stored entry). */
  also?: readonly TensorGroup[];
  /**
   * Tune through these fixed w8a16 grids (the deployed base's, qat.ts gridsOf): every forward
   * pass uses the weights as quantizeOnto will store them, and after every update the weights
   * are clamped into the range the grids hold (qat.ts clampToGrids), so the float model written
   * is the one the base's scales can store.
   */
  grids?: QatGrids;
  options: Omit<TrainOptions, 'config' | 'prune' | 'trainable' | 'bn'>;
  threads: number;
  script: string;
}

export interface TuneUi {
  phase(what: string): void;
  step(info: { epoch: number; epochs: number; stepInEpoch: number; stepsPerEpoch: number; loss: number; warmup: boolean }): void;
  epoch(rec: EpochRecord): void;
}

export interface TuneResult {
  model: Model;
  /** Test metric of the base (frozen) and of the tuned float model, full test split (or evalLimit for the base). */
  baseMetric: number;
  metric: number;
  trainable: number;
  /** Parameters of the base as deployed (deployedParameters). */
  parameters: number;
  selection?: Selection[];
  history: EpochRecord[];
  seconds: number;
  /** Tuned values the base's storage has no place for (0 for models trained by sparrow). */
  dropped: number;
}

function freshState(params: TrainParams, masks: Masks, adapter?: Adapter): TrainState {
  return { params, masks, ...(adapter ? { adapter } : {}), adam: adamState([...paramRefs(params), ...(adapter?.refs ?? [])]), step: 0, history: [], epochLoss: 0, epochCount: 0, seconds: 0 };
}

function countTrainable(trainable: Map<string, Uint8Array>): number {
  let n = 0;
  for (const m of trainable.values()) for (const x of m) n += x;
  return n;
}

export function checkTuneArgs(a: Pick<TuneArgs, 'base' | 'task' | 'method' | 'channels' | 'states' | 'loraRank' | 'loraOn' | 'biases' | 'only' | 'also'>): void {
  const { d_model: H, d_state: P, d_in, d_out } = a.base.config;
  if (d_in !== a.task.dIn || d_out !== a.task.dOut) {
    throw new SparrowError(`the base model has d_in ${d_in} and d_out ${d_out}; task ${a.task.name} needs ${a.task.dIn} and ${a.task.dOut}`);
  }
  if (a.method === 'sdt') {
    if (a.channels === undefined || a.states === undefined) throw new SparrowError('--method sdt needs --channels and --states');
    if (a.channels > H) throw new SparrowError(`--channels ${a.channels} is more than the model's ${H} channels (d_model)`);
    if (a.states > P) throw new SparrowError(`--states ${a.states} is more than the model's ${P} states (d_state)`);
  } else if (a.channels !== undefined || a.states !== undefined) {
    throw new SparrowError(`--channels and --states are options of --method sdt, not ${a.method}`);
  }
  if (a.method === 'lora' && !a.loraRank) throw new SparrowError('--method lora needs --lora-rank');
  if (a.method === 'full' && a.loraRank) throw new SparrowError('--lora-rank does not go with --method full (every weight trains)');
  if (a.loraOn && !a.loraRank) throw new SparrowError('--lora-on needs --lora-rank');
  if (a.biases?.length && a.method === 'full') throw new SparrowError('--biases does not go with --method full (every bias trains)');
  if (a.biases?.includes('gate') && !a.base.config.gate) throw new SparrowError('--biases gate: the base model has no gate');
  if (a.only && a.method !== 'full') throw new SparrowError(`--only is an option of --method full, not ${a.method}`);
  if (a.only?.includes('gate') && !a.base.config.gate) throw new SparrowError('--only gate: the base model has no gate');
  if (a.also && a.method === 'full') throw new SparrowError('--also does not go with --method full (every tensor trains; --only restricts it)');
  if (a.also?.includes('gate') && !a.base.config.gate) throw new SparrowError('--also gate: the base model has no gate');
  const both = a.loraRank ? (a.loraOn ?? ['decoder']).find((t) => a.also?.includes(t)) : undefined;
  if (both) throw new SparrowError(`--also ${both} and a LoRA update on the ${both} (--lora-on) would both write its weights; pick one`);
  const ssmLora = a.method === 'sdt' && a.loraRank ? (a.loraOn ?? []).find((t) => t === 'B' || t === 'C') : undefined;
  if (ssmLora) throw new SparrowError(`--lora-on ${ssmLora} does not go with --method sdt (both would write ${ssmLora}); use --method lora`);
}

export async function runTune(a: TuneArgs, ui: TuneUi): Promise<TuneResult> {
  checkTuneArgs(a);
  const { task } = a;
  const config = a.base.config;
  const o: TrainOptions = { ...a.options, config, prune: { target: 0, start: 0, end: 1, every: 1, distribution: 'uniform' }, bn: 'running' };
  if (stepsPerEpoch(task, o) < 1) throw new SparrowError(`tune: ${Math.min(task.size('train'), o.trainLimit ?? Infinity)} training examples are fewer than one batch of ${o.batchSize}`);
  const pool = TrainPool.start(a.threads, task, a.spec, config, a.script);
  const evalN = Math.min(task.size('test'), o.evalLimit ?? Infinity);
  const hooks = (warmup: boolean, epochs: number) => ({
    gradient: (st: TrainState, indices: Int32Array, qat: Qat) => pool.gradient(st.params, st.masks, indices, st.step, qat, 'running'),
    evaluate: async (st: TrainState) => task.reduceMetric(await pool.metricValues(st.params, st.masks, evalN, 'recurrent')),
    onStep: (_st: TrainState, s: { epoch: number; stepInEpoch: number; stepsPerEpoch: number; loss: number }) => ui.step({ epoch: s.epoch + 1, epochs, stepInEpoch: s.stepInEpoch, stepsPerEpoch: s.stepsPerEpoch, loss: s.loss, warmup }),
    onEpoch: (_st: TrainState, rec: EpochRecord) => ui.epoch(rec),
  });
  try {
    const imported = (): { params: TrainParams; masks: Masks } => importModel(a.base);
    ui.phase(`${task.metricName} of the base on ${task.size('test')} test examples`);
    const b = imported();
    const baseMetric = task.reduceMetric(await pool.metricValues(b.params, b.masks, task.size('test'), 'recurrent'));

    let selection: Selection[] | undefined;
    let trainable: Map<string, Uint8Array>;
    const { params, masks } = imported();
    let adapter: Adapter | undefined;
    if (a.method === 'sdt') {
      const w = imported();
      const per = stepsPerEpoch(task, o);
      const wo: TrainOptions = { ...o, epochs: Math.ceil(a.warmupSteps / per), warmupSteps: 1, trainable: warmupTrainable(w.params, w.masks) };
      ui.phase(`importance warm-up: ${a.warmupSteps} steps on Λ, B and C`);
      const ws = freshState(w.params, w.masks);
      await train(task, wo, ws, { ...hooks(true, wo.epochs), evaluate: async () => NaN, onEpoch: undefined, maxSteps: a.warmupSteps });
      selection = selectDimensions(dimensionScores(b.params, ws.params), a.channels!, a.states!);
      trainable = sdtTrainable(params, masks, selection);
    } else if (a.method === 'lora') {
      trainable = new Map();
    } else {
      trainable = fullTrainable(params, masks, a.only);
    }
    if (a.biases?.length) for (const [name, m] of biasTrainable(params, a.biases)) trainable.set(name, m);
    if (a.also?.length) for (const [name, m] of fullTrainable(params, masks, a.also)) trainable.set(name, m);
    if (a.loraRank) {
      const rank = a.loraRank;
      adapter = combineAdapters((a.loraOn ?? ['decoder']).map((t) => loraAdapter(params, t, masks, rank, o.seed)));
      for (const r of adapter.refs) trainable.set(r.name, new Uint8Array(r.value.length).fill(1));
    }
    const st = freshState(params, masks, adapter);
    const nTrainable = countTrainable(trainable);
    ui.phase(`tuning (${a.method}): ${nTrainable} trainable parameters`);
    const grids = a.grids;
    await train(task, { ...o, trainable, ...(grids ? { qatEpochs: o.epochs, qatGrids: grids } : {}) }, st, { ...hooks(false, o.epochs), ...(grids ? { afterUpdate: (s: TrainState) => void clampToGrids(s.params, grids) } : {}) });

    ui.phase(`${task.metricName} of the tuned model on ${task.size('test')} test examples`);
    const metric = task.reduceMetric(await pool.metricValues(st.params, st.masks, task.size('test'), 'recurrent'));
    const { model, dropped } = ontoBaseStorage(exportModel(st.params, st.masks), a.base);
    return { model, baseMetric, metric, trainable: nTrainable, parameters: deployedParameters(a.base), ...(selection ? { selection } : {}), history: st.history, seconds: st.seconds, dropped };
  } finally {
    await pool.close();
  }
}
