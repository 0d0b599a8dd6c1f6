// Firmware patches against their definition: for every kernel strategy, patching the base
// firmware gives byte for byte the firmware `compileQuantModel` writes for the tuned model
// with the same options. Then every refusal, and what a patch weighs next to a firmware.

import { loadBoard } from '../../host/bench/boards';
import { CompileOptions, compileModel, compileQuantModel } from '../../host/compile/compile';
import { randomModel } from '../../host/model/random';
import { SPARSE_FORMATS } from '../../host/compress/formats';
import { mapFirmware, readElement, readTensor } from '../../host/patch/firmware_map';
import { goldenChanges, modelTensors } from '../../host/patch/diff';
import { decodePatch, encodePatch, sha256 } from '../../host/patch/format';
import { applyPatch, firmwareValues, makePatch } from '../../host/patch/patch';
import { createHash } from 'crypto';
import { deflateRawSync, inflateRawSync } from 'zlib';
import { runInt } from '../../host/reference/int';
import { SparrowError } from '../../host/util/errors';
import { setMemoryAndData } from '../../host/wasm/link';
import { parseModule } from '../../host/wasm/binary';
import { baseModel, fewChanges, fractionChanged, getEntry, nonzeroAt, setEntry, smaChanges } from './tune';

const names = { firmware: 'base.wasm', base: 'base.q', tuned: 'tuned.q' };
/** Every integer tensor of a model in its logical layout, by name. */
const modelTensorsOf = (q: Parameters<typeof modelTensors>[0]): [string, Int32Array][] =>
  modelTensors(q).map((t) => {
    if (t.vector) return [t.name, Int32Array.from(t.vector)];
    const m = t.matrix!;
    return [t.name, Int32Array.from({ length: m.rows * m.cols }, (_, p) => getEntry(m, p))];
  });
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

const base = baseModel();
const tuned = fewChanges(base);

/** Every way the compiler can store a matrix: each table format, weights in code, and per-matrix mixes. */
const STRATEGIES: [string, CompileOptions][] = [
  ...(['auto', ...SPARSE_FORMATS] as const).map((format): [string, CompileOptions] => [`table-driven --format ${format}`, { format }]),
  ['weights in code (--kernel unrolled)', { kernel: 'unrolled' }],
  ['--kernel auto --board stm32l476 --mode wamr-fast', { kernel: 'auto', format: 'csr16', board: loadBoard('stm32l476'), mode: 'wamr-fast' }],
  ['a per-matrix mix of delta4 tables and code', { kernel: (name) => (name.includes('B_') || name.startsWith('decoder') ? 'unrolled' : 'csr'), format: 'delta4' }],
  ['--no-wasm-opt', { wasmOpt: false, format: 'csr8' }],
  ['--profile with weights in code, 20 golden steps', { profile: true, kernel: 'unrolled', goldenSteps: 20, goldenSeed: 5 }],
];

describe.each(STRATEGIES)('%s', (_, opts) => {
  const baseFw = compileQuantModel(base, opts);
  const tunedFw = compileQuantModel(tuned, opts).wasm;

  test('patching the base firmware gives the direct compile of the tuned model, byte for byte', () => {
    const made = makePatch(baseFw.wasm, base, tuned, names);
    expect(same(tunedFw, baseFw.wasm)).toBe(false);
    const { wasm } = applyPatch(baseFw.wasm, made.bytes, { firmware: 'base.wasm', patch: 'update.patch' });
    expect(same(wasm, tunedFw)).toBe(true);
    expect(made.patch.resultSha256).toBe(sha256(tunedFw));
    expect(made.patch.baseSha256).toBe(sha256(baseFw.wasm));
  });

  test('the patch holds exactly the changed values and no golden outputs; the patched firmware embeds the integer reference of the tuned model as them', () => {
    const made = makePatch(baseFw.wasm, base, tuned, names);
    const { patch } = made;
    const byName = new Map(patch.tensors.map((t) => [t.name, t]));
    // fewChanges: 2 weights in each of four matrices (an index may repeat), Λ_re, Λ_im, a bias.
    for (const name of ['layers.0.ssm.B_re', 'layers.1.ssm.C_im', 'decoder.weight', 'layers.1.gate.weight']) expect([1, 2]).toContain(byName.get(name)!.index.length);
    expect(byName.get('layers.0.ssm.lambda_re')).toEqual({ name: 'layers.0.ssm.lambda_re', index: Int32Array.of(3), value: Int32Array.of(tuned.layers[0].lambdaRe[3]) });
    expect(byName.get('encoder.bias')!.value).toEqual(Int32Array.of(tuned.encoderBias[1]));
    const B = byName.get('layers.0.ssm.B_re')!;
    B.index.forEach((pos, i) => expect(B.value[i]).toBe(getEntry(tuned.layers[0].B_re, pos)));
    expect(byName.has('golden.outputs')).toBe(false);
    // Golden outputs of the result: the integer reference of the tuned model on the firmware's golden inputs.
    const { wasm, goldenChanged } = applyPatch(baseFw.wasm, made.bytes, { firmware: 'base.wasm', patch: 'update.patch' });
    const map = mapFirmware(wasm, 'patched.wasm');
    const expected = runInt(tuned, map.goldenInputs, map.goldenSteps);
    const slot = map.tensors.get('golden.outputs')!;
    if (slot.kind !== 'data') throw new Error('golden outputs not in data');
    expected.forEach((v, i) => expect(readElement(map.image, 'i16', slot.addr + 2 * i)).toBe(v));
    const before = runInt(base, map.goldenInputs, map.goldenSteps);
    expect(goldenChanged).toBe(expected.filter((v, i) => v !== before[i]).length);
    expect(made.goldenChanged).toBe(goldenChanged);
    expect(goldenChanged).toBeGreaterThan(0);
  });

  test('a patch that carries the golden outputs (as patches did before they were recomputed) still applies to the same firmware', () => {
    const made = makePatch(baseFw.wasm, base, tuned, names);
    const baseMap = mapFirmware(baseFw.wasm, 'base.wasm');
    const withGolden = encodePatch({ ...made.patch, tensors: [...made.patch.tensors, ...goldenChanges(baseMap, tuned)] }, firmwareValues(baseMap));
    expect(withGolden.length).toBeGreaterThan(made.bytes.length);
    expect(same(applyPatch(baseFw.wasm, withGolden, { firmware: 'base.wasm', patch: 'old.patch' }).wasm, made.result)).toBe(true);
  });
});

// SMA models: the decision row and its bias are values like any other, under every strategy.
const baseSma = baseModel(8, { sma: true });
const tunedSma = smaChanges(fewChanges(baseSma));

describe.each(STRATEGIES)('SMA model, %s', (_, opts) => {
  test('patching gives the direct compile of the tuned model byte for byte; the patch carries the decision row and bias', () => {
    const baseFw = compileQuantModel(baseSma, opts).wasm;
    const made = makePatch(baseFw, baseSma, tunedSma, names);
    const { wasm } = applyPatch(baseFw, made.bytes, { firmware: 'base.wasm', patch: 'update.patch' });
    expect(same(wasm, compileQuantModel(tunedSma, opts).wasm)).toBe(true);
    const byName = new Map(made.patch.tensors.map((t) => [t.name, t]));
    const row = byName.get('layers.0.sma.weight')!;
    expect([1, 2]).toContain(row.index.length);
    row.index.forEach((pos, i) => expect(row.value[i]).toBe(getEntry(tunedSma.layers[0].smaWeight!, pos)));
    expect(byName.get('layers.1.sma.bias')).toEqual({ name: 'layers.1.sma.bias', index: Int32Array.of(0), value: Int32Array.of(tunedSma.layers[1].smaBias![0]) });
    expect(byName.has('layers.0.sma.bias')).toBe(false);
  });
});

describe('the firmware map reads back what the compiler wrote', () => {
  test.each([['delta4', { format: 'delta4' }], ['unrolled', { kernel: 'unrolled' }], ['bitmap', { format: 'bitmap' }]] as [string, CompileOptions][])('%s: every weight at its row-major position', (_, opts) => {
    const map = mapFirmware(compileQuantModel(base, opts).wasm, 'fw');
    const B = readTensor(map, map.tensors.get('layers.1.ssm.B_im')!);
    const m = base.layers[1].B_im;
    for (let p = 0; p < m.rows * m.cols; p++) expect(B[p]).toBe(getEntry(m, p));
  });
});

// ---------------------------------------------------------------------------
// Refusals: one SparrowError line naming the input and the problem
// ---------------------------------------------------------------------------

describe('bad input', () => {
  const baseFw = compileQuantModel(base, { format: 'csr16' }).wasm;
  const made = makePatch(baseFw, base, tuned, names);
  const apply = (fw: Uint8Array, patch: Uint8Array): Uint8Array => applyPatch(fw, patch, { firmware: 'fw.wasm', patch: 'update.patch' }).wasm;
  const refuses = (f: () => unknown, message: RegExp): void => {
    let error: unknown;
    try {
      f();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SparrowError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  };

  test('a patch for another base firmware: hash mismatch, both hashes named', () => {
    const other = compileQuantModel(base, { format: 'delta4' }).wasm;
    refuses(() => apply(other, made.bytes), new RegExp(`^update\\.patch: made for another firmware \\(sha256 ${sha256(baseFw).slice(0, 12)}…, ${baseFw.length} B\\); fw\\.wasm has sha256 ${sha256(other).slice(0, 12)}…`));
  });

  test('a truncated patch', () => {
    refuses(() => apply(baseFw, made.bytes.subarray(0, made.bytes.length - 1)), /^update\.patch: truncated patch \(\d+ of \d+ bytes\)$/);
    refuses(() => apply(baseFw, made.bytes.subarray(0, 50)), /^update\.patch: truncated patch \(50 bytes;/);
    refuses(() => apply(baseFw, made.bytes.subarray(0, 5)), /^update\.patch: truncated patch \(5 bytes\)$/);
    refuses(() => apply(baseFw, new Uint8Array(0)), /^update\.patch: truncated patch \(0 bytes\)$/);
  });

  test('a tampered patch: any flipped byte fails the checksum (or the magic/version/length fields)', () => {
    for (const at of [9, 50, 90, made.bytes.length - 40, made.bytes.length - 1]) {
      const bad = made.bytes.slice();
      bad[at] ^= 0x01;
      refuses(() => apply(baseFw, bad), /^update\.patch: checksum mismatch: the patch is corrupted or was modified after `sparrow diff` wrote it$/);
    }
    const magic = made.bytes.slice();
    magic[0] = 0x41;
    refuses(() => apply(baseFw, magic), /^update\.patch: not a sparrow firmware patch \(bad magic\)$/);
    const version = made.bytes.slice();
    version[8] = 9;
    refuses(() => apply(baseFw, version), /^update\.patch: patch format version 9 is not supported/);
    refuses(() => apply(baseFw, Uint8Array.from([...made.bytes, 0])), /^update\.patch: 1 unexpected bytes after the patch's checksum$/);
  });

  /** `bytes` with another body and the header's length and the checksum made to match (what a careless writer could produce). */
  const rebody = (bytes: Uint8Array, body: Uint8Array): Uint8Array => {
    const out = new Uint8Array(85 + body.length + 32);
    out.set(bytes.subarray(0, 85));
    new DataView(out.buffer).setUint32(81, body.length, true);
    out.set(body, 85);
    out.set(createHash('sha256').update(out.subarray(0, 85 + body.length)).digest(), 85 + body.length);
    return out;
  };

  test('a version-1 patch (absolute values, before DEFLATE): refused with what to do', () => {
    const v1 = made.bytes.slice();
    v1[8] = 1;
    refuses(() => apply(baseFw, v1), /^update\.patch: patch format version 1 is not supported \(this sparrow reads version 2; make the patch again with `sparrow diff`\)$/);
  });

  test('a checksummed body that is not DEFLATE data, or inflates to garbage: malformed body', () => {
    refuses(() => apply(baseFw, rebody(made.bytes, Uint8Array.of(0xff, 0xff, 0xff, 0xff))), /^update\.patch: malformed body \(not DEFLATE data/);
    refuses(() => apply(baseFw, rebody(made.bytes, deflateRawSync(Uint8Array.of(1, 0x80)))), /^update\.patch: malformed body \(/);
    // A DEFLATE bomb: far more output than any patch of this firmware can need.
    refuses(() => apply(baseFw, rebody(made.bytes, deflateRawSync(new Uint8Array(64 << 20)))), /^update\.patch: malformed body \(not DEFLATE data that fits the firmware/);
  });

  test('a well-formed patch whose entries leave the pattern or the tensor: refused by name', () => {
    const map = mapFirmware(baseFw, 'fw.wasm');
    const B = base.layers[0].B_re;
    const zeroAt = Array.from({ length: B.rows * B.cols }, (_, p) => p).find((p) => getEntry(B, p) === 0)!;
    // The base values the differences are taken from, padded with zeros past each tensor (and for a
    // tensor the firmware lacks) so that such patches can be written at all.
    const held = firmwareValues(map);
    const lenient = {
      file: 'fw.wasm',
      values: (name: string): Int32Array => {
        const padded = new Int32Array(1 << 16);
        padded.set(held.values(name) ?? []);
        return padded;
      },
    };
    const craft = (tensors: { name: string; index: number[]; value: number[] }[]): Uint8Array =>
      encodePatch({ baseSha256: sha256(baseFw), resultSha256: '00'.repeat(32), baseBytes: baseFw.length, resultBytes: 0, tensors: tensors.map((t) => ({ name: t.name, index: Int32Array.from(t.index), value: Int32Array.from(t.value) })) }, lenient);
    refuses(() => apply(baseFw, craft([{ name: 'layers.0.ssm.B_re', index: [zeroAt], value: [5] }])), new RegExp(`^update\\.patch: layers\\.0\\.ssm\\.B_re\\[${zeroAt}\\] \\(row \\d+, column \\d+\\): fw\\.wasm holds no weight there; a patch changes values, not the sparsity pattern`));
    refuses(() => apply(baseFw, craft([{ name: 'layers.0.ssm.B_re', index: [nonzeroAt(B)[0]], value: [0] }])), /: the new value is 0; a patch changes values, not the sparsity pattern/);
    refuses(() => apply(baseFw, craft([{ name: 'layers.0.ssm.B_re', index: [nonzeroAt(B)[0]], value: [200] }])), /^update\.patch: layers\.0\.ssm\.B_re\[\d+\]: 200 does not fit i8$/);
    refuses(() => apply(baseFw, craft([{ name: 'layers.9.ssm.B_re', index: [0], value: [1] }])), /^update\.patch: tensor 'layers\.9\.ssm\.B_re' is not in fw\.wasm$/);
    refuses(() => apply(baseFw, craft([{ name: 'encoder.bias', index: [10_000], value: [1] }])), /^update\.patch: encoder\.bias\[10000\]: index out of range \(the tensor has 24 elements in fw\.wasm\)$/);
    // In range and in the pattern, but not the promised result.
    refuses(() => apply(baseFw, craft([{ name: 'encoder.bias', index: [0], value: [1] }])), /^update\.patch: applying it gives sha256 [0-9a-f]{12}…, not the 000000000000… it was made for/);
    expect(map.tensors.size).toBeGreaterThan(0);
  });

  test('a tuned model whose sparsity pattern differs: an entry gained, an entry lost', () => {
    const B = base.layers[0].B_re;
    const gained = structuredClone(base);
    // Dense storage makes adding an entry expressible: a weight where the base has none.
    const zeroAt = Array.from({ length: B.rows * B.cols }, (_, p) => p).find((p) => getEntry(B, p) === 0)!;
    gained.layers[0].B_re = { ...B, kind: 'dense', values: Int8Array.from({ length: B.rows * B.cols }, (_, p) => (p === zeroAt ? 3 : getEntry(B, p))), indptr: undefined, indices: undefined };
    refuses(() => makePatch(baseFw, base, gained, names), new RegExp(`^tuned\\.q: layers\\.0\\.ssm\\.B_re: the sparsity pattern differs from base\\.q's at row ${Math.floor(zeroAt / B.cols)}, column ${zeroAt % B.cols} \\(0 → 3\\); a patch changes values only`));
    const lost = structuredClone(base);
    setEntry(lost.decoderWeight, nonzeroAt(lost.decoderWeight)[2], 0);
    refuses(() => makePatch(baseFw, base, lost, names), /^tuned\.q: decoder\.weight: the sparsity pattern differs from base\.q's at row \d+, column \d+ \(-?\d+ → 0\)/);
  });

  test('a tuned model quantized with other scales, or of another shape', () => {
    const requantized = structuredClone(tuned);
    requantized.layers[1].C_re.rowFrac[4] += 1;
    refuses(() => makePatch(baseFw, base, requantized, names), /^tuned\.q: layers\.1\.ssm\.C\.row_frac\[4\] is -?\d+, base\.q has -?\d+: the model was quantized with other scales/);
    const otherS = structuredClone(tuned);
    otherS.layers[0].fmt.s += 1;
    refuses(() => makePatch(baseFw, base, otherS, names), /^tuned\.q: __metadata__\.quant\.layers\.0\.s is/);
    const bigger = baseModel(8, { d_model: 25 });
    refuses(() => makePatch(baseFw, base, bigger, names), /^tuned\.q: config .* differs from base\.q's/);
  });

  test('a base model the firmware was not compiled from', () => {
    const other = fewChanges(base, 9);
    refuses(() => makePatch(baseFw, other, tuned, { ...names, base: 'other.q' }), /^base\.wasm was not compiled from other\.q \(.+\[\d+\] is -?\d+ in the firmware, -?\d+ in the model\); diff needs the model the firmware was compiled from$/);
    // The same weights with SMA on: another config, in either direction.
    refuses(() => makePatch(baseFw, baseSma, tunedSma, { ...names, base: 'sma.q' }), /^base\.wasm was not compiled from sma\.q \(another config\)/);
    const smaFw = compileQuantModel(baseSma, { format: 'csr16' }).wasm;
    refuses(() => makePatch(smaFw, base, tuned, names), /^base\.wasm was not compiled from base\.q \(another config\)/);
  });

  test('an SMA decision row that loses an entry, or decision-row scales that differ', () => {
    const smaFw = compileQuantModel(baseSma, { format: 'csr16' }).wasm;
    const lost = structuredClone(baseSma);
    const at = nonzeroAt(lost.layers[0].smaWeight!)[1];
    setEntry(lost.layers[0].smaWeight!, at, 0);
    refuses(() => makePatch(smaFw, baseSma, lost, names), new RegExp(`^tuned\\.q: layers\\.0\\.sma\\.weight: the sparsity pattern differs from base\\.q's at row 0, column ${at} \\(-?\\d+ → 0\\)`));
    const rescaled = structuredClone(tunedSma);
    rescaled.layers[1].smaWeight!.rowFrac[0] += 1;
    refuses(() => makePatch(smaFw, baseSma, rescaled, names), /^tuned\.q: layers\.1\.sma\.weight\.row_frac\[0\] is -?\d+, base\.q has -?\d+: the model was quantized with other scales/);
  });

  test('a float firmware, and a firmware whose data segments are laid out otherwise', () => {
    const map = mapFirmware(baseFw, 'fw.wasm');
    // The same memory image, in one unpacked segment per range: runs the same, but is not what this sparrow writes.
    const relinked = setMemoryAndData(baseFw, { pages: map.pages, keepSegments: map.engineSegments, segments: map.modelRanges.map((r) => ({ offset: r.start, data: map.image.subarray(r.start, r.end) })) });
    expect(parseModule(relinked).dataSegments.length).toBeLessThan(parseModule(baseFw).dataSegments.length);
    refuses(() => makePatch(relinked, base, tuned, names), /^base\.wasm: its data segments are not laid out the way this sparrow compiles/);
    const float = compileModel(randomModel({ d_in: 2, d_model: 8, d_state: 8, d_out: 1, n_layers: 1, act: 'relu', encoder_act: 'none', gate: false, sparsity: 0.5, seed: 3 })).wasm;
    refuses(() => makePatch(float, base, tuned, names), /^base\.wasm: not the firmware of a quantized model \(no integer-engine header\); patches apply to integer \(w8a16\) firmware only$/);
    refuses(() => applyPatch(float, made.bytes, { firmware: 'f32.wasm', patch: 'update.patch' }), /^update\.patch: made for another firmware/);
  });
});

// ---------------------------------------------------------------------------
// Size: a realistic fine-tune (5% of the nonzero weights) against the whole firmware
// ---------------------------------------------------------------------------

describe('patch size', () => {
  const big = baseModel(21, { d_model: 64, d_state: 64, sparsity: 0.9, n_layers: 2, d_in: 4, d_out: 4 });
  const { tuned: fine, changed } = fractionChanged(big, 0.05);

  test.each([['auto', { format: 'auto' }], ['unrolled', { kernel: 'unrolled' }]] as [string, CompileOptions][])('%s: 5%% of the weights changed costs a few bytes per value, far below the firmware', (_, opts) => {
    const fw = compileQuantModel(big, opts).wasm;
    const made = makePatch(fw, big, fine, names);
    expect(same(applyPatch(fw, made.bytes, { firmware: 'fw', patch: 'p' }).wasm, compileQuantModel(fine, opts).wasm)).toBe(true);
    const values = made.patch.tensors.filter((t) => t.name !== 'golden.outputs').reduce((n, t) => n + t.index.length, 0);
    expect(values).toBe(changed);
    expect(made.patch.tensors.some((t) => t.name === 'golden.outputs')).toBe(false);
    // Before DEFLATE, LEB128 per entry: a gap below 2^14 (2 bytes) and a difference of int8s (≤ 2 bytes);
    // per tensor its name, a name length and a count; 85 bytes of head, 32 of checksum, the tensor count.
    // DEFLATE adds a few bytes at worst (stored blocks), far inside the slack of this bound.
    const overhead = made.patch.tensors.reduce((n, t) => n + t.name.length + 4, 118);
    expect(made.bytes.length).toBeLessThanOrEqual(overhead + 4 * values);
    expect(made.bytes.length).toBeLessThan(fw.length / 4);
    const decoded = decodePatch(made.bytes, 'p');
    expect(decoded.baseBytes).toBe(fw.length);
  });

  /** LEB128 read by hand (independent of host/wasm/leb128.ts). */
  const leb = (bytes: Uint8Array, at: { pos: number }, signed: boolean): number => {
    let result = 0;
    let shift = 0;
    let byte: number;
    do {
      byte = bytes[at.pos++];
      result += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    return signed && byte & 0x40 ? result - 2 ** shift : result;
  };

  test('the body, read by hand: DEFLATE of (index gap, new − base value) per entry; base + difference is the tuned model', () => {
    const fw = compileQuantModel(big, { format: 'csr16' }).wasm;
    const made = makePatch(fw, big, fine, names);
    const view = new DataView(made.bytes.buffer, made.bytes.byteOffset);
    expect(made.bytes[8]).toBe(2);
    const raw = inflateRawSync(made.bytes.subarray(85, 85 + view.getUint32(81, true)));
    const at = { pos: 0 };
    const map = mapFirmware(fw, 'fw');
    const tensors = new Map(modelTensorsOf(fine));
    const count = leb(raw, at, false);
    let entries = 0;
    for (let t = 0; t < count; t++) {
      const name = Buffer.from(raw.subarray(at.pos + 1, at.pos + 1 + raw[at.pos])).toString('utf8');
      at.pos += 1 + raw[at.pos];
      const n = leb(raw, at, false);
      const before = readTensor(map, map.tensors.get(name)!);
      const after = tensors.get(name)!;
      let index = -1;
      for (let i = 0; i < n; i++) {
        index += leb(raw, at, false) + 1;
        const delta = leb(raw, at, true);
        expect(delta).not.toBe(0);
        expect(before[index] + delta).toBe(after[index]);
      }
      entries += n;
    }
    expect(at.pos).toBe(raw.length);
    expect(entries).toBe(changed);
  });

  test('a LoRA-like update (every nonzero of the decoder moved by one step) costs under 1.5 bytes per value, below the 2 of any uncompressed gap-and-value entry', () => {
    // A wide read-out, as a denoiser's: 64 × 64 at 80% sparsity.
    const small = baseModel(22, { d_model: 64, d_state: 16, sparsity: 0.8, n_layers: 1, d_in: 4, d_out: 64 });
    const m = small.decoderWeight;
    const moved = structuredClone(small);
    const nz = nonzeroAt(m);
    // One step toward zero, or away from it where that would reach 0: never 0, never past ±127.
    for (const p of nz) {
      const w = getEntry(m, p);
      setEntry(moved.decoderWeight, p, Math.abs(w) >= 2 ? w - Math.sign(w) : 2 * w);
    }
    expect(nonzeroAt(moved.decoderWeight)).toEqual(nz);
    const fw = compileQuantModel(small, { format: 'csr16' }).wasm;
    const made = makePatch(fw, small, moved, names);
    expect(made.patch.tensors.map((t) => [t.name, t.index.length])).toEqual([['decoder.weight', nz.length]]);
    const body = new DataView(made.bytes.buffer, made.bytes.byteOffset).getUint32(81, true);
    expect(body / nz.length).toBeLessThan(1.5);
  });
});

test('the fixtures: the tuned copy differs from the base in values only, and B is stored CSR', () => {
  expect(JSON.stringify(tuned.config)).toBe(JSON.stringify(base.config));
  expect(nonzeroAt(tuned.layers[0].B_re)).toEqual(nonzeroAt(base.layers[0].B_re));
  expect(base.layers[0].B_re.kind).toBe('csr');
});
