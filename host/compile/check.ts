// ============================================================================
// Firmware checks: what every firmware must satisfy before it is written, and
// what `sparrow info` reports about any .wasm. Reads the binary with our own
// parser (host/wasm/binary.ts), so a check never trusts the compiler's word.
// ============================================================================

import { exportsOf, importsOf, memoryLimits, MemoryLimits, parseModule, scanInstructions, summarizeReachable, WasmModule } from '../wasm/binary';

/** Function exports of the firmware ABI (docs/firmware-abi.md). */
export const ABI_FUNCTIONS = ['init', 'reset', 'input_ptr', 'output_ptr', 'input_len', 'output_len', 'io_format', 'step', 'selftest'] as const;

export interface FirmwareCheck {
  imports: string[];
  exports: string[];
  memory: MemoryLimits | undefined;
  /** One line each; empty means clean. */
  problems: string[];
}

export interface CheckOptions {
  /** When set, the memory must be exactly this many pages. */
  expectedPages?: number;
  /** Integer firmware: no floating-point instruction may be reachable from step(). */
  integer?: boolean;
}

export function checkFirmware(wasm: Uint8Array, opts: CheckOptions): FirmwareCheck {
  let mod: WasmModule;
  try {
    mod = parseModule(wasm);
  } catch (e) {
    return { imports: [], exports: [], memory: undefined, problems: [`not a valid WebAssembly module: ${(e as Error).message}`] };
  }
  const problems: string[] = [];
  const imports = importsOf(mod).map((i) => `${i.module}.${i.name}`);
  // Not named `exports`: under CommonJS that would shadow the module's own exports object.
  const exportNames = exportsOf(mod).map((e) => e.name);
  if (imports.length > 0) problems.push(`imports ${imports.join(', ')} (firmware must import nothing; AssemblyScript's default env.abort does not link on WAMR)`);

  const memory = memoryLimits(mod);
  if (!memory) problems.push('has no memory');
  else {
    if (memory.imported) problems.push('imports its memory');
    if (memory.maximumPages === undefined) problems.push(`memory has no maximum (initial ${memory.initialPages} pages): not fixed`);
    else if (memory.maximumPages !== memory.initialPages) problems.push(`memory not fixed: initial ${memory.initialPages} pages, maximum ${memory.maximumPages}`);
    if (opts.expectedPages !== undefined && memory.initialPages !== opts.expectedPages) problems.push(`memory has ${memory.initialPages} pages, the layout needs ${opts.expectedPages}`);
  }
  if (mod.start !== undefined) problems.push(`has a start function (index ${mod.start}); firmware runs nothing at instantiation`);

  const stats = scanInstructions(mod);
  const grows = stats.filter((s) => s.memoryGrow > 0).length;
  const simd = stats.filter((s) => s.simd > 0).length;
  if (grows > 0) problems.push(`memory.grow in ${grows} function${grows === 1 ? '' : 's'}`);
  if (simd > 0) problems.push(`SIMD instructions in ${simd} function${simd === 1 ? '' : 's'} (WAMR's classic interpreter rejects SIMD)`);

  if (opts.integer && exportNames.includes('step')) {
    const floats = summarizeReachable(mod, 'step', stats).float;
    if (floats > 0) problems.push(`${floats} floating-point instructions reachable from step() in an integer firmware`);
  }

  const exported = new Map(exportsOf(mod).map((e) => [e.name, e.kind]));
  const missing = ABI_FUNCTIONS.filter((n) => exported.get(n) !== 'func');
  if (missing.length > 0) problems.push(`missing ABI exports: ${missing.join(', ')}`);
  if (exported.get('memory') !== 'memory') problems.push('does not export its memory as "memory"');

  return { imports, exports: exportNames, memory, problems };
}
