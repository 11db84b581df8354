#!/usr/bin/env bash
# compare_onnx.sh - the faceplugin ONNX nets in facekit (build/bench_nets -n NET:
# oneDNN and XNNPACK at 1 and 2 threads) against onnxruntime-node 1.30.0
# (tools/reference/bench-onnx.js, intraOpNumThreads 1 and 2, as shipped and with
# the session option set_denormal_as_zero) on the same model files and input.
#
# Usage: bench/compare_onnx.sh [runs]   (default 50)
#   ROUNDS=N  rounds, each running onnxruntime and then facekit, so that the two
#             sides alternate on a loaded machine (default 1)
# Prints each side's lines, then per net, backend and thread count the medians
# over rounds (wall ms; on one thread also CPU ms: onnxruntime's process CPU
# time, facekit's thread CPU time) and the speed-ups, each the median of the
# rounds' own ratios: onnxruntime / facekit, as shipped and flushed ("ftz").
# Then the goal of issue 18: mbf512 on one thread >= 3x onnxruntime flushed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${1:-50}
BENCH="$ROOT/build/bench_nets"
REF="$ROOT/tools/reference"
[[ -x "$BENCH" ]] || { echo "compare_onnx.sh: $BENCH not found; run make build" >&2; exit 1; }
[[ -d "$REF/node_modules/onnxruntime-node" ]] ||
  { echo "compare_onnx.sh: run (cd tools/reference && ONNXRUNTIME_NODE_INSTALL=skip npm ci)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for ((r = 1; r <= ${ROUNDS:-1}; r++)); do
  echo "round $r" >&2
  (cd "$REF" && node bench-onnx.js "$RUNS" --models "${FACEKIT_MODELS:-$ROOT/models}") | tee "$tmp/ort.$r"
  for net in mbf512 rfb320 lmk64; do "$BENCH" "$RUNS" -n "$net" -D; done | tee "$tmp/fk.$r"
done
echo
node - "$tmp" "${ROUNDS:-1}" <<'EOF'
const fs = require('fs');
const [dir, nr] = [process.argv[2], +process.argv[3]];
const median = (xs) => {
  const v = xs.filter((x) => x != null && Number.isFinite(x)).sort((a, b) => a - b);
  return v.length ? (v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2) : null;
};
const lines = (f) => fs.readFileSync(f, 'utf8').split('\n');
// Per round: ort[mode][net threads] and fk[net backend threads] = {wall, cpu}.
const rounds = [];
for (let r = 1; r <= nr; r++) {
  const ort = {}, fk = {};
  for (const l of lines(`${dir}/ort.${r}`)) {
    const m = l.match(/^(\S+)\s+(\d+) threads?\s+median\s+([\d.]+) ms\s+\(min\s+[\d.]+\)(?:\s+cpu\s+([\d.]+) ms)?\s+(\S+)$/);
    if (m) (ort[m[5]] ??= {})[`${m[1]} ${m[2]}`] = { wall: +m[3], cpu: m[4] ? +m[4] : null };
  }
  for (const l of lines(`${dir}/fk.${r}`)) {
    const m = l.match(/^(\S+)\s+(\S+)\s+(\d+) threads?\s+median\s+([\d.]+) ms/), c = l.match(/ cpu\s+([\d.]+) ms/);
    if (m) fk[`${m[1]} ${m[2]} ${m[3]}`] = { wall: +m[4], cpu: c ? +c[1] : null, net: m[1], threads: m[3] };
  }
  rounds.push({ ort, fk });
}
const f = (v) => (v == null ? '-' : v.toFixed(3));
const x = (v) => (v == null ? '-' : `${v.toFixed(2)}x`);
const ratio = (key, mode, clock) => median(rounds.map(({ ort, fk }) => {
  const o = ort[mode]?.[`${fk[key].net} ${fk[key].threads}`]?.[clock], k = fk[key]?.[clock];
  return o != null && k ? o / k : null;
}));
const fig = (get) => median(rounds.map(get));
const head = ['net', 'backend', 'threads', 'clock', 'ort_ms', 'ort_ftz_ms', 'facekit_ms', 'vs_ort', 'vs_ort_ftz'];
const table = [head];
for (const key of Object.keys(rounds[0].fk)) {
  const k = rounds[0].fk[key], ok = `${k.net} ${k.threads}`;
  for (const clock of ['wall', 'cpu']) {
    if (clock === 'cpu' && k.cpu == null) continue;
    table.push([k.net, key.split(' ')[1], k.threads, clock,
      f(fig((r) => r.ort.onnxruntime?.[ok]?.[clock])), f(fig((r) => r.ort['onnxruntime-ftz']?.[ok]?.[clock])),
      f(fig((r) => r.fk[key]?.[clock])), x(ratio(key, 'onnxruntime', clock)), x(ratio(key, 'onnxruntime-ftz', clock))]);
  }
}
const w = head.map((_, i) => Math.max(...table.map((r) => String(r[i]).length)));
for (const r of table) console.log(r.map((c, i) => (i < 4 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  '));
console.log(`(medians over ${nr} round(s); speed-ups the median of each round's own ratio)`);
for (const clock of ['cpu', 'wall']) {
  const got = ratio('mbf512 onednn 1', 'onnxruntime-ftz', clock);
  if (got != null)
    console.log(`goal: mbf512 onednn 1 thread ${got.toFixed(2)}x onnxruntime with set_denormal_as_zero (${clock} time; want >= 3x): ${got >= 3 ? 'met' : 'NOT met'}`);
}
EOF
