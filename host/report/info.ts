// ============================================================================
// `sparrow info`: what a model or a firmware file contains, as text and JSON.
// ============================================================================

import { checkFirmware } from '../compile/check';
import * as fs from 'fs';
import { describeModel, describeQuantModel, IdleLayer, idleStatesOf } from '../model/describe';
import { QMatrix, QuantModel } from '../model/quant';
import { chooseFormat, entropyBoundBits, nonzeroPositions } from '../compress/formats';
import { parseAnyModel } from '../model/quant_file';
import { SparrowError } from '../util/errors';
import { readFirmware } from '../runtime/files';
import { formatBytes, formatNumber, formatTable } from './table';

/** The MACs line: with SMA, the gate's share is data-dependent and the total is the worst case. */
function macsText(c: { gate: boolean; sma?: boolean }, s: { macsPerStep: number; gateMacsPerStep: number; smaDecisionMacsPerStep: number }): string {
  if (!c.sma) return `${formatNumber(s.macsPerStep)} MACs/step`;
  return `${formatNumber(s.macsPerStep)} MACs/step with every gate running (the worst case); SMA makes the gates' ${formatNumber(s.gateMacsPerStep)} of them data-dependent: a step whose decision is off skips its layer's gate, so at a share r of layer-steps on, a step costs ${formatNumber(s.macsPerStep - s.gateMacsPerStep)} + r · ${formatNumber(s.gateMacsPerStep)} MACs (the decision rows' ${formatNumber(s.smaDecisionMacsPerStep)} always run)`;
}

/** SMA's per-layer decision, in words. */
function smaLines(c: { n_layers: number; sma?: boolean }, quantized: boolean): string[] {
  if (!c.sma) return [];
  const rule = quantized
    ? 'the gate runs iff layers.i.sma.weight · y + layers.i.sma.bias > 0 (the one row w₁ − w₀, int32 at frac sma.weight.row_frac + y)'
    : 'the gate runs iff l₁ > l₀, l = layers.i.sma.weight · y + layers.i.sma.bias (two logits of the SSM output y)';
  return [`SMA decision, per layer and step: ${rule}`];
}

/** The idle-states line (host/model/describe.ts), or nothing when every state with an entry is live. */
function idleLines(idle: IdleLayer[], P: number, macsPerStep: number): string[] {
  const macs = idle.reduce((a, l) => a + l.idleMacs, 0);
  if (macs === 0) return [];
  const per = idle.map((l) => `layer ${l.layer}: ${l.noInput} of ${P} states with no input, ${l.noOutput} with no output, ${formatNumber(l.idleEntries)} B/C entries on them`).join('; ');
  return [
    `idle states: ${per}. Those entries' ${formatNumber(macs)} of the ${formatNumber(macsPerStep)} MACs/step (${((100 * macs) / macsPerStep).toFixed(1)}%) compute nothing; the balanced saliency (the default of \`sparrow prune\` and \`train\` since 2026-12-03) spends that budget on live states (docs/compression.md)`,
  ];
}

export function describeFile(file: string): { json: unknown; text: string } {
  if (file.endsWith('.wasm')) return describeFirmwareFile(file);
  const any = parseAnyModel(readBytes(file), file);
  if (any.kind === 'quantized') return describeQuantFile(file, any.model);
  const s = describeModel(any.model);
  const idle = idleStatesOf(any.model);
  const c = s.config;
  const rows = s.tensors.map((t) => [t.name, `[${t.shape.join(', ')}]`, t.storage, t.nonzeros, `${(t.sparsity * 100).toFixed(1)}%`, t.firmwareBytes]);
  const text = [
    `${file}: ${c.n_layers} layer${c.n_layers === 1 ? '' : 's'}, d_in ${c.d_in}, H ${c.d_model}, P ${c.d_state} (complex), d_out ${c.d_out}, act ${c.act}, encoder ${c.encoder_act}, gate ${c.gate ? 'on' : 'off'}, sma ${c.sma ? 'on' : 'off'}`,
    ...smaLines(c, false),
    '',
    formatTable(['tensor', 'shape', 'storage', 'nonzeros', 'sparsity', 'f32 bytes'], rows),
    '',
    `parameters ${formatNumber(s.parameters)}, nonzeros ${formatNumber(s.nonzeros)}, matrix sparsity ${(s.matrixSparsity * 100).toFixed(1)}%${c.sma ? ' (SMA\'s decision rows excluded)' : ''}`,
    `weights in f32 firmware ${formatBytes(s.firmwareWeightBytes)}, ${macsText(c, s)}`,
    ...idleLines(idle, c.d_state, s.macsPerStep),
  ].join('\n');
  return { json: { ...s, idleStates: idle }, text };
}

function readBytes(file: string): Uint8Array {
  try {
    return new Uint8Array(fs.readFileSync(file));
  } catch (e) {
    throw new SparrowError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

function describeQuantFile(file: string, q: QuantModel): { json: unknown; text: string } {
  const c = q.config;
  const counts = describeQuantModel(q);
  const idle = idleStatesOf(q);
  // SMA's decision accumulator: the decision row's frac plus y's.
  const decisionFrac = (L: QuantModel['layers'][number]): number[] => (L.smaWeight ? [L.smaWeight.rowFrac[0] + L.fmt.y] : []);
  const rows = q.layers.map((L, i) => [`layer ${i}`, L.fmt.uIn, L.fmt.v, L.fmt.s, L.fmt.y, L.fmt.a, c.gate ? String(L.fmt.g) : '-', L.fmt.uOut, ...decisionFrac(L)]);
  const named: [string, QMatrix][] = [['encoder.weight', q.encoderWeight]];
  q.layers.forEach((L, i) => {
    named.push([`layers.${i}.ssm.B_re`, L.B_re], [`layers.${i}.ssm.B_im`, L.B_im], [`layers.${i}.ssm.C_re`, L.C_re], [`layers.${i}.ssm.C_im`, L.C_im]);
    if (L.gateWeight) named.push([`layers.${i}.gate.weight`, L.gateWeight]);
    if (L.smaWeight) named.push([`layers.${i}.sma.weight`, L.smaWeight]);
  });
  named.push(['decoder.weight', q.decoderWeight]);
  const storage = named.map(([name, m]) => {
    // SMA's decision row is stored as a plain int8 row [H], whatever its zeros (one row: no index to save).
    const e = name.endsWith('.sma.weight') ? { format: 'dense', index: new Uint8Array(0), valueCount: m.cols } : chooseFormat(m);
    const nnz = nonzeroPositions(m).length;
    const bound = entropyBoundBits(m.rows * m.cols, nnz) / 8;
    return { name, shape: [m.rows, m.cols], nonzeros: nnz, format: e.format, indexBytes: e.index.length, valueBytes: e.valueCount, bitsPerNonzero: nnz ? (8 * (e.index.length + e.valueCount)) / nnz : 0, entropyBoundBytes: Math.ceil(bound) };
  });
  const storageRows = storage.map((m) => [m.name, `[${m.shape.join(', ')}]`, m.nonzeros, m.format, m.indexBytes, m.valueBytes, Number(m.bitsPerNonzero.toFixed(2)), m.entropyBoundBytes]);
  const text = [
    `${file}: quantized ${q.scheme}, ${c.n_layers} layer${c.n_layers === 1 ? '' : 's'}, d_in ${c.d_in}, H ${c.d_model}, P ${c.d_state}, d_out ${c.d_out}, act ${c.act}, gate ${c.gate ? 'on' : 'off'}, sma ${c.sma ? 'on' : 'off'}`,
    `input frac ${q.inputFrac}, encoder output frac ${q.encoderFrac}, output frac ${q.outputFrac} (real = int · 2^-frac)`,
    ...smaLines(c, true),
    '',
    formatTable(['fractional bits', 'u in', 'v', 's', 'y', 'a', 'g', 'u out', ...(c.sma ? ['decision acc'] : [])], rows),
    '',
    'storage chosen by the integer compiler (smallest per matrix; entropy bound = log2 C(rows·cols, nnz) bits):',
    formatTable(['matrix', 'shape', 'nonzeros', 'format', 'index B', 'value B', 'bits/nonzero', 'entropy bound B'], storageRows),
    '',
    `parameters ${formatNumber(counts.parameters)}, nonzeros ${formatNumber(counts.nonzeros)}, ${macsText(c, counts)}`,
    ...idleLines(idle, c.d_state, counts.macsPerStep),
  ].join('\n');
  const layers = q.layers.map((L) => ({ ...L.fmt, ...(L.smaWeight ? { decisionFrac: decisionFrac(L)[0] } : {}) }));
  return { json: { file, scheme: q.scheme, config: c, inputFrac: q.inputFrac, outputFrac: q.outputFrac, encoderFrac: q.encoderFrac, layers, matrices: storage, ...counts, idleStates: idle }, text };
}

function describeFirmwareFile(file: string): { json: unknown; text: string } {
  const wasm = readFirmware(file);
  const check = checkFirmware(wasm, {});
  const json = { file, bytes: wasm.length, ...check };
  const text = [
    `${file}: ${formatBytes(wasm.length)}, memory ${check.memory ? `${check.memory.initialPages}..${check.memory.maximumPages ?? 'unbounded'} pages` : 'none'}, ${check.imports.length} imports`,
    `exports: ${check.exports.join(', ')}`,
    check.problems.length === 0 ? 'checks: clean' : `problems:\n  ${check.problems.join('\n  ')}`,
  ].join('\n');
  return { json, text };
}
