// Fake quantization for QAT lands every weight where `sparrow quantize` puts it: the
// definition is quantizeModel followed by dequantizeModel (host/compress, host/export).

import { quantizeModel } from '../../host/compress/quantize';
import { dequantizeModel } from '../../host/export/dequantize';
import { toDense } from '../../host/model/model';
import { randomModel } from '../../host/model/random';
import { Matrix } from '../../host/model/types';
import { effective } from '../../host/train/backprop';
import { exportModel, initParams } from '../../host/train/params';
import { fakeQuantize, fakeQuantizeLambda } from '../../host/train/qat';
import { computeMasks } from '../../host/train/trainer';
import { makeRng } from '../../host/util/rng';

const f64 = (m: Matrix): Float64Array => Float64Array.from(toDense(m).values);

test.each([0, 0.8])('weights, D and Λ̄ fake-quantized equal the quantizer\'s dequantized values (sparsity %p)', (sparsity) => {
  const model = randomModel({ d_in: 3, d_model: 10, d_state: 6, d_out: 2, n_layers: 2, act: 'gelu', encoder_act: 'none', gate: true, sparsity, seed: 11 });
  const rng = makeRng(2);
  const q = quantizeModel(model, { sequences: [{ data: Float64Array.from({ length: 300 }, () => rng.normal()), T: 100 }] });
  const d = dequantizeModel(q);
  const same = (got: Float64Array, want: Matrix | Float32Array) => expect(Array.from(got)).toEqual(Array.from(want instanceof Float32Array ? want : toDense(want).values));
  same(fakeQuantize([f64(model.encoderWeight)], 127, 'enc')[0], d.encoderWeight);
  same(fakeQuantize([f64(model.decoderWeight)], 127, 'dec')[0], d.decoderWeight);
  model.layers.forEach((L, l) => {
    const [bRe, bIm] = fakeQuantize([f64(L.B_re), f64(L.B_im)], 127, 'B');
    same(bRe, d.layers[l].B_re);
    same(bIm, d.layers[l].B_im);
    const [cRe, cIm] = fakeQuantize([f64(L.C_re), f64(L.C_im)], 127, 'C');
    same(cRe, d.layers[l].C_re);
    same(cIm, d.layers[l].C_im);
    same(fakeQuantize([Float64Array.from(L.D)], 127, 'D')[0], d.layers[l].D);
    same(fakeQuantize([f64(L.gateWeight!)], 127, 'gate')[0], d.layers[l].gateWeight!);
    const [lr, li] = fakeQuantizeLambda(Float64Array.from(L.lambdaRe), Float64Array.from(L.lambdaIm));
    same(lr, d.layers[l].lambdaRe);
    same(li, d.layers[l].lambdaIm);
  });
});

test('a hand case: max |w| = 0.5 → grid 2^−7 (2^8 · 0.5 = 128 would overflow int8)', () => {
  // fracFor: the largest f with round(max·2^f) ≤ 127. max 0.5: f = 7 gives 64, f = 8 would give 128.
  const [q] = fakeQuantize([Float64Array.from([0.5, -0.25, 0.0039, 0.004, -0.3])], 127, 'w');
  // grid 2^-7 = 0.0078125: 0.0039 → round(0.49920) = 0; 0.004 → round(0.512) = 1; −0.3 → −round(38.4) = −38
  expect(Array.from(q)).toEqual([0.5, -0.25, 0, 1 / 128, -38 / 128]);
});

test('under QAT the forward pass uses exactly the weights `sparrow quantize` stores for the exported model', () => {
  const config = { d_in: 3, d_model: 8, d_state: 5, d_out: 2, n_layers: 2, act: 'gelu' as const, encoder_act: 'none' as const, gate: true };
  const p = initParams(config, 4);
  const masks = computeMasks(p, 0.5, 'uniform');
  const rng = makeRng(5);
  const model = exportModel(p, masks);
  const d = dequantizeModel(quantizeModel(model, { sequences: [{ data: Float64Array.from({ length: 150 }, () => rng.normal()), T: 50 }] }));
  const eff = effective(p, masks, true);
  const H = 8;
  const P = 5;
  const same = (got: ArrayLike<number>, want: Matrix | Float32Array) => expect(Array.from(got)).toEqual(Array.from(want instanceof Float32Array ? want : toDense(want).values));
  same(eff.encW, d.encoderWeight);
  same(eff.decW, d.decoderWeight);
  eff.layers.forEach((E, l) => {
    const D = d.layers[l];
    same(E.bb.subarray(0, P * H), D.B_re);
    same(E.bb.subarray(P * H), D.B_im);
    same(Float64Array.from({ length: H * P }, (_, k) => E.cc[Math.floor(k / P) * 2 * P + (k % P)]), D.C_re);
    same(Float64Array.from({ length: H * P }, (_, k) => -E.cc[Math.floor(k / P) * 2 * P + P + (k % P)] + 0), D.C_im);
    same(E.D, D.D);
    same(E.gateW!, D.gateWeight!);
    same(E.d.lbRe, D.lambdaRe);
    same(E.d.lbIm, D.lambdaIm);
  });
  // Without QAT the same weights are the float ones (masked): most differ from the grid.
  expect(Array.from(effective(p, masks, false).encW)).not.toEqual(Array.from(eff.encW));
});
