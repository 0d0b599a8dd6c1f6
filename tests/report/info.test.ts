// `sparrow info` and the model summaries on SMA models, against definitions computed here:
// MACs with every gate running are the gated model's plus the decision rows; with no gate
// running, the ungated model's plus the decision rows (the same counts of existing models);
// the decision tensors listed, sma on/off stated, the decision accumulator's frac given. Idle
// states (no input or no output) and the MACs of the entries on them, counted by hand.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { quantizeModel } from '../../host/compress/quantize';
import { describeModel, describeQuantModel, idleStatesOf, macsAtGateRate } from '../../host/model/describe';
import { pruneModel } from '../../host/compress/prune';
import { serializeModel } from '../../host/model/model';
import { QuantModel } from '../../host/model/quant';
import { serializeQuantModel } from '../../host/model/quant_file';
import { randomModel } from '../../host/model/random';
import { Model } from '../../host/model/types';
import { describeFile } from '../../host/report/info';
import { makeRng } from '../../host/util/rng';

const H = 10;
const sma = randomModel({ d_in: 2, d_model: H, d_state: 6, d_out: 3, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true, sma: true, sparsity: 0.6, seed: 21 });
const gated: Model = { ...sma, config: { ...sma.config, sma: undefined }, layers: sma.layers.map(({ smaWeight: _w, smaBias: _b, ...L }) => L) };
const ungated: Model = { ...gated, config: { ...gated.config, gate: false }, layers: gated.layers.map(({ gateWeight: _w, gateBias: _b, ...L }) => L) };
const rng = makeRng(21);
const q = quantizeModel(sma, { sequences: [{ data: Float64Array.from({ length: 400 }, () => rng.normal()), T: 200 }] });
const qGated: QuantModel = { ...q, config: { ...q.config, sma: undefined }, layers: q.layers.map(({ smaWeight: _w, smaBias: _b, ...L }) => L) };
const qUngated: QuantModel = { ...qGated, config: { ...qGated.config, gate: false }, layers: qGated.layers.map(({ gateWeight: _w, gateBias: _b, sigmoidLut: _s, ...L }) => L) };

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-info-'));
  fs.writeFileSync(path.join(dir, 'sma.safetensors'), serializeModel(sma));
  fs.writeFileSync(path.join(dir, 'sma.q.safetensors'), serializeQuantModel(q));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('float: MACs are the gated model\'s plus the two logit rows; with no gate running, the ungated model\'s plus the rows', () => {
  const s = describeModel(sma);
  const rows = 2 * 2 * H; // two dense logit rows per layer (randomModel draws them dense)
  expect(s.smaDecisionMacsPerStep).toBe(rows);
  expect(s.macsPerStep).toBe(describeModel(gated).macsPerStep + rows);
  expect(macsAtGateRate(s, 0)).toBe(describeModel(ungated).macsPerStep + rows);
  expect(macsAtGateRate(s, 1)).toBe(s.macsPerStep);
  // Pruning never touches the decision rows: the matrix sparsity is the gated model's.
  expect(s.matrixSparsity).toBeCloseTo(describeModel(gated).matrixSparsity, 12);
  expect(describeModel(gated).gateMacsPerStep).toBe(s.gateMacsPerStep);
  expect(describeModel(ungated).gateMacsPerStep).toBe(0);
});

test('quantized: the one decision row and bias per layer are counted; the same identities hold', () => {
  const s = describeQuantModel(q);
  expect(s.smaDecisionMacsPerStep).toBe(q.layers.reduce((a, L) => a + Array.from(L.smaWeight!.values).filter((v) => v !== 0).length, 0));
  expect(s.macsPerStep).toBe(describeQuantModel(qGated).macsPerStep + s.smaDecisionMacsPerStep);
  expect(macsAtGateRate(s, 0)).toBe(describeQuantModel(qUngated).macsPerStep + s.smaDecisionMacsPerStep);
  expect(s.parameters).toBe(describeQuantModel(qGated).parameters + 2 * (H + 1));
});

test('sparrow info, float: sma on, the rule, the decision tensors and the data-dependent MACs', () => {
  const { text, json } = describeFile(path.join(dir, 'sma.safetensors'));
  expect(text).toMatch(/gate on, sma on$/m);
  expect(text).toMatch(/^SMA decision, per layer and step: the gate runs iff l₁ > l₀/m);
  expect(text).toMatch(/^layers\.1\.sma\.weight +\[2, 10\] /m);
  expect(text).toMatch(/^layers\.1\.sma\.bias +\[2\] /m);
  const s = json as ReturnType<typeof describeModel>;
  expect(text).toContain(`${s.macsPerStep.toLocaleString('en-US')} MACs/step with every gate running (the worst case); SMA makes the gates' ${s.gateMacsPerStep} of them data-dependent`);
  expect(describeFile(path.join(dir, 'sma.safetensors')).text).not.toContain('sma off');
});

test('sparrow info, quantized: the decision row stored dense, its accumulator frac, sma on', () => {
  const { text, json } = describeFile(path.join(dir, 'sma.q.safetensors'));
  expect(text).toMatch(/gate on, sma on$/m);
  expect(text).toMatch(/^layers\.0\.sma\.weight +\[1, 10\] +\d+ +dense /m);
  const j = json as { layers: { decisionFrac: number; y: number }[] };
  j.layers.forEach((l, i) => expect(l.decisionFrac).toBe(q.layers[i].smaWeight!.rowFrac[0] + q.layers[i].fmt.y));
  expect(text).toMatch(/u out +decision acc/);
});

test('a model without SMA says sma off and keeps the plain MACs line', () => {
  fs.writeFileSync(path.join(dir, 'g.safetensors'), serializeModel(gated));
  const { text } = describeFile(path.join(dir, 'g.safetensors'));
  expect(text).toMatch(/gate on, sma off$/m);
  expect(text).toMatch(/\d MACs\/step$/m);
  expect(text).not.toContain('SMA');
});

// ---- idle states (host/model/describe.ts) ----

test('idle states: a state with no input or no output, counted by hand on a 3-state layer, float and quantized', () => {
  const m = randomModel({ d_in: 2, d_model: 2, d_state: 3, d_out: 2, n_layers: 1, act: 'gelu', encoder_act: 'none', gate: false, sparsity: 0, seed: 4 });
  const L = m.layers[0];
  // B (3 × 2): state 0 has no input; state 1 both parts of one entry; state 2 one entry (re and im).
  L.B_re = { kind: 'dense', rows: 3, cols: 2, values: Float32Array.from([0, 0, 0.5, 0, 0.3, 0]) };
  L.B_im = { kind: 'dense', rows: 3, cols: 2, values: Float32Array.from([0, 0, 0.2, 0, -0.4, 0]) };
  // C (2 × 3): state 0 read by both outputs (re only), state 1 by output 0 (re and im), state 2 by none.
  L.C_re = { kind: 'dense', rows: 2, cols: 3, values: Float32Array.from([0.7, 0.6, 0, -0.5, 0, 0]) };
  L.C_im = { kind: 'dense', rows: 2, cols: 3, values: Float32Array.from([0, 0.1, 0, 0, 0, 0]) };
  // Idle: C's 2 entries on state 0 (2 MACs) and B's entry on state 2 (2 MACs).
  const expected = [{ layer: 0, noInput: 1, noOutput: 1, idleEntries: 3, idleMacs: 4 }];
  expect(idleStatesOf(m)).toEqual(expected);
  const rngQ = makeRng(4);
  const qm = quantizeModel(m, { sequences: [{ data: Float64Array.from({ length: 200 }, () => rngQ.normal()), T: 100 }] });
  expect(idleStatesOf(qm)).toEqual(expected);
  fs.writeFileSync(path.join(dir, 'idle.safetensors'), serializeModel(m));
  const { text, json } = describeFile(path.join(dir, 'idle.safetensors'));
  const macs = describeModel(m).macsPerStep;
  expect(text).toContain(`idle states: layer 0: 1 of 3 states with no input, 1 with no output, 3 B/C entries on them. Those entries' 4 of the ${macs} MACs/step (${((400 / macs)).toFixed(1)}%) compute nothing`);
  expect((json as { idleStates: unknown }).idleStates).toEqual(expected);
});

test('idle states: none after balanced pruning, and no line in sparrow info; magnitude pruning of the same model leaves some', () => {
  const m = randomModel({ d_in: 2, d_model: 16, d_state: 16, d_out: 3, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: false, sparsity: 0, seed: 8 });
  const bal = pruneModel(m, { sparsity: 0.9, distribution: 'erk', saliency: 'balanced' }).model;
  expect(idleStatesOf(bal).every((l) => l.idleEntries === 0)).toBe(true);
  fs.writeFileSync(path.join(dir, 'bal.safetensors'), serializeModel(bal));
  expect(describeFile(path.join(dir, 'bal.safetensors')).text).not.toContain('idle states');
  const mag = pruneModel(m, { sparsity: 0.9, distribution: 'erk', saliency: 'magnitude' }).model;
  expect(idleStatesOf(mag).reduce((a, l) => a + l.idleMacs, 0)).toBeGreaterThan(0);
});
