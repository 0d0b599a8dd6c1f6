// ============================================================================
// `sparrow bundle model -o dist/`: compile, check for WAMR, write the bundle
// (every file atomically), and the manifest with the numbers to budget for.
// ============================================================================

import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../util/atomic';
import { SparrowError } from '../util/errors';
import { bundleStackBytes, cArrayHeader, cmakeSnippet, mainC, poolEstimateBytes } from './bundle';
import { compileInMemory } from './files';
import { checkForRuntime } from './runtime_check';
import { listBoards, loadBoard } from '../bench/boards';
import { fitOnBoard } from '../bench/fit';

export interface BundleResult {
  files: string[];
  manifest: Record<string, unknown>;
  notes: string[];
}

/** wamrc flags per board core (wamrc --help: --target=<arch><sub>, --target-abi, --cpu). */
const WAMRC_TARGETS: Record<string, string[]> = {
  'cortex-m4f': ['--target=thumbv7em', '--target-abi=eabihf', '--cpu=cortex-m4'],
  'cortex-m7': ['--target=thumbv7em', '--target-abi=eabihf', '--cpu=cortex-m7'],
  'cortex-m0plus': ['--target=thumbv6m', '--target-abi=eabi', '--cpu=cortex-m0plus'],
  'xtensa-lx7': ['--target=xtensa'],
};

/** Run wamrc into a temporary file, then rename: an AOT image is written whole or not at all. */
function buildAot(wasmPath: string, outDir: string, flags: string[]): string {
  const tmp = path.join(outDir, `.firmware.aot.${process.pid}.tmp`);
  try {
    execFileSync('wamrc', [...flags, '-o', tmp, wasmPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    fs.renameSync(tmp, path.join(outDir, 'firmware.aot'));
    return `firmware.aot written by wamrc ${flags.join(' ')}`;
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    const msg = ((e as { stderr?: Buffer }).stderr?.toString() || (e as { stdout?: Buffer }).stdout?.toString() || (e as Error).message).trim().split('\n')[0];
    return `wamrc failed, no firmware.aot: ${msg}`;
  }
}

function hasWamrc(): boolean {
  try {
    execFileSync('wamrc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function bundleModel(modelPath: string, outDir: string, boardName?: string): BundleResult {
  const board = boardName === undefined ? undefined : loadBoard(boardName);
  const fw = compileInMemory(modelPath);
  const check = checkForRuntime(fw.wasm, 'wamr-classic');
  if (check.problems.length > 0) throw new SparrowError(`${modelPath}: firmware would not run on WAMR: ${check.problems.join('; ')}`);
  const stackBytes = bundleStackBytes(check.stackBytesEstimate ?? 0);
  const poolBytes = poolEstimateBytes(fw.manifest, stackBytes);
  const notes: string[] = [];
  const files: [string, Uint8Array | string][] = [
    ['firmware.wasm', fw.wasm],
    ['firmware_wasm.h', cArrayHeader(fw.wasm)],
    ['main.c', mainC(fw.manifest, poolBytes, stackBytes)],
    ['CMakeLists.txt', cmakeSnippet()],
  ];
  const aotFlags = board ? WAMRC_TARGETS[board.core] : undefined;
  const wamrc = hasWamrc();
  if (!wamrc) notes.push('no wamrc on PATH: no firmware.aot written; build wamrc from a WAMR checkout for AOT (code can then stay in flash)');
  else if (!board) notes.push('wamrc found: pass --board to build firmware.aot for that board\'s core');
  else if (!aotFlags) notes.push(`wamrc found, but sparrow has no wamrc target for core "${board.core}"`);
  const manifest = {
    ...fw.manifest,
    wamr: {
      flashBytes: fw.wasm.length,
      linearMemoryBytes: fw.manifest.firmware.linearMemoryBytes,
      pages: fw.manifest.firmware.pages,
      stackBytes,
      stackEstimate: check.stackBytesEstimate,
      callDepth: check.callDepth,
      poolBytesEstimate: poolBytes,
      moduleRamCopyBytes: fw.wasm.length,
      ramBytesEstimate: poolBytes + fw.wasm.length,
      heapBytes: 0,
      estimate: 'pool = linear memory + stack + 32 KiB runtime structures (measured 28–32 KB incl. an 8 KiB stack on Linux); RAM = pool + the module copy main.c loads; flash = WAMR code (README figure) + module',
      boardFit: board ? fitOnBoard(board, { moduleBytes: fw.wasm.length, poolBytes }) : 'not evaluated: pass --board',
      otherBoards: board ? listBoards().filter((n) => n !== board.name).map((n) => fitOnBoard(loadBoard(n), { moduleBytes: fw.wasm.length, poolBytes })) : undefined,
    },
  };
  if (board) {
    const fit = fitOnBoard(board, { moduleBytes: fw.wasm.length, poolBytes });
    notes.unshift(`${board.name} (${board.title}): ${fit.verdict}`);
    if (!fit.fits) {
      const fitting = listBoards().filter((n) => fitOnBoard(loadBoard(n), { moduleBytes: fw.wasm.length, poolBytes }).fits);
      notes.unshift(`${board.name}: would fit: ${fitting.length ? fitting.join(', ') : 'none of the known boards'}; or quantize (sparrow quantize: smaller integer firmware), use a smaller model, or AOT (no RAM copy of the module)`);
    }
  }
  files.push(['manifest.json', JSON.stringify(manifest, null, 2) + '\n']);
  for (const [name, data] of files) writeFileAtomic(path.join(outDir, name), data);
  if (wamrc && aotFlags) {
    const aot = buildAot(path.join(outDir, 'firmware.wasm'), outDir, aotFlags);
    notes.push(aot);
    if (aot.startsWith('firmware.aot')) files.push(['firmware.aot', '']);
  }
  return { files: files.map(([n]) => path.join(outDir, n)), manifest, notes };
}
