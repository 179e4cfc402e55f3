// 码上商 in a real browser: a member of the public on a phone-sized
// viewport opens the poster's URL, writes with a photo, and keeps a pickup
// code; the contact point works its inbox page in the console; the editor
// adopts the report it became; the pickup code shows the outcome.  Started
// by tests/it/it_browser.c (see console.mjs for the config):
//
//   node public.mjs public CONFIG.json
//
// config.poster_url is the URL `minyi poster` printed, whose origin is the
// instance's [public] base_url; the test opens its path and token on the
// console's real port, which the base_url cannot know before the gateway
// has started.
import { readFileSync } from 'node:fs';
import { start, fail } from './lib.mjs';

const { cfg, browser, person, shot, run } = await start();
const city = `https://127.0.0.1:${cfg.city_console}`;
const STEP_MS = 30000;    // a page's answer on a busy machine
const PICKUP = /^[23456789ABCDEFGHJKLMNPQRSTUVWXYZ]{10}$/;
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true,
  hasTouch: true };
// Degrees of latitude written into the photo's EXIF GPS: they must not
// survive into the stored photo.
const LATITUDE = [30, 45, 17];

// A JPEG drawn by Chromium, with an EXIF APP1 segment carrying GPS
// latitude spliced in after its start-of-image marker: big-endian TIFF,
// IFD0 with one entry (the GPS IFD's offset), the GPS IFD with
// GPSLatitudeRef "N" and GPSLatitude as three rationals.
async function photoWithGps() {
  const page = await browser.newPage();
  const b64 = await page.evaluate(() => {
    const c = document.createElement('canvas');
    c.width = 640; c.height = 480;
    const g = c.getContext('2d');
    g.fillStyle = '#8ab'; g.fillRect(0, 0, 640, 480);
    g.fillStyle = '#333'; g.fillRect(80, 200, 480, 120);
    g.fillStyle = '#c22'; g.beginPath(); g.arc(320, 140, 60, 0, 2 * Math.PI); g.fill();
    return c.toDataURL('image/jpeg', 0.9).split(',')[1];
  });
  await page.close();
  const jpeg = Buffer.from(b64, 'base64');
  const tiff = Buffer.alloc(80);
  tiff.write('MM', 0, 'latin1');
  tiff.writeUInt16BE(42, 2);
  tiff.writeUInt32BE(8, 4);                  // IFD0 at 8
  tiff.writeUInt16BE(1, 8);                  // one entry
  tiff.writeUInt16BE(0x8825, 10);            // GPSInfo IFD pointer
  tiff.writeUInt16BE(4, 12);                 // LONG
  tiff.writeUInt32BE(1, 14);
  tiff.writeUInt32BE(26, 18);                // the GPS IFD at 26
  tiff.writeUInt32BE(0, 22);                 // no next IFD
  tiff.writeUInt16BE(2, 26);                 // two entries
  tiff.writeUInt16BE(0x0001, 28);            // GPSLatitudeRef
  tiff.writeUInt16BE(2, 30);                 // ASCII
  tiff.writeUInt32BE(2, 32);
  tiff.write('N\0', 36, 'latin1');
  tiff.writeUInt16BE(0x0002, 40);            // GPSLatitude
  tiff.writeUInt16BE(5, 42);                 // RATIONAL
  tiff.writeUInt32BE(3, 44);
  tiff.writeUInt32BE(56, 48);                // its values at 56
  tiff.writeUInt32BE(0, 52);                 // no next IFD
  LATITUDE.forEach((d, i) => { tiff.writeUInt32BE(d, 56 + 8 * i); tiff.writeUInt32BE(1, 60 + 8 * i); });
  const exif = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const app1 = Buffer.alloc(4);
  app1.writeUInt16BE(0xffe1, 0);
  app1.writeUInt16BE(exif.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), app1, exif, jpeg.subarray(2)]);
}

function hasGps(buf) {
  return buf.includes(Buffer.from('Exif\0\0', 'latin1'));
}

// The poster's path and token on the console's port.
function posterOnConsole() {
  const u = new URL(cfg.poster_url);
  if (u.pathname !== '/public/' || !u.searchParams.get('t')) fail(`not a poster URL: ${cfg.poster_url}`);
  return `${city}${u.pathname}${u.search}`;
}

// Sends one message from the phone's form; answers its pickup code.
async function send(phone, name, fields, photo) {
  await phone.goto(posterOnConsole());
  await phone.waitForSelector('#send:not([hidden])');
  await phone.fill('#what', fields.what);
  await phone.fill('#place', fields.place);
  if (fields.name) await phone.fill('#name', fields.name);
  if (fields.phone) await phone.fill('#phone', fields.phone);
  if (photo) await phone.setInputFiles('#photos', { name: 'scene.jpg', mimeType: 'image/jpeg', buffer: photo });
  if (name) await shot(phone, `${name}-filled`, ['码上商', '发生了什么', '查询办理结果']);
  await phone.tap('#submit');
  await phone.waitForSelector('#done:not([hidden])', { timeout: STEP_MS });
  const code = (await phone.textContent('#pickup')).trim();
  if (!PICKUP.test(code)) fail(`not a pickup code: "${code}"`);
  return code;
}

// Looks up code on the public page; answers the result's text.
async function lookup(phone, code, want) {
  await phone.goto(posterOnConsole());
  await phone.fill('#code', code);
  await phone.tap('#lookup button');
  await phone.waitForSelector(`#result >> text=${want}`, { timeout: STEP_MS });
  return phone.textContent('#result');
}

async function publicJourney() {
  const photo = await photoWithGps();
  if (!hasGps(photo)) fail('the test photo carries no EXIF GPS');

  // A member of the public writes from the phone, with the photo.
  const phone = await person(null, null, PHONE);
  const stamp = Date.now();
  const what = `小区门口的路灯坏了一个多月，晚上老人出行很不方便。${stamp}`;
  const place = '南湖区建设街道文昌路12号';
  const code = await send(phone, 'form', { what, place, name: '王五', phone: '13700000000' }, photo);
  await shot(phone, 'form-sent', ['已收到，谢谢您', code]);
  const width = await phone.evaluate(() => document.documentElement.scrollWidth);
  if (width > PHONE.viewport.width) fail(`the form is wider than the phone (${width} px)`);

  // A second message, to be dismissed.
  const other = `广场舞音乐声音太大，影响休息。${stamp}`;
  const otherCode = await send(phone, null, { what: other, place: '南湖公园' }, null);

  // The contact point's inbox shows both; the first with its photo.
  const contact = await person('contact1', city);
  await contact.goto(`${city}/inbox.html`);
  const row = await contact.waitForSelector(`tr:has-text("${what}")`, { timeout: STEP_MS });
  await contact.waitForSelector(`tr:has-text("${other}")`);
  await shot(contact, 'inbox-list', ['群众来信', '待处理', what, other]);
  const id = Number(await row.getAttribute('data-id'));
  await contact.click(`tr[data-id="${id}"] a[href="#m${id}"]`);
  await contact.waitForSelector('#detail:not([hidden]) img.photo');
  const decoded = await contact.$eval('img.photo', (img) => img.decode().then(() => img.naturalWidth));
  if (!(decoded > 0)) fail('the stored photo does not decode');
  await shot(contact, 'inbox-message', [what, place, '王五', '13700000000']);

  // The stored photo, as the gateway gives it back, lacks the GPS.
  const stored = await contact.evaluate(async (mid) => {
    const m = await minyi.api('POST', '/api/op/inbox_show', { id: mid });
    return m.photos.map((p) => (typeof p.content === 'object' ? p.content.base64 : null));
  }, id);
  if (stored.length !== 1 || !stored[0]) fail(`the message has ${stored.length} photos`);
  const bytes = Buffer.from(stored[0], 'base64');
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) fail('the stored photo is not a JPEG');
  if (hasGps(bytes)) fail('the stored photo still carries EXIF GPS');
  console.log(`ok stored photo ${bytes.length} bytes, no EXIF`);

  // A reply to the sender.
  const reply = '您反映的路灯问题已收到，我们将整理后报送有关部门。';
  await contact.fill('#reply-text', reply);
  await contact.click('#reply');
  await contact.waitForSelector('#m-result >> text=已回复');

  // The other message is dismissed with a reason.
  await contact.click(`tr:has-text("${other}") a`);
  await contact.waitForSelector(`#m-fields >> text=${other}`);
  await contact.fill('#dismiss-text', '属噪声投诉，已告知来信人拨打12345热线。');
  await contact.click('#dismiss');
  await contact.waitForSelector('#m-result >> text=已不予处理');
  await contact.waitForSelector(`tr:has-text("${other}") >> td.status >> text=不予处理`);

  // The first becomes a report, credited to the 群众 who wrote it.
  await contact.click(`tr[data-id="${id}"] a[href="#m${id}"]`);
  await contact.waitForSelector(`#m-fields >> text=${what}`);
  await contact.click('#convert-this');
  await contact.waitForSelector('#convert-form:not([hidden])');
  if (!(await contact.inputValue('#c-situation')).includes(what)) fail('the report is not pre-filled');
  if (await contact.inputValue('#c-name') !== '王五') fail('the reporter is not the sender');
  await contact.fill('#c-analysis', '路灯维修责任不清，报修渠道不畅。');
  await contact.fill('#c-suggestions', '建议明确路灯管护责任单位，公布报修电话。');
  await contact.selectOption('#c-category', 'SOCIETY');
  await contact.click('#convert');
  await contact.waitForSelector('#convert-receipt', { timeout: STEP_MS });
  const receipt = (await contact.textContent('#convert-receipt')).trim();
  await contact.waitForSelector(`tr[data-id="${id}"] >> text=${receipt}`);
  await shot(contact, 'inbox-converted', ['已转为信息报送', receipt, '已转为信息']);

  // The editor adopts it.
  const editor = await person('editor1', city);
  await editor.goto(`${city}/report.html?r=${encodeURIComponent(receipt)}`);
  await editor.waitForSelector('#claim');
  await editor.waitForSelector(`text=${place}`);
  await editor.click('#claim');
  await editor.waitForSelector('text=editor1（至');
  await editor.selectOption('#d-decision', 'ADOPT');
  await editor.click('#decide');
  await editor.waitForSelector('dd >> text=本级采用');
  await shot(editor, 'adopted', ['本级采用', '群众', '路灯']);

  // The photo, now an attachment of the report, downloads from the report
  // page whole: the bytes the inbox showed, a JPEG without the GPS.
  const [file] = await Promise.all([editor.waitForEvent('download'),
    editor.click('#attachments button.download')]);
  const got = readFileSync(await file.path());
  if (got[0] !== 0xFF || got[1] !== 0xD8) fail('the downloaded attachment is not a JPEG');
  const listed = await editor.textContent('#attachments li');
  if (!listed.includes(`${got.length} 字节`)) fail(`downloaded ${got.length} bytes, the page lists: ${listed}`);
  if (got.includes(Buffer.from('GPS')) || got.includes(Buffer.from('Exif'))) fail('the downloaded photo keeps its EXIF');
  console.log(`ok download (${got.length} bytes, ${file.suggestedFilename()})`);

  // The pickup codes show the reply and the outcome, and nothing of the
  // message itself.
  const seen = await lookup(phone, code, '已被采用');
  for (const want of ['已整理为社情民意信息报送', reply, '办理结果：已被采用'])
    if (!seen.includes(want)) fail(`the pickup page lacks "${want}": ${seen}`);
  if (seen.includes(what) || seen.includes('王五')) fail('the pickup page shows the message itself');
  await shot(phone, 'pickup-outcome', ['已被采用', reply]);
  const seenOther = await lookup(phone, otherCode, '联系点未予采纳');
  if (seenOther.includes('办理结果')) fail(`the dismissed message shows an outcome: ${seenOther}`);
  await shot(phone, 'pickup-dismissed', ['联系点未予采纳']);
}

await run({ public: publicJourney });
