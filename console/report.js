// One report: its summary, the versions side by side (version 1 beside
// the chosen one), duplicate hints, attachments, deliveries, the history
// naming who acted, and every action an editor may take.  Every text goes
// in with textContent.
'use strict';

(() => {
  const { api, el, states, categories, urgencies, actions, when } = minyi;
  const $ = (id) => document.getElementById(id);
  const receipt = minyi.param('r') || '';
  let me = null;

  // One attachment, fetched whole through the API and handed to the
  // browser as a file under its own name and media type.
  async function download(a) {
    const got = await api('POST', '/api/op/attachment', { receipt, index: a.index || 0 });
    const bin = atob(got.content.base64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const url = URL.createObjectURL(new Blob([bytes], { type: got.media_type || 'application/octet-stream' }));
    const link = el('a', { href: url, download: got.name || 'attachment' });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  function pairs(list) {
    return el('dl', {}, ...list.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v || '—')]));
  }

  function versionText(v) {
    return el('pre', {}, ['版本 ' + v.version + '（' + (v.author || '') + '，' + when(v.at_ms) + '）',
      '标题：' + (v.title || ''), '情况/问题：' + (v.situation || ''),
      '原因分析：' + (v.analysis || ''), '意见建议：' + (v.suggestions || ''),
      v.note ? '修改说明：' + v.note : ''].join('\n'));
  }

  async function showDiff(latest) {
    const pick = Number($('v-pick').value || latest);
    const [first, chosen] = await Promise.all([
      api('POST', '/api/op/show', { receipt, version: 1 }),
      api('POST', '/api/op/show', { receipt, version: pick }),
    ]);
    $('diff').replaceChildren(versionText(first.version), versionText(chosen.version));
  }

  function render(r) {
    document.title = (r.version && r.version.title ? r.version.title + ' — ' : '') + '信息详情';
    const v = r.version || {};
    $('summary').replaceChildren(
      el('h2', {}, v.title || r.receipt),
      pairs([['回执编号', r.receipt], ['状态', states[r.state] || r.state],
        ['类别', categories[v.category] || v.category], ['紧急程度', urgencies[r.urgency] || r.urgency],
        ['报送单位', r.contact_point], ['反映人', r.reporter ? r.reporter.name + '（' + (r.reporter.unit || '') + '）' : ''],
        ['地区', r.region], ['联系电话', r.phone], ['接收时间', when(r.received_at_ms)],
        ['认领人', r.claimed_by ? r.claimed_by + '（至 ' + when(r.claim_expires_ms) + '）' : ''],
        ['上级退回理由', r.returned_above], ['已合并到', r.merged_into]]));
    const picks = [];
    for (let i = r.latest_version || 1; i >= 1; i--) picks.push(el('option', { value: i }, '版本 ' + i));
    // The newest version unless the editor chose another.
    const keep = $('v-pick').dataset.chosen;
    $('v-pick').replaceChildren(...picks);
    if (keep) $('v-pick').value = keep;
    $('similar').replaceChildren(...(r.similar || []).map((s) => el('li', {},
      el('a', { href: '/report.html?r=' + encodeURIComponent(s.receipt) }, s.receipt), ' ', s.title,
      '（' + (states[s.state] || s.state) + '，相似度 ' + Math.round((s.similarity || 0) * 100) + '%）')));
    $('attachments').replaceChildren(...(r.attachments || []).map((a) => {
      const get = el('button', { type: 'button', class: 'download' }, '下载');
      get.addEventListener('click', () => download(a).catch((e) => minyi.showError('error', e)));
      return el('li', {}, a.name + '（' + a.media_type + '，' + a.size + ' 字节）', ' ', get);
    }));
    $('deliveries').replaceChildren(...(r.deliveries || []).map((d) =>
      el('li', {}, (d.display_name || d.destination) + '：' + d.state + '，尝试 ' + d.attempts + ' 次' +
        (d.last_error ? '，错误：' + d.last_error : '') + (d.upstream_receipt ? '，上级回执 ' + d.upstream_receipt : ''))));
    $('history').replaceChildren(...(r.history || []).map((h) => el('tr', {},
      el('td', {}, when(h.at_ms)), el('td', {}, actions[h.action] || h.action),
      el('td', {}, states[h.state] || h.state), el('td', {}, h.actor || h.body || '系统'),
      el('td', {}, h.note), el('td', { class: 'instruction' },
        h.instruction ? (h.instruction_level ? h.instruction_level + '：' : '') + h.instruction : ''))));
    if (me.kind === 'editor') {
      $('actions').hidden = false;
      if (!$('e-title').dataset.loaded) {
        $('e-title').value = v.title || '';
        $('e-situation').value = v.situation || '';
        $('e-analysis').value = v.analysis || '';
        $('e-suggestions').value = v.suggestions || '';
        $('e-title').dataset.loaded = '1';
      }
    }
    return showDiff(r.latest_version || 1);
  }

  async function load() {
    try {
      const r = await api('POST', '/api/op/show', { receipt });
      await render(r);
      $('error').replaceChildren();
    } catch (e) {
      minyi.showError('error', e);
    }
  }

  async function act(path, body, result) {
    try {
      await api('POST', path, body);
      if (result) $(result).textContent = '已完成';
      await load();
    } catch (e) {
      minyi.showError(result || 'error', e);
    }
  }

  $('claim').addEventListener('click', () => act('/api/op/claim', { receipt }));
  $('renew').addEventListener('click', () => act('/api/op/renew', { receipt }));
  $('release').addEventListener('click', () => act('/api/op/release', { receipt }));
  $('v-pick').addEventListener('change', () => {
    $('v-pick').dataset.chosen = $('v-pick').value;
    load();
  });
  $('edit-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    act('/api/op/edit', { receipt, title: $('e-title').value, situation: $('e-situation').value,
      analysis: $('e-analysis').value, suggestions: $('e-suggestions').value, note: $('e-note').value },
    'edit-result');
  });
  $('decide-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const d = { receipt, decision: $('d-decision').value, note: $('d-note').value };
    if (d.decision === 'ADOPT' && $('d-instruction').value) {
      d.instruction = $('d-instruction').value;
      d.instruction_level = $('d-level').value;
    }
    if (d.decision === 'MERGE') d.into_receipt = $('d-into').value;
    if (d.decision === 'FORWARD') {
      d.destinations = [...document.querySelectorAll('#d-destinations input:checked')].map((i) => i.value);
    }
    act('/api/op/decide', d, 'decide-result');
  });

  minyi.whoami().then((who) => {
    me = who;
    for (const name of who.destinations || []) {
      $('d-destinations').append(el('label', {}, el('input', { type: 'checkbox', value: name }), ' ' + name));
    }
    return load();
  }).catch((e) => minyi.showError('error', e));
})();
