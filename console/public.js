// The 码上商 public form: sends a message to the contact point named by the
// poster's token (?t=...), after the proof of work the gateway asks, and
// looks up a pickup code.  Every text from the gateway is shown with
// textContent, never as HTML.
'use strict';

const PHOTO_MAX_SIDE = 1280;     // pixels: photos are scaled down before sending
const PHOTO_QUALITY = 0.8;
const PHOTOS_MAX = 3;

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get('t');

function say(el, text, isError) {
  el.textContent = text;
  el.className = isError ? 'error' : '';
}

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  let data = {};
  try { data = await res.json(); } catch (e) { data = {}; }
  return { ok: res.ok, status: res.status, data };
}

function zeroBits(bytes) {
  let n = 0;
  for (const b of bytes) {
    if (b === 0) { n += 8; continue; }
    for (let m = 0x80; m && !(b & m); m >>= 1) n++;
    break;
  }
  return n;
}

// Finds a nonce such that SHA-256(challenge ":" nonce) starts with
// `difficulty` zero bits, as the gateway checks.
async function solve(challenge, difficulty) {
  const enc = new TextEncoder();
  for (let n = 0; ; n++) {
    const d = new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(challenge + ':' + n)));
    if (zeroBits(d) >= difficulty) return String(n);
  }
}

// A photo scaled down and encoded again as JPEG (which also drops its
// metadata here; the gateway strips it again whatever arrives), as base64.
// The file is read as a data: URL, because the page's Content-Security-
// Policy lets images come from data: but not from blob: URLs.
function photoBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    const img = new Image();
    img.onload = () => {
      const k = Math.min(1, PHOTO_MAX_SIDE / Math.max(img.width, img.height));
      const c = document.createElement('canvas');
      c.width = Math.round(img.width * k);
      c.height = Math.round(img.height * k);
      c.getContext('2d').drawImage(img, 0, 0, c.width, c.height);
      resolve(c.toDataURL('image/jpeg', PHOTO_QUALITY).split(',')[1]);
    };
    img.onerror = () => reject(new Error('photo'));
    reader.onload = () => { img.src = reader.result; };
    reader.onerror = () => reject(new Error('photo'));
    reader.readAsDataURL(file);
  });
}

async function send(ev) {
  ev.preventDefault();
  const status = $('status');
  const button = $('submit');
  const files = Array.from($('photos').files).slice(0, PHOTOS_MAX);
  button.disabled = true;
  try {
    say(status, '正在准备……');
    const photos = [];
    for (const f of files) photos.push(await photoBase64(f));
    const ch = await api('GET', '/public/api/challenge?t=' + encodeURIComponent(token));
    if (!ch.ok) { say(status, ch.data.message_zh || '提交失败，请稍后再试', true); return; }
    say(status, '正在提交……');
    const nonce = await solve(ch.data.challenge, ch.data.difficulty);
    const r = await api('POST', '/public/api/submit', {
      t: token, challenge: ch.data.challenge, nonce,
      what: $('what').value, place: $('place').value,
      name: $('name').value, phone: $('phone').value, photos,
    });
    if (!r.ok) { say(status, r.data.message_zh || '提交失败，请稍后再试', true); return; }
    $('send').hidden = true;
    $('pickup').textContent = r.data.pickup;
    $('code').value = r.data.pickup;
    $('done').hidden = false;
  } catch (e) {
    say(status, '照片无法读取或网络中断，请重试', true);
  } finally {
    button.disabled = false;
  }
}

const STATUS_ZH = { new: '已收到，待处理', replied: '联系点已回复', converted: '已整理为社情民意信息报送', dismissed: '联系点未予采纳' };
const OUTCOME_ZH = {
  RECEIVED: '已报送，待审阅', IN_REVIEW: '审阅中', ADOPTED: '已被采用', REJECTED: '未被采用',
  RETURNED: '退回修改中', MERGED: '已与同类信息合并', FORWARDED: '已报送上级',
  ADOPTED_ABOVE: '已被上级采用', NOT_ADOPTED_ABOVE: '上级未采用',
};

async function lookup(ev) {
  ev.preventDefault();
  const out = $('result');
  const code = $('code').value.trim().toUpperCase();
  const r = await api('GET', '/public/api/pickup?code=' + encodeURIComponent(code));
  out.replaceChildren();
  if (!r.ok) { say(out, r.data.message_zh || '查询失败', true); return; }
  const lines = ['状态：' + (STATUS_ZH[r.data.status] || r.data.status)];
  if (r.data.reply) lines.push('联系点回复：' + r.data.reply);
  if (r.data.outcome) lines.push('办理结果：' + (OUTCOME_ZH[r.data.outcome] || r.data.outcome));
  for (const l of lines) {
    const p = document.createElement('p');
    p.textContent = l;
    out.appendChild(p);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('lookup').addEventListener('submit', lookup);
  if (token) {
    $('send').hidden = false;
    $('send').addEventListener('submit', send);
  } else {
    $('invalid').hidden = false;
  }
});
