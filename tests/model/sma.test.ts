// Sparse Modular Activation in the model format and both references: an SMA block whose
// decision is forced on is the gated block, forced off it is the ungated block (float and
// integer, bit for bit on the integer side); free decisions follow l₁ > l₀ computed by hand
// from the observed SSM output; files round-trip; a config with sma and no gate is refused.

import { quantizeModel } from '../../host/compress/quantize';
import { dequantizeModel } from '../../host/export/dequantize';
import { modelToTensorFile, parseModel, serializeModel } from '../../host/model/model';
import { parseAnyModel, serializeQuantModel } from '../../host/model/quant_file';
import { serializeSafetensors } from '../../host/model/safetensors';
import { randomModel } from '../../host/model/random';
import { Model } from '../../host/model/types';
import { runFloat, stepFloat, zeroState } from '../../host/reference/float';
import { IntTrace, quantizeInput, runInt, stepInt, zeroIntState } from '../../host/reference/int';

const CONFIG = { d_in: 3, d_model: 8, d_state: 5, d_out: 2, n_layers: 2, act: 'gelu' as const, encoder_act: 'none' as const, gate: true, sparsity: 0.4, seed: 7 };
const sma = randomModel({ ...CONFIG, sma: true });
const T = 60;
const x = Float64Array.from({ length: T * 3 }, (_, i) => Math.sin(0.31 * i) + 0.5 * Math.cos(0.07 * i * i));

/** The SMA model with its decision forced: bias +big on the run logit (on) or on the skip logit (off). */
function forced(m: Model, on: boolean): Model {
  return { ...m, layers: m.layers.map((L) => ({ ...L, smaWeight: { kind: 'dense', rows: 2, cols: 8, values: new Float32Array(16) }, smaBias: on ? Float32Array.of(0, 1000) : Float32Array.of(1000, 0) })) };
}
const gated: Model = { ...sma, config: { ...sma.config, sma: undefined }, layers: sma.layers.map(({ smaWeight: _w, smaBias: _b, ...L }) => L) };
delete (gated.config as { sma?: boolean }).sma;
const ungated: Model = { ...gated, config: { ...gated.config, gate: false }, layers: gated.layers.map(({ gateWeight: _w, gateBias: _b, ...L }) => L) };

describe('float reference', () => {
  test('decision forced on: the gated model; forced off: the ungated model', () => {
    expect(Array.from(runFloat(forced(sma, true), x, T))).toEqual(Array.from(runFloat(gated, x, T)));
    expect(Array.from(runFloat(forced(sma, false), x, T))).toEqual(Array.from(runFloat(ungated, x, T)));
  });

  test('each step runs the gate iff l₁ > l₀, computed by hand from the observed y', () => {
    const state = zeroState(sma);
    let active = 0;
    let steps = 0;
    for (let t = 0; t < T; t++) {
      const ys: Float64Array[] = [];
      const ms: number[] = [];
      stepFloat(sma, state, x.subarray(t * 3, t * 3 + 3), (tensor, _layer, v) => {
        if (tensor === 'y') ys.push(Float64Array.from(v));
        if (tensor === 'm') ms.push(v[0]);
      });
      sma.layers.forEach((L, i) => {
        const w = L.smaWeight!.kind === 'dense' ? L.smaWeight!.values : new Float32Array(16);
        let l0 = L.smaBias![0];
        let l1 = L.smaBias![1];
        for (let h = 0; h < 8; h++) {
          l0 += w[h] * ys[i][h];
          l1 += w[8 + h] * ys[i][h];
        }
        expect(ms[i]).toBe(l1 > l0 ? 1 : 0);
        active += ms[i];
        steps++;
      });
    }
    // The random logits make both decisions occur.
    expect(active).toBeGreaterThan(0);
    expect(active).toBeLessThan(steps);
  });
});

describe('integer reference', () => {
  const calib = { sequences: [{ data: x, T }] };
  const run = (m: Model): Int16Array => {
    const q = quantizeModel(m, calib);
    return runInt(q, Int16Array.from(x, (v) => quantizeInput(v, q.inputFrac)), T);
  };

  test('decision forced on: bit for bit the gated model; forced off: the ungated model', () => {
    expect(Array.from(run(forced(sma, true)))).toEqual(Array.from(run(gated)));
    expect(Array.from(run(forced(sma, false)))).toEqual(Array.from(run(ungated)));
  });

  test('the stored decision row is w₁ − w₀ and the gate runs iff its accumulator is > 0; it mostly agrees with the float decision', () => {
    const q = quantizeModel(sma, calib);
    const L = q.layers[0];
    expect([L.smaWeight!.rows, L.smaWeight!.cols]).toEqual([1, 8]);
    const w = sma.layers[0].smaWeight!;
    const wv = w.kind === 'dense' ? w.values : new Float32Array(16);
    L.smaWeight!.values.forEach((v, h) => expect(Math.abs(v * 2 ** -L.smaWeight!.rowFrac[0] - (wv[8 + h] - wv[h]))).toBeLessThanOrEqual(2 ** -L.smaWeight!.rowFrac[0] / 2 + 1e-9));
    const trace: IntTrace = { u: [], v: [], y: [], a: [], m: [] };
    const state = zeroIntState(q);
    const floatState = zeroState(sma);
    let agree = 0;
    for (let t = 0; t < T; t++) {
      stepInt(q, state, Int16Array.from(x.subarray(t * 3, t * 3 + 3), (v) => quantizeInput(v, q.inputFrac)), trace);
      stepFloat(sma, floatState, x.subarray(t * 3, t * 3 + 3), (tensor, layer, v) => {
        if (tensor === 'm' && v[0] === trace.m![trace.m!.length - 2 + layer]) agree++;
      });
    }
    // Layer-by-layer: the y of layer 0 by hand → decision.
    expect(trace.m).toHaveLength(2 * T);
    expect(agree / (2 * T)).toBeGreaterThan(0.9);
  });

  test('dequantizing keeps the decisions of the integer model', () => {
    const q = quantizeModel(sma, calib);
    const d = dequantizeModel(q);
    expect(d.config.sma).toBe(true);
    expect(d.layers[1].smaWeight!.rows).toBe(2);
    // Same argmax: the decision logit l₁ − l₀ of the dequantized model is the integer one scaled.
    const row = q.layers[1].smaWeight!.values;
    const dv = d.layers[1].smaWeight!.kind === 'dense' ? d.layers[1].smaWeight!.values : new Float32Array(16);
    row.forEach((v, h) => expect(dv[8 + h] - dv[h]).toBeCloseTo(v * 2 ** -q.layers[1].smaWeight!.rowFrac[0], 12));
  });
});

describe('files', () => {
  test('float and quantized SMA models round-trip', () => {
    const back = parseModel(serializeModel(sma), 'sma.safetensors');
    expect(back.config.sma).toBe(true);
    expect(Array.from(runFloat(back, x, T))).toEqual(Array.from(runFloat(sma, x, T)));
    const q = quantizeModel(sma, { sequences: [{ data: x, T }] });
    const qb = parseAnyModel(serializeQuantModel(q), 'sma.q.safetensors');
    expect(qb.kind).toBe('quantized');
    const xq = Int16Array.from(x, (v) => quantizeInput(v, q.inputFrac));
    expect(Array.from(runInt(qb.model as typeof q, xq, T))).toEqual(Array.from(runInt(q, xq, T)));
  });

  test('sma without gate is refused, naming the field', () => {
    const bytes = serializeModel(ungated);
    const tf = modelToTensorFile(ungated);
    tf.metadata.config = JSON.stringify({ ...ungated.config, sma: true });
    expect(() => parseModel(serializeSafetensors(tf), 'bad.safetensors')).toThrow(/bad\.safetensors: __metadata__\.config\.sma: sma needs gate/);
    expect(parseModel(bytes, 'ok.safetensors').config.sma).toBeUndefined();
  });
});
