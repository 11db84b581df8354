'use strict';
// ort-lib.js - what the onnxruntime-node generators share (golden-onnx.js,
// golden-quality.js): the command line's --models and --out, PNG fixtures
// as the RGBA mat OpenCV.js reads from a canvas, OpenCV.js and the nets'
// sessions (one thread, sequential: deterministic), and one run of a net.
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
const { PNG } = require('pngjs');

const { argValue, REPO, MODELS, FIXTURES } = require('./paths');

// A PNG's pixels: rgb (3 bytes a pixel) and the decoded RGBA data.
function readPng(file) {
  const png = PNG.sync.read(fs.readFileSync(file));
  const rgb = new Uint8Array(png.width * png.height * 3);
  for (let i = 0; i < png.width * png.height; i++)
    for (let k = 0; k < 3; k++) rgb[3 * i + k] = png.data[4 * i + k];
  return { w: png.width, h: png.height, rgb, gray: png.data };
}

// RGB pixels as the RGBA mat cv.imread(canvas) gives.
function rgbaMat(cv, img) {
  const mat = new cv.Mat(img.h, img.w, cv.CV_8UC4);
  for (let i = 0; i < img.w * img.h; i++) {
    for (let k = 0; k < 3; k++) mat.data[4 * i + k] = img.rgb[3 * i + k];
    mat.data[4 * i + 3] = 255;
  }
  return mat;
}

// OpenCV.js, ready, as { cv }. The module is a thenable: a promise must
// resolve with a wrapper, never the module, or the resolution would call
// its then() forever (so this is no async function returning it).
function loadOpenCV() {
  return new Promise((resolve) => {
    const m = require('@techstark/opencv-js');
    m.onRuntimeInitialized = () => resolve({ cv: m });
  });
}

// A session per net (models/NAME.onnx), on one thread.
async function sessions(names) {
  const opts = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' };
  const sess = {};
  for (const name of names) sess[name] = await ort.InferenceSession.create(path.join(MODELS, `${name}.onnx`), opts);
  return sess;
}

// The net's outputs, as arrays in its output order.
async function run(session, input, dims) {
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, dims) });
  return session.outputNames.map((n) => Array.from(out[n].data));
}

module.exports = { argValue, REPO, MODELS, FIXTURES, readPng, rgbaMat, loadOpenCV, sessions, run, ort };
