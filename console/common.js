// Shared by every page: calling the JSON API, building DOM nodes whose text
// is always set with textContent (never parsed as HTML), the names shown
// for codes, and dates in Asia/Shanghai.
'use strict';

const minyi = (() => {
  // Every call carries the header the gateway requires of a change, so a
  // page of another origin cannot make one without a preflight.
  async function api(method, path, body) {
    const init = { method, headers: { 'X-Minyi-Console': '1' }, cache: 'no-store' };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const err = new Error((data && data.message_zh) || ('请求失败 ' + res.status));
      err.status = res.status;
      err.code = data && data.code;
      err.field = data && data.field;
      err.detail = data;
      throw err;
    }
    return data;
  }

  // el('td', {class: 'x'}, 'text', child): attributes are set as
  // attributes, strings become text nodes.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) {
      if (c === undefined || c === null) continue;
      node.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return node;
  }

  const states = { RECEIVED: '已接收', IN_REVIEW: '审核中', ADOPTED: '本级采用', REJECTED: '不予采用',
    RETURNED: '退回修改', MERGED: '已合并', FORWARDED: '已上报', ADOPTED_ABOVE: '上级采用',
    NOT_ADOPTED_ABOVE: '上级未采用' };
  const categories = { ECONOMY: '经济', POLITICS: '政治', CULTURE: '文化', SOCIETY: '社会',
    ECOLOGY: '生态', PARTY_BUILDING: '党建', OTHER: '其他' };
  const urgencies = { NORMAL: '一般', URGENT: '急事急报' };
  const reporterKinds = { MEMBER: '委员', PARTY_GROUP: '党派团体', SECTOR: '界别', LOWER_BODY: '下级政协',
    COMMITTEE: '委室', CONTACT_POINT: '联系点', CITIZEN: '群众' };
  // Every action a history line may carry (PROTOCOL.md §3.4, §3.10); one the
  // page does not know is shown as its code.
  const actions = { received: '接收', claim: '认领', renew: '续期', release: '释放', edit: '编辑',
    adopt: '采用', reject: '不予采用', return: '退回修改', merge: '合并', merged_from: '并入',
    forward: '上报', resubmit: '重新提交', instruction: '批示', issue: '编发', erase: '删除个人信息',
    external: '报送', external_response: '报送反馈', delivered: '已送达', delivery_dead: '报送失败',
    delivery_retry: '重新报送', delivery_cancelled: '撤销报送',
    result_adopt: '上级采用', result_reject: '上级未采用', result_return: '上级退回',
    result_returned_above: '更上级退回', result_merge: '上级合并', result_forward: '上级上报',
    result_delivered: '上级已送达', result_instruction: '上级批示', result_issue: '上级编发',
    result_external: '上级报送', result_external_response: '上级报送反馈' };

  // A select filled from a code -> name table, with an optional empty choice.
  function options(select, table, empty) {
    const list = empty === undefined ? [] : [el('option', { value: '' }, empty)];
    for (const [code, name] of Object.entries(table)) list.push(el('option', { value: code }, name));
    select.replaceChildren(...list);
    return select;
  }

  function param(name) { return new URLSearchParams(location.search).get(name); }

  const kinds = { contact: '联系点', editor: '信息编辑', office: '办公室', admin: '管理员', peer: '上下级平台' };

  function when(ms) {
    if (!ms) return '';
    return new Date(Number(ms)).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false });
  }

  let me = null;
  async function whoami() {
    if (me) return me;
    me = await api('GET', '/api/me');
    const who = document.getElementById('who');
    if (who) who.textContent = me.name + '（' + (kinds[me.kind] || me.kind) + '）';
    const nav = document.getElementById('nav');
    if (nav) {
      const links = [['/', '首页']];
      if (me.kind === 'contact') links.push(['/submit.html', '报送信息'], ['/mine.html', '我的信息'], ['/inbox.html', '群众来信']);
      if (me.kind === 'editor') links.push(['/queue.html', '信息队列'], ['/outbox.html', '报送队列']);
      if (me.kind === 'office' || me.kind === 'admin') {
        links.push(['/queue.html', '信息队列'], ['/outbox.html', '报送队列'], ['/figures.html', '数字与考核']);
      }
      nav.replaceChildren(...links.map(([href, text]) => el('a', { href }, text)));
    }
    return me;
  }

  function showError(where, e) {
    const node = typeof where === 'string' ? document.getElementById(where) : where;
    if (node) node.replaceChildren(el('p', { class: 'error', role: 'alert' }, e.message));
  }

  return { api, el, kinds, states, categories, urgencies, reporterKinds, actions, options, param,
    when, whoami, showError };
})();
