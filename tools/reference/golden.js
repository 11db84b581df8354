'use strict';
// Runs face-api 1.7.15 (tfjs-backend-wasm 4.22.0) on the committed fixture PNGs and writes
// tests/fixtures/golden.json. Floats are written at full (double) precision.
// Usage: node golden.js [--models DIR] [--out DIR]
const fs = require('fs');
const path = require('path');
const L = require('./lib');

const { tf, faceapi } = L;
const FIX = L.FIXTURES;
const IMAGES = ['face_a1.png', 'face_a2.png', 'face_b1.png', 'face_c1.png', 'group4.png', 'noface.png'];

const boxArr = (b) => [b.x, b.y, b.width, b.height];
const det = (d) => ({ box: boxArr(d.box), score: d.score });
const f32 = (a) => Array.from(a, Number);
const maxAbs = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

const checks = {
  landmarks_shift: 0, landmarks_formula: 0, descriptor_crop: 0, ssd_decode: 0, faces: 0,
  attr_aligned_box: 0, attr_crop: 0,
};
// face-api's FACE_EXPRESSION_LABELS order, which the expression net's outputs follow.
const EXPRESSIONS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'];

async function imageGolden(file) {
  const img = L.readPngTensor(path.join(FIX, file));
  const [H, W] = img.shape;
  const ssdOpt = (c) => new faceapi.SsdMobilenetv1Options({ minConfidence: c, maxResults: 100 });
  const out = { width: W, height: H };
  out.ssd512 = (await faceapi.detectAllFaces(img, ssdOpt(0.5))).map(det);
  out.ssd512_low = (await faceapi.detectAllFaces(img, ssdOpt(0.1))).map(det);
  const tinyOpt = (t) => new faceapi.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: t });
  out.tiny416 = (await faceapi.detectAllFaces(img, tinyOpt(0.5))).map(det);
  out.tiny416_low = (await faceapi.detectAllFaces(img, tinyOpt(0.1))).map(det); // extra: tiny misses some faces at 0.5

  const res = await faceapi.detectAllFaces(img, ssdOpt(0.5)).withFaceLandmarks().withFaceDescriptors();
  out.faces = [];
  for (const r of res) {
    const box = r.detection.box;
    const dlib = r.landmarks.align(null, { useDlibAlignment: true });
    const lmCrop = box.clipAtImageBorders(W, H);
    const descCrop = dlib.clipAtImageBorders(W, H);
    out.faces.push({
      box: boxArr(box),
      score: r.detection.score,
      landmarks: r.landmarks.positions.map((p) => [p.x, p.y]),
      aligned_box: boxArr(r.alignedRect.box),
      descriptor_box: boxArr(dlib),
      landmark_crop: boxArr(lmCrop),
      descriptor_crop: boxArr(descCrop),
      descriptor: f32(r.descriptor),
    });
    await verifyFace(img, r, lmCrop, dlib);
  }
  await attributeGoldens(img, out.faces);
  img.dispose();
  return out;
}

// Age/gender and expressions, from a separate run of the pipeline (same detections): the faces
// are cut at alignedRect (landmarks' min bbox padded 20%), which must be the aligned_box above.
async function attributeGoldens(img, faces) {
  const [H, W] = img.shape;
  const ssd = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 100 });
  const res = await faceapi.detectAllFaces(img, ssd).withFaceLandmarks().withFaceExpressions().withAgeAndGender();
  if (res.length !== faces.length) throw new Error('attribute run found a different number of faces');
  for (let i = 0; i < res.length; i++) {
    const r = res[i];
    const f = faces[i];
    checks.attr_aligned_box = Math.max(checks.attr_aligned_box, maxAbs(boxArr(r.alignedRect.box), f.aligned_box));
    // extractFaceTensors takes alignedRect.forSize(W, H).box, then clips and floors it.
    const crop = r.alignedRect.forSize(W, H).box.clipAtImageBorders(W, H);
    f.attr_crop = boxArr(crop);
    f.age = r.age;
    f.gender = r.gender;
    f.gender_probability = r.genderProbability;
    f.expressions = EXPRESSIONS.map((e) => r.expressions[e]);
    // Re-derive: both nets on the slice of that crop give the pipeline's numbers.
    const [face] = await faceapi.extractFaceTensors(img, [r.alignedRect]);
    const ag = await faceapi.nets.ageGenderNet.predictAgeAndGender(face);
    const ex = await faceapi.nets.faceExpressionNet.predictExpressions(face);
    face.dispose();
    checks.attr_crop = Math.max(checks.attr_crop, Math.abs(ag.age - r.age),
      Math.abs(ag.genderProbability - r.genderProbability), maxAbs(EXPRESSIONS.map((e) => ex[e]), f.expressions));
  }
}

// Re-derive the pipeline's numbers from lower-level calls, to pin down conventions.
async function verifyFace(img, r, lmCrop, dlib) {
  checks.faces++;
  const box = r.detection.box;
  // 1. landmarks = unshifted (crop-local) landmarks + unfloored, unclipped detection box x,y.
  r.landmarks.positions.forEach((p, i) => {
    const u = r.unshiftedLandmarks.positions[i];
    checks.landmarks_shift = Math.max(checks.landmarks_shift, Math.abs(p.x - (u.x + box.x)), Math.abs(p.y - (u.y + box.y)));
  });
  // 2. raw 136-vector -> positions: ((raw*112 - pad) / scaledDim) * cropDim + box.xy, pad=|ws-hs|/2 on the short side.
  const [face] = await faceapi.extractFaceTensors(img, [r.detection]);
  const ni = await faceapi.toNetInput(face);
  const raw = tf.tidy(() => faceapi.nets.faceLandmark68Net.runNet(ni)).dataSync();
  const w = lmCrop.width; const h = lmCrop.height; const s = 112 / Math.max(w, h);
  const ws = w * s; const hs = h * s;
  const padX = ws < hs ? Math.abs(ws - hs) / 2 : 0; const padY = hs < ws ? Math.abs(ws - hs) / 2 : 0;
  for (let i = 0; i < 68; i++) {
    const x = ((raw[2 * i] * 112 - padX) / ws) * w + box.x;
    const y = ((raw[2 * i + 1] * 112 - padY) / hs) * h + box.y;
    const p = r.landmarks.positions[i];
    checks.landmarks_formula = Math.max(checks.landmarks_formula, Math.abs(p.x - x), Math.abs(p.y - y));
  }
  face.dispose();
  // 3. descriptor = recognition net on slice(img, clipAtImageBorders(dlibRect)) (centred pad, resize 150).
  const [dface] = await faceapi.extractFaceTensors(img, [dlib]);
  const d = await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(dface);
  dface.dispose();
  checks.descriptor_crop = Math.max(checks.descriptor_crop, maxAbs(f32(d), f32(r.descriptor)));
}

async function ssdRaw(file) {
  const img = L.readPngTensor(path.join(FIX, file));
  const [H, W] = img.shape;
  const ni = await faceapi.toNetInput(img);
  const { boxes, scores } = faceapi.nets.ssdMobilenetv1.forwardInput(ni);
  const b = boxes[0].arraySync(); const sc = Array.from(scores[0].dataSync());
  boxes.forEach((t) => t.dispose()); scores.forEach((t) => t.dispose());
  const order = sc.map((v, i) => i).sort((i, j) => sc[j] - sc[i]).slice(0, 20);
  // 4. decode check: top box -> image pixels as locateFaces does.
  const dets = await faceapi.detectAllFaces(img, new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5 }));
  const rd = ni.getReshapedInputDimensions(0);
  const [t, l, bo, rr] = b[order[0]];
  const top = Math.max(0, t) * (512 / rd.height); const bot = Math.min(1, bo) * (512 / rd.height);
  const left = Math.max(0, l) * (512 / rd.width); const right = Math.min(1, rr) * (512 / rd.width);
  const mine = [left * W, top * H, (right - left) * W, (bot - top) * H];
  checks.ssd_decode = Math.max(checks.ssd_decode, maxAbs(mine, boxArr(dets[0].box)));
  img.dispose();
  return { input: file, size: 512, num_anchors: sc.length, top_indices: order, top_scores: order.map((i) => sc[i]), top_boxes: order.map((i) => b[i].map(Number)) };
}

// Age/gender net on a 112x112 chip (no pad, no resize): the raw age and gender logits of runNet,
// and the softmax that predictAgeAndGender reads P(male) from.
async function attributeNets(chip) {
  const ni = await faceapi.toNetInput(chip);
  const raw = faceapi.nets.ageGenderNet.runNet(ni);
  const probs = faceapi.nets.ageGenderNet.forwardInput(ni);
  const out = { input: 'chip112.png', age: f32(raw.age.dataSync()), gender_logits: f32(raw.gender.dataSync()), gender_probs: f32(probs.gender.dataSync()) };
  [raw.age, raw.gender, probs.age, probs.gender].forEach((t) => t.dispose());
  return out;
}

// Expression net on the same chip: runNet's 7 logits and forwardInput's softmax.
async function expressionNets(chip) {
  const ni = await faceapi.toNetInput(chip);
  const logits = faceapi.nets.faceExpressionNet.runNet(ni);
  const probs = faceapi.nets.faceExpressionNet.forwardInput(ni);
  const out = { input: 'chip112.png', logits: f32(logits.dataSync()), probs: f32(probs.dataSync()) };
  logits.dispose(); probs.dispose();
  return out;
}

async function main() {
  await L.init();
  await faceapi.nets.ageGenderNet.loadFromDisk(L.MODELS);
  await faceapi.nets.faceExpressionNet.loadFromDisk(L.MODELS);
  const golden = {
    generator: `face-api ${faceapi.version} + tfjs-backend-wasm ${require('@tensorflow/tfjs-backend-wasm').version_wasm}`,
    backend: tf.getBackend(),
    images: {},
    nets: {},
  };
  for (const f of IMAGES) {
    golden.images[f] = await imageGolden(f);
    console.log(f, 'ssd512', golden.images[f].ssd512.length, 'low', golden.images[f].ssd512_low.length, 'tiny416', golden.images[f].tiny416.length, 'tiny_low', golden.images[f].tiny416_low.length, 'faces', golden.images[f].faces.length);
  }

  const chip150 = L.readPngTensor(path.join(FIX, 'chip150.png'));
  golden.nets.descriptor_chip150 = { input: 'chip150.png', descriptor: f32(await faceapi.nets.faceRecognitionNet.computeFaceDescriptor(chip150)) };
  chip150.dispose();

  const chip112 = L.readPngTensor(path.join(FIX, 'chip112.png'));
  const ni112 = await faceapi.toNetInput(chip112);
  const rawT = tf.tidy(() => faceapi.nets.faceLandmark68Net.runNet(ni112));
  golden.nets.landmarks_chip112 = { input: 'chip112.png', output: f32(rawT.dataSync()) };
  rawT.dispose();
  golden.nets.agegender_chip112 = await attributeNets(chip112);
  golden.nets.expression_chip112 = await expressionNets(chip112);
  chip112.dispose();

  golden.nets.ssd_raw_face_a1 = await ssdRaw('face_a1.png');

  const A = golden.images;
  const dist = (p, q) => Math.sqrt(p.reduce((s, v, i) => s + (v - q[i]) ** 2, 0));
  const d0 = (f) => A[f].faces[0].descriptor;
  golden.sanity = {
    dist_a1_a2: dist(d0('face_a1.png'), d0('face_a2.png')),
    dist_a1_b1: dist(d0('face_a1.png'), d0('face_b1.png')),
    dist_a1_c1: dist(d0('face_a1.png'), d0('face_c1.png')),
    dist_a2_b1: dist(d0('face_a2.png'), d0('face_b1.png')),
    dist_b1_c1: dist(d0('face_b1.png'), d0('face_c1.png')),
    dist_a1_chip150: dist(d0('face_a1.png'), golden.nets.descriptor_chip150.descriptor),
    group4_faces: A['group4.png'].ssd512.length,
    noface_faces: A['noface.png'].ssd512.length,
  };

  golden.conventions = {
    verified: {
      landmarks_minus_unshifted_minus_box_xy_maxabs: checks.landmarks_shift,
      landmarks_from_raw_formula_maxabs_px: checks.landmarks_formula,
      descriptor_from_dlib_crop_maxabs: checks.descriptor_crop,
      ssd_top_box_decode_maxabs_px: checks.ssd_decode,
      faces_checked: checks.faces,
      attr_aligned_box_vs_descriptor_run_maxabs: checks.attr_aligned_box,
      attr_nets_on_attr_crop_maxabs: checks.attr_crop,
    },
    image_input: 'PNG pixels as int32 tensor3d [h,w,3] RGB; every net casts to float32',
    ssd: 'zero-pad bottom/right to square (padToSquare isCenter=false), resizeBilinear to 512 (alignCorners=false, halfPixelCenters=false; skipped if already 512), x/127.5-1; score=sigmoid(class logit 1); boxes decoded against output_layer/extra_dim anchors with variances 10,10,5,5 as [ymin,xmin,ymax,xmax]; candidates with score > minConfidence (strict), sorted desc, greedy NMS: suppressed if IoU > 0.5 with any kept box, at most maxResults; then clamp ymin,xmin to >=0 and ymax,xmax to <=1, multiply by 512/round(side*512/maxSide) per axis, then by image width/height. Boxes are floats (not floored).',
    ssd_raw: 'top_boxes are the decoded, unclamped boxes in the padded-square 0..1 frame, [ymin,xmin,ymax,xmax]; top_indices index the 5118 anchors (net output order)',
    tiny416: 'zero-pad bottom/right, resize to 416, (x - [117.001,114.697,97.404])/255; per cell/anchor score=sigmoid(t4) > threshold (strict); ctr=(col+sigmoid(tx))/13 * (416/reshapedW), size=exp(tw)*anchor/13 * (416/reshapedW); NMS IoU 0.4 (suppress IoU > 0.4) on boxes*416; boxes NOT clamped to the image; scaled by image width/height',
    landmark_crop: 'landmark_crop = detection box clipAtImageBorders: x=max(x,0), y=max(y,0), w=min(right-x_c, W-x_c), h=min(bottom-y_c, H-y_c), then floor each of x,y,w,h; slice; centred zero pad to square (round(diff/2) appended after, rest before); resize to 112; (x-[122.782,117.001,104.298])/255',
    landmarks: 'landmarks[i] = ((raw[2i]*112 - padX)/(w*s))*w + box.x, ((raw[2i+1]*112 - padY)/(h*s))*h + box.y, with w,h the floored crop size, s=112/max(w,h), pad=|w*s-h*s|/2 on the shorter axis only (face-api removes half the padding each side even though the odd pixel goes after). box.x/box.y are the UNFLOORED, UNCLIPPED detection box corner, i.e. landmarks are shifted by box x,y before flooring.',
    aligned_box: 'aligned_box = result.alignedRect.box = bounding box of the 68 landmarks padded by 20% of its width/height in total (10% each side), NOT the descriptor crop. (It goes through rescale by 1/W,1/H and back, so it may differ from the exact value by float rounding.)',
    descriptor_box: 'descriptor_box = landmarks.align(null,{useDlibAlignment:true}) used by withFaceDescriptors: eye centres = mean of pts 36-41 and 42-47, mouth = mean of 48-67; size = floor(mean(|mouth-eyeL|,|mouth-eyeR|)/0.45); c = mean of the three centres; x=floor(max(0,cx-0.5*size)), y=floor(max(0,cy-0.43*size)); w=min(size, W+x), h=min(size, H+y) (effectively size). No rotation.',
    descriptor_crop: 'descriptor_crop = clipAtImageBorders(descriptor_box) (clip right/bottom to image, floor); slice; centred zero pad to square; resize to 150 (skipped if already 150); (x-[122.782,117.001,104.298])/255; ResNet-34-like net; 128 floats, not L2-normalised',
    landmarks_chip112: 'faceLandmark68Net.runNet on chip112.png (no resize, no padding): raw fully-connected output, 136 values interleaved x0,y0,x1,y1,... in the 112x112 padded-square frame, ~[0,1]',
    attributes: 'faces[i].age, gender, gender_probability, expressions from detectAllFaces(SSD 0.5).withFaceLandmarks().withFaceExpressions().withAgeAndGender(). Both nets take the face cut at alignedRect (= aligned_box: the 68 landmarks\' min bbox, max starting from 0, padded by 20% of its width/height in total, rescaled by 1/W,1/H and back), which extractFaceTensors rescales once more (forSize), clips and floors: attr_crop. Then centred zero pad to square, resize to 112, (x-[122.782,117.001,104.298])/255. expressions = 7 softmax probabilities in face-api order ' + EXPRESSIONS.join(', ') + '. gender_probability = P(male) = softmax(gender logits)[0] if > 0.5, else 1 - P(male) with gender female.',
    agegender_chip112: 'ageGenderNet on chip112.png (no pad/resize): TinyXception(2 main blocks) -> avgPool 7 stride 2 -> fc/age (age, raw regression) and fc/gender (gender_logits); gender_probs = softmax(gender_logits), [0] = P(male)',
    expression_chip112: 'faceExpressionNet on chip112.png (no pad/resize): FaceFeatureExtractor (the landmark net\'s dense blocks, own weights) -> avgPool 7 stride 2 -> fc 256->7 (logits); probs = softmax(logits), order ' + EXPRESSIONS.join(', '),
    descriptor_chip150: 'faceRecognitionNet.computeFaceDescriptor on chip150.png (already 150x150, so no pad/resize). Differs slightly from images["face_a1.png"].faces[0].descriptor because the chip was rounded to uint8 (see sanity.dist_a1_chip150).',
  };

  const file = path.join(FIX, 'golden.json');
  fs.writeFileSync(file, `${JSON.stringify(golden, null, 1)}\n`);
  console.log(JSON.stringify(golden.sanity, null, 1));
  console.log(JSON.stringify(golden.conventions.verified, null, 1));
  console.log('wrote', file, fs.statSync(file).size, 'bytes');
}

main().catch((e) => { console.error(e); process.exit(1); });
