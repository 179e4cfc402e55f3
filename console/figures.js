// The office's figures and 考核 points of a year (China time).  The charts
// are SVG drawn by the gateway (/chart/stats.svg, /chart/points.svg) from
// the same operations as `minyi stats` and `minyi points`; the table lists
// the points as numbers, for reading aloud and copying.
'use strict';

(() => {
  const { api, el } = minyi;
  const $ = (id) => document.getElementById(id);
  const statsBy = { STATS_BY_TOTAL: '总计', STATS_BY_CONTACT_POINT: '按联系点',
    STATS_BY_REPORTER_KIND: '按反映人类别', STATS_BY_SECTOR: '按界别', STATS_BY_CATEGORY: '按类别',
    STATS_BY_REGION: '按地区', STATS_BY_MONTH: '按月份' };
  const pointsBy = { POINTS_BY_CONTACT_POINT: '按联系点', POINTS_BY_REPORTER: '按反映人' };
  minyi.options($('f-by'), statsBy);
  minyi.options($('f-points-by'), pointsBy);
  $('f-by').value = 'STATS_BY_CATEGORY';

  // 1 January of year, midnight in Asia/Shanghai (UTC+8, no daylight saving).
  function yearStart(year) { return Date.parse(`${year}-01-01T00:00:00+08:00`); }

  function thisYear() {
    return Number(new Date().toLocaleString('en-US', { timeZone: 'Asia/Shanghai', year: 'numeric' }));
  }

  async function load() {
    const year = Number($('f-year').value) || thisYear();
    const stats = new URLSearchParams({ from_ms: yearStart(year), to_ms: yearStart(year + 1),
      by: $('f-by').value });
    const points = new URLSearchParams({ year, by: $('f-points-by').value });
    $('stats-chart').src = '/chart/stats.svg?' + stats;
    $('points-chart').src = '/chart/points.svg?' + points;
    try {
      const res = await api('POST', '/api/op/points', { year, by: $('f-points-by').value });
      $('points-rows').replaceChildren(...(res.rows || []).map((r) => el('tr', {},
        el('td', {}, r.label || r.key), el('td', {}, Number(r.points || 0).toFixed(1)),
        el('td', {}, String(r.items || 0)))));
      $('error').replaceChildren();
    } catch (e) {
      minyi.showError('error', e);
    }
  }

  $('f-year').value = thisYear();
  $('filters').addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
  minyi.whoami().then(load).catch((e) => minyi.showError('error', e));
})();
