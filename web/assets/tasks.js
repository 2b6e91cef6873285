/* tasks.js - #/tasks?channel=&state=&func=&worker=&error=&sort=&limit=&cursor= :
 * the task table.  Filtering, sorting and paging are the server's
 * (/api/v1/tasks); the page keeps them in the hash, so a filtered view is a
 * link (#/tasks?state=failed), and the cursors of the pages before, so
 * that "previous" goes back.  An operator acts on a row from here. */
'use strict';

(function (M) {
  const FILTERS = ['channel', 'state', 'func', 'worker', 'error'];
  const SORTS = [['-created_at', 'newest first'], ['created_at', 'oldest first'],
    ['-priority', 'highest priority'], ['priority', 'lowest priority'],
    ['-finished_at', 'last finished'], ['finished_at', 'first finished']];
  const LIMITS = ['25', '50', '100', '200'];
  const back = {}; // filter key -> cursors of the pages before this one

  function params(q) {
    const p = {};
    for (const k of FILTERS.concat(['sort', 'limit', 'cursor'])) {
      if (q.get(k)) p[k] = q.get(k);
    }
    return p;
  }
  function filterKey(p) {
    const c = Object.assign({}, p);
    delete c.cursor;
    return JSON.stringify(c);
  }

  /* The channel names from /api/v1/channels, whichever shape it has:
   * ["a"], {"channels": ["a"]} or {"channels": [{"name": "a"}]}. */
  M.channelList = async function () {
    let data;
    try { data = await M.get('api/v1/channels'); } catch (e) {
      if (e.status === 401) throw e;
      return [];
    }
    const list = Array.isArray(data) ? data : (data && data.channels) || [];
    return list.map(function (c) {
      return typeof c === 'string' ? c : c.name || c.channel || M.oid(c._id);
    }).filter(Boolean).sort();
  };

  function filterForm(p, channels) {
    const go = function () {
      const n = {};
      for (const el of form.querySelectorAll('[name]')) if (el.value) n[el.name] = el.value;
      location.hash = M.hash('tasks', '', n);
    };
    const select = function (name, options, label) {
      return M.el('label', null, label, M.el('select', { name: name, id: 'f-' + name,
        onchange: go }, options.map(function (o) {
        const v = Array.isArray(o) ? o[0] : o, t = Array.isArray(o) ? o[1] : o;
        return M.el('option', { value: v, selected: (p[name] || '') === v }, t);
      })));
    };
    const text = function (name, label, ph) {
      return M.el('label', null, label, M.el('input', { name: name, id: 'f-' + name,
        value: p[name] || '', placeholder: ph, size: name === 'error' ? 22 : 12 }));
    };
    const chans = channels.slice();
    if (p.channel && chans.indexOf(p.channel) < 0) chans.push(p.channel);
    const form = M.el('form', { class: 'filters', id: 'filters', onsubmit: function (ev) {
      ev.preventDefault();
      go();
    } },
    select('channel', [['', 'any']].concat(chans), 'channel'),
    select('state', [['', 'any']].concat(M.STATES), 'state'),
    text('func', 'function', 'name'),
    text('worker', 'worker', 'id'),
    text('error', 'error contains', 'text in the error'),
    select('sort', SORTS, 'sort'),
    select('limit', [['', '50']].concat(LIMITS.filter(function (l) { return l !== '50'; })
      .map(function (l) { return [l, l]; })), 'rows'),
    M.el('button', { type: 'submit', class: 'primary' }, 'Filter'),
    M.link('#/tasks', 'clear', { class: 'more' }));
    return form;
  }

  /* A column header that sorts by its field (again: the other way). */
  function sortHeader(p, field, text) {
    const cur = p.sort || '-created_at';
    const on = cur === field || cur === '-' + field;
    const next = cur === '-' + field ? field : '-' + field;
    const q = Object.assign({}, p, { sort: next });
    delete q.cursor;
    return { node: M.link(M.hash('tasks', '', q), text + (on ? (cur[0] === '-' ? ' ▼' : ' ▲') : ''),
      { class: 'sort' + (on ? ' on' : ''), 'data-sort': field }), class: field === 'priority' ? 'n' : null };
  }

  function row(t) {
    const id = M.oid(t._id);
    const state = M.taskState(t);
    const err = t.error || '';
    return M.el('tr', { 'data-id': id, 'data-state': state },
      M.el('td', { class: 'id' }, M.link('#/task/' + id, id)),
      M.el('td', null, t.channel || '–'),
      M.el('td', { class: 'func' }, t.func || '–',
        t.version && t.version !== '1' ? M.el('span', { class: 'dim' }, '@' + t.version) : null,
        t.flow ? M.el('span', { class: 'tag', title: 'step ' + (t.step || '') + ' of flow ' +
          M.oid(t.flow) }, 'flow') : null,
        t.parent ? M.el('span', { class: 'tag', title: 'copy of ' + M.oid(t.parent) }, 'copy') : null),
      M.el('td', null, M.badge(state)),
      M.el('td', { class: 'n' }, M.num(t.priority)),
      M.el('td', { class: 'n' }, M.num(t.attempt) + '/' + M.num(t.max_attempts)),
      M.el('td', null, t.worker ? M.link(M.hash('tasks', '', { worker: t.worker }), t.worker) : '–'),
      M.timeCell(t.created_at),
      M.timeCell(t.finished_at),
      M.el('td', { class: 'err', title: err || null }, err.length > 90 ? err.slice(0, 89) + '…' : err),
      M.canAct() ? M.el('td', { class: 'rowact' }, M.taskButtons(t, true)) : null);
  }

  M.page('tasks', async function (view, ctx) {
    const p = params(ctx.query);
    const key = filterKey(p);
    const stack = back[key] || (back[key] = []);
    const api = new URLSearchParams(p);
    const [data, channels] = await Promise.all([
      M.get('api/v1/tasks' + (api.toString() ? '?' + api.toString() : '')), M.channelList()]);
    const tasks = data.tasks || [];
    const title = M.el('h1', null, 'Tasks');
    if (p.state) title.appendChild(M.badge(p.state));
    view.appendChild(title);
    view.appendChild(filterForm(p, channels));

    const head = [{ text: 'id' }, 'channel', 'function', 'state', sortHeader(p, 'priority', 'prio'),
      { text: 'attempt', class: 'n' }, 'worker', sortHeader(p, 'created_at', 'created'),
      sortHeader(p, 'finished_at', 'finished'), 'error'];
    if (M.canAct()) head.push('actions');
    const rows = tasks.map(row);
    if (!rows.length) {
      rows.push(M.el('tr', { class: 'none' }, M.el('td', { colspan: head.length, class: 'dim' },
        p.cursor ? 'No more tasks.' : 'No task matches.')));
    }
    view.appendChild(M.el('div', { class: 'scroll' },
      M.table(head, rows, { class: 'tasks', id: 'tasks' })));

    // Paging: the server's cursor forward, the ones seen before backward.
    const page = stack.length + 1;
    const pager = M.el('p', { class: 'pager', id: 'pager' },
      M.el('span', { class: 'dim' }, 'page ' + page + ', ' + tasks.length + ' task' +
        (tasks.length === 1 ? '' : 's') + ' '));
    if (p.cursor) {
      pager.appendChild(M.el('button', { class: 'small', id: 'page-first', onclick: function () {
        back[key] = [];
        const q = Object.assign({}, p);
        delete q.cursor;
        location.hash = M.hash('tasks', '', q);
      } }, '⏮ first'));
      pager.appendChild(M.el('button', { class: 'small', id: 'page-prev', onclick: function () {
        const q = Object.assign({}, p);
        const prev = stack.pop();
        if (prev) q.cursor = prev; else delete q.cursor;
        location.hash = M.hash('tasks', '', q);
      } }, '← previous'));
    }
    if (data.next) {
      pager.appendChild(M.el('button', { class: 'small', id: 'page-next', onclick: function () {
        stack.push(p.cursor || '');
        location.hash = M.hash('tasks', '', Object.assign({}, p, { cursor: data.next }));
      } }, 'next →'));
    }
    view.appendChild(pager);
    M.clock('read ' + M.fmtTime(new Date().toISOString()) + ' UTC');
  });
}(window.MTQ));
