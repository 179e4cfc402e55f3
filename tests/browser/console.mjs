// The web console in a real browser: Debian's chromium driven by
// playwright-core, logged in by client certificate (one per browser
// context).  Started by tests/it/it_browser.c, which runs real gateways
// (a city forwarding to a province) and passes their ports in a JSON file:
//
//   node console.mjs journey|security CONFIG.json
//
// One Chromium serves the whole group.  Every step saves a screenshot under
// config.shots and checks it is not blank and that the page carries the
// expected Chinese text.  Exits 0 when every check held, else 1 naming it.
import { start, fail } from './lib.mjs';

const LIVE_MS = 5000;           // a queue update must arrive this fast, without reload
const { cfg, browser, person, shot, untilShown, run } = await start();
const city = `https://127.0.0.1:${cfg.city_console}`;
const province = `https://127.0.0.1:${cfg.province_console}`;

async function journey() {
  const editor = await person('editor1', city);
  let navigations = 0;
  await editor.goto(`${city}/queue.html`);
  await editor.waitForSelector('text=实时更新：已连接');
  editor.on('framenavigated', (f) => { if (f === editor.mainFrame()) navigations++; });
  await shot(editor, 'queue-before', ['信息队列', '实时更新']);

  // The contact point submits in the form.
  const contact = await person('contact1', city);
  await contact.goto(`${city}/submit.html`);
  await contact.waitForSelector('text=联系点');
  const title = `关于社区养老服务的建议 ${Date.now()}`;
  await contact.fill('#title', title);
  await contact.fill('#situation', '社区养老服务点覆盖不足，老年人就餐困难。');
  await contact.fill('#analysis', '场地和运营经费不足。');
  await contact.fill('#suggestions', '建议整合闲置用房，引入社会力量运营。');
  await contact.selectOption('#category', 'SOCIETY');
  await contact.fill('#reporter-name', '李四');
  await contact.fill('#reporter-unit', '某街道联系点');
  await contact.selectOption('#reporter-kind', 'CONTACT_POINT');
  await contact.fill('#phone', '13900000000');
  await contact.click('#send');
  await contact.waitForSelector('#receipt-no');
  const receipt = (await contact.textContent('#receipt-no')).trim();
  await shot(contact, 'submitted', ['报送成功', receipt]);
  if (await contact.evaluate(() => localStorage.getItem('minyi.draft')) !== null)
    fail('the draft stayed after the receipt');

  // The editor sees it appear without reloading.
  await editor.waitForSelector(`tr[data-receipt="${receipt}"]`, { timeout: LIVE_MS });
  if (navigations !== 0) fail('the queue page reloaded');
  await shot(editor, 'queue-live', [receipt, title]);

  // Claims, edits, sees the diff, forwards to the province.
  await editor.click(`a[href="/report.html?r=${encodeURIComponent(receipt)}"]`);
  await editor.waitForSelector('#claim');
  await editor.click('#claim');
  await editor.waitForSelector('text=editor1（至');
  await editor.fill('#e-situation', '社区养老服务点覆盖不足，高龄独居老人就餐困难。（编辑修改）');
  await editor.fill('#e-note', '补充高龄独居情况');
  await editor.click('#save');
  await editor.waitForSelector('#diff >> text=版本 2');
  await editor.waitForSelector('#diff >> text=编辑修改');
  await shot(editor, 'diff', ['版本对比', '版本 1', '版本 2', '编辑修改']);
  await editor.selectOption('#d-decision', 'FORWARD');
  await editor.check('#d-destinations input[value="province"]');
  await editor.click('#decide');
  await editor.waitForSelector('dd >> text=已上报');
  await shot(editor, 'forwarded', ['已上报', '上报']);

  // The provincial editor adopts it with a 批示.
  const prov = await person('editor1', province);
  await prov.goto(`${province}/queue.html`);
  const row = await untilShown(prov, `tr:has-text("${title}")`, 'the report never reached the province');
  await shot(prov, 'province-queue', ['信息队列', title]);
  await row.$eval('a', (a) => a.click());
  await prov.waitForSelector('#claim');
  await prov.click('#claim');
  await prov.waitForSelector('text=editor1（至');
  await prov.selectOption('#d-decision', 'ADOPT');
  const instruction = '请省民政厅会同有关部门研究办理。';
  await prov.fill('#d-instruction', instruction);
  await prov.fill('#d-level', '省领导');
  await prov.click('#decide');
  await prov.waitForSelector('dd >> text=本级采用');
  await shot(prov, 'province-adopted', ['本级采用', instruction]);

  // The contact point's page shows the 批示.
  await contact.goto(`${city}/mine.html?r=${encodeURIComponent(receipt)}`);
  await untilShown(contact, `.instruction:has-text("${instruction}")`, 'the 批示 never reached the contact point');
  await shot(contact, 'mine-instruction', ['我的信息', instruction, '省领导', '上级采用', '已送达']);

  // The office reads the queue and its figures: charts drawn by the
  // gateway, loaded as images, counting the report forwarded above.
  const office = await person('office1', city);
  await office.goto(`${city}/queue.html`);
  await office.waitForSelector('text=实时更新：已连接');
  // The report has left the waiting states: the office finds it by its state.
  await office.selectOption('#f-state', 'ADOPTED_ABOVE');
  await office.click('#filters button[type=submit]');
  await office.waitForSelector(`tr[data-receipt="${receipt}"]`);
  await shot(office, 'office-queue', ['信息队列', receipt, '办公室']);
  await office.goto(`${city}/figures.html`);
  await office.waitForFunction(() => ['stats-chart', 'points-chart'].every((id) => {
    const img = document.getElementById(id);
    return img.complete && img.naturalWidth > 0;
  }));
  const svg = await office.evaluate(async () => (await fetch(document.getElementById('stats-chart').src)).text());
  if (!svg.includes('上报') || !svg.includes('社会')) fail(`the stats chart lacks its figures: ${svg.slice(0, 300)}`);
  await shot(office, 'office-figures', ['数字与考核', '信息数字', '考核积分']);
}

// Script and markup in every text field; the short ones fit the name fields' limits.
const PAYLOAD = '<img src=x onerror=alert(1)><script>alert(2)</script>"\'><svg onload=alert(3)>';
const TITLE = '<script>alert(2)</script>标题';
const SHORT = '<img src=x onerror=alert(1)>';

async function security() {
  // A report whose every text field holds script and HTML renders as text.
  const contact = await person('contact1', city);
  await contact.goto(`${city}/submit.html`);
  await contact.waitForSelector('text=联系点');
  await contact.fill('#title', TITLE);
  for (const id of ['#situation', '#analysis', '#suggestions']) await contact.fill(id, PAYLOAD + id);
  for (const id of ['#reporter-name', '#reporter-unit', '#reporter-sector']) await contact.fill(id, SHORT);
  await contact.fill('#phone', '13900000000');
  await contact.click('#send');
  await contact.waitForSelector('#receipt-no');
  const receipt = (await contact.textContent('#receipt-no')).trim();
  const editor = await person('editor1', city);
  for (const path of ['/queue.html', `/report.html?r=${encodeURIComponent(receipt)}`]) {
    await editor.goto(city + path);
    await editor.waitForSelector(`text=${TITLE}`);
    const injected = await editor.evaluate(() => document.querySelectorAll(
      'main img, main script, main svg, [onerror], [onload]').length);
    if (injected !== 0) fail(`${path}: ${injected} injected elements`);
    if (path.includes('queue')) await shot(editor, 'xss-queue', [TITLE, '信息队列']);
    else await shot(editor, 'xss-report', [TITLE, PAYLOAD + '#situation', SHORT, '处理记录']);
  }
  await contact.goto(`${city}/mine.html?r=${encodeURIComponent(receipt)}`);
  await contact.waitForSelector(`text=${TITLE}`);
  await shot(contact, 'xss-mine', [TITLE, '我的信息']);

  // A cross-origin POST is refused: a page of another origin (localhost
  // rather than 127.0.0.1, with the certificate presented there too)
  // cannot send the console's header, and without it the gateway refuses.
  const other = `https://localhost:${cfg.city_console}`;
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, clientCertificates: [
    { origin: other, certPath: `${cfg.certs}/editor1.crt`, keyPath: `${cfg.certs}/editor1.key` },
    { origin: city, certPath: `${cfg.certs}/editor1.crt`, keyPath: `${cfg.certs}/editor1.key` }] });
  const page = await ctx.newPage();
  await page.goto(`${other}/`);
  const outcome = await page.evaluate(async ([target, r]) => {
    const out = {};
    try {
      const res = await fetch(`${target}/api/op/claim`, { method: 'POST', headers: {
        'X-Minyi-Console': '1', 'Content-Type': 'application/json' }, body: JSON.stringify({ receipt: r }) });
      out.withHeader = res.status;
    } catch (e) { out.withHeader = 'blocked'; }
    try {
      const res = await fetch(`${target}/api/op/claim`, { method: 'POST', mode: 'no-cors',
        headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ receipt: r }) });
      out.simple = res.type;
    } catch (e) { out.simple = 'blocked'; }
    return out;
  }, [city, receipt]);
  if (outcome.withHeader !== 'blocked') fail(`a cross-origin POST with the header got ${outcome.withHeader}`);
  await ctx.close();
  // Nothing was claimed by either attempt.
  await editor.goto(`${city}/report.html?r=${encodeURIComponent(receipt)}`);
  await editor.waitForSelector('dd >> text=已接收');
  console.log('ok cross-origin POST refused', JSON.stringify(outcome));

  // No certificate, an unregistered one, a disabled one: no data.
  for (const who of [null, 'unknown', 'inactive']) {
    const p = await person(who, city);
    const res = await p.goto(`${city}/queue.html`);
    if (res.status() !== 403) fail(`${who || 'no certificate'}: ${res.status()}`);
    const text = await p.evaluate(() => document.body.innerText);
    if (!text.includes('PERMISSION_DENIED') || text.includes('信息队列'))
      fail(`${who || 'no certificate'} saw: ${text.slice(0, 200)}`);
    const api = await p.request.get(`${city}/api/me`);
    if (api.status() !== 403) fail(`${who || 'no certificate'}: /api/me ${api.status()}`);
    console.log(`ok ${who || 'no certificate'} refused`);
  }

  // A contact point cannot open another's report by URL.
  const other2 = await person('contact2', city);
  await other2.goto(`${city}/mine.html?r=${encodeURIComponent(receipt)}`);
  await other2.waitForSelector('text=没有此回执对应的信息');
  const seen = await other2.evaluate(() => document.body.innerText);
  if (seen.includes(TITLE)) fail('contact2 saw contact1\'s report');
  await shot(other2, 'other-contact', ['没有此回执对应的信息']);
  await other2.goto(`${city}/report.html?r=${encodeURIComponent(receipt)}`);
  await other2.waitForSelector('text=没有此回执对应的信息');
}

await run({ journey, security });
