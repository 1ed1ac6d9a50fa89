// Drive headless Chromium over the example page: load the model, classify rows, print the labels as JSON.
//   node selftest.mjs URL ROWS.json        (CHROMIUM=/path/to/chromium to override /usr/bin/chromium)
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const [url, rowsFile] = process.argv.slice(2);
const rows = JSON.parse(readFileSync(rowsFile, "utf8"));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const errors = [];
try {
  const page = await browser.newPage();
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await page.evaluate(() => window.edgedistillReady);
  const labels = await page.evaluate((r) => window.classifyRows(r), rows);
  const status = await page.textContent("#status");
  console.log(JSON.stringify({ labels, status, errors }));
} finally {
  await browser.close();
}
