// Atomic writes: a failed write leaves the previous file intact and no temporary file behind.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeFileAtomic } from '../../host/util/atomic';
import { SparrowError } from '../../host/util/errors';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-atomic-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('writes through a temporary file in the same directory and renames it', () => {
  const target = path.join(dir, 'sub', 'model.safetensors');
  writeFileAtomic(target, 'new contents');
  expect(fs.readFileSync(target, 'utf8')).toBe('new contents');
  expect(fs.readdirSync(path.dirname(target))).toEqual(['model.safetensors']);
});

test('a failing rename keeps the old file and leaves no temporary file', () => {
  // The target is a non-empty directory: writing the temporary file works, the rename fails.
  const target = path.join(dir, 'model.safetensors');
  fs.mkdirSync(target);
  fs.writeFileSync(path.join(target, 'keep'), 'old');
  expect(() => writeFileAtomic(target, 'new')).toThrow(SparrowError);
  expect(fs.readFileSync(path.join(target, 'keep'), 'utf8')).toBe('old');
  expect(fs.readdirSync(dir)).toEqual(['model.safetensors']);
});

test('an unwritable destination is one clear error', () => {
  const file = path.join(dir, 'plain-file');
  fs.writeFileSync(file, 'x');
  expect(() => writeFileAtomic(path.join(file, 'out.wasm'), 'data')).toThrow(/out\.wasm: cannot write \(/);
});
