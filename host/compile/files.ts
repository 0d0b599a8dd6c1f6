// ============================================================================
// Compile from and to files: model.safetensors → <dir>/firmware.wasm and
// <dir>/manifest.json (the documented sidecar later commands read). Both are
// written atomically, and only after the firmware passed its checks.
// ============================================================================

import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { parseAnyModel, readAnyModel } from '../model/quant_file';
import { SparrowError } from '../util/errors';
import { formatBytes, formatNumber } from '../report/table';
import { writeFileAtomic } from '../util/atomic';
import { CSources, emitC } from './c_target';
import { estimateOnBoard, ExecutionMode, BoardEstimate } from '../bench/cost';
import { resolveKernel, CompileOptions, compileModel, compileQuantModel, Firmware, Manifest } from './compile';

export interface FileManifest extends Manifest {
  source: { model: string; modelSha256: string; firmwareSha256: string };
  /** --kernel auto: the board and mode the cost model chose for, and its estimate for this firmware (host/bench/cost.ts). */
  autoKernel?: { board: string; mode: ExecutionMode; unrolled: string[]; tableDriven: string[]; estimate: BoardEstimate };
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Float models compile to the f32 engine, quantized models to the integer engine. */
function compileAny(m: ReturnType<typeof parseAnyModel>, opts: CompileOptions, file = 'model'): Firmware {
  if (m.kind === 'float' && ((opts.kernel !== undefined && opts.kernel !== 'csr') || opts.profile)) {
    throw new SparrowError(`${file}: --kernel unrolled/auto and --profile need a quantized model; run 'sparrow quantize' first`);
  }
  return m.kind === 'float' ? compileModel(m.model, opts) : compileQuantModel(m.model, opts);
}

export function compileInMemory(modelPath: string, opts: CompileOptions = {}): Firmware {
  return compileAny(readAnyModel(modelPath), opts, modelPath);
}

/** What --kernel auto chose and what the cost model expects of the result on the board. */
function autoReport(m: ReturnType<typeof parseAnyModel>, fw: Firmware, opts: CompileOptions): FileManifest['autoKernel'] {
  if (opts.kernel !== 'auto' || m.kind !== 'quantized' || !opts.board) return undefined;
  const mode = opts.mode ?? 'wamr-aot';
  const matrices = fw.manifest.firmware.matrices ?? [];
  const unrolled = matrices.filter((x) => x.format === 'unrolled').map((x) => x.name);
  const tableDriven = matrices.filter((x) => x.format !== 'unrolled').map((x) => `${x.name} (${x.format})`);
  const f = fw.manifest.firmware;
  const estimate = estimateOnBoard(m.model, (name) => (unrolled.includes(name) ? 'unrolled' : 'csr'), opts.board, mode, { mutableBytes: f.mutableBytes, wasmBytes: fw.wasm.length, linearMemoryBytes: f.linearMemoryBytes });
  return { board: opts.board.name, mode, unrolled, tableDriven, estimate };
}

export function compileToDirectory(modelPath: string, outDir: string, opts: CompileOptions = {}): { manifest: FileManifest; summary: string } {
  const m = readAnyModel(modelPath);
  const fw = compileAny(m, opts, modelPath);
  const auto = autoReport(m, fw, opts);
  const manifest: FileManifest = {
    ...fw.manifest,
    source: { model: path.basename(modelPath), modelSha256: sha256(fs.readFileSync(modelPath)), firmwareSha256: sha256(fw.wasm) },
    ...(auto ? { autoKernel: auto } : {}),
  };
  const wasmPath = path.join(outDir, 'firmware.wasm');
  writeFileAtomic(wasmPath, fw.wasm);
  writeFileAtomic(path.join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  const f = manifest.firmware;
  const summary = [
    `wrote ${wasmPath} (${formatBytes(f.wasmBytes)}) and manifest.json`,
    `  linear memory ${formatBytes(f.linearMemoryBytes)} (${f.pages} page${f.pages === 1 ? '' : 's'}, fixed), of which ${formatBytes(f.dataBytes)} initialised data and ${formatBytes(f.mutableBytes)} state/scratch/io`,
    `  ${formatNumber(manifest.model.nonzeros)} nonzero parameters of ${formatNumber(manifest.model.parameters)}, ${formatNumber(manifest.model.macsPerStep)} MACs/step`,
    `  ${manifest.engine === 'i16' ? 'integer (w8a16) engine, no float instruction in step()' : 'f32 engine'}; checks: 0 imports, no memory.grow, no SIMD, initial = maximum pages; selftest() = 0 over ${manifest.golden.steps} golden steps${manifest.engine === 'i16' ? ' (bit-exact)' : ''}`,
    ...(auto
      ? [
          `  --kernel auto for ${auto.board} (${auto.mode}), by the cost model: weights in code for ${auto.unrolled.length} of ${auto.unrolled.length + auto.tableDriven.length} matrices${auto.unrolled.length ? ` (${auto.unrolled.join(', ')})` : ''}; table-driven: ${auto.tableDriven.join(', ') || 'none'}`,
          `  estimate on ${auto.board} (${auto.mode}): ${Number(auto.estimate.usPerStep.toPrecision(3)).toLocaleString("en-US")} µs/step, ${Number(auto.estimate.uJPerStep.toPrecision(3)).toLocaleString("en-US")} µJ/step, flash ${formatBytes(Math.round(auto.estimate.flashBytes))}, RAM ${formatBytes(Math.round(auto.estimate.ramBytes))}: ${auto.estimate.fits ? 'fits' : `does not fit (${auto.estimate.problems.join(', ')})`}`,
        ]
      : []),
  ].join('\n');
  return { manifest, summary };
}

/** `--target c`: <dir>/sparrow_model.{c,h} of a quantized model (bit-exact with the integer reference). */
export function compileCToDirectory(modelPath: string, outDir: string, opts: Pick<CompileOptions, 'kernel' | 'board' | 'mode'> = {}): { files: string[]; kernels: CSources['kernels']; summary: string } {
  const m = readAnyModel(modelPath);
  if (m.kind === 'float') throw new SparrowError(`${modelPath}: --target c needs a quantized (w8a16) model; run 'sparrow quantize' first`);
  const c = emitC(m.model, { kernel: resolveKernel(m.model, opts) });
  const files = [path.join(outDir, 'sparrow_model.h'), path.join(outDir, 'sparrow_model.c')];
  writeFileAtomic(files[0], c.header);
  writeFileAtomic(files[1], c.source);
  const unrolled = c.kernels.filter((k) => k.kernel === 'unrolled').length;
  const summary = [
    `wrote ${files.join(' and ')} (${formatBytes(c.source.length)} of C99)`,
    `  ${c.kernels.length} matrices: ${unrolled} with weights in code, ${c.kernels.length - unrolled} table-driven; API: sparrow_reset(), sparrow_step(in, out) on int16 (see the header)`,
  ].join('\n');
  return { files, kernels: c.kernels, summary };
}
