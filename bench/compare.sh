#!/usr/bin/env bash
# compare.sh - side-by-side per-stage timings: face-api 1.7.15 (tfjs-wasm, 1 thread, via
# tools/reference/bench.js) against facekit's build/bench_pipeline at 1 and 2 threads.
#
# Usage: bench/compare.sh [IMAGE...]
#   default images: tests/fixtures/{face_a1,face_a2,face_b1,face_c1,group4}.png
#   RUNS=N     timed runs per image for bench.js (default 20)
#   FACEKIT_ARGS="..."  extra arguments for bench_pipeline (e.g. its own run count)
# The benches run one after another, never concurrently; run it on a quiet machine.
# Prints a table: stage, face-api ms, facekit ms and speed-up (face-api / facekit) per thread count.
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
for t in 1 2; do
  echo "facekit (--threads $t)..." >&2
  # shellcheck disable=SC2086  # FACEKIT_ARGS is a word list on purpose
  (cd "$ROOT" && "$BENCH" --json --threads "$t" ${FACEKIT_ARGS:-} "${images[@]}") >"$tmp/fk$t.json"
done

node - "$tmp/faceapi.json" "$tmp/fk1.json" "$tmp/fk2.json" <<'EOF'
const fs = require('fs');
// Each file holds one JSON object; take the last line that parses, in case of stray output.
function load(f) {
  const lines = fs.readFileSync(f, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) { try { return JSON.parse(lines[i]); } catch (e) { /* next */ } }
  try { return JSON.parse(fs.readFileSync(f, 'utf8')); } catch (e) { throw new Error(`${f}: no JSON object`); }
}
const [fa, k1, k2] = process.argv.slice(2).map(load);
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
const t1 = k1.threads ?? 1; const t2 = k2.threads ?? 2;
const head = ['stage', 'face-api ms', `facekit ${t1}T ms`, `speed-up ${t1}T`, `facekit ${t2}T ms`, `speed-up ${t2}T`];
const table = [head];
for (const [name, get] of rows) {
  const a = num(get(fa)); const b = num(get(k1)); const c = num(get(k2));
  if (a == null && b == null && c == null) continue;
  table.push([name, ms(a), ms(b), ratio(a, b), ms(c), ratio(a, c)]);
}
if (num(fa.faces_per_s) != null || num(k1.faces_per_s) != null) {
  const f = (v) => (num(v) == null ? '-' : v.toFixed(2));
  const r = (a, b) => (num(a) == null || num(b) == null || a <= 0 ? '-' : `${(b / a).toFixed(2)}x`);
  table.push(['faces / s', f(fa.faces_per_s), f(k1.faces_per_s), r(fa.faces_per_s, k1.faces_per_s), f(k2.faces_per_s), r(fa.faces_per_s, k2.faces_per_s)]);
}
const w = head.map((_, i) => Math.max(...table.map((r) => r[i].length)));
const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
console.log(`${fa.images} images, ${fa.faces} faces (face-api), ${k1.faces ?? '?'} faces (facekit); medians`);
console.log(`face-api: ${fa.impl}, ${fa.threads} thread`);
console.log(line(head));
console.log(w.map((n) => '-'.repeat(n)).join('  '));
for (const r of table.slice(1)) console.log(line(r));
if (k1.faces != null && fa.faces !== k1.faces) console.log(`note: face counts differ (face-api ${fa.faces}, facekit ${k1.faces})`);
EOF
