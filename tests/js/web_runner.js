// Drives the page of `keras-musicvae web` in headless Chromium (tests/cli/test_web.py).
//
//   node web_runner.js JOB.json RESULT.json
//
// JOB.json: {"url", "midiA", "midiB", "downloadDir", "screenshot", "chromium", "steps"}.
// The runner loads the page, samples, interpolates between the two MIDI
// files, walks the step slider with the keyboard, plays, downloads the
// shown step, and writes what it saw to RESULT.json (the Python test checks
// it). Playwright's own browsers are not used: `chromium` is the path of the
// system's Chromium (Debian's /usr/bin/chromium).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const {chromium} = require('playwright-core');

// Without the network switches, a closed network makes Chromium stall on
// its background services.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];
const WAIT_MS = 60000;

function rollState(page) {
  return page.evaluate(() => {
    const roll = document.getElementById('roll');
    return {rects: roll.querySelectorAll('rect').length, svg: roll.innerHTML};
  });
}

// Waits until the page is idle ("ready") or failed ("error"); throws on "error".
async function waitIdle(page, what) {
  await page.waitForFunction(() => {
    const state = document.getElementById('status').dataset.state;
    return state === 'ready' || state === 'error';
  }, null, {timeout: WAIT_MS});
  const status = await page.evaluate(() => {
    const element = document.getElementById('status');
    return {state: element.dataset.state, text: element.textContent};
  });
  if (status.state !== 'ready') {
    throw new Error(`${what}: the page says "${status.text}"`);
  }
}

async function run(job) {
  const result = {pageErrors: [], consoleErrors: [], notFound: []};
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'keras-musicvae-web-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: job.chromium,
    headless: true,
    args: CHROMIUM_ARGS,
    acceptDownloads: true,
    viewport: {width: 1100, height: 900},
  });
  try {
    const page = context.pages()[0] || await context.newPage();
    page.on('pageerror', (error) => result.pageErrors.push(String(error)));
    page.on('response', (response) => {
      if (response.status() === 404) {
        result.notFound.push(response.url());
      }
    });
    page.on('console', (message) => {
      if (message.type() === 'error') {
        result.consoleErrors.push(message.text());
      }
    });

    const started = Date.now();
    await page.goto(job.url);
    await waitIdle(page, 'loading the model');
    result.loadSeconds = (Date.now() - started) / 1000;
    result.modelInfo = await page.textContent('#model-info');

    await page.click('#sample');
    await waitIdle(page, 'sampling');
    result.sample = await rollState(page);
    result.sampleCaption = await page.textContent('#caption');
    if (job.screenshot) {
      await page.screenshot({path: job.screenshot, fullPage: true});
    }

    await page.setInputFiles('#midi-a', job.midiA);
    await page.setInputFiles('#midi-b', job.midiB);
    await page.fill('#steps', String(job.steps));
    await page.click('#interpolate');
    await waitIdle(page, 'interpolating');
    result.sliderMax = Number(await page.getAttribute('#step', 'max'));
    result.steps = [await rollState(page)];
    await page.focus('#step');
    for (let i = 1; i <= result.sliderMax; i++) {
      await page.keyboard.press('ArrowRight');
      result.steps.push(await rollState(page));
    }
    result.stepValue = await page.textContent('#step-value');
    result.stepCaption = await page.textContent('#caption');

    await page.click('#play');
    result.playLabel = await page.textContent('#play');
    await page.waitForTimeout(300);
    await page.click('#play');
    result.stoppedLabel = await page.textContent('#play');

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    result.downloadName = download.suggestedFilename();
    result.download = path.join(job.downloadDir, result.downloadName);
    await download.saveAs(result.download);
    result.totalSeconds = (Date.now() - started) / 1000;
  } finally {
    await context.close();
    fs.rmSync(profile, {recursive: true, force: true});
  }
  return result;
}

async function main() {
  const [jobPath, resultPath] = process.argv.slice(2);
  if (!jobPath || !resultPath) {
    throw new Error('usage: node web_runner.js JOB.json RESULT.json');
  }
  const job = JSON.parse(fs.readFileSync(jobPath, 'utf8'));
  const result = await run(job);
  fs.writeFileSync(resultPath, JSON.stringify(result, null, 1));
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
});
