// ============================================================================
// Integer (w8a16) firmware memory ABI. Same idea as abi.ts: a header at a fixed
// address, everything else through pointers in it. Shifts are precomputed per
// row at compile time (frac_in + frac_w − frac_out), so step() only computes.
// host/compile/abi_i16.ts mirrors these offsets; a test checks they agree.
// ============================================================================

export const HEADER: usize = 64;
export const MAGIC: u32 = 0x49525053; // "SPRI"
export const ABI_VERSION: u32 = 1;

// Header fields (u32 unless noted; fracs and shifts are i32).
export const H_MAGIC: usize = 0;
export const H_ABI: usize = 4;
export const H_D_IN: usize = 8;
export const H_D_MODEL: usize = 12;
export const H_D_STATE: usize = 16;
export const H_D_OUT: usize = 20;
export const H_N_LAYERS: usize = 24;
export const H_FLAGS: usize = 28;
export const H_INPUT: usize = 32; // i16[d_in]
export const H_OUTPUT: usize = 36; // i16[d_out]
export const H_U: usize = 40; // i16[H] scratch
export const H_V: usize = 44;
export const H_Y: usize = 48;
export const H_A: usize = 52;
export const H_Z: usize = 56;
export const H_ACC_RE: usize = 60; // i32[max(H, P, d_out)]
export const H_ACC_IM: usize = 64;
export const H_ENCODER: usize = 68; // matrix descriptor
export const H_ENCODER_BIAS: usize = 72; // i32[H]
export const H_ENCODER_SHIFT: usize = 76; // i8[H]
export const H_DECODER: usize = 80;
export const H_DECODER_BIAS: usize = 84; // i32[d_out]
export const H_DECODER_SHIFT: usize = 88; // i8[d_out]
export const H_LAYERS: usize = 92;
export const H_GOLDEN_STEPS: usize = 96;
export const H_GOLDEN_INPUT: usize = 100; // i16[steps·d_in]
export const H_GOLDEN_OUTPUT: usize = 104; // i16[steps·d_out]
export const H_INPUT_FRAC: usize = 108; // i32
export const H_OUTPUT_FRAC: usize = 112; // i32
export const H_STATE_START: usize = 116;
export const H_STATE_END: usize = 120;
export const H_COUNTERS: usize = 124; // u64[N_COUNTERS] in profile builds (`--profile`), else 0
export const HEADER_BYTES: usize = 128;

export const FLAG_GELU: u32 = 1;
export const FLAG_ENCODER_RELU: u32 = 2;
export const FLAG_GATE: u32 = 4;
export const FLAG_SMA: u32 = 8; // Sparse Modular Activation: layer descriptors are LAYER_BYTES_SMA long

// Layer descriptor.
export const L_NORM_SCALE: usize = 0; // i16[H]
export const L_NORM_SHIFT: usize = 4; // i32[H]
export const L_NORM_K: usize = 8; // i32 shift
export const L_LAMBDA_RE: usize = 12; // i16[P], Q15
export const L_LAMBDA_IM: usize = 16;
export const L_B_RE: usize = 20; // matrix descriptors
export const L_B_IM: usize = 24;
export const L_B_SHIFT: usize = 28; // i8[P]
export const L_C_RE: usize = 32;
export const L_C_IM: usize = 36;
export const L_C_SHIFT: usize = 40; // i8[H]
export const L_D: usize = 44; // i8[H]
export const L_D_K: usize = 48; // i32 shift
export const L_ACT_LUT: usize = 52; // i16[257], 0 for relu
export const L_GATE_W: usize = 56;
export const L_GATE_BIAS: usize = 60; // i32[H]
export const L_GATE_SHIFT: usize = 64; // i8[H]
export const L_SIGMOID_LUT: usize = 68; // i16[257]
export const L_U_K: usize = 72; // i32: uIn − uOut
export const L_Z_K: usize = 76; // i32: a − uOut
export const L_STATE_RE: usize = 80; // i16[P]
export const L_STATE_IM: usize = 84;
export const LAYER_BYTES: usize = 88; // the layer stride of every model without SMA
// SMA models only: the gate runs this step iff w·y + bias > 0 for the one decision row w = w₁ − w₀
// (H int8 MACs, decided before the gate, so a skipped gate costs nothing).
export const L_SMA_W: usize = 88; // matrix descriptor [1, H], always KIND_DENSE
export const L_SMA_BIAS: usize = 92; // i32, at the accumulator's frac
export const LAYER_BYTES_SMA: usize = 96;

// Matrix descriptor (int8 values, in row-major nonzero order; formats in host/compress/formats.ts).
export const M_KIND: usize = 0;
export const M_ROWS: usize = 4;
export const M_COLS: usize = 8;
export const M_VALUES: usize = 12; // i8[rows·cols] (dense) or i8[nnz]
export const M_INDPTR: usize = 16; // CSR: row pointers; delta and bitmap: nnz
export const M_INDICES: usize = 20; // CSR: columns; delta: gap stream; bitmap: bits
export const MATRIX_BYTES: usize = 24;

export const KIND_DENSE: u32 = 0;
export const KIND_CSR16_P32: u32 = 1; // u32 row pointers, u16 columns
export const KIND_CSR16_P16: u32 = 2; // u16 row pointers, u16 columns
export const KIND_CSR8_P32: u32 = 3; // u32 row pointers, u8 columns
export const KIND_CSR8_P16: u32 = 4; // u16 row pointers, u8 columns
export const KIND_DELTA8: u32 = 5; // 8-bit gaps, 255 = escape
export const KIND_DELTA4: u32 = 6; // 4-bit gaps, low nibble first, 15 = escape
export const KIND_BITMAP: u32 = 7; // one bit per entry, row-major, LSB first
export const KIND_UNROLLED: u32 = 8; // weights in code: M_INDPTR is the generated function's number

// Op counters of profile builds (u64 each, cumulative, cleared by reset(); docs/firmware-abi.md).
export const C_MAC_MATRIX: usize = 0; // int8 weight × int16 activation MACs in mat-vecs
export const C_MAC_ELEMENTWISE: usize = 1; // other multiplies: 4 per complex state, norm, D, gate product
export const C_LOAD_WEIGHT: usize = 2; // int8 weight loads (none for weights in code)
export const C_LOAD_INDEX: usize = 3; // row pointers, columns, gap entries, bitmap words
export const C_LOAD_ACTIVATION: usize = 4; // int16 activation loads in mat-vecs
export const C_LOAD_STATE: usize = 5; // SSM state loads (re and im)
export const C_LOAD_PARAM: usize = 6; // per-element parameters: biases, shifts, Λ, norm, D
export const C_LUT: usize = 7; // table lookups (GELU, sigmoid)
export const C_BRANCH: usize = 8; // loop iterations (each ends in one conditional branch)
export const C_STEPS: usize = 9;
export const C_SMA_ACTIVE: usize = 10; // SMA layer-steps whose gate ran
export const C_SMA_SKIPPED: usize = 11; // SMA layer-steps whose gate was skipped
export const N_COUNTERS: usize = 12;
