// ============================================================================
// What changed between two integer models, as patch entries. A patch carries
// values only: both models must have the same config, the same formats (fracs:
// they fix every requantization shift the firmware stores) and the same
// sparsity pattern (the same stored entries, zero in the same places), so that
// a direct compile of the tuned model lays out, indexes and chooses kernels
// exactly as the base firmware does. Anything else is refused with the first
// difference named.
// ============================================================================

import { modelShifts } from '../compile/shifts';
import { nonzeroPositions } from '../compress/formats';
import { QMatrix, QuantModel } from '../model/quant';
import { runInt } from '../reference/int';
import { SparrowError } from '../util/errors';
import { FirmwareMap, readTensor } from './firmware_map';
import { PatchTensor } from './format';

type IntVector = Int8Array | Int16Array | Int32Array;

/** Every integer tensor of a model, by its model-file name, in the firmware's layout order. */
export function modelTensors(q: QuantModel): { name: string; matrix?: QMatrix; vector?: IntVector }[] {
  const out: { name: string; matrix?: QMatrix; vector?: IntVector }[] = [];
  const m = (name: string, matrix: QMatrix): void => void out.push({ name, matrix });
  const v = (name: string, vector: IntVector): void => void out.push({ name, vector });
  m('encoder.weight', q.encoderWeight);
  v('encoder.bias', q.encoderBias);
  q.layers.forEach((L, i) => {
    const p = `layers.${i}.`;
    v(p + 'norm.scale', L.normScale);
    v(p + 'norm.shift', L.normShift);
    v(p + 'ssm.lambda_re', L.lambdaRe);
    v(p + 'ssm.lambda_im', L.lambdaIm);
    m(p + 'ssm.B_re', L.B_re);
    m(p + 'ssm.B_im', L.B_im);
    m(p + 'ssm.C_re', L.C_re);
    m(p + 'ssm.C_im', L.C_im);
    v(p + 'ssm.D', L.D);
    if (L.actLut) v(p + 'act_lut', L.actLut);
    if (L.gateWeight) {
      m(p + 'gate.weight', L.gateWeight);
      v(p + 'gate.bias', L.gateBias!);
      v(p + 'gate.sigmoid_lut', L.sigmoidLut!);
    }
    if (L.smaWeight) {
      m(p + 'sma.weight', L.smaWeight);
      v(p + 'sma.bias', L.smaBias!);
    }
  });
  m('decoder.weight', q.decoderWeight);
  v('decoder.bias', q.decoderBias);
  return out;
}

/** A matrix in its logical [rows, cols] shape, row-major. */
function logical(m: QMatrix): Int32Array {
  const out = new Int32Array(m.rows * m.cols);
  if (m.kind === 'dense') out.set(m.values);
  else for (let r = 0; r < m.rows; r++) for (let k = m.indptr![r]; k < m.indptr![r + 1]; k++) out[r * m.cols + m.indices![k]] = m.values[k];
  return out;
}

/** Every scale of a model: the fracs that fix the firmware's shifts (a patch cannot change them). */
function fracs(q: QuantModel): [string, number][] {
  const out: [string, number][] = [['input_frac', q.inputFrac], ['output_frac', q.outputFrac], ['encoder_frac', q.encoderFrac]];
  const rows = (name: string, f: Int8Array): void => f.forEach((x, r) => void out.push([`${name}[${r}]`, x]));
  rows('encoder.weight.row_frac', q.encoderWeight.rowFrac);
  q.layers.forEach((L, i) => {
    const p = `layers.${i}.`;
    const f = L.fmt;
    const meta = { u_in: f.uIn, v: f.v, s: f.s, y: f.y, a: f.a, g: f.g, u_out: f.uOut, norm_scale_frac: L.normScaleFrac, d_frac: L.dFrac };
    for (const [k, x] of Object.entries(meta)) out.push([`__metadata__.quant.layers.${i}.${k}`, x]);
    rows(p + 'ssm.B.row_frac', L.B_re.rowFrac);
    rows(p + 'ssm.C.row_frac', L.C_re.rowFrac);
    if (L.gateWeight) rows(p + 'gate.weight.row_frac', L.gateWeight.rowFrac);
    // No shift depends on it (the decision compares the accumulator with 0), but the bias is on its scale.
    if (L.smaWeight) rows(p + 'sma.weight.row_frac', L.smaWeight.rowFrac);
  });
  rows('decoder.weight.row_frac', q.decoderWeight.rowFrac);
  return out;
}

/**
 * The changed values of `tuned` against `base`, per tensor in layout order (unchanged tensors
 * left out). Refuses another config, other fracs, or another sparsity pattern.
 */
export function diffModels(base: QuantModel, tuned: QuantModel, baseFile: string, tunedFile: string): PatchTensor[] {
  const cb = JSON.stringify(base.config);
  const ct = JSON.stringify(tuned.config);
  if (cb !== ct) throw new SparrowError(`${tunedFile}: config ${ct} differs from ${baseFile}'s ${cb}; a patch changes values only (compile the model and flash the whole firmware)`);
  const fb = fracs(base);
  fracs(tuned).forEach(([name, x], i) => {
    if (x !== fb[i][1]) throw new SparrowError(`${tunedFile}: ${name} is ${x}, ${baseFile} has ${fb[i][1]}: the model was quantized with other scales, which changes the firmware's shifts; a patch changes values only (compile the model and flash the whole firmware)`);
  });
  const baseTensors = modelTensors(base);
  const out: PatchTensor[] = [];
  modelTensors(tuned).forEach((t, i) => {
    const b = baseTensors[i];
    let before: Int32Array;
    let after: Int32Array;
    if (t.matrix) {
      before = logical(b.matrix!);
      after = logical(t.matrix);
      const storedB = nonzeroPositions(b.matrix!);
      const storedT = nonzeroPositions(t.matrix);
      const firstMismatch = (): number => {
        for (let k = 0; k < Math.min(storedB.length, storedT.length); k++) if (storedB[k] !== storedT[k]) return Math.min(storedB[k], storedT[k]);
        return storedB.length === storedT.length ? -1 : storedB.length < storedT.length ? storedT[storedB.length] : storedB[storedT.length];
      };
      let at = firstMismatch();
      if (at < 0) for (let p = 0; p < before.length && at < 0; p++) if ((before[p] === 0) !== (after[p] === 0)) at = p;
      if (at >= 0) {
        const cols = t.matrix.cols;
        throw new SparrowError(`${tunedFile}: ${t.name}: the sparsity pattern differs from ${baseFile}'s at row ${Math.floor(at / cols)}, column ${at % cols} (${before[at]} → ${after[at]}); a patch changes values only (compile the model and flash the whole firmware)`);
      }
    } else {
      before = Int32Array.from(b.vector!);
      after = Int32Array.from(t.vector!);
    }
    const index: number[] = [];
    for (let p = 0; p < after.length; p++) if (after[p] !== before[p]) index.push(p);
    if (index.length > 0) out.push({ name: t.name, index: Int32Array.from(index), value: Int32Array.from(index, (p) => after[p]) });
  });
  return out;
}

/** The golden outputs a direct compile of `tuned` embeds (the integer reference on the firmware's golden inputs), where they differ. */
export function goldenChanges(map: FirmwareMap, tuned: QuantModel): PatchTensor[] {
  const slot = map.tensors.get('golden.outputs')!;
  const before = readTensor(map, slot);
  const after = runInt(tuned, map.goldenInputs, map.goldenSteps);
  const index: number[] = [];
  for (let i = 0; i < after.length; i++) if (after[i] !== before[i]) index.push(i);
  return index.length > 0 ? [{ name: 'golden.outputs', index: Int32Array.from(index), value: Int32Array.from(index, (i) => after[i]) }] : [];
}

/**
 * Refuse a base model that is not the one `map`'s firmware was compiled from: dimensions,
 * every value and stored entry, every shift, and the golden outputs must agree.
 */
export function checkFirmwareHolds(map: FirmwareMap, base: QuantModel, baseFile: string): void {
  const wrong = (what: string): never => {
    throw new SparrowError(`${map.file} was not compiled from ${baseFile} (${what}); diff needs the model the firmware was compiled from`);
  };
  const c = base.config;
  const f = map.config;
  if (c.d_in !== f.d_in || c.d_model !== f.d_model || c.d_state !== f.d_state || c.d_out !== f.d_out || c.n_layers !== f.n_layers || (c.act === 'gelu') !== f.gelu || c.gate !== f.gate || (c.sma ?? false) !== f.sma || (c.encoder_act === 'relu') !== f.encoderRelu) {
    wrong('another config');
  }
  for (const t of modelTensors(base)) {
    const slot = map.tensors.get(t.name)!;
    const held = readTensor(map, slot);
    const expected = t.matrix ? logical(t.matrix) : Int32Array.from(t.vector!);
    const i = expected.findIndex((x, k) => x !== held[k]);
    if (i >= 0) wrong(`${t.name}[${i}] is ${held[i]} in the firmware, ${expected[i]} in the model`);
    if (slot.kind === 'table' && slot.positions) {
      const stored = nonzeroPositions(t.matrix!);
      if (stored.length !== slot.positions.length || stored.some((p, k) => p !== slot.positions![k])) wrong(`${t.name} stores other entries`);
    }
  }
  const sh = modelShifts(base);
  const expectedShifts = new Map<string, ArrayLike<number>>([['encoder.shift', sh.encoder], ['decoder.shift', sh.decoder], ['input_frac', [base.inputFrac]], ['output_frac', [base.outputFrac]]]);
  sh.layers.forEach((L, i) => {
    const p = `layers.${i}.`;
    expectedShifts.set(p + 'ssm.B.shift', L.B).set(p + 'ssm.C.shift', L.C).set(p + 'norm.k', [L.norm]).set(p + 'ssm.D.k', [L.D]).set(p + 'u.k', [L.u]).set(p + 'z.k', [L.z]);
    if (L.gate) expectedShifts.set(p + 'gate.shift', L.gate);
  });
  for (const [name, slot] of map.shifts) {
    const held = readTensor(map, slot);
    const expected = expectedShifts.get(name)!;
    const i = held.findIndex((x, k) => x !== expected[k]);
    if (i >= 0) wrong(`the shift ${name}[${i}] is ${held[i]}, the model's fracs give ${expected[i]}`);
  }
  const golden = goldenChanges(map, base);
  if (golden.length > 0) wrong(`${golden[0].index.length} golden outputs differ from the model's integer reference`);
}
