// Finds the nine landmarks of a cat's face with catmark's two exported networks in
// onnxruntime-node, with catmark's pre-processing:
//
//   catmark export --format onnx --out models
//   node detect.js models PHOTO.jpg
//
// Stage 1 runs coarse.onnx on the whole photo resized to S×S; the face box is the square around
// its points grown by the refine model's margin (from the file's metadata) and by GROW; stage 2
// runs refine.onnx once on that crop. It prints each point in photo pixels and the face presence:
// what `catmark predict --passes 1 --flip=false --any-angle=false --zoom 0 --search 0` prints,
// up to JPEG decoding (jpeg-js here, Go's image/jpeg there).
'use strict';

const fs = require('fs');
const path = require('path');
const jpeg = require('jpeg-js');
const ort = require('onnxruntime-node');

// GROW enlarges the first refine crop, as catmark's detector does (its --grow default).
const GROW = 1.4;
// MIN_FACE_SIDE is the smallest face box side in pixels (facecrop.MinFaceSide).
const MIN_FACE_SIDE = 8;

// readMetadata returns an ONNX file's metadata_props (ModelProto field 14: key 1, value 2).
function readMetadata(buf) {
  const varint = (b, at) => {
    let v = 0, mul = 1, i = at;
    for (;;) {
      const byte = b[i++];
      v += (byte & 0x7f) * mul;
      mul *= 128;
      if (byte < 0x80) return [v, i];
    }
  };
  const fields = (b) => {
    const out = [];
    for (let at = 0; at < b.length;) {
      let tag;
      [tag, at] = varint(b, at);
      const num = Math.floor(tag / 8), type = tag % 8;
      if (type === 0) { [, at] = varint(b, at); continue; }
      if (type === 1) { at += 8; continue; }
      if (type === 5) { at += 4; continue; }
      if (type !== 2) throw new Error(`unexpected wire type ${type}`);
      let len;
      [len, at] = varint(b, at);
      out.push([num, b.subarray(at, at + len)]);
      at += len;
    }
    return out;
  };
  const meta = {};
  for (const [num, msg] of fields(buf)) {
    if (num !== 14) continue;
    const kv = Object.fromEntries(fields(msg).map(([n, v]) => [n, v.toString('utf8')]));
    meta[kv[1]] = kv[2];
  }
  return meta;
}

// resize scales an RGB image ({w, h, pix}: 3 bytes a pixel) to w×h as catmark does (Pillow's
// BILINEAR: a triangle filter that widens when shrinking, 8-bit fixed point, horizontal pass
// first, each pass rounded to bytes).
function resize(img, w, h) {
  const PREC = 22;
  const kernel = (inSize, outSize) => {
    const scale = inSize / outSize, fscale = Math.max(scale, 1), support = fscale;
    const taps = [];
    for (let i = 0; i < outSize; i++) {
      const center = (i + 0.5) * scale;
      const lo = Math.max(Math.trunc(center - support + 0.5), 0);
      const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
      const ws = [];
      let sum = 0;
      for (let j = lo; j < hi; j++) {
        const t = Math.abs((j - center + 0.5) / fscale);
        const v = t < 1 ? 1 - t : 0;
        ws.push(v);
        sum += v;
      }
      taps.push({ lo, ws: ws.map((v) => Math.trunc((sum ? v / sum : v) * (1 << PREC) + (v < 0 ? -0.5 : 0.5))) });
    }
    return taps;
  };
  // pass resamples along one axis: n lines of inSize samples, stride apart, to outSize samples.
  const pass = (src, lines, inSize, outSize, horizontal) => {
    const taps = kernel(inSize, outSize);
    const [ow, oh] = horizontal ? [outSize, lines] : [lines, outSize];
    const dst = Buffer.alloc(ow * oh * 3);
    const sw = horizontal ? inSize : lines;
    for (let line = 0; line < lines; line++) {
      for (let i = 0; i < outSize; i++) {
        const { lo, ws } = taps[i];
        for (let c = 0; c < 3; c++) {
          let acc = 1 << (PREC - 1);
          for (let k = 0; k < ws.length; k++) {
            const s = horizontal ? (line * sw + lo + k) : ((lo + k) * sw + line);
            acc += src[s * 3 + c] * ws[k];
          }
          const v = Math.floor(acc / (1 << PREC));
          const d = horizontal ? (line * ow + i) : (i * ow + line);
          dst[d * 3 + c] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
      }
    }
    return dst;
  };
  let pix = img.pix, cw = img.w;
  if (w !== img.w) { pix = pass(pix, img.h, img.w, w, true); cw = w; }
  if (h !== img.h) pix = pass(pix, cw, img.h, h, false);
  return { w, h, pix };
}

// crop samples the square box {cx, cy, side} of img into size×size pixels, bilinear, repeating
// the photo's edge pixels outside it (facecrop.Crop).
function crop(img, box, size) {
  const out = Buffer.alloc(size * size * 3);
  const step = box.side / size;
  const sample = (pos, n) => {
    if (pos <= 0) return [0, 0, 0];
    if (pos >= n - 1) return [n - 1, n - 1, 0];
    const i = Math.floor(pos);
    return [i, i + 1, pos - i];
  };
  const x0 = box.cx - box.side / 2, y0 = box.cy - box.side / 2;
  for (let v = 0; v < size; v++) {
    const [r0, r1, fy] = sample(y0 + (v + 0.5) * step - 0.5, img.h);
    for (let u = 0; u < size; u++) {
      const [c0, c1, fx] = sample(x0 + (u + 0.5) * step - 0.5, img.w);
      for (let c = 0; c < 3; c++) {
        const px = (r, col) => img.pix[(r * img.w + col) * 3 + c];
        const top = px(r0, c0) * (1 - fx) + px(r0, c1) * fx;
        const bot = px(r1, c0) * (1 - fx) + px(r1, c1) * fx;
        out[(v * size + u) * 3 + c] = Math.floor(top * (1 - fy) + bot * fy + 0.5);
      }
    }
  }
  return { w: size, h: size, pix: out };
}

// input makes the models' "image" tensor of one S×S image: 1×3×S×S RGB planes, v/255.
function input(img) {
  const n = img.w * img.h, data = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) data[c * n + i] = img.pix[3 * i + c] / 255;
  }
  return new ort.Tensor('float32', data, [1, 3, img.h, img.w]);
}

// load opens one exported network with the facts its metadata records.
async function load(file) {
  const meta = readMetadata(fs.readFileSync(file));
  const spec = JSON.parse(meta['catmark.model_spec']);
  const session = await ort.InferenceSession.create(file);
  return {
    spec,
    names: meta['catmark.landmarks'].split(','),
    // run returns the nine points normalised to img (0…1) and the face presence (NaN without).
    async run(img) {
      const small = img.w === spec.size && img.h === spec.size ? img : resize(img, spec.size, spec.size);
      const out = await session.run({ image: input(small) });
      const p = out.points.data;
      const points = Array.from({ length: p.length / 2 }, (_, k) => [p[2 * k], p[2 * k + 1]]);
      return { points, face: out.face ? out.face.data[0] : NaN };
    },
  };
}

// detect finds the points (photo pixels) and the face presence on img ({w, h, pix}).
async function detect(coarse, refine, img) {
  // Stage 1: the whole photo; points in photo pixels.
  const first = (await coarse.run(img)).points.map(([x, y]) => [x * img.w, y * img.h]);
  // The face box: the square around the points, grown by the margin on each side and by GROW.
  const xs = first.map((p) => p[0]), ys = first.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const side = Math.max(Math.max(x1 - x0, y1 - y0) * (1 + 2 * refine.spec.margin), MIN_FACE_SIDE) * GROW;
  const box = { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, side };
  // Stage 2: the crop; its points back to photo pixels.
  const res = await refine.run(crop(img, box, refine.spec.size));
  const points = res.points.map(([u, v]) => [box.cx + (u - 0.5) * side, box.cy + (v - 0.5) * side]);
  return { points, face: res.face, box };
}

// decodeJPEG returns a JPEG file's pixels as {w, h, pix}.
function decodeJPEG(file) {
  const { width, height, data } = jpeg.decode(fs.readFileSync(file), { formatAsRGBA: false });
  return { w: width, h: height, pix: Buffer.from(data) };
}

async function main() {
  const [dir, photo] = process.argv.slice(2);
  if (!dir || !photo) throw new Error('usage: node detect.js MODELS_FOLDER PHOTO.jpg');
  const coarse = await load(path.join(dir, 'coarse.onnx'));
  const refine = await load(path.join(dir, 'refine.onnx'));
  const { points, face } = await detect(coarse, refine, decodeJPEG(photo));
  console.log(`${path.basename(photo)}: face ${face.toFixed(3)}`);
  points.forEach(([x, y], k) => {
    console.log(`  ${refine.names[k].padEnd(22)} ${x.toFixed(1).padStart(7)} ${y.toFixed(1).padStart(7)}`);
  });
}

module.exports = { load, detect, decodeJPEG, resize, crop };

if (require.main === module) {
  main().catch((err) => {
    console.error(err.message || err);
    process.exit(1);
  });
}
