// Board profiles (every figure sourced) and the bundle's fit verdict.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { boardsDir, listBoards, loadBoard, parseBoard } from '../../host/bench/boards';
import { fitOnBoard, WAMR_CODE_BYTES } from '../../host/bench/fit';
import { serializeModel } from '../../host/model/model';
import { randomModel } from '../../host/model/random';
import { SparrowError } from '../../host/util/errors';

test('the five boards the issues name are shipped, valid, and every figure has a source', () => {
  expect(listBoards()).toEqual(['esp32s3', 'nrf52840', 'rp2040', 'stm32f767', 'stm32l476']);
  for (const name of listBoards()) {
    const b = loadBoard(name);
    expect(b.name).toBe(name);
    for (const f of ['clockMHz', 'ramBytes', 'flashBytes']) expect(b.sources[f]).toBeTruthy();
  }
  // Figures from the datasheets named in the files.
  expect(loadBoard('stm32l476')).toMatchObject({ clockMHz: 80, ramBytes: 128 * 1024, flashBytes: 1024 * 1024 });
  expect(loadBoard('rp2040')).toMatchObject({ clockMHz: 133, ramBytes: 264 * 1024, fpu: 'none' });
});

test('a board without a source for a figure, or with a bad field, is refused naming the field', () => {
  const good = JSON.parse(fs.readFileSync(path.join(boardsDir(), 'nrf52840.json'), 'utf8'));
  const noSource = { ...good, sources: { ...good.sources, ramBytes: undefined } };
  expect(() => parseBoard(JSON.stringify(noSource), 'b.json')).toThrow(/b\.json: sources\.ramBytes: every figure needs a source/);
  expect(() => parseBoard(JSON.stringify({ ...good, clockMHz: -1 }), 'b.json')).toThrow(/b\.json: clockMHz/);
  expect(() => parseBoard('{', 'b.json')).toThrow(SparrowError);
  expect(() => loadBoard('nosuch')).toThrow('unknown board "nosuch"; known boards: esp32s3, nrf52840, rp2040, stm32f767, stm32l476');
});

test('fit arithmetic by hand', () => {
  const board = loadBoard('stm32l476'); // 128 KiB RAM, 1 MiB flash
  // pool 100 KiB + module copy 20 KiB = 120 KiB ≤ 128 KiB; flash 58.9 KiB + 20 KiB.
  const ok = fitOnBoard(board, { moduleBytes: 20 * 1024, poolBytes: 100 * 1024 });
  expect(ok.fits).toBe(true);
  expect(ok.ramNeeded).toBe(120 * 1024);
  expect(ok.flashNeeded).toBe(Math.round(WAMR_CODE_BYTES['wamr-fast'] + 20 * 1024));
  // pool 104 KiB + 34 KiB copy = 138 KiB: 10 KiB short.
  const no = fitOnBoard(board, { moduleBytes: 34 * 1024, poolBytes: 104 * 1024 });
  expect(no.fits).toBe(false);
  expect(no.verdict).toBe('does not fit (estimate): RAM short by 10.0 KiB');
  // AOT (execute in place) drops the RAM copy.
  expect(fitOnBoard(board, { moduleBytes: 34 * 1024, poolBytes: 104 * 1024 }, 'wamr-aot').fits).toBe(true);
});

test('bundle --board records the verdict and names the boards that would fit', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-board-'));
  try {
    // Dense H = P = 48, 2 layers: ~75 KB of f32 weights, 2 pages: > 128 KiB of RAM, < 512 KiB.
    fs.writeFileSync(path.join(dir, 'm.safetensors'), serializeModel(randomModel({ d_in: 1, d_model: 48, d_state: 48, d_out: 1, n_layers: 2, act: 'relu', encoder_act: 'none', gate: false, sparsity: 0, seed: 1 })));
    const r = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'dist', 'sparrow.cjs'), 'bundle', 'm.safetensors', '-o', 'out', '--board', 'stm32l476', '--json'], { cwd: dir, encoding: 'utf8' });
    expect(r.status).toBe(0);
    const m = JSON.parse(r.stdout);
    expect(m.wamr.boardFit.board).toBe('stm32l476');
    expect(m.wamr.boardFit.fits).toBe(false);
    expect(m.wamr.boardFit.ramNeeded).toBe(m.wamr.poolBytesEstimate + m.wamr.moduleRamCopyBytes);
    expect(m.wamr.pages).toBe(2);
    expect(m.wamr.otherBoards.find((b: { board: string }) => b.board === 'stm32f767').fits).toBe(true);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
