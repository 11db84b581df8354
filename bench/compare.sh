#!/usr/bin/env bash
# compare.sh - side-by-side per-stage timings: face-api 1.7.15 (tfjs-wasm, 1 thread, via
# tools/reference/bench.js) against facekit's build/bench_pipeline at 1 and 2 threads, on the
# XNNPACK backend (before issue #12) and on the default backend (auto: oneDNN), in one run.
#
# Usage: bench/compare.sh [IMAGE...]
#   default images: tests/fixtures/{face_a1,face_a2,face_b1,face_c1,group4}.png
#   RUNS=N     timed runs per image for bench.js (default 20)
#   BACKENDS="xnnpack auto"  the facekit backends to run (default both)
#   FACEKIT_ARGS="..."  extra arguments for bench_pipeline (e.g. its own run count)
# The benches run one after another, never concurrently; run it on a quiet machine.
# facekit runs resnet128, the net face-api's descriptor is, whatever the default model.
# Prints a table: stage, face-api ms, then facekit ms and speed-up (face-api / facekit) for each
# backend and thread count, and the issue's goals for the descriptor (>= 4x face-api on 1 thread,
# >= 10x on 2) against the default backend.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/build/bench_pipeline"
REF="$ROOT/tools/reference"

if [[ ! -x "$BENCH" ]]; then
  echo "compare.sh: $BENCH not found; build it with make build" >&2
  exit 1
fi
if ! command -v node >/dev/null; then
  echo "compare.sh: node not found (needed for the face-api side)" >&2
  exit 1
fi
if [[ ! -d "$REF/node_modules" ]]; then
  echo "compare.sh: $REF/node_modules missing; run: (cd tools/reference && npm ci)" >&2
  exit 1
fi

images=()
if [[ $# -eq 0 ]]; then
  for f in face_a1 face_a2 face_b1 face_c1 group4; do images+=("$ROOT/tests/fixtures/$f.png"); done
else
  for f in "$@"; do
    [[ -f "$f" ]] || { echo "compare.sh: no such file: $f" >&2; exit 1; }
    images+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")")
  done
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "face-api (tfjs-wasm, 1 thread)..." >&2
(cd "$REF" && node bench.js --runs "${RUNS:-20}" "${images[@]}") >"$tmp/faceapi.json"
runs=()
for b in ${BACKENDS:-xnnpack auto}; do
  for t in 1 2; do
    echo "facekit (--backend $b --threads $t)..." >&2
    # shellcheck disable=SC2086  # FACEKIT_ARGS is a word list on purpose
    (cd "$ROOT" && "$BENCH" --json --model resnet128 --backend "$b" --threads "$t" ${FACEKIT_ARGS:-} "${images[@]}") \
      >"$tmp/fk-$b-$t.json"
    runs+=("$tmp/fk-$b-$t.json")
  done
done

node - "$tmp/faceapi.json" "${runs[@]}" <<'EOF'
const fs = require('fs');
// Each file holds one JSON object; take the last line that parses, in case of stray output.
function load(f) {
  const lines = fs.readFileSync(f, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) { try { return JSON.parse(lines[i]); } catch (e) { /* next */ } }
  try { return JSON.parse(fs.readFileSync(f, 'utf8')); } catch (e) { throw new Error(`${f}: no JSON object`); }
}
const [fa, ...ks] = process.argv.slice(2).map(load);
const rows = [
  ['decode', (o) => o.stages?.decode_ms],
  ['detect (SSD 512)', (o) => o.stages?.detect_ms],
  ['landmarks / face', (o) => o.per_face?.landmarks_ms ?? o.stages?.landmarks_ms],
  ['descriptor / face', (o) => o.per_face?.descriptor_ms ?? o.stages?.descriptor_ms],
  ['whole image', (o) => o.image_ms],
];
const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const ms = (v) => (v == null ? '-' : v.toFixed(v < 10 ? 2 : 1));
const ratio = (a, b) => (a == null || b == null || b <= 0 ? '-' : `${(a / b).toFixed(2)}x`);
const label = (k) => `${(k.impl ?? '').split(' ').pop()} ${k.threads ?? '?'}T`;
const head = ['stage', 'face-api ms'];
for (const k of ks) head.push(`${label(k)} ms`, 'speed-up');
const table = [head];
for (const [name, get] of rows) {
  const a = num(get(fa));
  const row = [name, ms(a)];
  for (const k of ks) row.push(ms(num(get(k))), ratio(a, num(get(k))));
  table.push(row);
}
const f = (v) => (num(v) == null ? '-' : v.toFixed(2));
const fps = ['faces / s', f(fa.faces_per_s)];
for (const k of ks) fps.push(f(k.faces_per_s), num(fa.faces_per_s) && num(k.faces_per_s) ? `${(k.faces_per_s / fa.faces_per_s).toFixed(2)}x` : '-');
table.push(fps);
const gf = ['descriptor GFLOP/s', '-'];
for (const k of ks) gf.push(num(k.descriptor_gflops) == null ? '-' : k.descriptor_gflops.toFixed(1), '');
table.push(gf);
const w = head.map((_, i) => Math.max(...table.map((r) => r[i].length)));
const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
console.log(`${fa.images} images, ${fa.faces} faces (face-api), ${ks[0]?.faces ?? '?'} faces (facekit); medians`);
console.log(`face-api: ${fa.impl}, ${fa.threads} thread`);
console.log(line(head));
console.log(w.map((n) => '-'.repeat(n)).join('  '));
for (const r of table.slice(1)) console.log(line(r));
for (const k of ks)
  if (k.faces != null && fa.faces !== k.faces) console.log(`note: face counts differ (face-api ${fa.faces}, facekit ${label(k)} ${k.faces})`);
// The issue's goals, on the default backend: descriptor >= 4x face-api on 1 thread, >= 10x on 2.
const fad = num(fa.per_face?.descriptor_ms ?? fa.stages?.descriptor_ms);
for (const k of ks.filter((x) => (x.impl ?? '').endsWith(' auto'))) {
  const want = k.threads > 1 ? 10 : 4, got = fad / num(k.per_face?.descriptor_ms);
  console.log(`goal: descriptor ${label(k)} ${got.toFixed(2)}x face-api (want >= ${want}x): ${got >= want ? 'met' : 'NOT met'}`);
}
EOF
