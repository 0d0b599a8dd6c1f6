// ============================================================================
// ONNX export: ONE recurrent step of a float model as an ONNX graph (opset 17,
// float32), so ONNX Runtime (or any ONNX tool) can run sparrow models and be
// benchmarked against the firmware. The graph computes exactly stepFloat
// (host/reference/float.ts), in float32 instead of float64:
//
//   inputs   x [1, d_in],  s_re_i, s_im_i [1, P] for each layer i
//   outputs  y [1, d_out], s_re_i_out, s_im_i_out [1, P]
//
//   u  = encoder_act(Gemm(x, W_enc, b_enc))
//   per layer:  v   = u ⊙ scale + shift
//               s_re' = Gemm(v, B_re, λre⊙s_re − λim⊙s_im)      (the recurrence
//               s_im' = Gemm(v, B_im, λre⊙s_im + λim⊙s_re)       is Gemm's C input)
//               y   = Gemm(s_re', C_re, Gemm(s_im', −C_im, D⊙v))
//               a   = GELU-tanh(y) or Relu(y)
//               u  += gate ? a ⊙ Sigmoid(Gemm(a, W_g, b_g)) : a
//               with SMA:  l = Gemm(y, W_s, b_s)  [1, 2];
//                          u += If(Greater(l[1], l[0]), then a ⊙ Sigmoid(…), else a)
//   y  = Gemm(u, W_dec, b_dec)
//
// The state is explicit: the caller feeds s_*_out of step t as s_* of step
// t+1, starting from zeros (docs/onnx.md). Gemm uses transB = 1 so every
// weight keeps sparrow's row-major [rows, cols] layout.
//
// Every matrix becomes a DENSE float32 initializer, zeros included: ONNX has
// sparse initializers, but ONNX Runtime has no general sparse MatMul on CPU
// (it densifies them when it loads the model), so a 90%-sparse model costs
// ONNX Runtime the dense MACs and the dense bytes. The file is about
// 4·(weights of the dense model) bytes.
//
// SMA's decision is an If, not a Where: If runs one branch, so on a step whose
// decision is off ONNX Runtime skips the gate's Gemm, Sigmoid and Mul as the
// firmware does; Where(cond, a ⊙ σ(g), a) would compute the gate every step and
// select. Its branches read a, W_g and b_g from the outer graph.
// ============================================================================

import { onnx } from 'onnx-proto';
import { toDense } from '../model/model';
import { Matrix, Model } from '../model/types';

export { dequantizeModel } from './dequantize';

export const ONNX_OPSET = 17;
/** IR version 8 (ONNX 1.10+), the newest onnx-proto 8.0.1 knows; opset 17 is valid with it. */
export const ONNX_IR_VERSION = 8;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

/** Graph input/output names of layer i's state. */
export function stateNames(layer: number): { re: string; im: string; reOut: string; imOut: string } {
  return { re: `s_re_${layer}`, im: `s_im_${layer}`, reOut: `s_re_${layer}_out`, imOut: `s_im_${layer}_out` };
}

// ---------------------------------------------------------------------------
// Graph builder: a record of nodes and initializers, and free functions on it.
// ---------------------------------------------------------------------------

interface GraphParts {
  nodes: onnx.INodeProto[];
  initializers: onnx.ITensorProto[];
}

/** float32 values as little-endian raw bytes (the compact TensorProto encoding). */
function floatTensor(name: string, dims: number[], values: ArrayLike<number>): onnx.ITensorProto {
  const raw = new Uint8Array(values.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return { name, dims, dataType: FLOAT, rawData: raw };
}

function initializer(g: GraphParts, name: string, dims: number[], values: ArrayLike<number>): string {
  g.initializers.push(floatTensor(name, dims, values));
  return name;
}

/** A dense [rows, cols] initializer of W (CSR expanded with its zeros), optionally negated. */
function matrixInitializer(g: GraphParts, name: string, W: Matrix, negate = false): string {
  const dense = toDense(W);
  return initializer(g, name, [dense.rows, dense.cols], negate ? dense.values.map((w) => -w) : dense.values);
}

/** Adds one node with a single output named `output`; returns that name. */
function node(g: GraphParts, opType: string, inputs: string[], output: string, attribute: onnx.IAttributeProto[] = []): string {
  g.nodes.push({ opType, input: inputs, output: [output], name: output, attribute });
  return output;
}

/** Names a graph's nodes read, their subgraphs' (If branches) included. */
function nodeInputs(nodes: onnx.INodeProto[]): string[] {
  return nodes.flatMap((n) => [...(n.input ?? []), ...(n.attribute ?? []).flatMap((a) => (a.g ? nodeInputs(a.g.node ?? []) : []))]);
}

/**
 * If(cond) then `thenBranch` else `elseBranch`: each callback adds its nodes to a subgraph
 * (initializers still go to the outer graph, which the branches read) and returns its
 * [1, width] float output.
 */
function ifNode(g: GraphParts, cond: string, output: string, width: number, thenBranch: (b: GraphParts) => string, elseBranch: (b: GraphParts) => string): string {
  const branch = (name: string, build: (b: GraphParts) => string): onnx.IAttributeProto => {
    const b: GraphParts = { nodes: [], initializers: g.initializers };
    const out = build(b);
    return { name, type: onnx.AttributeProto.AttributeType.GRAPH, g: { name: `${output}.${name}`, node: b.nodes, output: [valueInfo(out, [1, width])] } };
  };
  return node(g, 'If', [cond], output, [branch('then_branch', thenBranch), branch('else_branch', elseBranch)]);
}

/** Y = A·Bᵀ + C with B stored [N, K] (sparrow's row-major weights). */
function gemmTransB(g: GraphParts, a: string, b: string, c: string, output: string): string {
  return node(g, 'Gemm', [a, b, c], output, [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 }]);
}

/**
 * GELU, tanh approximation, from primitive ops (not the erf GELU):
 *   0.5·y·(1 + tanh(√(2/π)·y·(1 + 0.044715·y²)))  =  reference gelu(y).
 */
function geluTanh(g: GraphParts, y: string, p: string, consts: GeluConstants): string {
  const y2 = node(g, 'Mul', [y, y], `${p}gelu.y2`);
  const poly = node(g, 'Add', [node(g, 'Mul', [y2, consts.cubic], `${p}gelu.cubic_y2`), consts.one], `${p}gelu.poly`);
  const inner = node(g, 'Mul', [node(g, 'Mul', [y, poly], `${p}gelu.y_poly`), consts.sqrt2OverPi], `${p}gelu.inner`);
  const onePlusTanh = node(g, 'Add', [node(g, 'Tanh', [inner], `${p}gelu.tanh`), consts.one], `${p}gelu.one_plus_tanh`);
  return node(g, 'Mul', [node(g, 'Mul', [y, consts.half], `${p}gelu.half_y`), onePlusTanh], `${p}a`);
}

interface GeluConstants {
  half: string;
  one: string;
  cubic: string;
  sqrt2OverPi: string;
}

function valueInfo(name: string, dims: number[]): onnx.IValueInfoProto {
  return { name, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } };
}

// ---------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------

/** The ONNX model (serialized ModelProto) of one step of `model`; see the banner for the graph. */
export function exportOnnx(model: Model): Uint8Array {
  const { d_in, d_model: H, d_state: P, d_out, act, encoder_act, gate, sma } = model.config;
  const g: GraphParts = { nodes: [], initializers: [] };
  const inputs: onnx.IValueInfoProto[] = [valueInfo('x', [1, d_in])];
  const outputs: onnx.IValueInfoProto[] = [valueInfo('y', [1, d_out])];

  const gelu: GeluConstants = {
    half: initializer(g, 'const.half', [], [0.5]),
    one: initializer(g, 'const.one', [], [1]),
    cubic: initializer(g, 'const.gelu_cubic', [], [0.044715]),
    sqrt2OverPi: initializer(g, 'const.sqrt_2_over_pi', [], [Math.sqrt(2 / Math.PI)]),
  };
  // SMA's logit indices (Gather on axis 1 of the [1, 2] logits).
  if (sma) {
    g.initializers.push({ name: 'const.index_0', dims: [], dataType: onnx.TensorProto.DataType.INT64, int64Data: [0] });
    g.initializers.push({ name: 'const.index_1', dims: [], dataType: onnx.TensorProto.DataType.INT64, int64Data: [1] });
  }

  const encW = matrixInitializer(g, 'encoder.weight', model.encoderWeight);
  const encB = initializer(g, 'encoder.bias', [H], model.encoderBias);
  let u = gemmTransB(g, 'x', encW, encB, encoder_act === 'relu' ? 'encoder.pre_act' : 'encoder.u');
  if (encoder_act === 'relu') u = node(g, 'Relu', [u], 'encoder.u');

  model.layers.forEach((L, i) => {
    const p = `layers.${i}.`;
    const s = stateNames(i);
    inputs.push(valueInfo(s.re, [1, P]), valueInfo(s.im, [1, P]));
    outputs.push(valueInfo(s.reOut, [1, P]), valueInfo(s.imOut, [1, P]));

    const scale = initializer(g, p + 'norm.scale', [H], L.normScale);
    const shift = initializer(g, p + 'norm.shift', [H], L.normShift);
    const v = node(g, 'Add', [node(g, 'Mul', [u, scale], `${p}scaled_u`), shift], `${p}v`);

    // s' = Λ ⊙ s + B v, complex: the Λ part enters Gemm as its C (bias) input.
    const lRe = initializer(g, p + 'ssm.lambda_re', [P], L.lambdaRe);
    const lIm = initializer(g, p + 'ssm.lambda_im', [P], L.lambdaIm);
    const lsRe = node(g, 'Sub', [node(g, 'Mul', [s.re, lRe], `${p}lre_sre`), node(g, 'Mul', [s.im, lIm], `${p}lim_sim`)], `${p}lambda_s_re`);
    const lsIm = node(g, 'Add', [node(g, 'Mul', [s.im, lRe], `${p}lre_sim`), node(g, 'Mul', [s.re, lIm], `${p}lim_sre`)], `${p}lambda_s_im`);
    const sRe = gemmTransB(g, v, matrixInitializer(g, p + 'ssm.B_re', L.B_re), lsRe, s.reOut);
    const sIm = gemmTransB(g, v, matrixInitializer(g, p + 'ssm.B_im', L.B_im), lsIm, s.imOut);

    // y = C_re s_re − C_im s_im + D ⊙ v: −C_im stored negated (exact), D⊙v as the inner Gemm's C.
    const dv = node(g, 'Mul', [v, initializer(g, p + 'ssm.D', [H], L.D)], `${p}d_v`);
    const cImPart = gemmTransB(g, sIm, matrixInitializer(g, p + 'ssm.C_im.negated', L.C_im, true), dv, `${p}minus_cim_sim_plus_dv`);
    const y = gemmTransB(g, sRe, matrixInitializer(g, p + 'ssm.C_re', L.C_re), cImPart, `${p}y`);

    const a = act === 'gelu' ? geluTanh(g, y, p, gelu) : node(g, 'Relu', [y], `${p}a`);
    let z = a;
    if (gate) {
      const gW = matrixInitializer(g, p + 'gate.weight', L.gateWeight!);
      const gB = initializer(g, p + 'gate.bias', [H], L.gateBias!);
      const gated = (b: GraphParts, out: string): string => node(b, 'Mul', [a, node(b, 'Sigmoid', [gemmTransB(b, a, gW, gB, `${p}g`)], `${p}sigmoid_g`)], out);
      if (sma) {
        // l = W_s y + b_s; the gate runs iff l₁ > l₀ (a tie skips it, as the reference).
        const logits = gemmTransB(g, y, matrixInitializer(g, p + 'sma.weight', L.smaWeight!), initializer(g, p + 'sma.bias', [2], L.smaBias!), `${p}sma.logits`);
        const axis1: onnx.IAttributeProto[] = [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }];
        const l0 = node(g, 'Gather', [logits, 'const.index_0'], `${p}sma.l0`, axis1);
        const l1 = node(g, 'Gather', [logits, 'const.index_1'], `${p}sma.l1`, axis1);
        const run = node(g, 'Greater', [l1, l0], `${p}sma.run`);
        z = ifNode(g, run, `${p}z`, H, (b) => gated(b, `${p}z_gated`), (b) => node(b, 'Identity', [a], `${p}z_skipped`));
      } else {
        z = gated(g, `${p}z`);
      }
    }
    u = node(g, 'Add', [u, z], `${p}u`);
  });

  const decW = matrixInitializer(g, 'decoder.weight', model.decoderWeight);
  gemmTransB(g, u, decW, initializer(g, 'decoder.bias', [d_out], model.decoderBias), 'y');

  // Constants only a GELU graph uses would be unused initializers otherwise (ONNX checkers warn).
  const used = new Set(nodeInputs(g.nodes));
  const initializers = g.initializers.filter((t) => used.has(t.name!));

  const proto: onnx.IModelProto = {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'sparrow',
    producerVersion: '0.1.0',
    docString: 'One recurrent step of a sparrow S5-style model; feed s_*_out back as s_* (zeros at t = 0).',
    metadataProps: [
      { key: 'sparrow.config', value: JSON.stringify(model.config) },
      ...Object.entries(model.metadata).map(([key, value]) => ({ key: `sparrow.${key}`, value })),
    ],
    graph: { name: 'sparrow_step', node: g.nodes, initializer: initializers, input: inputs, output: outputs },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(proto)).finish();
}
