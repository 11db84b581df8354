#!/usr/bin/env bash
# Installs the Debian packages facekit needs to build and test, if any are
# missing: libraries are checked with dpkg, tools by their command (a machine
# may have Node.js and npm from elsewhere; Debian's npm would conflict).
# Needs root (or sudo) only when something is missing.
#   tools/deps.sh        what build, check and demo need
#   tools/deps.sh fuzz   also clang and libFuzzer, for `make fuzz`
set -euo pipefail

libs=(libdnnl-dev libxnnpack-dev libpthreadpool-dev libopenblas-dev
      libjpeg62-turbo-dev libpng-dev libwebp-dev libcjson-dev libsqlite3-dev nettle-dev
      # ONNX models: the protobuf-c parser generated from Debian's onnx.proto
      libonnx-dev libprotobuf-c-dev protobuf-c-compiler
      # video: FFmpeg's libraries (stream), and the test servers' (RTSP, HTTP)
      libavformat-dev libavcodec-dev libavdevice-dev libswscale-dev libavutil-dev
      libgstrtspserver-1.0-dev gstreamer1.0-plugins-base gstreamer1.0-plugins-good
      gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly libmicrohttpd-dev)
declare -A tools=([cc]=build-essential [make]=make [cmake]=cmake [pkg-config]=pkg-config [npm]=npm
                  [ffmpeg]=ffmpeg)
if [ "${1:-}" = fuzz ]; then
  libs+=(libclang-rt-14-dev)
  tools[clang-14]=clang-14
fi

missing=()
for p in "${libs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
for t in "${!tools[@]}"; do
  command -v "$t" >/dev/null 2>&1 || missing+=("${tools[$t]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
