// What every group of browser checks shares: the JSON config that
// tests/it/it_browser.c writes (ports, certificates, where screenshots go,
// chromium's path), one Chromium for the group, a person per browser
// context, screenshots checked for ink and expected text, waiting for what
// arrives in its own time, and the group's ending (exit 0 when every check
// held, else 1 naming it, with what each open page showed).
//
//   const t = await start();            // reads argv: GROUP CONFIG.json
//   await t.run({ journey, security }); // runs the function named GROUP
import { createRequire } from 'node:module';
import { readFileSync, mkdirSync } from 'node:fs';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

// A result from above may take the forwarder's rounds on a busy machine.
export const WAIT_MS = 90000;

export function fail(msg) {
  throw new Error(msg);
}

export async function start() {
  const [group, configPath] = process.argv.slice(2);
  const cfg = JSON.parse(readFileSync(configPath, 'utf8'));
  mkdirSync(cfg.shots, { recursive: true });
  // Messages of every dialog any page opened: injected script would show one.
  const dialogs = [];
  const browser = await chromium.launch({
    executablePath: cfg.chromium,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    headless: true,
  });

  // A browser context that presents certname's certificate to origin (none
  // when certname is null), and fails the test on any dialog (an alert from
  // injected script).  extra adds context options (a phone's viewport).
  async function person(certname, origin, extra) {
    const opts = { ignoreHTTPSErrors: true, locale: 'zh-CN', timezoneId: 'Asia/Shanghai',
      ...(extra || {}) };
    if (certname) {
      opts.clientCertificates = [{ origin, certPath: `${cfg.certs}/${certname}.crt`,
        keyPath: `${cfg.certs}/${certname}.key` }];
    }
    const ctx = await browser.newContext(opts);
    const page = await ctx.newPage();
    page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
    // The page's own errors (a refused by the Content-Security-Policy among
    // them) go to the log, to see why a step failed.
    page.on('console', (m) => { if (m.type() === 'error') console.error(`console error: ${m.text()}`); });
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    return page;
  }

  // Saves a screenshot and checks that it is not blank and that the page
  // shows every expected text.
  async function shot(page, name, texts) {
    if (dialogs.length) fail(`a dialog opened: ${dialogs[0]}`);
    const png = await page.screenshot({ path: `${cfg.shots}/${group}-${name}.png`, fullPage: true });
    const body = await page.evaluate(() => document.body.innerText);
    for (const t of texts) if (!body.includes(t)) fail(`${name}: the page lacks "${t}"`);
    const blank = await browser.newPage();
    const inked = await blank.evaluate(async (b64) => {
      const img = new Image();
      img.src = 'data:image/png;base64,' + b64;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = img.width; c.height = img.height;
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      let dark = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] < 384) dark++;
      return dark;
    }, png.toString('base64'));
    await blank.close();
    if (inked < 500) fail(`${name}: the screenshot is blank (${inked} dark pixels)`);
    console.log(`ok ${name} (${inked} dark pixels)`);
  }

  // Reloads page until selector shows, for what arrives from another
  // gateway in its own time.  Pages fill themselves from the API after the
  // load event, so each round waits for the selector rather than looking once.
  async function untilShown(page, selector, failure) {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const el = await page.waitForSelector(selector, { timeout: 3000 }).catch(() => null);
      if (el) return el;
      if (Date.now() > deadline) fail(failure);
      await page.reload();
    }
  }

  // Runs the group's function from groups and exits.
  async function run(groups) {
    let rc = 0;
    try {
      if (!Object.hasOwn(groups, group)) fail(`unknown group ${group}`);
      await groups[group]();
      if (dialogs.length) fail(`a dialog opened: ${dialogs[0]}`);
      console.log(`${group}: all checks held`);
    } catch (e) {
      console.error(`${group}: FAILED: ${e.message}`);
      // What each open page showed, to see why.
      let i = 0;
      for (const ctx of browser.contexts()) {
        for (const p of ctx.pages()) {
          const text = await p.evaluate(() => document.body ? document.body.innerText : '').catch(() => '');
          console.error(`--- page ${i} ${p.url()}\n${text.slice(0, 1500)}`);
          await p.screenshot({ path: `${cfg.shots}/${group}-failure-${i++}.png` }).catch(() => {});
        }
      }
      rc = 1;
    } finally {
      await browser.close();
    }
    process.exit(rc);
  }

  return { group, cfg, browser, person, shot, untilShown, run };
}
