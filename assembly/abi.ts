// ============================================================================
// Firmware memory ABI: where the engine finds the model blob. The host linker
// (host/compile/abi.ts) writes the same offsets; a test checks both files agree.
//
// The header sits at a fixed address; every other region is reached through
// pointers in it, placed and validated at compile time.
// ============================================================================

/** Byte address of the model header. [0, 64) stays zero so a null pointer never aliases data. */
export const HEADER: usize = 64;
export const MAGIC: u32 = 0x57525053; // "SPRW"
export const ABI_VERSION: u32 = 1;

// Header fields: byte offsets from HEADER, each a u32 (tolerance is an f32).
export const H_MAGIC: usize = 0;
export const H_ABI: usize = 4;
export const H_D_IN: usize = 8;
export const H_D_MODEL: usize = 12;
export const H_D_STATE: usize = 16;
export const H_D_OUT: usize = 20;
export const H_N_LAYERS: usize = 24;
export const H_FLAGS: usize = 28;
export const H_INPUT: usize = 32;
export const H_OUTPUT: usize = 36;
export const H_U: usize = 40;
export const H_V: usize = 44;
export const H_Y: usize = 48;
export const H_TMP: usize = 52;
export const H_A: usize = 56;
export const H_G: usize = 60;
export const H_BV_RE: usize = 64;
export const H_BV_IM: usize = 68;
export const H_ENCODER: usize = 72; // matrix descriptor
export const H_ENCODER_BIAS: usize = 76;
export const H_DECODER: usize = 80; // matrix descriptor
export const H_DECODER_BIAS: usize = 84;
export const H_LAYERS: usize = 88; // n_layers layer descriptors, LAYER_BYTES each
export const H_GOLDEN_STEPS: usize = 92;
export const H_GOLDEN_INPUT: usize = 96;
export const H_GOLDEN_OUTPUT: usize = 100;
export const H_GOLDEN_TOL: usize = 104; // f32
export const H_STATE_START: usize = 108; // mutable region [start, end): zeroed by reset()
export const H_STATE_END: usize = 112;
export const HEADER_BYTES: usize = 116;

// Flags.
export const FLAG_GELU: u32 = 1; // else relu
export const FLAG_ENCODER_RELU: u32 = 2;
export const FLAG_GATE: u32 = 4;
export const FLAG_SMA: u32 = 8; // Sparse Modular Activation: layer descriptors are LAYER_BYTES_SMA long

// Layer descriptor: byte offsets, each a u32 pointer.
export const L_NORM_SCALE: usize = 0;
export const L_NORM_SHIFT: usize = 4;
export const L_LAMBDA_RE: usize = 8;
export const L_LAMBDA_IM: usize = 12;
export const L_D: usize = 16;
export const L_GATE_BIAS: usize = 20;
export const L_STATE_RE: usize = 24;
export const L_STATE_IM: usize = 28;
export const L_B_RE: usize = 32; // matrix descriptors
export const L_B_IM: usize = 36;
export const L_C_RE: usize = 40;
export const L_C_IM: usize = 44;
export const L_GATE_W: usize = 48;
export const LAYER_BYTES: usize = 52; // the layer stride of every model without SMA
// SMA models only: the gate runs this step iff l₁ + b₁ > l₀ + b₀ with l = W_s y, decided before it.
export const L_SMA_W: usize = 52; // matrix descriptor [2, H]
export const L_SMA_BIAS: usize = 56; // f32[2]
export const LAYER_BYTES_SMA: usize = 60;

// Matrix descriptor: byte offsets, each a u32.
export const M_KIND: usize = 0; // KIND_*
export const M_ROWS: usize = 4;
export const M_COLS: usize = 8;
export const M_VALUES: usize = 12; // f32[rows*cols] or f32[nnz]
export const M_INDPTR: usize = 16; // CSR: u32[rows+1]
export const M_INDICES: usize = 20; // CSR: u16[nnz]
export const MATRIX_BYTES: usize = 24;

export const KIND_DENSE: u32 = 0;
export const KIND_CSR: u32 = 1;
