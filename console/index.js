'use strict';

minyi.whoami().then((me) => {
  const { el } = minyi;
  document.getElementById('main').replaceChildren(
    el('p', {}, '欢迎，' + me.name + '。'),
    el('p', {}, '身份：' + (minyi.kinds[me.kind] || me.kind) + '　地区代码：' + me.region));
}).catch((e) => minyi.showError('main', e));
