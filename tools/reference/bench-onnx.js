'use strict';
// bench-onnx.js - onnxruntime-node 1.30.0 timings of the faceplugin nets that
// facekit imports (fr_feature = mbf512, fr_detect = rfb320, fr_landmark =
// lmk64), on the same model files and the same input as build/bench_nets
// (input[i] = ((i * 7919) % 255) / 255 - 0.5), with intraOpNumThreads 1 and
// 2, each as shipped and with the session option set_denormal_as_zero
// (flush-to-zero and denormals-are-zero, as facekit runs). Prints one line
// per net, thread count and mode in bench_nets's format (the last word is
// the mode: onnxruntime or onnxruntime-ftz), with the median wall time and,
// on one thread, the median process CPU time of a run, for
// bench/compare_onnx.sh. Usage: node bench-onnx.js [runs] [--models DIR]
const path = require('path');
const ort = require('onnxruntime-node');

const REPO = path.resolve(__dirname, '../..');
const mi = process.argv.indexOf('--models');
const MODELS = mi > 0 ? path.resolve(process.argv[mi + 1]) : path.join(REPO, 'models');
const runs = Math.max(1, parseInt(process.argv[2], 10) || 50);

const NETS = [
  ['mbf512', 'fr_feature.onnx', [1, 3, 112, 112]],
  ['rfb320', 'fr_detect.onnx', [1, 3, 240, 320]],
  ['lmk64', 'fr_landmark.onnx', [1, 1, 64, 64]],
];

const median = (t) => (runs % 2 ? t[(runs - 1) / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2);

// [median wall ms, min wall ms, median process CPU ms] of `runs` runs.
async function time(session, feeds) {
  for (let i = 0; i < 3; i++) await session.run(feeds);
  const t = [], c = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage(), t0 = process.hrtime.bigint();
    await session.run(feeds);
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const dc = process.cpuUsage(c0);
    c.push((dc.user + dc.system) / 1e3);
  }
  t.sort((a, b) => a - b);
  c.sort((a, b) => a - b);
  return [median(t), t[0], median(c)];
}

const MODES = [
  ['onnxruntime', {}],
  ['onnxruntime-ftz', { extra: { session: { set_denormal_as_zero: '1' } } }],
];

async function main() {
  for (const threads of [1, 2]) {
    for (const [name, file, dims] of NETS) {
      for (const [mode, extra] of MODES) {
        const s = await ort.InferenceSession.create(path.join(MODELS, file), {
          intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
          ...extra,
        });
        const n = dims.reduce((a, b) => a * b, 1);
        const input = new Float32Array(n);
        for (let i = 0; i < n; i++) input[i] = ((i * 7919) % 255) / 255 - 0.5;
        const [med, min, cpu] = await time(s, { [s.inputNames[0]]: new ort.Tensor('float32', input, dims) });
        const c = threads === 1 ? `  cpu ${cpu.toFixed(3).padStart(8)} ms` : '';
        console.log(`${name.padEnd(10)} ${threads} thread${threads > 1 ? 's' : ' '}  median ${med.toFixed(3).padStart(7)} ms  (min ${min.toFixed(3).padStart(7)})${c}  ${mode}`);
        await s.release();
      }
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
