'use strict';
// golden-quality.js - onnxruntime-node goldens for faceplugin's head-pose and
// eye nets (faceplugin-face-recognition-js@0.0.1: fr_pose, fr_eye), written
// to tests/fixtures/golden_quality.json for tests/test_onnx.c.
//
// Two kinds of record:
//   raw     the nets' outputs on fixed inputs that the C test rebuilds exactly
//           from committed PNG pixels;
//   images  lib/fr_pose.js predictPose and lib/fr_eye.js predictEye, with
//           the same OpenCV calls (OpenCV.js) on the same PNG pixels, on the
//           faces of tests/fixtures/golden_onnx.json (fr_detect's boxes and
//           fr_landmark's points, so the C test feeds the very same ones),
//           with only the deviations listed in CONVENTIONS.
// Deterministic: two runs give identical files.
// Usage: node golden-quality.js [--models DIR] [--out DIR]
const fs = require('fs');
const path = require('path');
const { PNG } = require('pngjs');
const { FIXTURES, readPng, rgbaMat, loadOpenCV, sessions, run } = require('./ort-lib');

const CONVENTIONS = {
  source: 'faceplugin-face-recognition-js@0.0.1 lib/fr_pose.js, lib/fr_eye.js, ported call by call; images decoded from PNG (pngjs), not a canvas; '
    + 'boxes and landmarks are those of golden_onnx.json (fr_detect, fr_landmark)',
  fr_pose: 'x1,y1,x2,y2 = parseInt(box); w = |x2-x1|, h = |y2-y1|; x11 = parseInt(x1 - w/4), y11 = parseInt(y1 - h/4), x22 = parseInt(x2 + w/4), y22 = parseInt(y2 + h/4); '
    + 'rect (max(x11,0), max(y11,0), min(x22-x11, cols), min(y22-y11, rows)); cv.resize to 224x224 (INTER_LINEAR); '
    + 'channel k is normalized with mean [0.485,0.456,0.406][k], std [0.229,0.224,0.225][k] after /255; NCHW; '
    + 'outputs output, 617, 618 = yaw, pitch, roll logits over 66 bins; angle = sum(softmax * index) * 3 - 99 degrees. '
    + 'Deviations: channels R,G,B (the JS cvtColor(BGR2RGB) on the RGBA canvas feeds B,G,R; R,G,B is what the net reads: '
    + 'face_c1, turned far to one side, gives yaw 50 with R,G,B and -0.6 with B,G,R); the rect is also clipped to the image '
    + '(width to cols - x, height to rows - y), where OpenCV.js would throw.',
  fr_eye: 'getEyeBBox on the 68 points (as floats: the JS truncates the points first): left = points 36-41 (image left), centre = parseInt of the mean of points 37, 38, 40, 41, '
    + 'size = parseInt((x39 - x36) * 1.6), corner = parseInt(centre - size/2) clamped at 0, size cut to width - x - 1 and height - y - 1; right likewise with 42-47; '
    + 'roi, cv.resize to 24x24 (INTER_LINEAR), cvtColor(BGR2GRAY) on the RGBA canvas (0.114 R + 0.587 G + 0.299 B, OpenCV fixed point), / 255; NCHW [1,1,24,24]; '
    + 'output 2 logits, softmax; the JS reports p[0] > p[1] per eye.',
};

const MEAN = [0.485, 0.456, 0.406], STD = [0.229, 0.224, 0.225];

// HWC 8-bit pixels (cn channels per pixel, the first 3 used as they lie) ->
// the pose net's NCHW input.
function poseTensor(data, cn) {
  const n = 224 * 224, out = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < n; i++) out[c * n + i] = (data[cn * i + c] / 255.0 - MEAN[c]) / STD[c];
  return out;
}

function softmax(a) {
  const e = a.map((v) => Math.exp(v));
  const s = e.reduce((x, y) => x + y, 0);
  return e.map((v) => v / s);
}

function angle(logits) {
  return softmax(logits).reduce((r, p, i) => r + p * i, 0) * 3 - 99;
}

async function pose(cv, session, mat, box) {
  const x1 = Math.trunc(box[0]), y1 = Math.trunc(box[1]), x2 = Math.trunc(box[2]), y2 = Math.trunc(box[3]);
  const w = Math.abs(x2 - x1), h = Math.abs(y2 - y1);
  const x11 = Math.trunc(x1 - w / 4), y11 = Math.trunc(y1 - h / 4), x22 = Math.trunc(x2 + w / 4), y22 = Math.trunc(y2 + h / 4);
  const rx = Math.max(x11, 0), ry = Math.max(y11, 0);
  const rect = [rx, ry, Math.min(Math.min(x22 - x11, mat.cols), mat.cols - rx), Math.min(Math.min(y22 - y11, mat.rows), mat.rows - ry)];
  const roi = mat.roi(new cv.Rect(rect[0], rect[1], rect[2], rect[3]));
  const resized = new cv.Mat();
  cv.resize(roi, resized, new cv.Size(224, 224));
  const input = poseTensor(resized.data, 4); // R, G, B (see CONVENTIONS)
  roi.delete();
  resized.delete();
  const [yaw, pitch, roll] = await run(session, input, [1, 3, 224, 224]);
  return { crop: rect, yaw: angle(yaw), pitch: angle(pitch), roll: angle(roll) };
}

// getEyeBBox, on float points [[x, y] x 68].
function eyeBoxes(p, rows, cols) {
  const box = (a, b, c, d, lo, hi) => {
    const cx = Math.trunc((p[a][0] + p[b][0] + p[c][0] + p[d][0]) / 4);
    const cy = Math.trunc((p[a][1] + p[b][1] + p[c][1] + p[d][1]) / 4);
    let size = Math.trunc((p[hi][0] - p[lo][0]) * 1.6);
    let x = Math.trunc(cx - size / 2), y = Math.trunc(cy - size / 2);
    if (x < 0) x = 0;
    if (y < 0) y = 0;
    if (x + size >= cols) size = cols - x - 1;
    if (y + size >= rows) size = rows - y - 1;
    return [x, y, size, size];
  };
  return [box(37, 38, 40, 41, 36, 39), box(43, 44, 46, 47, 42, 45)];
}

async function eyes(cv, session, mat, pts) {
  const boxes = eyeBoxes(pts, mat.rows, mat.cols);
  const res = [];
  for (const b of boxes) {
    const roi = mat.roi(new cv.Rect(b[0], b[1], b[2], b[3]));
    const small = new cv.Mat();
    cv.resize(roi, small, new cv.Size(24, 24));
    cv.cvtColor(small, small, cv.COLOR_BGR2GRAY);
    const input = new Float32Array(24 * 24);
    for (let i = 0; i < 24 * 24; i++) input[i] = small.data[i] / 255.0;
    roi.delete();
    small.delete();
    res.push({ box: b, p: softmax((await run(session, input, [1, 1, 24, 24]))[0]) });
  }
  return res;
}

async function main() {
  const { cv } = await loadOpenCV();
  const sess = await sessions(['fr_pose', 'fr_eye']);
  const golden = { generator: 'tools/reference/golden-quality.js', onnxruntime_node: require('onnxruntime-node/package.json').version, conventions: CONVENTIONS, raw: {}, images: {} };

  // raw: fr_pose on the 224x224 of face_a1.png at (13, 13), channels R,G,B as they lie
  const a1 = readPng(path.join(FIXTURES, 'face_a1.png'));
  const crop = new Uint8Array(224 * 224 * 3);
  for (let y = 0; y < 224; y++) crop.set(a1.rgb.subarray(((y + 13) * a1.w + 13) * 3, ((y + 13) * a1.w + 13 + 224) * 3), y * 224 * 3);
  const [yaw, pitch, roll] = await run(sess.fr_pose, poseTensor(crop, 3), [1, 3, 224, 224]);
  golden.raw.fr_pose_a1_crop = { yaw, pitch, roll };

  // raw: fr_eye on the 24x24 of chip64_gray.png at (8, 14), / 255
  const chip = PNG.sync.read(fs.readFileSync(path.join(FIXTURES, 'chip64_gray.png')));
  const eyeIn = new Float32Array(24 * 24);
  for (let y = 0; y < 24; y++)
    for (let x = 0; x < 24; x++) eyeIn[y * 24 + x] = chip.data[4 * ((y + 14) * 64 + x + 8)] / 255.0;
  golden.raw.fr_eye_chip64 = (await run(sess.fr_eye, eyeIn, [1, 1, 24, 24]))[0];

  const onnx = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'golden_onnx.json'), 'utf8'));
  for (const name of Object.keys(onnx.images)) {
    const img = readPng(path.join(FIXTURES, `${name}.png`));
    const mat = rgbaMat(cv, img);
    const faces = [];
    for (const f of onnx.images[name].faces) {
      const e = await eyes(cv, sess.fr_eye, mat, f.landmarks);
      faces.push({ pose: await pose(cv, sess.fr_pose, mat, f.box), eyes: { left: e[0], right: e[1] } });
    }
    golden.images[name] = { faces };
    mat.delete();
    process.stderr.write(`${name}: ${faces.length} faces\n`);
  }
  fs.writeFileSync(path.join(FIXTURES, 'golden_quality.json'), JSON.stringify(golden, null, 1) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
