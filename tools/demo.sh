#!/usr/bin/env bash
# The README's first command: runs facekit on the bundled sample gallery
# (tests/fixtures) and prints each JSON result.
set -euo pipefail
cli=${1:-build/facekit}
root=$(cd "$(dirname "$0")/.." && pwd)
g=$root/tests/fixtures
export FACEKIT_MODELS=${FACEKIT_MODELS:-$root/models}

step() { printf '\n$ facekit %s\n' "$*" >&2; "$cli" "$@"; }

step detect "$g/group4.png"
step represent "$g/face_a1.png" --normalize l2
step verify "$g/face_a1.png" "$g/face_a2.png"   # same person
step verify "$g/face_a1.png" "$g/face_b1.png"   # different people
step verify "$g/face_a1.png" "$g/face_c1.png"   # different people, turned head
