// The contact point's submit form.  The draft stays in localStorage (with
// its client_report_id, so a retry after a lost answer is the same report)
// until a receipt arrives; the gateway's own validation messages, in
// Chinese, appear beside the field they name.
'use strict';

(() => {
  const { api, el } = minyi;
  const $ = (id) => document.getElementById(id);
  const DRAFT = 'minyi.draft';
  const fields = ['title', 'situation', 'analysis', 'suggestions', 'category', 'urgency',
    'reporter-name', 'reporter-unit', 'reporter-kind', 'reporter-sector', 'region', 'phone'];

  minyi.options($('category'), minyi.categories);
  minyi.options($('urgency'), minyi.urgencies);
  minyi.options($('reporter-kind'), minyi.reporterKinds);

  function draft() {
    let d = null;
    try { d = JSON.parse(localStorage.getItem(DRAFT) || 'null'); } catch (e) { d = null; }
    if (!d || typeof d !== 'object') d = {};
    if (!d.client_report_id) d.client_report_id = crypto.randomUUID();
    return d;
  }

  function save() {
    const d = draft();
    for (const f of fields) d[f] = $(f).value;
    localStorage.setItem(DRAFT, JSON.stringify(d));
  }

  function restore() {
    const d = draft();
    for (const f of fields) if (typeof d[f] === 'string' && d[f] !== '') $(f).value = d[f];
    localStorage.setItem(DRAFT, JSON.stringify(d));
  }

  function clearErrors() {
    for (const p of document.querySelectorAll('p.error')) p.textContent = '';
    $('error').replaceChildren();
  }

  // "report.attachments[1].name" and "report.attachments.name" both go to
  // the attachments' line; anything else unplaced goes to the top.
  function showFieldError(e) {
    const field = (e.field || '').replace(/^submit\./, '').replace(/\[\d+\]/g, '');
    let box = document.getElementById('err-' + field);
    if (!box && field.startsWith('report.attachments')) box = $('err-report.attachments');
    if (box) box.textContent = e.message; else minyi.showError('error', e);
    const input = document.querySelector('[data-field="' + field + '"]');
    if (input) input.focus();
  }

  async function attachments() {
    const out = [];
    for (const f of $('files').files) {
      const buf = new Uint8Array(await f.arrayBuffer());
      const sha = new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
      out.push({ name: f.name, media_type: f.type || 'application/octet-stream',
        content: { base64: b64(buf) }, sha256: { base64: b64(sha) } });
    }
    return out;
  }

  function b64(bytes) {
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s);
  }

  $('form').addEventListener('input', save);
  $('form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors();
    save();
    const d = draft();
    const report = {
      client_report_id: d.client_report_id, title: $('title').value, situation: $('situation').value,
      analysis: $('analysis').value, suggestions: $('suggestions').value, category: $('category').value,
      urgency: $('urgency').value,
      reporter: { name: $('reporter-name').value, unit: $('reporter-unit').value,
        kind: $('reporter-kind').value, sector: $('reporter-sector').value },
      region: $('region').value, phone: $('phone').value, attachments: await attachments(),
    };
    $('send').disabled = true;
    try {
      const res = await api('POST', '/api/op/submit', { report });
      localStorage.removeItem(DRAFT);
      $('receipt').hidden = false;
      $('receipt').replaceChildren(el('p', {}, '报送成功，回执编号：', el('strong', { id: 'receipt-no' }, res.receipt)),
        el('p', {}, el('a', { href: '/mine.html' }, '查看我的信息')));
      $('form').reset();
    } catch (e) {
      showFieldError(e);
    } finally {
      $('send').disabled = false;
    }
  });

  minyi.whoami().then((me) => {
    restore();
    if (!$('region').value) $('region').value = me.region;
  }).catch((e) => minyi.showError('error', e));
})();
