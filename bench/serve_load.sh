#!/usr/bin/env bash
# serve_load.sh - load test and soak of `facekit serve` with wrk (not part of
# the test suite). Builds an index (LFW's first $GALLERY images when
# /work/shared/data/lfw is there, else the fixtures), starts a Release
# server on a free loopback port, and prints one JSON line per phase:
#   verify   wrk, $CONNS connections for $SECS s, POST /verify (two photos)
#   find     the same on POST /find
#   soak     $SOAK POST /represent requests, RSS sampled every 5 s: the
#            first sample after warm-up against the last and the largest
#   first    latency of the very first /represent against the next ones
# with requests/s, p50/p90/p99 latency, answers by status (503s are the
# queue saying "retry"; any other non-2xx is an error) and RSS.
#
#   bench/serve_load.sh [BUILD_DIR]       (default build; make build first)
#   CONNS=64 SECS=60 SOAK=100000 WORKERS=2 QUEUE=256 GALLERY=500 bench/serve_load.sh
# SOAK_MAX_S caps the soak's time (on a busy machine 100,000 requests can
# take hours); the soak line then says how many were answered.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
cli=$build/facekit
conns=${CONNS:-64} secs=${SECS:-60} soak=${SOAK:-100000} soak_max=${SOAK_MAX_S:-0}
workers=${WORKERS:-$(nproc)} queue=${QUEUE:-256} gallery=${GALLERY:-500}
fixtures=$src/tests/fixtures
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)" >&2; exit 1; }
[ -x "$cli" ] || { echo "$cli is missing: make build" >&2; exit 1; }

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# The gallery: PERSON/photo files, indexed with all cores.
lfw=/work/shared/data/lfw/lfw-deepfunneled
mkdir -p "$work/gallery"
if [ -d "$lfw" ]; then
  find "$lfw" -name '*.jpg' | sort >"$work/all"
  head -n "$gallery" "$work/all" | while read -r f; do
    d=$work/gallery/$(basename "$(dirname "$f")"); mkdir -p "$d"; cp "$f" "$d/"
  done
else
  for p in George_W_Bush:face_a1.png Laura_Bush:face_b1.png Jacques_Chirac:face_c1.png; do
    mkdir -p "$work/gallery/${p%%:*}"; cp "$fixtures/${p#*:}" "$work/gallery/${p%%:*}/"
  done
fi
"$cli" index "$work/gallery" --db "$work/bench.db" >"$work/index.json" 2>/dev/null
echo "{\"phase\":\"index\",\"result\":$(cat "$work/index.json")}"

"$cli" serve --db "$work/bench.db" --port 0 --workers "$workers" --queue "$queue" --quiet \
  --max-per-ip $((conns * 2)) >"$work/ready" 2>"$work/log" &
pid=$!
for _ in $(seq 1 600); do grep -q '"port"' "$work/ready" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$work/ready")
[ -n "$port" ] || { cat "$work/log" >&2; exit 1; }
base=http://127.0.0.1:$port
echo "{\"phase\":\"ready\",\"result\":$(cat "$work/ready")}"
rss() { awk '/VmRSS/ {print $2 * 1024}' "/proc/$pid/status"; }

# The multipart bodies wrk sends, written once.
mkbody() { # OUT FIELD=FILE...
  local out=$1; shift
  : >"$out"
  for fv in "$@"; do
    printf -- '--wrkboundary\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\nContent-Type: application/octet-stream\r\n\r\n' \
      "${fv%%=*}" "$(basename "${fv#*=}")" >>"$out"
    cat "${fv#*=}" >>"$out"
    printf '\r\n' >>"$out"
  done
  printf -- '--wrkboundary--\r\n' >>"$out"
}
mkbody "$work/verify.body" "img1=$fixtures/face_a1.png" "img2=$fixtures/face_a2.png"
mkbody "$work/find.body" "img=$fixtures/face_a2.png"
mkbody "$work/represent.body" "img=$fixtures/face_b1.png"
export BODY_TYPE="multipart/form-data; boundary=wrkboundary"

one() { curl -s -o /dev/null -w '%{time_total}\n' -H "Content-Type: $BODY_TYPE" --data-binary @"$work/represent.body" "$base/represent"; }
first=$(one)
for _ in 1 2 3 4 5; do one; done | sort -n | awk -v first="$first" 'NR == 3 {
  printf "{\"phase\":\"first\",\"first_ms\":%.1f,\"next_median_ms\":%.1f}\n", first * 1000, $1 * 1000}'

load() { # PHASE PATH BODY
  local before after out
  before=$(rss)
  out=$(BODY_FILE=$3 wrk -t2 -c"$conns" -d"${secs}s" --timeout 60s -s "$src/bench/wrk/post.lua" "$base$2" | tail -1)
  after=$(rss)
  echo "{\"phase\":\"$1\",\"connections\":$conns,\"workers\":$workers,\"rss_before\":$before,\"rss_after\":$after,\"wrk\":$out}"
}
load verify /verify "$work/verify.body"
load find /find "$work/find.body"

# The soak: wrk runs until the server has answered $SOAK /represent
# requests (counted in /metrics), RSS sampled every 5 s.
answered() { curl -s "$base/metrics" | awk -F' ' '/^facekit_requests_total\{route="\/represent"/ {n += $2} END {print n + 0}'; }
start=$(answered)
BODY_FILE=$work/represent.body wrk -t2 -c"$conns" -d10h --timeout 60s -s "$src/bench/wrk/post.lua" "$base/represent" \
  >"$work/soak.out" &
wpid=$!
: >"$work/rss"
t0=$(date +%s)
while [ $(($(answered) - start)) -lt "$soak" ]; do
  rss >>"$work/rss"
  sleep 5
  [ "$soak_max" -gt 0 ] && [ $(($(date +%s) - t0)) -ge "$soak_max" ] && break
done
kill -INT "$wpid"
wait "$wpid" || true
rss >>"$work/rss"
echo "{\"phase\":\"soak\",\"target\":$soak,\"answered\":$(($(answered) - start)),\"wrk\":$(tail -1 "$work/soak.out")}"
# RSS: the sample after a minute of warm-up against the last and the largest.
awk 'NR == 13 {first = $1} {last = $1; if ($1 > max) max = $1}
     END {if (!first) first = last
          printf "{\"phase\":\"soak_rss\",\"samples\":%d,\"after_warmup\":%d,\"last\":%d,\"max\":%d,\"growth_pct\":%.2f}\n",
          NR, first, last, max, 100 * (last - first) / first}' "$work/rss"
curl -s "$base/metrics" | grep -E '^facekit_(requests_total\{route="/(verify|find|represent)"|jobs_total)'
