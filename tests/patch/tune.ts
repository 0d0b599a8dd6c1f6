// Fixtures of the patch tests: a random sparse quantized model, and "fine-tuned" copies of it
// that change nonzero weights to other nonzero values (same pattern, same fracs), the way a
// short fine-tune at fixed scales does.

import { quantizeModel } from '../../host/compress/quantize';
import { QMatrix, QuantModel } from '../../host/model/quant';
import { randomModel } from '../../host/model/random';
import { makeRng, Rng } from '../../host/util/rng';

export function baseModel(seed = 8, over: Partial<Parameters<typeof randomModel>[0]> = {}): QuantModel {
  const cfg = { d_in: 3, d_model: 24, d_state: 20, d_out: 2, n_layers: 2, act: 'gelu' as const, encoder_act: 'none' as const, gate: true, sparsity: 0.8, seed, ...over };
  const rng = makeRng(seed);
  const calib = { sequences: [{ data: Float64Array.from({ length: 300 * cfg.d_in }, () => rng.normal()), T: 300 }] };
  return quantizeModel(randomModel(cfg), calib, { perChannel: true });
}

/** Row-major positions of a matrix's nonzero weights. */
export function nonzeroAt(m: QMatrix): number[] {
  const out: number[] = [];
  for (let r = 0; r < m.rows; r++) {
    if (m.kind === 'dense') for (let c = 0; c < m.cols; c++) m.values[r * m.cols + c] !== 0 && out.push(r * m.cols + c);
    else for (let k = m.indptr![r]; k < m.indptr![r + 1]; k++) if (m.values[k] !== 0) out.push(r * m.cols + m.indices![k]);
  }
  return out;
}

/** The storage slot of row-major position `pos`, or −1 when the matrix does not store it. */
function slotOf(m: QMatrix, pos: number): number {
  if (m.kind === 'dense') return pos;
  const r = Math.floor(pos / m.cols);
  for (let k = m.indptr![r]; k < m.indptr![r + 1]; k++) if (m.indices![k] === pos % m.cols) return k;
  return -1;
}

export function getEntry(m: QMatrix, pos: number): number {
  const k = slotOf(m, pos);
  return k < 0 ? 0 : m.values[k];
}

export function setEntry(m: QMatrix, pos: number, value: number): void {
  const k = slotOf(m, pos);
  if (k < 0) throw new Error(`position ${pos} is not stored`);
  m.values[k] = value;
}

/** Another nonzero int8 near w (w nonzero): what a fine-tune step at a fixed scale gives. */
export function nudge(w: number, rng: Rng): number {
  const d = (1 + rng.int(6)) * (rng.int(2) === 0 ? -1 : 1);
  let v = Math.max(-127, Math.min(127, w + d));
  if (v === 0 || v === w) v = w > 0 ? (w === 127 ? 126 : w + 1) : w === -127 ? -126 : w - 1;
  return v;
}

export function matricesOf(q: QuantModel): QMatrix[] {
  return [q.encoderWeight, ...q.layers.flatMap((L) => [L.B_re, L.B_im, L.C_re, L.C_im, ...(L.gateWeight ? [L.gateWeight] : [])]), q.decoderWeight];
}

/** A copy of q with a few nonzero weights of B, C and the decoder, a Λ entry and a bias changed. */
export function fewChanges(q: QuantModel, seed = 1): QuantModel {
  const t = structuredClone(q);
  const rng = makeRng(seed);
  for (const m of [t.layers[0].B_re, t.layers[1].C_im, t.decoderWeight, t.layers[1].gateWeight!]) {
    const nz = nonzeroAt(m);
    for (let i = 0; i < 2; i++) {
      const pos = nz[rng.int(nz.length)];
      setEntry(m, pos, nudge(getEntry(m, pos), rng));
    }
  }
  t.layers[0].lambdaRe[3] += t.layers[0].lambdaRe[3] > 0 ? -7 : 7; // |Λ| only shrinks: stays < 1
  t.layers[1].lambdaIm[0] += t.layers[1].lambdaIm[0] > 0 ? -2 : 2;
  t.encoderBias[1] += 37;
  return t;
}

/** A copy of q with `fraction` of the nonzero weights of every matrix changed (same pattern, same fracs). */
export function fractionChanged(q: QuantModel, fraction: number, seed = 2): { tuned: QuantModel; changed: number } {
  const t = structuredClone(q);
  const rng = makeRng(seed);
  let changed = 0;
  for (const m of matricesOf(t)) {
    const nz = nonzeroAt(m);
    for (const pos of nz) {
      if (rng.uniform() >= fraction) continue;
      setEntry(m, pos, nudge(getEntry(m, pos), rng));
      changed++;
    }
  }
  return { tuned: t, changed };
}

/** A copy of an SMA model with two nonzero weights of layer 0's decision row and layer 1's decision bias changed. */
export function smaChanges(q: QuantModel, seed = 3): QuantModel {
  const t = structuredClone(q);
  const rng = makeRng(seed);
  const row = t.layers[0].smaWeight!;
  const nz = nonzeroAt(row);
  for (let i = 0; i < 2; i++) {
    const pos = nz[rng.int(nz.length)];
    setEntry(row, pos, nudge(getEntry(row, pos), rng));
  }
  t.layers[1].smaBias![0] += 1000;
  return t;
}
