// Jest environment for tests that run onnxruntime-node. Jest runs each test file
// in its own vm realm, whose Float32Array is not the one the native binding
// creates output tensors with, so onnxruntime-common's `instanceof` check fails
// ("A float32 tensor's data must be type of function Float32Array()").
// Giving the test realm the outer realm's typed-array constructors fixes it;
// nothing else about the node environment changes.
const { TestEnvironment } = require('jest-environment-node');

const TYPED_ARRAYS = ['Float32Array', 'Float64Array', 'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array'];

class OrtEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of TYPED_ARRAYS) if (globalThis[name]) this.global[name] = globalThis[name];
  }
}

module.exports = OrtEnvironment;
