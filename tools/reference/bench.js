'use strict';
// Per-stage timing of face-api 1.7.15 on tfjs-backend-wasm 4.22.0 (1 thread: the wasm backend
// cannot use threads in Node), the face-api side of bench/compare.sh.
// Usage: node bench.js [--runs N] [--warmup W] [--models DIR] IMAGE...   (PNG or JPEG)
// Prints one JSON object on stdout; progress and warnings go to stderr.
//
// Stages, each a median over all timed runs of all images (detect, decode, image) or of all
// faces (landmarks, descriptor):
//   decode_ms      file bytes (already in memory) -> int32 tensor3d [h,w,3]; pngjs or jpeg-js
//   detect_ms      detectAllFaces(img, SsdMobilenetv1Options({minConfidence: 0.5})): the 512 net,
//                  score/box readback, NMS and box decoding
//   landmarks_ms   faceLandmark68Net.detectLandmarks(crop), crop = extractFaceTensors(img, [detection])
//   descriptor_ms  faceRecognitionNet.computeFaceDescriptor(crop),
//                  crop = extractFaceTensors(img, [landmarks.align(null, {useDlibAlignment: true})])
//   image_ms       detectAllFaces(img, ssd).withFaceLandmarks().withFaceDescriptors(), end to end
// The crops are made once per image, outside the timed region (as face-api's pipeline makes
// them, from that pipeline's own results). Every timed call returns plain JS data that face-api
// reads with dataSync()/data(), so the wasm work has finished when its promise resolves.
// extra.ssd_net_ms is the SSD net alone (forwardInput + readback of scores and boxes, no NMS);
// extra.min holds the minimum of each stage, which a busy machine disturbs less than the median.
const fs = require('fs');
const path = require('path');
const { performance } = require('perf_hooks');
const jpeg = require('jpeg-js');
const { PNG } = require('pngjs');
const L = require('./lib');

const { tf, faceapi } = L;

function parseArgs(argv) {
  const opt = { runs: 20, warmup: 3, images: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs' || a === '--warmup') {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < (a === '--runs' ? 1 : 0)) throw new Error(`bad ${a} value`);
      opt[a.slice(2)] = v;
    } else if (a === '--models') {
      i++; // handled by lib.js
    } else if (a.startsWith('--')) {
      throw new Error(`unknown option ${a}`);
    } else {
      opt.images.push(a);
    }
  }
  if (opt.images.length === 0) throw new Error('usage: node bench.js [--runs N] [--warmup W] [--models DIR] IMAGE...');
  return opt;
}

// Encoded bytes -> int32 tensor3d [h, w, 3], by magic number: PNG via pngjs, JPEG via jpeg-js.
function decode(buf) {
  let width; let height; let data; let channels;
  if (buf.length > 8 && buf.readUInt32BE(0) === 0x89504e47) {
    ({ width, height, data } = PNG.sync.read(buf)); // always RGBA
    channels = 4;
  } else if (buf.length > 3 && buf[0] === 0xff && buf[1] === 0xd8) {
    ({ width, height, data } = jpeg.decode(buf, { useTArray: true, formatAsRGBA: false }));
    channels = 3;
  } else {
    throw new Error('not a PNG or JPEG');
  }
  const n = width * height;
  const rgb = new Int32Array(n * 3);
  for (let i = 0, j = 0; i < n; i++, j += channels) {
    rgb[i * 3] = data[j]; rgb[i * 3 + 1] = data[j + 1]; rgb[i * 3 + 2] = data[j + 2];
  }
  return tf.tensor3d(rgb, [height, width, 3], 'int32');
}

function median(xs) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const r3 = (x) => (x == null ? null : Math.round(x * 1000) / 1000);

async function timeIt(fn) {
  const t0 = performance.now();
  const r = await fn();
  return [performance.now() - t0, r];
}

const ssdOpt = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5 });

function ssdNetOnly(ni) {
  const { boxes, scores } = faceapi.nets.ssdMobilenetv1.forwardInput(ni);
  scores[0].dataSync(); boxes[0].dataSync();
  boxes.forEach((t) => t.dispose()); scores.forEach((t) => t.dispose());
}

async function benchImage(file, opt, acc) {
  const buf = fs.readFileSync(file);
  // decode: W + N runs, keep the last tensor.
  let img = null;
  for (let i = 0; i < opt.warmup + opt.runs; i++) {
    if (img) img.dispose();
    const [ms, t] = await timeIt(async () => decode(buf));
    img = t;
    if (i >= opt.warmup) acc.decode.push(ms);
  }

  const full = () => faceapi.detectAllFaces(img, ssdOpt).withFaceLandmarks().withFaceDescriptors();
  const ref = await full();
  const nFaces = ref.length;
  const lmCrops = await faceapi.extractFaceTensors(img, ref.map((r) => r.detection));
  const descCrops = await faceapi.extractFaceTensors(img, ref.map((r) => r.landmarks.align(null, { useDlibAlignment: true })));
  const ni = await faceapi.toNetInput(img); // for the net-only SSD timing

  const imageMs = [];
  let leaked = 0;
  for (let run = 0; run < opt.warmup + opt.runs; run++) {
    const timed = run >= opt.warmup;
    const before = tf.memory().numTensors;
    const [dMs, dets] = await timeIt(() => faceapi.detectAllFaces(img, ssdOpt));
    if (dets.length !== nFaces) throw new Error(`${file}: detect gave ${dets.length} faces, expected ${nFaces}`);
    const [nMs] = await timeIt(async () => ssdNetOnly(ni));
    const lm = []; const de = [];
    for (const c of lmCrops) lm.push((await timeIt(() => faceapi.nets.faceLandmark68Net.detectLandmarks(c)))[0]);
    for (const c of descCrops) de.push((await timeIt(() => faceapi.nets.faceRecognitionNet.computeFaceDescriptor(c)))[0]);
    const [fMs, res] = await timeIt(full);
    if (res.length !== nFaces) throw new Error(`${file}: pipeline gave ${res.length} faces, expected ${nFaces}`);
    leaked += tf.memory().numTensors - before;
    if (timed) {
      acc.detect.push(dMs); acc.ssdNet.push(nMs); acc.landmarks.push(...lm); acc.descriptor.push(...de);
      acc.image.push(fMs); imageMs.push(fMs);
    }
  }
  lmCrops.forEach((t) => t.dispose()); descCrops.forEach((t) => t.dispose());
  img.dispose();
  if (leaked !== 0) throw new Error(`${file}: ${leaked} tensors leaked across runs`);
  const med = median(imageMs);
  process.stderr.write(`${path.basename(file)}: ${nFaces} faces, image ${med.toFixed(1)} ms, detect ${median(acc.detect.slice(-opt.runs)).toFixed(1)} ms\n`);
  return { faces: nFaces, imageMedian: med };
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  await L.init();
  const tensorsAtStart = tf.memory().numTensors;
  const acc = { decode: [], detect: [], ssdNet: [], landmarks: [], descriptor: [], image: [] };
  let faces = 0; let sumImageMedian = 0;
  for (const f of opt.images) {
    const r = await benchImage(f, opt, acc);
    faces += r.faces; sumImageMedian += r.imageMedian;
  }
  const tensorsAtEnd = tf.memory().numTensors;
  if (tensorsAtEnd !== tensorsAtStart) throw new Error(`${tensorsAtEnd - tensorsAtStart} tensors leaked`);
  const lm = r3(median(acc.landmarks)); const de = r3(median(acc.descriptor));
  const out = {
    impl: `face-api ${faceapi.version} tfjs-wasm`,
    threads: 1,
    images: opt.images.length,
    faces,
    stages: { decode_ms: r3(median(acc.decode)), detect_ms: r3(median(acc.detect)), landmarks_ms: lm, descriptor_ms: de },
    per_face: { landmarks_ms: lm, descriptor_ms: de },
    image_ms: r3(median(acc.image)),
    faces_per_s: r3(sumImageMedian > 0 ? (faces / sumImageMedian) * 1000 : 0),
    runs: opt.runs,
    warmup: opt.warmup,
    extra: {
      ssd_net_ms: r3(median(acc.ssdNet)),
      // minima: less disturbed than medians when the machine is shared
      min: Object.fromEntries(['detect', 'ssdNet', 'landmarks', 'descriptor', 'image'].map((k) => [k, r3(Math.min(...acc[k]))])),
      simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
    },
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((e) => { process.stderr.write(`bench.js: ${e.message}\n`); process.exit(1); });
