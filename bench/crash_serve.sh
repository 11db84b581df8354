#!/usr/bin/env bash
# crash_serve.sh - crash consistency of `facekit serve` (issue 19): a mixed
# load of registers, deletes and finds while the server is killed with -9
# at a random moment, ROUNDS times; after each restart every acknowledged
# write must be there with its file and its thumbnail, and every
# acknowledged delete must have stuck.
#
#   bench/crash_serve.sh [ROUNDS [IMAGES_DIR]]      (20 rounds; tests/fixtures)
#   FK=build/facekit CLIENTS=4 bench/crash_serve.sh
#
# Each client owns three identities and runs one request at a time, writing
# a journal: "B op identity" before a request, "A op identity face status"
# after its answer. The expected state of an identity is decided by its
# acknowledged operations; one that was in flight at the kill may or may
# not have happened, so it leaves what it could have changed undecided
# until a later acknowledged operation decides it again. After each
# restart the script checks, for every identity:
#   - each face of an acknowledged register after the identity's last
#     delete (acknowledged or in flight): GET /faces/ID/image is 200 (the
#     file is there and makes a thumbnail) and its row names an existing
#     file;
#   - after an acknowledged delete that nothing followed: /identities/NAME
#     is 404 and the faces registered before it are gone;
# and that the data directory's upload files are exactly the image rows'
# (the restart's sweep removes files a kill left without a row). It prints
# the counts, and exits 1 on any violation.
set -uo pipefail
FK=${FK:-build/facekit}
ROUNDS=${1:-20}
IMAGES=${2:-tests/fixtures}
CLIENTS=${CLIENTS:-4}
work=$(mktemp -d /tmp/fk-crash-serve.XXXXXX)
db=$work/index.db data=$work/uploads
mapfile -t imgs < <(find "$IMAGES" -maxdepth 2 \( -name 'face_*.png' -o -name '*.jpg' \) | sort | head -40)
[ "${#imgs[@]}" -gt 0 ] || { echo "crash_serve: no images in $IMAGES" >&2; exit 2; }
pid=

cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# Starts the server and waits for its ready line (its port).
start() {
  : >"$work/ready"
  "$FK" serve --db "$db" --data-dir "$data" --workers 2 --port 0 --quiet >"$work/ready" 2>>"$work/serve.log" &
  pid=$!
  for _ in $(seq 6000); do
    port=$(jq -r '.port // empty' "$work/ready" 2>/dev/null)
    [ -n "$port" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "crash_serve: the server did not start:" >&2
  tail -5 "$work/serve.log" >&2
  exit 1
}

# One client: register (half), delete (a quarter), find (a quarter) until
# the server goes away.
client() {
  local c=$1 j=$work/journal.$1 url="http://127.0.0.1:$port" out code ident img face
  RANDOM=$((c * 7919 + $2))
  while :; do
    ident="c${c}_$((RANDOM % 3))"
    img=${imgs[$((RANDOM % ${#imgs[@]}))]}
    case $((RANDOM % 4)) in
      0 | 1)
        echo "B reg $ident" >>"$j"
        out=$(curl -s -m 60 -w '\n%{http_code}' -F "img=@$img" -F "identity=$ident" "$url/register") || return 0
        code=${out##*$'\n'}
        face=$(head -n -1 <<<"$out" | jq -r '.faces[0].face_id // 0' 2>/dev/null)
        echo "A reg $ident ${face:-0} $code" >>"$j"
        ;;
      2)
        echo "B del $ident" >>"$j"
        code=$(curl -s -m 60 -o /dev/null -w '%{http_code}' -X DELETE "$url/identities/$ident") || return 0
        echo "A del $ident 0 $code" >>"$j"
        ;;
      3)
        out=$(curl -s -m 60 -w '\n%{http_code}' -F "img=@$img" "$url/find") || return 0
        code=${out##*$'\n'}
        [ "$code" = 200 ] || [ "$code" = 422 ] || echo "F find $ident 0 $code $(head -c 200 <<<"$out" | tr '\n' ' ')" >>"$j"
        ;;
    esac
  done
}

lost=0 back=0 files_bad=0 badcodes=0 swept=0 checked_w=0 checked_d=0
faces_check() { # face -> 0 when its crop is served and its row's file exists
  local code file
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/faces/$1/image")
  file=$(sqlite3 "$db" "SELECT i.path FROM faces f JOIN images i ON i.id = f.image_id WHERE f.id = $1")
  [ "$code" = 200 ] && [ -n "$file" ] && [ -f "$file" ]
}

# The journal of identity $1 of client $2 as lines "A op face code" or
# "I op" (in flight at a kill), in order.
events() {
  awk -v id="$1" '
    $1 == "B" && $3 == id { if (open) print "I", op; open = 1; op = $2; next }
    $1 == "A" && $3 == id { open = 0; print "A", $2, $4, $5; next }
    END { if (open) print "I", op }' "$work/journal.$2" 2>/dev/null
}

verify() {
  local c k ident kind op face code
  w=0 d=0 present=0 absent=0
  for c in $(seq 0 $((CLIENTS - 1))); do
    for k in 0 1 2; do
      ident="c${c}_$k"
      local must=() gone=() last=none
      while read -r kind op face code; do
        if [ "$kind" = I ]; then
          # in flight: a delete may have removed everything before it, a
          # register may have added a face; neither is decided
          if [ "$op" = del ]; then must=(); gone=(); fi
          last=undecided
          continue
        fi
        case "$op:$code" in
          reg:201 | reg:200) must+=("$face"); last=reg ;;
          reg:422) ;; # no face in that photo: nothing stored
          del:200 | del:404) gone+=("${must[@]}"); must=(); last=del ;;
          *)
            [ "$code" = 503 ] && continue
            badcodes=$((badcodes + 1))
            echo "  unexpected answer: $op $ident: $code" >&2
            ;;
        esac
      done < <(events "$ident" "$c")
      for face in "${must[@]}"; do
        w=$((w + 1))
        if faces_check "$face"; then present=$((present + 1)); else
          lost=$((lost + 1))
          echo "  LOST: face $face of $ident (acknowledged register)" >&2
        fi
      done
      if [ "$last" = del ]; then
        d=$((d + 1))
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/identities/$ident/faces")
        local left=0
        for face in "${gone[@]}"; do
          [ "$(sqlite3 "$db" "SELECT count(*) FROM faces WHERE id = $face")" = 0 ] || left=1
        done
        if [ "$code" = 404 ] && [ "$left" = 0 ]; then absent=$((absent + 1)); else
          back=$((back + 1))
          echo "  BACK: $ident after an acknowledged delete (GET $code)" >&2
        fi
      fi
    done
  done
  # upload files == image rows
  local files rows
  files=$(cd "$data" && find . -mindepth 2 -type f ! -name '.*' | sed 's|^\./||' | sort)
  rows=$(sqlite3 "$db" "SELECT path FROM images" | sed "s|^$(realpath "$data")/||" | sort)
  if [ "$files" != "$rows" ]; then
    files_bad=$((files_bad + 1))
    echo "  FILES != ROWS:" >&2
    diff <(echo "$files") <(echo "$rows") >&2
  fi
}

start
t0=$(date +%s)
for round in $(seq "$ROUNDS"); do
  for c in $(seq 0 $((CLIENTS - 1))); do client "$c" "$round" & done
  # the kill comes LOAD_MIN to LOAD_MIN + 3 s into the load, at a random moment
  sleep "$((${LOAD_MIN:-2} + RANDOM % 3)).$((RANDOM % 1000))"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null
  wait # the clients, which stop at the refused connection
  pid=
  start
  n=$(grep 'removed [0-9]* files' "$work/serve.log" | tail -1 | sed 's/.*removed \([0-9]*\) files.*/\1/')
  [ -n "$n" ] && [ "$(grep -c 'removed [0-9]* files' "$work/serve.log")" -gt "${nsweeps:-0}" ] && swept=$((swept + n))
  nsweeps=$(grep -c 'removed [0-9]* files' "$work/serve.log")
  verify
  checked_w=$((checked_w + w)) checked_d=$((checked_d + d))
  printf 'round %2d: %3d acknowledged writes to hold: %3d present with file and thumbnail; %2d acknowledged deletes to hold: %2d absent\n' \
    "$round" "$w" "$present" "$d" "$absent"
done
answered=$(cat "$work"/journal.* | grep -c '^A')
regs=$(cat "$work"/journal.* | grep -c '^A reg .* 20[01]$')
dels=$(cat "$work"/journal.* | grep -c '^A del .* 200$')
begun=$(cat "$work"/journal.* | grep -c '^B')
badcodes=$((badcodes + $(cat "$work"/journal.* | grep -c '^F')))
grep -h '^F' "$work"/journal.* | sed 's/^F find [^ ]* 0 /  unexpected answer to a find: /' >&2
echo "crash_serve: $ROUNDS kills -9 in $(($(date +%s) - t0)) s; $answered writes answered ($regs registers and $dels deletes acknowledged)," \
  "$((begun - answered)) in flight at a kill; $swept upload files without a row swept at the restarts"
echo "crash_serve: checked after the restarts: $checked_w acknowledged writes, $checked_d acknowledged deletes;" \
  "lost $lost, came back $back, files != rows $files_bad times, unexpected answers $badcodes"
[ "$lost" = 0 ] && [ "$back" = 0 ] && [ "$files_bad" = 0 ] && [ "$badcodes" = 0 ]
