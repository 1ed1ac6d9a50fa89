// Open a measuring page in headless Chromium and print what it measured as JSON (used by `edgedistill profile`).
//   node measure.mjs URL TIMEOUT_SECONDS        (CHROMIUM=/path/to/chromium to override /usr/bin/chromium)
import { openPage } from "./browser.mjs";

const [url, timeoutS] = process.argv.slice(2);
const { browser, page, errors } = await openPage(url);
try {
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: Number(timeoutS) * 1000, polling: 100 });
  const result = await page.evaluate(() => window.__result);
  result.browser_version = browser.version();
  result.console_errors = errors;
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
