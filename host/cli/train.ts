// ============================================================================
// `sparrow train` and `sparrow eval`: argument parsing, progress and output
// only; the run is host/train/run.ts, the loop host/train/trainer.ts.
// ============================================================================

import { SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError, Option } from 'commander';
import * as os from 'os';
import { DEFAULT_SALIENCY, DISTRIBUTIONS, PruneDistribution, PruneSaliency, SALIENCIES } from '../compress/prune';
import { Model, ModelConfig } from '../model/types';
import { formatTable } from '../report/table';
import { SparrowError } from '../util/errors';
import { EvalMode, Teacher } from '../train/pool';
import { Distillation, Task } from '../train/task';
import { comparePaired, PairedComparison } from '../train/paired';
import { exportCheckpoint, readAnyModelFile, runTraining, RunUi, scoreExamples } from '../train/run';
import { makeTask, TaskSpec, TASK_NAMES } from '../train/tasks';
import { NOISE_TYPES, NoiseType } from '../train/data/synth_audio';
import { smaActivation, SmaActivation } from '../train/sma';
import { maskSparsity, TrainOptions } from '../train/trainer';
import { importModel, Masks, TrainParams } from '../train/params';
import { intArg, numArg } from './options';

export interface TaskCliOptions {
  task: 'sfmnist' | 'denoise';
  dataDir?: string;
  pixelsPerStep: number;
  trainSize?: number;
  testSize?: number;
  dataSeed: number;
  noises?: NoiseType[];
  classes?: number[];
}

export function taskSpec(o: TaskCliOptions, limits: { train?: number; test?: number } = {}): TaskSpec {
  if (o.task === 'sfmnist') {
    if (o.noises) throw new SparrowError('--noises is an option of the denoise task');
    return { name: 'sfmnist', dir: o.dataDir, pixelsPerStep: o.pixelsPerStep as 1 | 4, ...(limits.train || limits.test ? { limit: limits } : {}), ...(o.classes ? { classes: o.classes } : {}) };
  }
  if (o.classes) throw new SparrowError('--classes is an option of the sfmnist task');
  return { name: 'denoise', seed: o.dataSeed, ...(o.trainSize ? { trainSize: o.trainSize } : {}), ...(o.testSize ? { testSize: o.testSize } : {}), ...(o.noises ? { noises: o.noises } : {}) };
}

/** `0-4`, `5,7,9`, `0-2,7`: labels 0–9, each at most once. */
export function parseClasses(value: string): number[] {
  const out: number[] = [];
  for (const part of value.split(',')) {
    const m = /^\s*(\d)\s*(?:-\s*(\d)\s*)?$/.exec(part);
    if (!m || (m[2] !== undefined && Number(m[2]) < Number(m[1]))) throw new InvalidArgumentError(`expected labels 0-9 as a list or ranges, e.g. 0-4 or 5,7,9; got "${value}"`);
    for (let c = Number(m[1]); c <= Number(m[2] ?? m[1]); c++) {
      if (out.includes(c)) throw new InvalidArgumentError(`class ${c} is given twice in "${value}"`);
      out.push(c);
    }
  }
  return out;
}

/** `white,pink`: noise colours, each at most once. */
export function parseNoises(value: string): NoiseType[] {
  const out = value.split(',').map((v) => v.trim());
  for (const n of out) {
    if (!(NOISE_TYPES as readonly string[]).includes(n)) throw new InvalidArgumentError(`expected a list of ${NOISE_TYPES.join(', ')}; got "${value}"`);
  }
  if (new Set(out).size !== out.length) throw new InvalidArgumentError(`a noise is given twice in "${value}"`);
  return out as NoiseType[];
}

/** The optimizer's options, shared by `train` and `tune` (their defaults differ). */
export function addOptimizerOptions(c: Command, d: { epochs: number; batch: number; lr: number; ssmLr: number; ssmWhat: string; weightDecay: number; seedWhat: string }): Command {
  return c
    .option('--epochs <n>', 'passes over the training split', intArg(1, 10000), d.epochs)
    .option('--batch <n>', 'examples per optimizer step', intArg(1, 4096), d.batch)
    .option('--lr <x>', 'peak learning rate (warm-up, then cosine decay)', numArg(0, 1), d.lr)
    .option('--ssm-lr <x>', `peak learning rate of ${d.ssmWhat}`, numArg(0, 1), d.ssmLr)
    .option('--weight-decay <x>', 'AdamW decoupled weight decay', numArg(0, 10), d.weightDecay)
    .option('--clip <x>', 'clip the global gradient norm (0: no clipping)', numArg(0, 1e9), 0)
    .option('--seed <n>', `seed of ${d.seedWhat}`, intArg(0, 2 ** 31 - 1), 0)
    .option('--threads <n>', 'threads (data-parallel over the batch)', intArg(1, 256), Math.max(1, Math.min(os.availableParallelism(), 8)));
}

export function addTaskOptions(c: Command, mandatory = true): Command {
  const task = new Option('--task <name>', 'sfmnist: sequential Fashion-MNIST; denoise: synthetic streaming denoising (STFT masks)').choices([...TASK_NAMES]);
  return c
    .addOption(mandatory ? task.makeOptionMandatory() : task)
    .option('--data-dir <dir>', 'sfmnist: directory of the Fashion-MNIST IDX files (default $SPARROW_FASHION_MNIST_DIR or /usr/share/datasets/fashion-mnist)')
    .option('--pixels-per-step <n>', 'sfmnist: pixels per step, 4 (196 steps) or 1 (784 steps)', (v: string) => {
      if (v !== '1' && v !== '4') throw new InvalidArgumentError(`expected 1 or 4, got "${v}"`);
      return Number(v);
    }, 4)
    .option('--train-size <n>', 'denoise: examples in the training split (default 2000)', intArg(1, 10_000_000))
    .option('--test-size <n>', 'denoise: examples in the test split (default 200)', intArg(1, 10_000_000))
    .option('--data-seed <n>', 'denoise: seed of the synthetic data', intArg(0, 2 ** 31 - 1), 1)
    .option('--noises <list>', `denoise: noise colours drawn from, e.g. white,pink (default all: ${NOISE_TYPES.join(',')})`, parseNoises)
    .option('--classes <list>', 'sfmnist: only images of these labels, e.g. 0-4 or 5,7,9 (d_out stays 10)', parseClasses);
}

/** What addOptimizerOptions parses. */
export interface OptimizerCliOptions {
  epochs: number;
  batch: number;
  lr: number;
  ssmLr: number;
  weightDecay: number;
  clip: number;
  seed: number;
  threads: number;
}

interface TrainCliOptions extends TaskCliOptions, OptimizerCliOptions {
  out: string;
  quantized?: string;
  init?: string;
  teacher?: string;
  kdWeight: number;
  kdHint: number;
  kdTemperature: number;
  dModel: number;
  dState: number;
  layers: number;
  act: 'gelu' | 'relu';
  gate: boolean;
  sma: boolean;
  smaPenalty: number;
  smaTemperature: number;
  sparsity: number;
  distribution: PruneDistribution;
  saliency: PruneSaliency;
  pruneStart: number;
  pruneEnd: number;
  pruneEvery?: number;
  prunedWeights: 'zero' | 'ste';
  regrow: number;
  regrowEnd: number;
  qatEpochs: number;
  checkpoint?: string;
  checkpointEvery: number;
  resume: boolean;
  maxMinutes?: number;
  maxSteps?: number;
  trainLimit?: number;
  evalLimit?: number;
  evalMode: EvalMode;
  quiet: boolean;
  json: boolean;
}

/**
 * Δ of the states of a model trained further (`train --init`): the model holds only ΛΔ, so any Δ
 * reproduces it; the geometric middle of the initial range [0.001, 0.1] keeps Λ, B and the SSM
 * learning rate on the scale a fresh run has (with Δ = 1, as tuning uses, an --ssm-lr step would
 * move the phase of Λ̄ about 100× further).
 */
const INIT_DT = 0.01;

/** The parameters, masks and sparsity of `file` to train further; errors name the file and the problem. */
/** A float model of the task's shape (`--init`, `--teacher`), read from `file`; errors name the file, the option and the problem. */
function floatModelFor(file: string, option: string, dIn: number, dOut: number): Model {
  const m = readAnyModelFile(file);
  if (m.kind !== 'float') throw new SparrowError(`${file}: ${option} needs a float model; this one is w8a16 (use the float model it was quantized from)`);
  const c = m.model.config;
  if (c.d_in !== dIn || c.d_out !== dOut) throw new SparrowError(`${file}: has d_in ${c.d_in} and d_out ${c.d_out}; the task needs ${dIn} and ${dOut}`);
  return m.model;
}

function initFrom(file: string, dIn: number, dOut: number, target: number): { params: TrainParams; masks: Masks; sparsity: number; trainSeconds?: number } {
  const model = floatModelFor(file, '--init', dIn, dOut);
  const { params, masks } = importModel(model, INIT_DT);
  const sparsity = maskSparsity(params, masks);
  if (target > 0 && target < sparsity - 1e-9) throw new SparrowError(`${file}: is ${(100 * sparsity).toFixed(1)}% sparse, more than --sparsity ${target}; pruned weights do not come back (pass --sparsity 0 to keep its pattern)`);
  // The training behind the model: its own run plus whatever it was trained further from.
  const { train_seconds: own, init_train_seconds: before } = model.metadata;
  return { params, masks, sparsity, ...(own !== undefined ? { trainSeconds: Number(own) + Number(before ?? 0) } : {}) };
}

/** A teacher for `--teacher`: a float model of the task's shape, in training form (BatchNorm at its folded statistics). */
function teacherFrom(file: string, task: Task, distill: Distillation): Teacher & { file: string } {
  if (!task.distillLoss) throw new SparrowError(`--teacher: task ${task.name} has no distillation loss (it is for sfmnist)`);
  const { params, masks } = importModel(floatModelFor(file, '--teacher', task.dIn, task.dOut), INIT_DT);
  return { params, masks, distill, file };
}

/** One line on what SMA did on the test examples. */
export function smaLine(a: SmaActivation): string {
  return `SMA: gate ran on ${(100 * a.rate).toFixed(1)}% of layer-steps (per layer ${a.rates.map((r) => (100 * r).toFixed(1) + '%').join(', ')}); ` +
    `${(100 * a.gateMacsSkipped).toFixed(1)}% of gate sub-module MACs skipped; ${Math.round(a.smaMacsPerStep).toLocaleString('en-US')} MACs/step vs ${a.alwaysOnMacsPerStep.toLocaleString('en-US')} always on (decision rows included)`;
}

/** "paired difference …: −0.04 [95% CI −0.53, +0.45] over n examples: verdict; McNemar …", in the metric's units. */
export function pairedLine(metricName: string, c: PairedComparison): string {
  const signed = (x: number) => (x >= 0 ? '+' : '−') + fmt(Math.abs(x));
  const verdict = c.ciLow > 0 ? 'the first model is better' : c.ciHigh < 0 ? 'the second model is better' : 'no difference established';
  const mc = c.mcnemar ? `; McNemar: only the first right on ${c.mcnemar.aOnly}, only the second on ${c.mcnemar.bOnly}, exact p = ${c.mcnemar.p < 0.001 ? c.mcnemar.p.toExponential(1) : fmt(c.mcnemar.p, 3)}` : '';
  return `paired difference (first − second), ${metricName}: ${signed(c.difference)} [95% CI ${signed(c.ciLow)}, ${signed(c.ciHigh)}] over ${c.n} examples: ${verdict}${mc}`;
}

function fmt(x: number, digits = 2): string {
  return Number.isFinite(x) ? x.toFixed(digits) : String(x);
}

/** A bar on a terminal; otherwise a plain line every `every` seconds (logs, pipes). */
function trainUi(quiet: boolean, every = 30): RunUi {
  const tty = !!process.stderr.isTTY;
  const say = (s: string): void => void (quiet || process.stderr.write(s + '\n'));
  let bar: SingleBar | undefined;
  let last = 0;
  let metric = '–';
  let metricName = '';
  return {
    start: ({ task, options, resumedAt, threads, totalSteps }) => {
      const c = options.config;
      say(`train ${task.name}: H=${c.d_model} P=${c.d_state} L=${c.n_layers} ${c.act}${c.gate ? ' gated' : ''}, ${task.size('train')} train / ${task.size('test')} test examples of ${task.T} steps × ${task.dIn}; ` +
        `${options.epochs} epochs × ${totalSteps / options.epochs} steps of ${options.batchSize}; sparsity ${options.prune.target}; ${threads} thread${threads > 1 ? 's' : ''}` +
        (resumedAt !== undefined ? `; resuming at step ${resumedAt}` : ''));
      metricName = task.metricName;
    },
    step: (s) => {
      const payload = { ep: `${s.epoch}/${s.epochs}`, loss: fmt(s.loss, 4), metric, sp: fmt(s.sparsity, 3), rate: Math.round(s.seqStepsPerSecond) };
      if (quiet) return;
      if (tty) {
        if (!bar) {
          bar = new SingleBar({ stream: process.stderr, format: 'epoch {ep} [{bar}] {value}/{total} loss {loss} | ' + `${metricName} {metric}` + ' | sparsity {sp} | {rate} seq-steps/s', barsize: 20, hideCursor: true });
          bar.start(s.stepsPerEpoch, s.stepInEpoch, payload);
        }
        bar.setTotal(s.stepsPerEpoch);
        bar.update(s.stepInEpoch, payload);
        return;
      }
      const now = performance.now();
      if (now - last >= every * 1000 || s.stepInEpoch === s.stepsPerEpoch) {
        last = now;
        say(`epoch ${payload.ep} step ${s.stepInEpoch}/${s.stepsPerEpoch} loss ${payload.loss} sparsity ${payload.sp} ${payload.rate} seq-steps/s`);
      }
    },
    epoch: (rec, info) => {
      metric = fmt(rec.testMetric);
      bar?.stop();
      bar = undefined;
      say(`epoch ${rec.epoch}: train loss ${fmt(rec.trainLoss, 4)}, test ${info.metricName} ${fmt(rec.testMetric)}, sparsity ${fmt(rec.sparsity, 3)}${rec.smaRate !== undefined ? `, SMA gate ran on ${fmt(100 * rec.smaRate, 1)}% of training layer-steps` : ''}, ${fmt(rec.seconds, 0)} s, ${Math.round(info.seqStepsPerSecond)} seq-steps/s`);
    },
    evaluating: (what) => {
      bar?.stop();
      bar = undefined;
      say(`evaluating ${what}…`);
    },
    done: () => {
      bar?.stop();
      bar = undefined;
    },
  };
}

export function addTrainCommands(program: Command): void {
  addOptimizerOptions(
    addTaskOptions(
      program
        .command('train')
        .description('train an S5-style model on a task with AdamW, BatchNorm folded at export, and iterative pruning to --sparsity; resumable checkpoints'),
    ),
    { epochs: 10, batch: 32, lr: 0.004, ssmLr: 0.001, ssmWhat: 'Λ, Δ and B (no weight decay)', weightDecay: 0.05, seedWhat: 'the initialisation and the example order' },
  )
    .requiredOption('-o, --out <file>', 'float model .safetensors written at the end')
    .option('--quantized <file>', `also write the w8a16 model, calibrated on the first training examples, and score it`)
    .option('--init <model>', 'start from this trained float model (weights and sparsity pattern) instead of a random initialisation, e.g. to prune a dense model: its architecture replaces --d-model … --sma, its BatchNorm stays folded (frozen statistics), --sparsity is reached from its own')
    .option('--teacher <model>', "sfmnist: knowledge distillation from this trained float model (e.g. the dense one a sparse model should match): the loss mixes the labels' cross-entropy with the divergence from the teacher's softened logits, --kd-weight and --kd-temperature")
    .option('--kd-weight <a>', 'with --teacher: weight of the distillation term (the labels get 1 − a)', numArg(0, 1), 0.5)
    .option('--kd-temperature <t>', 'with --teacher: softmax temperature of both logits in the distillation term', numArg(0.1, 100), 2)
    .option('--kd-hint <b>', "with --teacher: hint distillation, weight b of the student's distance to the teacher's residual stream after every block, at every step (each block's squared error over the teacher's energy; needs the teacher's width and depth; docs/training.md); 0: none", numArg(0, 100), 0)
    .option('--d-model <H>', 'model width', intArg(1, 4096), 64)
    .option('--d-state <P>', 'complex states per layer', intArg(1, 4096), 64)
    .option('--layers <L>', 'S5 blocks', intArg(1, 64), 4)
    .addOption(new Option('--act <f>', 'block activation').choices(['gelu', 'relu']).default('gelu'))
    .option('--gate', 'gated blocks: a ⊙ σ(W a + b)', false)
    .option('--sma', 'Sparse Modular Activation: each step, two logits of the SSM output decide whether the gate runs (needs --gate)', false)
    .option('--sma-penalty <x>', 'SMA: weight of the activation-rate penalty (mean of the soft decision) in the loss', numArg(0, 100), 0.05)
    .option('--sma-temperature <x>', 'SMA: temperature of the softmax the straight-through gradient follows', numArg(1e-3, 100), 1)
    .option('--sparsity <s>', 'target fraction of zero weights, reached by iterative pruning (masks recomputed on a schedule)', numArg(0, 0.99), 0)
    .addOption(new Option('--distribution <d>', 'how sparsity is spread over the matrices').choices(DISTRIBUTIONS.filter((d) => d !== 'global')).default('erk'))
    .addOption(new Option('--saliency <s>', 'how weights are ranked for pruning: magnitude (|w|), or balanced (B and C through the H2 gain of the state between them, so slow states keep their inputs; docs/training.md)').choices([...SALIENCIES]).default(DEFAULT_SALIENCY))
    .option('--prune-start <f>', 'fraction of training where pruning starts', numArg(0, 1), 0.05)
    .option('--prune-end <f>', 'fraction of training where the target sparsity is reached', numArg(0, 1), 0.9)
    .addOption(new Option('--pruned-weights <m>', 'zero: pruned weights are set to 0 after every update and stay pruned; ste: they keep training on the straight-through gradient and may come back').choices(['zero', 'ste']).default('zero'))
    .option('--regrow <f>', "regrowth (RigL): at every mask update, this fraction of each matrix's kept weights (decaying as a cosine to 0 at --regrow-end) with the lowest saliency is swapped for pruned ones with the largest gradient, grown from 0; 0: none (docs/training.md)", numArg(0, 1), 0)
    .option('--regrow-end <f>', 'with --regrow: fraction of training where regrowth stops (the masks keep updating every --prune-every steps until then)', numArg(0, 1), 0.75)
    .option('--prune-every <steps>', 'steps between mask updates (default: half an epoch)', intArg(1, 1e9))
    .option('--qat-epochs <n>', 'quantization-aware fine-tuning: the last n epochs train through the w8a16 weight grids', intArg(0, 10000), 0)
    .option('--checkpoint <file>', 'checkpoint file (default: <out>.ckpt)')
    .option('--checkpoint-every <steps>', 'optimizer steps between checkpoints (also after every epoch)', intArg(1, 1e9), 100)
    .option('--resume', 'continue the run in the checkpoint', false)
    .option('--max-minutes <m>', 'stop after this many minutes, checkpointed; resume with --resume', numArg(0, 1e7))
    .option('--max-steps <n>', 'stop after this many optimizer steps, checkpointed; resume with --resume', intArg(0, 1e9))
    .option('--train-limit <n>', 'use only the first n training examples (quick runs)', intArg(1, 1e9))
    .option('--eval-limit <n>', 'evaluate each epoch on the first n test examples (the final score uses all)', intArg(1, 1e9))
    .addOption(new Option('--eval-mode <m>', 'evaluation: conv (FFT, whole sequence) or recurrent (step by step)').choices(['conv', 'recurrent']).default('recurrent'))
    .option('--quiet', 'no progress output', false)
    .option('--json', 'machine-readable summary', false)
    .action(async (o: TrainCliOptions) => {
      const task = makeTask(taskSpec(o));
      if (o.sma && !o.gate) throw new SparrowError('train: --sma needs --gate (SMA decides per step whether the gate runs)');
      const init = o.init !== undefined ? initFrom(o.init, task.dIn, task.dOut, o.sparsity) : undefined;
      if (o.kdHint > 0 && o.teacher === undefined) throw new SparrowError('train: --kd-hint needs --teacher (the hints are the teacher\'s residual stream)');
      const teacher = o.teacher !== undefined ? teacherFrom(o.teacher, task, { weight: o.kdWeight, temperature: o.kdTemperature, ...(o.kdHint > 0 ? { hint: o.kdHint } : {}) }) : undefined;
      const config: ModelConfig = init?.params.config ?? { d_in: task.dIn, d_model: o.dModel, d_state: o.dState, d_out: task.dOut, n_layers: o.layers, act: o.act, encoder_act: 'none', gate: o.gate, ...(o.sma ? { sma: true } : {}) };
      if (teacher && o.kdHint > 0) {
        const t = teacher.params.config;
        if (t.d_model !== config.d_model || t.n_layers !== config.n_layers) throw new SparrowError(`${o.teacher}: --kd-hint needs the student's width and depth; the teacher has d_model ${t.d_model} and ${t.n_layers} layers, the student ${config.d_model} and ${config.n_layers}`);
      }
      const limitSteps = Math.floor(Math.min(task.size('train'), o.trainLimit ?? Infinity) / o.batch);
      if (limitSteps < 1) throw new SparrowError(`train: ${Math.min(task.size('train'), o.trainLimit ?? Infinity)} training examples are fewer than one batch of ${o.batch}`);
      if (o.qatEpochs > o.epochs) throw new SparrowError(`train: --qat-epochs ${o.qatEpochs} is more than --epochs ${o.epochs}`);
      if (o.pruneEnd < o.pruneStart) throw new SparrowError(`train: --prune-end ${o.pruneEnd} is before --prune-start ${o.pruneStart}`);
      if (o.regrow > 0 && o.sparsity <= 0) throw new SparrowError('train: --regrow needs --sparsity above 0 (it swaps pruned weights for kept ones)');
      if (o.regrow > 0 && o.prunedWeights !== 'zero') throw new SparrowError('train: --regrow needs --pruned-weights zero (with ste, pruned weights train already)');
      if (o.regrow > 0 && o.regrowEnd <= o.pruneStart) throw new SparrowError(`train: --regrow-end ${o.regrowEnd} is not after --prune-start ${o.pruneStart}`);
      const options: TrainOptions = {
        config,
        epochs: o.epochs,
        ...(o.qatEpochs ? { qatEpochs: o.qatEpochs } : {}),
        batchSize: o.batch,
        seed: o.seed,
        lr: o.lr,
        ssmLr: o.ssmLr,
        weightDecay: o.weightDecay,
        clip: o.clip,
        prune: { target: o.sparsity, start: o.pruneStart, end: o.pruneEnd, every: o.pruneEvery ?? Math.max(1, Math.floor(limitSteps / 2)), distribution: o.distribution, saliency: o.saliency, pruned: o.prunedWeights, ...(init ? { initial: init.sparsity } : {}), ...(o.regrow > 0 ? { regrow: o.regrow, regrowEnd: o.regrowEnd } : {}) },
        ...(init ? { bn: 'running' as const } : {}),
        ...(o.trainLimit ? { trainLimit: o.trainLimit } : {}),
        ...(o.evalLimit ? { evalLimit: o.evalLimit } : {}),
        ...(o.sma ? { sma: { penalty: o.smaPenalty, temperature: o.smaTemperature } } : {}),
      };
      const r = await runTraining({
        spec: taskSpec(o),
        options,
        out: o.out,
        quantizedOut: o.quantized,
        checkpoint: o.checkpoint ?? `${o.out}.ckpt`,
        resume: o.resume,
        threads: o.threads,
        checkpointEvery: o.checkpointEvery,
        maxMinutes: o.maxMinutes,
        maxSteps: o.maxSteps,
        evalMode: o.evalMode,
        script: __filename,
        command: ['sparrow', ...process.argv.slice(2)].join(' '),
        ...(teacher ? { teacher } : {}),
        ...(init ? { init: { params: init.params, masks: init.masks, file: o.init!, ...(init.trainSeconds !== undefined ? { trainSeconds: init.trainSeconds } : {}) } } : {}),
      }, trainUi(o.quiet || o.json));
      const summary = {
        done: r.done,
        step: r.state.step,
        metricName: r.task.metricName,
        metric: r.metric,
        quantizedMetric: r.quantizedMetric,
        trainSeconds: Math.round(r.seconds),
        seqStepsPerSecond: Math.round(r.seqStepsPerSecond),
        history: r.state.history,
        ...(r.sma ? { sma: r.sma } : {}),
        wrote: r.wrote,
      };
      if (o.json) {
        process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
        return;
      }
      if (!r.done) {
        process.stdout.write(`stopped at step ${r.state.step} (${o.maxSteps !== undefined ? '--max-steps' : '--max-minutes'}); checkpoint ${r.wrote[0]}; continue with the same command and --resume\n`);
        return;
      }
      const lines = [
        formatTable(['epoch', 'train loss', `test ${r.task.metricName}`, 'sparsity', 'seconds'], r.state.history.map((h) => [h.epoch, fmt(h.trainLoss, 4), fmt(h.testMetric), fmt(h.sparsity, 3), Math.round(h.seconds)])),
        `float model: ${r.task.metricName} ${fmt(r.metric!)} on the full test split`,
        ...(r.quantizedMetric !== undefined ? [`w8a16 model: ${r.task.metricName} ${fmt(r.quantizedMetric)} (integer reference)`] : []),
        ...(r.sma ? [smaLine(r.sma)] : []),
        `training: ${Math.round(r.seconds)} s, ${Math.round(r.seqStepsPerSecond)} sequence-steps/s`,
        `wrote ${r.wrote.join(', ')}`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });

  addTaskOptions(
    program
      .command('eval')
      .description("score a model on a task's test split: float models in conv (FFT) or recurrent mode, quantized models on the integer reference")
      .argument('<model>', 'model .safetensors (float or quantized)'),
  )
    .addOption(new Option('--mode <m>', 'conv: materialise each layer kernel and convolve with FFT; recurrent: step by step as the firmware').choices(['conv', 'recurrent']).default('recurrent'))
    .option('--limit <n>', 'only the first n test examples', intArg(1, 1e9))
    .option('--against <model>', 'also score this model on the same examples and report the paired difference (95% CI; McNemar test for accuracy): is the first model better, or is it noise?')
    .option('--json', 'machine-readable output', false)
    .option('--quiet', 'no progress output', false)
    .action((file: string, o: TaskCliOptions & { mode: EvalMode; limit?: number; against?: string; json: boolean; quiet: boolean }) => {
      const model = readAnyModelFile(file);
      const other = o.against !== undefined ? readAnyModelFile(o.against) : undefined;
      const task = makeTask(taskSpec(o));
      const n = Math.min(task.size('test'), o.limit ?? Infinity);
      if (other && n < 30) throw new SparrowError(`eval --against: ${n} test examples are too few for the paired confidence interval (at least 30)`);
      const progress = (label: string) => {
        let lastLine = 0;
        return (done: number, total: number) => {
          if (o.quiet || o.json) return;
          const now = performance.now();
          if (now - lastLine > 5000 || done === total) {
            lastLine = now;
            process.stderr.write(`eval${label} ${done}/${total}\n`);
          }
        };
      };
      const t0 = performance.now();
      const values = scoreExamples(model, task, o.mode, n, progress(other ? ` ${file}` : ''));
      const seconds = (performance.now() - t0) / 1000;
      const metric = task.reduceMetric(values);
      const sma = model.model.config.sma ? smaActivation(model, task, n) : undefined;
      let against: { model: string; kind: string; metric: number; paired: PairedComparison } | undefined;
      if (other) {
        const otherValues = scoreExamples(other, task, o.mode, n, progress(` ${o.against}`));
        // reduceMetric is a scaled mean (accuracy × 100): the scale puts the difference in its units.
        against = { model: o.against!, kind: other.kind, metric: task.reduceMetric(otherValues), paired: comparePaired(values, otherValues, task.reduceMetric([1])) };
      }
      const out = { model: file, kind: model.kind, task: task.name, mode: o.mode, examples: n, metricName: task.metricName, metric, seconds, seqStepsPerSecond: (n * task.T) / seconds, ...(sma ? { sma } : {}), ...(against ? { against } : {}) };
      if (o.json) {
        process.stdout.write(JSON.stringify(out, null, 2) + '\n');
        return;
      }
      const lines = [`${file} (${model.kind}) on ${task.name}, ${n} test examples, ${o.mode} mode: ${task.metricName} ${fmt(metric)} (${fmt(seconds, 1)} s, ${Math.round(out.seqStepsPerSecond)} sequence-steps/s)`];
      if (sma) lines.push(smaLine(sma));
      if (against) lines.push(`${against.model} (${against.kind}): ${task.metricName} ${fmt(against.metric)}`, pairedLine(task.metricName, against.paired));
      process.stdout.write(lines.join('\n') + '\n');
    });

  program
    .command('checkpoint')
    .description("a training run's progress, and its model as it stands in the checkpoint (float, optionally w8a16), marked partial")
    .argument('<file>', 'checkpoint written by `sparrow train` (<out>.ckpt)')
    .option('-o, --out <file>', 'write the float model of the checkpoint')
    .option('--quantized <file>', 'also write the w8a16 model (needs --out)')
    .option('--json', 'machine-readable output', false)
    .action((file: string, o: { out?: string; quantized?: string; json: boolean }) => {
      if (o.quantized && !o.out) throw new SparrowError('checkpoint: --quantized needs --out');
      const r = exportCheckpoint(file, o.out, o.quantized);
      const wrote = r.wrote;
      if (o.json) {
        process.stdout.write(JSON.stringify({ task: r.task, step: r.step, totalSteps: r.totalSteps, history: r.history, wrote }, null, 2) + '\n');
        return;
      }
      const lines = [
        `${file}: ${r.task.name}, step ${r.step} of ${r.totalSteps} (${((100 * r.step) / Math.max(1, r.totalSteps)).toFixed(1)}%)`,
        ...(r.history.length ? [formatTable(['epoch', 'train loss', 'test metric', 'sparsity', 'seconds'], r.history.map((h) => [h.epoch, fmt(h.trainLoss, 4), fmt(h.testMetric), fmt(h.sparsity, 3), Math.round(h.seconds)]))] : ['no epoch finished yet']),
        ...wrote.map((f) => `wrote ${f}`),
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}
