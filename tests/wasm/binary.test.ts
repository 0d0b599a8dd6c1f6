// host/wasm/binary.ts and leb128.ts: the firmware checker's parser, on modules assembled
// from text by binaryen's wasm-as, one real AssemblyScript build, hand-made bytes and
// truncated/mutated inputs (which must end in a one-line WasmError, never a hang).

import { wat as assemble } from '../helpers/wat';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  WasmError, WasmModule, dataBytes, exportsOf, importsOf, memoryLimits, opcodeKey, parseModule, reachableFunctions,
  scanFunction, scanInstructions, summarizeReachable,
} from '../../host/wasm/binary';
import {
  Reader, encodeS32, encodeS64, encodeU32, encodeU64, readS32, readS33, readS64, readU32, readU64, reader,
} from '../../host/wasm/leb128';


/** All features on unless a test says otherwise. */
const wat = (text: string, flags: string[] = ['--all-features']): Uint8Array => assemble(text, flags);

function r(bytes: number[]): Reader {
  const b = Uint8Array.from(bytes);
  return reader(b, 0, b.length, 'test');
}

/** A tiny deterministic generator so fuzz failures reproduce. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

describe('LEB128', () => {
  test('u32: boundaries, 5-byte encodings, overlong and unterminated', () => {
    expect(readU32(r([0x00]))).toBe(0);
    expect(readU32(r([0x7f]))).toBe(127);
    expect(readU32(r([0x80, 0x01]))).toBe(128);
    expect(readU32(r([0xff, 0xff, 0xff, 0xff, 0x0f]))).toBe(0xffffffff);
    expect(readU32(r([0x80, 0x80, 0x80, 0x80, 0x00]))).toBe(0); // padded but legal
    expect(readU32(r([0x85, 0x80, 0x80, 0x80, 0x00]))).toBe(5);
    expect(() => readU32(r([0xff, 0xff, 0xff, 0xff, 0x1f]))).toThrow(/u32 out of range/); // 2^32 + ...
    expect(() => readU32(r([0x80, 0x80, 0x80, 0x80, 0x80, 0x00]))).toThrow(/u32 longer than 5 bytes/);
    expect(() => readU32(r([0x80, 0x80]))).toThrow(/^wasm: truncated test at byte 2$/);
    expect(() => readU32(r([]))).toThrow(WasmError);
  });

  test('s32 and s33: negative values and sign-extension bits', () => {
    expect(readS32(r([0x7f]))).toBe(-1);
    expect(readS32(r([0x40]))).toBe(-64);
    expect(readS32(r([0x3f]))).toBe(63);
    expect(readS32(r([0xc0, 0x00]))).toBe(64);
    expect(readS32(r([0x80, 0x80, 0x80, 0x80, 0x78]))).toBe(-0x80000000);
    expect(readS32(r([0xff, 0xff, 0xff, 0xff, 0x07]))).toBe(0x7fffffff);
    expect(readS32(r([0xff, 0xff, 0xff, 0xff, 0x7f]))).toBe(-1); // 5-byte −1
    expect(() => readS32(r([0xff, 0xff, 0xff, 0xff, 0x0f]))).toThrow(/s32 out of range/); // 2^31 does not fit
    expect(() => readS32(r([0x80, 0x80, 0x80, 0x80, 0x70]))).toThrow(/s32 out of range/); // sign bits disagree
    expect(() => readS32(r([0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]))).toThrow(/longer than 5 bytes/);
    expect(readS33(r([0xff, 0xff, 0xff, 0xff, 0x0f]))).toBe(0xffffffff); // a type index up to 2^32 − 1
    expect(readS33(r([0x80, 0x80, 0x80, 0x80, 0x70]))).toBe(-(2 ** 32));
  });

  test('64-bit: extremes exact, 10-byte limit enforced', () => {
    expect(readU64(r([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]))).toBe((1n << 64n) - 1n);
    expect(() => readU64(r([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x03]))).toThrow(/u64 out of range/);
    expect(readS64(r([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f]))).toBe(-(1n << 63n));
    expect(readS64(r([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00]))).toBe((1n << 63n) - 1n);
    expect(readS64(r([0x7f]))).toBe(-1n);
    expect(() => readS64(r(new Array<number>(10).fill(0x80).concat([0x00])))).toThrow(/s64 longer than 10 bytes/);
  });

  test('encoders round-trip through the decoders', () => {
    const next = lcg(7);
    const u32s = [0, 1, 127, 128, 0x3fff, 0x4000, 0x7fffffff, 0x80000000, 0xffffffff];
    const s32s = [0, -1, 63, 64, -64, -65, 0x7fffffff, -0x80000000];
    for (let i = 0; i < 200; i++) {
      u32s.push(next());
      s32s.push(next() | 0);
    }
    for (const v of u32s) {
      for (let pad = 1; pad <= 5; pad++) {
        const enc = encodeU32(v, pad);
        expect(enc.length).toBeGreaterThanOrEqual(pad);
        expect(readU32(r(enc))).toBe(v);
      }
    }
    for (const v of s32s) expect(readS32(r(encodeS32(v)))).toBe(v);
    for (const v of [0n, -1n, (1n << 63n) - 1n, -(1n << 63n), 1234567890123n, -987654321098765n]) expect(readS64(r(encodeS64(v)))).toBe(v);
    for (const v of [0n, (1n << 64n) - 1n, 1n << 35n]) expect(readU64(r(encodeU64(v)))).toBe(v);
    expect(encodeU32(0xffffffff)).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(encodeS32(-0x80000000)).toEqual([0x80, 0x80, 0x80, 0x80, 0x78]);
    expect(() => encodeU32(-1)).toThrow(WasmError);
    expect(() => encodeS32(0x80000000)).toThrow(WasmError);
  });
});

describe('modules from wasm-as', () => {
  // One module with a bit of everything the linker and checker care about.
  const EVERYTHING = `(module
    (import "env" "log" (func $log (param i32)))
    (memory $m0 1 2)
    (memory $m1 1)
    (table 2 funcref)
    (type $t (func (param i32) (result i32)))
    (elem (i32.const 0) $helper $flt)
    (data (i32.const 16) "abc")
    (data (i32.const 1024) "xyz!")
    (data $p "passive")
    (func $helper (type $t) (i32.add (local.get 0) (i32.const 1)))
    (func $flt (param f32) (result f32) (local f64 f64) (f32.mul (local.get 0) (local.get 0)))
    (func (export "step") (result i32)
      (memory.init $p (i32.const 0) (i32.const 0) (i32.const 1))
      (data.drop $p)
      (drop (i32.load $m1 offset=4 (i32.const 0)))
      (drop (i32.atomic.load (i32.const 0)))
      (atomic.fence)
      (drop (i32x4.extract_lane 1 (v128.const i32x4 1 2 3 4)))
      (call $log (i32.const 7))
      (call_indirect (type $t) (i32.const 5) (i32.const 0)))
    (start $init)
    (func $init)
  )`;
  let everything: Uint8Array;
  let mod: WasmModule;
  beforeAll(() => {
    everything = wat(EVERYTHING);
    mod = parseModule(everything);
  });

  test('imports, memories, exports, start', () => {
    expect(importsOf(mod)).toEqual([{ module: 'env', name: 'log', kind: 'func' }]);
    expect(mod.importedFunctionCount).toBe(1);
    expect(mod.memories).toEqual([
      { min: 1, max: 2, shared: false, memory64: false },
      { min: 1, max: undefined, shared: false, memory64: false },
    ]);
    expect(memoryLimits(mod)).toEqual({ initialPages: 1, maximumPages: 2, imported: false, shared: false, memory64: false });
    expect(exportsOf(mod)).toEqual([{ name: 'step', kind: 'func', index: 3 }]);
    expect(mod.start).toBe(4); // $init: 1 import + 4th defined function
    expect(mod.codes.map((c) => c.funcIndex)).toEqual([1, 2, 3, 4]);
    expect(mod.codes[1].locals).toEqual([{ count: 2, type: 'f64' }]);
    expect(mod.elements).toEqual([expect.objectContaining({ mode: 'active', tableIndex: 0, functions: [1, 2] })]);
  });

  test('data segments: offsets, bytes, passive, datacount', () => {
    const segs = mod.dataSegments;
    expect(segs.map((d) => [d.mode, d.memoryIndex, d.offset, d.size])).toEqual([
      ['active', 0, 16, 3],
      ['active', 0, 1024, 4],
      ['passive', 0, undefined, 7],
    ]);
    expect(Buffer.from(dataBytes(mod, segs[0])).toString()).toBe('abc');
    expect(Buffer.from(dataBytes(mod, segs[1])).toString()).toBe('xyz!');
    expect(Buffer.from(dataBytes(mod, segs[2])).toString()).toBe('passive');
    expect(segs[0].offsetExpr?.i32).toBe(16);
    expect(mod.dataCount).toBe(3);
    // Section ranges cover the file exactly, in order.
    let at = 8;
    for (const s of mod.sections) {
      expect(s.headerStart).toBe(at);
      at = s.end;
    }
    expect(at).toBe(everything.length);
  });

  test('per-function statistics: bulk memory, atomics, SIMD, multi-memory memarg, calls', () => {
    const step = scanFunction(mod, 3);
    expect(step.bulkMemory).toBe(2);
    expect(step.atomics).toBe(2);
    expect(step.simd).toBe(2);
    expect(step.callIndirect).toBe(1);
    expect(step.float).toBe(0);
    expect([...step.calls]).toEqual([0]);
    expect(step.opcodes.get(opcodeKey(0xfe, 0x03))).toBe(1); // atomic.fence
    expect(step.opcodes.get(0x28)).toBe(1); // the i32.load from memory 1 (align bit 6 + memory index)
    const flt = scanFunction(mod, 2);
    expect(flt.float).toBe(1);
    expect(flt.floatLocals).toBe(3); // f32 param + two f64 locals
    expect(() => scanFunction(mod, 0)).toThrow(/imported/);
    expect(() => scanFunction(mod, 99)).toThrow(/does not exist/);
  });

  test('call_indirect makes everything in element segments reachable', () => {
    expect([...reachableFunctions(mod, 'step')].sort()).toEqual([0, 1, 2, 3]);
    const sum = summarizeReachable(mod, 'step');
    expect(sum.imports).toEqual([0]);
    expect(sum.float).toBe(1); // $flt is in the table
    expect(() => reachableFunctions(mod, 'nope')).toThrow(/no exported function "nope"/);
  });

  test('float reachability and memory.grow per export', () => {
    const src = (stepBody: string): string => `(module
      (memory 1)
      (func $helper (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
      (func $flt (param f32) (result f32) (f32.sqrt (local.get 0)))
      (func $unused (result f64) (f64.const 1.5))
      (func (export "step") (result i32) ${stepBody})
      (func (export "grow") (result i32) (memory.grow (i32.const 1)))
    )`;
    const intOnly = parseModule(wat(src('(call $helper (i32.const 41))'), ['--mvp-features']));
    const stats = scanInstructions(intOnly);
    expect(stats.map((s) => s.float)).toEqual([0, 1, 1, 0, 0]);
    const step = summarizeReachable(intOnly, 'step', stats);
    expect([...step.functions].sort()).toEqual([0, 3]);
    expect(step.float).toBe(0); // "no float instruction reachable from step"
    expect(step.memoryGrow).toBe(0);
    expect(summarizeReachable(intOnly, 'grow', stats).memoryGrow).toBe(1);
    expect(stats.some((s) => s.simd > 0)).toBe(false);

    const callsFloat = parseModule(wat(src('(drop (call $flt (f32.const 2))) (call $helper (i32.const 1))'), ['--mvp-features']));
    const s2 = summarizeReachable(callsFloat, 'step');
    expect([...s2.functions].sort()).toEqual([0, 1, 3]);
    expect(s2.float).toBeGreaterThan(0);
  });

  test('every immediate form: br_table, refs, tables, 0xFC, SIMD lanes, tail calls, try_table', () => {
    const m = parseModule(wat(`(module
      (memory 1 1)
      (table $tab 4 funcref)
      (elem $e func $a)
      (tag $ex)
      (global $g (mut i64) (i64.const -9000000000000))
      (func $a (param i32) (result i32)
        (block $out
          (block $b0
            (block $b1
              (br_table $b0 $b1 $out (local.get 0)))))
        (i32.const 2))
      (func $b (param f32 v128) (result i32)
        (local $x i64)
        (drop (i32.trunc_sat_f32_s (local.get 0)))
        (drop (select (result f32) (local.get 0) (f32.const 1) (i32.const 0)))
        (drop (ref.is_null (ref.null func)))
        (table.set $tab (i32.const 0) (ref.func $b))
        (drop (table.get $tab (i32.const 1)))
        (table.init $tab $e (i32.const 0) (i32.const 0) (i32.const 1))
        (elem.drop $e)
        (table.copy $tab $tab (i32.const 0) (i32.const 1) (i32.const 1))
        (drop (table.grow $tab (ref.null func) (i32.const 1)))
        (drop (table.size $tab))
        (table.fill $tab (i32.const 0) (ref.null func) (i32.const 1))
        (memory.copy (i32.const 0) (i32.const 8) (i32.const 4))
        (memory.fill (i32.const 0) (i32.const 0) (i32.const 4))
        (drop (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 (local.get 1) (local.get 1)))
        (drop (v128.load32_lane 2 (i32.const 0) (local.get 1)))
        (drop (v128.load32_zero offset=16 (i32.const 0)))
        (drop (f32x4.extract_lane 3 (local.get 1)))
        (local.set $x (i64.const -9223372036854775808))
        (global.set $g (i64.const 0x7fffffffffffffff))
        (block $h
          (try_table (catch $ex $h) (catch_all $h)
            (throw $ex)))
        (if (i32.const 1) (then (nop)) (else (unreachable)))
        (loop $l (br_if $l (i32.const 0)))
        (return_call $a (i32.const 1)))
    )`));
    const [a, b] = scanInstructions(m);
    expect(a.opcodes.get(0x0e)).toBe(1);
    expect(b.float).toBe(2); // trunc_sat and f32.const (binaryen writes this select untyped); f32x4 only counts as SIMD
    expect(b.simd).toBe(4);
    expect(b.bulkMemory).toBe(8);
    expect([...b.calls]).toEqual([0]);
    expect([...b.refFuncs]).toEqual([1]);
    for (let sub = 12; sub <= 17; sub++) expect(b.opcodes.get(opcodeKey(0xfc, sub))).toBe(1);
    expect(b.opcodes.get(0x1f)).toBe(1); // try_table
    expect(b.opcodes.get(0x12)).toBe(1); // return_call
    expect(m.globals[0]).toEqual({ type: { valType: 'i64', mutable: true }, init: expect.objectContaining({ i64: -9000000000000n }) });
    expect(m.elements.map((e) => [e.mode, e.functions])).toEqual([['passive', [0]], ['declarative', [1]]]); // binaryen declares the ref.func target
  });

  test('memory limits: max absent, shared, multiple memories', () => {
    const m = parseModule(wat('(module (memory 3 7) (memory 2) (memory 1 4 shared))'));
    expect(m.memories.map((x) => [x.min, x.max, x.shared])).toEqual([[3, 7, false], [2, undefined, false], [1, 4, true]]);
    const imp = parseModule(wat('(module (import "env" "mem" (memory 5 9)))'));
    expect(memoryLimits(imp)).toEqual({ initialPages: 5, maximumPages: 9, imported: true, shared: false, memory64: false });
    expect(importsOf(imp)).toEqual([{ module: 'env', name: 'mem', kind: 'memory' }]);
    expect(memoryLimits(parseModule(wat('(module)')))).toBeUndefined();
  });

  test('every truncation throws a WasmError (or is an exact section boundary), none hangs', () => {
    const boundaries = new Set([8, ...mod.sections.map((s) => s.end)]);
    for (let len = 0; len < everything.length; len++) {
      const cut = everything.slice(0, len);
      let error: unknown;
      try {
        scanInstructions(parseModule(cut));
      } catch (e) {
        error = e;
      }
      if (error === undefined) expect(boundaries.has(len)).toBe(true);
      else {
        expect(error).toBeInstanceOf(WasmError);
        expect((error as Error).message).toMatch(/^wasm: [^\n]+ at byte \d+$/);
      }
    }
    const codeSection = mod.sections.find((s) => s.id === 10)!;
    expect(() => parseModule(everything.slice(0, codeSection.start + 3))).toThrow(`wasm: truncated section 10 at byte ${codeSection.start + 3}`);
  });

  test('mutated and garbage inputs end in a WasmError or parse, never anything else', () => {
    const next = lcg(42);
    for (let i = 0; i < 3000; i++) {
      const b = everything.slice();
      const flips = 1 + (next() % 4);
      for (let k = 0; k < flips; k++) b[8 + (next() % (b.length - 8))] = next() & 0xff;
      try {
        const m = parseModule(b);
        for (const s of scanInstructions(m)) expect(s.instructions).toBeGreaterThan(0);
      } catch (e) {
        expect(e).toBeInstanceOf(WasmError);
      }
    }
    for (let i = 0; i < 500; i++) {
      const b = new Uint8Array(8 + (next() % 64));
      b.set([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
      for (let k = 8; k < b.length; k++) b[k] = next() & 0xff;
      try {
        scanInstructions(parseModule(b));
      } catch (e) {
        expect(e).toBeInstanceOf(WasmError);
      }
    }
    expect(() => parseModule(Uint8Array.from([0x00, 0x61, 0x73]))).toThrow(/too short/);
    expect(() => parseModule(Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 1, 0, 0, 0]))).toThrow(/bad magic/);
    expect(() => parseModule(Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]))).toThrow(/unsupported version/);
    expect(() => parseModule(Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0x0e, 0x00]))).toThrow(/unknown section id 14/);
    // type section after function section
    expect(() => parseModule(Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0x03, 0x01, 0x00, 0x01, 0x01, 0x00]))).toThrow(/out of order/);
  });

  test('hand-made body: unknown opcode and bytes after the final end are reported with their offset', () => {
    // type () -> (); one function; body = [0 locals] nop end end
    const mk = (body: number[]): Uint8Array => Uint8Array.from([
      0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
      0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
      0x03, 0x02, 0x01, 0x00,
      0x0a, body.length + 2, 0x01, body.length, ...body,
    ]);
    expect(scanInstructions(parseModule(mk([0x00, 0x01, 0x0b])))[0].instructions).toBe(2);
    expect(() => scanInstructions(parseModule(mk([0x00, 0x01, 0x0b, 0x0b])))).toThrow(/1 bytes after the final end in section 10 \(function 0\)/);
    expect(() => scanInstructions(parseModule(mk([0x00, 0xfb, 0x00, 0x0b])))).toThrow('wasm: unknown opcode 0xfb in section 10 (function 0) at byte 23');
    expect(() => scanInstructions(parseModule(mk([0x00, 0x02, 0x40, 0x0b])))).toThrow(/truncated section 10 \(function 0\)/); // block never closed
    // block types: a type index (here 0, also padded to 2 bytes), a value type, and a negative multi-byte s33
    expect(scanInstructions(parseModule(mk([0x00, 0x02, 0x00, 0x0b, 0x03, 0x80, 0x00, 0x0b, 0x0b])))[0].opcodes.get(0x0b)).toBe(3);
    expect(scanInstructions(parseModule(mk([0x00, 0x02, 0x7d, 0x43, 0, 0, 0, 0, 0x0b, 0x1a, 0x0b])))[0].float).toBe(1);
    expect(() => scanInstructions(parseModule(mk([0x00, 0x02, 0xff, 0x7f, 0x0b, 0x0b])))).toThrow(/bad block type/);
    // typed select (0x1c) of f32 counts as a float instruction, like the two f32.const feeding it
    const sel = scanInstructions(parseModule(mk([0x00, 0x43, 0, 0, 0, 0, 0x43, 0, 0, 0, 0, 0x41, 0x00, 0x1c, 0x01, 0x7d, 0x1a, 0x0b])))[0];
    expect([sel.float, sel.opcodes.get(0x1c)]).toEqual([3, 1]);
    // br_table claiming 2^32 − 1 labels with none present: a truncation, not a long loop
    expect(() => scanInstructions(parseModule(mk([0x00, 0x41, 0x00, 0x0e, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0b])))).toThrow(/truncated/);
  });
});

test('parses and scans real AssemblyScript output (asc --runtime stub -O3)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparrow-asc-'));
  try {
    const src = path.join(dir, 'fw.ts');
    const out = path.join(dir, 'fw.wasm');
    fs.writeFileSync(src, `
      const table = memory.data<i32>([1, 2, 3, 4, 5, 6, 7, 8]);
      @inline function lookup(i: i32): i32 { return load<i32>(table + ((i & 7) << 2)); }
      export function step(x: i32): i32 { let s = 0; for (let i = 0; i < x; i++) s += lookup(i) * x; return s; }
      export function fstep(x: f32): f32 { return Mathf.sqrt(x) * 2.5 + Mathf.exp(x); }
      export function grow(): i32 { return memory.grow(1); }
    `);
    const asc = path.join(path.dirname(require.resolve('assemblyscript/package.json')), 'bin', 'asc.js');
    execFileSync(process.execPath, [asc, src, '-o', out, '--runtime', 'stub', '--use', 'abort=', '-O3', '--noAssert'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const m = parseModule(new Uint8Array(fs.readFileSync(out)));
    expect(m.imports).toEqual([]);
    expect(exportsOf(m).map((e) => e.name)).toEqual(expect.arrayContaining(['step', 'fstep', 'grow', 'memory']));
    const stats = scanInstructions(m);
    expect(summarizeReachable(m, 'step', stats).float).toBe(0);
    expect(summarizeReachable(m, 'step', stats).memoryGrow).toBe(0);
    expect(summarizeReachable(m, 'fstep', stats).float).toBeGreaterThan(0);
    expect(summarizeReachable(m, 'grow', stats).memoryGrow).toBe(1);
    expect(m.dataSegments.some((d) => d.mode === 'active' && d.offset !== undefined && d.size >= 32)).toBe(true);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
