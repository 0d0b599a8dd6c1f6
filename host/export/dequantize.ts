// ============================================================================
// Dequantization: the float model a w8a16 model stands for. Every stored
// integer q with fractional bits f becomes q · 2^(−f) (docs/quantization.md):
//
//   weight rows       int8 · 2^(−rowFrac[r])          (B and C: re and im share)
//   Λ                 int16 · 2^(−15)                 (Q15)
//   norm scale/shift  scale · 2^(−normScaleFrac),  shift · 2^(−(normScaleFrac + uIn))
//   D                 int8 · 2^(−dFrac)
//   biases            int32 at their accumulator's frac (row frac + input frac)
//
// The result is the quantized model's weights in float, i.e. the ORIGINAL float
// model with the quantizer's weight rounding (and clamping) included. It is not
// the integer step: activations are not rounded, saturated or looked up in the
// GELU/sigmoid tables, so runFloat of this model differs from runInt by the
// activation quantization only. Used to export a quantized model to ONNX.
// Cost: one pass over the weights, O(nnz); sparse matrices stay CSR.
// ============================================================================

import { LAMBDA_FRAC, QMatrix, QuantModel } from '../model/quant';
import { LayerWeights, Matrix, Model } from '../model/types';

/** int8 weights × 2^(−rowFrac) per row; CSR structure kept as is. */
function dequantizeMatrix(m: QMatrix): Matrix {
  const values = new Float32Array(m.values.length);
  const rowScale = (r: number): number => 2 ** -m.rowFrac[r];
  if (m.kind === 'dense') {
    for (let r = 0; r < m.rows; r++) {
      const scale = rowScale(r);
      for (let c = 0; c < m.cols; c++) values[r * m.cols + c] = m.values[r * m.cols + c] * scale;
    }
    return { kind: 'dense', rows: m.rows, cols: m.cols, values };
  }
  const indptr = m.indptr!;
  for (let r = 0; r < m.rows; r++) {
    const scale = rowScale(r);
    for (let k = indptr[r]; k < indptr[r + 1]; k++) values[k] = m.values[k] * scale;
  }
  return { kind: 'csr', rows: m.rows, cols: m.cols, indptr: indptr.slice(), indices: m.indices!.slice(), values };
}

/** q[i] · 2^(−frac(i)), rounded once to float32 (int32 biases may lose their low bits). */
function dequantizeVector(q: ArrayLike<number>, frac: (i: number) => number): Float32Array {
  return Float32Array.from({ length: q.length }, (_, i) => q[i] * 2 ** -frac(i));
}

/**
 * The float Model whose weights are exactly the quantized model's (its rounding
 * included); config unchanged; metadata gains `dequantized: "w8a16"`.
 */
export function dequantizeModel(q: QuantModel): Model {
  const layers: LayerWeights[] = q.layers.map((L) => {
    const f = L.fmt;
    const layer: LayerWeights = {
      normScale: dequantizeVector(L.normScale, () => L.normScaleFrac),
      normShift: dequantizeVector(L.normShift, () => L.normScaleFrac + f.uIn),
      lambdaRe: dequantizeVector(L.lambdaRe, () => LAMBDA_FRAC),
      lambdaIm: dequantizeVector(L.lambdaIm, () => LAMBDA_FRAC),
      B_re: dequantizeMatrix(L.B_re),
      B_im: dequantizeMatrix(L.B_im),
      C_re: dequantizeMatrix(L.C_re),
      C_im: dequantizeMatrix(L.C_im),
      D: dequantizeVector(L.D, () => L.dFrac),
    };
    if (q.config.gate) {
      const gFrac = L.gateWeight!.rowFrac;
      layer.gateWeight = dequantizeMatrix(L.gateWeight!);
      layer.gateBias = dequantizeVector(L.gateBias!, (h) => gFrac[h] + f.a);
    }
    if (L.smaWeight) {
      // The decision row w₁ − w₀ as logits (0, w_d·y + b_d): the same argmax.
      const d = dequantizeMatrix(L.smaWeight);
      const row = d.kind === 'dense' ? d.values : Float32Array.from({ length: d.cols }, (_, h) => { const k = Array.from(d.indices).indexOf(h); return k < 0 ? 0 : d.values[k]; });
      const w = new Float32Array(2 * d.cols);
      w.set(row, d.cols);
      layer.smaWeight = { kind: 'dense', rows: 2, cols: d.cols, values: w };
      layer.smaBias = Float32Array.of(0, dequantizeVector(L.smaBias!, () => L.smaWeight!.rowFrac[0] + f.y)[0]);
    }
    return layer;
  });
  const lastFrac = q.layers.length > 0 ? q.layers[q.layers.length - 1].fmt.uOut : q.encoderFrac;
  return {
    config: { ...q.config },
    encoderWeight: dequantizeMatrix(q.encoderWeight),
    encoderBias: dequantizeVector(q.encoderBias, (h) => q.encoderWeight.rowFrac[h] + q.inputFrac),
    layers,
    decoderWeight: dequantizeMatrix(q.decoderWeight),
    decoderBias: dequantizeVector(q.decoderBias, (j) => q.decoderWeight.rowFrac[j] + lastFrac),
    metadata: { ...q.metadata, dequantized: q.scheme },
  };
}
