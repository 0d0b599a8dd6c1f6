// The training loop on a tiny synthetic task: the loss falls, pruning reaches its target
// with the pattern the exported model has, a resumed run continues exactly as the
// uninterrupted one, and a NaN loss stops with one clear line.

import { describeModel } from '../../host/model/describe';
import { ModelConfig } from '../../host/model/types';
import { exportModel, initParams, Masks, paramRefs } from '../../host/train/params';
import { maskUpdateNow, pruneNow, regrowFraction, sparsityAt } from '../../host/train/optim';
import { Task } from '../../host/train/task';
import { parseCheckpoint, serializeCheckpoint } from '../../host/train/checkpoint';
import { parseSafetensors, serializeSafetensors } from '../../host/model/safetensors';
import { applyMasks, computeMasks, evaluate, newTrainState, regrowMasks, train, TrainOptions, TrainState } from '../../host/train/trainer';
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

test("regrowth's fraction decays as RigL's cosine, and the masks keep updating on the grid until it ends", () => {
  const s = { target: 0.9, start: 0.1, end: 0.5, every: 10, regrow: 0.3, regrowEnd: 0.8 };
  // f(t) = r/2 (1 + cos(π t / T_end)), T_end = 80: by hand at 0, 40 (half way) and 60 (cos = −√2/2).
  expect(regrowFraction(s, 0, 100)).toBeCloseTo(0.3, 12);
  expect(regrowFraction(s, 40, 100)).toBeCloseTo(0.15, 12);
  expect(regrowFraction(s, 60, 100)).toBeCloseTo(0.15 * (1 - Math.SQRT1_2), 12);
  expect(regrowFraction(s, 80, 100)).toBe(0);
  expect(regrowFraction({ ...s, regrow: 0 }, 40, 100)).toBe(0);
  expect([...Array(100).keys()].filter((k) => maskUpdateNow(s, k, 100))).toEqual([10, 20, 30, 40, 50, 60, 70]);
  // Without regrowth the updates are pruneNow's.
  const { regrow: _r, ...plain } = s;
  expect([...Array(100).keys()].filter((k) => maskUpdateNow(plain, k, 100))).toEqual([10, 20, 30, 40, 50]);
});

test('regrowth drops the kept entries of lowest magnitude and grows the pruned ones of largest gradient, per matrix', () => {
  const st = newTrainState(options());
  st.masks = computeMasks(st.params, 0.5, 'uniform', 'magnitude');
  applyMasks(st);
  const C = st.masks.get('layers.0.ssm.C')!;
  const { Cre, Cim } = st.params.layers[0];
  const kept = [...C.keys()].filter((i) => C[i]);
  const pruned = [...C.keys()].filter((i) => !C[i]);
  // The gradient: zero except on three pruned entries of C, given by hand (largest first: 7, 5, 3 in |g|).
  const grads = initParams(config, 9);
  for (const r of paramRefs(grads)) r.value.fill(0);
  const [g1, g2, g3] = [pruned[4], pruned[0], pruned[pruned.length - 1]];
  grads.layers[0].Cre[g1] = 7;
  grads.layers[0].Cim[g2] = -3;
  grads.layers[0].Cre[g2] = 4; // |g| = 5 over re and im
  grads.layers[0].Cim[g3] = 3;
  const before = new Map([...st.masks].map(([k, m]) => [k, Uint8Array.from(m)]));
  // 3 of C's 24 kept entries at fraction 0.125; its weakest by |C| = √(re² + im²), found here.
  const weakest = [...kept].sort((a, b) => Math.hypot(Cre[a], Cim[a]) - Math.hypot(Cre[b], Cim[b])).slice(0, 3);
  regrowMasks(st, grads, 0.125, 'magnitude');
  const after = st.masks.get('layers.0.ssm.C')!;
  expect(kept.length).toBe(24);
  expect([...after.keys()].filter((i) => after[i] && !before.get('layers.0.ssm.C')![i]).sort((a, b) => a - b)).toEqual([g1, g2, g3].sort((a, b) => a - b));
  expect([...after.keys()].filter((i) => !after[i] && before.get('layers.0.ssm.C')![i]).sort((a, b) => a - b)).toEqual(weakest.sort((a, b) => a - b));
  // Every matrix keeps its count; a matrix with no gradient outside its mask swaps by index order (ties), still the same count.
  for (const [k, m] of st.masks) expect(m.reduce((a, x) => a + x, 0)).toBe(before.get(k)!.reduce((a, x) => a + x, 0));
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

  test('with regrowth the masks change after the pruning ends, the sparsity stays the target, and pruned weights stay 0', async () => {
    // Updates at steps 46, 50, 54 and 58 after the end at 42, fractions 0.116, 0.060, 0.022, 0.002 of each matrix's kept entries.
    const o = options({ prune: { ...options().prune, regrow: 0.9, regrowEnd: 1 } });
    const rg = newTrainState(o);
    const total = 3 * 20;
    let atEnd: Masks | undefined;
    await train(task, o, rg, { onStep: (s) => { if (s.step === Math.ceil(0.7 * total) + 1) atEnd = new Map([...s.masks].map(([k, m]) => [k, Uint8Array.from(m)])); } });
    const moved = [...rg.masks].reduce((a, [k, m]) => a + m.reduce((b, x, i) => b + (x !== atEnd!.get(k)![i] ? 1 : 0), 0), 0);
    expect(moved).toBeGreaterThan(0);
    expect(describeModel(exportModel(rg.params, rg.masks)).matrixSparsity).toBeCloseTo(describeModel(exportModel(st.params, st.masks)).matrixSparsity, 6);
    const masked = paramRefs(rg.params).flatMap((r) => {
      const m = r.maskName ? rg.masks.get(r.maskName) : undefined;
      return m ? Array.from(m).flatMap((keep, i) => (keep ? [] : [r.value[i]])) : [];
    });
    expect(masked.every((w) => w === 0)).toBe(true);
    expect(rg.history[2].testMetric).toBeGreaterThan(60);
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
