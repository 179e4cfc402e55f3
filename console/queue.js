// The queue with every filter of QueueFilter, overdue flags, and live
// updates: every event of the server-sent stream reloads the list, so a
// claim by another editor shows within a second without a reload.
'use strict';

(() => {
  const { api, el, states, categories, urgencies, when } = minyi;
  const $ = (id) => document.getElementById(id);
  let cursor = '';

  minyi.options($('f-state'), states);
  minyi.options($('f-category'), categories, '全部');
  minyi.options($('f-urgency'), urgencies, '全部');

  function dayMs(value, end) {
    if (!value) return undefined;
    // Dates are read in Asia/Shanghai (UTC+8, no daylight saving).
    const ms = Date.parse(value + 'T00:00:00+08:00');
    return end ? ms + 86400000 : ms;
  }

  function filter() {
    const f = {};
    const chosen = [...$('f-state').selectedOptions].map((o) => o.value);
    if (chosen.length) f.states = chosen;
    if ($('f-category').value) f.categories = [$('f-category').value];
    if ($('f-urgency').value) f.urgency = $('f-urgency').value;
    if ($('f-region').value) f.region_prefix = $('f-region').value;
    const from = dayMs($('f-from').value, false), to = dayMs($('f-to').value, true);
    if (from) f.received_from_ms = from;
    if (to) f.received_to_ms = to;
    if ($('f-text').value) f.text = $('f-text').value;
    if ($('f-mine').checked) f.claimed_by_me = true;
    if ($('f-overdue').checked) f.overdue_only = true;
    if ($('f-dead').checked) f.dead_deliveries_only = true;
    return f;
  }

  function row(it) {
    const link = el('a', { href: '/report.html?r=' + encodeURIComponent(it.receipt) }, it.receipt);
    return el('tr', { 'data-receipt': it.receipt, class: it.overdue ? 'overdue' : undefined },
      el('td', {}, link),
      el('td', {}, it.title),
      el('td', {}, categories[it.category] || it.category),
      el('td', {}, urgencies[it.urgency] || it.urgency),
      el('td', { class: 'state' }, states[it.state] || it.state),
      el('td', {}, it.contact_point),
      el('td', {}, when(it.received_at_ms)),
      el('td', { class: 'claimed' }, it.claimed_by || '—'),
      el('td', {}, it.overdue ? '已超期' : (it.returned_above ? '上级退回：' + it.returned_above : '')));
  }

  async function load(more) {
    try {
      const q = { filter: filter(), limit: 100 };
      if (more) q.cursor = cursor;
      const res = await api('POST', '/api/op/queue', q);
      const rows = (res.items || []).map(row);
      if (more) $('rows').append(...rows); else $('rows').replaceChildren(...rows);
      cursor = res.next_cursor || '';
      $('more').hidden = !cursor;
      $('error').replaceChildren();
    } catch (e) {
      minyi.showError('error', e);
    }
  }

  let pending = null;
  function soon() {
    if (pending) return;
    pending = setTimeout(() => { pending = null; load(false); }, 200);
  }

  function follow() {
    const es = new EventSource('/api/events');
    es.onopen = () => { $('live').textContent = '实时更新：已连接'; };
    es.onmessage = () => soon();
    es.onerror = () => { $('live').textContent = '实时更新：重新连接中…'; };
  }

  $('filters').addEventListener('submit', (ev) => { ev.preventDefault(); load(false); });
  $('more').addEventListener('click', () => load(true));
  minyi.whoami().then(() => { load(false); follow(); }).catch((e) => minyi.showError('error', e));
})();
