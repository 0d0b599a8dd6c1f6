// ============================================================================
// sparrow model file: safetensors with `__metadata__.format = "sparrow"`.
// Tensor names and shapes are documented in docs/model-format.md. A matrix is
// stored dense under its name, or as CSR under `<name>.indptr/.indices/.values`
// with its dense shape in the `sparse` metadata entry.
//
// Reading validates everything the firmware compiler relies on (shapes, CSR
// invariants, finite values, stable Λ), so later stages never re-check.
// ============================================================================

import * as fs from 'fs';
import { z } from 'zod';
import { inputError, SparrowError } from '../util/errors';
import { writeFileAtomic } from '../util/atomic';
import { parseSafetensors, serializeSafetensors, Tensor, TensorFile } from './safetensors';
import { CsrMatrix, DenseMatrix, LayerWeights, Matrix, Model, ModelConfig } from './types';

export const FORMAT_NAME = 'sparrow';
export const FORMAT_VERSION = 1;

/** Caps that keep a corrupt config from asking for gigabytes; far above any MCU model. */
const MAX_DIM = 65535;
const MAX_LAYERS = 64;

const dim = z.number().int().min(1).max(MAX_DIM);
export const configSchema = z.strictObject({
  d_in: dim,
  d_model: dim,
  d_state: dim,
  d_out: dim,
  n_layers: z.number().int().min(1).max(MAX_LAYERS),
  act: z.enum(['gelu', 'relu']),
  encoder_act: z.enum(['none', 'relu']),
  gate: z.boolean(),
  sma: z.boolean().optional(),
}).refine((c) => !c.sma || c.gate, { message: 'sma needs gate: SMA decides per step whether the gate sub-module runs', path: ['sma'] });

// ---------------------------------------------------------------------------
// Names and shapes
// ---------------------------------------------------------------------------

interface MatrixSlot {
  name: string;
  rows: number;
  cols: number;
  get: (m: Model) => Matrix;
}
interface VectorSlot {
  name: string;
  len: number;
  get: (m: Model) => Float32Array;
}

/** Every tensor of a model with this config, in canonical order. */
export function tensorSlots(c: ModelConfig): { matrices: MatrixSlot[]; vectors: VectorSlot[] } {
  const H = c.d_model;
  const P = c.d_state;
  const matrices: MatrixSlot[] = [{ name: 'encoder.weight', rows: H, cols: c.d_in, get: (m) => m.encoderWeight }];
  const vectors: VectorSlot[] = [{ name: 'encoder.bias', len: H, get: (m) => m.encoderBias }];
  for (let i = 0; i < c.n_layers; i++) {
    const p = `layers.${i}.`;
    const L = (m: Model): LayerWeights => m.layers[i];
    vectors.push(
      { name: p + 'norm.scale', len: H, get: (m) => L(m).normScale },
      { name: p + 'norm.shift', len: H, get: (m) => L(m).normShift },
      { name: p + 'ssm.lambda_re', len: P, get: (m) => L(m).lambdaRe },
      { name: p + 'ssm.lambda_im', len: P, get: (m) => L(m).lambdaIm },
      { name: p + 'ssm.D', len: H, get: (m) => L(m).D },
    );
    matrices.push(
      { name: p + 'ssm.B_re', rows: P, cols: H, get: (m) => L(m).B_re },
      { name: p + 'ssm.B_im', rows: P, cols: H, get: (m) => L(m).B_im },
      { name: p + 'ssm.C_re', rows: H, cols: P, get: (m) => L(m).C_re },
      { name: p + 'ssm.C_im', rows: H, cols: P, get: (m) => L(m).C_im },
    );
    if (c.gate) {
      matrices.push({ name: p + 'gate.weight', rows: H, cols: H, get: (m) => L(m).gateWeight as Matrix });
      vectors.push({ name: p + 'gate.bias', len: H, get: (m) => L(m).gateBias as Float32Array });
    }
    if (c.sma) {
      matrices.push({ name: p + 'sma.weight', rows: 2, cols: H, get: (m) => L(m).smaWeight as Matrix });
      vectors.push({ name: p + 'sma.bias', len: 2, get: (m) => L(m).smaBias as Float32Array });
    }
  }
  matrices.push({ name: 'decoder.weight', rows: c.d_out, cols: H, get: (m) => m.decoderWeight });
  vectors.push({ name: 'decoder.bias', len: c.d_out, get: (m) => m.decoderBias });
  return { matrices, vectors };
}

// ---------------------------------------------------------------------------
// Tensors → Model (with validation)
// ---------------------------------------------------------------------------

/** Validate format, version and config of the metadata (float and quantized files alike). */
export function parseConfig(meta: Record<string, string>, file: string): ModelConfig {
  if (meta.format !== FORMAT_NAME) {
    throw inputError(file, '__metadata__.format', meta.format === undefined ? 'missing; not a sparrow model file' : `is "${meta.format}", expected "${FORMAT_NAME}"`);
  }
  const version = Number(meta.version);
  if (!Number.isInteger(version) || version < 1) throw inputError(file, '__metadata__.version', `invalid version "${meta.version}"`);
  if (version > FORMAT_VERSION) throw inputError(file, '__metadata__.version', `version ${version} is newer than this sparrow reads (${FORMAT_VERSION}); upgrade sparrow`);
  if (meta.config === undefined) throw inputError(file, '__metadata__.config', 'missing');
  let raw: unknown;
  try {
    raw = JSON.parse(meta.config);
  } catch {
    throw inputError(file, '__metadata__.config', 'is not valid JSON');
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw inputError(file, `__metadata__.config.${issue.path.join('.')}`, issue.message);
  }
  return parsed.data;
}

/** The `sparse` metadata entry: matrix name → dense shape. */
export function parseSparseShapes(meta: Record<string, string>, file: string): Map<string, [number, number]> {
  const shapes = new Map<string, [number, number]>();
  if (meta.sparse === undefined) return shapes;
  let raw: unknown;
  try {
    raw = JSON.parse(meta.sparse);
  } catch {
    throw inputError(file, '__metadata__.sparse', 'is not valid JSON');
  }
  const parsed = z.record(z.string(), z.tuple([dim, dim])).safeParse(raw);
  if (!parsed.success) throw inputError(file, '__metadata__.sparse', 'must map matrix names to [rows, cols]');
  for (const [k, v] of Object.entries(parsed.data)) shapes.set(k, v);
  return shapes;
}

function expectFloat32(t: Tensor | undefined, file: string, name: string, shape: number[]): Float32Array {
  if (!t) throw inputError(file, name, 'missing tensor');
  if (t.dtype !== 'F32') throw inputError(file, name, `dtype ${t.dtype}, expected F32`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw inputError(file, name, `shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  const data = t.data as Float32Array;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw inputError(file, name, `non-finite value ${data[i]} at element ${i}`);
  }
  return data;
}

export function toInt32(t: Tensor, file: string, name: string): Int32Array {
  switch (t.dtype) {
    case 'I32':
      return t.data as Int32Array;
    case 'U8':
    case 'U16':
    case 'I16':
    case 'I8':
      return Int32Array.from(t.data as Uint16Array);
    case 'U32': {
      const d = t.data as Uint32Array;
      for (let i = 0; i < d.length; i++) if (d[i] > 0x7fffffff) throw inputError(file, name, `index ${d[i]} at element ${i} is out of range`);
      return Int32Array.from(d);
    }
    case 'I64': {
      const d = t.data as BigInt64Array;
      const out = new Int32Array(d.length);
      for (let i = 0; i < d.length; i++) {
        if (d[i] < 0n || d[i] > 0x7fffffffn) throw inputError(file, name, `index ${d[i]} at element ${i} is out of range`);
        out[i] = Number(d[i]);
      }
      return out;
    }
    default:
      throw inputError(file, name, `dtype ${t.dtype}, expected an integer type`);
  }
}

/** Check the CSR invariants the kernels rely on; `what` names the matrix in errors. Values may be float or integer. */
export function validateCsr(m: { rows: number; cols: number; indptr: Int32Array; indices: Int32Array; values: ArrayLike<number> }, file: string, what: string): void {
  const { rows, cols, indptr, indices, values } = m;
  if (indptr.length !== rows + 1) throw inputError(file, `${what}.indptr`, `has ${indptr.length} entries, expected rows + 1 = ${rows + 1}`);
  if (indptr[0] !== 0) throw inputError(file, `${what}.indptr`, `must start at 0, starts at ${indptr[0]}`);
  for (let r = 0; r < rows; r++) {
    if (indptr[r + 1] < indptr[r]) throw inputError(file, `${what}.indptr`, `not monotonic: entry ${r + 1} (${indptr[r + 1]}) < entry ${r} (${indptr[r]})`);
  }
  const nnz = indptr[rows];
  if (indices.length !== nnz) throw inputError(file, `${what}.indices`, `has ${indices.length} entries, indptr says nnz = ${nnz}`);
  if (values.length !== nnz) throw inputError(file, `${what}.values`, `has ${values.length} entries, indptr says nnz = ${nnz}`);
  for (let r = 0; r < rows; r++) {
    for (let k = indptr[r]; k < indptr[r + 1]; k++) {
      const c = indices[k];
      if (c < 0 || c >= cols) throw inputError(file, `${what}.indices`, `column ${c} at element ${k} (row ${r}) is out of range [0, ${cols})`);
      if (k > indptr[r] && c <= indices[k - 1]) throw inputError(file, `${what}.indices`, `columns of row ${r} are not strictly increasing at element ${k}`);
    }
  }
  for (let k = 0; k < nnz; k++) {
    if (!Number.isFinite(values[k])) throw inputError(file, `${what}.values`, `non-finite value ${values[k]} at element ${k}`);
  }
}

function readMatrix(tf: TensorFile, sparseShapes: Map<string, [number, number]>, file: string, slot: MatrixSlot): Matrix {
  const dense = tf.tensors.get(slot.name);
  const sparseShape = sparseShapes.get(slot.name);
  if (dense && sparseShape) throw inputError(file, slot.name, 'stored both dense and sparse');
  if (dense) return { kind: 'dense', rows: slot.rows, cols: slot.cols, values: expectFloat32(dense, file, slot.name, [slot.rows, slot.cols]) };
  if (!sparseShape) throw inputError(file, slot.name, 'missing tensor (neither dense nor CSR)');
  if (sparseShape[0] !== slot.rows || sparseShape[1] !== slot.cols) {
    throw inputError(file, slot.name, `sparse shape [${sparseShape.join(', ')}], expected [${slot.rows}, ${slot.cols}]`);
  }
  const parts = ['indptr', 'indices', 'values'].map((p) => {
    const t = tf.tensors.get(`${slot.name}.${p}`);
    if (!t) throw inputError(file, `${slot.name}.${p}`, 'missing tensor');
    if (t.shape.length !== 1) throw inputError(file, `${slot.name}.${p}`, `shape [${t.shape.join(', ')}], expected 1-D`);
    return t;
  });
  const [tIndptr, tIndices, tValues] = parts;
  const m: CsrMatrix = {
    kind: 'csr',
    rows: slot.rows,
    cols: slot.cols,
    indptr: toInt32(tIndptr, file, `${slot.name}.indptr`),
    indices: toInt32(tIndices, file, `${slot.name}.indices`),
    values: expectFloat32(tValues, file, `${slot.name}.values`, [tValues.shape[0]]),
  };
  validateCsr(m, file, slot.name);
  return m;
}

/** Check |Λ| < 1 for every state: otherwise the recurrence grows without bound. */
export function validateStability(lambdaRe: Float32Array, lambdaIm: Float32Array, file: string, layer: number): void {
  for (let p = 0; p < lambdaRe.length; p++) {
    const mag = Math.hypot(lambdaRe[p], lambdaIm[p]);
    if (!(mag < 1)) throw inputError(file, `layers.${layer}.ssm.lambda`, `unstable state ${p}: |Λ| = ${mag.toPrecision(6)} ≥ 1`);
  }
}

export function modelFromTensorFile(tf: TensorFile, file: string): Model {
  const config = parseConfig(tf.metadata, file);
  if (tf.metadata.quant !== undefined) throw inputError(file, undefined, 'is a quantized (w8a16) model; this command needs the float model');
  const sparseShapes = parseSparseShapes(tf.metadata, file);
  const { matrices, vectors } = tensorSlots(config);
  const known = new Set<string>();
  const mats = new Map<string, Matrix>();
  for (const slot of matrices) {
    mats.set(slot.name, readMatrix(tf, sparseShapes, file, slot));
    for (const n of [slot.name, `${slot.name}.indptr`, `${slot.name}.indices`, `${slot.name}.values`]) known.add(n);
  }
  const vecs = new Map<string, Float32Array>();
  for (const slot of vectors) {
    vecs.set(slot.name, expectFloat32(tf.tensors.get(slot.name), file, slot.name, [slot.len]));
    known.add(slot.name);
  }
  for (const name of tf.tensors.keys()) {
    if (!known.has(name)) throw inputError(file, name, 'unexpected tensor for this config (misspelled name, or a gate tensor with gate=false?)');
  }
  for (const name of sparseShapes.keys()) {
    if (!mats.has(name)) throw inputError(file, '__metadata__.sparse', `names unknown matrix "${name}"`);
  }
  const layers: LayerWeights[] = [];
  for (let i = 0; i < config.n_layers; i++) {
    const p = `layers.${i}.`;
    const layer: LayerWeights = {
      normScale: vecs.get(p + 'norm.scale')!,
      normShift: vecs.get(p + 'norm.shift')!,
      lambdaRe: vecs.get(p + 'ssm.lambda_re')!,
      lambdaIm: vecs.get(p + 'ssm.lambda_im')!,
      B_re: mats.get(p + 'ssm.B_re')!,
      B_im: mats.get(p + 'ssm.B_im')!,
      C_re: mats.get(p + 'ssm.C_re')!,
      C_im: mats.get(p + 'ssm.C_im')!,
      D: vecs.get(p + 'ssm.D')!,
    };
    if (config.gate) {
      layer.gateWeight = mats.get(p + 'gate.weight');
      layer.gateBias = vecs.get(p + 'gate.bias');
    }
    if (config.sma) {
      layer.smaWeight = mats.get(p + 'sma.weight');
      layer.smaBias = vecs.get(p + 'sma.bias');
    }
    validateStability(layer.lambdaRe, layer.lambdaIm, file, i);
    layers.push(layer);
  }
  const metadata = { ...tf.metadata };
  for (const k of ['format', 'version', 'config', 'sparse']) delete metadata[k];
  return {
    config,
    encoderWeight: mats.get('encoder.weight')!,
    encoderBias: vecs.get('encoder.bias')!,
    layers,
    decoderWeight: mats.get('decoder.weight')!,
    decoderBias: vecs.get('decoder.bias')!,
    metadata,
  };
}

// ---------------------------------------------------------------------------
// Model → tensors
// ---------------------------------------------------------------------------

export function toDense(m: Matrix): DenseMatrix {
  if (m.kind === 'dense') return m;
  const values = new Float32Array(m.rows * m.cols);
  for (let r = 0; r < m.rows; r++) {
    for (let k = m.indptr[r]; k < m.indptr[r + 1]; k++) values[r * m.cols + m.indices[k]] = m.values[k];
  }
  return { kind: 'dense', rows: m.rows, cols: m.cols, values };
}

/** Keep the nonzeros of a matrix (exact zeros are dropped). */
export function toCsr(m: Matrix): CsrMatrix {
  if (m.kind === 'csr') return m;
  const indptr = new Int32Array(m.rows + 1);
  let nnz = 0;
  for (let i = 0; i < m.values.length; i++) if (m.values[i] !== 0) nnz++;
  const indices = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  let k = 0;
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < m.cols; c++) {
      const v = m.values[r * m.cols + c];
      if (v !== 0) {
        indices[k] = c;
        values[k++] = v;
      }
    }
    indptr[r + 1] = k;
  }
  return { kind: 'csr', rows: m.rows, cols: m.cols, indptr, indices, values };
}

/** The weight matrices of a float or quantized model, the same way round. */
interface WithWeights<M> {
  encoderWeight: M;
  decoderWeight: M;
  layers: { B_re: M; B_im: M; C_re: M; C_im: M; gateWeight?: M }[];
}

/** A copy of `model` with `f` applied to every weight matrix (encoder, B, C, gate, decoder); everything else shared. */
export function mapWeightMatrices<M, T extends WithWeights<M>>(model: T, f: (m: M) => M): T {
  return {
    ...model,
    encoderWeight: f(model.encoderWeight),
    decoderWeight: f(model.decoderWeight),
    layers: model.layers.map((L) => ({ ...L, B_re: f(L.B_re), B_im: f(L.B_im), C_re: f(L.C_re), C_im: f(L.C_im), ...(L.gateWeight ? { gateWeight: f(L.gateWeight) } : {}) })),
  };
}

export function nnzOf(m: Matrix): number {
  if (m.kind === 'csr') return m.indptr[m.rows];
  let n = 0;
  for (let i = 0; i < m.values.length; i++) if (m.values[i] !== 0) n++;
  return n;
}

export interface WriteOptions {
  /** Write every matrix dense (`sparrow export --dense`). */
  dense?: boolean;
}

export function modelToTensorFile(model: Model, opts: WriteOptions = {}): TensorFile {
  const { matrices, vectors } = tensorSlots(model.config);
  const tensors = new Map<string, Tensor>();
  const sparse: Record<string, [number, number]> = {};
  for (const slot of matrices) {
    const m = opts.dense ? toDense(slot.get(model)) : slot.get(model);
    if (m.kind === 'dense') {
      tensors.set(slot.name, { dtype: 'F32', shape: [m.rows, m.cols], data: m.values });
    } else {
      const nnz = m.indptr[m.rows];
      // Column indices fit u16 for every width sparrow allows; the file stays small.
      const indices = m.cols <= 65536 ? Uint16Array.from(m.indices) : m.indices;
      tensors.set(`${slot.name}.indptr`, { dtype: 'I32', shape: [m.rows + 1], data: m.indptr });
      tensors.set(`${slot.name}.indices`, { dtype: indices instanceof Uint16Array ? 'U16' : 'I32', shape: [nnz], data: indices });
      tensors.set(`${slot.name}.values`, { dtype: 'F32', shape: [nnz], data: m.values });
      sparse[slot.name] = [m.rows, m.cols];
    }
  }
  for (const slot of vectors) tensors.set(slot.name, { dtype: 'F32', shape: [slot.len], data: slot.get(model) });
  const metadata: Record<string, string> = {
    ...model.metadata,
    format: FORMAT_NAME,
    version: String(FORMAT_VERSION),
    config: JSON.stringify(model.config),
  };
  if (Object.keys(sparse).length > 0) metadata.sparse = JSON.stringify(sparse);
  return { metadata, tensors };
}

// ---------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------

export function parseModel(bytes: Uint8Array, file: string): Model {
  return modelFromTensorFile(parseSafetensors(bytes, file), file);
}

export function serializeModel(model: Model, opts: WriteOptions = {}): Uint8Array {
  return serializeSafetensors(modelToTensorFile(model, opts));
}

export function readModel(file: string): Model {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new SparrowError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseModel(bytes, file);
}

/** Atomic: a failure never leaves a half-written model. */
export function writeModel(file: string, model: Model, opts: WriteOptions = {}): void {
  writeFileAtomic(file, serializeModel(model, opts));
}
