'use strict';
// golden-onnx.js - onnxruntime-node goldens for the faceplugin ONNX nets
// (faceplugin-face-recognition-js@0.0.1: fr_feature, fr_detect, fr_landmark),
// written to tests/fixtures/golden_onnx.json for tests/test_onnx.c.
//
// Two kinds of record:
//   raw     the nets' outputs on fixed inputs whose every value the C test
//           rebuilds exactly from committed PNG pixels;
//   images  the package's own pre- and post-processing (lib/fr_detect.js,
//           lib/fr_landmark.js) run end to end on the fixture photos, with
//           the same OpenCV calls (OpenCV.js 4.5.1) on the same PNG pixels,
//           and only the deviations listed in CONVENTIONS.
// It also writes tests/fixtures/chip64_gray.png, the landmark net's input
// cut from face_a1.png (see below). Deterministic: two runs give identical
// files. Usage: node golden-onnx.js [--models DIR] [--out DIR]
const fs = require('fs');
const path = require('path');
const { PNG } = require('pngjs');
const { FIXTURES, readPng, rgbaMat, loadOpenCV, sessions, run } = require('./ort-lib');

const CONVENTIONS = {
  source: 'faceplugin-face-recognition-js@0.0.1 lib/*.js, ported call by call; images decoded from PNG (pngjs), not a canvas',
  fr_feature: 'input 112x112 chip, channels B,G,R (the JS feeds R,G,B; BGR scores better on LFW), (x - 127) / 128, NCHW; output 512 raw floats',
  fr_detect: 'cv.resize(img, 320x240, INTER_LINEAR); channels as the JS feeds them: its cvtColor(BGR2RGB) on the RGBA canvas gives B,G,R; (x - 127) / 128; '
    + 'boxes are decoded inside the graph (corners in [0,1]); x [320,240,320,240]; keep face score >= 0.65; sort by score, top 750; '
    + 'the JS cpuNMS (boxes with w,h > 0 sorted by y2 ascending; suppress when (w+1)(h+1) overlap / own area >= 0.4); '
    + 'scaleResult: x by cols/320, y by rows/240, then a square of side y2 - y1 about the centre, clamped to [0, cols-1] x [0, rows-1]. '
    + 'Deviation: the result is sorted by score (descending) instead of NMS order.',
  fr_landmark: 'per detection: x1,y1,x2,y2 = parseInt(box); alignLandmarkImage(img, [x1, y1, |x2-x1|, |y2-y1|], 1.0): crop rect as the JS computes it; '
    + 'cv.resize to 64x64 (INTER_LINEAR), then cvtColor(BGR2GRAY) on the RGBA canvas, i.e. gray = 0.114 R + 0.587 G + 0.299 B (OpenCV fixed point); / 256; '
    + 'points = out[2i] * crop w + crop x, out[2i+1] * crop h + crop y. Deviations: the JS maps onto the box (x1, y1, w, h), '
    + 'which is the crop unless the box leaves the image, and truncates the points with parseInt; here they are mapped onto the crop and kept as floats.',
};

// ---- images -------------------------------------------------------------------

function writeGrayPng(file, w, h, gray) {
  const png = new PNG({ width: w, height: h, colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
  png.data = Buffer.from(gray.buffer, gray.byteOffset, gray.byteLength);
  fs.writeFileSync(file, PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false, deflateLevel: 9 }));
}

// HWC uint8 channels picked in `order` -> NCHW (x - 127) / 128.
function nchw(data, w, h, cn, order) {
  const out = new Float32Array(3 * w * h);
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < w * h; i++) out[c * w * h + i] = (data[cn * i + order[c]] - 127) / 128.0;
  return out;
}

// ---- nets -----------------------------------------------------------------------

// fr_detect.js detectFaceImage, on an RGBA mat.
async function detect(cv, session, mat) {
  const resized = new cv.Mat();
  cv.resize(mat, resized, new cv.Size(320, 240), 0, 0, cv.INTER_LINEAR);
  const bgr = new cv.Mat();
  cv.cvtColor(resized, bgr, cv.COLOR_BGR2RGB); // on RGBA: B, G, R
  const input = nchw(bgr.data, 320, 240, 3, [0, 1, 2]);
  resized.delete();
  bgr.delete();
  const [scores, boxes] = await run(session, input, [1, 3, 240, 320]);
  const scale = [320, 240, 320, 240];
  let cand = [];
  for (let i = 0; i < 4420; i++) {
    if (scores[2 * i + 1] >= 0.65)
      cand.push({ score: scores[2 * i + 1], box: [0, 1, 2, 3].map((k) => Math.fround(boxes[4 * i + k] * scale[k])) });
  }
  cand.sort((a, b) => (a.score < b.score ? 1 : a.score > b.score ? -1 : 0));
  cand = cand.slice(0, 750);
  // cpuNMS
  let found = [];
  cand.forEach((c, i) => {
    const [x1, y1, x2, y2] = c.box;
    const width = x2 - x1, height = y2 - y1;
    if (width > 0 && height > 0) found.push({ x1, y1, x2, y2, area: width * height, index: i });
  });
  found.sort((b1, b2) => b1.y2 - b2.y2);
  const pick = [];
  while (found.length > 0) {
    const last = found[0];
    const suppress = [last];
    pick.push(last.index);
    for (let i = 1; i < found.length; i++) {
      const b = found[i];
      const w = Math.max(0, Math.min(b.x2, last.x2) - Math.max(b.x1, last.x1) + 1);
      const h = Math.max(0, Math.min(b.y2, last.y2) - Math.max(b.y1, last.y1) + 1);
      if ((w * h) / b.area >= 0.4) suppress.push(b);
    }
    found = found.filter((b) => !suppress.includes(b));
  }
  // scaleResult
  const cols = mat.cols, rows = mat.rows;
  const res = pick.map((p) => {
    const b = cand[p].box;
    // The JS keeps boxes in Float32Arrays: every stored value is rounded to float32.
    const f = Math.fround;
    const x1 = b[0] * (cols / 320), y1 = b[1] * (rows / 240);
    const x2 = b[2] * (cols / 320), y2 = b[3] * (rows / 240);
    const side = y2 - y1, cx = (x1 + x2) / 2, cy = (y1 + y2) / 2;
    const box = [
      f(cx - side / 2 < 0 ? 0 : cx - side / 2), f(cy - side / 2 < 0 ? 0 : cy - side / 2),
      f(cx + side / 2 > cols - 1 ? cols - 1 : cx + side / 2), f(cy + side / 2 > rows - 1 ? rows - 1 : cy + side / 2)];
    return { box, score: cand[p].score };
  });
  res.sort((a, b) => b.score - a.score);
  return { raw: { scores, boxes }, faces: res };
}

// fr_landmark.js alignLandmarkImage: the crop rectangle.
function landmarkRect(cols, rows, bbox) {
  const [x, y, boxW, boxH] = bbox;
  const scale = Math.min((rows - 1) / boxH, Math.min((cols - 1) / boxW, 1.0));
  const nw = boxW * scale, nh = boxH * scale, cx = boxW / 2 + x, cy = boxH / 2 + y;
  let ltx = cx - nw / 2, lty = cy - nh / 2, rbx = cx + nw / 2, rby = cy + nh / 2;
  if (ltx < 0) { rbx -= ltx; ltx = 0; }
  if (lty < 0) { rby -= lty; lty = 0; }
  if (rbx > cols - 1) { ltx -= rbx - cols + 1; rbx = cols - 1; }
  if (rby > rows - 1) { lty -= rby - rows + 1; rby = rows - 1; }
  return [Math.max(Math.trunc(ltx), 0), Math.max(Math.trunc(lty), 0),
    Math.min(Math.trunc(rbx - ltx), cols - 1), Math.min(Math.trunc(rby - lty), rows - 1)];
}

// The landmark net's 64x64 gray input (uint8) for a detection box.
function landmarkInput(cv, mat, box) {
  const x1 = Math.trunc(box[0]), y1 = Math.trunc(box[1]), x2 = Math.trunc(box[2]), y2 = Math.trunc(box[3]);
  const w = Math.abs(x2 - x1), h = Math.abs(y2 - y1);
  const rect = landmarkRect(mat.cols, mat.rows, [x1, y1, w, h]);
  const roi = mat.roi(new cv.Rect(rect[0], rect[1], rect[2], rect[3]));
  const small = new cv.Mat();
  cv.resize(roi, small, new cv.Size(64, 64), 0, 0, cv.INTER_LINEAR);
  const gray = new cv.Mat();
  cv.cvtColor(small, gray, cv.COLOR_BGR2GRAY);
  const pixels = Uint8Array.from(gray.data);
  roi.delete();
  small.delete();
  gray.delete();
  return { pixels, rect, x1, y1, w, h };
}

async function landmarks(session, pixels) {
  const input = new Float32Array(64 * 64);
  for (let i = 0; i < 64 * 64; i++) input[i] = pixels[i] / 256.0;
  return (await run(session, input, [1, 1, 64, 64]))[0];
}

// Large outputs: the top anchors and a strided sample, with sums.
function summary(scores, boxes) {
  const order = Array.from({ length: 4420 }, (_, i) => i).sort((a, b) => scores[2 * b + 1] - scores[2 * a + 1] || a - b);
  const top = order.slice(0, 20).map((i) => ({ index: i, scores: [scores[2 * i], scores[2 * i + 1]], box: boxes.slice(4 * i, 4 * i + 4) }));
  const stride = 37;
  const sample = (a, k) => a.filter((_, i) => i % (stride * k) === 0);
  const sum = (a) => a.reduce((s, v) => s + v, 0);
  const asum = (a) => a.reduce((s, v) => s + Math.abs(v), 0);
  return {
    top, stride, scores_samples: sample(scores, 2), boxes_samples: sample(boxes, 4),
    scores_sum: sum(scores), boxes_sum: sum(boxes), boxes_abs_sum: asum(boxes),
  };
}

async function main() {
  const { cv } = await loadOpenCV();
  const sess = await sessions(['fr_feature', 'fr_detect', 'fr_landmark']);
  const golden = { generator: 'tools/reference/golden-onnx.js', onnxruntime_node: require('onnxruntime-node/package.json').version, conventions: CONVENTIONS, raw: {}, images: {} };

  // raw: fr_feature on chip112.png
  const chip = readPng(path.join(FIXTURES, 'chip112.png'));
  golden.raw.fr_feature_chip112 = (await run(sess.fr_feature, nchw(chip.rgb, 112, 112, 3, [2, 1, 0]), [1, 3, 112, 112]))[0];

  // raw: fr_detect on the top-left 320x240 of group4.png, no resampling
  const group = readPng(path.join(FIXTURES, 'group4.png'));
  const crop = new Uint8Array(320 * 240 * 3);
  for (let y = 0; y < 240; y++) crop.set(group.rgb.subarray((y * group.w) * 3, (y * group.w + 320) * 3), y * 320 * 3);
  const [sc, bx] = await run(sess.fr_detect, nchw(crop, 320, 240, 3, [2, 1, 0]), [1, 3, 240, 320]);
  golden.raw.fr_detect_group4_crop = summary(sc, bx);

  // images: the package's pipeline end to end
  const names = ['face_a1', 'face_a2', 'face_b1', 'face_c1', 'group4', 'noface'];
  for (const name of names) {
    const img = readPng(path.join(FIXTURES, `${name}.png`));
    const mat = rgbaMat(cv, img);
    const det = await detect(cv, sess.fr_detect, mat);
    const faces = [];
    for (const f of det.faces) {
      const li = landmarkInput(cv, mat, f.box);
      const out = await landmarks(sess.fr_landmark, li.pixels);
      const pts = [];
      const [cx, cy, cw, ch] = li.rect;
      for (let i = 0; i < 68; i++) pts.push([out[2 * i] * cw + cx, out[2 * i + 1] * ch + cy]);
      faces.push({ box: f.box, score: f.score, landmark_crop: li.rect, landmark_box: [li.x1, li.y1, li.w, li.h], landmarks_raw: out, landmarks: pts });
      // raw: fr_landmark on a committed input, the first face of face_a1
      if (name === 'face_a1' && faces.length === 1) {
        writeGrayPng(path.join(FIXTURES, 'chip64_gray.png'), 64, 64, li.pixels);
        golden.raw.fr_landmark_chip64 = out;
      }
    }
    golden.images[name] = { width: img.w, height: img.h, faces };
    mat.delete();
    process.stderr.write(`${name}: ${faces.length} faces\n`);
  }
  fs.writeFileSync(path.join(FIXTURES, 'golden_onnx.json'), JSON.stringify(golden, null, 1) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
