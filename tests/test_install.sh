#!/usr/bin/env bash
# test_install.sh - facekit as a library user gets it: the build installed
# into a fresh prefix, and tests/install/consumer.c compiled and linked
# with nothing but what `pkg-config facekit` says, once against the shared
# library (--cflags --libs) and once against the static archive alone
# (--static: every private dependency must be listed), each then run on a
# photo; and each part of the header (facekit_core.h, ...) compiles alone,
# as C and as C++. Sanitizer builds pass their flags in FK_SAN_FLAGS.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=$(pwd) # ctest runs tests in the build tree
fixtures=${FK_FIXTURES:-$src/tests/fixtures}
models=${FACEKIT_MODELS:-$src/models}
cc=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for kind in shared static; do
  prefix=$tmp/$kind
  cmake --install "$build" --prefix "$prefix" >/dev/null
  pc=$(dirname "$(find "$prefix" -name facekit.pc | head -1)")
  # The .pc names the configured prefix: point it at this one.
  sed -i "s|^prefix=.*|prefix=$prefix|" "$pc/facekit.pc"
  pcflags=()
  if [ $kind = static ]; then
    rm -f "$prefix"/lib*/libfacekit.so* "$prefix"/lib/*/libfacekit.so*
    pcflags+=(--static)
  fi
  flags=$(PKG_CONFIG_PATH=$pc pkg-config ${pcflags[@]+"${pcflags[@]}"} --cflags --libs facekit)
  # every part of the API compiles on its own, C and C++
  for part in core index track eval; do
    for lang in c c++; do
      # shellcheck disable=SC2086
      echo "#include <facekit_$part.h>" | $cc -x $lang -fsyntax-only -Wall -Wextra -Werror $flags - ||
        { echo "FAIL: facekit_$part.h does not compile alone as $lang"; exit 1; }
    done
  done
  echo "$kind: $cc consumer.c $flags"
  # shellcheck disable=SC2086 # the flags are words
  $cc -std=c17 -Wall -Wextra -Werror ${FK_SAN_FLAGS:-} -o "$tmp/consumer_$kind" \
    "$src/tests/install/consumer.c" $flags
  out=$(LD_LIBRARY_PATH=$(dirname "$(find "$prefix" -name 'libfacekit.*' | head -1)") \
        "$tmp/consumer_$kind" "$models" "$fixtures/face_a1.png")
  echo "  $out"
  case "$out" in "facekit $(sed -n 's/^project(facekit VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt"): 1 face") ;;
    *) echo "FAIL: $kind consumer printed '$out'"; exit 1 ;;
  esac
  if [ $kind = static ] && ldd "$tmp/consumer_$kind" | grep -q libfacekit; then
    echo "FAIL: the static consumer loads libfacekit.so"; exit 1
  fi
done
echo "1 passed, 0 failed"
