// ============================================================================
// WebAssembly binary reader: sparrow's firmware checker.
//
// parseModule() walks a module's sections and decodes what the checker and the
// linker need (imports, memories, exports, start, code body ranges, data
// segments...), keeping every section's byte range so link.ts can rewrite one
// section and copy the rest verbatim. scanInstructions() then decodes every
// instruction of every body (MVP plus the 0xFC, 0xFD SIMD and 0xFE atomic
// prefixes, tail calls, reference types, exception handling) into per-function
// statistics, and reachableFunctions()/summarizeReachable() answer questions
// like "is any float instruction reachable from export `step`?".
//
// It decodes, it does not validate types: a module that parses here can still
// be rejected by an engine. What it guarantees is that malformed input ends in
// a one-line WasmError (`wasm: truncated section 10 at byte 1234`), never in an
// out-of-range read or a loop: every loop below consumes at least one byte per
// iteration through a bounded Reader (leb128.ts).
// ============================================================================

import { TextDecoder } from 'util';
import {
  Reader, WasmError, fail, hex, peekByte, readByte, reader, readS32, readS33, readS64, readU32, readU64, skipBytes, skipLeb64,
} from './leb128';

export { WasmError } from './leb128';

/** Section ids (spec §5.5.2; tag = 13 from the exception-handling proposal). */
export const SECTION = {
  custom: 0, type: 1, import: 2, function: 3, table: 4, memory: 5, global: 6, export: 7,
  start: 8, element: 9, code: 10, data: 11, dataCount: 12, tag: 13,
} as const;

/** Rank of each non-custom section in the required order: tag sits between memory and global, datacount before code. */
const SECTION_RANK: Readonly<Record<number, number>> = {
  1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13,
};

export const WASM_PAGE_BYTES = 65536;

// ---------------------------------------------------------------------------
// The decoded module.
// ---------------------------------------------------------------------------

/** Value types by their text-format names; reference types with a concrete heap type read `ref null 3`, `ref func`... */
export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | `${string}ref` | `ref ${string}`;

export interface Section {
  id: number;
  /** Offset of the id byte: [headerStart, end) is the section exactly as stored. */
  headerStart: number;
  /** Payload range [start, end). */
  start: number;
  end: number;
  /** Name of a custom section (id 0). */
  name?: string;
}

export interface FuncType {
  params: ValType[];
  results: ValType[];
}

export interface Limits {
  min: number;
  /** Absent = unbounded. */
  max: number | undefined;
}

export interface MemoryType extends Limits {
  shared: boolean;
  memory64: boolean;
  /** log2 of the page size when the custom-page-sizes flag is set; absent = 16 (64 KiB). */
  pageSizeLog2?: number;
}

export interface TableType extends Limits {
  elemType: ValType;
  table64: boolean;
}

export interface GlobalType {
  valType: ValType;
  mutable: boolean;
}

/**
 * A constant expression (global init, segment offset): its bytes [start, end)
 * including the final `end` opcode, plus its value when it is exactly
 * `i32.const N end` or `i64.const N end`.
 */
export interface ConstExpr {
  start: number;
  end: number;
  i32?: number;
  i64?: bigint;
  /** Functions named by ref.func inside it (they become indirect-call candidates). */
  funcRefs: number[];
}

export type ExternKind = 'func' | 'table' | 'memory' | 'global' | 'tag';

export type ImportDesc =
  | { kind: 'func'; typeIndex: number }
  | { kind: 'table'; table: TableType }
  | { kind: 'memory'; memory: MemoryType }
  | { kind: 'global'; global: GlobalType }
  | { kind: 'tag'; typeIndex: number };

export type Import = { module: string; name: string } & ImportDesc;

export interface Export {
  name: string;
  kind: ExternKind;
  /** Index in the kind's index space (imports first, then definitions). */
  index: number;
}

export interface Global {
  type: GlobalType;
  init: ConstExpr;
}

export interface ElementSegment {
  mode: 'active' | 'passive' | 'declarative';
  tableIndex: number;
  offset?: ConstExpr;
  /** Every function index the segment names (from its funcidx vector or from ref.func in its expressions). */
  functions: number[];
}

export interface LocalGroup {
  count: number;
  type: ValType;
}

export interface FunctionBody {
  /** Index in the function index space (imported functions come first). */
  funcIndex: number;
  typeIndex: number;
  /** [start, end) is the body after its size prefix: locals, then instructions. */
  start: number;
  end: number;
  /** Where the instructions begin (after the local declarations). */
  codeStart: number;
  locals: LocalGroup[];
}

export interface DataSegment {
  mode: 'active' | 'passive';
  memoryIndex: number;
  /** Active segments only. */
  offsetExpr?: ConstExpr;
  /** Start address when offsetExpr is a constant (i32 read as unsigned), else undefined. */
  offset: number | undefined;
  /** [start, end) is the whole encoded segment (flags ... data), for copying it verbatim. */
  start: number;
  end: number;
  /** The segment's bytes are module.bytes[dataStart, dataEnd). */
  dataStart: number;
  dataEnd: number;
  /** dataEnd − dataStart. */
  size: number;
}

export interface WasmModule {
  bytes: Uint8Array;
  version: number;
  /** In file order, custom sections included. */
  sections: Section[];
  types: FuncType[];
  imports: Import[];
  /** Type index of each defined function (function section). */
  functions: number[];
  /** Defined tables / memories / globals / tags only; imported ones are in `imports`. */
  tables: TableType[];
  memories: MemoryType[];
  globals: Global[];
  /** Type index of each defined tag. */
  tags: number[];
  exports: Export[];
  start: number | undefined;
  elements: ElementSegment[];
  /** The datacount section's value, absent when the module has none. */
  dataCount: number | undefined;
  /** One per defined function, same order as `functions`. */
  codes: FunctionBody[];
  dataSegments: DataSegment[];
  importedFunctionCount: number;
  importedMemoryCount: number;
}

// ---------------------------------------------------------------------------
// parseModule
// ---------------------------------------------------------------------------

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes a module's structure (not its instructions; see scanInstructions).
 * Throws WasmError on anything malformed: bad magic/version, truncation,
 * sections out of order or with trailing bytes, count mismatches.
 */
export function parseModule(bytes: Uint8Array): WasmModule {
  const head = reader(bytes, 0, bytes.length, 'header');
  if (bytes.length < 4 || bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    if (bytes.length < 4) fail(head, 'not a WebAssembly module (too short)', 0);
    fail(head, 'not a WebAssembly module (bad magic)', 0);
  }
  if (bytes.length < 8) fail(head, 'truncated version', bytes.length);
  const version = bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (bytes[7] << 24);
  // 0x0d000100 etc. are component-model binaries: same magic, different "version" layout.
  if (version !== 1) fail(head, `unsupported version ${version >>> 0}`, 4);

  const mod: WasmModule = {
    bytes, version, sections: [], types: [], imports: [], functions: [], tables: [], memories: [], globals: [], tags: [],
    exports: [], start: undefined, elements: [], dataCount: undefined, codes: [], dataSegments: [],
    importedFunctionCount: 0, importedMemoryCount: 0,
  };

  const top = reader(bytes, 8, bytes.length, 'module');
  let lastRank = 0;
  while (top.pos < top.end) {
    const headerStart = top.pos;
    const id = readByte(top);
    if (id > 13) fail(top, `unknown section id ${id}`, headerStart);
    const size = readU32(top);
    const start = top.pos;
    if (size > top.end - start) throw new WasmError(`wasm: truncated section ${id} at byte ${top.end}`);
    const end = start + size;
    top.pos = end;
    if (id !== SECTION.custom) {
      const rank = SECTION_RANK[id];
      if (rank <= lastRank) fail(top, `section ${id} out of order or repeated`, headerStart);
      lastRank = rank;
    }
    const section: Section = { id, headerStart, start, end };
    const r = reader(bytes, start, end, `section ${id}`);
    parseSection(mod, section, r);
    if (r.pos !== end) fail(r, `${end - r.pos} unexpected trailing bytes`);
    mod.sections.push(section);
  }

  const ends = reader(bytes, bytes.length, bytes.length, 'module');
  if (mod.codes.length !== mod.functions.length) {
    fail(ends, `function section declares ${mod.functions.length} functions but code section has ${mod.codes.length} bodies`);
  }
  if (mod.dataCount !== undefined && mod.dataCount !== mod.dataSegments.length) {
    fail(ends, `datacount section says ${mod.dataCount} data segments but data section has ${mod.dataSegments.length}`);
  }
  return mod;
}

function parseSection(mod: WasmModule, section: Section, r: Reader): void {
  switch (section.id) {
    case SECTION.custom:
      section.name = readName(r);
      r.pos = r.end; // contents are opaque
      return;
    case SECTION.type:
      readVec(r, () => mod.types.push(readFuncType(r)));
      return;
    case SECTION.import:
      readVec(r, () => {
        const imp = readImport(r);
        if (imp.kind === 'func') mod.importedFunctionCount++;
        if (imp.kind === 'memory') mod.importedMemoryCount++;
        mod.imports.push(imp);
      });
      return;
    case SECTION.function:
      readVec(r, () => mod.functions.push(readU32(r)));
      return;
    case SECTION.table:
      readVec(r, () => mod.tables.push(readTable(r)));
      return;
    case SECTION.memory:
      readVec(r, () => mod.memories.push(readMemoryType(r)));
      return;
    case SECTION.tag:
      readVec(r, () => mod.tags.push(readTagType(r)));
      return;
    case SECTION.global:
      readVec(r, () => {
        const type = readGlobalType(r);
        mod.globals.push({ type, init: readConstExpr(r) });
      });
      return;
    case SECTION.export:
      readVec(r, () => {
        const name = readName(r);
        const at = r.pos;
        const kind = EXTERN_KINDS[readByte(r)];
        if (kind === undefined) fail(r, `unknown export kind ${hex(r.bytes[at])}`, at);
        mod.exports.push({ name, kind, index: readU32(r) });
      });
      return;
    case SECTION.start:
      mod.start = readU32(r);
      return;
    case SECTION.element:
      readVec(r, () => mod.elements.push(readElement(r)));
      return;
    case SECTION.dataCount:
      mod.dataCount = readU32(r);
      return;
    case SECTION.code: {
      let i = 0;
      readVec(r, () => {
        if (i >= mod.functions.length) fail(r, `more code bodies than the ${mod.functions.length} declared functions`);
        mod.codes.push(readBody(r, mod.importedFunctionCount + i, mod.functions[i]));
        i++;
      });
      return;
    }
    case SECTION.data:
      readVec(r, () => mod.dataSegments.push(readData(r)));
      return;
  }
}

const EXTERN_KINDS: readonly ExternKind[] = ['func', 'table', 'memory', 'global', 'tag'];

/** A vector: u32 count, then `count` elements. Each element consumes ≥ 1 byte, so a lying count ends in a truncation error. */
function readVec(r: Reader, element: () => void): void {
  const n = readU32(r);
  for (let i = 0; i < n; i++) element();
}

function readName(r: Reader): string {
  const n = readU32(r);
  const start = skipBytes(r, n);
  try {
    return utf8.decode(r.bytes.subarray(start, start + n));
  } catch {
    return fail(r, 'invalid UTF-8 in name', start);
  }
}

/** Abstract heap types by their one-byte code (reference-types, GC and exception-handling proposals). */
const HEAP_TYPES: Readonly<Record<number, string>> = {
  0x70: 'func', 0x6f: 'extern', 0x6e: 'any', 0x6d: 'eq', 0x6c: 'i31', 0x6b: 'struct', 0x6a: 'array',
  0x71: 'none', 0x72: 'noextern', 0x73: 'nofunc', 0x69: 'exn', 0x74: 'noexn',
};

const NUM_TYPES: Readonly<Record<number, ValType>> = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128' };

function readHeapType(r: Reader): string {
  const at = r.pos;
  const v = readS33(r);
  if (v >= 0) return String(v); // a type index
  const name = HEAP_TYPES[v & 0x7f];
  if (name === undefined) fail(r, `unknown heap type ${hex(v & 0x7f)}`, at);
  return name;
}

function readValType(r: Reader): ValType {
  const at = r.pos;
  const b = readByte(r);
  const num = NUM_TYPES[b];
  if (num !== undefined) return num;
  if (b === 0x63) return `ref null ${readHeapType(r)}`;
  if (b === 0x64) return `ref ${readHeapType(r)}`;
  const heap = HEAP_TYPES[b];
  if (heap !== undefined) return `${heap}ref`;
  return fail(r, `unknown value type ${hex(b)}`, at);
}

function readFuncType(r: Reader): FuncType {
  const at = r.pos;
  const form = readByte(r);
  // 0x4e rec / 0x50 sub / 0x5f struct / 0x5e array are GC type definitions: firmware never has them.
  if (form !== 0x60) fail(r, `unsupported type form ${hex(form)} (only function types)`, at);
  const params: ValType[] = [];
  const results: ValType[] = [];
  readVec(r, () => params.push(readValType(r)));
  readVec(r, () => results.push(readValType(r)));
  return { params, results };
}

/**
 * Limits: flags, min, max?. Flag bits: 0x01 has max, 0x02 shared, 0x04 64-bit
 * (indices are u64), 0x08 custom page size (a u32 log2 follows the limits).
 */
function readLimits(r: Reader, allowShared: boolean): MemoryType {
  const at = r.pos;
  const flags = readByte(r);
  if (flags & ~0x0f || (!allowShared && flags & 0x02)) fail(r, `unknown limits flags ${hex(flags)}`, at);
  const is64 = (flags & 0x04) !== 0;
  const readBound = (): number => (is64 ? Number(readU64(r)) : readU32(r));
  const min = readBound();
  const max = flags & 0x01 ? readBound() : undefined;
  const limits: MemoryType = { min, max, shared: (flags & 0x02) !== 0, memory64: is64 };
  if (flags & 0x08) limits.pageSizeLog2 = readU32(r);
  return limits;
}

function readMemoryType(r: Reader): MemoryType {
  return readLimits(r, true);
}

function readTableType(r: Reader): TableType {
  const elemType = readValType(r);
  const { min, max, memory64 } = readLimits(r, false);
  return { elemType, min, max, table64: memory64 };
}

/** A table definition: tabletype, or `0x40 0x00 tabletype expr` (a table with an initialiser). */
function readTable(r: Reader): TableType {
  if (peekByte(r) === 0x40) {
    r.pos++;
    const at = r.pos;
    if (readByte(r) !== 0x00) fail(r, 'bad table initialiser prefix', at);
    const t = readTableType(r);
    readConstExpr(r);
    return t;
  }
  return readTableType(r);
}

function readGlobalType(r: Reader): GlobalType {
  const valType = readValType(r);
  const at = r.pos;
  const m = readByte(r);
  if (m > 1) fail(r, `bad global mutability ${hex(m)}`, at);
  return { valType, mutable: m === 1 };
}

function readTagType(r: Reader): number {
  const at = r.pos;
  if (readByte(r) !== 0x00) fail(r, 'bad tag attribute', at);
  return readU32(r);
}

function readImport(r: Reader): Import {
  const module = readName(r);
  const name = readName(r);
  const at = r.pos;
  const kind = readByte(r);
  switch (kind) {
    case 0x00: return { module, name, kind: 'func', typeIndex: readU32(r) };
    case 0x01: return { module, name, kind: 'table', table: readTableType(r) };
    case 0x02: return { module, name, kind: 'memory', memory: readMemoryType(r) };
    case 0x03: return { module, name, kind: 'global', global: readGlobalType(r) };
    case 0x04: return { module, name, kind: 'tag', typeIndex: readTagType(r) };
    default: return fail(r, `unknown import kind ${hex(kind)}`, at);
  }
}

/**
 * A constant expression up to and including its `end`, decoded with the full
 * instruction decoder (extended-const and GC allow more than one instruction).
 */
function readConstExpr(r: Reader): ConstExpr {
  const start = r.pos;
  const stats = emptyStats(-1);
  scanExpression(r, stats);
  const expr: ConstExpr = { start, end: r.pos, funcRefs: [...stats.refFuncs] };
  const op = r.bytes[start];
  if (op === 0x41 || op === 0x42) {
    const v = reader(r.bytes, start + 1, r.pos, r.where);
    if (op === 0x41) {
      const n = readS32(v);
      if (v.pos === r.pos - 1) expr.i32 = n;
    } else {
      const n = readS64(v);
      if (v.pos === r.pos - 1) expr.i64 = n;
    }
  }
  return expr;
}

/** Element segment flags 0–7: bit 0 passive/declarative, bit 1 explicit table (active) or declarative, bit 2 expressions instead of indices. */
function readElement(r: Reader): ElementSegment {
  const at = r.pos;
  const flags = readU32(r);
  if (flags > 7) fail(r, `unknown element segment flags ${flags}`, at);
  const mode = flags & 1 ? (flags & 2 ? 'declarative' : 'passive') : 'active';
  const tableIndex = mode === 'active' && flags & 2 ? readU32(r) : 0;
  const offset = mode === 'active' ? readConstExpr(r) : undefined;
  const usesExprs = (flags & 4) !== 0;
  if (flags & 3) {
    if (usesExprs) readValType(r);
    else {
      const k = r.pos;
      if (readByte(r) !== 0x00) fail(r, 'unknown element kind', k);
    }
  }
  const functions: number[] = [];
  readVec(r, () => {
    if (usesExprs) functions.push(...readConstExpr(r).funcRefs);
    else functions.push(readU32(r));
  });
  const seg: ElementSegment = { mode, tableIndex, functions };
  if (offset) seg.offset = offset;
  return seg;
}

function readBody(r: Reader, funcIndex: number, typeIndex: number): FunctionBody {
  const size = readU32(r);
  const start = r.pos;
  skipBytes(r, size);
  const b = reader(r.bytes, start, start + size, `section 10 (function ${funcIndex})`);
  const locals: LocalGroup[] = [];
  let total = 0;
  readVec(b, () => {
    const at = b.pos;
    const count = readU32(b);
    total += count;
    // The spec caps a function's locals below 2^32; engines cap far lower.
    if (total > 0xffffffff) fail(b, 'too many locals', at);
    locals.push({ count, type: readValType(b) });
  });
  if (b.pos >= b.end) fail(b, 'function body has no instructions');
  return { funcIndex, typeIndex, start, end: start + size, codeStart: b.pos, locals };
}

/** Data segment flags: 0 active in memory 0, 1 passive, 2 active with explicit memory index. */
function readData(r: Reader): DataSegment {
  const start = r.pos;
  const flags = readU32(r);
  if (flags > 2) fail(r, `unknown data segment flags ${flags}`, start);
  const memoryIndex = flags === 2 ? readU32(r) : 0;
  const offsetExpr = flags === 1 ? undefined : readConstExpr(r);
  const n = readU32(r);
  const dataStart = skipBytes(r, n);
  let offset: number | undefined;
  if (offsetExpr?.i32 !== undefined) offset = offsetExpr.i32 >>> 0; // i32 addresses are unsigned
  else if (offsetExpr?.i64 !== undefined && offsetExpr.i64 >= 0n && offsetExpr.i64 <= BigInt(Number.MAX_SAFE_INTEGER)) {
    offset = Number(offsetExpr.i64);
  }
  const seg: DataSegment = { mode: flags === 1 ? 'passive' : 'active', memoryIndex, offset, start, end: r.pos, dataStart, dataEnd: r.pos, size: n };
  if (offsetExpr) seg.offsetExpr = offsetExpr;
  return seg;
}

// ---------------------------------------------------------------------------
// Instruction decoding.
// ---------------------------------------------------------------------------

/**
 * What one function's instructions do. Counts are numbers of instructions;
 * `opcodes` is the full histogram keyed by opcodeKey(). Float counts cover
 * scalar f32/f64 instructions only: SIMD float lanes count under `simd`.
 */
export interface InstructionStats {
  /** Function index space; −1 for a constant expression. */
  funcIndex: number;
  instructions: number;
  memoryGrow: number;
  simd: number;
  /** f32/f64 loads, stores, consts, comparisons, arithmetic, conversions, reinterprets, 0xFC 0–7, typed select of f32/f64. */
  float: number;
  /** call_indirect, return_call_indirect, call_ref, return_call_ref: calls whose target is not known statically. */
  callIndirect: number;
  /** Any 0xFE instruction (including atomic.fence). */
  atomics: number;
  /** 0xFC 8–17: memory.init, data.drop, memory.copy, memory.fill, table.init/elem.drop/copy/grow/size/fill. */
  bulkMemory: number;
  /** Params and declared locals of type f32/f64 (values a soft-float target must still move around). */
  floatLocals: number;
  /** Direct call targets (call, return_call). */
  calls: Set<number>;
  /** Functions named by ref.func (their address escapes; see reachableFunctions). */
  refFuncs: Set<number>;
  opcodes: Map<number, number>;
}

/** Histogram key: the opcode byte, or prefix·0x10000 + sub-opcode for 0xFB–0xFE prefixed instructions. */
export function opcodeKey(op: number, sub?: number): number {
  return sub === undefined ? op : op * 0x10000 + sub;
}

function emptyStats(funcIndex: number): InstructionStats {
  return {
    funcIndex, instructions: 0, memoryGrow: 0, simd: 0, float: 0, callIndirect: 0, atomics: 0, bulkMemory: 0, floatLocals: 0,
    calls: new Set(), refFuncs: new Set(), opcodes: new Map(),
  };
}

function isFloatType(t: ValType): boolean {
  return t === 'f32' || t === 'f64';
}

/** Scalar numeric opcodes (0x45–0xC4, no immediates) that read or produce f32/f64. 0xA7 wrap and 0xAC/0xAD extend are integer-only. */
function isFloatNumeric(op: number): boolean {
  return (op >= 0x5b && op <= 0x66) || (op >= 0x8b && op <= 0xa6) || (op >= 0xa8 && op <= 0xab) || (op >= 0xae && op <= 0xbf);
}

/** memarg: align (bit 6 set = a memory index follows, multi-memory), then offset (u64 so memory64 offsets pass too). */
function readMemarg(r: Reader): void {
  const align = readU32(r);
  if (align & 0x40) readU32(r);
  skipLeb64(r, false);
}

/**
 * blocktype: 0x40 (empty), a value type (all one-byte codes are in 0x40–0x7F,
 * i.e. negative one-byte s33), or a non-negative s33 type index.
 */
function readBlockType(r: Reader): void {
  const b = peekByte(r);
  if (b === 0x40) {
    r.pos++;
    return;
  }
  if (b >= 0x40 && b < 0x80) {
    readValType(r);
    return;
  }
  const at = r.pos;
  if (readS33(r) < 0) fail(r, 'bad block type', at);
}

function count(s: InstructionStats, key: number): void {
  s.opcodes.set(key, (s.opcodes.get(key) ?? 0) + 1);
}

/**
 * Decodes instructions up to and including the `end` that closes the
 * expression (depth 0), updating `s`. Leaves r.pos just after that `end`.
 */
function scanExpression(r: Reader, s: InstructionStats): void {
  let depth = 0;
  for (;;) {
    const at = r.pos;
    const op = readByte(r);
    s.instructions++;
    if (op >= 0x45 && op <= 0xc4) {
      count(s, op);
      if (isFloatNumeric(op)) s.float++;
      continue;
    }
    if (op < 0xfb) count(s, op);
    switch (op) {
      case 0x00: case 0x01: case 0x05: case 0x0a: case 0x0f: case 0x19: case 0x1a: case 0x1b:
      case 0xd1: case 0xd3: case 0xd4:
        break; // unreachable nop else throw_ref return catch_all drop select ref.is_null ref.eq ref.as_non_null
      case 0x02: case 0x03: case 0x04: case 0x06: // block loop if try
        readBlockType(r);
        depth++;
        break;
      case 0x1f: // try_table: blocktype, vec(catch); catch = kind (0/1: tag + label, 2/3: label)
        readBlockType(r);
        readVec(r, () => {
          const k = r.pos;
          const kind = readByte(r);
          if (kind > 3) fail(r, `unknown catch kind ${kind}`, k);
          if (kind <= 1) readU32(r);
          readU32(r);
        });
        depth++;
        break;
      case 0x0b: // end
        if (depth === 0) return;
        depth--;
        break;
      case 0x18: // delegate: closes a try like end does
        readU32(r);
        if (depth === 0) fail(r, 'delegate outside a try', at);
        depth--;
        break;
      case 0x07: case 0x08: case 0x09: case 0x0c: case 0x0d: case 0xd5: case 0xd6:
        readU32(r); // catch/throw tag, rethrow/br/br_if/br_on_null/br_on_non_null label
        break;
      case 0x0e: { // br_table: vec(label) + default label
        readVec(r, () => readU32(r));
        readU32(r);
        break;
      }
      case 0x10: case 0x12: // call, return_call
        s.calls.add(readU32(r));
        break;
      case 0x11: case 0x13: // call_indirect, return_call_indirect: type, table
        readU32(r);
        readU32(r);
        s.callIndirect++;
        break;
      case 0x14: case 0x15: // call_ref, return_call_ref: type
        readU32(r);
        s.callIndirect++;
        break;
      case 0x1c: // select t*
        readVec(r, () => {
          const t = readValType(r);
          if (isFloatType(t)) s.float++;
          if (t === 'v128') s.simd++;
        });
        break;
      case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25: case 0x26:
        readU32(r); // local.get/set/tee, global.get/set, table.get/set
        break;
      case 0x3f: // memory.size: memory index
        readU32(r);
        break;
      case 0x40: // memory.grow
        readU32(r);
        s.memoryGrow++;
        break;
      case 0x41:
        readS32(r);
        break;
      case 0x42:
        skipLeb64(r, true);
        break;
      case 0x43:
        skipBytes(r, 4);
        s.float++;
        break;
      case 0x44:
        skipBytes(r, 8);
        s.float++;
        break;
      case 0xd0: // ref.null heaptype
        readHeapType(r);
        break;
      case 0xd2: // ref.func
        s.refFuncs.add(readU32(r));
        break;
      case 0xfc:
        scanFC(r, s, at);
        break;
      case 0xfd:
        scanSimd(r, s, at);
        break;
      case 0xfe:
        scanAtomic(r, s, at);
        break;
      default:
        if (op >= 0x28 && op <= 0x3e) { // loads and stores
          readMemarg(r);
          if (op === 0x2a || op === 0x2b || op === 0x38 || op === 0x39) s.float++;
          break;
        }
        fail(r, `unknown opcode ${hex(op)}`, at);
    }
  }
}

/** 0xFC: 0–7 saturating float→int truncations, 8–11 bulk memory, 12–17 table operations. */
function scanFC(r: Reader, s: InstructionStats, at: number): void {
  const sub = readU32(r);
  if (sub > 17) fail(r, `unknown opcode 0xfc ${sub}`, at);
  count(s, opcodeKey(0xfc, sub));
  if (sub <= 7) {
    s.float++;
    return;
  }
  s.bulkMemory++;
  switch (sub) {
    case 8: case 10: case 12: case 14: // memory.init data mem, memory.copy mem mem, table.init elem table, table.copy table table
      readU32(r);
      readU32(r);
      return;
    default: // data.drop, memory.fill, elem.drop, table.grow, table.size, table.fill: one index
      readU32(r);
  }
}

/**
 * 0xFD SIMD (spec opcode table): loads/stores 0x00–0x0B and 0x5C–0x5D take a
 * memarg, v128.const and i8x16.shuffle 16 bytes, extract/replace_lane
 * 0x15–0x22 a lane byte, load/store_lane 0x54–0x5B a memarg and a lane byte;
 * every other opcode up to 0x113 (relaxed SIMD included) has no immediate.
 */
function scanSimd(r: Reader, s: InstructionStats, at: number): void {
  const sub = readU32(r);
  if (sub > 0x113) fail(r, `unknown opcode 0xfd ${sub}`, at);
  count(s, opcodeKey(0xfd, sub));
  s.simd++;
  if (sub <= 0x0b || sub === 0x5c || sub === 0x5d) readMemarg(r);
  else if (sub === 0x0c || sub === 0x0d) skipBytes(r, 16);
  else if (sub >= 0x15 && sub <= 0x22) readByte(r);
  else if (sub >= 0x54 && sub <= 0x5b) {
    readMemarg(r);
    readByte(r);
  }
}

/** 0xFE threads: atomic.fence (0x03) has one zero byte, notify/wait (0x00–0x02) and loads/stores/rmw (0x10–0x4E) a memarg. */
function scanAtomic(r: Reader, s: InstructionStats, at: number): void {
  const sub = readU32(r);
  if (!(sub <= 0x03 || (sub >= 0x10 && sub <= 0x4e))) fail(r, `unknown opcode 0xfe ${sub}`, at);
  count(s, opcodeKey(0xfe, sub));
  s.atomics++;
  if (sub === 0x03) {
    const z = r.pos;
    if (readByte(r) !== 0x00) fail(r, 'atomic.fence expects a zero byte', z);
  } else readMemarg(r);
}

/** Decodes one defined function's body. Throws WasmError for imported or out-of-range indices and malformed code. */
export function scanFunction(mod: WasmModule, funcIndex: number): InstructionStats {
  const body = bodyOf(mod, funcIndex);
  if (body === undefined) {
    throw new WasmError(`wasm: function ${funcIndex} ${funcIndex < mod.importedFunctionCount ? 'is imported and has no body' : 'does not exist'}`);
  }
  const s = emptyStats(funcIndex);
  const type = mod.types[body.typeIndex];
  if (type) s.floatLocals += type.params.filter(isFloatType).length;
  for (const g of body.locals) if (isFloatType(g.type)) s.floatLocals += g.count;
  const r = reader(mod.bytes, body.codeStart, body.end, `section 10 (function ${funcIndex})`);
  scanExpression(r, s);
  if (r.pos !== r.end) fail(r, `${r.end - r.pos} bytes after the final end`);
  return s;
}

/** Decodes every defined function, in code-section order (stats[i] is function importedFunctionCount + i). */
export function scanInstructions(mod: WasmModule): InstructionStats[] {
  return mod.codes.map((c) => scanFunction(mod, c.funcIndex));
}

/** Alias of scanInstructions. */
export const scanFunctions = scanInstructions;

// ---------------------------------------------------------------------------
// Reachability.
// ---------------------------------------------------------------------------

/**
 * Functions that may run when export `exportName` is called: the export's
 * function plus everything reachable through direct calls. Indirect calls are
 * handled conservatively: once any reached function uses call_indirect (or
 * call_ref), every function that can sit in a table or a funcref — those named
 * by any element segment, any ref.func in code, or any global initialiser — is
 * reachable, and their calls are followed too. Imported functions appear in
 * the set but are not followed (a host could call back into any export; sparrow
 * firmware imports nothing). The start function is not included: it runs at
 * instantiation, not on call.
 */
export function reachableFunctions(mod: WasmModule, exportName: string, stats: InstructionStats[] = scanInstructions(mod)): Set<number> {
  const exp = mod.exports.find((e) => e.name === exportName && e.kind === 'func');
  if (exp === undefined) throw new WasmError(`wasm: no exported function "${exportName}"`);
  const seen = new Set<number>();
  const work = [exp.index];
  let indirectAdded = false;
  while (work.length > 0) {
    const f = work.pop() as number;
    if (seen.has(f)) continue;
    seen.add(f);
    const s = stats[f - mod.importedFunctionCount];
    if (f < mod.importedFunctionCount || s === undefined) continue;
    for (const c of s.calls) if (!seen.has(c)) work.push(c);
    if (s.callIndirect > 0 && !indirectAdded) {
      indirectAdded = true;
      for (const c of indirectCallCandidates(mod, stats)) if (!seen.has(c)) work.push(c);
    }
  }
  return seen;
}

/** Every function whose reference can exist at run time: element segments, ref.func in bodies and in global initialisers. */
export function indirectCallCandidates(mod: WasmModule, stats: InstructionStats[] = scanInstructions(mod)): Set<number> {
  const out = new Set<number>();
  for (const e of mod.elements) for (const f of e.functions) out.add(f);
  for (const g of mod.globals) for (const f of g.init.funcRefs) out.add(f);
  for (const s of stats) for (const f of s.refFuncs) out.add(f);
  return out;
}

/** Totals over the functions reachable from one export; `float === 0` reads "no float instruction reachable". */
export interface ReachableSummary {
  functions: Set<number>;
  /** Reachable imported functions (by function index). */
  imports: number[];
  instructions: number;
  memoryGrow: number;
  simd: number;
  float: number;
  callIndirect: number;
  atomics: number;
  bulkMemory: number;
  floatLocals: number;
}

export function summarizeReachable(mod: WasmModule, exportName: string, stats: InstructionStats[] = scanInstructions(mod)): ReachableSummary {
  const functions = reachableFunctions(mod, exportName, stats);
  const sum: ReachableSummary = {
    functions, imports: [], instructions: 0, memoryGrow: 0, simd: 0, float: 0, callIndirect: 0, atomics: 0, bulkMemory: 0, floatLocals: 0,
  };
  for (const f of [...functions].sort((a, b) => a - b)) {
    if (f < mod.importedFunctionCount) {
      sum.imports.push(f);
      continue;
    }
    const s = stats[f - mod.importedFunctionCount];
    if (s === undefined) continue; // a call to a nonexistent function: an engine rejects the module anyway
    sum.instructions += s.instructions;
    sum.memoryGrow += s.memoryGrow;
    sum.simd += s.simd;
    sum.float += s.float;
    sum.callIndirect += s.callIndirect;
    sum.atomics += s.atomics;
    sum.bulkMemory += s.bulkMemory;
    sum.floatLocals += s.floatLocals;
  }
  return sum;
}

// ---------------------------------------------------------------------------
// Convenience queries.
// ---------------------------------------------------------------------------

/** `{ module, name, kind }` of every import, in order. */
export function importsOf(mod: WasmModule): { module: string; name: string; kind: ExternKind }[] {
  return mod.imports.map((i) => ({ module: i.module, name: i.name, kind: i.kind }));
}

/** `{ name, kind, index }` of every export, in order. */
export function exportsOf(mod: WasmModule): Export[] {
  return mod.exports.map((e) => ({ ...e }));
}

export interface MemoryLimits {
  initialPages: number;
  maximumPages: number | undefined;
  imported: boolean;
  shared: boolean;
  memory64: boolean;
}

/** Limits of memory 0 (imported or defined), or undefined when the module has no memory. */
export function memoryLimits(mod: WasmModule): MemoryLimits | undefined {
  const imp = mod.imports.find((i): i is Import & { kind: 'memory' } => i.kind === 'memory');
  const m = imp ? imp.memory : mod.memories[0];
  if (m === undefined) return undefined;
  return { initialPages: m.min, maximumPages: m.max, imported: imp !== undefined, shared: m.shared, memory64: m.memory64 };
}

/** Number of functions in the index space (imported + defined). */
export function functionCount(mod: WasmModule): number {
  return mod.importedFunctionCount + mod.functions.length;
}

/** Signature of a function (imported or defined), or undefined for a bad index. */
export function functionType(mod: WasmModule, funcIndex: number): FuncType | undefined {
  if (funcIndex < mod.importedFunctionCount) {
    const imp = mod.imports.filter((i): i is Import & { kind: 'func' } => i.kind === 'func')[funcIndex];
    return imp ? mod.types[imp.typeIndex] : undefined;
  }
  const t = mod.functions[funcIndex - mod.importedFunctionCount];
  return t === undefined ? undefined : mod.types[t];
}

/** The body of a defined function, undefined for imported or out-of-range indices. */
export function bodyOf(mod: WasmModule, funcIndex: number): FunctionBody | undefined {
  if (!Number.isInteger(funcIndex) || funcIndex < mod.importedFunctionCount) return undefined;
  return mod.codes[funcIndex - mod.importedFunctionCount];
}

/** The function index exported as `name`, or undefined. */
export function exportedFunction(mod: WasmModule, name: string): number | undefined {
  return mod.exports.find((e) => e.name === name && e.kind === 'func')?.index;
}

/** The first section with this id (custom sections: pass `name` too). */
export function findSection(mod: WasmModule, id: number, name?: string): Section | undefined {
  return mod.sections.find((s) => s.id === id && (name === undefined || s.name === name));
}

/** A data segment's bytes (a view into mod.bytes). */
export function dataBytes(mod: WasmModule, seg: DataSegment): Uint8Array {
  return mod.bytes.subarray(seg.dataStart, seg.dataEnd);
}
