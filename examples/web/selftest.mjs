// Drive headless Chromium over the example page: load the model, classify rows, print the labels as JSON.
//   node selftest.mjs URL ROWS.json        (CHROMIUM=/path/to/chromium to override /usr/bin/chromium)
import { readFileSync } from "node:fs";
import { openPage } from "./browser.mjs";

const [url, rowsFile] = process.argv.slice(2);
const rows = JSON.parse(readFileSync(rowsFile, "utf8"));
const { browser, page, errors } = await openPage(url);
try {
  await page.evaluate(() => window.edgedistillReady);
  const labels = await page.evaluate((r) => window.classifyRows(r), rows);
  const status = await page.textContent("#status");
  console.log(JSON.stringify({ labels, status, errors }));
} finally {
  await browser.close();
}
