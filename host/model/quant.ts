// ============================================================================
// Quantized (w8a16) model types. Every real number r is an integer q with a
// power-of-two scale: r = q · 2^(−frac), `frac` = fractional bits. Weights are
// int8 with one frac per matrix row (shared by the real and imaginary parts
// of a complex matrix), activations and states are int16 with one frac per
// tensor, Λ is Q15 int16, biases are int32 at their accumulator's scale.
// The arithmetic is defined by host/reference/int.ts; docs/quantization.md
// explains it.
// ============================================================================

import { ModelConfig } from './types';

export const QUANT_SCHEME = 'w8a16';
/** Fractional bits of Λ (Q15): |Λ| < 1. */
export const LAMBDA_FRAC = 15;
/** Fractional bits of the sigmoid LUT output (Q15, 0 … 32767). */
export const SIGMOID_FRAC = 15;
/** LUT entries: the int16 input range in 256 steps of 256, plus the right end point. */
export const LUT_ENTRIES = 257;

export interface QMatrix {
  kind: 'dense' | 'csr';
  rows: number;
  cols: number;
  /** int8 weights: row-major [rows·cols] (dense) or [nnz] (CSR). */
  values: Int8Array;
  /** CSR only. */
  indptr?: Int32Array;
  indices?: Int32Array;
  /** Fractional bits of each row's weights. */
  rowFrac: Int8Array;
}

/** Fractional bits of one layer's int16 tensors. */
export interface LayerFormats {
  /** Residual stream entering the layer. */
  uIn: number;
  v: number;
  /** State components (re and im). */
  s: number;
  y: number;
  a: number;
  /** Gate pre-activation W_g a + b_g (gate only; 0 otherwise). */
  g: number;
  /** Residual stream leaving the layer. */
  uOut: number;
}

export interface QLayer {
  fmt: LayerFormats;
  /** v = scale·u + shift: int16 scale with `normScaleFrac`, int32 shift at frac normScaleFrac + uIn. */
  normScale: Int16Array;
  normScaleFrac: number;
  normShift: Int32Array;
  /** Q15. */
  lambdaRe: Int16Array;
  lambdaIm: Int16Array;
  B_re: QMatrix;
  B_im: QMatrix;
  C_re: QMatrix;
  C_im: QMatrix;
  /** int8 D with `dFrac`. */
  D: Int8Array;
  dFrac: number;
  /** GELU table (input frac y → output frac a); absent for relu, where a = max(y, 0) and fmt.a = fmt.y. */
  actLut?: Int16Array;
  gateWeight?: QMatrix;
  /** int32 at frac gateWeight.rowFrac[h] + fmt.a. */
  gateBias?: Int32Array;
  /** Sigmoid table (input frac g → Q15). */
  sigmoidLut?: Int16Array;
  /**
   * SMA only: the difference of the two logit rows, w₁ − w₀, as one int8 row [1, H]; the gate
   * runs this step iff smaWeight·y + smaBias > 0 (int32 at frac smaWeight.rowFrac[0] + fmt.y).
   */
  smaWeight?: QMatrix;
  smaBias?: Int32Array; // [1]
}

export interface QuantModel {
  config: ModelConfig;
  scheme: typeof QUANT_SCHEME;
  /** Input x and output o formats: x_q = sat16(round(x·2^inputFrac)). */
  inputFrac: number;
  outputFrac: number;
  encoderWeight: QMatrix;
  /** int32 at frac encoderWeight.rowFrac[h] + inputFrac. */
  encoderBias: Int32Array;
  /** Format of the residual stream after the encoder (= layers[0].fmt.uIn). */
  encoderFrac: number;
  layers: QLayer[];
  decoderWeight: QMatrix;
  /** int32 at frac decoderWeight.rowFrac[j] + (last layer's uOut). */
  decoderBias: Int32Array;
  metadata: Record<string, string>;
}
