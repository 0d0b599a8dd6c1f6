// ============================================================================
// `sparrow tune base.safetensors --task … -o tuned.safetensors`: adapt a
// trained float model to a new task cheaply (host/train/tune.ts,
// docs/adaptation.md): Sparse Dimension Tuning, LoRA on the decoder, or a
// full fine-tune, keeping the base's sparsity pattern. With --quantized and
// --like base.q.safetensors the w8a16 result sits on the base's scales, so
// `sparrow diff` ships it as a patch.
// ============================================================================

import { SingleBar } from 'cli-progress';
import { Command, Option } from 'commander';
import { activationOverflow, quantizeOnto } from '../compress/quantize';
import { serializeModel } from '../model/model';
import { serializeQuantModel } from '../model/quant_file';
import { formatTable } from '../report/table';
import { writeFileAtomic } from '../util/atomic';
import { SparrowError } from '../util/errors';
import { CALIBRATION_EXAMPLES, quantizeForTask, readAnyModelFile, scoreModel } from '../train/run';
import { gridsOf } from '../train/qat';
import { makeTask } from '../train/tasks';
import { BIAS_GROUPS, BiasGroup, checkTuneArgs, TENSOR_GROUPS, TensorGroup, LORA_TARGETS, LoraTarget, runTune, TUNE_METHODS, TuneMethod, TuneUi } from '../train/tune';
import { InvalidArgumentError } from 'commander';
import { intArg } from './options';
import { addOptimizerOptions, addTaskOptions, OptimizerCliOptions, TaskCliOptions, taskSpec } from './train';

/** `--lora-on encoder,decoder`: known matrices, each once. */
function parseLoraOn(value: string): LoraTarget[] {
  const targets = value.split(',').map((g) => g.trim());
  for (const t of targets) if (!(LORA_TARGETS as readonly string[]).includes(t)) throw new InvalidArgumentError(`'${t}' is not one of ${LORA_TARGETS.join(', ')}`);
  if (new Set(targets).size !== targets.length) throw new InvalidArgumentError(`'${value}' names a matrix twice`);
  return targets as LoraTarget[];
}

/** A comma-separated list of known names, each once (`--biases`, `--only`). */
function parseGroups<G extends string>(known: readonly G[]): (value: string) => G[] {
  return (value) => {
    const groups = value.split(',').map((g) => g.trim());
    for (const g of groups) if (!(known as readonly string[]).includes(g)) throw new InvalidArgumentError(`'${g}' is not one of ${known.join(', ')}`);
    if (new Set(groups).size !== groups.length) throw new InvalidArgumentError(`'${value}' names a group twice`);
    return groups as G[];
  };
}

interface TuneCliOptions extends TaskCliOptions, OptimizerCliOptions {
  out: string;
  quantized?: string;
  like?: string;
  qat: boolean;
  method: TuneMethod;
  channels?: number;
  states?: number;
  loraRank?: number;
  loraOn?: LoraTarget[];
  biases?: BiasGroup[];
  only?: TensorGroup[];
  also?: TensorGroup[];
  warmupSteps: number;
  trainLimit?: number;
  evalLimit?: number;
  quiet: boolean;
  json: boolean;
}

const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : String(x));

function tuneUi(quiet: boolean): TuneUi {
  const tty = !!process.stderr.isTTY;
  const say = (s: string): void => void (quiet || process.stderr.write(s + '\n'));
  let bar: SingleBar | undefined;
  let last = 0;
  const stop = (): void => {
    bar?.stop();
    bar = undefined;
  };
  return {
    phase: (what) => {
      stop();
      say(`${what}…`);
    },
    step: (s) => {
      if (quiet) return;
      const label = s.warmup ? 'warm-up' : `epoch ${s.epoch}/${s.epochs}`;
      if (tty) {
        if (!bar) {
          bar = new SingleBar({ stream: process.stderr, format: '{label} [{bar}] {value}/{total} loss {loss}', barsize: 20, hideCursor: true });
          bar.start(s.stepsPerEpoch, s.stepInEpoch, { label, loss: s.loss.toFixed(4) });
        }
        bar.update(s.stepInEpoch, { label, loss: s.loss.toFixed(4) });
        return;
      }
      const now = performance.now();
      if (now - last >= 30_000 || s.stepInEpoch === s.stepsPerEpoch) {
        last = now;
        say(`${label} step ${s.stepInEpoch}/${s.stepsPerEpoch} loss ${s.loss.toFixed(4)}`);
      }
    },
    epoch: (rec) => {
      stop();
      say(`epoch ${rec.epoch}: train loss ${rec.trainLoss.toFixed(4)}, test ${f2(rec.testMetric)}, ${rec.seconds.toFixed(0)} s`);
    },
  };
}

export function addTuneCommand(program: Command): void {
  addOptimizerOptions(
    addTaskOptions(
      program
        .command('tune')
        .description('adapt a trained float model to a task cheaply: Sparse Dimension Tuning (a few channels and states of Λ, B, C), LoRA on the decoder, or a full fine-tune; the sparsity pattern stays, so the result ships as a patch')
        .argument('<base>', 'float model .safetensors (sparrow train)'),
    ),
    { epochs: 2, batch: 16, lr: 0.004, ssmLr: 0.004, ssmWhat: 'Λ and B', weightDecay: 0, seedWhat: 'the example order and the LoRA initialisation' },
  )
    .requiredOption('-o, --out <file>', 'tuned float model .safetensors')
    .option('--quantized <file>', 'also write the w8a16 model and score it on the integer reference')
    .option('--like <base.q>', "quantize onto this w8a16 base's scales and stored entries (for `sparrow diff`), and tune through its weight grids and activation formats; default: calibrate afresh")
    .option('--no-qat', 'with --like: tune in float, and only then quantize onto the base (weights beyond its grids and activations beyond its formats saturate)')
    .addOption(new Option('--method <m>', 'sdt: selected channels and states; lora: low-rank decoder update only; full: every weight').choices([...TUNE_METHODS]).default('sdt'))
    .option('--channels <F>', 'sdt: channels (of d_model) tuned per layer', intArg(1, 4096))
    .option('--states <G>', 'sdt: states (of d_state) tuned per layer', intArg(1, 4096))
    .option('--lora-rank <R>', 'rank of a low-rank update of the decoder (or the --lora-on matrices), merged into its nonzeros (sdt: optional; lora: required)', intArg(1, 256))
    .option('--lora-on <list>', `the matrices the low-rank update goes on, comma-separated: ${LORA_TARGETS.join(', ')} (B, C: every layer's, re and im; with --method lora) (default decoder)`, parseLoraOn)
    .option('--biases <list>', `sdt, lora: these bias vectors train too (BitFit), comma-separated: ${BIAS_GROUPS.join(', ')} (norm: each layer's norm shift)`, parseGroups(BIAS_GROUPS))
    .option('--only <list>', `full: only these groups of tensors train, comma-separated: ${TENSOR_GROUPS.join(', ')} (where a full fine-tune's gain sits)`, parseGroups(TENSOR_GROUPS))
    .option('--also <list>', `sdt, lora: these groups of tensors train too, whole (their nonzeros), comma-separated: ${TENSOR_GROUPS.join(', ')}`, parseGroups(TENSOR_GROUPS))
    .option('--warmup-steps <n>', 'sdt: steps of the importance warm-up on Λ, B, C', intArg(1, 1e6), 50)
    .option('--train-limit <n>', 'use only the first n training examples', intArg(1, 1e9))
    .option('--eval-limit <n>', 'evaluate each epoch on the first n test examples (the final scores use all)', intArg(1, 1e9))
    .option('--quiet', 'no progress output', false)
    .option('--json', 'machine-readable summary', false)
    .action(async (file: string, o: TuneCliOptions) => {
      if (o.like && !o.quantized) throw new SparrowError('tune: --like needs --quantized (it sets the scales of the w8a16 output)');
      const any = readAnyModelFile(file);
      if (any.kind === 'quantized') throw new SparrowError(`${file}: is a quantized model; tune the float model (sparrow train -o) and quantize the result with --quantized --like ${file}`);
      const like = o.like ? readAnyModelFile(o.like) : undefined;
      if (like && like.kind !== 'quantized') throw new SparrowError(`${o.like}: --like takes the quantized base (.q.safetensors), not a float model`);
      const base = any.model;
      const spec = taskSpec(o);
      const task = makeTask(spec);
      try {
        checkTuneArgs({ base, task, method: o.method, channels: o.channels, states: o.states, loraRank: o.loraRank, loraOn: o.loraOn, biases: o.biases, only: o.only, also: o.also });
      } catch (e) {
        if (e instanceof SparrowError) throw new SparrowError(`${file}: ${e.message}`);
        throw e;
      }
      const r = await runTune({
        base, spec, task, method: o.method, channels: o.channels, states: o.states, loraRank: o.loraRank, ...(o.loraOn ? { loraOn: o.loraOn } : {}), warmupSteps: o.warmupSteps, ...(o.biases ? { biases: o.biases } : {}), ...(o.only ? { only: o.only } : {}), ...(o.also ? { also: o.also } : {}),
        ...(like && like.kind === 'quantized' && o.qat ? { grids: gridsOf(like.model) } : {}),
        options: { epochs: o.epochs, batchSize: o.batch, seed: o.seed, lr: o.lr, ssmLr: o.ssmLr, weightDecay: o.weightDecay, clip: o.clip, ...(o.trainLimit ? { trainLimit: o.trainLimit } : {}), ...(o.evalLimit ? { evalLimit: o.evalLimit } : {}) },
        threads: o.threads,
        script: __filename,
      }, tuneUi(o.quiet || o.json));
      const command = ['sparrow', ...process.argv.slice(2)].join(' ');
      r.model.metadata = {
        ...base.metadata,
        tuned_from: file,
        tune_method: o.method,
        ...(o.only ? { tune_only: o.only.join(',') } : {}),
        ...(o.also ? { tune_also: o.also.join(',') } : {}),
        ...(r.selection ? { tune_selection: JSON.stringify(r.selection) } : {}),
        tune_trainable: String(r.trainable),
        task: spec.name,
        task_options: JSON.stringify(spec),
        metric_name: task.metricName,
        test_metric: r.metric.toFixed(3),
        base_test_metric: r.baseMetric.toFixed(3),
        command,
      };
      writeFileAtomic(o.out, serializeModel(r.model));
      const wrote = [o.out];
      let quantizedMetric: number | undefined;
      let onto: ReturnType<typeof quantizeOnto>['report'] | undefined;
      let overflow: ReturnType<typeof activationOverflow> | undefined;
      if (o.quantized) {
        let q;
        if (like && like.kind === 'quantized') {
          try {
            ({ model: q, report: onto } = quantizeOnto(r.model, like.model));
          } catch (e) {
            if (e instanceof SparrowError) throw new SparrowError(`${o.like}: cannot quantize the tuned model onto it: ${e.message}`);
            throw e;
          }
        } else {
          q = quantizeForTask(r.model, task);
        }
        if (like && like.kind === 'quantized') {
          const n = Math.min(CALIBRATION_EXAMPLES, task.size('train'));
          overflow = activationOverflow(r.model, like.model, { sequences: Array.from({ length: n }, (_, i) => ({ data: task.example('train', i).inputs, T: task.T })) });
        }
        quantizedMetric = scoreModel({ kind: 'quantized', model: q }, task, 'recurrent', Infinity);
        q.metadata = { ...q.metadata, test_metric: quantizedMetric.toFixed(3) };
        writeFileAtomic(o.quantized, serializeQuantModel(q));
        wrote.push(o.quantized);
      }
      const summary = {
        method: o.method,
        metricName: task.metricName,
        baseMetric: r.baseMetric,
        metric: r.metric,
        quantizedMetric,
        trainable: r.trainable,
        parameters: r.parameters,
        trainableFraction: r.trainable / r.parameters,
        selection: r.selection,
        ontoBase: onto,
        ...(overflow ? { activationOverflow: overflow } : {}),
        droppedEntries: r.dropped,
        trainSeconds: Math.round(r.seconds),
        history: r.history,
        wrote,
      };
      if (o.json) {
        process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
        return;
      }
      const pct = (100 * r.trainable / r.parameters).toFixed(2);
      const lines = [
        formatTable(['epoch', 'train loss', `test ${task.metricName}`, 'seconds'], r.history.map((h) => [h.epoch, h.trainLoss.toFixed(4), f2(h.testMetric), Math.round(h.seconds)])),
        `trainable parameters: ${r.trainable} of ${r.parameters} deployed (${pct}%)`,
        ...(r.selection ? r.selection.map((s, l) => `layer ${l}: channels ${s.channels.join(',')}; states ${s.states.join(',')}`) : []),
        `${task.metricName}: base ${f2(r.baseMetric)} → tuned ${f2(r.metric)} (float, full test split)`,
        ...(quantizedMetric !== undefined ? [`w8a16 tuned: ${f2(quantizedMetric)} (integer reference${like ? `, on the scales of ${o.like}` : ''})`] : []),
        ...(onto && (onto.keptNonzero || onto.heldZero || onto.saturated) ? [`onto the base: ${onto.keptNonzero} weights kept at ±1 instead of 0, ${onto.heldZero} held at 0, ${onto.saturated} saturated`] : []),
        ...(r.dropped ? [`${r.dropped} tuned values fell where the base stores no entry and were dropped`] : []),
        ...(overflow && overflow.length
          ? [
              `${o.qat ? 'note' : 'warning'}: the tuned activations outgrow the base's int16 formats, which a patch cannot change, so the w8a16 model saturates: ${overflow.slice(0, 3).map((o) => `${o.tensor} ${o.max.toPrecision(3)} > ${o.limit.toPrecision(3)}`).join(', ')}${overflow.length > 3 ? ` (+${overflow.length - 3} more)` : ''}${o.qat ? ' (tuning saturated them as the device does and learnt with it; the float score does not, the w8a16 score does)' : ' (tuning did not see it: drop --no-qat)'}`,
            ]
          : []),
        `tuning: ${Math.round(r.seconds)} s`,
        `wrote ${wrote.join(', ')}`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });
}
