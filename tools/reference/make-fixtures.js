'use strict';
// Writes the committed fixture PNGs (8-bit RGB, no alpha) into tests/fixtures/.
// LFW JPEGs are decoded once with jpeg-js; everything downstream (golden.js, the C tests)
// reads the PNG pixels, so the reference and the C port see identical pixels.
// Usage: node make-fixtures.js [--lfw DIR] [--out DIR] [--models DIR]
const fs = require('fs');
const path = require('path');
const jpeg = require('jpeg-js');
const L = require('./lib');

const { tf, faceapi } = L;
const LFW = path.resolve(L.argValue('--lfw', '/work/shared/data/lfw/lfw-deepfunneled'));
const OUT = L.FIXTURES;

// Fixture choices (LFW deep-funneled, 250x250 JPEG).
const SINGLE = {
  'face_a1.png': 'George_W_Bush_0001',   // person A, frontal
  'face_a2.png': 'George_W_Bush_0006',   // person A, another photo (different day/lighting, smiling)
  'face_b1.png': 'Laura_Bush_0001',      // person B, a woman, frontal
  'face_b2.png': 'Laura_Bush_0005',      // person B, another photo (the index of tests/test_stream.c)
  'face_c1.png': 'Jacques_Chirac_0006',  // person C, head turned ~3/4 and rolled (face-api angle: roll 12, yaw 38)
};
// 2x2 collage, row-major: top-left, top-right, bottom-left, bottom-right.
const GROUP = ['Colin_Powell_0004', 'Serena_Williams_0002', 'Gloria_Macapagal_Arroyo_0001', 'Tony_Blair_0002'];

function lfwPath(name) {
  const person = name.replace(/_\d{4}$/, '');
  return path.join(LFW, person, `${name}.jpg`);
}

function decodeRgb(name) {
  const img = jpeg.decode(fs.readFileSync(lfwPath(name)), { useTArray: true, formatAsRGBA: false });
  return { width: img.width, height: img.height, rgb: new Uint8Array(img.data) };
}

// float tensor [h,w,3] (any range) -> Uint8Array RGB, round-half-away-from-zero via Math.round, clamped.
function toUint8(t) {
  const d = t.dataSync();
  const out = new Uint8Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(d[i])));
  return out;
}

function makeNoface() {
  const W = 256; const H = 192;
  const rgb = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      rgb[i] = Math.round((x * 255) / (W - 1));
      rgb[i + 1] = Math.round((y * 255) / (H - 1));
      rgb[i + 2] = Math.round(((W - 1 - x + y) * 255) / (W + H - 2));
    }
  }
  // Deterministic pseudo-random solid blocks (32-bit LCG, Numerical Recipes constants).
  let s = 12345;
  const rnd = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
  for (let b = 0; b < 24; b++) {
    const bw = 8 + Math.floor(rnd() * 40); const bh = 8 + Math.floor(rnd() * 40);
    const bx = Math.floor(rnd() * (W - bw)); const by = Math.floor(rnd() * (H - bh));
    const c = [Math.floor(rnd() * 256), Math.floor(rnd() * 256), Math.floor(rnd() * 256)];
    for (let y = by; y < by + bh; y++) for (let x = bx; x < bx + bw; x++) {
      const i = (y * W + x) * 3; rgb[i] = c[0]; rgb[i + 1] = c[1]; rgb[i + 2] = c[2];
    }
  }
  return { width: W, height: H, rgb };
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const sources = [];

  for (const [file, name] of Object.entries(SINGLE)) {
    const { width, height, rgb } = decodeRgb(name);
    L.writeRgbPng(path.join(OUT, file), width, height, rgb);
    sources.push([file, `lfw-deepfunneled/${name.replace(/_\d{4}$/, '')}/${name}.jpg`, `${width}x${height}, decoded with jpeg-js`]);
  }

  // group4: 500x500 collage of four 250x250 images.
  {
    const W = 500; const H = 500; const T = 250;
    const rgb = new Uint8Array(W * H * 3);
    GROUP.forEach((name, k) => {
      const img = decodeRgb(name);
      if (img.width !== T || img.height !== T) throw new Error(`${name}: expected ${T}x${T}`);
      const ox = (k % 2) * T; const oy = Math.floor(k / 2) * T;
      for (let y = 0; y < T; y++) {
        const src = img.rgb.subarray(y * T * 3, (y + 1) * T * 3);
        rgb.set(src, ((oy + y) * W + ox) * 3);
      }
    });
    L.writeRgbPng(path.join(OUT, 'group4.png'), W, H, rgb);
    sources.push(['group4.png', GROUP.map((n, k) => `${['top-left', 'top-right', 'bottom-left', 'bottom-right'][k]}: lfw-deepfunneled/${n.replace(/_\d{4}$/, '')}/${n}.jpg`).join('; '), '500x500 2x2 collage of 250x250 tiles']);
  }

  {
    const { width, height, rgb } = makeNoface();
    L.writeRgbPng(path.join(OUT, 'noface.png'), width, height, rgb);
    sources.push(['noface.png', 'synthetic (make-fixtures.js makeNoface: RGB gradient + 24 LCG blocks, seed 12345)', `${width}x${height}`]);
  }

  // Chips, computed from the face_a1.png pixels with face-api's own crop code paths.
  await L.init();
  const img = L.readPngTensor(path.join(OUT, 'face_a1.png'));
  const res = await faceapi.detectAllFaces(img, new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 100 }))
    .withFaceLandmarks();
  if (res.length < 1) throw new Error('no face in face_a1');
  const r = res[0];

  // chip150: the descriptor crop. ComputeAllFaceDescriptorsTask uses
  // landmarks.align(null, {useDlibAlignment:true}) (NOT result.alignedRect), then
  // extractFaceTensors (clipAtImageBorders + floor, slice), then toBatchTensor(150, true):
  // centred zero padToSquare + resizeBilinear(alignCorners=false, halfPixelCenters=false).
  const dlibRect = r.landmarks.align(null, { useDlibAlignment: true });
  const chip150 = await chipVia(img, dlibRect, 150);
  L.writeRgbPng(path.join(OUT, 'chip150.png'), 150, 150, chip150);
  sources.push(['chip150.png', 'derived from face_a1.png', `descriptor crop: dlib-aligned square (x=${dlibRect.x}, y=${dlibRect.y}, w=${dlibRect.width}, h=${dlibRect.height}) -> 150x150 bilinear, rounded`]);

  // chip112: the landmark-net crop: the detection box, clipped+floored, centred zero pad to
  // square, resized to 112.
  const det = r.detection;
  const chip112 = await chipVia(img, det, 112);
  L.writeRgbPng(path.join(OUT, 'chip112.png'), 112, 112, chip112);
  const fb = det.box.clipAtImageBorders(img.shape[1], img.shape[0]);
  sources.push(['chip112.png', 'derived from face_a1.png', `landmark crop: SSD box clipped+floored (x=${fb.x}, y=${fb.y}, w=${fb.width}, h=${fb.height}) -> centred pad to square -> 112x112 bilinear, rounded`]);
  img.dispose();

  writeSources(sources);
  console.log(`wrote ${sources.length} fixtures to ${OUT}`);
}

async function chipVia(img, boxOrDet, size) {
  const [face] = await faceapi.extractFaceTensors(img, [boxOrDet]);
  const netInput = await faceapi.toNetInput(face);
  const batch = netInput.toBatchTensor(size, true); // [1,size,size,3] float32
  const out = toUint8(batch);
  batch.dispose(); face.dispose();
  return out;
}

function writeSources(rows) {
  const lines = [
    '# Test fixture sources',
    '',
    'Generated by `tools/reference/make-fixtures.js`. All PNGs are 8-bit RGB without alpha.',
    'Photos come from the LFW deep-funneled set (250x250 JPEG), decoded with jpeg-js 0.4.4;',
    'the PNG pixels are the ground truth for both the reference (face-api) and the C port.',
    '',
    '| file | source | notes |',
    '|---|---|---|',
    ...rows.map(([f, s, n]) => `| \`${f}\` | ${s} | ${n} |`),
    '',
    '`golden.json` holds face-api 1.7.15 outputs on these PNGs (see tools/reference/README.md).',
    '',
    '## Citation',
    '',
    'Gary B. Huang, Manu Ramesh, Tamara Berg, and Erik Learned-Miller.',
    '"Labeled Faces in the Wild: A Database for Studying Face Recognition in Unconstrained Environments."',
    'University of Massachusetts, Amherst, Technical Report 07-49, October 2007.',
    '',
    'Deep-funneled alignment: Gary B. Huang, Marwan Mattar, Honglak Lee, and Erik Learned-Miller.',
    '"Learning to Align from Scratch." Advances in Neural Information Processing Systems (NIPS), 2012.',
    '',
  ];
  fs.writeFileSync(path.join(OUT, 'SOURCES.md'), lines.join('\n'));
}

main().catch((e) => { console.error(e); process.exit(1); });
