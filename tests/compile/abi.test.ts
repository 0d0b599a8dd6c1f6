// The engines (assembly/abi*.ts) and the linker (host/compile/abi*.ts) must agree on every offset.

import * as fs from 'fs';
import * as path from 'path';
import { ABI, ENGINE_MEMORY_BASE } from '../../host/compile/abi';
import { ABI_I16 } from '../../host/compile/abi_i16';

const root = path.join(__dirname, '..', '..');

function engineConstants(file: string): Record<string, number> {
  const src = fs.readFileSync(path.join(root, 'assembly', file), 'utf8');
  const found: Record<string, number> = {};
  for (const m of src.matchAll(/export const (\w+): \w+ = (0x[0-9a-fA-F]+|\d+);/g)) found[m[1]] = Number(m[2]);
  return found;
}

test.each([
  ['abi.ts', ABI],
  ['abi_i16.ts', ABI_I16],
])('assembly/%s and its host mirror define the same constants', (file, host) => {
  const found = engineConstants(file);
  expect(Object.keys(found).length).toBeGreaterThan(40);
  expect(found).toEqual({ ...host });
});

test.each([
  ['f32', ABI],
  ['i16', ABI_I16],
] as const)('%s header: fits below the engine memory base, fields are consecutive u32s', (_name, abi) => {
  expect(abi.HEADER + abi.HEADER_BYTES).toBeLessThanOrEqual(ENGINE_MEMORY_BASE);
  const fields = Object.entries(abi).filter(([k]) => k.startsWith('H_')).map(([, v]) => v).sort((a, b) => a - b);
  fields.forEach((v, i) => expect(v).toBe(i * 4));
  expect(abi.HEADER_BYTES).toBe(fields.length * 4);
  const layer = Object.entries(abi).filter(([k]) => k.startsWith('L_')).map(([, v]) => v).sort((a, b) => a - b);
  layer.forEach((v, i) => expect(v).toBe(i * 4));
  // SMA models' descriptors are every model's fields followed by SMA's (a longer stride).
  expect(abi.LAYER_BYTES_SMA).toBe(layer.length * 4);
  const sma = Object.entries(abi).filter(([k]) => k.startsWith('L_SMA_')).map(([, v]) => v);
  expect(abi.LAYER_BYTES).toBe(Math.min(...sma));
  expect(abi.LAYER_BYTES + sma.length * 4).toBe(abi.LAYER_BYTES_SMA);
});

test('the build passes the memory base the linker assumes', () => {
  expect(fs.readFileSync(path.join(root, 'scripts', 'build.mjs'), 'utf8')).toContain(`'--memoryBase', '${ENGINE_MEMORY_BASE}'`);
});
