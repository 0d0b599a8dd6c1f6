// ============================================================================
// Neuromorphic chip profiles (boards/*.json with "kind": "neuromorphic"): the
// resources and per-event costs the emulator maps onto and charges. Data, not
// code, validated like the MCU boards (host/bench/boards.ts): a strict schema
// in which every figure names its source, and one line naming the file and
// the field when a profile is wrong. Times in ns, energies in pJ, power in W.
// ============================================================================

import * as fs from 'fs';
import * as path from 'path';
import { z } from 'zod';
import { boardsDir } from '../bench/boards';
import { SparrowError } from '../util/errors';

/** Every figure that must name a source (keys of `sources`). */
export const CHIP_FIGURES = [
  'cores', 'mesh', 'core.neurons', 'core.synapseMemoryBytes', 'core.fanIn', 'bytesPerSynapse',
  'synapticOp', 'neuronUpdate', 'spikeWithinTile', 'hopEastWest', 'hopNorthSouth', 'barrierSyncNs', 'staticPowerW',
] as const;

const positiveInt = z.number().int().positive();
/** One kind of event: what it costs the core (or the network) each time it happens. */
const eventCost = z.strictObject({ energyPJ: z.number().nonnegative(), timeNs: z.number().nonnegative() });

export const chipSchema = z
  .strictObject({
    kind: z.literal('neuromorphic'),
    name: z.string().regex(/^[a-z0-9-]+$/),
    title: z.string().min(1),
    /** Neurocores on the chip. */
    cores: positiveInt,
    /** Routers on a 2D mesh, `coresPerTile` cores share one (messages between them take no hop). Core c sits in tile ⌊c / coresPerTile⌋, tiles row-major. */
    mesh: z.strictObject({ width: positiveInt, height: positiveInt, coresPerTile: positiveInt }),
    /** Per-core limits: neurons, synapse memory, and fan-in (distinct presynaptic neurons). */
    core: z.strictObject({ neurons: positiveInt, synapseMemoryBytes: positiveInt, fanIn: positiveInt }),
    bytesPerSynapse: z.number().positive(),
    /** One synapse's weight applied to one incoming message (accumulate into the target). */
    synapticOp: eventCost,
    /** One neuron's state update in one time step. */
    neuronUpdate: eventCost,
    /** One message delivered to one destination core (router injection and ejection). */
    spikeWithinTile: eventCost,
    /** One message crossing one tile boundary east-west or north-south. */
    hopEastWest: eventCost,
    hopNorthSouth: eventCost,
    /** Time-step barrier across the chip, once per step. */
    barrierSyncNs: z.number().nonnegative(),
    staticPowerW: z.number().nonnegative(),
    notes: z.string().optional(),
    sources: z.record(z.string(), z.string().min(1)),
  })
  .superRefine((c, ctx) => {
    for (const f of CHIP_FIGURES) if (!c.sources[f]) ctx.addIssue({ code: 'custom', path: ['sources', f], message: `every figure needs a source; "${f}" has none` });
    const slots = c.mesh.width * c.mesh.height * c.mesh.coresPerTile;
    if (slots < c.cores) ctx.addIssue({ code: 'custom', path: ['mesh'], message: `${c.mesh.width} x ${c.mesh.height} tiles of ${c.mesh.coresPerTile} hold ${slots} cores, the chip has ${c.cores}` });
  });

export type ChipProfile = z.infer<typeof chipSchema>;

export const DEFAULT_CHIP = 'loihi2';

export function parseChip(json: string, file: string): ChipProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new SparrowError(`${file}: not valid JSON`);
  }
  const r = chipSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new SparrowError(`${file}: ${issue.path.join('.') || '(chip)'}: ${issue.message}`);
  }
  return r.data;
}

/** A chip by name (boards/<name>.json) or by path to a JSON file. */
export function loadChip(nameOrPath: string = DEFAULT_CHIP, dir = boardsDir()): ChipProfile {
  const file = nameOrPath.endsWith('.json') ? nameOrPath : path.join(dir, `${nameOrPath}.json`);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new SparrowError(`${file}: cannot read chip profile (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseChip(text, file);
}

/** Tile coordinates of a core on the mesh. */
export function coreTile(chip: ChipProfile, core: number): { x: number; y: number; tile: number } {
  const tile = Math.floor(core / chip.mesh.coresPerTile);
  return { x: tile % chip.mesh.width, y: Math.floor(tile / chip.mesh.width), tile };
}
