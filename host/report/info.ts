// ============================================================================
// `sparrow info`: what a model or a firmware file contains, as text and JSON.
// ============================================================================

import { checkFirmware } from '../compile/check';
import { describeModel } from '../model/describe';
import { readModel } from '../model/model';
import { readFirmware } from '../runtime/files';
import { formatBytes, formatNumber, formatTable } from './table';

export function describeFile(file: string): { json: unknown; text: string } {
  if (file.endsWith('.wasm')) return describeFirmwareFile(file);
  const s = describeModel(readModel(file));
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
