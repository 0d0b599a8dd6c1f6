// ============================================================================
// Does a bundle fit a board? Flash: WAMR's code plus the module image.
// RAM: the WAMR pool (linear memory, stack, runtime structures) plus the RAM
// copy of the module the interpreter loads. Estimates, labelled as such.
// ============================================================================

import { Board } from './boards';

/**
 * Text size of WAMR's core (vmlib) on Cortex-M4F, from WAMR's README (commit 646b5a9bc,
 * "Small runtime binary size … text size from bloaty"). Used for every board as the
 * closest published figure; Xtensa and M0+ code differs.
 */
export const WAMR_CODE_BYTES = { 'wamr-fast': 58.9 * 1024, 'wamr-classic': 56.3 * 1024, 'wamr-aot': 29.4 * 1024 } as const;
export type WamrMode = keyof typeof WAMR_CODE_BYTES;

export interface FitInput {
  moduleBytes: number;
  poolBytes: number;
}

export interface Fit {
  board: string;
  mode: WamrMode;
  flashNeeded: number;
  flashAvailable: number;
  ramNeeded: number;
  ramAvailable: number;
  fits: boolean;
  verdict: string;
}

const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;

export function fitOnBoard(board: Board, b: FitInput, mode: WamrMode = 'wamr-fast'): Fit {
  const flashNeeded = Math.round(WAMR_CODE_BYTES[mode] + b.moduleBytes);
  // AOT with execute-in-place can run from flash without the RAM copy; interpreters need it.
  const ramNeeded = b.poolBytes + (mode === 'wamr-aot' ? 0 : b.moduleBytes);
  const flashShort = flashNeeded - board.flashBytes;
  const ramShort = ramNeeded - board.ramBytes;
  const fits = flashShort <= 0 && ramShort <= 0;
  const verdict = fits
    ? `fits (estimate): flash ${kib(flashNeeded)} of ${kib(board.flashBytes)}, RAM ${kib(ramNeeded)} of ${kib(board.ramBytes)}`
    : `does not fit (estimate): ${[flashShort > 0 ? `flash short by ${kib(flashShort)}` : '', ramShort > 0 ? `RAM short by ${kib(ramShort)}` : ''].filter(Boolean).join(', ')}`;
  return { board: board.name, mode, flashNeeded, flashAvailable: board.flashBytes, ramNeeded, ramAvailable: board.ramBytes, fits, verdict };
}
