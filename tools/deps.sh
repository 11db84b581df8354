#!/usr/bin/env bash
# Installs the Debian packages facekit needs to build and test, if any are
# missing: libraries are checked with dpkg, tools by their command (a machine
# may have Node.js and npm from elsewhere; Debian's npm would conflict).
# Needs root (or sudo) only when something is missing.
#   tools/deps.sh        what build, check, bench and demo need
#   tools/deps.sh fuzz   also clang and libFuzzer, for `make fuzz`
# Chromium (the web page's browser test) is installed when the archive has
# it; the test says so and skips when it could not be.
set -euo pipefail

libs=(libdnnl-dev libxnnpack-dev libpthreadpool-dev libopenblas-dev
      libjpeg62-turbo-dev libpng-dev libwebp-dev libcjson-dev libsqlite3-dev nettle-dev zlib1g-dev
      # PostgreSQL indexes: the client library, and the server the tests start
      libpq-dev postgresql-15
      # ONNX models: the protobuf-c parser generated from Debian's onnx.proto
      libonnx-dev libprotobuf-c-dev protobuf-c-compiler
      # video: FFmpeg's libraries (stream), and the test servers' (RTSP, HTTP)
      libavformat-dev libavcodec-dev libavdevice-dev libswscale-dev libavutil-dev
      libgstrtspserver-1.0-dev gstreamer1.0-plugins-base gstreamer1.0-plugins-good
      gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly libmicrohttpd-dev
      # the HTTP service's tests: libcurl clients
      libcurl4-openssl-dev
      # ANN search: faiss (the library), hnswlib (bench_ann only)
      libfaiss-dev libhnswlib-dev)
declare -A tools=([cc]=build-essential [c++]=g++ [make]=make [cmake]=cmake [pkg-config]=pkg-config [npm]=npm
                  [ffmpeg]=ffmpeg [openssl]=openssl [wrk]=wrk)
optional=()
if [ "${1:-}" = fuzz ]; then
  libs+=(libclang-rt-14-dev libomp-14-dev) # clang's OpenMP, for faiss's shim
  tools[clang-14]=clang-14
else
  command -v chromium >/dev/null 2>&1 || optional+=(chromium)
fi

missing=()
for p in "${libs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
for t in "${!tools[@]}"; do
  command -v "$t" >/dev/null 2>&1 || missing+=("${tools[$t]}")
done
[ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ ${#optional[@]} -gt 0 ]; then
  echo "deps: installing ${optional[*]} (for the browser test)" >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${optional[@]}" ||
    echo "deps: could not install ${optional[*]}: the browser test will skip" >&2
fi
