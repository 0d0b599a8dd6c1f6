// ============================================================================
// Compile from and to files: model.safetensors → <dir>/firmware.wasm and
// <dir>/manifest.json (the documented sidecar later commands read). Both are
// written atomically, and only after the firmware passed its checks.
// ============================================================================

import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { readModel } from '../model/model';
import { formatBytes, formatNumber } from '../report/table';
import { writeFileAtomic } from '../util/atomic';
import { CompileOptions, compileModel, Firmware, Manifest } from './compile';

export interface FileManifest extends Manifest {
  source: { model: string; modelSha256: string; firmwareSha256: string };
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

export function compileInMemory(modelPath: string, opts: CompileOptions = {}): Firmware {
  return compileModel(readModel(modelPath), opts);
}

export function compileToDirectory(modelPath: string, outDir: string, opts: CompileOptions = {}): { manifest: FileManifest; summary: string } {
  const model = readModel(modelPath);
  const fw = compileModel(model, opts);
  const manifest: FileManifest = {
    ...fw.manifest,
    source: { model: path.basename(modelPath), modelSha256: sha256(fs.readFileSync(modelPath)), firmwareSha256: sha256(fw.wasm) },
  };
  const wasmPath = path.join(outDir, 'firmware.wasm');
  writeFileAtomic(wasmPath, fw.wasm);
  writeFileAtomic(path.join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  const f = manifest.firmware;
  const summary = [
    `wrote ${wasmPath} (${formatBytes(f.wasmBytes)}) and manifest.json`,
    `  linear memory ${formatBytes(f.linearMemoryBytes)} (${f.pages} page${f.pages === 1 ? '' : 's'}, fixed), of which ${formatBytes(f.dataBytes)} initialised data and ${formatBytes(f.mutableBytes)} state/scratch/io`,
    `  ${formatNumber(manifest.model.nonzeros)} nonzero parameters of ${formatNumber(manifest.model.parameters)}, ${formatNumber(manifest.model.macsPerStep)} MACs/step`,
    `  checks: 0 imports, no memory.grow, no SIMD, initial = maximum pages; selftest() = 0 over ${manifest.golden.steps} golden steps`,
  ].join('\n');
  return { manifest, summary };
}
