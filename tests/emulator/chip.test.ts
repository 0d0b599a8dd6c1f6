// The neuromorphic chip profile: shipped, valid, sourced, the published figures where published,
// refused by the MCU board loader, and one line naming the file and field when wrong.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { boardsDir, listBoards, loadBoard } from '../../host/bench/boards';
import { CHIP_FIGURES, coreTile, loadChip, parseChip } from '../../host/emulator/chip';
import { SparrowError } from '../../host/util/errors';

const loihi2Json = (): Record<string, unknown> & { sources: Record<string, string> } => JSON.parse(fs.readFileSync(path.join(boardsDir(), 'loihi2.json'), 'utf8'));

test('boards/loihi2.json: valid, every figure sourced, Davies et al. 2018 Table 2 figures and 128 cores', () => {
  const chip = loadChip('loihi2');
  expect(chip.kind).toBe('neuromorphic');
  expect(chip.cores).toBe(128); // Intel Loihi 2 brief (2021)
  expect(chip.core.neurons * chip.cores).toBe(1048576); // 1 M neurons per chip
  // Davies et al., IEEE Micro 2018, Table 2 (Loihi, pre-silicon).
  expect(chip.synapticOp).toEqual({ energyPJ: 23.6, timeNs: 3.5 });
  expect(chip.neuronUpdate.energyPJ).toBeGreaterThanOrEqual(52);
  expect(chip.neuronUpdate.energyPJ).toBeLessThanOrEqual(81);
  expect(chip.spikeWithinTile.energyPJ).toBe(1.7);
  expect(chip.hopEastWest.energyPJ).toBe(3.0);
  expect(chip.hopNorthSouth.energyPJ).toBe(4.0);
  for (const f of CHIP_FIGURES) expect(chip.sources[f]).toBeTruthy();
  for (const f of ['synapticOp', 'neuronUpdate', 'spikeWithinTile', 'hopEastWest', 'hopNorthSouth']) expect(chip.sources[f]).toMatch(/Davies et al\..*2018.*Table 2/);
  // Figures not published for Loihi 2 say so.
  for (const f of ['mesh', 'core.synapseMemoryBytes', 'core.fanIn', 'bytesPerSynapse', 'barrierSyncNs', 'staticPowerW']) expect(chip.sources[f]).toMatch(/estimate/);
});

test('the MCU board loader leaves the chip profile out and refuses it by name', () => {
  expect(listBoards()).not.toContain('loihi2');
  expect(() => loadBoard('loihi2')).toThrow(/a neuromorphic chip profile, not an MCU board; use it with 'sparrow emulate --chip'/);
});

test('tiles: cores fill tiles, tiles fill the mesh row by row', () => {
  const chip = loadChip('loihi2'); // 8 × 4 tiles of 4 cores
  expect(coreTile(chip, 0)).toEqual({ x: 0, y: 0, tile: 0 });
  expect(coreTile(chip, 3)).toEqual({ x: 0, y: 0, tile: 0 });
  expect(coreTile(chip, 4)).toEqual({ x: 1, y: 0, tile: 1 });
  expect(coreTile(chip, 33)).toEqual({ x: 0, y: 1, tile: 8 });
  expect(coreTile(chip, 127)).toEqual({ x: 7, y: 3, tile: 31 });
});

describe('a wrong profile is one SparrowError line naming the file and the field', () => {
  const cases: [string, (c: ReturnType<typeof loihi2Json>) => unknown, RegExp][] = [
    ['a figure without a source', (c) => ({ ...c, sources: { ...c.sources, staticPowerW: undefined } }), /^c\.json: sources\.staticPowerW: every figure needs a source; "staticPowerW" has none$/],
    ['a negative energy', (c) => ({ ...c, synapticOp: { energyPJ: -1, timeNs: 3.5 } }), /^c\.json: synapticOp\.energyPJ: /],
    ['a zero per-core limit', (c) => ({ ...c, core: { ...(c.core as object), fanIn: 0 } }), /^c\.json: core\.fanIn: /],
    ['an MCU board kind', (c) => ({ ...c, kind: 'mcu' }), /^c\.json: kind: /],
    ['an unknown field', (c) => ({ ...c, clockMHz: 100 }), /^c\.json: .*clockMHz/],
    ['a mesh too small for the cores', (c) => ({ ...c, mesh: { width: 2, height: 2, coresPerTile: 4 } }), /^c\.json: mesh: 2 x 2 tiles of 4 hold 16 cores, the chip has 128$/],
  ];
  test.each(cases)('%s', (_name, edit, message) => {
    let err: unknown;
    try {
      parseChip(JSON.stringify(edit(loihi2Json())), 'c.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SparrowError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('\n');
  });

  test('not JSON, and a missing file', () => {
    expect(() => parseChip('{', 'c.json')).toThrow(/^c\.json: not valid JSON$/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-chip-'));
    try {
      expect(() => loadChip(path.join(dir, 'none.json'))).toThrow(/none\.json: cannot read chip profile \(ENOENT\)/);
      expect(() => loadChip('nosuchchip')).toThrow(SparrowError);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
