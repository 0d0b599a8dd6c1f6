// ============================================================================
// Data parallelism over cores with worker threads. A mini-batch is split into
// one share per thread; the main thread computes share 0 itself while the
// workers compute the others, each on its own copy of the parameters, masks
// and BatchNorm running statistics sent with the request. The gradient of the
// batch is the size-weighted mean of the shares' gradients, the loss likewise.
//
// BatchNorm: each share normalises with its own statistics (the "ghost batch"
// of data-parallel training without synchronised BN); the running statistics
// become the mean of the shares' updated ones, which equals one update with
// the mean of the shares' batch statistics.
//
// Evaluation splits the test split into contiguous ranges the same way.
//
// Distillation (`train --teacher`): the teacher's parameters go to every worker
// once, at start; each share runs the teacher forward on its own examples (its
// logits, and with --kd-hint its residual stream after each block, hint.ts).
//
// Workers run the same bundled file as the CLI (dist/sparrow.cjs), started
// with `workerData.sparrowTrainWorker`; host/cli/main.ts routes them here.
// ============================================================================

import { isMainThread, parentPort, Worker, workerData } from 'worker_threads';
import { ModelConfig } from '../model/types';
import { runFloat } from '../reference/float';
import { SparrowError } from '../util/errors';
import { runConv } from './conv';
import { backwardBatch, BnMode, forwardBatch, SMA_DEFAULTS, SmaTraining } from './backprop';
import { exportModel, flattenParams, initParams, loadFlatParams, Masks, TrainParams, zerosLike } from './params';
import { Qat } from './qat';
import { hintLoss } from './hint';
import { Distillation, Task } from './task';
import { makeTask, TaskSpec } from './tasks';

export type EvalMode = 'conv' | 'recurrent';

export interface WorkerInit {
  sparrowTrainWorker: true;
  task: TaskSpec;
  config: ModelConfig;
  sma: SmaTraining;
  teacher?: TeacherSnapshot;
}

/**
 * A teacher for knowledge distillation (`train --teacher`): a trained model in training form
 * (importModel, BatchNorm at its folded statistics) whose outputs on each training example the
 * task's distillLoss compares the student's with. It runs forward only, on the same examples.
 */
export interface Teacher {
  params: TrainParams;
  masks: Masks;
  distill: Distillation;
}

interface Snapshot {
  params: Float64Array;
  stats: Float64Array;
  masks: [string, Uint8Array][];
}

/** Parameters, BatchNorm statistics and masks as they travel to a worker. */
function snapshotOf(p: TrainParams, masks: Masks): Snapshot {
  return { params: flattenParams(p), stats: flattenStats(p), masks: [...masks] };
}

type TeacherSnapshot = Snapshot & { config: ModelConfig; distill: Distillation };

type Request =
  | ({ kind: 'grad'; id: number; indices: Int32Array; step: number; qat: Qat; bn: BnMode } & Snapshot)
  | ({ kind: 'eval'; id: number; from: number; to: number; mode: EvalMode } & Snapshot);

/** A request before it is numbered. */
type Unsent = Request extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

type Reply =
  | { id: number; kind: 'grad'; grads: Float64Array; loss: number; smaRate: number; stats: Float64Array }
  | { id: number; kind: 'eval'; values: number[] }
  | { id: number; kind: 'error'; message: string; user: boolean };

// ---------------------------------------------------------------------------
// The work itself (same code on the main thread and in workers).
// ---------------------------------------------------------------------------

/** BatchNorm running statistics of every layer, flattened (mean then var per layer). */
export function flattenStats(p: TrainParams): Float64Array {
  const H = p.config.d_model;
  const out = new Float64Array(p.layers.length * 2 * H);
  p.layers.forEach((L, l) => {
    out.set(L.runMean, 2 * l * H);
    out.set(L.runVar, (2 * l + 1) * H);
  });
  return out;
}

export function loadStats(p: TrainParams, stats: Float64Array): void {
  const H = p.config.d_model;
  p.layers.forEach((L, l) => {
    L.runMean.set(stats.subarray(2 * l * H, (2 * l + 1) * H));
    L.runVar.set(stats.subarray((2 * l + 1) * H, (2 * l + 2) * H));
  });
}

/**
 * Gradient of the mean loss over `indices` of the training split (with bn 'batch', the
 * BatchNorm running statistics of `p` move toward this share's; with 'running' they are
 * frozen). A non-finite loss is an error naming the step.
 */
export function shareGradient(p: TrainParams, masks: Masks, task: Task, indices: ArrayLike<number>, step: number, qat: Qat = false, bn: BnMode = 'batch', sma: SmaTraining = SMA_DEFAULTS, teacher?: Teacher): { grads: TrainParams; loss: number; smaRate: number } {
  const examples = Array.from(indices, (i) => task.example('train', i));
  const T = examples[0].T;
  const { outputs, tape } = forwardBatch(p, masks, examples.map((e) => e.inputs), T, true, qat, bn, sma);
  const taught = teacher ? forwardBatch(teacher.params, teacher.masks, examples.map((e) => e.inputs), T, false, false, 'running') : undefined;
  let loss = 0;
  const gradOut = outputs.map((o, n) => {
    const r = taught ? task.distillLoss!(Float32Array.from(o), examples[n], Float32Array.from(taught.outputs[n]), teacher!.distill) : task.loss(Float32Array.from(o), examples[n]);
    loss += r.loss;
    return Float64Array.from(r.grad, (g) => g / examples.length);
  });
  let gradBlocks: Float64Array[] | undefined;
  if (taught && teacher!.distill.hint) {
    const hint = hintLoss(tape.blockOut, taught.tape.blockOut, examples.length, T, p.config.d_model, teacher!.distill.hint);
    loss += hint.loss;
    gradBlocks = hint.grads.map((g) => g.map((v) => v / examples.length));
  }
  if (!Number.isFinite(loss)) throw new SparrowError(`training diverged: loss is ${loss} at step ${step}; the last checkpoint is kept: lower --lr and resume it, or start over`);
  return { grads: backwardBatch(p, tape, gradOut, gradBlocks), loss: loss / examples.length + tape.smaPenalty + tape.satPenalty, smaRate: tape.smaRate };
}

/** Per-example task metrics of test examples [from, to) with the exported model. */
export function metricValues(p: TrainParams, masks: Masks, task: Task, from: number, to: number, mode: EvalMode): number[] {
  const model = exportModel(p, masks);
  const values: number[] = [];
  for (let i = from; i < to; i++) {
    const ex = task.example('test', i);
    const out = mode === 'conv' ? runConv(model, ex.inputs, ex.T) : runFloat(model, ex.inputs, ex.T);
    values.push(task.metric(Float32Array.from(out), ex));
  }
  return values;
}

// ---------------------------------------------------------------------------
// Worker side.
// ---------------------------------------------------------------------------

/** True in a thread started by TrainPool. */
export function isTrainWorker(): boolean {
  return !isMainThread && !!(workerData as Partial<WorkerInit> | null)?.sparrowTrainWorker;
}

export function runTrainWorker(): void {
  const init = workerData as WorkerInit;
  const port = parentPort!;
  let task: Task | undefined;
  const p = initParams(init.config, 0);
  const load = (r: Snapshot, q = p): Masks => {
    loadFlatParams(q, r.params);
    loadStats(q, r.stats);
    return new Map(r.masks);
  };
  let teacher: Teacher | undefined;
  if (init.teacher) {
    const params = initParams(init.teacher.config, 0);
    teacher = { params, masks: load(init.teacher, params), distill: init.teacher.distill };
  }
  port.on('message', (r: Request) => {
    try {
      task ??= makeTask(init.task);
      if (r.kind === 'grad') {
        const { grads, loss, smaRate } = shareGradient(p, load(r), task, r.indices, r.step, r.qat, r.bn, init.sma, teacher);
        const reply: Reply = { id: r.id, kind: 'grad', grads: flattenParams(grads), loss, smaRate, stats: flattenStats(p) };
        port.postMessage(reply, [reply.grads.buffer as ArrayBuffer, reply.stats.buffer as ArrayBuffer]);
      } else {
        port.postMessage({ id: r.id, kind: 'eval', values: metricValues(p, load(r), task, r.from, r.to, r.mode) } satisfies Reply);
      }
    } catch (e) {
      port.postMessage({ id: r.id, kind: 'error', message: (e as Error).message, user: e instanceof SparrowError } satisfies Reply);
    }
  });
}

// ---------------------------------------------------------------------------
// Main side.
// ---------------------------------------------------------------------------

/** Contiguous shares of n items over k parts, sizes differing by at most one. */
export function shares(n: number, k: number): [number, number][] {
  const out: [number, number][] = [];
  for (let j = 0, from = 0; j < k; j++) {
    const size = Math.floor(n / k) + (j < n % k ? 1 : 0);
    out.push([from, from + size]);
    from += size;
  }
  return out;
}

export class TrainPool {
  private nextId = 1;
  private pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();

  private constructor(
    private readonly task: Task,
    private readonly workers: Worker[],
    private readonly sma: SmaTraining,
    private readonly teacher?: Teacher,
  ) {
    for (const w of workers) {
      w.on('message', (r: Reply) => {
        const p = this.pending.get(r.id);
        if (!p) return;
        this.pending.delete(r.id);
        if (r.kind === 'error') p.reject(r.user ? new SparrowError(r.message) : new Error(r.message));
        else p.resolve(r);
      });
      w.on('error', (e) => this.failAll(e));
      w.on('exit', (code) => { if (code !== 0) this.failAll(new Error(`a training worker thread exited with code ${code}`)); });
    }
  }

  /**
   * `threads` = total threads including the main one (1: no workers). `script` is the file
   * the workers run: the bundled CLI, which routes workers to runTrainWorker.
   */
  static start(threads: number, task: Task, spec: TaskSpec, config: ModelConfig, script: string, sma: SmaTraining = SMA_DEFAULTS, teacher?: Teacher): TrainPool {
    if (teacher && !task.distillLoss) throw new SparrowError(`--teacher: task ${task.name} has no distillation loss (it is for sfmnist)`);
    const init: WorkerInit = {
      sparrowTrainWorker: true, task: spec, config, sma,
      ...(teacher ? { teacher: { ...snapshotOf(teacher.params, teacher.masks), config: teacher.params.config, distill: teacher.distill } } : {}),
    };
    const workers = Array.from({ length: Math.max(0, threads - 1) }, () => new Worker(script, { workerData: init }));
    for (const w of workers) w.unref();
    return new TrainPool(task, workers, sma, teacher);
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private ask(w: Worker, req: Unsent): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ ...req, id });
    });
  }

  /** The batch gradient over `indices`, split across the threads; with bn 'batch', updates p's BatchNorm running statistics. */
  async gradient(p: TrainParams, masks: Masks, indices: Int32Array, step: number, qat: Qat = false, bn: BnMode = 'batch'): Promise<{ grads: TrainParams; loss: number; smaRate: number }> {
    const parts = shares(indices.length, this.threads).filter(([a, b]) => b > a);
    const snap = snapshotOf(p, masks);
    const remote = parts.slice(1).map(([a, b], k) => this.ask(this.workers[k], { kind: 'grad', indices: indices.slice(a, b), step, qat, bn, ...snap }));
    // Catch now so a worker's failure cannot become an unhandled rejection while share 0 runs.
    const settled = remote.map((r) => r.then((v) => ({ v }), (e: Error) => ({ e })));
    const local = shareGradient(p, masks, this.task, indices.subarray(parts[0][0], parts[0][1]), step, qat, bn, this.sma, this.teacher);
    const n = indices.length;
    const w0 = (parts[0][1] - parts[0][0]) / n;
    const total = flattenParams(local.grads).map((g) => g * w0);
    let loss = local.loss * w0;
    let smaRate = local.smaRate * w0;
    const stats = flattenStats(p).map((s) => s / parts.length);
    for (let k = 0; k < settled.length; k++) {
      const r = await settled[k];
      if ('e' in r) throw r.e;
      const reply = r.v as Extract<Reply, { kind: 'grad' }>;
      const w = (parts[k + 1][1] - parts[k + 1][0]) / n;
      for (let i = 0; i < total.length; i++) total[i] += reply.grads[i] * w;
      for (let i = 0; i < stats.length; i++) stats[i] += reply.stats[i] / parts.length;
      loss += reply.loss * w;
      smaRate += reply.smaRate * w;
    }
    // Frozen statistics stay bit for bit as they are (a mean of equal values need not be exact).
    if (bn === 'batch') loadStats(p, stats);
    const grads = zerosLike(p);
    loadFlatParams(grads, total);
    return { grads, loss, smaRate };
  }

  /** Per-example metrics of the first n test examples, split across the threads. */
  async metricValues(p: TrainParams, masks: Masks, n: number, mode: EvalMode): Promise<number[]> {
    const parts = shares(n, this.threads);
    const snap = snapshotOf(p, masks);
    const remote = parts.slice(1).map(([a, b], k) => (b > a ? this.ask(this.workers[k], { kind: 'eval', from: a, to: b, mode, ...snap }) : Promise.resolve<Reply>({ id: 0, kind: 'eval', values: [] })));
    const settled = remote.map((r) => r.then((v) => ({ v }), (e: Error) => ({ e })));
    const values = metricValues(p, masks, this.task, parts[0][0], parts[0][1], mode);
    for (const s of settled) {
      const r = await s;
      if ('e' in r) throw r.e;
      values.push(...(r.v as Extract<Reply, { kind: 'eval' }>).values);
    }
    return values;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
