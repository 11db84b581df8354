// page_test.mjs - the web page of `facekit serve` in Debian's Chromium,
// headless, through playwright-core (which never downloads a browser here:
// it is pointed at /usr/bin/chromium). Run by tests/test_server_browser.sh:
//   node page_test.mjs find BASE_URL PHOTO WANT_IDENTITY SCREENSHOT
//     drops PHOTO on the Find tab, waits for the thumbnails, checks that the
//     first match is WANT_IDENTITY and that its thumbnail loaded, verifies
//     PHOTO against itself on the Verify tab, saves a screenshot;
//   node page_test.mjs key BASE_URL KEY
//     loads a page whose server needs a key, checks that it asks for one,
//     gives it, and checks that the page then reads the server's status.
// Exits 1 with a message on the first failed check.
import { chromium } from "playwright-core";
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
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
  viewport: { width: 1100, height: 900 },
});
try {
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error" && !/status of 40[14]/.test(m.text())) errors.push(m.text()); });
  await page.goto(base + "/", { waitUntil: "load" });
  if (mode === "find") {
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
  if (errors.length) fail("errors in the page: " + errors.join("; "));
} catch (e) {
  fail(String(e && e.stack || e));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
