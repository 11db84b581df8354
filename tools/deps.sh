#!/usr/bin/env bash
# Installs the Debian packages facekit needs to build and test, if any are
# missing: libraries are checked with dpkg, tools by their command (a machine
# may have Node.js and npm from elsewhere; Debian's npm would conflict).
# Needs root (or sudo) only when something is missing.
set -euo pipefail

libs=(libxnnpack-dev libpthreadpool-dev
      libjpeg62-turbo-dev libpng-dev libwebp-dev libcjson-dev libsqlite3-dev nettle-dev zlib1g-dev
      libfaiss-dev libhnswlib-dev)
declare -A tools=([cc]=build-essential [c++]=g++ [make]=make [cmake]=cmake [pkg-config]=pkg-config [npm]=npm)

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
