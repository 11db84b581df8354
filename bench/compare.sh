#!/usr/bin/env bash
# compare.sh - side-by-side per-stage timings: face-api 1.7.15 (tfjs-wasm, 1 thread, via
# tools/reference/bench.js) against facekit's build/bench_pipeline at 1 and 2 threads, on the
# XNNPACK backend (before issue #12) and on the default backend (auto: oneDNN), in one run.
#
# Usage: bench/compare.sh [IMAGE...]
#   default images: tests/fixtures/{face_a1,face_a2,face_b1,face_c1,group4}.png
#   RUNS=N     timed runs per image for bench.js (default 20)
#   ROUNDS=N   rounds, each running face-api and then every facekit set-up, so that the two
#              sides alternate on a loaded machine (default 1); figures are medians over rounds
#              and each speed-up is the median of the rounds' own ratios
#   BACKENDS="xnnpack auto"  the facekit backends to run (default both)
#   FACEKIT_ARGS="..."  extra arguments for bench_pipeline (e.g. its own run count)
# The benches run one after another, never concurrently.
# facekit's stage columns run resnet128, the net face-api's descriptor is, whatever the default
# model; one more column runs the default model (auto, 1 thread) for the whole-image goal.
# Prints a table: stage, face-api ms, then facekit ms and speed-up (face-api / facekit) for each
# backend and thread count; "fk_faces" is the whole image through the library (decode, detect,
# landmarks, embed with flip) against face-api's whole image. Then the issues' goals: the
# descriptor (>= 4x face-api on 1 thread, >= 10x on 2) against the default backend, and the whole
# image with the default model and flip on 1 thread (>= 20x, issue 18).
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

sets=()
for b in ${BACKENDS:-xnnpack auto}; do
  for t in 1 2; do sets+=("$b $t resnet128"); done
done
sets+=("auto 1 default")
for ((r = 1; r <= ${ROUNDS:-1}; r++)); do
  echo "round $r: face-api (tfjs-wasm, 1 thread)..." >&2
  (cd "$REF" && node bench.js --runs "${RUNS:-20}" "${images[@]}") >"$tmp/faceapi.$r.json"
  for i in "${!sets[@]}"; do
    read -r b t m <<<"${sets[$i]}"
    model=(--model "$m")
    [[ $m == default ]] && model=()
    echo "round $r: facekit (--backend $b --threads $t ${model[*]})..." >&2
    # shellcheck disable=SC2086  # FACEKIT_ARGS is a word list on purpose
    (cd "$ROOT" && "$BENCH" --json "${model[@]}" --backend "$b" --threads "$t" ${FACEKIT_ARGS:-} "${images[@]}") \
      >"$tmp/fk$i.$r.json"
  done
done

node - "$tmp" "${ROUNDS:-1}" "${#sets[@]}" <<'EOF'
const fs = require('fs');
// Each file holds one JSON object; take the last line that parses, in case of stray output.
function load(f) {
  const lines = fs.readFileSync(f, 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) { try { return JSON.parse(lines[i]); } catch (e) { /* next */ } }
  try { return JSON.parse(fs.readFileSync(f, 'utf8')); } catch (e) { throw new Error(`${f}: no JSON object`); }
}
const [dir, nr, nk] = [process.argv[2], +process.argv[3], +process.argv[4]];
const rounds = [...Array(nr).keys()].map((r) => r + 1);
const fas = rounds.map((r) => load(`${dir}/faceapi.${r}.json`));
const kss = [...Array(nk).keys()].map((i) => rounds.map((r) => load(`${dir}/fk${i}.${r}.json`)));
const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const median = (xs) => {
  const v = xs.filter((x) => x != null).sort((a, b) => a - b);
  return v.length ? (v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2) : null;
};
// A figure over rounds, and a same-round ratio over rounds (face-api's round r over facekit's).
const med = (objs, get) => median(objs.map((o) => num(get(o))));
const rat = (ks, getA, getK) => median(rounds.map((r, i) => {
  const a = num(getA(fas[i])), k = num(getK(ks[i]));
  return a == null || k == null || k <= 0 ? null : a / k;
}));
const fa = fas[0], ks0 = kss.map((ks) => ks[0]);
const rows = [
  ['decode', (o) => o.stages?.decode_ms],
  ['detect (SSD 512)', (o) => o.stages?.detect_ms],
  ['landmarks / face', (o) => o.per_face?.landmarks_ms ?? o.stages?.landmarks_ms],
  ['descriptor / face', (o) => o.per_face?.descriptor_ms ?? o.stages?.descriptor_ms],
  ['whole image', (o) => o.image_ms],
  ['fk_faces (flip)', (o) => o.pipeline_ms ?? o.image_ms, (o) => o.image_ms],
];
const ms = (v) => (v == null ? '-' : v.toFixed(v < 10 ? 2 : 1));
const x = (v) => (v == null ? '-' : `${v.toFixed(2)}x`);
const label = (k) => `${(k.impl ?? '').split(' ').pop()} ${k.threads ?? '?'}T ${k.model ?? ''}`.trim();
const head = ['stage', 'face-api ms'];
for (const k of ks0) head.push(`${label(k)} ms`, 'speed-up');
const table = [head];
for (const [name, get, getA = get] of rows) {
  const row = [name, ms(med(fas, getA))];
  for (const ks of kss) row.push(ms(med(ks, get)), x(rat(ks, getA, get)));
  table.push(row);
}
const fps = ['faces / s', med(fas, (o) => o.faces_per_s)?.toFixed(2) ?? '-'];
for (const ks of kss) {
  const r = median(rounds.map((_, i) => (num(fas[i].faces_per_s) && num(ks[i].faces_per_s) ? ks[i].faces_per_s / fas[i].faces_per_s : null)));
  fps.push(med(ks, (o) => o.faces_per_s)?.toFixed(2) ?? '-', x(r));
}
table.push(fps);
const gf = ['descriptor GFLOP/s', '-'];
for (const ks of kss) gf.push(med(ks, (o) => o.descriptor_gflops)?.toFixed(1) ?? '-', '');
table.push(gf);
const w = head.map((_, i) => Math.max(...table.map((r) => r[i].length)));
const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
console.log(`${fa.images} images, ${fa.faces} faces (face-api), ${ks0[0]?.faces ?? '?'} faces (facekit); ` +
            `medians over ${nr} round(s), speed-ups the median of each round's own ratio`);
console.log(`face-api: ${fa.impl}, ${fa.threads} thread`);
console.log(line(head));
console.log(w.map((n) => '-'.repeat(n)).join('  '));
for (const r of table.slice(1)) console.log(line(r));
for (const k of ks0)
  if (k.faces != null && fa.faces !== k.faces) console.log(`note: face counts differ (face-api ${fa.faces}, facekit ${label(k)} ${k.faces})`);
const desc = (o) => o.per_face?.descriptor_ms ?? o.stages?.descriptor_ms;
// The issue's goals, on the default backend: descriptor >= 4x face-api on 1 thread, >= 10x on 2
// (resnet128, face-api's own net); the whole image with the default model and flip, 1 thread, >= 20x.
kss.forEach((ks, i) => {
  const k = ks0[i];
  if (!(k.impl ?? '').endsWith(' auto')) return;
  if (i < kss.length - 1) {
    const want = k.threads > 1 ? 10 : 4, got = rat(ks, desc, desc);
    console.log(`goal: descriptor ${label(k)} ${got.toFixed(2)}x face-api (want >= ${want}x): ${got >= want ? 'met' : 'NOT met'}`);
  } else {
    const got = rat(ks, (o) => o.image_ms, (o) => o.pipeline_ms);
    console.log(`goal: whole image (decode, detect, landmarks, embed with flip ${k.flip ? 'on' : 'OFF'}) ${label(k)} ` +
                `${got.toFixed(2)}x face-api (want >= 20x): ${got >= 20 ? 'met' : 'NOT met'}`);
  }
});
EOF
