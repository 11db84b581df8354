#!/usr/bin/env bash
# pg_index.sh - indexing one folder into PostgreSQL, one process against
# two: prints the wall seconds of
#   A  1 process  --jobs 1
#   B  1 process  --jobs 2
#   C  2 processes --jobs 1 --shard 0/2 and 1/2
#   D  2 processes --jobs 1 on the same files (claims only)
# each into a fresh database, and each database's image and face counts.
#   bench/pg_index.sh SERVER_URI DIR [facekit options...]
# SERVER_URI names the server's "postgres" database (it makes and drops
# databases fk_bench_a..d there), e.g. the first line pg_server.sh prints.
set -euo pipefail
FK=${FK:-build/facekit}
uri=$1 dir=$2
shift 2
opt=("$@" --quiet)
db() {
  psql "$uri" -qc "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null 2>&1
  echo "${uri/\/postgres/\/$1}"
}
secs() { echo "$(date +%s.%N) - $1" | bc; }
A=$(db fk_bench_a); t=$(date +%s.%N)
$FK index "$dir" --db "$A" --jobs 1 "${opt[@]}" >/dev/null; echo "A 1 process --jobs 1: $(secs "$t") s"
B=$(db fk_bench_b); t=$(date +%s.%N)
$FK index "$dir" --db "$B" --jobs 2 "${opt[@]}" >/dev/null; echo "B 1 process --jobs 2: $(secs "$t") s"
C=$(db fk_bench_c); t=$(date +%s.%N)
$FK index "$dir" --db "$C" --jobs 1 --shard 0/2 "${opt[@]}" >/dev/null &
$FK index "$dir" --db "$C" --jobs 1 --shard 1/2 "${opt[@]}" >/dev/null
wait; echo "C 2 processes --jobs 1 --shard: $(secs "$t") s"
D=$(db fk_bench_d); t=$(date +%s.%N)
$FK index "$dir" --db "$D" --jobs 1 "${opt[@]}" >/dev/null &
$FK index "$dir" --db "$D" --jobs 1 "${opt[@]}" >/dev/null
wait; echo "D 2 processes --jobs 1 (claims): $(secs "$t") s"
for d in a b c d; do
  echo "$d: images, distinct paths, faces: $(psql "${uri/\/postgres/\/fk_bench_$d}" -Atc \
    "SELECT count(*), count(DISTINCT path), (SELECT count(*) FROM faces) FROM images")"
done
