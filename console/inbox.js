// A contact point's inbox of messages from the public (码上商): the list,
// one message with its photos, a reply to the sender (seen with the pickup
// code), dismissing with a reason, and turning one or several messages into
// a report credited to the 群众 who wrote them.  Every text is set with
// textContent; photos are shown from the bytes the gateway stored (their
// metadata already stripped there).
'use strict';

(() => {
  const { api, el, when } = minyi;
  const $ = (id) => document.getElementById(id);
  const statuses = { new: '待处理', replied: '已回复', converted: '已转为信息', dismissed: '不予处理' };
  // The report's title is prefilled with this many characters of the first message.
  const TITLE_PREFILL = 30;
  const CITIZEN_NAME = '群众';
  const CITIZEN_UNIT = '群众来信（码上商）';
  const PAGE = 50;
  minyi.options($('f-status'), statuses, '全部');
  minyi.options($('c-category'), minyi.categories);
  minyi.options($('c-urgency'), minyi.urgencies);
  $('c-category').value = 'OTHER';

  let me = null;
  let cursor = '';
  let shown = null;          // the message open in the detail section
  let conversion = null;     // { ids, client_report_id, attachments } of the open form

  // A bytes field as the API takes it back: the JSON of a binary field is
  // {base64}, of one that happens to be text a string.
  function bytes(v) {
    if (v && typeof v === 'object') return v;
    const u = new TextEncoder().encode(v || '');
    let s = '';
    for (const c of u) s += String.fromCharCode(c);
    return { base64: btoa(s) };
  }

  function photoSrc(p) {
    const b = bytes(p.content);
    return 'data:' + p.media_type + ';base64,' + b.base64;
  }

  function row(it) {
    const open = el('a', { href: '#m' + it.id }, String(it.id));
    open.addEventListener('click', (ev) => { ev.preventDefault(); show(it.id); });
    return el('tr', { 'data-id': it.id },
      el('td', {}, el('input', { type: 'checkbox', class: 'pick', value: it.id,
        disabled: it.status === 'converted' || it.status === 'dismissed' })),
      el('td', {}, open), el('td', {}, when(it.received_at_ms)), el('td', {}, it.what),
      el('td', {}, it.place), el('td', {}, it.photos ? String(it.photos) : ''),
      el('td', { class: 'status' }, statuses[it.status] || it.status),
      el('td', {}, it.receipt ? el('a', { href: '/mine.html?r=' + encodeURIComponent(it.receipt) }, it.receipt) : ''));
  }

  async function load(more) {
    const q = { limit: PAGE };
    if ($('f-status').value) q.status = $('f-status').value;
    if (more) q.cursor = cursor;
    try {
      const res = await api('POST', '/api/op/inbox', q);
      const rows = (res.items || []).map(row);
      if (more) $('rows').append(...rows); else $('rows').replaceChildren(...rows);
      cursor = res.next_cursor || '';
      $('more').hidden = cursor === '';
      $('error').replaceChildren();
    } catch (e) {
      minyi.showError('error', e);
    }
  }

  async function show(id) {
    try {
      const m = await api('POST', '/api/op/inbox_show', { id });
      shown = m;
      $('m-id').textContent = String(m.id);
      const dl = [];
      const add = (k, v) => { if (v) dl.push(el('dt', {}, k), el('dd', {}, v)); };
      add('收到时间', when(m.received_at_ms));
      add('状态', statuses[m.status] || m.status);
      add('发生了什么', m.what);
      add('地点', m.place);
      add('姓名', m.name);
      add('电话', m.phone);
      add('已回复', m.reply);
      add('不予处理的理由', m.dismiss_reason);
      add('信息回执', m.receipt);
      $('m-fields').replaceChildren(...dl);
      $('m-photos').replaceChildren(...(m.photos || []).map((p, i) =>
        el('img', { src: photoSrc(p), alt: '照片 ' + (i + 1), class: 'photo', width: 240 })));
      const closed = m.status === 'converted' || m.status === 'dismissed';
      for (const id of ['reply-form', 'dismiss-form', 'convert-this']) $(id).hidden = closed;
      $('m-result').replaceChildren();
      $('detail').hidden = false;
    } catch (e) {
      minyi.showError('error', e);
    }
  }

  async function answer(dismiss) {
    const text = $(dismiss ? 'dismiss-text' : 'reply-text').value;
    try {
      await api('POST', '/api/op/inbox_answer', { id: shown.id, dismiss, text });
      await show(shown.id);
      $('m-result').replaceChildren(el('p', { class: 'notice' }, dismiss ? '已不予处理' : '已回复'));
      await load(false);
    } catch (e) {
      minyi.showError('m-result', e);
    }
  }

  // Opens the report form pre-filled from messages ids, read in full.
  async function openConversion(ids) {
    if (ids.length === 0) { minyi.showError('error', new Error('请先选择来信')); return; }
    try {
      const msgs = [];
      for (const id of ids) msgs.push(await api('POST', '/api/op/inbox_show', { id }));
      const attachments = [];
      for (const m of msgs) {
        (m.photos || []).forEach((p, i) => attachments.push({
          name: `photo-${m.id}-${i + 1}.${p.media_type === 'image/png' ? 'png' : 'jpg'}`,
          media_type: p.media_type, content: bytes(p.content), sha256: bytes(p.sha256) }));
      }
      conversion = { ids, client_report_id: crypto.randomUUID(), attachments };
      $('c-ids').textContent = ids.join('、');
      $('c-title').value = Array.from(msgs[0].what.split('\n')[0]).slice(0, TITLE_PREFILL).join('');
      $('c-situation').value = msgs.map((m) => m.what + '\n地点：' + m.place).join('\n\n');
      $('c-analysis').value = '';
      $('c-suggestions').value = '';
      $('c-name').value = (msgs.find((m) => m.name) || {}).name || CITIZEN_NAME;
      $('c-unit').value = CITIZEN_UNIT;
      $('c-region').value = me.region;
      $('c-phone').value = (msgs.find((m) => m.phone) || {}).phone || '';
      $('c-photos').textContent = attachments.length ? `照片 ${attachments.length} 张作为附件一并报送` : '';
      $('c-result').replaceChildren();
      $('convert-form').hidden = false;
      $('convert-form').scrollIntoView();
    } catch (e) {
      minyi.showError('error', e);
    }
  }

  $('convert-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const report = {
      client_report_id: conversion.client_report_id, title: $('c-title').value,
      situation: $('c-situation').value, analysis: $('c-analysis').value,
      suggestions: $('c-suggestions').value, category: $('c-category').value,
      urgency: $('c-urgency').value,
      reporter: { name: $('c-name').value, unit: $('c-unit').value, kind: 'CITIZEN' },
      region: $('c-region').value, phone: $('c-phone').value, attachments: conversion.attachments,
    };
    $('convert').disabled = true;
    try {
      const res = await api('POST', '/api/op/inbox_convert', { ids: conversion.ids, report });
      $('c-result').replaceChildren(el('p', { class: 'notice' }, '已转为信息报送，回执编号：',
        el('strong', { id: 'convert-receipt' }, res.receipt)));
      await load(false);
      if (shown) await show(shown.id);
    } catch (e) {
      minyi.showError('c-result', e);
    } finally {
      $('convert').disabled = false;
    }
  });

  $('reply-form').addEventListener('submit', (ev) => { ev.preventDefault(); answer(false); });
  $('dismiss-form').addEventListener('submit', (ev) => { ev.preventDefault(); answer(true); });
  $('convert-this').addEventListener('click', () => openConversion([shown.id]));
  $('convert-open').addEventListener('click', () => openConversion(
    Array.from(document.querySelectorAll('input.pick:checked')).map((c) => Number(c.value))));
  $('filters').addEventListener('submit', (ev) => { ev.preventDefault(); load(false); });
  $('more').addEventListener('click', () => load(true));
  minyi.whoami().then((who) => { me = who; return load(false); }).catch((e) => minyi.showError('error', e));
})();
