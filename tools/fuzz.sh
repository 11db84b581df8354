#!/usr/bin/env bash
# Runs a libFuzzer target built by `make fuzz` (build-fuzz/fuzz_TARGET).
#
#   tools/fuzz.sh run TARGET [SECONDS]   fuzz for SECONDS (default 900), niced,
#                                        from the committed seeds
#   tools/fuzz.sh merge TARGET           fold the new finds into the committed
#                                        corpus, keeping only inputs that add
#                                        coverage
#
# TARGET is image, weights, tfgraph, onnx or http (any tests/fuzz/fuzz_TARGET.c). New
# inputs go to build-fuzz/run/TARGET/corpus, crashes to
# build-fuzz/run/TARGET/crash-*, the log to build-fuzz/run/TARGET/fuzz-0.log.
# A crash input, minimized (fuzz_TARGET -minimize_crash=1 -runs=10000 FILE),
# belongs in tests/fuzz/TARGET/regressions/, where ctest replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
target=${2:-}
[ -n "$target" ] && [ -f "tests/fuzz/fuzz_$target.c" ] || {
  echo "usage: $0 run|merge TARGET [SECONDS]  (TARGET: $(ls tests/fuzz/fuzz_*.c | sed 's|.*/fuzz_||; s|\.c$||' | tr '\n' ' '))" >&2
  exit 2
}
bin=$PWD/build-fuzz/fuzz_$target
src=$PWD/tests/fuzz/$target
run=$PWD/build-fuzz/run/$target
[ -x "$bin" ] || { echo "$bin is missing: run make fuzz" >&2; exit 1; }
mkdir -p "$run/corpus"

# Inputs much longer than the seeds only slow the fuzzer down.
case $target in
  image) max_len=4096 ;;
  tfgraph | onnx) max_len=8192 ;;
  *) max_len=4096 ;;
esac
dict=()
[ -f "$src/$target.dict" ] && dict=(-dict="$src/$target.dict")

case $mode in
  run)
    cd "$run"
    exec nice -n 10 "$bin" -jobs=1 -workers=1 -rss_limit_mb=2048 -timeout=10 \
      -max_len=$max_len -max_total_time="${3:-900}" -print_final_stats=1 \
      "${dict[@]}" -artifact_prefix="$run/" \
      "$run/corpus" "$src/corpus" "$src/regressions"
    ;;
  merge)
    exec nice -n 10 "$bin" -merge=1 -max_len=$max_len -rss_limit_mb=2048 -timeout=10 \
      "${dict[@]}" "$src/corpus" "$run/corpus"
    ;;
  *)
    echo "usage: $0 run|merge TARGET [SECONDS]" >&2
    exit 2
    ;;
esac
