// ============================================================================
// Board profiles (boards/*.json): data, not code, validated by a schema in
// which every number names its source. Today: core, clock, RAM and flash —
// what a deployment fit needs; the cost model (currents, cycles per
// instruction class, execution-mode memory factors) extends the same files.
// ============================================================================

import * as fs from 'fs';
import * as path from 'path';
import { z } from 'zod';
import { SparrowError } from '../util/errors';

const NUMERIC_FIELDS = ['clockMHz', 'ramBytes', 'flashBytes', 'activeCurrentUAPerMHz', 'voltage', 'cyclesPerInstruction'] as const;

export const boardSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9-]+$/),
    title: z.string().min(1),
    core: z.string().min(1),
    fpu: z.enum(['none', 'single', 'double']),
    clockMHz: z.number().positive(),
    ramBytes: z.number().int().positive(),
    flashBytes: z.number().int().positive(),
    /** Instruction set the cost model's instruction weights are fitted for (host/bench/cost.ts). */
    isa: z.enum(['thumb2', 'thumb1', 'xtensa']),
    /** Run-mode supply current per MHz, code running from flash. */
    activeCurrentUAPerMHz: z.number().positive(),
    voltage: z.number().positive(),
    /** Cycles per instruction of each class (taken branches; loads from zero-wait-state memory). */
    cyclesPerInstruction: z.strictObject({ alu: z.number().positive(), mul: z.number().positive(), load: z.number().positive(), store: z.number().positive(), branch: z.number().positive() }),
    notes: z.string().optional(),
    sources: z.record(z.string(), z.string().min(1)),
  })
  .superRefine((b, ctx) => {
    for (const f of NUMERIC_FIELDS) if (!b.sources[f]) ctx.addIssue({ code: 'custom', path: ['sources', f], message: `every figure needs a source; "${f}" has none` });
  });

export type Board = z.infer<typeof boardSchema>;

/** boards/ next to the bundled CLI's parent (dist/..), or the repository's during development. */
export function boardsDir(): string {
  const candidates = [path.join(__dirname, '..', 'boards'), path.join(__dirname, '..', '..', 'boards')];
  return candidates.find((d) => fs.existsSync(path.join(d, 'stm32l476.json'))) ?? candidates[0];
}

export function parseBoard(json: string, file: string): Board {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new SparrowError(`${file}: not valid JSON`);
  }
  const r = boardSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new SparrowError(`${file}: ${issue.path.join('.') || '(board)'}: ${issue.message}`);
  }
  return r.data;
}

/** A profile with `"kind": "neuromorphic"` describes an event-driven chip (host/emulator/), not an MCU board. */
function isChipProfile(file: string): boolean {
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { kind?: unknown }).kind === 'neuromorphic';
  } catch {
    return false;
  }
}

/** MCU board names in `dir` (neuromorphic chip profiles are left out: they are `sparrow emulate --chip` input). */
export function listBoards(dir = boardsDir()): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => f.endsWith('.json') && !isChipProfile(path.join(dir, f))).map((f) => f.slice(0, -5)).sort();
}

/** A board by name (boards/<name>.json) or by path to a JSON file. */
export function loadBoard(nameOrPath: string, dir = boardsDir()): Board {
  const file = nameOrPath.endsWith('.json') ? nameOrPath : path.join(dir, `${nameOrPath}.json`);
  if (!fs.existsSync(file)) throw new SparrowError(`unknown board "${nameOrPath}"; known boards: ${listBoards(dir).join(', ')}`);
  if (isChipProfile(file)) throw new SparrowError(`${file}: a neuromorphic chip profile, not an MCU board; use it with 'sparrow emulate --chip'`);
  return parseBoard(fs.readFileSync(file, 'utf8'), file);
}
