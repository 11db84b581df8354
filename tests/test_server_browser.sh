#!/usr/bin/env bash
# test_server_browser.sh - the web page of `facekit serve` in a real browser:
# Debian's headless Chromium driven by playwright-core (tests/browser/). A
# server on a free loopback port gets three people registered over curl; the
# page, given another photo of one of them, must show that person first,
# with a thumbnail, and a screenshot is kept in the build tree (never in the
# repository). A second server with API keys must make the page ask for a
# key. Then the key-less server against other web pages (issue 19): a page
# of another origin, served on another loopback port, posts /register with
# a no-cors fetch and with plain HTML forms, and none of the identities
# exists afterwards; a page reached under a rebound name gets 421. Skips
# (exit 77) only when Chromium is not installed.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
fixtures=${FK_FIXTURES:-$src/tests/fixtures}
cli=${FK_CLI:-facekit}
build=$(pwd) # ctest runs tests in the build tree
chromium=${CHROMIUM:-$(command -v chromium || true)}
if [ -z "$chromium" ]; then
  echo "SKIP: Chromium is not installed (tools/deps.sh installs Debian's chromium when the archive has it)"
  exit 77
fi
export CHROMIUM=$chromium

# playwright-core from npm, pinned by tests/browser/package-lock.json, into
# the build tree (once).
node_dir=$build/browser-test
if ! cmp -s "$src/tests/browser/package-lock.json" "$node_dir/package-lock.json" 2>/dev/null ||
   [ ! -d "$node_dir/node_modules/playwright-core" ]; then
  rm -rf "$node_dir" && mkdir -p "$node_dir"
  cp "$src/tests/browser/package.json" "$src/tests/browser/package-lock.json" "$node_dir/"
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi
cp "$src/tests/browser/page_test.mjs" "$node_dir/"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Starts `facekit serve ARGS` on a free port; sets $port.
start() {
  local name=$1; shift
  "$cli" serve --port 0 --quiet "$@" >"$work/$name.ready" 2>"$work/$name.log" &
  pids+=($!)
  for _ in $(seq 1 3000); do
    if grep -q '"port"' "$work/$name.ready" 2>/dev/null; then break; fi
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then cat "$work/$name.log" >&2; echo "FAIL: $name did not start" >&2; exit 1; fi
    sleep 0.1
  done
  port=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$work/$name.ready")
  [ -n "$port" ] || { cat "$work/$name.log" >&2; echo "FAIL: $name did not start" >&2; exit 1; }
}

start main --db "$work/index.db" --workers 2
base=http://127.0.0.1:$port
for who in George_W_Bush:face_a1.png Laura_Bush:face_b1.png Jacques_Chirac:face_c1.png; do
  code=$(curl -s -o "$work/reg.json" -w '%{http_code}' -F "img=@$fixtures/${who#*:}" -F "identity=${who%%:*}" "$base/register")
  [ "$code" = 201 ] || { cat "$work/reg.json" >&2; echo "FAIL: register ${who%%:*}: $code" >&2; exit 1; }
done
shot=$build/browser-find.png
node "$node_dir/page_test.mjs" find "$base" "$fixtures/face_a2.png" George_W_Bush "$shot"

# CSRF from a page elsewhere, and DNS rebinding
node "$node_dir/page_test.mjs" csrf "$base" "$fixtures/face_a1.png"
for who in csrf_from_browser csrf_form csrf_query; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$base/identities/$who/faces")
  [ "$code" = 404 ] || { echo "FAIL: a page of another origin created the identity $who ($code)" >&2; exit 1; }
done
node "$node_dir/page_test.mjs" rebind "$port"

printf 'browser-test-read-key-0123 read\n' >"$work/keys"
chmod 600 "$work/keys"
start keyed --keys "$work/keys" --workers 1
node "$node_dir/page_test.mjs" key "http://127.0.0.1:$port" browser-test-read-key-0123
echo "browser test passed; screenshot: $shot"
