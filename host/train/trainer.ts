// ============================================================================
// The training loop: mini-batches of a task's examples through backprop.ts,
// AdamW, iterative pruning to a target sparsity (masks from the
// same pruner `sparrow prune` uses, on the model the parameters export to),
// evaluation on the test split, and resumable checkpoints.
//
// Determinism: the example order of epoch e is a permutation seeded by
// (seed, e), so a run resumed from a checkpoint at step k continues exactly as
// the uninterrupted run would have (tests/train/trainer.test.ts).
// A NaN or infinite loss stops training with a clear error and leaves the
// last good checkpoint in place.
//
// Tuning a trained model (host/train/tune.ts) is this same loop with a
// trainable mask per tensor (TrainOptions.trainable), BatchNorm frozen at its
// running statistics (TrainOptions.bn) and optionally an Adapter (LoRA
// factors that write the decoder weight).
// ============================================================================

import { DEFAULT_SALIENCY, pruneModel, PruneDistribution, PruneSaliency, saliencyScores } from '../compress/prune';
import { Matrix, Model, ModelConfig } from '../model/types';
import { runFloat } from '../reference/float';
import { SparrowError } from '../util/errors';
import { makeRng } from '../util/rng';
import { BnMode, SMA_DEFAULTS, SmaTraining } from './backprop';
import { AdamOptions, adamState, AdamState, adamStep, lrScale, maskUpdateNow, PruneSchedule, regrowFraction, sparsityAt, Trainable } from './optim';
import { exportModel, initParams, Masks, ParamRef, paramRefs, TrainParams } from './params';
import { shareGradient } from './pool';
import { Qat, QatGrids } from './qat';
import { Task } from './task';

export interface TrainOptions extends AdamOptions {
  config: ModelConfig;
  epochs: number;
  batchSize: number;
  seed: number;
  warmupSteps?: number;
  /** Target sparsity and distribution of the iterative pruning (0: dense). */
  prune: PruneSchedule & {
    distribution: PruneDistribution;
    /**
     * What happens to pruned weights between mask updates. 'zero' (default): set to 0, with their
     * AdamW moments, after every update (Zhu & Gupta's gradual pruning; a pruned weight stays
     * pruned). 'ste': they keep training on the straight-through gradient and may come back at
     * the next mask update (docs/training.md: with AdamW they drift and churn the masks).
     */
    pruned?: 'zero' | 'ste';
    /** How entries are ranked within each matrix's budget (host/compress/prune.ts); default DEFAULT_SALIENCY (a checkpoint written before that default, without the field, resumes with 'magnitude'). */
    saliency?: PruneSaliency;
  };
  /** Gradient-norm clip (global L2), 0 = none. */
  clip?: number;
  /** Quantization-aware fine-tuning: the last this many epochs train through the w8a16 grids (default 0). */
  qatEpochs?: number;
  /** Fixed grids for those epochs (a base's scales, tuning); default: the ones the quantizer would choose. Not in checkpoints. */
  qatGrids?: QatGrids;
  /** Examples of the training split used per epoch (default all). */
  trainLimit?: number;
  /** Examples of the test split evaluated after each epoch (default all). */
  evalLimit?: number;
  /**
   * Which parameters train, by tensor name (paramRefs' names, and an adapter's): 1 = trainable;
   * a tensor not in the map is frozen. Undefined: everything trains. Frozen entries get no
   * gradient, moment, step or weight decay, so they keep their values to the bit (tuning:
   * host/train/tune.ts). Not stored in checkpoints.
   */
  trainable?: Map<string, Uint8Array>;
  /** BatchNorm: 'batch' statistics (default, training) or the 'running' ones, frozen (tuning). */
  bn?: BnMode;
  /** SMA models: the rate penalty and the temperature of the straight-through softmax (backprop.ts). */
  sma?: SmaTraining;
}

export interface EpochRecord {
  epoch: number;
  step: number;
  trainLoss: number;
  testMetric: number;
  sparsity: number;
  seconds: number;
  stepsPerSecond: number;
  /** SMA models: fraction of layer-steps whose gate ran, over the epoch's training batches. */
  smaRate?: number;
}

/**
 * Trainable tensors outside TrainParams that define some of its weights (LoRA factors of the
 * decoder, host/train/tune.ts). The trainer steps them with AdamW after the parameters (their
 * moments follow the parameters' in TrainState.adam), on the gradients `gradient` derives from
 * the parameters' gradient, and calls `apply` before the first step and after every step, so
 * the parameters always hold the weights the adapter defines.
 */
export interface Adapter {
  refs: ParamRef[];
  apply(p: TrainParams): void;
  /** Gradients of refs, in their order, from the gradient of the parameters. */
  gradient(g: TrainParams): Float64Array[];
}

export interface TrainState {
  params: TrainParams;
  /** Not stored in checkpoints. */
  adapter?: Adapter;
  masks: Masks;
  adam: AdamState;
  /** Optimizer steps taken. */
  step: number;
  history: EpochRecord[];
  /** Loss accumulated over the current epoch so far, and its count. */
  epochLoss: number;
  epochCount: number;
  /** SMA activation rate summed over the epoch's steps so far (absent: 0). */
  epochSmaRate?: number;
  /** Training seconds spent, across resumes. */
  seconds: number;
}

export function newTrainState(o: TrainOptions, from?: { params: TrainParams; masks: Masks }): TrainState {
  const params = from?.params ?? initParams(o.config, o.seed);
  return { params, masks: from?.masks ?? new Map(), adam: adamState(paramRefs(params)), step: 0, history: [], epochLoss: 0, epochCount: 0, seconds: 0 };
}

export function stepsPerEpoch(task: Task, o: TrainOptions): number {
  return Math.floor(Math.min(task.size('train'), o.trainLimit ?? Infinity) / o.batchSize);
}

/** Indices of epoch `epoch`'s examples in order (a seeded permutation of the first trainLimit). */
export function epochOrder(task: Task, o: TrainOptions, epoch: number): Int32Array {
  const n = Math.min(task.size('train'), o.trainLimit ?? Infinity);
  const rng = makeRng(o.seed * 7919 + epoch + 1);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** Masks of pruning to `sparsity` over the current weights, ranked by `saliency` (of every entry: with 'ste', pruned weights kept training and compete again). */
export function computeMasks(p: TrainParams, sparsity: number, distribution: PruneDistribution, saliency: PruneSaliency = DEFAULT_SALIENCY): Masks {
  const { model } = pruneModel(exportModel(p), { sparsity, distribution, saliency });
  const pattern = (m: Matrix): Uint8Array => {
    const mask = new Uint8Array(m.rows * m.cols);
    if (m.kind === 'dense') m.values.forEach((v, i) => (mask[i] = v !== 0 ? 1 : 0));
    else for (let r = 0; r < m.rows; r++) for (let k = m.indptr[r]; k < m.indptr[r + 1]; k++) mask[r * m.cols + m.indices[k]] = 1;
    return mask;
  };
  const masks: Masks = new Map([['encoder.weight', pattern(model.encoderWeight)], ['decoder.weight', pattern(model.decoderWeight)]]);
  model.layers.forEach((L, i) => {
    masks.set(`layers.${i}.ssm.B`, pattern(L.B_re));
    masks.set(`layers.${i}.ssm.C`, pattern(L.C_re));
    if (L.gateWeight) masks.set(`layers.${i}.gate.weight`, pattern(L.gateWeight));
  });
  return masks;
}

/**
 * Regrowth (RigL's drop and grow, in place on st.masks): in each matrix with pruned entries, the
 * `fraction` of its kept entries with the lowest `saliency` score leave the mask, and as many of
 * the entries then outside it with the largest gradient magnitude (|g| over re and im for a
 * complex matrix; a dropped entry may come straight back) join it. Grown entries hold 0, as
 * RigL's do: the caller's applyMasks zeroes the dropped ones.
 */
export function regrowMasks(st: TrainState, grads: TrainParams, fraction: number, saliency: PruneSaliency = DEFAULT_SALIENCY): void {
  const scores = saliencyScores(exportModel(st.params, st.masks), saliency);
  const g = paramRefs(grads);
  const gradOf = new Map<string, Float64Array>();
  paramRefs(st.params).forEach((r, k) => {
    if (!r.maskName) return;
    const acc = gradOf.get(r.maskName) ?? new Float64Array(r.value.length);
    g[k].value.forEach((x, i) => (acc[i] += x * x));
    gradOf.set(r.maskName, acc);
  });
  for (const [name, mask] of st.masks) {
    const kept: number[] = [];
    mask.forEach((x, i) => x && kept.push(i));
    const n = Math.min(Math.floor(fraction * kept.length), mask.length - kept.length);
    const score = scores.get(name);
    const grad = gradOf.get(name);
    if (n <= 0 || !score || !grad) continue;
    kept.sort((a, b) => score[a] - score[b] || a - b);
    for (let k = 0; k < n; k++) mask[kept[k]] = 0;
    const free: number[] = [];
    mask.forEach((x, i) => x || free.push(i));
    free.sort((a, b) => grad[b] - grad[a] || a - b);
    for (let k = 0; k < n; k++) mask[free[k]] = 1;
  }
}

/** Set every masked-out weight, and its AdamW moments, to 0. */
export function applyMasks(st: TrainState): void {
  paramRefs(st.params).forEach((r, k) => {
    const mask = r.maskName ? st.masks.get(r.maskName) : undefined;
    if (!mask) return;
    for (let i = 0; i < mask.length; i++) {
      if (mask[i]) continue;
      r.value[i] = 0;
      st.adam.m[k][i] = 0;
      st.adam.v[k][i] = 0;
    }
  });
}

/** Fraction of masked-out entries over every prunable matrix. */
export function maskSparsity(p: TrainParams, masks: Masks): number {
  const { d_in, d_model: H, d_state: P, d_out, n_layers, gate } = p.config;
  const total = H * d_in + d_out * H + n_layers * (2 * P * H + (gate ? H * H : 0));
  let zeros = 0;
  for (const m of masks.values()) for (const x of m) if (!x) zeros++;
  return zeros / total;
}

/** The task metric of a model over (the first evalLimit examples of) the test split, recurrent mode. */
export function evaluate(model: Model, task: Task, limit = Infinity, onProgress?: (done: number, total: number) => void): number {
  const n = Math.min(task.size('test'), limit);
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    const ex = task.example('test', i);
    values.push(task.metric(Float32Array.from(runFloat(model, ex.inputs, ex.T)), ex));
    onProgress?.(i + 1, n);
  }
  return task.reduceMetric(values);
}

/** The gradient of one mini-batch (summed loss / batch size) and its mean loss, on this thread. */
export function batchGradient(st: TrainState, task: Task, indices: ArrayLike<number>, qat: Qat = false, bn: BnMode = 'batch', sma: SmaTraining = SMA_DEFAULTS): { grads: TrainParams; loss: number; smaRate: number } {
  return shareGradient(st.params, st.masks, task, indices, st.step, qat, bn, sma);
}

/** The trainable masks in `refs` order (null: frozen); undefined when everything trains. */
export function trainableOf(refs: ParamRef[], trainable: Map<string, Uint8Array> | undefined): Trainable {
  if (!trainable) return undefined;
  return refs.map((r) => {
    const m = trainable.get(r.name);
    if (m && m.length !== r.value.length) throw new Error(`trainable mask of ${r.name} has ${m.length} entries, the tensor ${r.value.length}`);
    return m ?? null;
  });
}

/** Zero the gradient of frozen entries, so that clipping measures only what trains. */
function maskGradients(grads: ParamRef[], trainable: Trainable): void {
  if (!trainable) return;
  grads.forEach((g, k) => {
    const m = trainable[k];
    for (let i = 0; i < g.value.length; i++) if (!m || !m[i]) g.value[i] = 0;
  });
}

function clipGradients(grads: ReturnType<typeof paramRefs>, clip: number): void {
  if (!(clip > 0)) return;
  let sq = 0;
  for (const g of grads) for (const x of g.value) sq += x * x;
  const norm = Math.sqrt(sq);
  if (norm > clip) for (const g of grads) for (let i = 0; i < g.value.length; i++) g.value[i] *= clip / norm;
}

export interface TrainHooks {
  /** After every optimizer step. */
  /** After every update (and the adapter's apply), before anything reads the parameters: a projection (tune.ts: onto the base's grids). */
  afterUpdate?: (st: TrainState) => void;
  onStep?: (st: TrainState, info: { epoch: number; stepInEpoch: number; stepsPerEpoch: number; loss: number; sparsity: number }) => void;
  /** After each epoch's evaluation. */
  onEpoch?: (st: TrainState, rec: EpochRecord) => void;
  /** Every `checkpointEvery` steps and after each epoch; the state is consistent when called. */
  onCheckpoint?: (st: TrainState) => void;
  checkpointEvery?: number;
  /** Stop after this many optimizer steps in this call (tests and time-boxed runs); resumable. */
  maxSteps?: number;
  /** Asked before every step: true stops the call (a time box); resumable. */
  shouldStop?: () => boolean;
  /** A replacement for batchGradient (the worker pool). */
  gradient?: (st: TrainState, indices: Int32Array, qat: Qat, bn: BnMode) => Promise<{ grads: TrainParams; loss: number; smaRate?: number }>;
  /** A replacement for evaluate (the worker pool, conv mode): the test metric of the current parameters. */
  evaluate?: (st: TrainState) => Promise<number>;
}

/** Train from `st` (fresh or resumed) to the end of o.epochs; returns when done or when hooks.maxSteps is reached. */
export async function train(task: Task, o: TrainOptions, st: TrainState, hooks: TrainHooks = {}): Promise<{ done: boolean }> {
  const perEpoch = stepsPerEpoch(task, o);
  if (perEpoch < 1) throw new SparrowError(`train: the training split has ${task.size('train')} examples, fewer than one batch of ${o.batchSize}`);
  const total = perEpoch * o.epochs;
  const warmup = o.warmupSteps ?? Math.min(1000, Math.ceil(total * 0.05));
  const refs = [...paramRefs(st.params), ...(st.adapter?.refs ?? [])];
  if (st.adam.m.length !== refs.length) throw new Error(`train: AdamW state for ${st.adam.m.length} tensors, ${refs.length} to train`);
  const trainable = trainableOf(refs, o.trainable);
  const bn = o.bn ?? 'batch';
  st.adapter?.apply(st.params);
  let taken = 0;
  let t0 = performance.now();
  /** Training time (not evaluation) accumulates in st.seconds, so checkpoints carry it across resumes. */
  const tick = (): void => {
    const now = performance.now();
    st.seconds += (now - t0) / 1000;
    t0 = now;
  };
  let order: Int32Array | undefined;
  let orderEpoch = -1;
  while (st.step < total) {
    if ((hooks.maxSteps !== undefined && taken >= hooks.maxSteps) || hooks.shouldStop?.()) {
      tick();
      return { done: false };
    }
    const epoch = Math.floor(st.step / perEpoch);
    const inEpoch = st.step % perEpoch;
    if (orderEpoch !== epoch) {
      order = epochOrder(task, o, epoch);
      orderEpoch = epoch;
    }
    const zeroPruned = (o.prune.pruned ?? 'zero') === 'zero';
    const maskUpdate = maskUpdateNow(o.prune, st.step, total);
    if (maskUpdate) {
      st.masks = computeMasks(st.params, Math.min(0.99, sparsityAt(o.prune, st.step, total)), o.prune.distribution, o.prune.saliency);
      if (zeroPruned) applyMasks(st);
    }
    const indices = order!.subarray(inEpoch * o.batchSize, (inEpoch + 1) * o.batchSize);
    const qat: Qat = epoch >= o.epochs - (o.qatEpochs ?? 0) ? (o.qatGrids ?? true) : false;
    const { grads, loss, smaRate } = hooks.gradient ? await hooks.gradient(st, indices, qat, bn) : batchGradient(st, task, indices, qat, bn, o.sma);
    const regrow = maskUpdate ? regrowFraction(o.prune, st.step, total) : 0;
    if (regrow > 0) {
      regrowMasks(st, grads, regrow, o.prune.saliency);
      applyMasks(st);
    }
    st.epochSmaRate = (st.epochSmaRate ?? 0) + (smaRate ?? 0);
    const g = paramRefs(grads);
    if (st.adapter) st.adapter.gradient(grads).forEach((value, k) => g.push({ ...st.adapter!.refs[k], value }));
    maskGradients(g, trainable);
    clipGradients(g, o.clip ?? 0);
    adamStep(refs, g, st.adam, o, lrScale(st.step, total, warmup), trainable);
    if (zeroPruned && st.masks.size > 0) applyMasks(st);
    st.adapter?.apply(st.params);
    hooks.afterUpdate?.(st);
    st.step++;
    taken++;
    st.epochLoss += loss;
    st.epochCount++;
    const sparsity = maskSparsity(st.params, st.masks);
    hooks.onStep?.(st, { epoch, stepInEpoch: inEpoch + 1, stepsPerEpoch: perEpoch, loss, sparsity });
    if (hooks.checkpointEvery && st.step % hooks.checkpointEvery === 0 && hooks.onCheckpoint) {
      tick();
      hooks.onCheckpoint(st);
    }
    if (st.step % perEpoch === 0) {
      tick();
      const metric = hooks.evaluate ? await hooks.evaluate(st) : evaluate(exportModel(st.params, st.masks), task, o.evalLimit);
      const trainTime = st.seconds - st.history.reduce((a, h) => a + h.seconds, 0);
      const rec: EpochRecord = { epoch: epoch + 1, step: st.step, trainLoss: st.epochLoss / Math.max(1, st.epochCount), testMetric: metric, sparsity, seconds: trainTime, stepsPerSecond: perEpoch / Math.max(1e-9, trainTime) };
      if (o.config.sma) rec.smaRate = (st.epochSmaRate ?? 0) / Math.max(1, st.epochCount);
      st.history.push(rec);
      st.epochLoss = 0;
      st.epochCount = 0;
      st.epochSmaRate = 0;
      hooks.onEpoch?.(st, rec);
      hooks.onCheckpoint?.(st);
      t0 = performance.now();
    }
  }
  return { done: true };
}
