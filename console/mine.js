// A contact point's own reports with their state, and for the one chosen
// (?r=RECEIPT) its whole history, results from above and 批示 included.
'use strict';

(() => {
  const { api, el, states, actions, when } = minyi;
  const $ = (id) => document.getElementById(id);

  async function detail(receipt) {
    const s = await api('POST', '/api/op/status', { receipt });
    $('detail').hidden = false;
    $('d-title').textContent = s.title + '（' + s.receipt + '）';
    $('d-state').textContent = '当前状态：' + (states[s.state] || s.state);
    $('d-history').replaceChildren(...(s.history || []).map((h) => el('tr', {},
      el('td', {}, when(h.at_ms)), el('td', {}, actions[h.action] || h.action),
      el('td', {}, states[h.state] || h.state), el('td', {}, h.body || h.actor || ''),
      el('td', {}, h.note), el('td', { class: 'instruction' },
        h.instruction ? (h.instruction_level ? h.instruction_level + '：' : '') + h.instruction : ''))));
  }

  async function load() {
    const res = await api('POST', '/api/op/list_mine', { limit: 100 });
    $('rows').replaceChildren(...(res.reports || []).map((r) => el('tr', { 'data-receipt': r.receipt },
      el('td', {}, el('a', { href: '/mine.html?r=' + encodeURIComponent(r.receipt) }, r.receipt)),
      el('td', {}, r.title), el('td', {}, states[r.state] || r.state), el('td', {}, when(r.received_at_ms)))));
    const chosen = minyi.param('r');
    if (chosen) await detail(chosen);
  }

  minyi.whoami().then(load).catch((e) => minyi.showError('error', e));
})();
