// `sparrow info` and the model summaries on SMA models, against definitions computed here:
// MACs with every gate running are the gated model's plus the decision rows; with no gate
// running, the ungated model's plus the decision rows (the same counts of existing models);
// the decision tensors listed, sma on/off stated, the decision accumulator's frac given.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { quantizeModel } from '../../host/compress/quantize';
import { describeModel, describeQuantModel, macsAtGateRate } from '../../host/model/describe';
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
