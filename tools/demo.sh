#!/usr/bin/env bash
# The README's first command: runs facekit's main job on the bundled sample
# gallery (LFW images among the test fixtures, laid out one folder per
# person): index it, search it for another photo of one of them, verify a
# pair, analyze a group photo, and print each JSON result. Writes
# build/demo-gallery/, build/demo.db and build/demo-find.{html,png}.
set -euo pipefail
cli=${1:-build/facekit}
root=$(cd "$(dirname "$0")/.." && pwd)
g=$root/tests/fixtures
out=$(dirname "$cli")
export FACEKIT_MODELS=${FACEKIT_MODELS:-$root/models}

step() { printf '\n$ facekit %s\n' "$*" >&2; "$cli" "$@"; }

gallery=$out/demo-gallery
rm -rf "$gallery" "$out"/demo.db*
mkdir -p "$gallery"/{George_W_Bush,Laura_Bush,Jacques_Chirac,Group}
cp "$g/face_a2.png" "$gallery/George_W_Bush/George_W_Bush_0006.png"
cp "$g/face_b1.png" "$gallery/Laura_Bush/Laura_Bush_0001.png"
cp "$g/face_c1.png" "$gallery/Jacques_Chirac/Jacques_Chirac_0006.png"
cp "$g/group4.png" "$gallery/Group/four_people.png"

step index "$gallery" --db "$out/demo.db" --quiet
step find "$g/face_a1.png" --db "$out/demo.db" -k 5 --html "$out/demo-find.html" --sheet "$out/demo-find.png"
step verify "$g/face_a1.png" "$g/face_a2.png"   # same person
step verify "$g/face_a1.png" "$g/face_b1.png"   # different people
step analyze "$g/group4.png"                     # age, gender, emotion, race of each face
printf '\nResult page: %s/demo-find.html, contact sheet: %s/demo-find.png\n' "$out" "$out" >&2
