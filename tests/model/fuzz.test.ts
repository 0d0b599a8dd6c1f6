// The model reader under fuzzing: ≥ 10,000 generated malformed files (bit flips, truncations,
// wrong lengths, shapes, dtypes, indices, metadata) always end in a one-line SparrowError —
// never another exception, a hang, or an out-of-memory.

import fc from 'fast-check';
import { quantizeModel } from '../../host/compress/quantize';
import { modelToTensorFile, serializeModel } from '../../host/model/model';
import { parseAnyModel, quantModelToTensorFile } from '../../host/model/quant_file';
import { randomModel } from '../../host/model/random';
import { serializeSafetensors, TensorFile } from '../../host/model/safetensors';
import { SparrowError } from '../../host/util/errors';

const float = randomModel({ d_in: 2, d_model: 6, d_state: 4, d_out: 2, n_layers: 2, act: 'gelu', encoder_act: 'relu', gate: true, sparsity: 0.5, seed: 9 });
const quant = quantizeModel(float, { sequences: [{ data: Float64Array.from({ length: 100 }, (_, i) => Math.sin(i)), T: 50 }] });
const seeds: Uint8Array[] = [serializeModel(float), serializeModel(float, { dense: true }), serializeSafetensors(quantModelToTensorFile(quant))];

/** Parsing either succeeds (the mutation was harmless) or throws one single-line SparrowError. */
function parsesOrFailsCleanly(bytes: Uint8Array): boolean {
  try {
    parseAnyModel(bytes, 'fuzz.safetensors');
    return true;
  } catch (e) {
    return e instanceof SparrowError && !e.message.includes('\n') && e.message.startsWith('fuzz.safetensors');
  }
}

const RUNS = { numRuns: 2500 };

test('bit flips anywhere in the file', () => {
  fc.assert(
    fc.property(fc.nat(seeds.length - 1), fc.array(fc.tuple(fc.nat(), fc.nat(7)), { minLength: 1, maxLength: 8 }), (which, flips) => {
      const bytes = seeds[which].slice();
      for (const [pos, bit] of flips) bytes[pos % bytes.length] ^= 1 << bit;
      return parsesOrFailsCleanly(bytes);
    }),
    RUNS,
  );
});

test('truncations, extensions and a rewritten header length', () => {
  fc.assert(
    fc.property(fc.nat(seeds.length - 1), fc.nat(), fc.oneof(fc.constant(-1), fc.nat(), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })), fc.nat(64), (which, cut, headerLen, extra) => {
      const seed = seeds[which];
      let bytes = seed.subarray(0, cut % (seed.length + 1)).slice();
      if (extra > 0 && cut % 2 === 0) bytes = Uint8Array.from([...seed, ...new Array(extra).fill(0)]);
      if (headerLen !== -1 && bytes.length >= 8) new DataView(bytes.buffer).setBigUint64(0, BigInt(headerLen) & (2n ** 64n - 1n), true);
      return parsesOrFailsCleanly(bytes);
    }),
    RUNS,
  );
});

/** Structured mutations of the header: shapes, dtypes, offsets, metadata, CSR indices. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('shape' as const), tensor: fc.nat(), shape: fc.array(fc.oneof(fc.nat(40), fc.constant(-1), fc.constant(2 ** 40)), { maxLength: 3 }) }),
  fc.record({ kind: fc.constant('dtype' as const), tensor: fc.nat(), dtype: fc.constantFrom('F16', 'BF16', 'F64', 'I8', 'U8', 'I64', 'BOOL', 'Q4', '') }),
  fc.record({ kind: fc.constant('offsets' as const), tensor: fc.nat(), begin: fc.integer({ min: -5, max: 100000 }), end: fc.integer({ min: -5, max: 100000 }) }),
  fc.record({ kind: fc.constant('metadata' as const), key: fc.constantFrom('format', 'version', 'config', 'sparse', 'quant'), value: fc.oneof(fc.string(), fc.json(), fc.constant('{"d_in":0}')) }),
  fc.record({ kind: fc.constant('index' as const), tensor: fc.nat(), at: fc.nat(), value: fc.integer({ min: -70000, max: 70000 }) }),
  fc.record({ kind: fc.constant('drop' as const), tensor: fc.nat() }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(tf: TensorFile, m: Mutation): Uint8Array {
  const names = [...tf.tensors.keys()];
  const header: Record<string, unknown> = {};
  const bytes = serializeSafetensors(tf);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  Object.assign(header, JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))));
  const entry = (i: number): Record<string, unknown> => header[names[i % names.length]] as Record<string, unknown>;
  switch (m.kind) {
    case 'shape': entry(m.tensor).shape = m.shape; break;
    case 'dtype': entry(m.tensor).dtype = m.dtype; break;
    case 'offsets': entry(m.tensor).data_offsets = [m.begin, m.end]; break;
    case 'metadata': (header.__metadata__ as Record<string, string>)[m.key] = m.value; break;
    case 'drop': delete header[names[m.tensor % names.length]]; break;
    case 'index': {
      // Write a value into an index tensor's data (indptr or indices) in place.
      const idx = names.filter((k) => k.endsWith('.indptr') || k.endsWith('.indices'));
      if (idx.length === 0) break;
      // Copy first: tensor data is shared with the seed model, which must stay intact across runs.
      const name = idx[m.tensor % idx.length];
      const data = tf.tensors.get(name)!.data.slice() as Int32Array | Uint16Array;
      if (data.length > 0) data[m.at % data.length] = m.value;
      tf.tensors.set(name, { ...tf.tensors.get(name)!, data });
      return serializeSafetensors(tf);
    }
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + bytes.length - 8 - n);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(bytes.subarray(8 + n), 8 + json.length);
  return out;
}

test('structured mutations of shapes, dtypes, offsets, metadata, CSR indices and tensors', () => {
  fc.assert(
    fc.property(fc.nat(2), mutation, (which, m) => {
      const tf = which === 2 ? quantModelToTensorFile(quant) : modelToTensorFile(float, { dense: which === 1 });
      return parsesOrFailsCleanly(mutate(tf, m));
    }),
    { numRuns: 5000 },
  );
});
