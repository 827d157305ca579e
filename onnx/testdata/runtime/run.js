// Runs an ONNX model in onnxruntime-node (CPU) on one float32 input and prints its outputs.
//
//   node run.js MODEL.onnx INPUT.f32 N C H W
//
// INPUT.f32 holds N·C·H·W little-endian float32 values, fed to the model's only input. Prints one
// JSON object: {"inputs": [names], "outputs": {name: {"dims": [...], "data": [...]}}}.
'use strict';

const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [modelPath, inputPath, ...dimArgs] = process.argv.slice(2);
  const dims = dimArgs.map(Number);
  if (!modelPath || !inputPath || dims.length === 0 || dims.some((d) => !(d > 0))) {
    throw new Error('usage: node run.js MODEL.onnx INPUT.f32 N C H W');
  }
  const buf = fs.readFileSync(inputPath);
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  if (data.length !== dims.reduce((a, b) => a * b, 1)) {
    throw new Error(`${inputPath}: ${data.length} values, dims ${dims} need ${dims.reduce((a, b) => a * b, 1)}`);
  }
  const session = await ort.InferenceSession.create(modelPath, { executionProviders: ['cpu'] });
  if (session.inputNames.length !== 1) {
    throw new Error(`${modelPath}: ${session.inputNames.length} inputs, want 1`);
  }
  const results = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, dims) });
  const outputs = {};
  for (const name of session.outputNames) {
    outputs[name] = { dims: results[name].dims, data: Array.from(results[name].data) };
  }
  process.stdout.write(JSON.stringify({ inputs: session.inputNames, outputs }));
}

main().catch((err) => {
  console.error(err.message || err);
  process.exit(1);
});
