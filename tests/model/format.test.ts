// Model file format: bit-exact round trips and one clear error per kind of bad input.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { modelToTensorFile, parseModel, readModel, serializeModel, toDense, writeModel } from '../../host/model/model';
import { randomModel } from '../../host/model/random';
import { parseSafetensors, serializeSafetensors, TensorFile } from '../../host/model/safetensors';
import { Matrix, Model } from '../../host/model/types';
import { SparrowError } from '../../host/util/errors';

const FILE = 'bad.safetensors';

function model(sparsity: number, gate = true): Model {
  return randomModel({ d_in: 3, d_model: 8, d_state: 5, d_out: 2, n_layers: 2, act: 'gelu', encoder_act: 'relu', gate, sparsity, seed: 42 });
}

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function expectSameMatrix(a: Matrix, b: Matrix): void {
  expect(b.kind).toBe(a.kind);
  expect([b.rows, b.cols]).toEqual([a.rows, a.cols]);
  expect(bytesOf(b.values)).toEqual(bytesOf(a.values));
  if (a.kind === 'csr' && b.kind === 'csr') {
    expect(Array.from(b.indptr)).toEqual(Array.from(a.indptr));
    expect(Array.from(b.indices)).toEqual(Array.from(a.indices));
  }
}

function expectSameModel(a: Model, b: Model): void {
  expect(b.config).toEqual(a.config);
  expectSameMatrix(a.encoderWeight, b.encoderWeight);
  expectSameMatrix(a.decoderWeight, b.decoderWeight);
  expect(bytesOf(b.encoderBias)).toEqual(bytesOf(a.encoderBias));
  expect(bytesOf(b.decoderBias)).toEqual(bytesOf(a.decoderBias));
  a.layers.forEach((La, i) => {
    const Lb = b.layers[i];
    for (const k of ['B_re', 'B_im', 'C_re', 'C_im', 'gateWeight'] as const) if (La[k]) expectSameMatrix(La[k]!, Lb[k]!);
    for (const k of ['normScale', 'normShift', 'lambdaRe', 'lambdaIm', 'D', 'gateBias'] as const) if (La[k]) expect(bytesOf(Lb[k]!)).toEqual(bytesOf(La[k]!));
  });
}

describe('round trip', () => {
  test.each([0, 0.5, 0.95])('sparsity %p: read → write → read is bit for bit, write is deterministic', (s) => {
    const m = model(s);
    const bytes1 = serializeModel(m);
    const m2 = parseModel(bytes1, 'a.safetensors');
    expectSameModel(m, m2);
    const bytes2 = serializeModel(m2);
    expect(bytes2).toEqual(bytes1);
    expect(m2.metadata.seed).toBe('42');
  });

  test('sparse matrices are stored as CSR with their shape in the metadata, and --dense stores the same values densely', () => {
    const m = model(0.8);
    const tf = modelToTensorFile(m);
    expect(tf.tensors.has('layers.0.ssm.B_re.indptr')).toBe(true);
    expect(tf.tensors.has('layers.0.ssm.B_re')).toBe(false);
    expect(JSON.parse(tf.metadata.sparse)['layers.0.ssm.B_re']).toEqual([5, 8]);

    const dense = parseModel(serializeModel(m, { dense: true }), 'd.safetensors');
    const tfDense = modelToTensorFile(dense);
    expect(tfDense.metadata.sparse).toBeUndefined();
    expect(tfDense.tensors.get('layers.1.gate.weight')!.shape).toEqual([8, 8]);
    expectSameMatrix(toDense(m.layers[1].C_im), dense.layers[1].C_im);
    expectSameMatrix(toDense(m.encoderWeight), dense.encoderWeight);
  });

  test('a model read back from disk (a Node Buffer, not a fresh Uint8Array) is bit for bit the same', () => {
    const m = model(0.5);
    const file = path.join(os.tmpdir(), `sparrow-fmt-${process.pid}.safetensors`);
    try {
      writeModel(file, m);
      expectSameModel(m, readModel(file));
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  test('the file is readable as plain safetensors: 8-byte LE header length, JSON, no holes', () => {
    const bytes = serializeModel(model(0.5));
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header.__metadata__.format).toBe('sparrow');
    expect(JSON.parse(header.__metadata__.config).d_model).toBe(8);
    const ranges = Object.entries(header).filter(([k]) => k !== '__metadata__').map(([, v]) => (v as { data_offsets: number[] }).data_offsets).sort((a, b) => a[0] - b[0]);
    let covered = 0;
    for (const [b, e] of ranges) {
      expect(b).toBe(covered);
      covered = e;
    }
    expect(covered).toBe(bytes.length - 8 - n);
  });
});

// ---------------------------------------------------------------------------
// Bad input: each must be one SparrowError line naming the file, the tensor and the problem.
// ---------------------------------------------------------------------------

function expectError(bytes: Uint8Array, ...fragments: string[]): void {
  let err: unknown;
  try {
    parseModel(bytes, FILE);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SparrowError);
  const msg = (err as Error).message;
  expect(msg.split('\n')).toHaveLength(1);
  expect(msg.startsWith(`${FILE}: `)).toBe(true);
  for (const f of fragments) expect(msg).toContain(f);
}

function mutated(mutate: (tf: TensorFile) => void, sparsity = 0.5): Uint8Array {
  const tf = modelToTensorFile(model(sparsity));
  mutate(tf);
  return serializeSafetensors(tf);
}

describe('bad input', () => {
  test('truncated file', () => {
    const good = serializeModel(model(0.5));
    expectError(good.subarray(0, 5), 'truncated');
    expectError(good.subarray(0, good.length - 3), 'truncated');
  });

  test('wrong header length', () => {
    const bytes = serializeModel(model(0.5)).slice();
    new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.length * 2), true);
    expectError(bytes, 'header length');
    new DataView(bytes.buffer).setBigUint64(0, 20n, true);
    expectError(bytes, 'JSON');
  });

  test('bad JSON', () => {
    const bytes = serializeModel(model(0.5)).slice();
    bytes[8] = '['.charCodeAt(0);
    expectError(bytes, 'JSON');
  });

  test('unknown dtype', () => {
    const bytes = serializeModel(model(0.5));
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n)).replace('"dtype":"F32"', '"dtype":"Q7"');
    const header = new TextEncoder().encode(text);
    const out = new Uint8Array(bytes.length);
    out.set(bytes);
    out.set(header, 8);
    expectError(out, 'unknown dtype "Q7"');
  });

  test('shape mismatch names the tensor and both shapes', () => {
    const bytes = mutated((tf) => {
      const t = tf.tensors.get('layers.1.ssm.D')!;
      tf.tensors.set('layers.1.ssm.D', { dtype: 'F32', shape: [7], data: t.data.slice(0, 7) });
    });
    expectError(bytes, 'layers.1.ssm.D', '[7]', 'expected [8]');
  });

  test('wrong dtype for a weight', () => {
    const bytes = mutated((tf) => {
      const t = tf.tensors.get('encoder.bias')!;
      tf.tensors.set('encoder.bias', { dtype: 'F64', shape: t.shape, data: Float64Array.from(t.data as Float32Array) });
    });
    expectError(bytes, 'encoder.bias', 'F64', 'expected F32');
  });

  test('non-monotonic indptr', () => {
    const bytes = mutated((tf) => {
      const p = tf.tensors.get('layers.0.ssm.C_re.indptr')!.data as Int32Array;
      p[2] = p[3] + 1; // row 2 would end before it starts
    });
    expectError(bytes, 'layers.0.ssm.C_re.indptr', 'not monotonic');
  });

  test('index out of range', () => {
    const bytes = mutated((tf) => {
      const idx = tf.tensors.get('decoder.weight.indices')!.data as Uint16Array;
      idx[idx.length - 1] = 500;
    });
    expectError(bytes, 'decoder.weight.indices', 'out of range');
  });

  test.each([NaN, Infinity, -Infinity])('non-finite value %p', (bad) => {
    const bytes = mutated((tf) => {
      (tf.tensors.get('layers.1.ssm.B_im.values')!.data as Float32Array)[3] = bad;
    });
    expectError(bytes, 'layers.1.ssm.B_im.values', 'non-finite');
    const dense = mutated((tf) => {
      (tf.tensors.get('layers.0.norm.scale')!.data as Float32Array)[0] = bad;
    }, 0);
    expectError(dense, 'layers.0.norm.scale', 'non-finite');
  });

  test('unstable Λ (|Λ| ≥ 1)', () => {
    const bytes = mutated((tf) => {
      (tf.tensors.get('layers.1.ssm.lambda_re')!.data as Float32Array)[2] = 0.8;
      (tf.tensors.get('layers.1.ssm.lambda_im')!.data as Float32Array)[2] = 0.6; // |Λ| = 1 exactly
    });
    expectError(bytes, 'layers.1.ssm.lambda', 'unstable state 2', '≥ 1');
  });

  test('missing tensor, unexpected tensor, bad config, not a sparrow file', () => {
    expectError(mutated((tf) => tf.tensors.delete('decoder.bias')), 'decoder.bias', 'missing');
    expectError(mutated((tf) => tf.tensors.set('layers.0.ssm.E', { dtype: 'F32', shape: [1], data: new Float32Array(1) })), 'layers.0.ssm.E', 'unexpected');
    expectError(mutated((tf) => (tf.metadata.config = JSON.stringify({ ...JSON.parse(tf.metadata.config), act: 'tanh' }))), 'config.act');
    expectError(mutated((tf) => delete tf.metadata.format), '__metadata__.format', 'not a sparrow model');
  });

  test('overlapping tensor data is rejected by the container', () => {
    const tf: TensorFile = { metadata: {}, tensors: new Map([['a', { dtype: 'F32', shape: [2], data: new Float32Array(2) }]]) };
    const bytes = serializeSafetensors(tf);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    header.b = { dtype: 'F32', shape: [1], data_offsets: [0, 4] };
    const json = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + json.length + 8);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    expect(() => parseSafetensors(out, FILE)).toThrow(/overlaps/);
  });
});
