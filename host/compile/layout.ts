// ============================================================================
// Memory layout of an f32 firmware: where every weight, buffer and state of a
// model lives in linear memory, decided once at compile time.
//
//   [0, 64)                 zero (null guard)
//   [64, 64+HEADER_BYTES)   header (abi.ts)                    ┐ data segment 1
//   [192, engineEnd)        the engine's own static data (Mathf tables)
//   [constStart, constEnd)  descriptors, weights, golden I/O   ┐ data segment 2 (flash)
//   [stateStart, stateEnd)  I/O buffers, scratch, SSM states   ┘ zero at start, no data (RAM)
//
// Only the two data segments cost flash; the mutable region is zero-initialised
// memory the runtime provides. Pages = ceil(stateEnd / 64 KiB).
// ============================================================================

import { Matrix, Model, ModelConfig } from '../model/types';
import { SparrowError } from '../util/errors';
import { ABI, WASM_PAGE_BYTES } from './abi';

/** Alignment of every array: 16 bytes keeps f32/u32 aligned and leaves room for wider loads later. */
export const ALIGN = 16;

export interface GoldenVectors {
  steps: number;
  /** [steps, d_in] f32 inputs. */
  inputs: Float32Array;
  /** [steps, d_out] f32 outputs of the float64 reference. */
  outputs: Float32Array;
  /** Relative tolerance used by selftest(): |out − ref| ≤ tol·(1 + |ref|). */
  tolerance: number;
}

/** Bytes of one kind in the firmware: `const` lives in the data segment (flash), `mutable` in RAM only. */
export interface MemoryRegion {
  name: string;
  bytes: number;
  kind: 'const' | 'mutable';
}

/** How one weight matrix is stored (integer engine): the format the compiler chose or was told. */
export interface MatrixStorage {
  name: string;
  format: string;
  nonzeros: number;
  indexBytes: number;
  valueBytes: number;
  /** log2 C(rows·cols, nnz) / 8: what any encoding of a uniformly random pattern needs. */
  entropyBoundBytes: number;
}

export interface FirmwareLayout {
  header: Uint8Array;
  constStart: number;
  constBytes: Uint8Array;
  stateStart: number;
  stateEnd: number;
  pages: number;
  /** Named regions for the manifest and `sparrow info`. */
  regions: MemoryRegion[];
  matrices?: MatrixStorage[];
}

/**
 * Write a firmware header from values named like the ABI's `H_*` fields. Every field the
 * ABI declares must be given (a forgotten pointer would otherwise read as address 0 on the
 * device); u32 by default, `{ f32 }` for a float field. Negative integers are stored as
 * their two's complement (the engine reads them as i32).
 */
export function writeHeader(abi: { HEADER_BYTES: number } & Record<string, number>, values: Record<string, number | { f32: number }>): Uint8Array {
  const header = new Uint8Array(abi.HEADER_BYTES);
  const view = new DataView(header.buffer);
  for (const [name, offset] of Object.entries(abi)) {
    if (!name.startsWith('H_')) continue;
    const v = values[name];
    if (v === undefined) throw new Error(`layout: header field ${name} not set`);
    if (typeof v === 'number') view.setUint32(offset, v >>> 0, true);
    else view.setFloat32(offset, v.f32, true);
  }
  for (const name of Object.keys(values)) if (!(name in abi)) throw new Error(`layout: ${name} is not a header field`);
  return header;
}

export const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** A bump allocator over a growable byte buffer starting at `base` (16-byte aligned allocations). */
export function arena(base: number) {
  let bytes = new Uint8Array(4096);
  let end = base;
  const ensure = (upTo: number): void => {
    if (upTo - base <= bytes.length) return;
    let n = bytes.length;
    while (upTo - base > n) n *= 2;
    const grown = new Uint8Array(n);
    grown.set(bytes);
    bytes = grown;
  };
  const alloc = (n: number): number => {
    const addr = alignUp(end, ALIGN);
    ensure(addr + n);
    end = addr + n;
    return addr;
  };
  const put = (data: ArrayBufferView): number => {
    const addr = alloc(data.byteLength);
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), addr - base);
    return addr;
  };
  const u32 = (addr: number, value: number): void => {
    new DataView(bytes.buffer).setUint32(addr - base, value >>> 0, true);
  };
  return { alloc, put, u32, end: () => end, bytes: () => bytes.subarray(0, end - base) };
}

/**
 * Whether a model uses Sparse Modular Activation, after checking what an engine takes for
 * granted: a gate to skip, and per layer `rows` decision rows [rows, H] and `rows` biases (the
 * f32 engine: the two logit rows; the integer engine: the one row w₁ − w₀ and its int32 bias).
 */
export function checkSmaShapes(c: ModelConfig, layers: { smaWeight?: { rows: number; cols: number }; smaBias?: ArrayLike<number> }[], rows: 1 | 2): boolean {
  if (!c.sma) return false;
  if (!c.gate) throw new SparrowError('sma needs gate: SMA decides per step whether the gate sub-module runs');
  const [what, bias] = rows === 2 ? ['the two logit rows', 'two biases'] : ['the one decision row', 'one int32'];
  layers.forEach((L, i) => {
    const w = L.smaWeight;
    if (!w || w.rows !== rows || w.cols !== c.d_model) throw new SparrowError(`layers.${i}.sma.weight: expected ${what} [${rows}, ${c.d_model}], got ${w ? `[${w.rows}, ${w.cols}]` : 'none'}`);
    if (!L.smaBias || L.smaBias.length !== rows) throw new SparrowError(`layers.${i}.sma.bias: expected ${bias}, got ${L.smaBias?.length ?? 'none'}`);
  });
  return true;
}

/** checkSmaShapes for the f32 engine. */
export function checkSma(model: Model): boolean {
  return checkSmaShapes(model.config, model.layers, 2);
}

/**
 * Lay out `model` for the f32 engine. `engineDataEnd` is the first byte after
 * the engine's own static data (the blob must not overlap it).
 */
export function layoutF32(model: Model, golden: GoldenVectors, engineDataEnd: number): FirmwareLayout {
  const c = model.config;
  const H = c.d_model;
  const P = c.d_state;
  const regions: MemoryRegion[] = [];
  const constStart = alignUp(Math.max(engineDataEnd, ABI.HEADER + ABI.HEADER_BYTES), ALIGN);
  const k = arena(constStart);

  let weightBytes = 0;
  let indexBytes = 0;
  const matrix = (m: Matrix): number => {
    const desc = k.alloc(ABI.MATRIX_BYTES);
    k.u32(desc + ABI.M_ROWS, m.rows);
    k.u32(desc + ABI.M_COLS, m.cols);
    if (m.kind === 'dense') {
      k.u32(desc + ABI.M_KIND, ABI.KIND_DENSE);
      k.u32(desc + ABI.M_VALUES, k.put(m.values));
      weightBytes += m.values.byteLength;
    } else {
      k.u32(desc + ABI.M_KIND, ABI.KIND_CSR);
      const indptr = Uint32Array.from(m.indptr);
      const indices = Uint16Array.from(m.indices); // cols ≤ 65535 is guaranteed by the model reader
      k.u32(desc + ABI.M_INDPTR, k.put(indptr));
      k.u32(desc + ABI.M_INDICES, k.put(indices));
      k.u32(desc + ABI.M_VALUES, k.put(m.values));
      weightBytes += m.values.byteLength;
      indexBytes += indptr.byteLength + indices.byteLength;
    }
    return desc;
  };
  const vector = (v: Float32Array): number => {
    weightBytes += v.byteLength;
    return k.put(v);
  };

  const sma = checkSma(model);
  const layerBytes = sma ? ABI.LAYER_BYTES_SMA : ABI.LAYER_BYTES;
  const encoder = matrix(model.encoderWeight);
  const encoderBias = vector(model.encoderBias);
  const layerTable = k.alloc(layerBytes * c.n_layers);
  const layerPtrs = model.layers.map((L, i) => {
    const d = layerTable + i * layerBytes;
    k.u32(d + ABI.L_NORM_SCALE, vector(L.normScale));
    k.u32(d + ABI.L_NORM_SHIFT, vector(L.normShift));
    k.u32(d + ABI.L_LAMBDA_RE, vector(L.lambdaRe));
    k.u32(d + ABI.L_LAMBDA_IM, vector(L.lambdaIm));
    k.u32(d + ABI.L_D, vector(L.D));
    k.u32(d + ABI.L_B_RE, matrix(L.B_re));
    k.u32(d + ABI.L_B_IM, matrix(L.B_im));
    k.u32(d + ABI.L_C_RE, matrix(L.C_re));
    k.u32(d + ABI.L_C_IM, matrix(L.C_im));
    if (c.gate) {
      k.u32(d + ABI.L_GATE_W, matrix(L.gateWeight!));
      k.u32(d + ABI.L_GATE_BIAS, vector(L.gateBias!));
    }
    if (sma) {
      k.u32(d + ABI.L_SMA_W, matrix(L.smaWeight!));
      k.u32(d + ABI.L_SMA_BIAS, vector(L.smaBias!));
    }
    return d;
  });
  const decoder = matrix(model.decoderWeight);
  const decoderBias = vector(model.decoderBias);
  const goldenInput = k.put(golden.inputs);
  const goldenOutput = k.put(golden.outputs);
  const constEnd = k.end();
  const goldenBytes = golden.inputs.byteLength + golden.outputs.byteLength;
  regions.push(
    { name: 'weights', bytes: weightBytes, kind: 'const' },
    { name: 'sparse indices', bytes: indexBytes, kind: 'const' },
    { name: 'golden vectors', bytes: goldenBytes, kind: 'const' },
    { name: 'header, descriptors, alignment', bytes: ABI.HEADER_BYTES + (constEnd - constStart) - weightBytes - indexBytes - goldenBytes, kind: 'const' },
  );

  // Mutable region: zero at instantiation, zeroed again by reset().
  const stateStart = alignUp(constEnd, ALIGN);
  let cursor = stateStart;
  const buffer = (floats: number): number => {
    const addr = alignUp(cursor, ALIGN);
    cursor = addr + floats * 4;
    return addr;
  };
  const input = buffer(c.d_in);
  const output = buffer(c.d_out);
  // tmp also takes SMA's two logits: at least 2 floats then.
  const tmpLen = sma ? Math.max(H, 2) : H;
  const [u, v, y, tmp, a, g, bvRe, bvIm] = [buffer(H), buffer(H), buffer(H), buffer(tmpLen), buffer(H), buffer(H), buffer(P), buffer(P)];
  const statesStart = alignUp(cursor, ALIGN);
  for (const d of layerPtrs) {
    const sRe = buffer(P);
    const sIm = buffer(P);
    // Layer descriptors live in the const arena; patch their state pointers now.
    k.u32(d + ABI.L_STATE_RE, sRe);
    k.u32(d + ABI.L_STATE_IM, sIm);
  }
  const stateEnd = alignUp(cursor, ALIGN);
  regions.push(
    { name: 'io buffers', bytes: (c.d_in + c.d_out) * 4, kind: 'mutable' },
    { name: 'scratch', bytes: (5 * H + tmpLen + 2 * P) * 4, kind: 'mutable' },
    { name: 'ssm state', bytes: stateEnd - statesStart, kind: 'mutable' },
  );

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
    H_TMP: tmp,
    H_A: a,
    H_G: g,
    H_BV_RE: bvRe,
    H_BV_IM: bvIm,
    H_ENCODER: encoder,
    H_ENCODER_BIAS: encoderBias,
    H_DECODER: decoder,
    H_DECODER_BIAS: decoderBias,
    H_LAYERS: layerTable,
    H_GOLDEN_STEPS: golden.steps,
    H_GOLDEN_INPUT: goldenInput,
    H_GOLDEN_OUTPUT: goldenOutput,
    H_GOLDEN_TOL: { f32: golden.tolerance },
    H_STATE_START: stateStart,
    H_STATE_END: stateEnd,
  });

  return {
    header,
    constStart,
    constBytes: k.bytes().slice(),
    stateStart,
    stateEnd,
    pages: Math.max(1, Math.ceil(stateEnd / WASM_PAGE_BYTES)),
    regions,
  };
}
