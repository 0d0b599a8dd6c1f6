// Sparse Dimension Tuning, LoRA and full fine-tuning (host/train/tune.ts), the import of a
// trained model back into training form (params.ts importModel) and quantizing onto a base's
// scales (quantize.ts quantizeOnto). Checked against definitions: the model's own float
// reference for the import, finite differences for the LoRA gradient, hand-ranked scores for
// the selection, bit equality with the base for everything that must stay frozen, and
// quantizeModel itself for quantizeOnto.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { activationOverflow, calibrate, quantizeModel, quantizeOnto } from '../../host/compress/quantize';
import { readModel } from '../../host/model/model';
import { QMatrix } from '../../host/model/quant';
import { parseAnyModel } from '../../host/model/quant_file';
import { randomModel } from '../../host/model/random';
import { Matrix, Model } from '../../host/model/types';
import { diffModels } from '../../host/patch/diff';
import { runFloat } from '../../host/reference/float';
import { effective } from '../../host/train/backprop';
import { clampToGrids, gridsOf } from '../../host/train/qat';
import { discretize, exportModel, importModel, initParams, paramRefs, TrainParams, zerosLike } from '../../host/train/params';
import { makeTask, TaskSpec } from '../../host/train/tasks';
import { computeMasks } from '../../host/train/trainer';
import { parseClasses, parseNoises, taskSpec } from '../../host/cli/train';
import { biasTrainable, deployedParameters, loraAdapter, dimensionScores, fullTrainable, runTune, sdtTrainable, selectDimensions, tensorGroup, topK, TuneArgs } from '../../host/train/tune';
import { centralDifference } from '../helpers/fd';

const CLI = path.join(__dirname, '..', '..', 'dist', 'sparrow.cjs');

function logical(m: Matrix): Float32Array {
  const out = new Float32Array(m.rows * m.cols);
  if (m.kind === 'dense') out.set(m.values);
  else for (let r = 0; r < m.rows; r++) for (let k = m.indptr[r]; k < m.indptr[r + 1]; k++) out[r * m.cols + m.indices[k]] = m.values[k];
  return out;
}

function qlogical(m: QMatrix): number[] {
  const out = new Array<number>(m.rows * m.cols).fill(0);
  if (m.kind === 'dense') m.values.forEach((v, i) => (out[i] = v));
  else for (let r = 0; r < m.rows; r++) for (let k = m.indptr![r]; k < m.indptr![r + 1]; k++) out[r * m.cols + m.indices![k]] = m.values[k];
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** A trained-looking model: sparrow's export of pruned random parameters, so B re/im share one pattern. */
function trainedLike(seed: number, sparsity: number): Model {
  const config = { d_in: 5, d_model: 8, d_state: 6, d_out: 5, n_layers: 2, act: 'gelu' as const, encoder_act: 'none' as const, gate: true };
  const p = initParams(config, seed);
  p.layers.forEach((L, l) => {
    L.gamma.forEach((_, h) => (L.gamma[h] = 0.5 + 0.1 * ((h + l) % 5)));
    L.beta.forEach((_, h) => (L.beta[h] = 0.03 * (h - 3)));
    L.runMean.forEach((_, h) => (L.runMean[h] = 0.2 * Math.sin(h)));
    L.runVar.forEach((_, h) => (L.runVar[h] = 1 + 0.3 * Math.cos(h)));
  });
  // Magnitude masks: the fixture's kept entries (e.g. clampToGrids' decoder weight 3 and B entry 5) predate the balanced default.
  return exportModel(p, sparsity > 0 ? computeMasks(p, sparsity, 'uniform', 'magnitude') : new Map());
}

describe('importModel', () => {
  test.each([
    ['a sparrow-trained model (sparse, gated)', trainedLike(1, 0.6)],
    ['a random model with independent re/im patterns', randomModel({ d_in: 4, d_model: 7, d_state: 5, d_out: 3, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: false, sparsity: 0.5, seed: 4 })],
  ])('exporting the imported parameters gives back %s: same outputs as its float reference', (_name, m) => {
    const { params, masks } = importModel(m);
    const back = exportModel(params, masks);
    const T = 40;
    const x = Float32Array.from({ length: T * m.config.d_in }, (_, i) => Math.sin(0.37 * i) + 0.2 * Math.cos(1.3 * i));
    const want = runFloat(m, x, T);
    const got = runFloat(back, x, T);
    const scale = Math.max(...Array.from(want, Math.abs));
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-5 * scale);
    m.layers.forEach((L, i) => {
      expect(maxAbsDiff(back.layers[i].lambdaRe, L.lambdaRe)).toBeLessThan(1e-7);
      expect(maxAbsDiff(back.layers[i].lambdaIm, L.lambdaIm)).toBeLessThan(1e-7);
      expect(maxAbsDiff(logical(back.layers[i].B_re), logical(L.B_re))).toBeLessThan(1e-6);
      expect(maxAbsDiff(back.layers[i].normScale, L.normScale)).toBeLessThan(1e-6);
    });
  });

  test('masks are the nonzero patterns, B and C re-or-im', () => {
    const m = trainedLike(2, 0.7);
    const { masks } = importModel(m);
    const bRe = logical(m.layers[1].B_re);
    const bIm = logical(m.layers[1].B_im);
    expect(Array.from(masks.get('layers.1.ssm.B')!)).toEqual(Array.from(bRe, (v, i) => (v !== 0 || bIm[i] !== 0 ? 1 : 0)));
    expect(Array.from(masks.get('decoder.weight')!)).toEqual(Array.from(logical(m.decoderWeight), (v) => (v !== 0 ? 1 : 0)));
  });

  test('a state with |Λ̄| ≥ 1 has no continuous Λ: the error names it', () => {
    const m = trainedLike(3, 0);
    m.layers[1].lambdaRe[4] = 1;
    m.layers[1].lambdaIm[4] = 0;
    expect(() => importModel(m)).toThrow(/layers\.1\.ssm\.lambda: state 4 has \|Λ̄\| = 1/);
  });
});

describe.each(['decoder', 'encoder', 'B', 'C'] as const)('LoRA on %s', (target) => {
  const m = trainedLike(5, 0.5);
  const { params, masks } = importModel(m);
  // The matrices the update writes, each with the base's mask: one, or re and im of every layer.
  const slots: { get: (q: TrainParams) => Float64Array; mask: Uint8Array }[] =
    target === 'decoder' ? [{ get: (q) => q.decW, mask: masks.get('decoder.weight')! }]
      : target === 'encoder' ? [{ get: (q) => q.encW, mask: masks.get('encoder.weight')! }]
        : params.layers.flatMap((_, l) => (['re', 'im'] as const).map((part) => ({
          get: (q: TrainParams) => q.layers[l][`${target}${part}` as 'Bre' | 'Bim' | 'Cre' | 'Cim'],
          mask: masks.get(`layers.${l}.ssm.${target}`)!,
        })));

  test('starts at the base, and moves only the nonzero weights (every matrix it covers)', () => {
    const ad = loraAdapter(params, target, masks, 2, 1);
    expect(ad.refs).toHaveLength(2 * slots.length);
    const w0 = slots.map((s) => Float64Array.from(s.get(params)));
    ad.apply(params);
    slots.forEach((s, k) => expect(Array.from(s.get(params))).toEqual(Array.from(w0[k])));
    ad.refs.forEach((r, j) => j % 2 === 0 && r.value.forEach((_, i) => (r.value[i] = 0.1 * (i + 1))));
    ad.apply(params);
    slots.forEach((s, k) => {
      const w = s.get(params);
      w.forEach((x, i) => {
        if (!s.mask[i]) expect(x).toBe(w0[k][i]);
      });
      expect(w.some((x, i) => s.mask[i] && x !== w0[k][i])).toBe(true);
    });
  });

  test('its gradient matches central differences of a loss of the weights', () => {
    const ad = loraAdapter(params, target, masks, 3, 2);
    ad.refs.forEach((r, j) => j % 2 === 0 && r.value.forEach((_, i) => (r.value[i] = Math.sin(i + j + 1))));
    const goals = slots.map((s, k) => Float64Array.from(s.get(params), (_, i) => Math.cos(i + k)));
    const loss = (): number => {
      ad.apply(params);
      let sum = 0;
      slots.forEach((s, k) => s.get(params).forEach((w, i) => (sum += 0.5 * (w - goals[k][i]) ** 2)));
      return sum;
    };
    loss();
    const g = zerosLike(params);
    slots.forEach((s, k) => s.get(params).forEach((w, i) => (s.get(g)[i] = w - goals[k][i])));
    const analytic = ad.gradient(g);
    const eps = 1e-6;
    ad.refs.forEach((r, k) => {
      for (const i of [0, 1, r.value.length - 1]) expect(analytic[k][i]).toBeCloseTo(centralDifference(r.value, i, eps, loss), 5);
    });
  });
});

describe('dimension selection', () => {
  test('topK: the k largest, ties to the lower index, returned ascending', () => {
    expect(topK([0.1, 5, 3, 5, 0], 2)).toEqual([1, 3]);
    expect(topK([0.1, 5, 3, 5, 0], 3)).toEqual([1, 2, 3]);
    expect(topK([1, 1, 1], 2)).toEqual([0, 1]);
  });

  test('scores: a state by |ΔΛ|², a channel by its B and C moves (hand-made updates)', () => {
    const p = initParams({ d_in: 2, d_model: 3, d_state: 2, d_out: 2, n_layers: 1, act: 'gelu', encoder_act: 'none', gate: false }, 1);
    const q = initParams(p.config, 1);
    // State 1: Re Λ from −exp(ρ) to −exp(ρ) − 0.5 (|ΔΛ|² = 0.25); Im Λ of state 0 moves by 0.1.
    q.layers[0].lamRho[1] = Math.log(Math.exp(p.layers[0].lamRho[1]) + 0.5);
    q.layers[0].lamIm[0] += 0.1;
    // Channel 2: B[0,2] moves by 0.3 and C[2,1] by 0.4 → 0.25; channel 0: B_im[1,0] by 0.1.
    q.layers[0].Bre[0 * 3 + 2] += 0.3;
    q.layers[0].Cim[2 * 2 + 1] += 0.4;
    q.layers[0].Bim[1 * 3 + 0] += 0.1;
    const s = dimensionScores(p, q);
    expect(s.states[0][0]).toBeCloseTo(0.01, 12);
    expect(s.states[0][1]).toBeCloseTo(0.25, 12);
    expect(s.channels[0][2]).toBeCloseTo(0.25, 12);
    expect(s.channels[0][0]).toBeCloseTo(0.01, 12);
    expect(s.channels[0][1]).toBe(0);
    expect(selectDimensions(s, 1, 1)).toEqual([{ channels: [2], states: [1] }]);
  });

  test('SDT trains Λ of the selected states and B, C at selected (state, channel) pairs where the base is nonzero', () => {
    const m = trainedLike(6, 0.5);
    const { params, masks } = importModel(m);
    const H = 8;
    const P = 6;
    const sel = [{ channels: [1, 4, 6], states: [0, 5] }, { channels: [2], states: [3] }];
    const t = sdtTrainable(params, masks, sel);
    const bMask = masks.get('layers.0.ssm.B')!;
    const cMask = masks.get('layers.0.ssm.C')!;
    let want = 0;
    for (let p = 0; p < P; p++) {
      for (let h = 0; h < H; h++) {
        const on = [0, 5].includes(p) && [1, 4, 6].includes(h);
        expect(t.get('layers.0.ssm.B_re')![p * H + h]).toBe(on && bMask[p * H + h] ? 1 : 0);
        expect(t.get('layers.0.ssm.C_im')![h * P + p]).toBe(on && cMask[h * P + p] ? 1 : 0);
        if (on) want += 2 * bMask[p * H + h] + 2 * cMask[h * P + p];
      }
    }
    expect(Array.from(t.get('layers.1.ssm.lambda_rho')!)).toEqual([0, 0, 0, 1, 0, 0]);
    const layer0 = [...t].filter(([k]) => k.startsWith('layers.0.')).reduce((a, [, v]) => a + v.reduce((x, y) => x + y, 0), 0);
    expect(layer0).toBe(want + 2 * 2);
    // Nothing outside Λ, B and C.
    expect([...t.keys()].every((k) => /ssm\.(lambda_rho|lambda_im|B_re|B_im|C_re|C_im)$/.test(k))).toBe(true);
  });

  test('full fine-tuning trains every deployed parameter but Δ, pruned weights excluded', () => {
    const m = trainedLike(7, 0.5);
    const { params, masks } = importModel(m);
    const t = fullTrainable(params, masks);
    expect(t.has('layers.0.ssm.log_step')).toBe(false);
    let n = 0;
    for (const v of t.values()) for (const x of v) n += x;
    // deployedParameters counts B_re and B_im (and C) nonzeros separately, like the mask sum over re and im.
    expect(n).toBe(deployedParameters(m));
    expect(paramRefs(params).filter((r) => !r.name.endsWith('log_step')).every((r) => t.has(r.name))).toBe(true);
  });
});

describe('full fine-tuning restricted to groups (--only)', () => {
  test('tensorGroup names every parameter of a gated SMA model by its role', () => {
    const q = initParams({ d_in: 3, d_model: 4, d_state: 2, d_out: 2, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true, sma: true }, 1);
    const got = Object.fromEntries(paramRefs(q).filter((r) => !r.name.endsWith('log_step')).map((r) => [r.name, tensorGroup(r.name)]));
    expect(got).toMatchObject({
      'encoder.weight': 'encoder', 'encoder.bias': 'encoder', 'decoder.weight': 'decoder', 'decoder.bias': 'decoder',
      'layers.1.norm.gamma': 'norm', 'layers.1.norm.beta': 'norm', 'layers.0.ssm.lambda_rho': 'lambda', 'layers.0.ssm.lambda_im': 'lambda',
      'layers.1.ssm.B_re': 'B', 'layers.1.ssm.B_im': 'B', 'layers.0.ssm.C_re': 'C', 'layers.0.ssm.C_im': 'C', 'layers.0.ssm.D': 'D',
      'layers.0.gate.weight': 'gate', 'layers.0.gate.bias': 'gate', 'layers.1.sma.weight': 'gate', 'layers.1.sma.bias': 'gate',
    });
  });

  test('the groups partition what a full fine-tune trains: each --only is its share, and all of them the whole', () => {
    const m = trainedLike(7, 0.5);
    const { params, masks } = importModel(m);
    const count = (t: Map<string, Uint8Array>): number => [...t.values()].reduce((a, v) => a + v.reduce((x, y) => x + y, 0), 0);
    const all = fullTrainable(params, masks);
    const groups = ['encoder', 'decoder', 'lambda', 'B', 'C', 'D', 'norm', 'gate'] as const;
    const shares = groups.map((g) => fullTrainable(params, masks, [g]));
    expect(shares.reduce((a, t) => a + count(t), 0)).toBe(count(all));
    // Each share is exactly the full fine-tune's masks of its tensors (pruned weights excluded).
    const enc = shares[0];
    expect([...enc.keys()].sort()).toEqual(['encoder.bias', 'encoder.weight']);
    expect(Array.from(enc.get('encoder.weight')!)).toEqual(Array.from(all.get('encoder.weight')!));
    expect([...shares[2].keys()].sort()).toEqual(['layers.0.ssm.lambda_im', 'layers.0.ssm.lambda_rho', 'layers.1.ssm.lambda_im', 'layers.1.ssm.lambda_rho']);
    // lambda: 2 layers × P states × (ρ, ω).
    expect(count(shares[2])).toBe(2 * 2 * m.config.d_state);
    expect(count(fullTrainable(params, masks, ['norm', 'D']))).toBe(2 * 3 * m.config.d_model);
  });
});

describe('runTune on a small denoising task', () => {
  const spec: TaskSpec = { name: 'denoise', seconds: 0.05, nFft: 32, trainSize: 32, testSize: 6, noises: ['brown'] };
  const task = makeTask(spec);
  const config = { d_in: task.dIn, d_model: 8, d_state: 6, d_out: task.dOut, n_layers: 2, act: 'gelu' as const, encoder_act: 'none' as const, gate: false };
  const p = initParams(config, 11);
  const base = exportModel(p, computeMasks(p, 0.5, 'uniform'));
  const args = (over: Partial<TuneArgs>): TuneArgs => ({
    base, spec, task, method: 'sdt', warmupSteps: 4, threads: 1, script: CLI,
    options: { epochs: 2, batchSize: 8, seed: 1, lr: 0.01, ssmLr: 0.01, weightDecay: 0 },
    ...over,
  });
  const ui = { phase: () => {}, step: () => {}, epoch: () => {} };

  test('SDT: frozen tensors stay the base to the bit; B̄ changes only in the selected states; the pattern stays', async () => {
    const r = await runTune(args({ channels: 3, states: 2 }), ui);
    const sel = r.selection!;
    expect(sel.map((s) => [s.channels.length, s.states.length])).toEqual([[3, 2], [3, 2]]);
    expect(Array.from(logical(r.model.encoderWeight))).toEqual(Array.from(logical(base.encoderWeight)));
    expect(Array.from(logical(r.model.decoderWeight))).toEqual(Array.from(logical(base.decoderWeight)));
    expect(Array.from(r.model.decoderBias)).toEqual(Array.from(base.decoderBias));
    r.model.layers.forEach((L, l) => {
      const B = base.layers[l];
      expect(Array.from(L.normScale)).toEqual(Array.from(B.normScale));
      expect(Array.from(L.normShift)).toEqual(Array.from(B.normShift));
      expect(Array.from(L.D)).toEqual(Array.from(B.D));
      const H = 8;
      const P = 6;
      const bRe = logical(L.B_re);
      const bRe0 = logical(B.B_re);
      const cRe = logical(L.C_re);
      const cRe0 = logical(B.C_re);
      for (let q = 0; q < P; q++) {
        const selected = sel[l].states.includes(q);
        if (!selected) {
          // Λ and B are the base's up to the float32 round trip of the import (Λ̄ = exp(log Λ̄)).
          expect(Math.abs(L.lambdaRe[q] - B.lambdaRe[q])).toBeLessThan(1e-6);
          for (let h = 0; h < H; h++) expect(Math.abs(bRe[q * H + h] - bRe0[q * H + h])).toBeLessThan(1e-6);
        }
        for (let h = 0; h < H; h++) {
          if (!(selected && sel[l].channels.includes(h))) expect(Math.abs(cRe[h * P + q] - cRe0[h * P + q])).toBeLessThan(1e-6);
          // The pattern: zero stays zero, nonzero stays nonzero.
          expect(bRe[q * H + h] === 0).toBe(bRe0[q * H + h] === 0);
        }
      }
      expect(L.B_re.kind).toBe(B.B_re.kind);
    });
    expect(r.trainable).toBeGreaterThan(0);
    expect(r.trainable).toBeLessThan(r.parameters);
    expect(r.dropped).toBe(0);
  }, 60_000);

  /** A LoRA-tuned matrix: zero where the base is zero, and moved somewhere. */
  const movedOnlyAtNonzeros = (got: Matrix, want: Matrix): void => {
    const d = logical(got);
    const d0 = logical(want);
    d0.forEach((w, i) => {
      if (w === 0) expect(d[i]).toBe(0);
    });
    expect(maxAbsDiff(d, d0)).toBeGreaterThan(0);
  };

  test('LoRA only: every tensor but the decoder weight is the base; the decoder moves only at its nonzeros', async () => {
    const r = await runTune(args({ method: 'lora', loraRank: 2 }), ui);
    expect(r.trainable).toBe(2 * (task.dOut + 8));
    movedOnlyAtNonzeros(r.model.decoderWeight, base.decoderWeight);
    // The default target is the decoder alone: the encoder is the base's, to the bit.
    expect(Array.from(logical(r.model.encoderWeight))).toEqual(Array.from(logical(base.encoderWeight)));
    r.model.layers.forEach((L, l) => expect(maxAbsDiff(logical(L.C_re), logical(base.layers[l].C_re))).toBeLessThan(1e-6));
    expect(Array.from(r.model.decoderBias)).toEqual(Array.from(base.decoderBias));
  }, 60_000);

  test('LoRA on the encoder and the decoder: both move only at their nonzeros, every other tensor is the base', async () => {
    const r = await runTune(args({ method: 'lora', loraRank: 2, loraOn: ['encoder', 'decoder'] }), ui);
    // rank 2 × (H + d_in) on the encoder [H, d_in] and 2 × (d_out + H) on the decoder.
    expect(r.trainable).toBe(2 * (8 + task.dIn) + 2 * (task.dOut + 8));
    movedOnlyAtNonzeros(r.model.encoderWeight, base.encoderWeight);
    movedOnlyAtNonzeros(r.model.decoderWeight, base.decoderWeight);
    r.model.layers.forEach((L, l) => expect(maxAbsDiff(logical(L.B_re), logical(base.layers[l].B_re))).toBeLessThan(1e-6));
    expect(Array.from(r.model.encoderBias)).toEqual(Array.from(base.encoderBias));
  }, 60_000);

  test('LoRA with --biases decoder,norm: those biases move, whole; every other vector is the base', async () => {
    const r = await runTune(args({ method: 'lora', loraRank: 1, biases: ['decoder', 'norm'] }), ui);
    // rank 1 (d_out + H) + decoder bias (d_out) + each layer's norm shift (H).
    expect(r.trainable).toBe(task.dOut + 8 + task.dOut + 2 * 8);
    expect(maxAbsDiff(r.model.decoderBias, base.decoderBias)).toBeGreaterThan(0);
    expect(Array.from(r.model.encoderBias)).toEqual(Array.from(base.encoderBias));
    r.model.layers.forEach((L, l) => {
      const B = base.layers[l];
      // The shift is β folded with the frozen statistics: it moves; the scale (γ) does not.
      expect(maxAbsDiff(L.normShift, B.normShift)).toBeGreaterThan(0);
      expect(Array.from(L.normScale)).toEqual(Array.from(B.normScale));
      expect(Array.from(L.D)).toEqual(Array.from(B.D));
    });
  }, 60_000);

  test('LoRA on B: B̄ moves only at its nonzeros (every layer, re and im); Λ, C, the encoder and the decoder are the base', async () => {
    const r = await runTune(args({ method: 'lora', loraRank: 1, loraOn: ['B'] }), ui);
    // rank 1 × (P + H) for B_re and B_im of each of 2 layers.
    expect(r.trainable).toBe(2 * 2 * (6 + 8));
    r.model.layers.forEach((L, l) => {
      const B = base.layers[l];
      movedOnlyAtNonzeros(L.B_re, B.B_re);
      movedOnlyAtNonzeros(L.B_im, B.B_im);
      expect(Array.from(L.lambdaRe)).toEqual(Array.from(B.lambdaRe));
      expect(maxAbsDiff(logical(L.C_re), logical(B.C_re))).toBeLessThan(1e-6);
    });
    expect(Array.from(logical(r.model.encoderWeight))).toEqual(Array.from(logical(base.encoderWeight)));
    expect(Array.from(logical(r.model.decoderWeight))).toEqual(Array.from(logical(base.decoderWeight)));
  }, 60_000);

  test('LoRA on the encoder with --also norm,D: norm scale and shift and D move, whole; Λ, B, C, the decoder and the biases are the base', async () => {
    const r = await runTune(args({ method: 'lora', loraRank: 1, loraOn: ['encoder'], also: ['norm', 'D'] }), ui);
    // rank 1 (H + d_in) + per layer norm γ, β and D (3H).
    expect(r.trainable).toBe(8 + task.dIn + 2 * 3 * 8);
    movedOnlyAtNonzeros(r.model.encoderWeight, base.encoderWeight);
    r.model.layers.forEach((L, l) => {
      const B = base.layers[l];
      expect(maxAbsDiff(L.normScale, B.normScale)).toBeGreaterThan(0);
      expect(maxAbsDiff(L.normShift, B.normShift)).toBeGreaterThan(0);
      expect(maxAbsDiff(L.D, B.D)).toBeGreaterThan(0);
      expect(Array.from(L.lambdaRe)).toEqual(Array.from(B.lambdaRe));
      expect(maxAbsDiff(logical(L.B_re), logical(B.B_re))).toBeLessThan(1e-6);
      expect(maxAbsDiff(logical(L.C_im), logical(B.C_im))).toBeLessThan(1e-6);
    });
    expect(Array.from(logical(r.model.decoderWeight))).toEqual(Array.from(logical(base.decoderWeight)));
    expect(Array.from(r.model.encoderBias)).toEqual(Array.from(base.encoderBias));
    expect(Array.from(r.model.decoderBias)).toEqual(Array.from(base.decoderBias));
  }, 60_000);

  test('biasTrainable: exactly the named vectors, whole', () => {
    const q = initParams({ ...config, gate: true }, 3);
    const t = biasTrainable(q, ['encoder', 'gate']);
    expect([...t.keys()].sort()).toEqual(['encoder.bias', 'layers.0.gate.bias', 'layers.1.gate.bias']);
    for (const m of t.values()) expect(m.every((x) => x === 1)).toBe(true);
    expect(t.get('encoder.bias')!.length).toBe(8);
  });

  test('full fine-tuning keeps the sparsity pattern of every matrix', async () => {
    const r = await runTune(args({ method: 'full' }), ui);
    expect(r.trainable).toBe(deployedParameters(base));
    const same = (a: Matrix, b: Matrix): void => expect(Array.from(logical(a), (v) => v !== 0)).toEqual(Array.from(logical(b), (v) => v !== 0));
    same(r.model.encoderWeight, base.encoderWeight);
    same(r.model.decoderWeight, base.decoderWeight);
    r.model.layers.forEach((L, l) => {
      same(L.B_im, base.layers[l].B_im);
      same(L.C_re, base.layers[l].C_re);
    });
  }, 60_000);

  test('bad arguments are refused with the option named', async () => {
    await expect(runTune(args({}), ui)).rejects.toThrow('--method sdt needs --channels and --states');
    await expect(runTune(args({ channels: 9, states: 1 }), ui)).rejects.toThrow("--channels 9 is more than the model's 8 channels");
    await expect(runTune(args({ method: 'lora' }), ui)).rejects.toThrow('--method lora needs --lora-rank');
    await expect(runTune(args({ method: 'full', loraRank: 2 }), ui)).rejects.toThrow('--lora-rank does not go with --method full');
    await expect(runTune(args({ method: 'lora', loraOn: ['encoder'] }), ui)).rejects.toThrow('--method lora needs --lora-rank');
    await expect(runTune(args({ method: 'sdt', channels: 2, states: 2, loraOn: ['encoder'] }), ui)).rejects.toThrow('--lora-on needs --lora-rank');
    await expect(runTune(args({ method: 'full', biases: ['decoder'] }), ui)).rejects.toThrow('--biases does not go with --method full');
    await expect(runTune(args({ channels: 2, states: 2, biases: ['gate'] }), ui)).rejects.toThrow('--biases gate: the base model has no gate');
    await expect(runTune(args({ channels: 2, states: 2, only: ['encoder'] }), ui)).rejects.toThrow('--only is an option of --method full, not sdt');
    await expect(runTune(args({ method: 'full', only: ['gate'] }), ui)).rejects.toThrow('--only gate: the base model has no gate');
    await expect(runTune(args({ method: 'full', also: ['norm'] }), ui)).rejects.toThrow('--also does not go with --method full');
    await expect(runTune(args({ channels: 2, states: 2, loraRank: 1, loraOn: ['encoder', 'C'] }), ui)).rejects.toThrow('--lora-on C does not go with --method sdt (both would write C); use --method lora');
    await expect(runTune(args({ method: 'lora', loraRank: 1, also: ['decoder'] }), ui)).rejects.toThrow('--also decoder and a LoRA update on the decoder (--lora-on) would both write its weights');
    const other = makeTask({ ...spec, nFft: 64 });
    await expect(runTune(args({ task: other, method: 'full' }), ui)).rejects.toThrow(/task denoise needs 33 and 33/);
  });
});

describe('quantizeOnto', () => {
  const model = trainedLike(8, 0.6);
  const calib = { sequences: [{ data: Float64Array.from({ length: 60 * 5 }, (_, i) => Math.sin(0.3 * i) * 1.5), T: 60 }] };
  const base = quantizeModel(model, calib);

  test('onto the quantization of the same model it is that quantization, value for value', () => {
    const { model: q, report } = quantizeOnto(model, base);
    expect(report).toEqual({ keptNonzero: 0, heldZero: 0, saturated: 0 });
    expect(JSON.stringify(q, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Int8Array) : v))).toBe(
      JSON.stringify(base, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Int8Array) : v)),
    );
    expect(diffModels(base, q, 'base', 'tuned')).toEqual([]);
  });

  test("keeps the base's scales and pattern: a weight rounding to 0 stays ±1, a new weight stays 0, out-of-range saturates; diff accepts it", () => {
    const bl = qlogical(base.decoderWeight);
    const nz = bl.map((v, i) => (v !== 0 ? i : -1)).filter((i) => i >= 0);
    const z = bl.map((v, i) => (v === 0 ? i : -1)).filter((i) => i >= 0);
    const dl = logical(model.decoderWeight);
    dl[nz[0]] = -1e-6; // rounds to 0 → kept at −1
    dl[nz[1]] = 100; // far beyond ±127 LSB → saturates
    dl[z[0]] = 0.5; // the base stores 0 here → held at 0
    const tuned: Model = { ...model, decoderWeight: { kind: 'dense', rows: model.decoderWeight.rows, cols: model.decoderWeight.cols, values: dl } };
    const { model: q, report } = quantizeOnto(tuned, base);
    expect(report).toEqual({ keptNonzero: 1, heldZero: 1, saturated: 1 });
    const ql = qlogical(q.decoderWeight);
    expect(ql[nz[0]]).toBe(-1);
    expect(ql[nz[1]]).toBe(127);
    expect(ql[z[0]]).toBe(0);
    expect(q.decoderWeight.kind).toBe(base.decoderWeight.kind);
    expect(Array.from(q.decoderWeight.rowFrac)).toEqual(Array.from(base.decoderWeight.rowFrac));
    expect(diffModels(base, q, 'base', 'tuned').map((t) => t.name)).toEqual(['decoder.weight']);
  });

  test('tuning through the base grids (fixed-grid QAT) sees every weight as quantizeOnto stores it', () => {
    const { params, masks } = importModel(model);
    const eff = effective(params, masks, gridsOf(base));
    const deq = (m: QMatrix): number[] => qlogical(m).map((v, i) => v * 2 ** -m.rowFrac[Math.floor(i / m.cols)]);
    expect(Array.from(eff.encW)).toEqual(deq(base.encoderWeight));
    expect(Array.from(eff.decW)).toEqual(deq(base.decoderWeight));
    base.layers.forEach((L, i) => {
      const P = model.config.d_state;
      const H = model.config.d_model;
      expect(Array.from(eff.layers[i].bb.subarray(0, P * H))).toEqual(deq(L.B_re));
      expect(Array.from(eff.layers[i].bb.subarray(P * H))).toEqual(deq(L.B_im));
      expect(Array.from(eff.layers[i].D)).toEqual(Array.from(L.D, (d) => d * 2 ** -L.dFrac));
      expect(Array.from(eff.layers[i].gateW!)).toEqual(deq(L.gateWeight!));
    });
  });

  test("…and where a tuned weight breaks the base's pattern, as quantizeOnto's rules store it: 0 where the base is 0, ±1 where it rounds to 0", () => {
    // A base whose B̄_re rounds to 0 at a few entries where B̄_im does not.
    const m2: Model = structuredClone(model);
    const Bre = m2.layers[0].B_re;
    for (let k = 0; k < 4; k++) Bre.values[k * 3] = 1e-6;
    const base = quantizeModel(m2, calib);
    const { params, masks } = importModel(m2);
    // Moving Λ of every state moves every B̄ entry of its row (B̄ = c·B), re and im together:
    // those entries become nonzero in float, where the base stores 0.
    params.layers.forEach((L) => L.lamIm.forEach((_, q) => (L.lamIm[q] += 0.03 * (q + 1))));
    const P = model.config.d_state;
    const H = model.config.d_model;
    const bl = qlogical(base.decoderWeight);
    const nz = bl.findIndex((v) => v !== 0);
    params.decW[nz] = 1e-7; // rounds to 0 where the base stores a weight: kept at +1
    const tuned = exportModel(params, masks);
    const { model: q, report } = quantizeOnto(tuned, base);
    expect(report.heldZero).toBeGreaterThan(0);
    expect(report.keptNonzero).toBeGreaterThan(0);
    const eff = effective(params, masks, gridsOf(base));
    const deq = (m: QMatrix): number[] => qlogical(m).map((v, i) => v * 2 ** -m.rowFrac[Math.floor(i / m.cols)]);
    expect(Array.from(eff.decW)).toEqual(deq(q.decoderWeight));
    q.layers.forEach((L, i) => {
      expect(Array.from(eff.layers[i].bb.subarray(0, P * H))).toEqual(deq(L.B_re));
      expect(Array.from(eff.layers[i].bb.subarray(P * H))).toEqual(deq(L.B_im));
    });
    // Without the base's values the grids alone would give other weights here.
    const bare = new Map([...gridsOf(base)].filter(([k]) => !k.startsWith('base.')));
    const loose = effective(params, masks, bare);
    expect(Array.from(loose.layers.flatMap((L) => Array.from(L.bb)))).not.toEqual(q.layers.flatMap((L) => [...deq(L.B_re), ...deq(L.B_im)]));
  });

  test('activationOverflow: none for the model the formats were calibrated on; a model whose encoder output grew 4× is named, with its max', () => {
    expect(activationOverflow(model, base, calib)).toEqual([]);
    const enc = model.encoderWeight;
    const louder: Model = { ...model, encoderWeight: { ...enc, values: Float32Array.from(enc.values, (v) => 4 * v) } as Matrix, encoderBias: Float32Array.from(model.encoderBias, (b) => 4 * b) };
    const over = activationOverflow(louder, base, calib);
    const encoder = over.find((o) => o.tensor === 'encoder output')!;
    expect(encoder.limit).toBe(32767 * 2 ** -base.encoderFrac);
    // The encoder output is exactly 4× the calibrated one (linear, no encoder activation).
    expect(encoder.max).toBeCloseTo(4 * calibrate(model, calib).get('u.-1')!, 6);
    // Largest overflow first.
    over.slice(1).forEach((o, i) => expect(o.max / o.limit).toBeLessThanOrEqual(over[i].max / over[i].limit));
  });

  test('another config is refused', () => {
    const other = trainedLike(9, 0.6);
    other.config = { ...other.config, act: 'relu' };
    expect(() => quantizeOnto(other, base)).toThrow(/config .* differs from the base's/);
  });
});

describe('sparrow tune (CLI)', () => {
  let dir: string;
  const sparrow = (...a: string[]) => spawnSync(process.execPath, [CLI, ...a], { encoding: 'utf8', cwd: dir });
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-tune-'));
    const r = sparrow('train', '--task', 'denoise', '--noises', 'white', '--train-size', '32', '--test-size', '4', '--d-model', '8', '--d-state', '6', '--layers', '1', '--epochs', '1', '--batch', '8', '--threads', '1', '--sparsity', '0.5', '-o', 'base.safetensors', '--quantized', 'base.q.safetensors', '--quiet');
    expect(r.status).toBe(0);
  }, 120_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const TASK = ['--task', 'denoise', '--noises', 'brown', '--train-size', '32', '--test-size', '4', '--batch', '8', '--epochs', '1', '--threads', '2'];

  test('SDT with --like: the w8a16 result is on the base scales, `sparrow diff` makes a patch of it', () => {
    const r = sparrow('tune', 'base.safetensors', ...TASK, '--channels', '2', '--states', '2', '--warmup-steps', '2', '-o', 'tuned.safetensors', '--quantized', 'tuned.q.safetensors', '--like', 'base.q.safetensors', '--json');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.trainable).toBeLessThan(s.parameters);
    expect(s.selection).toHaveLength(1);
    const tuned = readModel(path.join(dir, 'tuned.safetensors'));
    expect(tuned.metadata.tune_method).toBe('sdt');
    expect(tuned.metadata.tune_trainable).toBe(String(s.trainable));
    const q = parseAnyModel(fs.readFileSync(path.join(dir, 'tuned.q.safetensors')), 'tuned.q');
    expect(q.kind).toBe('quantized');
    const d = sparrow('diff', 'base.q.safetensors', 'tuned.q.safetensors', '-o', 'update.patch');
    expect(d.stderr).toBe('');
    expect(d.status).toBe(0);
    expect(fs.statSync(path.join(dir, 'update.patch')).size).toBeGreaterThan(100);
  }, 120_000);

  test.each([
    [['tune', 'base.q.safetensors', ...TASK, '--method', 'full', '-o', 'x.safetensors'], /base\.q\.safetensors: is a quantized model; tune the float model/],
    [['tune', 'base.safetensors', ...TASK, '--method', 'full', '-o', 'x.safetensors', '--like', 'base.q.safetensors'], /--like needs --quantized/],
    [['tune', 'base.safetensors', ...TASK, '--method', 'full', '-o', 'x.safetensors', '--quantized', 'x.q', '--like', 'base.safetensors'], /--like takes the quantized base/],
    [['tune', 'base.safetensors', ...TASK, '-o', 'x.safetensors'], /base\.safetensors: --method sdt needs --channels and --states/],
    [['tune', 'base.safetensors', ...TASK, '--channels', '2', '--states', '7', '-o', 'x.safetensors'], /--states 7 is more than the model's 6 states/],
    [['tune', 'base.safetensors', '--task', 'sfmnist', '--data-dir', 'nowhere', '--method', 'full', '-o', 'x.safetensors'], /nowhere/],
    [['tune', 'base.safetensors', ...TASK, '--method', 'lora', '--lora-rank', '1', '--biases', 'decoder,bogus', '-o', 'x.safetensors'], /'bogus' is not one of decoder, encoder, norm, gate/],
    [['tune', 'base.safetensors', ...TASK, '--method', 'lora', '--lora-rank', '1', '--biases', 'gate', '-o', 'x.safetensors'], /--biases gate: the base model has no gate/],
    [['tune', 'base.safetensors', ...TASK, '--method', 'lora', '--lora-rank', '1', '--lora-on', 'encoder,gate', '-o', 'x.safetensors'], /'gate' is not one of decoder, encoder/],
    [['tune', 'base.safetensors', ...TASK, '--method', 'full', '--only', 'encoder,Lambda', '-o', 'x.safetensors'], /'Lambda' is not one of encoder, decoder, lambda, B, C, D, norm, gate/],
    [['tune', 'base.safetensors', ...TASK, '--method', 'lora', '--lora-rank', '1', '--only', 'encoder', '-o', 'x.safetensors'], /base\.safetensors: --only is an option of --method full, not lora/],
  ])('refuses %j in one line', (argv, message) => {
    const r = sparrow(...(argv as string[]));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message as RegExp);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(fs.existsSync(path.join(dir, 'x.safetensors'))).toBe(false);
  });
});

describe('transfer-task options', () => {
  test('--classes: lists and ranges of labels 0–9, each once', () => {
    expect(parseClasses('0-4')).toEqual([0, 1, 2, 3, 4]);
    expect(parseClasses('5,7, 9')).toEqual([5, 7, 9]);
    expect(parseClasses('0-2,7')).toEqual([0, 1, 2, 7]);
    expect(() => parseClasses('4-2')).toThrow(/expected labels 0-9/);
    expect(() => parseClasses('10')).toThrow(/expected labels 0-9/);
    expect(() => parseClasses('1,1')).toThrow(/class 1 is given twice/);
  });

  test('--noises: a list of the four colours, each once', () => {
    expect(parseNoises('white,pink')).toEqual(['white', 'pink']);
    expect(() => parseNoises('white,purple')).toThrow(/expected a list of white, pink, brown, babble/);
    expect(() => parseNoises('pink,pink')).toThrow(/given twice/);
  });

  test('each is an option of its own task', () => {
    const base = { dataDir: undefined, pixelsPerStep: 4, dataSeed: 1 };
    expect(() => taskSpec({ ...base, task: 'sfmnist', noises: ['white'] })).toThrow('--noises is an option of the denoise task');
    expect(() => taskSpec({ ...base, task: 'denoise', classes: [1] })).toThrow('--classes is an option of the sfmnist task');
    expect(taskSpec({ ...base, task: 'denoise', noises: ['brown'] })).toMatchObject({ name: 'denoise', noises: ['brown'] });
  });
});

describe('clampToGrids', () => {
  test('moves only values beyond ±127 steps of their grid, to the edge; B̄ through B', () => {
    const model = trainedLike(12, 0.5);
    const base = quantizeModel(model, { sequences: [{ data: Float64Array.from({ length: 40 * 5 }, (_, i) => Math.sin(i)), T: 40 }] });
    const grids = gridsOf(base);
    const { params } = importModel(model);
    const before = paramRefs(params).map((r) => Float64Array.from(r.value));
    // Inside the box: nothing moves.
    expect(clampToGrids(params, grids)).toBe(0);
    paramRefs(params).forEach((r, k) => expect(Array.from(r.value)).toEqual(Array.from(before[k])));
    // Push one decoder weight and one B entry far out.
    const f = grids.get('decoder.weight')![0];
    params.decW[3] = 1000 * 2 ** -f;
    params.layers[0].Bre[5] *= 1000;
    params.layers[0].Bim[5] *= 1000;
    expect(clampToGrids(params, grids)).toBe(2);
    expect(params.decW[3]).toBe(127 * 2 ** -f);
    const d = discretize(params.layers[0], model.config.d_model);
    const bf = grids.get('layers.0.ssm.B')![0];
    expect(Math.max(Math.abs(d.bbRe[5]), Math.abs(d.bbIm[5])) * 2 ** bf).toBeCloseTo(127, 6);
  });
});
