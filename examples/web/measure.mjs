// Open a measuring page in headless Chromium and print what it measured as JSON (used by `edgedistill profile`).
//   node measure.mjs URL TIMEOUT_SECONDS        (CHROMIUM=/path/to/chromium to override /usr/bin/chromium)
import { chromium } from "playwright-core";

const [url, timeoutS] = process.argv.slice(2);
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
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: Number(timeoutS) * 1000, polling: 100 });
  const result = await page.evaluate(() => window.__result);
  result.browser_version = browser.version();
  result.console_errors = errors;
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
