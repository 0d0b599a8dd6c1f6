// ============================================================================
// Where every value of an integer firmware lives. `sparrow compile` writes each
// tensor of the quantized model either into the data segment (vectors, and
// table-driven matrices in their sparse format, values in row-major order of
// the stored entries) or, for weights in code, as the i32.const immediates of
// one generated function per matrix, appended after the engine's functions.
// mapFirmware reads the header, the layer table and the matrix descriptors
// (docs/firmware-abi.md, host/compile/layout_i16.ts) back from the memory image
// that the data segments initialise, and resolves every tensor to the bytes
// that hold it. It reads the firmware only; the model file is not needed.
// ============================================================================

import { ABI_I16 as ABI } from '../compile/abi_i16';
import { decodeUnrolled } from '../compile/unrolled';
import { decodePositions, SparseFormat } from '../compress/formats';
import { LUT_ENTRIES, QMatrix } from '../model/quant';
import { SparrowError } from '../util/errors';
import { parseModule, WASM_PAGE_BYTES, WasmModule } from '../wasm/binary';

export type ElementType = 'i8' | 'i16' | 'i32';
const ELEMENT_BYTES: Record<ElementType, number> = { i8: 1, i16: 2, i32: 4 };

/** A vector in the data segment: element i at addr + i·(element bytes), little-endian. */
export interface DataSlot {
  kind: 'data';
  name: string;
  type: ElementType;
  length: number;
  addr: number;
}

/** A table-driven int8 matrix: stored values at `values`, in the order of `positions` (dense: every position). */
export interface TableSlot {
  kind: 'table';
  name: string;
  rows: number;
  cols: number;
  format: SparseFormat;
  values: number;
  /** Row-major positions of the stored values, increasing; undefined for dense (all rows·cols). */
  positions?: Int32Array;
}

/** Weights in code: generated function `fn` (defined-function index `defined`), decoded back to its nonzeros. */
export interface CodeSlot {
  kind: 'code';
  name: string;
  rows: number;
  cols: number;
  fn: number;
  defined: number;
  matrix: QMatrix;
}

export type TensorSlot = DataSlot | TableSlot | CodeSlot;

export interface FirmwareMap {
  file: string;
  module: WasmModule;
  pages: number;
  /** Linear memory as the data segments initialise it, [0, stateStart). */
  image: Uint8Array;
  config: { d_in: number; d_model: number; d_state: number; d_out: number; n_layers: number; gelu: boolean; gate: boolean; sma: boolean; encoderRelu: boolean };
  goldenSteps: number;
  goldenInputs: Int16Array;
  /** The model's two data ranges as the compiler laid them out: the header, and the const region up to the mutable region. */
  modelRanges: { start: number; end: number }[];
  /** Data segments that belong to the engine: the first this many; the model's follow. */
  engineSegments: number;
  /** Every tensor of the model, by its model-file name, and `golden.outputs`; in layout order. */
  tensors: Map<string, TensorSlot>;
  /** Requantization shifts and the I/O fracs, read-only: what a base model's fracs must give. */
  shifts: Map<string, DataSlot>;
}

const FORMAT_OF_KIND: Record<number, SparseFormat> = {
  [ABI.KIND_DENSE]: 'dense',
  [ABI.KIND_CSR16_P32]: 'csr16',
  [ABI.KIND_CSR16_P16]: 'csr16',
  [ABI.KIND_CSR8_P32]: 'csr8',
  [ABI.KIND_CSR8_P16]: 'csr8',
  [ABI.KIND_DELTA8]: 'delta8',
  [ABI.KIND_DELTA4]: 'delta4',
  [ABI.KIND_BITMAP]: 'bitmap',
};

/** Read an integer firmware's layout; anything that is not one `sparrow compile` wrote is a one-line error. */
export function mapFirmware(bytes: Uint8Array, file: string): FirmwareMap {
  const bad = (problem: string): never => {
    throw new SparrowError(`${file}: ${problem}`);
  };
  let module: WasmModule;
  try {
    module = parseModule(bytes);
  } catch (e) {
    return bad((e as Error).message);
  }
  if (module.memories.length !== 1) bad('not a sparrow firmware (it does not define exactly one memory)');
  const pages = module.memories[0].min;
  const memoryBytes = pages * WASM_PAGE_BYTES;
  const full = new Uint8Array(memoryBytes);
  for (const seg of module.dataSegments) {
    if (seg.mode !== 'active' || seg.offset === undefined || seg.offset + seg.size > memoryBytes) bad('not a sparrow firmware (a data segment is passive, not at a constant offset, or outside memory)');
    full.set(bytes.subarray(seg.dataStart, seg.dataEnd), seg.offset!);
  }
  const view = new DataView(full.buffer);
  const u32 = (addr: number): number => {
    if (addr < 0 || addr + 4 > memoryBytes) bad(`not a sparrow firmware (a pointer leads outside memory: ${addr})`);
    return view.getUint32(addr, true);
  };
  const h = (field: number): number => u32(ABI.HEADER + field);
  if (memoryBytes < ABI.HEADER + ABI.HEADER_BYTES || h(ABI.H_MAGIC) !== ABI.MAGIC) {
    bad('not the firmware of a quantized model (no integer-engine header); patches apply to integer (w8a16) firmware only');
  }
  if (h(ABI.H_ABI) !== ABI.ABI_VERSION) bad(`integer firmware ABI version ${h(ABI.H_ABI)}; this sparrow patches version ${ABI.ABI_VERSION}`);
  const flags = h(ABI.H_FLAGS);
  const config = {
    d_in: h(ABI.H_D_IN), d_model: h(ABI.H_D_MODEL), d_state: h(ABI.H_D_STATE), d_out: h(ABI.H_D_OUT), n_layers: h(ABI.H_N_LAYERS),
    gelu: (flags & ABI.FLAG_GELU) !== 0, gate: (flags & ABI.FLAG_GATE) !== 0, sma: (flags & ABI.FLAG_SMA) !== 0, encoderRelu: (flags & ABI.FLAG_ENCODER_RELU) !== 0,
  };
  const layerBytes = config.sma ? ABI.LAYER_BYTES_SMA : ABI.LAYER_BYTES;
  const { d_in, d_model: H, d_state: P, d_out } = config;
  // The const region starts with the encoder's descriptor (the layout's first allocation) and ends where the mutable region begins.
  const constStart = h(ABI.H_ENCODER);
  const stateStart = h(ABI.H_STATE_START);
  if (!(constStart >= ABI.HEADER + ABI.HEADER_BYTES && constStart <= stateStart && stateStart <= memoryBytes)) bad('not a sparrow firmware (header pointers out of order)');
  const image = full.subarray(0, stateStart);
  const inConst = (addr: number, n: number, what: string): number => {
    if (!(addr >= constStart && addr + n <= stateStart)) bad(`${what}: not a sparrow firmware (its data at ${addr}, ${n} bytes, lies outside the const region)`);
    return addr;
  };

  // Which segments are the model's: those in the header or the const region, all after the engine's.
  const modelRanges = [{ start: ABI.HEADER, end: ABI.HEADER + ABI.HEADER_BYTES }, { start: constStart, end: stateStart }];
  const isModel = (offset: number): boolean => modelRanges.some((r) => offset >= r.start && offset < r.end);
  const engineSegments = module.dataSegments.filter((s) => !isModel(s.offset!)).length;
  if (module.dataSegments.some((s, i) => isModel(s.offset!) !== i >= engineSegments)) bad('not in the form sparrow compile writes (the model\'s data segments do not follow the engine\'s)');

  const tensors = new Map<string, TensorSlot>();
  const shifts = new Map<string, DataSlot>();
  const data = (into: Map<string, TensorSlot | DataSlot>, name: string, type: ElementType, length: number, addr: number): void => {
    into.set(name, { kind: 'data', name, type, length, addr: inConst(addr, length * ELEMENT_BYTES[type], name) });
  };
  const codeMatrices: { name: string; rows: number; cols: number; fn: number }[] = [];
  const matrix = (name: string, desc: number, rows: number, cols: number): void => {
    inConst(desc, ABI.MATRIX_BYTES, name);
    const kind = u32(desc + ABI.M_KIND);
    if (u32(desc + ABI.M_ROWS) !== rows || u32(desc + ABI.M_COLS) !== cols) bad(`${name}: descriptor shape differs from the header's dimensions`);
    if (kind === ABI.KIND_UNROLLED) {
      codeMatrices.push({ name, rows, cols, fn: u32(desc + ABI.M_INDPTR) });
      // A placeholder that keeps the layout order; resolved below, once the number of generated functions is known.
      tensors.set(name, { kind: 'code', name, rows, cols, fn: -1, defined: -1, matrix: { kind: 'csr', rows: 0, cols: 0, values: new Int8Array(0), rowFrac: new Int8Array(0) } });
      return;
    }
    const format = FORMAT_OF_KIND[kind];
    if (format === undefined) bad(`${name}: unknown matrix kind ${kind}`);
    const values = u32(desc + ABI.M_VALUES);
    if (format === 'dense') {
      inConst(values, rows * cols, name);
      tensors.set(name, { kind: 'table', name, rows, cols, format, values });
      return;
    }
    let index: Uint8Array;
    let rowPointerBytes = 0;
    let nnz: number;
    if (format === 'csr8' || format === 'csr16') {
      const wide = kind === ABI.KIND_CSR16_P32 || kind === ABI.KIND_CSR8_P32;
      rowPointerBytes = (rows + 1) * (wide ? 4 : 2);
      const indptr = inConst(u32(desc + ABI.M_INDPTR), rowPointerBytes, name);
      nnz = wide ? u32(indptr + 4 * rows) : view.getUint16(indptr + 2 * rows, true);
      const columnBytes = nnz * (format === 'csr8' ? 1 : 2);
      const indices = inConst(u32(desc + ABI.M_INDICES), columnBytes, name);
      index = new Uint8Array(rowPointerBytes + columnBytes);
      index.set(image.subarray(indptr, indptr + rowPointerBytes));
      index.set(image.subarray(indices, indices + columnBytes), rowPointerBytes);
    } else {
      nnz = u32(desc + ABI.M_INDPTR);
      const indices = u32(desc + ABI.M_INDICES);
      const end = format === 'bitmap' ? indices + 4 * Math.ceil((rows * cols) / 32) : stateStart; // delta codes end where the nnz-th gap does
      index = image.subarray(inConst(indices, end - indices, name), end);
    }
    const positions = decodePositions({ format, index, rowPointerBytes, valueCount: nnz }, rows, cols);
    if (positions.length !== nnz || positions.some((p, i) => p >= rows * cols || (i > 0 && p <= positions[i - 1]))) bad(`${name}: its ${format} index does not decode to ${nnz} increasing positions`);
    tensors.set(name, { kind: 'table', name, rows, cols, format, values: inConst(values, nnz, name), positions });
  };

  matrix('encoder.weight', h(ABI.H_ENCODER), H, d_in);
  data(tensors, 'encoder.bias', 'i32', H, h(ABI.H_ENCODER_BIAS));
  data(shifts, 'encoder.shift', 'i8', H, h(ABI.H_ENCODER_SHIFT));
  for (let i = 0; i < config.n_layers; i++) {
    const d = inConst(h(ABI.H_LAYERS) + i * layerBytes, layerBytes, `layers.${i}`);
    const L = (field: number): number => u32(d + field);
    const p = `layers.${i}.`;
    data(tensors, p + 'norm.scale', 'i16', H, L(ABI.L_NORM_SCALE));
    data(tensors, p + 'norm.shift', 'i32', H, L(ABI.L_NORM_SHIFT));
    data(tensors, p + 'ssm.lambda_re', 'i16', P, L(ABI.L_LAMBDA_RE));
    data(tensors, p + 'ssm.lambda_im', 'i16', P, L(ABI.L_LAMBDA_IM));
    matrix(p + 'ssm.B_re', L(ABI.L_B_RE), P, H);
    matrix(p + 'ssm.B_im', L(ABI.L_B_IM), P, H);
    matrix(p + 'ssm.C_re', L(ABI.L_C_RE), H, P);
    matrix(p + 'ssm.C_im', L(ABI.L_C_IM), H, P);
    data(tensors, p + 'ssm.D', 'i8', H, L(ABI.L_D));
    if (config.gelu) data(tensors, p + 'act_lut', 'i16', LUT_ENTRIES, L(ABI.L_ACT_LUT));
    if (config.gate) {
      matrix(p + 'gate.weight', L(ABI.L_GATE_W), H, H);
      data(tensors, p + 'gate.bias', 'i32', H, L(ABI.L_GATE_BIAS));
      data(tensors, p + 'gate.sigmoid_lut', 'i16', LUT_ENTRIES, L(ABI.L_SIGMOID_LUT));
      data(shifts, p + 'gate.shift', 'i8', H, L(ABI.L_GATE_SHIFT));
    }
    if (config.sma) {
      matrix(p + 'sma.weight', L(ABI.L_SMA_W), 1, H);
      data(tensors, p + 'sma.bias', 'i32', 1, d + ABI.L_SMA_BIAS);
    }
    data(shifts, p + 'ssm.B.shift', 'i8', P, L(ABI.L_B_SHIFT));
    data(shifts, p + 'ssm.C.shift', 'i8', H, L(ABI.L_C_SHIFT));
    data(shifts, p + 'norm.k', 'i32', 1, d + ABI.L_NORM_K);
    data(shifts, p + 'ssm.D.k', 'i32', 1, d + ABI.L_D_K);
    data(shifts, p + 'u.k', 'i32', 1, d + ABI.L_U_K);
    data(shifts, p + 'z.k', 'i32', 1, d + ABI.L_Z_K);
  }
  matrix('decoder.weight', h(ABI.H_DECODER), d_out, H);
  data(tensors, 'decoder.bias', 'i32', d_out, h(ABI.H_DECODER_BIAS));
  data(shifts, 'decoder.shift', 'i8', d_out, h(ABI.H_DECODER_SHIFT));
  const goldenSteps = h(ABI.H_GOLDEN_STEPS);
  data(tensors, 'golden.outputs', 'i16', goldenSteps * d_out, h(ABI.H_GOLDEN_OUTPUT));
  const goldenInput = inConst(h(ABI.H_GOLDEN_INPUT), 2 * goldenSteps * d_in, 'golden inputs');
  const goldenInputs = new Int16Array(image.slice(goldenInput, goldenInput + 2 * goldenSteps * d_in).buffer);
  // The I/O fracs live in the header, outside the const region.
  shifts.set('input_frac', { kind: 'data', name: 'input_frac', type: 'i32', length: 1, addr: ABI.HEADER + ABI.H_INPUT_FRAC });
  shifts.set('output_frac', { kind: 'data', name: 'output_frac', type: 'i32', length: 1, addr: ABI.HEADER + ABI.H_OUTPUT_FRAC });

  // Weights in code: function fn of the descriptors is the fn-th of the functions appended after the engine's.
  const first = module.codes.length - codeMatrices.length;
  const seen = new Set<number>();
  for (const c of codeMatrices) {
    if (!(c.fn >= 0 && c.fn < codeMatrices.length) || seen.has(c.fn)) bad(`${c.name}: weights-in-code function number ${c.fn} out of range or used twice`);
    seen.add(c.fn);
    const defined = first + c.fn;
    const body = module.codes[defined];
    const type = module.types[module.functions[defined]];
    const m = body.locals.length === 0 && type.params.join() === 'i32,i32' && type.results.length === 0 ? decodeUnrolled(bytes.subarray(body.codeStart, body.end), c.rows, c.cols) : undefined;
    if (!m) bad(`${c.name}: function ${module.importedFunctionCount + defined} is not in the weights-in-code form this sparrow generates (compiled by an earlier version, or changed since); recompile the base firmware`);
    tensors.set(c.name, { kind: 'code', name: c.name, rows: c.rows, cols: c.cols, fn: c.fn, defined, matrix: m! });
  }
  return { file, module, pages, image, config, goldenSteps, goldenInputs, modelRanges, engineSegments, tensors, shifts };
}

// ---------------------------------------------------------------------------
// Reading values back
// ---------------------------------------------------------------------------

/** Element count of a tensor in its logical shape (rows·cols for a matrix). */
export function tensorLength(slot: TensorSlot): number {
  return slot.kind === 'data' ? slot.length : slot.rows * slot.cols;
}

export function readElement(image: Uint8Array, type: ElementType, addr: number): number {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  return type === 'i8' ? view.getInt8(addr) : type === 'i16' ? view.getInt16(addr, true) : view.getInt32(addr, true);
}

export function writeElement(image: Uint8Array, type: ElementType, addr: number, value: number): void {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (type === 'i8') view.setInt8(addr, value);
  else if (type === 'i16') view.setInt16(addr, value, true);
  else view.setInt32(addr, value, true);
}

export function elementBytes(type: ElementType): number {
  return ELEMENT_BYTES[type];
}

/** A tensor's values in its logical shape, row-major; matrix entries the firmware does not hold read 0. */
export function readTensor(map: FirmwareMap, slot: TensorSlot): Int32Array {
  const out = new Int32Array(tensorLength(slot));
  if (slot.kind === 'data') {
    for (let i = 0; i < slot.length; i++) out[i] = readElement(map.image, slot.type, slot.addr + i * ELEMENT_BYTES[slot.type]);
  } else if (slot.kind === 'table') {
    const n = slot.positions ? slot.positions.length : out.length;
    for (let k = 0; k < n; k++) out[slot.positions ? slot.positions[k] : k] = readElement(map.image, 'i8', slot.values + k);
  } else {
    const m = slot.matrix;
    for (let r = 0; r < m.rows; r++) for (let k = m.indptr![r]; k < m.indptr![r + 1]; k++) out[r * m.cols + m.indices![k]] = m.values[k];
  }
  return out;
}
