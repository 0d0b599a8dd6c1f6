// ============================================================================
// Memory layout of an integer (w8a16) firmware, decided at compile time. Same
// regions as layout.ts (header, engine constants, const data, zeroed mutable
// region). Every requantization shift is computed here, per row, from the
// model's fracs, and checked to lie in the range the engine's i64 shifts
// handle exactly; step() never computes a scale.
// ============================================================================

import { QMatrix, QuantModel } from '../model/quant';
import { SparrowError } from '../util/errors';
import { WASM_PAGE_BYTES } from './abi';
import { ABI_I16 as ABI } from './abi_i16';
import { ALIGN, alignUp, arena, checkSmaShapes, FirmwareLayout, MatrixStorage, MemoryRegion, writeHeader } from './layout';
import { nonzerosOf } from './unrolled';
import { modelShifts } from './shifts';
import { chooseFormat, encodeIndex, EncodedIndex, entropyBoundBits, nonzeroPositions, SparseFormat } from '../compress/formats';

export interface IntGoldenVectors {
  steps: number;
  /** [steps, d_in] int16 inputs. */
  inputs: Int16Array;
  /** [steps, d_out] int16 outputs of the integer reference. */
  outputs: Int16Array;
}

function forcedFormat(m: QMatrix, format: SparseFormat, name: string): EncodedIndex {
  try {
    return encodeIndex(m, format);
  } catch (e) {
    throw new SparrowError(`${name}: --format ${format}: ${(e as Error).message}`);
  }
}

function denseValues(m: QMatrix): Int8Array {
  if (m.kind === 'dense') return m.values;
  const out = new Int8Array(m.rows * m.cols);
  for (let r = 0; r < m.rows; r++) for (let k = m.indptr![r]; k < m.indptr![r + 1]; k++) out[r * m.cols + m.indices![k]] = m.values[k];
  return out;
}

/** The int8 values at row-major positions `pos` (the order every sparse kernel consumes them in). */
function valuesAt(m: QMatrix, pos: Int32Array): Int8Array {
  if (m.kind === 'csr') return m.values.slice(); // CSR values are already in row-major nonzero order
  return Int8Array.from(pos, (p) => m.values[p]);
}

/** checkSmaShapes (layout.ts) for the integer engine: one decision row [1, H] and one int32 bias per layer. */
export function checkSma(model: QuantModel): boolean {
  return checkSmaShapes(model.config, model.layers, 1);
}

/** Per matrix: table-driven kernel (the storage format from `format`) or weights in code. */
export type KernelStrategy = 'csr' | 'unrolled';

export interface LayoutI16Options {
  /** Storage format of table-driven matrices, or 'auto' (the smallest per matrix). */
  format?: SparseFormat | 'auto';
  /** Kernel strategy of each matrix, by name (`layers.0.ssm.B_re`, …); default 'csr'. */
  kernel?: (name: string, m: QMatrix) => KernelStrategy;
  /** Reserve the op counters (profile engine). */
  profile?: boolean;
}

export interface LayoutI16 extends FirmwareLayout {
  /** Matrices compiled to code, in function-number order (M_INDPTR of their descriptors). */
  unrolled: QMatrix[];
}

export function layoutI16(model: QuantModel, golden: IntGoldenVectors, engineDataEnd: number, opts: LayoutI16Options = {}): LayoutI16 {
  const format = opts.format ?? 'auto';
  const unrolled: QMatrix[] = [];
  const c = model.config;
  const H = c.d_model;
  const P = c.d_state;
  const constStart = alignUp(Math.max(engineDataEnd, ABI.HEADER + ABI.HEADER_BYTES), ALIGN);
  const k = arena(constStart);
  let weightBytes = 0;
  let indexBytes = 0;

  const sh = modelShifts(model);
  const storage: MatrixStorage[] = [];
  const matrix = (m: QMatrix, name: string): number => {
    if ((opts.kernel?.(name, m) ?? 'csr') === 'unrolled') {
      const nnz = nonzerosOf(m).values.length;
      const desc = k.alloc(ABI.MATRIX_BYTES);
      k.u32(desc + ABI.M_KIND, ABI.KIND_UNROLLED);
      k.u32(desc + ABI.M_ROWS, m.rows);
      k.u32(desc + ABI.M_COLS, m.cols);
      k.u32(desc + ABI.M_VALUES, nnz); // for the op counters
      k.u32(desc + ABI.M_INDPTR, unrolled.length);
      unrolled.push(m);
      storage.push({ name, format: 'unrolled', nonzeros: nnz, indexBytes: 0, valueBytes: 0, entropyBoundBytes: Math.ceil(entropyBoundBits(m.rows * m.cols, nnz) / 8) });
      return desc;
    }
    const enc = format === 'auto' ? chooseFormat(m) : forcedFormat(m, format, name);
    const pos = nonzeroPositions(m);
    const values = enc.format === 'dense' ? denseValues(m) : valuesAt(m, pos);
    const desc = k.alloc(ABI.MATRIX_BYTES);
    k.u32(desc + ABI.M_ROWS, m.rows);
    k.u32(desc + ABI.M_COLS, m.cols);
    k.u32(desc + ABI.M_VALUES, k.put(values));
    const wide = enc.rowPointerBytes === 4 * (m.rows + 1);
    const kinds: Record<SparseFormat, number> = {
      dense: ABI.KIND_DENSE,
      csr16: wide ? ABI.KIND_CSR16_P32 : ABI.KIND_CSR16_P16,
      csr8: wide ? ABI.KIND_CSR8_P32 : ABI.KIND_CSR8_P16,
      delta8: ABI.KIND_DELTA8,
      delta4: ABI.KIND_DELTA4,
      bitmap: ABI.KIND_BITMAP,
    };
    k.u32(desc + ABI.M_KIND, kinds[enc.format]);
    if (enc.format === 'csr8' || enc.format === 'csr16') {
      k.u32(desc + ABI.M_INDPTR, k.put(enc.index.slice(0, enc.rowPointerBytes)));
      k.u32(desc + ABI.M_INDICES, k.put(enc.index.slice(enc.rowPointerBytes)));
    } else if (enc.format !== 'dense') {
      k.u32(desc + ABI.M_INDPTR, pos.length);
      k.u32(desc + ABI.M_INDICES, k.put(enc.index));
    }
    weightBytes += values.byteLength;
    indexBytes += enc.index.length;
    storage.push({ name, format: enc.format, nonzeros: pos.length, indexBytes: enc.index.length, valueBytes: values.length, entropyBoundBytes: Math.ceil(entropyBoundBits(m.rows * m.cols, pos.length) / 8) });
    return desc;
  };
  const data = (v: Int8Array | Int16Array | Int32Array): number => {
    weightBytes += v.byteLength;
    return k.put(v);
  };

  const sma = checkSma(model);
  const layerBytes = sma ? ABI.LAYER_BYTES_SMA : ABI.LAYER_BYTES;
  const encoder = matrix(model.encoderWeight, 'encoder.weight');
  const encoderBias = data(model.encoderBias);
  const encoderShift = k.put(sh.encoder);
  const layerTable = k.alloc(layerBytes * c.n_layers);
  const layerPtrs = model.layers.map((L, i) => {
    const d = layerTable + i * layerBytes;
    const w = `layers.${i}`;
    const ls = sh.layers[i];
    k.u32(d + ABI.L_NORM_SCALE, data(L.normScale));
    k.u32(d + ABI.L_NORM_SHIFT, data(L.normShift));
    k.u32(d + ABI.L_NORM_K, ls.norm);
    k.u32(d + ABI.L_LAMBDA_RE, data(L.lambdaRe));
    k.u32(d + ABI.L_LAMBDA_IM, data(L.lambdaIm));
    k.u32(d + ABI.L_B_RE, matrix(L.B_re, `${w}.ssm.B_re`));
    k.u32(d + ABI.L_B_IM, matrix(L.B_im, `${w}.ssm.B_im`));
    k.u32(d + ABI.L_B_SHIFT, k.put(ls.B));
    k.u32(d + ABI.L_C_RE, matrix(L.C_re, `${w}.ssm.C_re`));
    k.u32(d + ABI.L_C_IM, matrix(L.C_im, `${w}.ssm.C_im`));
    k.u32(d + ABI.L_C_SHIFT, k.put(ls.C));
    k.u32(d + ABI.L_D, data(L.D));
    k.u32(d + ABI.L_D_K, ls.D);
    if (c.act === 'gelu') k.u32(d + ABI.L_ACT_LUT, data(L.actLut!));
    if (c.gate) {
      k.u32(d + ABI.L_GATE_W, matrix(L.gateWeight!, `${w}.gate.weight`));
      k.u32(d + ABI.L_GATE_BIAS, data(L.gateBias!));
      k.u32(d + ABI.L_GATE_SHIFT, k.put(ls.gate!));
      k.u32(d + ABI.L_SIGMOID_LUT, data(L.sigmoidLut!));
    }
    if (sma) {
      // The decision row is a dense table whatever --format and --kernel say: H bytes, H MACs.
      const desc = k.alloc(ABI.MATRIX_BYTES);
      k.u32(desc + ABI.M_KIND, ABI.KIND_DENSE);
      k.u32(desc + ABI.M_ROWS, 1);
      k.u32(desc + ABI.M_COLS, H);
      k.u32(desc + ABI.M_VALUES, data(denseValues(L.smaWeight!)));
      k.u32(d + ABI.L_SMA_W, desc);
      k.u32(d + ABI.L_SMA_BIAS, L.smaBias![0]);
    }
    k.u32(d + ABI.L_U_K, ls.u);
    k.u32(d + ABI.L_Z_K, ls.z);
    return d;
  });
  const decoder = matrix(model.decoderWeight, 'decoder.weight');
  const decoderBias = data(model.decoderBias);
  const decoderShift = k.put(sh.decoder);
  const goldenInput = k.put(golden.inputs);
  const goldenOutput = k.put(golden.outputs);
  const constEnd = k.end();

  // Mutable region.
  const stateStart = alignUp(constEnd, ALIGN);
  let cursor = stateStart;
  const buffer = (bytes: number): number => {
    const addr = alignUp(cursor, ALIGN);
    cursor = addr + bytes;
    return addr;
  };
  const input = buffer(2 * c.d_in);
  const output = buffer(2 * c.d_out);
  const [u, v, y, a, z] = [buffer(2 * H), buffer(2 * H), buffer(2 * H), buffer(2 * H), buffer(2 * H)];
  const accLen = Math.max(H, P, c.d_out);
  const accRe = buffer(4 * accLen);
  const accIm = buffer(4 * accLen);
  const statesStart = alignUp(cursor, ALIGN);
  for (const d of layerPtrs) {
    k.u32(d + ABI.L_STATE_RE, buffer(2 * P));
    k.u32(d + ABI.L_STATE_IM, buffer(2 * P));
  }
  const counters = opts.profile ? buffer(8 * ABI.N_COUNTERS) : 0; // inside [stateStart, stateEnd): reset() clears it
  const stateEnd = alignUp(cursor, ALIGN);

  const goldenBytes = golden.inputs.byteLength + golden.outputs.byteLength;
  const regions: MemoryRegion[] = [
    { name: 'weights, biases, tables, shifts', bytes: weightBytes, kind: 'const' },
    { name: 'sparse indices (compact formats)', bytes: indexBytes, kind: 'const' },
    { name: 'golden vectors', bytes: goldenBytes, kind: 'const' },
    { name: 'header, descriptors, alignment', bytes: ABI.HEADER_BYTES + (constEnd - constStart) - weightBytes - indexBytes - goldenBytes, kind: 'const' },
    { name: 'io buffers', bytes: 2 * (c.d_in + c.d_out), kind: 'mutable' },
    { name: 'scratch', bytes: 10 * H + 8 * accLen, kind: 'mutable' },
    { name: 'ssm state', bytes: stateEnd - statesStart - (opts.profile ? 8 * ABI.N_COUNTERS : 0), kind: 'mutable' },
    ...(opts.profile ? [{ name: 'op counters (--profile)', bytes: 8 * ABI.N_COUNTERS, kind: 'mutable' as const }] : []),
  ];

  const header = writeHeader(ABI, {
    H_MAGIC: ABI.MAGIC,
    H_ABI: ABI.ABI_VERSION,
    H_D_IN: c.d_in,
    H_D_MODEL: H,
    H_D_STATE: P,
    H_D_OUT: c.d_out,
    H_N_LAYERS: c.n_layers,
    H_FLAGS: (c.act === 'gelu' ? ABI.FLAG_GELU : 0) | (c.encoder_act === 'relu' ? ABI.FLAG_ENCODER_RELU : 0) | (c.gate ? ABI.FLAG_GATE : 0) | (sma ? ABI.FLAG_SMA : 0),
    H_INPUT: input,
    H_OUTPUT: output,
    H_U: u,
    H_V: v,
    H_Y: y,
    H_A: a,
    H_Z: z,
    H_ACC_RE: accRe,
    H_ACC_IM: accIm,
    H_ENCODER: encoder,
    H_ENCODER_BIAS: encoderBias,
    H_ENCODER_SHIFT: encoderShift,
    H_DECODER: decoder,
    H_DECODER_BIAS: decoderBias,
    H_DECODER_SHIFT: decoderShift,
    H_LAYERS: layerTable,
    H_GOLDEN_STEPS: golden.steps,
    H_GOLDEN_INPUT: goldenInput,
    H_GOLDEN_OUTPUT: goldenOutput,
    H_INPUT_FRAC: model.inputFrac,
    H_OUTPUT_FRAC: model.outputFrac,
    H_STATE_START: stateStart,
    H_STATE_END: stateEnd,
    H_COUNTERS: counters,
  });

  return {
    header,
    constStart,
    constBytes: k.bytes().slice(),
    stateStart,
    stateEnd,
    pages: Math.max(1, Math.ceil(stateEnd / WASM_PAGE_BYTES)),
    regions,
    matrices: storage,
    unrolled,
  };
}
