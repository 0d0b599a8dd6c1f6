// ============================================================================
// `sparrow diff` and `sparrow patch` from and to files: read, make or apply the
// patch (patch.ts), write atomically only after every check passed, and say
// how big the patch is next to the firmware.
// ============================================================================

import * as fs from 'fs';
import { CompileOptions, compileQuantModel } from '../compile/compile';
import { parseAnyModel } from '../model/quant_file';
import { QuantModel } from '../model/quant';
import { formatBytes, formatNumber, formatTable } from '../report/table';
import { readFirmware } from '../runtime/files';
import { writeFileAtomic } from '../util/atomic';
import { SparrowError } from '../util/errors';
import { entryCount, Patch } from './format';
import { applyPatch, makePatch } from './patch';

export interface PatchReport {
  patch: string;
  patchBytes: number;
  /** Bytes of the firmware the patch applies to, and of the one it produces. */
  firmwareBytes: number;
  resultBytes: number;
  baseSha256: string;
  resultSha256: string;
  /** Changed model values; golden outputs (selftest()'s expected outputs) the patch carries (0 since they are recomputed on apply) and that change. */
  values: number;
  goldenOutputs: number;
  goldenChanged: number;
  tensors: { name: string; entries: number }[];
}

function readBytes(file: string): Uint8Array {
  try {
    return new Uint8Array(fs.readFileSync(file));
  } catch (e) {
    throw new SparrowError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

function readQuantModel(file: string): QuantModel {
  const m = parseAnyModel(readBytes(file), file);
  if (m.kind !== 'quantized') throw new SparrowError(`${file}: a float model; patches carry the values of quantized (w8a16) models: run \`sparrow quantize\` first`);
  return m.model;
}

function report(file: string, bytes: Uint8Array, p: Patch, goldenChanged: number): PatchReport {
  const golden = p.tensors.find((t) => t.name === 'golden.outputs')?.index.length ?? 0;
  return {
    patch: file,
    patchBytes: bytes.length,
    firmwareBytes: p.baseBytes,
    resultBytes: p.resultBytes,
    baseSha256: p.baseSha256,
    resultSha256: p.resultSha256,
    values: entryCount(p.tensors) - golden,
    goldenOutputs: golden,
    goldenChanged,
    tensors: p.tensors.map((t) => ({ name: t.name, entries: t.index.length })),
  };
}

const percent = (part: number, whole: number): string => `${((100 * part) / whole).toFixed(1)}%`;

export interface DiffFileOptions {
  /** The base firmware as deployed; without it the base model is compiled with `compile`. */
  firmware?: string;
  /** Without `firmware`: the options the base firmware was (and the tuned one would be) compiled with. */
  compile?: CompileOptions;
}

/**
 * `sparrow diff base tuned -o out`: the patch from the base firmware to the firmware of `tuned`.
 * With `firmware`, that file is the base and must hold `base`; without, `base` is compiled with
 * `compile`, and the patched result is checked against compiling `tuned` the same way.
 */
export function diffToFile(basePath: string, tunedPath: string, outPath: string, opts: DiffFileOptions = {}): { report: PatchReport & { checked: string }; summary: string } {
  const base = readQuantModel(basePath);
  const tuned = readQuantModel(tunedPath);
  const firmwareName = opts.firmware ?? `${basePath} compiled`;
  const firmware = opts.firmware ? readFirmware(opts.firmware) : compileQuantModel(base, opts.compile).wasm;
  const made = makePatch(firmware, base, tuned, { firmware: firmwareName, base: basePath, tuned: tunedPath }, { checkBase: opts.firmware !== undefined });
  let checked: string;
  if (opts.firmware) {
    checked = `${opts.firmware} holds ${basePath} (every value, stored entry, shift and golden output)`;
  } else {
    const direct = compileQuantModel(tuned, opts.compile).wasm;
    if (!Buffer.from(direct).equals(Buffer.from(made.result))) throw new SparrowError(`${tunedPath}: the patched firmware differs from a direct compile (this is a sparrow bug; please report it with both models); nothing written`);
    checked = `the patched firmware equals a direct compile of ${tunedPath}, byte for byte`;
  }
  writeFileAtomic(outPath, made.bytes);
  const r = { ...report(outPath, made.bytes, made.patch, made.goldenChanged), checked };
  const values = r.tensors.filter((t) => t.name !== 'golden.outputs');
  const summary = [
    `wrote ${outPath}: ${formatNumber(r.patchBytes)} B, ${percent(r.patchBytes, r.firmwareBytes)} of the ${formatNumber(r.firmwareBytes)} B (${formatBytes(r.firmwareBytes)}) firmware it applies to`,
    `  ${formatNumber(r.values)} changed values in ${values.length} tensor${values.length === 1 ? '' : 's'}; ${formatNumber(r.goldenChanged)} golden outputs of selftest() change with them (not carried: \`sparrow patch\` recomputes them with the patched firmware, and the result's sha256 checks them)`,
    `  applies to sha256 ${r.baseSha256} only; gives sha256 ${r.resultSha256}`,
    `  checked: ${checked}; the patched firmware passes the compiler's checks and selftest()`,
    ...(values.length > 0 ? ['', formatTable(['tensor', 'changed values'], values.map((t) => [t.name, t.entries]))] : []),
  ].join('\n');
  return { report: r, summary };
}

/** `sparrow patch firmware.wasm update.patch -o new.wasm`; nothing is written unless every check passed. */
export function patchToFile(firmwarePath: string, patchPath: string, outPath: string): { report: PatchReport; summary: string } {
  const firmware = readFirmware(firmwarePath);
  const patchBytes = readBytes(patchPath);
  const { wasm, patch, goldenChanged } = applyPatch(firmware, patchBytes, { firmware: firmwarePath, patch: patchPath });
  writeFileAtomic(outPath, wasm);
  const r = report(patchPath, patchBytes, patch, goldenChanged);
  const summary = [
    `wrote ${outPath} (${formatNumber(wasm.length)} B, sha256 ${r.resultSha256})`,
    `  ${formatNumber(r.values)} values in ${r.tensors.length - (r.goldenOutputs > 0 ? 1 : 0)} tensors from ${patchPath} (${formatNumber(r.patchBytes)} B, ${percent(r.patchBytes, r.firmwareBytes)} of the firmware); ${formatNumber(r.goldenChanged)} golden outputs ${r.goldenOutputs > 0 ? 'carried by the patch' : 'recomputed with the patched firmware'}`,
    `  checks: base sha256 and patch checksum match; 0 imports, no memory.grow, no SIMD, initial = maximum pages; selftest() = 0`,
  ].join('\n');
  return { report: r, summary };
}
