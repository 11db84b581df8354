'use strict';
// Shared setup for the facekit reference tools: one tfjs instance, wasm backend,
// face-api's Node-wasm build (which requires the external @tensorflow/tfjs and
// @tensorflow/tfjs-backend-wasm, so it shares this tfjs instance), models from disk.
const fs = require('fs');
const path = require('path');

const tf = require('@tensorflow/tfjs');
const wasm = require('@tensorflow/tfjs-backend-wasm');
// Load face-api's Node build by file path: the package "exports" map blocks dist/ subpaths.
const faceapi = require(path.join(__dirname, 'node_modules/@vladmandic/face-api/dist/face-api.node-wasm.js'));
const { PNG } = require('pngjs');

const { argValue, REPO, MODELS, FIXTURES } = require('./paths');

async function init() {
  wasm.setWasmPaths(path.join(__dirname, 'node_modules/@tensorflow/tfjs-backend-wasm/dist/'));
  await tf.setBackend('wasm');
  await tf.ready();
  if (faceapi.tf.getBackend() !== 'wasm') throw new Error('face-api does not share the tfjs instance');
  if (faceapi.tf.engine() !== tf.engine()) throw new Error('face-api uses a different tfjs engine');
  // Only the nets the goldens need; loadFromDisk reads <name>-weights_manifest.json + .bin via fs.
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(MODELS);
  await faceapi.nets.tinyFaceDetector.loadFromDisk(MODELS);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(MODELS);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(MODELS);
}

// PNG file -> int32 tensor3d [h, w, 3] (alpha, if any, dropped).
function readPngTensor(file) {
  const png = PNG.sync.read(fs.readFileSync(file));
  const { width, height, data } = png;
  const rgb = new Int32Array(width * height * 3);
  for (let i = 0, j = 0; i < width * height; i++, j += 4) {
    rgb[i * 3] = data[j]; rgb[i * 3 + 1] = data[j + 1]; rgb[i * 3 + 2] = data[j + 2];
  }
  return tf.tensor3d(rgb, [height, width, 3], 'int32');
}

// RGB bytes (Uint8Array, w*h*3) -> 8-bit RGB PNG without alpha.
function writeRgbPng(file, width, height, rgb) {
  const png = new PNG({ width, height, colorType: 2, inputColorType: 2, inputHasAlpha: false, bitDepth: 8 });
  png.data = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  fs.writeFileSync(file, PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false, deflateLevel: 9 }));
}

// A TFJS graph model of the models directory (NAME.json and its weight
// files), as its parsed JSON and an IO handler for tf.loadGraphModel.
function loadGraph(name) {
  const json = JSON.parse(fs.readFileSync(path.join(MODELS, `${name}.json`), 'utf8'));
  const specs = [];
  const bufs = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) bufs.push(fs.readFileSync(path.join(MODELS, p)));
  }
  const all = Buffer.concat(bufs);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const handler = tf.io.fromMemory({
    modelTopology: json.modelTopology, weightSpecs: specs, weightData,
    format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy,
    signature: json.signature, userDefinedMetadata: json.userDefinedMetadata,
  });
  return { json, handler };
}

module.exports = { tf, faceapi, init, readPngTensor, writeRgbPng, loadGraph, MODELS, FIXTURES, REPO, argValue };
