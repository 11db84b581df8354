#!/usr/bin/env bash
# compare_onnx.sh - the faceplugin ONNX nets in facekit (build/bench_nets -n NET:
# oneDNN and XNNPACK at 1 and 2 threads) against onnxruntime-node 1.30.0
# (tools/reference/bench-onnx.js, intraOpNumThreads 1 and 2) on the same model
# files and input, run one after the other in the same session.
#
# Usage: bench/compare_onnx.sh [runs]   (default 50)
# Prints each side's lines, then per net and thread count:
#   net backend threads onnxruntime-ms facekit-ms speed-up (onnxruntime / facekit)
# Timings need a quiet machine; on a shared one, read the ratios only.
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
(cd "$REF" && node bench-onnx.js "$RUNS" --models "${FACEKIT_MODELS:-$ROOT/models}") | tee "$tmp/ort"
for net in mbf512 rfb320 lmk64; do "$BENCH" "$RUNS" -n "$net"; done | tee "$tmp/fk"
echo
printf '%-8s %-8s %7s %14s %10s %8s\n' net backend threads onnxruntime_ms facekit_ms speedup
awk 'NR == FNR { ort[$1 " " $2] = $5; next }
     $5 == "median" { k = $1 " " $3; if (k in ort)
       printf "%-8s %-8s %7s %14.3f %10.3f %7.2fx\n", $1, $2, $3, ort[k], $6, ort[k] / $6 }' \
  "$tmp/ort" "$tmp/fk"
