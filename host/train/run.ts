// ============================================================================
// A training run as the CLI drives it: task + trainer options, a fresh start
// or a resume from the checkpoint, the worker pool, checkpoints on a schedule,
// an optional time box, and the exported float (and optionally w8a16) model
// with its training record in the metadata. Also: scoring a model file on a
// task (float: conv or recurrent mode; quantized: the integer reference).
// ============================================================================

import * as fs from 'fs';
import { DEFAULT_SALIENCY } from '../compress/prune';
import { quantizeModel } from '../compress/quantize';
import { serializeModel } from '../model/model';
import { QuantModel } from '../model/quant';
import { parseAnyModel, serializeQuantModel } from '../model/quant_file';
import { Model, ModelConfig } from '../model/types';
import { runFloat } from '../reference/float';
import { quantizeInput, runInt } from '../reference/int';
import { writeFileAtomic } from '../util/atomic';
import { SparrowError } from '../util/errors';
import { readCheckpoint, writeCheckpoint } from './checkpoint';
import { runConv } from './conv';
import { exportModel, Masks, TrainParams } from './params';
import { EvalMode, Teacher, TrainPool } from './pool';
import { smaActivation, SmaActivation } from './sma';
import { Task } from './task';
import { makeTask, TaskSpec } from './tasks';
import { EpochRecord, maskSparsity, newTrainState, stepsPerEpoch, train, TrainOptions, TrainState } from './trainer';

/** Training examples the w8a16 export calibrates on. */
export const CALIBRATION_EXAMPLES = 32;

export interface RunArgs {
  spec: TaskSpec;
  options: TrainOptions;
  /** Float model written at the end. */
  out: string;
  /** w8a16 model written at the end, calibrated on the first CALIBRATION_EXAMPLES training examples. */
  quantizedOut?: string;
  checkpoint: string;
  resume: boolean;
  threads: number;
  checkpointEvery: number;
  /** Stop (resumably) after this many minutes of this invocation. */
  maxMinutes?: number;
  /** Stop (resumably) after this many optimizer steps of this invocation. */
  maxSteps?: number;
  evalMode: EvalMode;
  /** The file worker threads run (the bundled CLI). */
  script: string;
  /** The command line, recorded in the model's metadata. */
  command: string;
  /**
   * Start from these parameters and masks (`train --init`, importModel) instead of a random
   * initialisation; `file` and the training seconds behind it go into the model's metadata.
   */
  init?: { params: TrainParams; masks: Masks; file: string; trainSeconds?: number };
  /** Knowledge distillation from this model (`train --teacher`, pool.ts Teacher); `file` goes into the metadata. */
  teacher?: Teacher & { file: string };
}

export interface StepInfo {
  epoch: number;
  epochs: number;
  stepInEpoch: number;
  stepsPerEpoch: number;
  loss: number;
  sparsity: number;
  /** Sequence-steps per second over this invocation so far (examples × T / s). */
  seqStepsPerSecond: number;
}

export interface RunUi {
  start(info: { task: Task; options: TrainOptions; resumedAt?: number; threads: number; totalSteps: number }): void;
  step(info: StepInfo): void;
  epoch(rec: EpochRecord, info: { seqStepsPerSecond: number; metricName: string }): void;
  evaluating(what: string): void;
  done(): void;
}

export interface RunResult {
  done: boolean;
  state: TrainState;
  task: Task;
  /** Test metric of the exported float model (full test split, or evalLimit) when done. */
  metric?: number;
  quantizedMetric?: number;
  /** SMA models: activation on the test examples (the w8a16 model's when written, else the float one's). */
  sma?: SmaActivation;
  /** Training seconds over every invocation. */
  seconds: number;
  seqStepsPerSecond: number;
  wrote: string[];
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Train (or resume) a model; returns when done or when the time box runs out (resumable). */
export async function runTraining(args: RunArgs, ui: RunUi): Promise<RunResult> {
  let { spec, options } = args;
  let state: TrainState;
  let resumedAt: number | undefined;
  const exists = fs.existsSync(args.checkpoint);
  if (exists && !args.resume) {
    throw new SparrowError(`${args.checkpoint}: a checkpoint of an earlier run exists; pass --resume to continue it, or delete it to start over`);
  }
  if (exists) {
    const ck = readCheckpoint(args.checkpoint);
    const ckSpec = ck.metadata.task ? (JSON.parse(ck.metadata.task) as TaskSpec) : undefined;
    if (!ckSpec) throw new SparrowError(`${args.checkpoint}: not a checkpoint of \`sparrow train\` (no task in its metadata)`);
    if (ckSpec.name !== spec.name) throw new SparrowError(`${args.checkpoint}: is a checkpoint of task ${ckSpec.name}, not ${spec.name}`);
    if (!sameJson(ck.options.config, options.config)) {
      throw new SparrowError(`${args.checkpoint}: its model (${JSON.stringify(ck.options.config)}) differs from the options given; resume with the same --d-model, --d-state, --layers, --act, --gate`);
    }
    // The checkpoint's options win, except the epoch count, which a resume may extend.
    options = { ...ck.options, epochs: Math.max(ck.options.epochs, options.epochs) };
    spec = ckSpec;
    state = ck.state;
    resumedAt = state.step;
  } else if (args.resume) {
    throw new SparrowError(`${args.checkpoint}: no checkpoint to resume (--resume); run without it to start a new run`);
  }
  const task = makeTask(spec);
  if (options.config.d_in !== task.dIn || options.config.d_out !== task.dOut) {
    throw new Error(`train: model d_in/d_out ${options.config.d_in}/${options.config.d_out} do not match task ${task.name} (${task.dIn}/${task.dOut})`);
  }
  state ??= newTrainState(options, args.init);
  const pool = TrainPool.start(args.threads, task, spec, options.config, args.script, options.sma, args.teacher);
  const perEpoch = stepsPerEpoch(task, options);
  const totalSteps = perEpoch * options.epochs;
  ui.start({ task, options, resumedAt, threads: pool.threads, totalSteps });

  const meta = { task: JSON.stringify(spec), command: args.command };
  const saveCheckpoint = (st: TrainState): void => writeCheckpoint(args.checkpoint, st, options, meta);
  const t0 = performance.now();
  const step0 = state.step;
  const rate = (st: TrainState): number => ((st.step - step0) * options.batchSize * task.T) / Math.max(1e-9, (performance.now() - t0) / 1000);
  const evalN = (limit: number | undefined): number => Math.min(task.size('test'), limit ?? Infinity);
  const deadline = args.maxMinutes !== undefined ? t0 + args.maxMinutes * 60_000 : Infinity;
  let result: { done: boolean };
  try {
    result = await train(task, options, state, {
      gradient: (st, indices, qat) => pool.gradient(st.params, st.masks, indices, st.step, qat, options.bn ?? 'batch'),
      evaluate: async (st) => task.reduceMetric(await pool.metricValues(st.params, st.masks, evalN(options.evalLimit), args.evalMode)),
      onStep: (st, s) => ui.step({ epoch: s.epoch + 1, epochs: options.epochs, stepInEpoch: s.stepInEpoch, stepsPerEpoch: s.stepsPerEpoch, loss: s.loss, sparsity: s.sparsity, seqStepsPerSecond: rate(st) }),
      onEpoch: (_st, rec) => ui.epoch(rec, { seqStepsPerSecond: (rec.stepsPerSecond * options.batchSize * task.T), metricName: task.metricName }),
      onCheckpoint: saveCheckpoint,
      checkpointEvery: args.checkpointEvery,
      shouldStop: () => performance.now() > deadline,
      maxSteps: args.maxSteps,
    });
    const seconds = state.seconds;
    const seqStepsPerSecond = (state.step * options.batchSize * task.T) / Math.max(1e-9, seconds);
    if (!result.done) {
      saveCheckpoint(state);
      ui.done();
      return { done: false, state, task, seconds, seqStepsPerSecond, wrote: [args.checkpoint] };
    }
    saveCheckpoint(state);
    ui.evaluating(`${task.metricName} of the float model on ${evalN(undefined)} test examples (${args.evalMode} mode)`);
    const metric = task.reduceMetric(await pool.metricValues(state.params, state.masks, evalN(undefined), args.evalMode));
    const sparsity = maskSparsity(state.params, state.masks);
    const record = {
      task: spec.name,
      task_options: JSON.stringify(spec),
      metric_name: task.metricName,
      test_metric: metric.toFixed(3),
      sparsity: sparsity.toFixed(4),
      epochs: String(options.epochs),
      train_seconds: seconds.toFixed(0),
      seq_steps_per_second: seqStepsPerSecond.toFixed(0),
      threads: String(pool.threads),
      command: args.command,
      ...(options.prune.target > 0 ? { pruning_saliency: options.prune.saliency ?? DEFAULT_SALIENCY } : {}),
      ...(options.prune.regrow ? { pruning_regrow: `${options.prune.regrow} of the kept entries per mask update, until ${options.prune.regrowEnd ?? 0.75} of training` } : {}),
      ...(args.teacher ? { teacher: args.teacher.file, kd_weight: String(args.teacher.distill.weight), kd_temperature: String(args.teacher.distill.temperature), ...(args.teacher.distill.hint ? { kd_hint: String(args.teacher.distill.hint) } : {}) } : {}),
      ...(args.init ? { init_from: args.init.file, ...(args.init.trainSeconds !== undefined ? { init_train_seconds: args.init.trainSeconds.toFixed(0) } : {}) } : {}),
    };
    const model = exportModel(state.params, state.masks, record);
    writeFileAtomic(args.out, serializeModel(model));
    const wrote = [args.out];
    let quantizedMetric: number | undefined;
    let sma: SmaActivation | undefined;
    if (args.quantizedOut) {
      const q = quantizeForTask(model, task);
      ui.evaluating(`${task.metricName} of the w8a16 model on ${evalN(undefined)} test examples (integer reference)`);
      quantizedMetric = scoreModel({ kind: 'quantized', model: q }, task, 'recurrent', Infinity);
      q.metadata = { ...q.metadata, test_metric: quantizedMetric.toFixed(3) };
      writeFileAtomic(args.quantizedOut, serializeQuantModel(q));
      wrote.push(args.quantizedOut);
      if (q.config.sma) sma = smaActivation({ kind: 'quantized', model: q }, task, evalN(undefined));
    }
    if (model.config.sma && !sma) sma = smaActivation({ kind: 'float', model }, task, evalN(undefined));
    ui.done();
    return { done: true, state, task, metric, quantizedMetric, ...(sma ? { sma } : {}), seconds, seqStepsPerSecond, wrote };
  } finally {
    await pool.close();
  }
}

/** w8a16 post-training quantization calibrated on the task's first training examples. */
export function quantizeForTask(model: Model, task: Task, examples = CALIBRATION_EXAMPLES): QuantModel {
  const n = Math.min(examples, task.size('train'));
  const sequences = Array.from({ length: n }, (_, i) => {
    const ex = task.example('train', i);
    return { data: ex.inputs, T: ex.T };
  });
  return quantizeModel(model, { sequences });
}

export type AnyModel = { kind: 'float'; model: Model } | { kind: 'quantized'; model: QuantModel };

function configOf(m: AnyModel): ModelConfig {
  return m.model.config;
}

/** Outputs [T, d_out] of a model for one example: float in conv or recurrent mode, quantized via the integer reference (dequantized). */
export function modelOutputs(m: AnyModel, inputs: Float32Array, T: number, mode: EvalMode): Float32Array {
  if (m.kind === 'float') return Float32Array.from(mode === 'conv' ? runConv(m.model, inputs, T) : runFloat(m.model, inputs, T));
  const q = m.model;
  const xq = Int16Array.from(inputs, (x) => quantizeInput(x, q.inputFrac));
  const scale = 2 ** -q.outputFrac;
  return Float32Array.from(runInt(q, xq, T), (y) => y * scale);
}

/** The task metric of a model over the first `limit` test examples. */
export function scoreModel(m: AnyModel, task: Task, mode: EvalMode, limit: number, onProgress?: (done: number, total: number) => void): number {
  return task.reduceMetric(scoreExamples(m, task, mode, limit, onProgress));
}

/** The metric of each of the first `limit` test examples, in order (what `scoreModel` averages; `eval --against` pairs them). */
export function scoreExamples(m: AnyModel, task: Task, mode: EvalMode, limit: number, onProgress?: (done: number, total: number) => void): number[] {
  if (m.kind === 'quantized' && mode === 'conv') throw new SparrowError('eval: --mode conv is for float models; a quantized model runs in recurrent mode (the integer reference, as on the device)');
  const c = configOf(m);
  if (c.d_in !== task.dIn || c.d_out !== task.dOut) {
    throw new SparrowError(`eval: the model has d_in ${c.d_in} and d_out ${c.d_out}; task ${task.name} needs d_in ${task.dIn} and d_out ${task.dOut}`);
  }
  const n = Math.min(task.size('test'), limit);
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    const ex = task.example('test', i);
    values.push(task.metric(modelOutputs(m, ex.inputs, ex.T, mode), ex));
    onProgress?.(i + 1, n);
  }
  return values;
}

export function readAnyModelFile(file: string): AnyModel {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new SparrowError(`${file}: cannot read the model (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseAnyModel(bytes, file);
}

export interface CheckpointExport {
  task: TaskSpec;
  step: number;
  totalSteps: number;
  history: EpochRecord[];
  wrote: string[];
}

/**
 * The model of a run's checkpoint as it stands (a peek at a run under way, or the last good
 * state of a diverged one): float, and w8a16 calibrated like `train --quantized`. Marked
 * `partial` in its metadata, so `sparrow models` leaves it out of the reference table.
 * Without `out`, only the progress.
 */
export function exportCheckpoint(file: string, out?: string, quantizedOut?: string): CheckpointExport {
  const ck = readCheckpoint(file);
  if (!ck.metadata.task) throw new SparrowError(`${file}: not a checkpoint of \`sparrow train\` (no task in its metadata)`);
  const spec = JSON.parse(ck.metadata.task) as TaskSpec;
  const task = makeTask(spec);
  const totalSteps = stepsPerEpoch(task, ck.options) * ck.options.epochs;
  const last = ck.state.history[ck.state.history.length - 1];
  if (out === undefined) return { task: spec, step: ck.state.step, totalSteps, history: ck.state.history, wrote: [] };
  const model = exportModel(ck.state.params, ck.state.masks, {
    task: spec.name,
    task_options: JSON.stringify(spec),
    metric_name: task.metricName,
    partial: 'true',
    checkpoint_step: `${ck.state.step} of ${totalSteps}`,
    sparsity: maskSparsity(ck.state.params, ck.state.masks).toFixed(4),
    ...(last ? { last_epoch_metric: `${last.testMetric.toFixed(3)} after epoch ${last.epoch}` } : {}),
    command: ck.metadata.command ?? '',
  });
  writeFileAtomic(out, serializeModel(model));
  const wrote = [out];
  if (quantizedOut) {
    writeFileAtomic(quantizedOut, serializeQuantModel(quantizeForTask(model, task)));
    wrote.push(quantizedOut);
  }
  return { task: spec, step: ck.state.step, totalSteps, history: ck.state.history, wrote };
}
