#!/usr/bin/env bash
# crash_pg_index.sh - crash consistency of `facekit index` into PostgreSQL
# (issue 19): the database server itself is killed with -9 (the postmaster
# and every one of its processes, as a crash or the OOM killer would) at a
# random moment of an index run, and started again (crash recovery); then
# index is run again until nothing is left to do. Every image must end up
# indexed exactly once, with the faces a run without kills stores.
#
#   bench/crash_pg_index.sh [ROUNDS [IMAGES_DIR]]    (20 rounds; tests/fixtures)
#   FK=build/facekit N=60 bench/crash_pg_index.sh 20 /data/lfw
#
# The server is tests/helpers/pg_server.sh's private one, made durable for
# this (fsync, synchronous_commit and full_page_writes on: the helper's
# test settings would lose acknowledged commits in a crash). Each round
# indexes N images (the first N in name order under IMAGES_DIR, copied
# into a fresh folder) into a fresh database with --lease-s 3, so that the
# claims of a run that died expire soon, and kills the server once the run
# has committed a random number of them (0 to N - 1); rounds go on until
# ROUNDS kills came while index ran. A round is right when the images
# table holds each file once (count = distinct paths = files) and every
# (path, status, faces) matches the reference run's, no face is orphaned,
# and no claim is left. Prints the counts; exits 1 on any wrong round.
set -uo pipefail
FK=${FK:-build/facekit}
ROUNDS=${1:-20}
SRC=${2:-tests/fixtures}
N=${N:-60}
PGSH=${PGSH:-tests/helpers/pg_server.sh}
BIN=${FK_PG_BIN:-/usr/lib/postgresql/15/bin}
work=$(mktemp -d /tmp/fk-crash-pg.XXXXXX)
pg=/tmp/fkcpg-$$ # short: the server's socket lives there (pg_server.sh makes it)
cleanup() { bash "$PGSH" stop "$pg" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi; }

# the photos: the first N, each under its person's folder
mkdir -p "$work/photos"
find "$SRC" -maxdepth 2 -type f \( -name '*.jpg' -o -name '*.png' \) | sort | head -n "$N" |
  while read -r f; do
    d=$work/photos/$(basename "$(dirname "$f")")
    mkdir -p "$d" && cp "$f" "$d/"
  done
files=$(find "$work/photos" -type f | wc -l)
[ "$files" -gt 0 ] || { echo "crash_pg_index: no images under $SRC" >&2; exit 2; }

uri=$(bash "$PGSH" start "$pg" | head -1) || exit 1
printf 'fsync = on\nsynchronous_commit = on\nfull_page_writes = on\n' >>"$pg/data/postgresql.conf"
bash "$PGSH" restart "$pg" || exit 1
db_uri() { echo "${uri/\/postgres?/\/$1?}"; }
fresh() { psql "$uri" -qc "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null 2>&1; }
index() { "$FK" index "$work/photos" --db "$1" --jobs 2 --lease-s 3 --quiet; }
state() { # path, status, faces of every image, in path order
  psql "$1" -Atc "SELECT i.path, i.status, (SELECT count(*) FROM faces f WHERE f.image_id = i.id)
                  FROM images i ORDER BY i.path"
}

fresh fk_ref
t=$(date +%s.%N)
index "$(db_uri fk_ref)" >/dev/null || { echo "crash_pg_index: the reference run failed" >&2; exit 1; }
ref_s=$(echo "$(date +%s.%N) - $t" | bc)
ref=$(state "$(db_uri fk_ref)")
ref_faces=$(psql "$(db_uri fk_ref)" -Atc "SELECT count(*) FROM faces")
echo "crash_pg_index: $files images, reference run $ref_s s, $ref_faces faces"

# Kills the postmaster and all its processes at once.
crash() {
  local pm
  pm=$(head -1 "$pg/data/postmaster.pid")
  kill -9 "$pm" $(pgrep -P "$pm") 2>/dev/null
  while kill -0 "$pm" 2>/dev/null; do sleep 0.05; done
}

good=0 bad=0 died=0 survived=0 midrun=0 reruns=0 dup=0 missing=0 differ=0
t0=$(date +%s)
round=0
while [ "$midrun" -lt "$ROUNDS" ] && [ "$round" -lt $((2 * ROUNDS)) ]; do # ROUNDS kills while index runs
  round=$((round + 1))
  fresh fk_crash
  d=$(db_uri fk_crash)
  index "$d" >"$work/out" 2>"$work/err" &
  ix=$!
  # a random moment of the run: once it has committed `at` images (0 to
  # all but one), or at a random 0-100% of the reference run's time for 0
  at=$((RANDOM % files))
  if [ "$at" = 0 ]; then sleep "$(echo "scale=3; $ref_s * $((RANDOM % 100)) / 100" | bc)"; fi
  while kill -0 "$ix" 2>/dev/null &&
    [ "$(psql "$d" -Atc "SELECT count(*) FROM images" 2>/dev/null || echo 0)" -lt "$at" ]; do
    sleep 0.02
  done
  done_before=$(psql "$d" -Atc "SELECT count(*) FROM images" 2>/dev/null || echo '?')
  mid=0
  kill -0 "$ix" 2>/dev/null && mid=1
  crash
  as_owner "$BIN/pg_ctl" -D "$pg/data" -l "$pg/log" -w -t 60 -s start 2>/dev/null || { echo "crash_pg_index: no restart" >&2; exit 1; }
  wait "$ix"
  rc=$?
  if [ "$rc" = 0 ]; then survived=$((survived + 1)); else died=$((died + 1)); fi
  midrun=$((midrun + mid))
  # run again until the images are all there (the dead run's claims expire
  # after their 3 s lease: wait for that rather than for a time)
  n=0
  for k in 1 2 3 4 5; do
    index "$d" >/dev/null 2>>"$work/err.rerun"
    n=$k
    [ "$(psql "$d" -Atc "SELECT count(*) FROM images")" -ge "$files" ] && break
    while [ "$(psql "$d" -Atc "SELECT count(*) FROM claims WHERE expires > extract(epoch FROM now())")" != 0 ]; do
      sleep 0.2
    done
  done
  reruns=$((reruns + n))
  read -r cnt distinct orphans claims < <(psql "$d" -AtF' ' -c "SELECT count(*), count(DISTINCT path),
    (SELECT count(*) FROM faces f WHERE NOT EXISTS (SELECT 1 FROM images i WHERE i.id = f.image_id)),
    (SELECT count(*) FROM claims) FROM images")
  now=$(state "$d")
  ok=1
  [ "$cnt" = "$distinct" ] || { ok=0; dup=$((dup + cnt - distinct)); }
  [ "$distinct" -lt "$files" ] && { ok=0; missing=$((missing + files - distinct)); }
  [ "$now" = "$ref" ] || { ok=0; differ=$((differ + 1)); diff <(echo "$ref") <(echo "$now") | head -5 >&2; }
  [ "$orphans" = 0 ] && [ "$claims" = 0 ] || ok=0
  if [ "$ok" = 1 ]; then good=$((good + 1)); else bad=$((bad + 1)); fi
  printf 'round %2d: killed %s, %s of %d images committed; the run exited %d (%s); %d rerun(s): %d rows, %d distinct, %d orphaned faces, %d claims: %s\n' \
    "$round" "$([ $mid = 1 ] && echo 'mid-run' || echo 'after the run ended')" "$done_before" "$files" "$rc" "$(tail -c 120 "$work/err" | tr '\n' ' ' | sed 's/  */ /g')" "$n" \
    "$cnt" "$distinct" "$orphans" "$claims" "$([ $ok = 1 ] && echo right || echo WRONG)"
done
echo "crash_pg_index: $round kills -9 of PostgreSQL ($midrun while index ran) in $(($(date +%s) - t0)) s;" \
  "$died runs failed at the kill, $survived finished; $reruns reruns; $good rounds right, $bad wrong ($dup duplicate rows, $missing missing" \
  "images, $differ rounds unlike the reference)"
[ "$bad" = 0 ]
