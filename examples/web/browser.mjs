// Headless Chromium (Debian's, via playwright-core) opened on a page, with its console errors collected.
// Shared by selftest.mjs (the example's test) and measure.mjs (edgedistill profile --device browser-wasm).
import { chromium } from "playwright-core";

export async function openPage(url) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
  });
  const errors = [];
  const page = await browser.newPage();
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  return { browser, page, errors };
}
