// ============================================================================
// Element types of the arrays sparrow reads and writes: one table linking the
// typed array, the safetensors dtype name and the NumPy type code.
// ============================================================================

export type ElementArray =
  | Float64Array | Float32Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint32Array | Uint16Array | Uint8Array;

export type Dtype = 'F64' | 'F32' | 'I64' | 'I32' | 'I16' | 'I8' | 'U32' | 'U16' | 'U8';

export interface ElementType {
  /** safetensors dtype name. */
  dtype: Dtype;
  /** NumPy type code without the byte-order character (`f4`, `i2`, …). */
  npy: string;
  bytes: number;
  /** View a buffer (whose length is a multiple of `bytes`) as this type. */
  view(buffer: ArrayBuffer): ElementArray;
  is(data: ElementArray): boolean;
}

function element<A extends ElementArray>(dtype: Dtype, npy: string, ctor: { new (b: ArrayBuffer): A; BYTES_PER_ELEMENT: number }): ElementType {
  return { dtype, npy, bytes: ctor.BYTES_PER_ELEMENT, view: (b) => new ctor(b), is: (d) => d instanceof ctor };
}

export const ELEMENT_TYPES: readonly ElementType[] = [
  element('F64', 'f8', Float64Array),
  element('F32', 'f4', Float32Array),
  element('I64', 'i8', BigInt64Array),
  element('I32', 'i4', Int32Array),
  element('I16', 'i2', Int16Array),
  element('I8', 'i1', Int8Array),
  element('U32', 'u4', Uint32Array),
  element('U16', 'u2', Uint16Array),
  element('U8', 'u1', Uint8Array),
];

export const byDtype = (dtype: string): ElementType | undefined => ELEMENT_TYPES.find((e) => e.dtype === dtype);
export const byNpyCode = (code: string): ElementType | undefined => ELEMENT_TYPES.find((e) => e.npy === code);
export const elementTypeOf = (data: ElementArray): ElementType => ELEMENT_TYPES.find((e) => e.is(data))!;
