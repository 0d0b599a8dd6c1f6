// w8a16 quantization: accuracy against the float model, formats, and refusals.

import { buildLut, CalibrationSet, fracFor, quantizeModel } from '../../host/compress/quantize';
import { measureSqnr } from '../../host/compress/sqnr';
import { randomModel } from '../../host/model/random';
import { gelu } from '../../host/reference/float';
import { lutLookup } from '../../host/reference/int';
import { SparrowError } from '../../host/util/errors';
import { makeRng } from '../../host/util/rng';

function gaussian(T: number, d: number, seed: number): CalibrationSet {
  const rng = makeRng(seed);
  return { sequences: [{ data: Float64Array.from({ length: T * d }, () => rng.normal()), T }] };
}

test('calibrated H=64, P=64, 2 layers, 90% sparse: output SQNR ≥ 30 dB on held-out inputs', () => {
  for (const [act, gate] of [['gelu', true], ['relu', false]] as const) {
    const model = randomModel({ d_in: 1, d_model: 64, d_state: 64, d_out: 2, n_layers: 2, act, encoder_act: 'none', gate, sparsity: 0.9, seed: 5 });
    const q = quantizeModel(model, gaussian(2000, 1, 1));
    const report = measureSqnr(model, q, gaussian(2000, 1, 99));
    expect(report.outputDb).toBeGreaterThanOrEqual(30);
    expect(report.blocks).toHaveLength(3);
    report.blocks.forEach((b) => expect(b.sqnrDb).toBeGreaterThan(30));
  }
});

test('formats: the largest frac that keeps the calibrated range in int16 / int8', () => {
  expect(fracFor(1, 32767, 'x')).toBe(14); // 1·2^15 = 32768 > 32767, so 14
  expect(fracFor(0.999, 32767, 'x')).toBe(15);
  expect(fracFor(3, 127, 'w')).toBe(5); // 3·2^5 = 96 ≤ 127 < 192
  expect(fracFor(200, 32767, 'x')).toBe(7); // 200·128 = 25600
  expect(() => fracFor(1e12, 32767, 'huge')).toThrow(SparrowError);
});

test('the GELU table matches GELU to within interpolation error', () => {
  const fy = 12;
  const fa = 12;
  const lut = buildLut(gelu, fy, fa);
  let worst = 0;
  for (let y = -32768; y <= 32767; y += 37) worst = Math.max(worst, Math.abs(lutLookup(lut, y) * 2 ** -fa - gelu(y * 2 ** -fy)));
  // Step 256·2^-12 = 1/16; |GELU''| ≤ 0.8 → linear interpolation error ≤ (1/16)²/8·0.8 ≈ 4e-4, plus rounding 2^-12.
  expect(worst).toBeLessThan(4e-4 + 2 ** -12);
});

test('per-channel formats give each row its own frac and are at least as accurate', () => {
  const model = randomModel({ d_in: 2, d_model: 32, d_state: 32, d_out: 2, n_layers: 1, act: 'gelu', encoder_act: 'none', gate: false, sparsity: 0.5, seed: 8 });
  const calib = gaussian(500, 2, 3);
  const perTensor = quantizeModel(model, calib);
  const perChannel = quantizeModel(model, calib, { perChannel: true });
  expect(new Set(perTensor.layers[0].C_re.rowFrac).size).toBe(1);
  expect(new Set(perChannel.layers[0].C_re.rowFrac).size).toBeGreaterThan(1);
  expect(Array.from(perChannel.layers[0].C_re.rowFrac)).toEqual(Array.from(perChannel.layers[0].C_im.rowFrac));
  const held = gaussian(500, 2, 4);
  expect(measureSqnr(model, perChannel, held).outputDb).toBeGreaterThan(measureSqnr(model, perTensor, held).outputDb - 0.5);
});

test('refuses an already quantized model and an accumulator that could overflow int32', () => {
  const model = randomModel({ d_in: 1, d_model: 8, d_state: 8, d_out: 1, n_layers: 1, act: 'relu', encoder_act: 'none', gate: false, sparsity: 0, seed: 1 });
  const q = quantizeModel(model, gaussian(100, 1, 1));
  expect(() => quantizeModel({ ...model, metadata: q.metadata }, gaussian(10, 1, 1))).toThrow('already quantized');

  // 1,000 equal weights in one decoder row: 1000·127·32768 > 2^31.
  const wide = randomModel({ d_in: 1, d_model: 1000, d_state: 1, d_out: 1, n_layers: 1, act: 'relu', encoder_act: 'none', gate: false, sparsity: 0, seed: 2 });
  if (wide.decoderWeight.kind === 'dense') wide.decoderWeight.values.fill(0.01);
  expect(() => quantizeModel(wide, gaussian(50, 1, 1))).toThrow(/decoder\.weight: row 0: worst-case accumulator .* exceeds int32/);
});

test('a row whose weights are tiny next to its bias gets a coarser frac, so its bias fits int32', () => {
  // A pruned encoder row left with one tiny weight and a large bias: its natural frac (from the
  // weight) puts the bias at about 2^38, far outside int32. The row's frac is capped by the rule
  // |b|·2^(frac + inputFrac) ≤ 2^30; the other rows keep the frac their weights ask for.
  const model = randomModel({ d_in: 1, d_model: 8, d_state: 8, d_out: 2, n_layers: 1, act: 'gelu', encoder_act: 'none', gate: false, sparsity: 0, seed: 3 });
  if (model.encoderWeight.kind !== 'dense') throw new Error('expected a dense encoder');
  model.encoderWeight.values[0] = 1e-6;
  model.encoderBias[0] = -0.63;
  const q = quantizeModel(model, gaussian(300, 1, 1), { perChannel: true });
  const cap = Math.floor(Math.log2(2 ** 30 / 0.63)) - q.inputFrac;
  expect(q.encoderWeight.rowFrac[0]).toBe(cap);
  expect(Math.abs(q.encoderBias[0])).toBeLessThanOrEqual(2 ** 30);
  // The bias is represented to half a step of its accumulator scale.
  expect(Math.abs(q.encoderBias[0] * 2 ** -(cap + q.inputFrac) - model.encoderBias[0])).toBeLessThanOrEqual(2 ** -(cap + q.inputFrac + 1));
  for (let r = 1; r < 8; r++) expect(q.encoderWeight.rowFrac[r]).toBe(fracFor(Math.abs(model.encoderWeight.values[r]), 127, 'w'));
  expect(measureSqnr(model, q, gaussian(300, 1, 2)).outputDb).toBeGreaterThan(25);
});
