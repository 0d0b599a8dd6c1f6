// ============================================================================
// `sparrow info`: what a model or a firmware file contains, as text and JSON.
// ============================================================================

import { checkFirmware } from '../compile/check';
import * as fs from 'fs';
import { describeModel, describeQuantModel } from '../model/describe';
import { QuantModel } from '../model/quant';
import { parseAnyModel } from '../model/quant_file';
import { SparrowError } from '../util/errors';
import { readFirmware } from '../runtime/files';
import { formatBytes, formatNumber, formatTable } from './table';

export function describeFile(file: string): { json: unknown; text: string } {
  if (file.endsWith('.wasm')) return describeFirmwareFile(file);
  const any = parseAnyModel(readBytes(file), file);
  if (any.kind === 'quantized') return describeQuantFile(file, any.model);
  const s = describeModel(any.model);
  const c = s.config;
  const rows = s.tensors.map((t) => [t.name, `[${t.shape.join(', ')}]`, t.storage, t.nonzeros, `${(t.sparsity * 100).toFixed(1)}%`, t.firmwareBytes]);
  const text = [
    `${file}: ${c.n_layers} layer${c.n_layers === 1 ? '' : 's'}, d_in ${c.d_in}, H ${c.d_model}, P ${c.d_state} (complex), d_out ${c.d_out}, act ${c.act}, encoder ${c.encoder_act}, gate ${c.gate ? 'on' : 'off'}`,
    '',
    formatTable(['tensor', 'shape', 'storage', 'nonzeros', 'sparsity', 'f32 bytes'], rows),
    '',
    `parameters ${formatNumber(s.parameters)}, nonzeros ${formatNumber(s.nonzeros)}, matrix sparsity ${(s.matrixSparsity * 100).toFixed(1)}%`,
    `weights in f32 firmware ${formatBytes(s.firmwareWeightBytes)}, ${formatNumber(s.macsPerStep)} MACs/step`,
  ].join('\n');
  return { json: s, text };
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
  const rows = q.layers.map((L, i) => [`layer ${i}`, L.fmt.uIn, L.fmt.v, L.fmt.s, L.fmt.y, L.fmt.a, c.gate ? String(L.fmt.g) : '-', L.fmt.uOut]);
  const text = [
    `${file}: quantized ${q.scheme}, ${c.n_layers} layer${c.n_layers === 1 ? '' : 's'}, d_in ${c.d_in}, H ${c.d_model}, P ${c.d_state}, d_out ${c.d_out}, act ${c.act}, gate ${c.gate ? 'on' : 'off'}`,
    `input frac ${q.inputFrac}, encoder output frac ${q.encoderFrac}, output frac ${q.outputFrac} (real = int · 2^-frac)`,
    '',
    formatTable(['fractional bits', 'u in', 'v', 's', 'y', 'a', 'g', 'u out'], rows),
    '',
    `parameters ${formatNumber(counts.parameters)}, nonzeros ${formatNumber(counts.nonzeros)}, ${formatNumber(counts.macsPerStep)} MACs/step`,
  ].join('\n');
  return { json: { file, scheme: q.scheme, config: c, inputFrac: q.inputFrac, outputFrac: q.outputFrac, encoderFrac: q.encoderFrac, layers: q.layers.map((L) => L.fmt), ...counts }, text };
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
