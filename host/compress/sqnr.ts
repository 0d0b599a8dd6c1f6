// ============================================================================
// Signal-to-quantization-noise ratio of a quantized model against its float
// model on the same inputs: SQNR = 10·log10(Σ ref² / Σ (ref − dequant)²) dB,
// for each block's output (the residual stream) and for the model output.
// ============================================================================

import { QuantModel } from '../model/quant';
import { Model } from '../model/types';
import { stepFloat, zeroState } from '../reference/float';
import { IntTrace, quantizeInput, stepInt, zeroIntState } from '../reference/int';
import { CalibrationSet } from './quantize';

export interface SqnrReport {
  /** Residual stream after the encoder (index 0) and after each layer. */
  blocks: { name: string; sqnrDb: number }[];
  outputDb: number;
  steps: number;
}

const db = (signal: number, noise: number): number => (noise === 0 ? Infinity : 10 * Math.log10(signal / noise));

export function measureSqnr(model: Model, qmodel: QuantModel, data: CalibrationSet): SqnrReport {
  const L = model.config.n_layers;
  const sig = new Float64Array(L + 2);
  const noise = new Float64Array(L + 2);
  const { d_in } = model.config;
  let steps = 0;
  const fracs = [qmodel.encoderFrac, ...qmodel.layers.map((l) => l.fmt.uOut)];
  for (const seq of data.sequences) {
    const fs = zeroState(model);
    const is = zeroIntState(qmodel);
    for (let t = 0; t < seq.T; t++, steps++) {
      const x = Array.from({ length: d_in }, (_, j) => Number(seq.data[t * d_in + j]));
      const floatU: Float64Array[] = [];
      const ref = stepFloat(model, fs, x, (tensor, _layer, values) => {
        if (tensor === 'u') floatU.push(values.slice());
      });
      const trace: IntTrace = { u: [], v: [], y: [], a: [] };
      const out = stepInt(qmodel, is, x.map((v) => quantizeInput(v, qmodel.inputFrac)), trace);
      floatU.forEach((u, b) => {
        const scale = 2 ** -fracs[b];
        for (let h = 0; h < u.length; h++) {
          sig[b] += u[h] * u[h];
          noise[b] += (u[h] - trace.u[b][h] * scale) ** 2;
        }
      });
      const oScale = 2 ** -qmodel.outputFrac;
      for (let j = 0; j < ref.length; j++) {
        sig[L + 1] += ref[j] * ref[j];
        noise[L + 1] += (ref[j] - out[j] * oScale) ** 2;
      }
    }
  }
  return {
    blocks: Array.from({ length: L + 1 }, (_, b) => ({ name: b === 0 ? 'encoder' : `layer ${b - 1}`, sqnrDb: db(sig[b], noise[b]) })),
    outputDb: db(sig[L + 1], noise[L + 1]),
    steps,
  };
}
