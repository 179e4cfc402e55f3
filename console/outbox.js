// The deliveries of forwarded reports, one per destination: pending,
// retries, dead letters; an editor may retry or cancel a dead one.
'use strict';

(() => {
  const { api, el, when } = minyi;
  const $ = (id) => document.getElementById(id);
  const deliveryStates = { pending: '待发送', in_flight: '发送中', delivered: '已送达', result: '已有结果',
    dead: '发送失败', cancelled: '已取消' };
  minyi.options($('f-state'), deliveryStates, '全部');

  function actionButton(item, action, text) {
    const b = el('button', { type: 'button' }, text);
    b.addEventListener('click', async () => {
      try {
        await api('POST', '/api/op/outbox_action', { outbox_id: item.outbox_id, action });
        await load();
      } catch (e) { minyi.showError('error', e); }
    });
    return b;
  }

  async function load() {
    const filter = {};
    if ($('f-state').value) filter.states = [$('f-state').value];
    if ($('f-dest').value) filter.destination = $('f-dest').value;
    if ($('f-receipt').value) filter.receipt = $('f-receipt').value;
    try {
      const res = await api('POST', '/api/op/outbox', { filter, limit: 200 });
      $('rows').replaceChildren(...(res.items || []).map((it) => el('tr', {},
        el('td', {}, el('a', { href: '/report.html?r=' + encodeURIComponent(it.receipt) }, it.receipt)),
        el('td', {}, it.title), el('td', {}, it.destination),
        el('td', { class: it.state === 'dead' ? 'overdue' : undefined }, deliveryStates[it.state] || it.state),
        el('td', {}, String(it.attempts)), el('td', {}, when(it.next_attempt_ms)),
        el('td', {}, it.last_error), el('td', {}, it.upstream_receipt),
        el('td', {}, it.state === 'dead' ? actionButton(it, 'RETRY', '重试') : '',
          it.state === 'dead' || it.state === 'pending' ? actionButton(it, 'CANCEL', '取消') : ''))));
      $('error').replaceChildren();
    } catch (e) {
      minyi.showError('error', e);
    }
  }

  $('filters').addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
  minyi.whoami().then(load).catch((e) => minyi.showError('error', e));
})();
