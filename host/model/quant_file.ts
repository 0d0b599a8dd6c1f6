// ============================================================================
// Quantized (w8a16) model files: the same safetensors container and tensor
// names as float models, with integer tensors, per-row fracs of each weight
// matrix as `<matrix>.row_frac` (I8; one per complex matrix B and C, shared by
// re and im), the activation tables, and the tensor formats in the `quant`
// metadata entry. docs/model-format.md lists every name.
// ============================================================================

import * as fs from 'fs';
import { z } from 'zod';
import { inputError, SparrowError } from '../util/errors';
import { modelFromTensorFile, parseConfig, parseSparseShapes, toInt32, validateCsr } from './model';
import { LayerFormats, LUT_ENTRIES, QLayer, QMatrix, QUANT_SCHEME, QuantModel } from './quant';
import { Dtype, parseSafetensors, serializeSafetensors, Tensor, TensorFile } from './safetensors';
import { Model } from './types';

const frac = z.number().int().min(-64).max(64);
const quantMetaSchema = z.strictObject({
  scheme: z.literal(QUANT_SCHEME),
  input_frac: frac,
  output_frac: frac,
  encoder_frac: frac,
  layers: z.array(z.strictObject({ u_in: frac, v: frac, s: frac, y: frac, a: frac, g: frac, u_out: frac, norm_scale_frac: frac, d_frac: frac })),
});

export function isQuantizedFile(tf: TensorFile): boolean {
  return tf.metadata.quant !== undefined;
}

// ---------------------------------------------------------------------------
// Write
// ---------------------------------------------------------------------------

export function quantModelToTensorFile(q: QuantModel): TensorFile {
  const tensors = new Map<string, Tensor>();
  const sparse: Record<string, [number, number]> = {};
  const put = (name: string, dtype: Dtype, data: Tensor['data'], shape = [data.length]): void => {
    tensors.set(name, { dtype, shape, data });
  };
  const matrix = (name: string, m: QMatrix, rowFracName?: string): void => {
    if (m.kind === 'dense') put(name, 'I8', m.values, [m.rows, m.cols]);
    else {
      put(`${name}.indptr`, 'I32', m.indptr!);
      put(`${name}.indices`, 'U16', Uint16Array.from(m.indices!));
      put(`${name}.values`, 'I8', m.values);
      sparse[name] = [m.rows, m.cols];
    }
    if (rowFracName) put(rowFracName, 'I8', m.rowFrac);
  };
  matrix('encoder.weight', q.encoderWeight, 'encoder.weight.row_frac');
  put('encoder.bias', 'I32', q.encoderBias);
  q.layers.forEach((L, i) => {
    const p = `layers.${i}.`;
    put(p + 'norm.scale', 'I16', L.normScale);
    put(p + 'norm.shift', 'I32', L.normShift);
    put(p + 'ssm.lambda_re', 'I16', L.lambdaRe);
    put(p + 'ssm.lambda_im', 'I16', L.lambdaIm);
    matrix(p + 'ssm.B_re', L.B_re, p + 'ssm.B.row_frac');
    matrix(p + 'ssm.B_im', L.B_im);
    matrix(p + 'ssm.C_re', L.C_re, p + 'ssm.C.row_frac');
    matrix(p + 'ssm.C_im', L.C_im);
    put(p + 'ssm.D', 'I8', L.D);
    if (L.actLut) put(p + 'act_lut', 'I16', L.actLut);
    if (L.gateWeight) {
      matrix(p + 'gate.weight', L.gateWeight, p + 'gate.weight.row_frac');
      put(p + 'gate.bias', 'I32', L.gateBias!);
      put(p + 'gate.sigmoid_lut', 'I16', L.sigmoidLut!);
    }
    if (L.smaWeight) {
      matrix(p + 'sma.weight', L.smaWeight, p + 'sma.weight.row_frac');
      put(p + 'sma.bias', 'I32', L.smaBias!);
    }
  });
  matrix('decoder.weight', q.decoderWeight, 'decoder.weight.row_frac');
  put('decoder.bias', 'I32', q.decoderBias);
  const quant: z.infer<typeof quantMetaSchema> = {
    scheme: QUANT_SCHEME,
    input_frac: q.inputFrac,
    output_frac: q.outputFrac,
    encoder_frac: q.encoderFrac,
    layers: q.layers.map((L) => ({ u_in: L.fmt.uIn, v: L.fmt.v, s: L.fmt.s, y: L.fmt.y, a: L.fmt.a, g: L.fmt.g, u_out: L.fmt.uOut, norm_scale_frac: L.normScaleFrac, d_frac: L.dFrac })),
  };
  const metadata: Record<string, string> = { ...q.metadata, format: 'sparrow', version: '1', config: JSON.stringify(q.config), quant: JSON.stringify(quant) };
  if (Object.keys(sparse).length > 0) metadata.sparse = JSON.stringify(sparse);
  return { metadata, tensors };
}

export function serializeQuantModel(q: QuantModel): Uint8Array {
  return serializeSafetensors(quantModelToTensorFile(q));
}

// ---------------------------------------------------------------------------
// Read (with validation)
// ---------------------------------------------------------------------------

function reader(tf: TensorFile, file: string) {
  const used = new Set<string>();
  const get = (name: string, dtype: Dtype, shape: number[]): Tensor['data'] => {
    const t = tf.tensors.get(name);
    if (!t) throw inputError(file, name, 'missing tensor');
    if (t.dtype !== dtype) throw inputError(file, name, `dtype ${t.dtype}, expected ${dtype}`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) throw inputError(file, name, `shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    used.add(name);
    return t.data;
  };
  const sparse = Object.fromEntries(parseSparseShapes(tf.metadata, file));
  const matrix = (name: string, rows: number, cols: number, rowFrac: Int8Array): QMatrix => {
    if (!sparse[name]) return { kind: 'dense', rows, cols, values: get(name, 'I8', [rows, cols]) as Int8Array, rowFrac };
    if (sparse[name][0] !== rows || sparse[name][1] !== cols) throw inputError(file, name, `sparse shape [${sparse[name].join(', ')}], expected [${rows}, ${cols}]`);
    const indptrT = tf.tensors.get(`${name}.indptr`);
    const indicesT = tf.tensors.get(`${name}.indices`);
    if (!indptrT || !indicesT) throw inputError(file, `${name}.indptr`, 'missing tensor');
    used.add(`${name}.indptr`).add(`${name}.indices`);
    const indptr = toInt32(indptrT, file, `${name}.indptr`);
    const nnz = indptr[indptr.length - 1] ?? 0;
    const m: QMatrix = { kind: 'csr', rows, cols, indptr, indices: toInt32(indicesT, file, `${name}.indices`), values: get(`${name}.values`, 'I8', [nnz]) as Int8Array, rowFrac };
    validateCsr(m as Required<QMatrix>, file, name);
    return m;
  };
  return { get, matrix, used };
}

export function quantModelFromTensorFile(tf: TensorFile, file: string): QuantModel {
  const config = parseConfig(tf.metadata, file);
  let meta: z.infer<typeof quantMetaSchema>;
  try {
    const parsed = quantMetaSchema.safeParse(JSON.parse(tf.metadata.quant));
    if (!parsed.success) throw inputError(file, `__metadata__.quant.${parsed.error.issues[0].path.join('.')}`, parsed.error.issues[0].message);
    meta = parsed.data;
  } catch (e) {
    if (e instanceof SyntaxError) throw inputError(file, '__metadata__.quant', 'is not valid JSON');
    throw e;
  }
  if (meta.layers.length !== config.n_layers) throw inputError(file, '__metadata__.quant.layers', `has ${meta.layers.length} entries, config has ${config.n_layers} layers`);
  const { d_in, d_model: H, d_state: P, d_out } = config;
  const r = reader(tf, file);
  const rowFrac = (name: string, rows: number): Int8Array => r.get(name, 'I8', [rows]) as Int8Array;

  const layers: QLayer[] = meta.layers.map((m, i) => {
    const p = `layers.${i}.`;
    const fmt: LayerFormats = { uIn: m.u_in, v: m.v, s: m.s, y: m.y, a: m.a, g: m.g, uOut: m.u_out };
    const bFrac = rowFrac(p + 'ssm.B.row_frac', P);
    const cFrac = rowFrac(p + 'ssm.C.row_frac', H);
    const L: QLayer = {
      fmt,
      normScale: r.get(p + 'norm.scale', 'I16', [H]) as Int16Array,
      normScaleFrac: m.norm_scale_frac,
      normShift: r.get(p + 'norm.shift', 'I32', [H]) as Int32Array,
      lambdaRe: r.get(p + 'ssm.lambda_re', 'I16', [P]) as Int16Array,
      lambdaIm: r.get(p + 'ssm.lambda_im', 'I16', [P]) as Int16Array,
      B_re: r.matrix(p + 'ssm.B_re', P, H, bFrac),
      B_im: r.matrix(p + 'ssm.B_im', P, H, bFrac),
      C_re: r.matrix(p + 'ssm.C_re', H, P, cFrac),
      C_im: r.matrix(p + 'ssm.C_im', H, P, cFrac),
      D: r.get(p + 'ssm.D', 'I8', [H]) as Int8Array,
      dFrac: m.d_frac,
    };
    if (config.act === 'gelu') L.actLut = r.get(p + 'act_lut', 'I16', [LUT_ENTRIES]) as Int16Array;
    if (config.gate) {
      L.gateWeight = r.matrix(p + 'gate.weight', H, H, rowFrac(p + 'gate.weight.row_frac', H));
      L.gateBias = r.get(p + 'gate.bias', 'I32', [H]) as Int32Array;
      L.sigmoidLut = r.get(p + 'gate.sigmoid_lut', 'I16', [LUT_ENTRIES]) as Int16Array;
    }
    if (config.sma) {
      L.smaWeight = r.matrix(p + 'sma.weight', 1, H, rowFrac(p + 'sma.weight.row_frac', 1));
      L.smaBias = r.get(p + 'sma.bias', 'I32', [1]) as Int32Array;
    }
    return L;
  });
  const q: QuantModel = {
    config,
    scheme: QUANT_SCHEME,
    inputFrac: meta.input_frac,
    outputFrac: meta.output_frac,
    encoderFrac: meta.encoder_frac,
    encoderWeight: r.matrix('encoder.weight', H, d_in, rowFrac('encoder.weight.row_frac', H)),
    encoderBias: r.get('encoder.bias', 'I32', [H]) as Int32Array,
    layers,
    decoderWeight: r.matrix('decoder.weight', d_out, H, rowFrac('decoder.weight.row_frac', d_out)),
    decoderBias: r.get('decoder.bias', 'I32', [d_out]) as Int32Array,
    metadata: Object.fromEntries(Object.entries(tf.metadata).filter(([k]) => !['format', 'version', 'config', 'sparse', 'quant'].includes(k))),
  };
  for (const name of tf.tensors.keys()) if (!r.used.has(name)) throw inputError(file, name, 'unexpected tensor for this quantized model');
  return q;
}

/** Read either kind of model file. */
export function parseAnyModel(bytes: Uint8Array, file: string): { kind: 'float'; model: Model } | { kind: 'quantized'; model: QuantModel } {
  const tf = parseSafetensors(bytes, file);
  return isQuantizedFile(tf) ? { kind: 'quantized', model: quantModelFromTensorFile(tf, file) } : { kind: 'float', model: modelFromTensorFile(tf, file) };
}

/** Read either kind of model file from disk; an unreadable file is one line naming it. */
export function readAnyModel(file: string): ReturnType<typeof parseAnyModel> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(fs.readFileSync(file));
  } catch (e) {
    throw new SparrowError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseAnyModel(bytes, file);
}
