// `sparrow train` / `sparrow eval` through the bundled CLI, and the worker-thread
// gradient pool against its definition (the size-weighted mean of the shares'
// gradients computed on this thread). Tiny models on a fake Fashion-MNIST and a
// short synthetic denoising set: seconds, not minutes.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readModel, toDense } from '../../host/model/model';
import { parseAnyModel } from '../../host/model/quant_file';
import { ModelConfig } from '../../host/model/types';
import { flattenParams, initParams } from '../../host/train/params';
import { flattenStats, metricValues, shareGradient, shares, TrainPool } from '../../host/train/pool';
import { makeTask, TaskSpec } from '../../host/train/tasks';
import { computeMasks } from '../../host/train/trainer';
import { fakePixels, writeFakeFashionMnist } from '../helpers/idx';

const CLI = path.join(__dirname, '..', '..', 'dist', 'sparrow.cjs');
let dir: string;
let data: string;

function sparrow(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: dir });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Labels that follow the pixels (class = the brightest of 10 bands), so there is something to learn. */
function labelled(count: number, seed: number): { pixels: Uint8Array; labels: number[] } {
  const pixels = fakePixels(count, seed);
  const labels = Array.from({ length: count }, (_, i) => i % 10);
  labels.forEach((c, i) => pixels.fill(255, i * 784 + c * 78, i * 784 + c * 78 + 40));
  return { pixels, labels };
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-train-cli-'));
  data = path.join(dir, 'fmnist');
  writeFakeFashionMnist(data, labelled(64, 1), labelled(20, 2));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const TINY = ['--task', 'sfmnist', '--data-dir', 'fmnist', '--d-model', '8', '--d-state', '4', '--layers', '1', '--batch', '16', '--epochs', '2', '--lr', '0.01'];

describe('worker pool', () => {
  const spec: TaskSpec = { name: 'denoise', seconds: 0.05, nFft: 64, trainSize: 12, testSize: 5 };
  const task = makeTask(spec);
  const config: ModelConfig = { d_in: task.dIn, d_model: 6, d_state: 4, d_out: task.dOut, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true };

  test('shares split n items into k contiguous parts differing by at most one', () => {
    expect(shares(7, 3)).toEqual([[0, 3], [3, 5], [5, 7]]);
    expect(shares(2, 3)).toEqual([[0, 1], [1, 2], [2, 2]]);
  });

  test('the gradient of a batch over 2 threads is the size-weighted mean of the shares computed here; BN running statistics are the mean of theirs', async () => {
    const p = initParams(config, 3);
    const masks = computeMasks(p, 0.5, 'uniform');
    const indices = Int32Array.from([4, 1, 7, 0, 9]);
    // The definition, on this thread: share [0, 3) and share [3, 5), each from the same starting parameters.
    const a = initParams(config, 3);
    const b = initParams(config, 3);
    const ga = shareGradient(a, masks, task, indices.subarray(0, 3), 0);
    const gb = shareGradient(b, masks, task, indices.subarray(3, 5), 0);
    const want = flattenParams(ga.grads).map((g, i) => (3 / 5) * g + (2 / 5) * flattenParams(gb.grads)[i]);
    const wantStats = flattenStats(a).map((s, i) => (s + flattenStats(b)[i]) / 2);

    const pool = TrainPool.start(2, task, spec, config, CLI);
    try {
      expect(pool.threads).toBe(2);
      const got = await pool.gradient(p, masks, indices, 0);
      const flat = flattenParams(got.grads);
      const scale = Math.max(...want.map(Math.abs));
      flat.forEach((g, i) => expect(Math.abs(g - want[i])).toBeLessThanOrEqual(1e-12 * scale));
      expect(got.loss).toBeCloseTo((3 / 5) * ga.loss + (2 / 5) * gb.loss, 9);
      flattenStats(p).forEach((s, i) => expect(s).toBeCloseTo(wantStats[i], 12));
      // Evaluation split over the threads: the same per-example metrics, in order.
      const values = await pool.metricValues(p, masks, 5, 'recurrent');
      const here = metricValues(p, masks, task, 0, 5, 'recurrent');
      expect(values).toHaveLength(5);
      values.forEach((v, i) => expect(v).toBeCloseTo(here[i], 9));
    } finally {
      await pool.close();
    }
  });

  test("a worker's error reaches the caller", async () => {
    const pool = TrainPool.start(2, task, spec, config, CLI);
    try {
      const p = initParams(config, 1);
      // Example 99 is outside the 12-example training split; it lands in the worker's share.
      await expect(pool.gradient(p, new Map(), Int32Array.from([0, 99]), 0)).rejects.toThrow(/outside the train split/);
    } finally {
      await pool.close();
    }
  });
});

describe('sparrow train and eval', () => {
  test('trains, writes float and w8a16 models whose recorded metrics `sparrow eval` reproduces', () => {
    // The last epoch fine-tunes through the w8a16 grids (QAT), over both threads.
    const r = sparrow('train', ...TINY, '--threads', '2', '--qat-epochs', '1', '-o', 'a.safetensors', '--quantized', 'a.q.safetensors', '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.done).toBe(true);
    expect(summary.history).toHaveLength(2);
    expect(summary.seqStepsPerSecond).toBeGreaterThan(0);
    expect(summary.wrote).toEqual(['a.safetensors', 'a.q.safetensors']);
    const model = readModel(path.join(dir, 'a.safetensors'));
    expect(model.config).toMatchObject({ d_in: 4, d_out: 10, d_model: 8, d_state: 4, n_layers: 1 });
    expect(Number(model.metadata.test_metric)).toBeCloseTo(summary.metric, 2);
    expect(model.metadata.command).toContain('sparrow train --task sfmnist');

    // The final metric came from conv mode over the pool; eval recomputes it step by step on one thread.
    const ev = sparrow('eval', 'a.safetensors', '--task', 'sfmnist', '--data-dir', 'fmnist', '--mode', 'recurrent', '--json');
    expect(ev.status).toBe(0);
    expect(JSON.parse(ev.stdout)).toMatchObject({ kind: 'float', examples: 20, metric: summary.metric });
    const conv = sparrow('eval', 'a.safetensors', '--task', 'sfmnist', '--data-dir', 'fmnist', '--mode', 'conv', '--json');
    expect(JSON.parse(conv.stdout).metric).toBe(summary.metric);

    const q = parseAnyModel(fs.readFileSync(path.join(dir, 'a.q.safetensors')), 'a.q.safetensors');
    expect(q.kind).toBe('quantized');
    const evq = sparrow('eval', 'a.q.safetensors', '--task', 'sfmnist', '--data-dir', 'fmnist', '--json');
    expect(JSON.parse(evq.stdout)).toMatchObject({ kind: 'quantized', metric: summary.quantizedMetric });
  });

  test('eval --against scores both models on the same examples and reports their paired difference', () => {
    // Accuracy: 40 test images; the difference is the McNemar counts' imbalance over n.
    writeFakeFashionMnist(path.join(dir, 'fmnist40'), labelled(64, 1), labelled(40, 3));
    const one = (file: string) => JSON.parse(sparrow('eval', file, '--task', 'sfmnist', '--data-dir', 'fmnist40', '--json').stdout).metric as number;
    const r = sparrow('eval', 'a.safetensors', '--task', 'sfmnist', '--data-dir', 'fmnist40', '--against', 'a.q.safetensors', '--json');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.metric).toBe(one('a.safetensors'));
    expect(out.against).toMatchObject({ model: 'a.q.safetensors', kind: 'quantized', metric: one('a.q.safetensors') });
    const { paired } = out.against;
    expect(paired.n).toBe(40);
    expect(paired.difference).toBeCloseTo(out.metric - out.against.metric, 10);
    expect(paired.difference).toBeCloseTo((100 * (paired.mcnemar.aOnly - paired.mcnemar.bOnly)) / 40, 10);
    expect(paired.ciLow).toBeLessThanOrEqual(paired.difference);
    expect(paired.ciHigh).toBeGreaterThanOrEqual(paired.difference);

    // SI-SNRi in dB: two random models on 30 clips; no McNemar. A model against itself: exactly 0.
    for (const seed of ['1', '2']) expect(sparrow('random', '-o', `dn${seed}.safetensors`, '--d-in', '129', '--d-out', '129', '--d-model', '8', '--d-state', '4', '--layers', '1', '--seed', seed).status).toBe(0);
    const dn = ['--task', 'denoise', '--test-size', '30', '--train-size', '1'];
    const d = JSON.parse(sparrow('eval', 'dn1.safetensors', ...dn, '--against', 'dn2.safetensors', '--json').stdout);
    expect(d.against.metric).toBe(JSON.parse(sparrow('eval', 'dn2.safetensors', ...dn, '--json').stdout).metric);
    expect(d.against.paired.difference).toBeCloseTo(d.metric - d.against.metric, 10);
    expect(d.against.paired.mcnemar).toBeUndefined();
    const self = sparrow('eval', 'dn1.safetensors', ...dn, '--against', 'dn1.safetensors', '--quiet');
    expect(self.stdout).toMatch(/paired difference \(first − second\), SI-SNRi \(dB\): \+0\.00 \[95% CI \+0\.00, \+0\.00\] over 30 examples: no difference established/);
  });

  test('a time-boxed run stops with a checkpoint and, resumed, ends with the same weights as an uninterrupted run', () => {
    // Pruning to 0.5 from the first step: masks, Adam moments and BN statistics all cross the checkpoint.
    const run = [...TINY, '--threads', '2', '--sparsity', '0.5', '--prune-start', '0', '--prune-every', '2'];
    const whole = sparrow('train', ...run, '-o', 'whole.safetensors', '--quiet');
    expect(whole.status).toBe(0);
    const none = sparrow('train', ...run, '-o', 'none0.safetensors', '--max-minutes', '0');
    expect(none.stdout).toMatch(/stopped at step 0 \(--max-minutes\).*--resume/);
    const stop = sparrow('train', ...run, '-o', 'part.safetensors', '--max-steps', '3');
    expect(stop.status).toBe(0);
    expect(stop.stdout).toMatch(/stopped at step 3 \(--max-steps\).*--resume/);
    expect(fs.existsSync(path.join(dir, 'part.safetensors.ckpt'))).toBe(true);
    expect(fs.existsSync(path.join(dir, 'part.safetensors'))).toBe(false);

    // The run's model as it stands: step 3 of 2 epochs × 4 steps, marked partial.
    const peek = sparrow('checkpoint', 'part.safetensors.ckpt', '-o', 'peek.safetensors', '--quantized', 'peek.q.safetensors', '--json');
    expect(peek.status).toBe(0);
    expect(JSON.parse(peek.stdout)).toMatchObject({ step: 3, totalSteps: 8, history: [], wrote: ['peek.safetensors', 'peek.q.safetensors'] });
    expect(readModel(path.join(dir, 'peek.safetensors')).metadata).toMatchObject({ partial: 'true', checkpoint_step: '3 of 8', task: 'sfmnist' });
    expect(sparrow('checkpoint', 'part.safetensors.ckpt').stdout).toMatch(/^part\.safetensors\.ckpt: sfmnist, step 3 of 8 \(37\.5%\)\nno epoch finished yet/);

    const again = sparrow('train', ...run, '-o', 'part.safetensors');
    expect(again.status).not.toBe(0);
    expect(again.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^sparrow: part\.safetensors\.ckpt: a checkpoint of an earlier run exists; pass --resume/)]);

    expect(sparrow('train', ...run, '-o', 'part.safetensors', '--resume', '--quiet').status).toBe(0);
    const w = readModel(path.join(dir, 'whole.safetensors'));
    const p = readModel(path.join(dir, 'part.safetensors'));
    expect(Array.from(p.encoderWeight.values)).toEqual(Array.from(w.encoderWeight.values));
    expect(Array.from(p.layers[0].B_re.values)).toEqual(Array.from(w.layers[0].B_re.values));
    expect(Array.from(p.decoderBias)).toEqual(Array.from(w.decoderBias));
    expect(p.metadata.sparsity).toBe(w.metadata.sparsity);
    expect(Number(w.metadata.sparsity)).toBeGreaterThan(0.45);
  });

  test('--init trains a model further from its weights: the start is the model itself, and pruning keeps its zeros on the way to --sparsity', () => {
    const base = sparrow('train', ...TINY, '--sparsity', '0.5', '--prune-start', '0', '-o', 'base.safetensors', '--quantized', 'base.q.safetensors', '--quiet');
    expect(base.status).toBe(0);
    const b = readModel(path.join(dir, 'base.safetensors'));
    // No step taken: the checkpoint's model is the base (import at Δ = 0.01, export, float32 rounding).
    const zero = sparrow('train', ...TINY, '--init', 'base.safetensors', '--sparsity', '0.8', '-o', 'start.safetensors', '--max-steps', '0');
    expect(zero.status).toBe(0);
    expect(sparrow('checkpoint', 'start.safetensors.ckpt', '-o', 'start.safetensors', '--json').status).toBe(0);
    const s = readModel(path.join(dir, 'start.safetensors'));
    const close = (got: ArrayLike<number>, want: ArrayLike<number>): void => {
      const scale = Math.max(...Array.from(want, Math.abs));
      expect(got).toHaveLength(want.length);
      Array.from(got).forEach((g, i) => expect(Math.abs(g - want[i])).toBeLessThanOrEqual(1e-5 * scale));
    };
    close(s.layers[0].lambdaRe, b.layers[0].lambdaRe);
    close(s.layers[0].lambdaIm, b.layers[0].lambdaIm);
    for (const k of ['B_re', 'B_im', 'C_re', 'C_im'] as const) close(toDense(s.layers[0][k]).values, toDense(b.layers[0][k]).values);
    close(s.layers[0].normScale, b.layers[0].normScale);
    close(s.layers[0].normShift, b.layers[0].normShift);
    close(toDense(s.decoderWeight).values, toDense(b.decoderWeight).values);

    // Two epochs pruning from the base's 50% to 80%: every weight the base pruned stays pruned.
    const more = sparrow('train', ...TINY, '--init', 'base.safetensors', '--sparsity', '0.8', '--prune-start', '0', '--prune-end', '0.5', '-o', 'more.safetensors', '--json');
    expect(more.status).toBe(0);
    const m = readModel(path.join(dir, 'more.safetensors'));
    expect(Number(m.metadata.sparsity)).toBeCloseTo(0.8, 1);
    expect(m.metadata.command).toContain('--init base.safetensors');
    // Its training time counts the base's: init_train_seconds is the base's train_seconds.
    expect(m.metadata).toMatchObject({ init_from: 'base.safetensors', init_train_seconds: b.metadata.train_seconds });
    // Both pruned with the default saliency, and say so.
    expect([b.metadata.pruning_saliency, m.metadata.pruning_saliency]).toEqual(['balanced', 'balanced']);
    const pairs: [Parameters<typeof toDense>[0], Parameters<typeof toDense>[0]][] = [[b.encoderWeight, m.encoderWeight], [b.decoderWeight, m.decoderWeight], [b.layers[0].B_re, m.layers[0].B_re], [b.layers[0].C_re, m.layers[0].C_re]];
    let kept = 0;
    for (const [before, after] of pairs) {
      const x = toDense(before).values;
      const y = toDense(after).values;
      x.forEach((v, i) => {
        if (v === 0) expect(y[i]).toBe(0);
        else if (y[i] !== 0) kept++;
      });
    }
    expect(kept).toBeGreaterThan(0);
    // Its architecture came from the base, not from --d-model.
    expect(m.config).toEqual(b.config);
  });

  test('--teacher: distillation from the model itself at --kd-weight 1 is a fixed point (over both threads); at 0.5 the labels move it; the teacher is recorded', () => {
    // Needs base.safetensors from the --init test. With no weight decay, a zero gradient moves nothing (AdamW: m = v = 0).
    const common = [...TINY, '--epochs', '1', '--init', 'base.safetensors', '--sparsity', '0', '--weight-decay', '0', '--threads', '2', '--quiet'];
    expect(sparrow('train', ...common, '--lr', '0', '--ssm-lr', '0', '-o', 'still.safetensors').status).toBe(0);
    const self = sparrow('train', ...common, '--teacher', 'base.safetensors', '--kd-weight', '1', '--kd-temperature', '3', '-o', 'self.safetensors');
    expect(self.stderr).toBe('');
    expect(self.status).toBe(0);
    // The hints of the model itself are its own stream: no distance, no gradient, still a fixed point.
    const hinted = sparrow('train', ...common, '--teacher', 'base.safetensors', '--kd-weight', '1', '--kd-hint', '2', '-o', 'hinted.safetensors');
    expect(hinted.stderr).toBe('');
    expect(hinted.status).toBe(0);
    const half = sparrow('train', ...common, '--teacher', 'base.safetensors', '--kd-weight', '0.5', '-o', 'half.safetensors');
    expect(half.status).toBe(0);
    const still = readModel(path.join(dir, 'still.safetensors'));
    const fixed = readModel(path.join(dir, 'self.safetensors'));
    const moved = readModel(path.join(dir, 'half.safetensors'));
    const values = (m: typeof still): number[] => [
      ...toDense(m.encoderWeight).values, ...m.encoderBias, ...toDense(m.decoderWeight).values, ...m.decoderBias,
      ...m.layers.flatMap((L) => [...L.lambdaRe, ...L.lambdaIm, ...toDense(L.B_re).values, ...toDense(L.C_im).values, ...L.normScale, ...L.D]),
    ];
    expect(values(fixed)).toEqual(values(still));
    const hintedModel = readModel(path.join(dir, 'hinted.safetensors'));
    expect(values(hintedModel)).toEqual(values(still));
    expect(hintedModel.metadata).toMatchObject({ teacher: 'base.safetensors', kd_weight: '1', kd_hint: '2' });
    expect(fixed.metadata.kd_hint).toBeUndefined();
    expect(values(moved)).not.toEqual(values(still));
    expect(fixed.metadata).toMatchObject({ teacher: 'base.safetensors', kd_weight: '1', kd_temperature: '3' });
    expect(moved.metadata).toMatchObject({ teacher: 'base.safetensors', kd_weight: '0.5', kd_temperature: '2' });
    expect(still.metadata.teacher).toBeUndefined();
  });

  test('--regrow trains to the target sparsity and says so in the metadata', () => {
    const r = sparrow('train', ...TINY, '--sparsity', '0.5', '--prune-end', '0.5', '--prune-every', '1', '--regrow', '0.3', '-o', 'rg.safetensors', '--json');
    expect(r.status).toBe(0);
    const m = readModel(path.join(dir, 'rg.safetensors'));
    expect(Number(m.metadata.sparsity)).toBeCloseTo(0.5, 1);
    expect(m.metadata.pruning_regrow).toBe('0.3 of the kept entries per mask update, until 0.75 of training');
  });

  test.each([
    ['--regrow with nothing to prune', ['train', ...TINY, '--regrow', '0.3', '-o', 'x.safetensors'], /--regrow needs --sparsity above 0/],
    ['--regrow with straight-through pruned weights', ['train', ...TINY, '--sparsity', '0.5', '--regrow', '0.3', '--pruned-weights', 'ste', '-o', 'x.safetensors'], /--regrow needs --pruned-weights zero/],
    ['--init with a w8a16 model', ['train', ...TINY, '--init', 'base.q.safetensors', '-o', 'x.safetensors'], /base\.q\.safetensors: --init needs a float model; this one is w8a16/],
    ['--init below the model\'s sparsity', ['train', ...TINY, '--init', 'base.safetensors', '--sparsity', '0.2', '-o', 'x.safetensors'], /base\.safetensors: is \d+\.\d% sparse, more than --sparsity 0\.2; pruned weights do not come back/],
    ['--init for another task', ['train', '--task', 'denoise', '--train-size', '16', '--test-size', '2', '--init', 'base.safetensors', '-o', 'x.safetensors'], /base\.safetensors: has d_in 4 and d_out 10; the task needs 129 and 129/],
    ['--teacher on the denoise task', ['train', '--task', 'denoise', '--train-size', '16', '--test-size', '2', '--teacher', 'base.safetensors', '-o', 'x.safetensors'], /--teacher: task denoise has no distillation loss \(it is for sfmnist\)/],
    ['--teacher with a w8a16 model', ['train', ...TINY, '--teacher', 'base.q.safetensors', '-o', 'x.safetensors'], /base\.q\.safetensors: --teacher needs a float model; this one is w8a16/],
    ['--teacher of another input layout', ['train', ...TINY, '--pixels-per-step', '1', '--teacher', 'base.safetensors', '-o', 'x.safetensors'], /base\.safetensors: has d_in 4 and d_out 10; the task needs 1 and 10/],
    ['--kd-hint without a teacher', ['train', ...TINY, '--kd-hint', '1', '-o', 'x.safetensors'], /train: --kd-hint needs --teacher/],
    ['--kd-hint from a teacher of another width', ['train', ...TINY, '--d-model', '6', '--teacher', 'base.safetensors', '--kd-hint', '1', '-o', 'x.safetensors'], /base\.safetensors: --kd-hint needs the student's width and depth; the teacher has d_model 8 and 1 layers, the student 6 and 1/],
    ['a missing dataset names the install command', ['train', '--task', 'sfmnist', '--data-dir', 'nowhere', '-o', 'x.safetensors'], /apt-get install dataset-fashion-mnist/],
    ['--resume without a checkpoint', ['train', ...TINY, '-o', 'none.safetensors', '--resume'], /none\.safetensors\.ckpt: no checkpoint to resume/],
    ['a model for another task', ['eval', 'a.safetensors', '--task', 'denoise', '--test-size', '2'], /the model has d_in 4 and d_out 10; task denoise needs d_in 129/],
    ['conv mode on a quantized model', ['eval', 'a.q.safetensors', '--task', 'sfmnist', '--data-dir', 'fmnist', '--mode', 'conv'], /--mode conv is for float models/],
    ['--against with too few examples for its interval', ['eval', 'a.safetensors', '--task', 'sfmnist', '--data-dir', 'fmnist', '--against', 'a.q.safetensors'], /eval --against: 20 test examples are too few for the paired confidence interval \(at least 30\)/],
    ['a missing --against model', ['eval', 'a.safetensors', '--task', 'sfmnist', '--data-dir', 'fmnist', '--against', 'missing.safetensors'], /missing\.safetensors: cannot read the model \(ENOENT\)/],
    ['a missing model', ['eval', 'missing.safetensors', '--task', 'sfmnist', '--data-dir', 'fmnist'], /missing\.safetensors: cannot read the model \(ENOENT\)/],
    ['an unknown task', ['train', '--task', 'mnist', '-o', 'x.safetensors'], /--task.*mnist.*sfmnist, denoise/],
    ['more QAT epochs than epochs', ['train', ...TINY, '--qat-epochs', '3', '-o', 'x.safetensors'], /--qat-epochs 3 is more than --epochs 2/],
    ['a sparsity of 1', ['train', ...TINY, '--sparsity', '1', '-o', 'x.safetensors'], /--sparsity.*\[0, 0\.99\]/],
  ])('%s: one line, non-zero exit', (_name, args, pattern) => {
    const r = sparrow(...args);
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
  });
});
