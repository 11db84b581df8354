// page_test.mjs - the web page of `facekit serve` in Debian's Chromium,
// headless, through playwright-core (which never downloads a browser here:
// it is pointed at /usr/bin/chromium). Run by tests/test_server_browser.sh:
//   node page_test.mjs find BASE_URL PHOTO WANT_IDENTITY SCREENSHOT
//     drops PHOTO on the Find tab, waits for the thumbnails, checks that the
//     first match is WANT_IDENTITY and that its thumbnail loaded, verifies
//     PHOTO against itself on the Verify tab, saves a screenshot;
//   node page_test.mjs key BASE_URL KEY
//     loads a page whose server needs a key, checks that it asks for one,
//     gives it, and checks that the page then reads the server's status;
//   node page_test.mjs csrf BASE_URL PHOTO
//     serves a page of another origin (a second HTTP server, on another
//     loopback port) that, as a page the user visits would, posts PHOTO to
//     BASE_URL/register with fetch in no-cors mode, with a plain HTML form
//     (urlencoded fields) and with a form whose action carries the
//     parameters in its query string, and tries to read /identities;
//     checks that every register was refused (403 or 400) and nothing was
//     read (the script names the identities; the shell then checks that
//     none exists);
//   node page_test.mjs rebind PORT
//     opens http://rebind.evil.example:PORT/ and /identities, the name
//     mapped to 127.0.0.1 (as DNS rebinding does), and checks both are 421.
// Exits 1 with a message on the first failed check.
import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [mode, base, ...rest] = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), "fk-chromium-"));
const fail = (msg) => { console.error("page_test: " + msg); process.exitCode = 1; };

// Headless Chromium as root needs --no-sandbox; the rest keeps it from
// reaching the network on its own.
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         "--host-resolver-rules=MAP rebind.evil.example 127.0.0.1"],
  viewport: { width: 1100, height: 900 },
});
try {
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error" && !/status of 40[14]/.test(m.text())) errors.push(m.text()); });
  if (mode !== "csrf" && mode !== "rebind") await page.goto(base + "/", { waitUntil: "load" });
  if (mode === "csrf") {
    const [photo] = rest;
    const b64 = readFileSync(photo).toString("base64");
    const html = `<!doctype html><html><head><title>evil</title></head><body>
<iframe name="sink1"></iframe><iframe name="sink2"></iframe>
<form id="f1" method="POST" action="${base}/register" target="sink1">
<input name="identity" value="csrf_form"><input name="img" value="${b64}"></form>
<form id="f2" method="POST" target="sink2"></form>
<script>
const base = ${JSON.stringify(base)}, b64 = ${JSON.stringify(b64)};
const loaded = (name) => new Promise((res) => document.getElementsByName(name)[0].addEventListener("load", res, { once: true }));
(async () => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const fd = new FormData();
  fd.append("identity", "csrf_from_browser");
  fd.append("img", new Blob([bytes], { type: "image/png" }), "a.png");
  try { await fetch(base + "/register", { method: "POST", mode: "no-cors", body: fd }); } catch (e) {}
  let read = "blocked";
  try { const r = await fetch(base + "/identities"); read = "read " + r.status + " " + (await r.text()).slice(0, 80); } catch (e) {}
  window.readResult = read;
  let p = loaded("sink1");
  document.getElementById("f1").submit();
  await p;
  const f2 = document.getElementById("f2");
  f2.action = base + "/register?identity=csrf_query&img=" + encodeURIComponent(b64);
  p = loaded("sink2");
  f2.submit();
  await p;
  document.title = "done";
})();
</script></body></html>`;
    // the other origin: a second, tiny HTTP server on another loopback port
    const evil = createServer((req, res) => {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      res.end(html);
    });
    await new Promise((res) => evil.listen(0, "127.0.0.1", res));
    const evilUrl = `http://127.0.0.1:${evil.address().port}/`;
    const registers = [];
    page.on("response", (r) => { if (r.url().startsWith(base + "/register")) registers.push(r.status()); });
    try {
      await page.goto(evilUrl, { waitUntil: "load" });
      await page.waitForFunction(() => document.title === "done", null, { timeout: 60000 });
      const read = await page.evaluate(() => window.readResult);
      if (read !== "blocked") fail(`the page on ${evilUrl} read /identities: ${read}`);
      if (registers.length !== 3) fail(`saw ${registers.length} answers to /register, want 3 (${registers.join(", ")})`);
      const taken = registers.filter((s) => s !== 403 && s !== 400);
      if (taken.length) fail(`a register from ${evilUrl} was answered ${registers.join(", ")}, want 403 or 400 each`);
      console.log(`csrf: the page on ${evilUrl} got ${registers.join(", ")} for its 3 registers; its read was ${read}`);
    } finally {
      evil.close();
    }
  } else if (mode === "rebind") {
    for (const path of ["/", "/identities"]) {
      const url = `http://rebind.evil.example:${base}${path}`;
      const r = await page.goto(url, { waitUntil: "load" });
      if (!r || r.status() !== 421) fail(`${url} answered ${r ? r.status() : "nothing"}, want 421`);
      else console.log(`rebind: ${url} is 421`);
    }
  } else if (mode === "find") {
    const [photo, want, shot] = rest;
    await page.waitForFunction(() => /faces of/.test(document.getElementById("status").textContent), null, { timeout: 60000 });
    await page.setInputFiles("#find-file", photo);
    await page.waitForSelector("#find-results .match .identity", { timeout: 120000 });
    const names = await page.$$eval("#find-results .match .identity", (els) => els.map((e) => e.textContent));
    if (names[0] !== want) fail(`first match is ${names[0]}, want ${want} (all: ${names.join(", ")})`);
    // the first thumbnail came from /faces/{id}/image
    await page.waitForFunction(() => {
      const img = document.querySelector("#find-results .match img");
      return img && img.complete && img.naturalWidth === 160;
    }, null, { timeout: 60000 });
    const same = await page.$eval("#find-results .match .meta:last-child", (e) => e.textContent);
    if (same !== "same person") fail(`the first match says "${same}"`);
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`find: ${names.length} matches, first ${names[0]}; screenshot ${shot}`);
    await page.click('nav button[data-tab="verify"]');
    await page.setInputFiles("#verify-file1", photo);
    await page.setInputFiles("#verify-file2", photo);
    await page.waitForSelector("#verify-result .verdict", { timeout: 120000 });
    const verdict = await page.$eval("#verify-result .verdict", (e) => e.textContent);
    if (verdict !== "Same person") fail(`verify says "${verdict}"`);
  } else if (mode === "key") {
    const [key] = rest;
    await page.waitForSelector("#keybox.show", { timeout: 60000 });
    await page.fill("#key", key);
    await page.click("#keyform button");
    await page.waitForFunction(() => /no index served/.test(document.getElementById("status").textContent), null, { timeout: 60000 });
    const shown = await page.$eval("#keybox", (e) => e.classList.contains("show"));
    if (shown) fail("the key prompt stayed open after a good key");
    console.log("key: asked for a key, and used it");
  } else {
    fail("unknown mode " + mode);
  }
  // (the other origin's page is meant to see its requests fail)
  if (errors.length && mode !== "csrf" && mode !== "rebind") fail("errors in the page: " + errors.join("; "));
} catch (e) {
  fail(String(e && e.stack || e));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
