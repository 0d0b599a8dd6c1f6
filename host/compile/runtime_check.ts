// ============================================================================
// `sparrow check firmware.wasm --runtime …`: will this module load and run on
// a given WAMR execution mode? Starts from the compile-time checks (check.ts)
// and adds what differs per runtime, plus an estimate of the native stack the
// interpreter needs for the deepest call chain from an ABI export.
// ============================================================================

import { bodyOf, functionType, parseModule, scanInstructions, WasmModule } from '../wasm/binary';
import { ABI_FUNCTIONS, CheckOptions, checkFirmware, FirmwareCheck } from './check';

export const RUNTIMES = ['wamr-classic', 'wamr-fast', 'wamr-aot'] as const;
export type Runtime = (typeof RUNTIMES)[number];

export interface RuntimeCheck extends FirmwareCheck {
  runtime: Runtime;
  /** Worth knowing, not fatal. */
  warnings: string[];
  /** Estimated bytes of interpreter stack for the deepest call chain; undefined when recursion makes it unbounded. */
  stackBytesEstimate: number | undefined;
  /** Deepest call chain from an ABI export, in functions. */
  callDepth: number;
}

/**
 * Per interpreter frame: a header, one 8-byte cell per parameter and local (i64/f64 take two
 * 4-byte cells in WAMR), and headroom for the operand stack and block records. A deliberately
 * generous estimate, not a measurement: WAMR's own frames are smaller.
 */
const FRAME_HEADER_BYTES = 64;
const OPERAND_HEADROOM_BYTES = 256;

function frameBytes(mod: WasmModule, f: number): number {
  const params = functionType(mod, f)?.params.length ?? 0;
  const locals = (bodyOf(mod, f)?.locals ?? []).reduce((a, g) => a + g.count, 0);
  return FRAME_HEADER_BYTES + 8 * (params + locals) + OPERAND_HEADROOM_BYTES;
}

/** Deepest stack (bytes) and depth along direct calls from `f`; undefined on a cycle. */
function deepest(mod: WasmModule, calls: (f: number) => Set<number>, f: number, onPath: Set<number>, memo: Map<number, { bytes: number; depth: number } | undefined>): { bytes: number; depth: number } | undefined {
  if (onPath.has(f)) return undefined;
  if (memo.has(f)) return memo.get(f);
  onPath.add(f);
  let best = { bytes: 0, depth: 0 };
  for (const g of calls(f)) {
    const d = deepest(mod, calls, g, onPath, memo);
    if (d === undefined) {
      onPath.delete(f);
      memo.set(f, undefined);
      return undefined;
    }
    if (d.bytes > best.bytes) best = d;
  }
  onPath.delete(f);
  const result = { bytes: best.bytes + frameBytes(mod, f), depth: best.depth + 1 };
  memo.set(f, result);
  return result;
}

export function checkForRuntime(wasm: Uint8Array, runtime: Runtime, opts: CheckOptions = {}): RuntimeCheck {
  const base = checkFirmware(wasm, opts);
  const warnings: string[] = [];
  let stackBytesEstimate: number | undefined = 0;
  let callDepth = 0;
  if (base.problems.some((p) => p.startsWith('not a valid'))) return { ...base, runtime, warnings, stackBytesEstimate: undefined, callDepth };

  const mod = parseModule(wasm);
  const stats = scanInstructions(mod);
  const problems = base.problems.map((p) => (p.startsWith('SIMD') ? `${p.replace(" (WAMR's classic interpreter rejects SIMD)", '')} (${runtime === 'wamr-aot' ? 'wamrc needs a 128-bit SIMD target; Cortex-M and Xtensa MCUs have none' : `WAMR's ${runtime === 'wamr-classic' ? 'classic' : 'fast'} interpreter on MCU builds has no SIMD`})` : p));

  const bulk = stats.filter((s) => s.bulkMemory > 0).length;
  if (bulk > 0) warnings.push(`bulk-memory instructions in ${bulk} function${bulk === 1 ? '' : 's'}: needs WAMR built with WAMR_BUILD_BULK_MEMORY=1`);
  const atomics = stats.filter((s) => s.atomics > 0).length;
  if (atomics > 0) problems.push(`atomic instructions in ${atomics} function${atomics === 1 ? '' : 's'}: firmware is single-threaded`);
  const indirect = stats.filter((s) => s.callIndirect > 0).length;
  if (indirect > 0) warnings.push(`call_indirect in ${indirect} function${indirect === 1 ? '' : 's'}: the stack estimate follows direct calls only`);

  const imported = mod.importedFunctionCount;
  const calls = (f: number): Set<number> => (f < imported ? new Set() : stats[f - imported]?.calls ?? new Set());
  const memo = new Map<number, { bytes: number; depth: number } | undefined>();
  for (const name of ABI_FUNCTIONS) {
    const f = mod.exports.find((e) => e.name === name && e.kind === 'func')?.index;
    if (f === undefined) continue;
    const d = deepest(mod, calls, f, new Set(), memo);
    if (d === undefined) {
      stackBytesEstimate = undefined;
      problems.push(`recursion reachable from ${name}(): the stack it needs is unbounded`);
      break;
    }
    if (stackBytesEstimate !== undefined && d.bytes > stackBytesEstimate) {
      stackBytesEstimate = d.bytes;
      callDepth = d.depth;
    }
  }
  if (runtime === 'wamr-aot') warnings.push('AOT: compile with wamrc for the board target; the AOT file, not this .wasm, is what the device loads');
  return { ...base, problems, runtime, warnings, stackBytesEstimate, callDepth };
}
