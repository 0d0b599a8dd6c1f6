// The training loop on a tiny synthetic task: the loss falls, pruning reaches its target
// with the pattern the exported model has, a resumed run continues exactly as the
// uninterrupted one, and a NaN loss stops with one clear line.

import { describeModel } from '../../host/model/describe';
import { ModelConfig } from '../../host/model/types';
import { exportModel, initParams, Masks, paramRefs } from '../../host/train/params';
import { sparsityAt, pruneNow } from '../../host/train/optim';
import { Task } from '../../host/train/task';
import { parseCheckpoint, serializeCheckpoint } from '../../host/train/checkpoint';
import { parseSafetensors, serializeSafetensors } from '../../host/model/safetensors';
import { computeMasks, evaluate, newTrainState, train, TrainOptions, TrainState } from '../../host/train/trainer';
import { makeRng } from '../../host/util/rng';

/** Is the running sum of the input positive at the end? (needs memory); logits = mean of outputs. */
function sumSignTask(n: number, T = 12): Task {
  const make = (split: string, i: number) => {
    const rng = makeRng((split === 'train' ? 1 : 2) * 100003 + i);
    const inputs = Float32Array.from({ length: T }, () => rng.normal());
    const label = inputs.reduce((a, b) => a + b, 0) > 0 ? 1 : 0;
    return { inputs, T, label };
  };
  const logits = (o: Float32Array) => {
    const z = [0, 0];
    for (let t = 0; t < T; t++) for (let j = 0; j < 2; j++) z[j] += o[t * 2 + j] / T;
    return z;
  };
  return {
    name: 'sfmnist', dIn: 1, dOut: 2, T, metricName: 'accuracy (%)',
    size: (split) => (split === 'train' ? n : 64),
    example: make,
    loss(o, ex) {
      const z = logits(o);
      const m = Math.max(...z);
      const e = z.map((v) => Math.exp(v - m));
      const s = e[0] + e[1];
      const grad = new Float32Array(T * 2);
      for (let t = 0; t < T; t++) for (let j = 0; j < 2; j++) grad[t * 2 + j] = (e[j] / s - (j === ex.label ? 1 : 0)) / T;
      return { loss: -Math.log(e[ex.label!] / s), grad };
    },
    metric: (o, ex) => (logits(o)[1] > logits(o)[0] ? 1 : 0) === ex.label ? 1 : 0,
    reduceMetric: (v) => (100 * v.reduce((a, b) => a + b, 0)) / v.length,
  };
}

const config: ModelConfig = { d_in: 1, d_model: 8, d_state: 6, d_out: 2, n_layers: 1, act: 'gelu', encoder_act: 'none', gate: false };
const options = (over: Partial<TrainOptions> = {}): TrainOptions => ({
  config, epochs: 3, batchSize: 8, seed: 3, lr: 1e-2, ssmLr: 2e-3, weightDecay: 0.01,
  prune: { target: 0.6, start: 0.1, end: 0.7, every: 4, distribution: 'uniform' }, evalLimit: 64, ...over,
});

test('the cubic pruning schedule rises from 0 to the target between start and end', () => {
  const s = { target: 0.9, start: 0.1, end: 0.5, every: 10 };
  expect(sparsityAt(s, 0, 100)).toBe(0);
  expect(sparsityAt(s, 10, 100)).toBe(0);
  expect(sparsityAt(s, 30, 100)).toBeCloseTo(0.9 * (1 - 0.5 ** 3), 12);
  expect(sparsityAt(s, 50, 100)).toBe(0.9);
  expect([...Array(100).keys()].filter((k) => pruneNow(s, k, 100))).toEqual([10, 20, 30, 40, 50]);
  // From a sparse start (train --init): s0 + (target − s0)(1 − (1 − x)³), by hand at x = 1/2.
  const from = { ...s, initial: 0.5 };
  expect(sparsityAt(from, 0, 100)).toBe(0.5);
  expect(sparsityAt(from, 30, 100)).toBeCloseTo(0.5 + 0.4 * (1 - 0.125), 12);
  expect(sparsityAt(from, 50, 100)).toBe(0.9);
});

describe('training a tiny model', () => {
  const task = sumSignTask(160);
  let st: TrainState;
  const losses: number[] = [];
  beforeAll(async () => {
    st = newTrainState(options());
    await train(task, options(), st, { onStep: (_s, i) => losses.push(i.loss) });
  }, 60_000);

  test('the loss falls and the model learns the task', () => {
    const first = losses.slice(0, 10).reduce((a, b) => a + b) / 10;
    const last = losses.slice(-10).reduce((a, b) => a + b) / 10;
    expect(last).toBeLessThan(0.8 * first);
    expect(st.history).toHaveLength(3);
    expect(st.history[2].testMetric).toBeGreaterThan(70);
  });

  test('pruning reaches the target, and the exported model has that sparsity and the same metric', () => {
    const model = exportModel(st.params, st.masks);
    expect(describeModel(model).matrixSparsity).toBeCloseTo(0.6, 1);
    expect(evaluate(model, task, 64)).toBe(st.history[2].testMetric);
  });

  test("pruned weights are 0 with their AdamW moments ('zero', the default); with 'ste' they keep training", async () => {
    const masked = (s: TrainState) => paramRefs(s.params).flatMap((r, k) => {
      const m = r.maskName ? s.masks.get(r.maskName) : undefined;
      return m ? Array.from(m).flatMap((keep, i) => (keep ? [] : [[r.value[i], s.adam.m[k][i], s.adam.v[k][i]]])) : [];
    });
    const zero = masked(st);
    expect(zero.length).toBeGreaterThan(10);
    expect(zero.every(([w, m, v]) => w === 0 && m === 0 && v === 0)).toBe(true);
    const ste = newTrainState(options());
    const o = options({ prune: { ...options().prune, pruned: 'ste' } });
    await train(task, o, ste);
    expect(masked(ste).filter(([w]) => w !== 0).length).toBeGreaterThan(masked(ste).length / 2);
    expect(describeModel(exportModel(ste.params, ste.masks)).matrixSparsity).toBeCloseTo(0.6, 1);
  }, 60_000);
});

test('a run stopped and resumed continues exactly as the uninterrupted run', async () => {
  const task = sumSignTask(64);
  const o = options({ epochs: 2 });
  const a = newTrainState(o);
  await train(task, o, a);
  const b = newTrainState(o);
  const r1 = await train(task, o, b, { maxSteps: 5 });
  expect(r1.done).toBe(false);
  // A new process resumes from the checkpoint file's bytes alone.
  const resumed = parseCheckpoint(serializeCheckpoint(b, o), 'ckpt.safetensors');
  // The options come back with the saliency the run used (the default, balanced) written out.
  expect(resumed.options).toEqual({ ...o, prune: { ...o.prune, saliency: 'balanced' } });
  const c = resumed.state;
  const r2 = await train(task, resumed.options, c);
  expect(r2.done).toBe(true);
  expect(Array.from(c.params.layers[0].Cre)).toEqual(Array.from(a.params.layers[0].Cre));
  expect(Array.from(c.params.layers[0].runVar)).toEqual(Array.from(a.params.layers[0].runVar));
  expect(c.history.map((h) => h.testMetric)).toEqual(a.history.map((h) => h.testMetric));
  // (b itself is unchanged by c's training)
});

test('a checkpoint written before the balanced default (no saliency in its options) resumes pruning by magnitude, as it began', () => {
  const o = options();
  const bytes = serializeCheckpoint(newTrainState(o), o);
  const tf = parseSafetensors(bytes, 'old.ckpt');
  const old = JSON.parse(tf.metadata.options);
  delete old.prune.saliency;
  const oldBytes = serializeSafetensors({ metadata: { ...tf.metadata, options: JSON.stringify(old) }, tensors: tf.tensors });
  expect(parseCheckpoint(oldBytes, 'old.ckpt').options.prune.saliency).toBe('magnitude');
  expect(parseCheckpoint(bytes, 'new.ckpt').options.prune.saliency).toBe('balanced');
  const mag = serializeCheckpoint(newTrainState(o), { ...o, prune: { ...o.prune, saliency: 'magnitude' } });
  expect(parseCheckpoint(mag, 'mag.ckpt').options.prune.saliency).toBe('magnitude');
});

test('a file that is not a checkpoint, or of another model, is one line', () => {
  expect(() => parseCheckpoint(new Uint8Array(8), 'x.safetensors')).toThrow(/^x\.safetensors: /);
  const st = newTrainState(options());
  const bytes = serializeCheckpoint(st, { ...options(), config: { ...config, d_model: 9 } });
  expect(() => parseCheckpoint(bytes, 'c.safetensors')).toThrow(/^c\.safetensors: param\/encoder\.weight: missing or of the wrong shape/);
});

test('a NaN loss stops training with one line naming the step', async () => {
  const task = sumSignTask(32);
  const bad: Task = { ...task, loss: (o, ex) => ({ ...task.loss(o, ex), loss: NaN }) };
  await expect(train(bad, options(), newTrainState(options()))).rejects.toThrow(/^training diverged: loss is NaN at step 0/);
});

test("--saliency balanced reaches the pruner: at initialisation magnitude masks leave the slow states with no input, balanced ones leave no orphan", () => {
  // S5's initialisation draws Δ log-uniformly, so B̄ = (Λ̄ − 1)/Λ · B is small exactly for the
  // slow states; with the same budget per matrix, magnitude strands C entries on them.
  const cfg: ModelConfig = { d_in: 2, d_model: 32, d_state: 32, d_out: 3, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: false };
  const p = initParams(cfg, 11);
  const orphans = (masks: Masks): number => {
    let n = 0;
    for (let l = 0; l < cfg.n_layers; l++) {
      const B = masks.get(`layers.${l}.ssm.B`)!;
      const C = masks.get(`layers.${l}.ssm.C`)!;
      for (let i = 0; i < cfg.d_state; i++) {
        const input = B.subarray(i * cfg.d_model, (i + 1) * cfg.d_model).some((x) => x === 1);
        const output = Array.from({ length: cfg.d_model }, (_, k) => C[k * cfg.d_state + i]).some((x) => x === 1);
        if (input !== output) n++;
      }
    }
    return n;
  };
  const mag = computeMasks(p, 0.9, 'erk', 'magnitude');
  const bal = computeMasks(p, 0.9, 'erk', 'balanced');
  expect(orphans(mag)).toBeGreaterThan(4);
  expect(orphans(bal)).toBe(0);
  const kept = (m: Masks) => [...m.values()].map((x) => x.reduce((a, b) => a + b, 0));
  expect(kept(bal)).toEqual(kept(mag));
});
