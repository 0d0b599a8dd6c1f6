// host/wasm/link.ts: fixing a module's memory size and appending data segments. The
// results are instantiated by the engine (V8) and read back, and re-parsed by our own
// parser; everything but the memory/data/datacount sections must be byte-for-byte intact.

import { wat } from '../helpers/wat';
import { WasmError, WasmModule, dataBytes, memoryLimits, parseModule } from '../../host/wasm/binary';
import { MAX_KEPT_ZERO_RUN, packSegments, setMemoryAndData } from '../../host/wasm/link';

/** The slice of the WebAssembly JS API these tests use (tsconfig's lib has no WebAssembly types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

function instantiate(bytes: Uint8Array): { memory: { buffer: ArrayBuffer }; exports: Record<string, unknown> } {
  const inst = new WA.Instance(new WA.Module(bytes), {});
  return { memory: inst.exports.memory as { buffer: ArrayBuffer }, exports: inst.exports };
}


/** Bytes of every section except the rewritten ones, in order, for comparing before/after. */
function untouched(mod: WasmModule): Buffer[] {
  return mod.sections.filter((s) => s.id !== 5 && s.id !== 11 && s.id !== 12).map((s) => Buffer.from(mod.bytes.subarray(s.headerStart, s.end)));
}

function ramp(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

const PEEK = '(func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0)))';

describe('setMemoryAndData', () => {
  let withData: Uint8Array;
  let noData: Uint8Array;
  let passive: Uint8Array;
  beforeAll(() => {
    // -g adds a custom "name" section after the code: it must stay after the data section.
    withData = wat(`(module (memory (export "memory") 1 2) (data (i32.const 0) "head") (data (i32.const 300) "tail") ${PEEK})`, ['-g']);
    noData = wat(`(module (memory (export "memory") 1) ${PEEK})`, ['-g']);
    passive = wat(`(module (memory (export "memory") 1) (data $p "pp") (data (i32.const 8) "act")
      (func (export "init") (memory.init $p (i32.const 100) (i32.const 0) (i32.const 2))) ${PEEK})`, ['--enable-bulk-memory']);
  });

  test('fixes min = max = pages, appends segments, keeps existing data and every other section', () => {
    const a = ramp(100, 1);
    const b = ramp(3, 2);
    const out = setMemoryAndData(withData, { pages: 3, segments: [{ offset: 1024, data: a }, { offset: 2 * 65536 + 10, data: b }] });
    const { memory, exports } = instantiate(out);
    expect(memory.buffer.byteLength).toBe(3 * 65536);
    const mem = new Uint8Array(memory.buffer);
    expect(Buffer.from(mem.subarray(0, 4)).toString()).toBe('head');
    expect(Buffer.from(mem.subarray(300, 304)).toString()).toBe('tail');
    expect(mem.subarray(1024, 1124)).toEqual(a);
    expect(mem.subarray(2 * 65536 + 10, 2 * 65536 + 13)).toEqual(b);
    expect((exports.peek as (p: number) => number)(1025)).toBe(a[1]);

    const mod = parseModule(out);
    expect(memoryLimits(mod)).toEqual({ initialPages: 3, maximumPages: 3, imported: false, shared: false, memory64: false });
    expect(mod.dataSegments.map((d) => [d.offset, d.size])).toEqual([[0, 4], [300, 4], [1024, 100], [2 * 65536 + 10, 3]]);
    expect(dataBytes(mod, mod.dataSegments[3])).toEqual(b);
    expect(untouched(mod)).toEqual(untouched(parseModule(withData)));
    expect(mod.sections.map((s) => s.id)).toEqual(parseModule(withData).sections.map((s) => s.id));
  });

  test('creates a data section after the code and before trailing custom sections', () => {
    const data = ramp(40, 3);
    const out = setMemoryAndData(noData, { pages: 2, segments: [{ offset: 65530, data }] }); // straddles a page boundary
    const mod = parseModule(out);
    expect(mod.sections.map((s) => s.id)).toEqual([1, 3, 5, 7, 10, 11, 0]);
    expect(mod.sections[6].name).toBe('name');
    expect(untouched(mod)).toEqual(untouched(parseModule(noData)));
    expect(mod.dataCount).toBeUndefined(); // absent stays absent
    const { memory } = instantiate(out);
    expect(memory.buffer.byteLength).toBe(2 * 65536);
    expect(new Uint8Array(memory.buffer).subarray(65530, 65570)).toEqual(data);
  });

  test('updates an existing datacount section; passive segments keep their indices', () => {
    expect(parseModule(passive).dataCount).toBe(2);
    const out = setMemoryAndData(passive, { pages: 1, segments: [{ offset: 200, data: Uint8Array.from([5, 6]) }, { offset: 300, data: new Uint8Array(0) }] });
    const mod = parseModule(out);
    expect(mod.dataCount).toBe(4);
    expect(mod.dataSegments.map((d) => d.mode)).toEqual(['passive', 'active', 'active', 'active']);
    const { memory, exports } = instantiate(out); // the engine checks datacount against the data section
    (exports.init as () => void)();
    const mem = new Uint8Array(memory.buffer);
    expect([...mem.subarray(100, 102)]).toEqual([0x70, 0x70]); // "pp" from the passive segment
    expect([...mem.subarray(200, 202)]).toEqual([5, 6]);
    expect(Buffer.from(mem.subarray(8, 11)).toString()).toBe('act');
  });

  test('no segments: only the limits change; pages may be 0', () => {
    const out = setMemoryAndData(noData, { pages: 0, segments: [] });
    expect(memoryLimits(parseModule(out))).toMatchObject({ initialPages: 0, maximumPages: 0 });
    expect(instantiate(out).memory.buffer.byteLength).toBe(0);
  });

  test('offsets at and above 2^31 are written as (negative) i32.const and read back unsigned', () => {
    const out = setMemoryAndData(noData, { pages: 65536, segments: [{ offset: 0x80000000, data: Uint8Array.from([1]) }, { offset: 0xfffffffe, data: Uint8Array.from([2, 3]) }] });
    const mod = parseModule(out);
    expect(mod.dataSegments.map((d) => [d.offset, d.offsetExpr?.i32])).toEqual([[0x80000000, -0x80000000], [0xfffffffe, -2]]);
    expect(memoryLimits(mod)).toMatchObject({ initialPages: 65536, maximumPages: 65536 });
  });

  test('rejects overlaps, out-of-range segments and unsupported memories', () => {
    const one = Uint8Array.from([1, 2, 3, 4]);
    expect(() => setMemoryAndData(withData, { pages: 1, segments: [{ offset: 2, data: one }] }))
      .toThrow('wasm: link: new data segment 0 at [0x2, 0x6) overlaps existing data segment 0 at [0x0, 0x4)');
    expect(() => setMemoryAndData(withData, { pages: 1, segments: [{ offset: 500, data: one }, { offset: 503, data: one }] }))
      .toThrow(/new data segment 1 .* overlaps new data segment 0/);
    expect(() => setMemoryAndData(withData, { pages: 1, segments: [{ offset: 65533, data: one }] })).toThrow(/ends beyond 1 pages \(65536 bytes\)/);
    expect(() => setMemoryAndData(withData, { pages: 0, segments: [] })).toThrow(/existing data segment 0 .* ends beyond 0 pages/);
    expect(() => setMemoryAndData(withData, { pages: 1, segments: [{ offset: -1, data: one }] })).toThrow(/bad offset -1/);
    expect(() => setMemoryAndData(withData, { pages: 1, segments: [{ offset: 1.5, data: one }] })).toThrow(/bad offset 1.5/);
    expect(() => setMemoryAndData(withData, { pages: 65537, segments: [] })).toThrow(/bad page count/);
    // adjacent is not overlapping
    expect(() => setMemoryAndData(withData, { pages: 1, segments: [{ offset: 4, data: one }, { offset: 296, data: one }] })).not.toThrow();
    // linking twice: the first link's segments are now existing ones
    const once = setMemoryAndData(withData, { pages: 1, segments: [{ offset: 1000, data: one }] });
    expect(() => setMemoryAndData(once, { pages: 1, segments: [{ offset: 1002, data: one }] })).toThrow(/overlaps existing data segment 2/);

    const imported = wat(`(module (import "env" "memory" (memory 1)) ${PEEK})`);
    expect(() => setMemoryAndData(imported, { pages: 1, segments: [] })).toThrow('wasm: link: module imports its memory (env.memory); firmware must define it');
    expect(() => setMemoryAndData(wat('(module (func))'), { pages: 1, segments: [] })).toThrow('wasm: link: module has no memory');
    expect(() => setMemoryAndData(wat('(module (memory 1 2 shared))', ['--enable-threads']), { pages: 1, segments: [] })).toThrow(/shared/);
    expect(() => setMemoryAndData(Uint8Array.from([0, 0x61, 0x73]), { pages: 1, segments: [] })).toThrow(WasmError);
  });
});

describe('keepSegments and packSegments (relinking a firmware)', () => {
  test('keepSegments: the first n existing segments stay verbatim, the rest are replaced', () => {
    const withData = wat(`(module (memory (export "memory") 1 2) (data (i32.const 0) "head") (data (i32.const 300) "tail") ${PEEK})`);
    // 302 would overlap the "tail" segment at 300, which is dropped and no longer counts.
    const out = setMemoryAndData(withData, { pages: 1, keepSegments: 1, segments: [{ offset: 302, data: Uint8Array.from([7]) }] });
    expect(parseModule(out).dataSegments.map((d) => [d.offset, d.size])).toEqual([[0, 4], [302, 1]]);
    expect(() => setMemoryAndData(withData, { pages: 1, keepSegments: 3, segments: [] })).toThrow(/cannot keep 3 of 2/);
  });

  test('packSegments drops leading, trailing and long interior zero runs, keeps short ones', () => {
    const z = (n: number): number[] => new Array(n).fill(0);
    const data = Uint8Array.from([...z(3), 1, 2, ...z(MAX_KEPT_ZERO_RUN), 3, ...z(MAX_KEPT_ZERO_RUN + 1), 4, 5, ...z(2)]);
    // By hand: [1, 2, 0×8, 3] at 100 + 3, then [4, 5] after 9 zeros.
    expect(packSegments([{ offset: 100, data }]).map((s) => [s.offset, Array.from(s.data)])).toEqual([
      [103, [1, 2, ...z(MAX_KEPT_ZERO_RUN), 3]],
      [103 + 3 + MAX_KEPT_ZERO_RUN + MAX_KEPT_ZERO_RUN + 1, [4, 5]],
    ]);
    expect(packSegments([{ offset: 0, data: new Uint8Array(40) }, { offset: 64, data: Uint8Array.of(9) }])).toEqual([{ offset: 64, data: Uint8Array.of(9) }]);
    // The packed segments initialise the same memory as the unpacked ones.
    const mem = (segs: { offset: number; data: Uint8Array }[]): Uint8Array => {
      const m = new Uint8Array(256);
      for (const s of segs) m.set(s.data, s.offset);
      return m;
    };
    const random = Uint8Array.from({ length: 150 }, (_, i) => ((i * 7919) % 13 < 6 ? 0 : (i * 31) & 0xff));
    expect(mem(packSegments([{ offset: 50, data: random }]))).toEqual(mem([{ offset: 50, data: random }]));
  });
});
