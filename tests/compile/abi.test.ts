// The engine (assembly/abi.ts) and the linker (host/compile/abi.ts) must agree on every offset.

import * as fs from 'fs';
import * as path from 'path';
import { ABI, ENGINE_MEMORY_BASE } from '../../host/compile/abi';

test('assembly/abi.ts and host/compile/abi.ts define the same constants', () => {
  const src = fs.readFileSync(path.join(__dirname, '..', '..', 'assembly', 'abi.ts'), 'utf8');
  const found = new Map<string, number>();
  for (const m of src.matchAll(/export const (\w+): \w+ = (0x[0-9a-fA-F]+|\d+);/g)) found.set(m[1], Number(m[2]));
  expect(found.size).toBeGreaterThan(40);
  expect(Object.fromEntries(found)).toEqual({ ...ABI });
});

test('the header fits below the engine memory base, and header fields do not overlap', () => {
  expect(ABI.HEADER + ABI.HEADER_BYTES).toBeLessThanOrEqual(ENGINE_MEMORY_BASE);
  const fields = Object.entries(ABI).filter(([k]) => k.startsWith('H_')).map(([, v]) => v).sort((a, b) => a - b);
  fields.forEach((v, i) => expect(v).toBe(i * 4));
  expect(ABI.HEADER_BYTES).toBe(fields.length * 4);
  const build = fs.readFileSync(path.join(__dirname, '..', '..', 'scripts', 'build.mjs'), 'utf8');
  expect(build).toContain(`'--memoryBase', '${ENGINE_MEMORY_BASE}'`);
});
