// Runs examples/onnx/detect.js's two-stage detection on photos given as raw RGB pixels, so that
// catmark's Go test can compare its pre-processing and decoding with catmark's detector without
// the difference of two JPEG decoders.
//
//   node example_check.js MODELS_FOLDER W H FILE.rgb [W H FILE.rgb ...]
//
// Prints a JSON array, one {"points": [[x, y], ...], "face": f} per photo (photo pixels).
'use strict';

const fs = require('fs');
const path = require('path');
const example = require(path.join(__dirname, '..', '..', 'examples', 'onnx', 'detect.js'));

async function main() {
  const [dir, ...rest] = process.argv.slice(2);
  if (!dir || rest.length === 0 || rest.length % 3 !== 0) {
    throw new Error('usage: node example_check.js MODELS_FOLDER W H FILE.rgb [W H FILE.rgb ...]');
  }
  const coarse = await example.load(path.join(dir, 'coarse.onnx'));
  const refine = await example.load(path.join(dir, 'refine.onnx'));
  const out = [];
  for (let i = 0; i < rest.length; i += 3) {
    const img = { w: Number(rest[i]), h: Number(rest[i + 1]), pix: fs.readFileSync(rest[i + 2]) };
    if (img.pix.length !== 3 * img.w * img.h) throw new Error(`${rest[i + 2]}: ${img.pix.length} bytes for ${img.w}×${img.h}`);
    const { points, face } = await example.detect(coarse, refine, img);
    out.push({ points, face });
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err.message || err);
  process.exit(1);
});
