/* task.js - #/task/<id>: one task, from /api/v1/tasks/<id>: its fields,
 * args, result or the error of every attempt, its audit trail, its
 * redundant copies and its flow; the actions its state allows.  It is not
 * redrawn by itself (a button acts on what the operator sees; if the task
 * moved on meanwhile the server refuses and says why). */
'use strict';

(function (M) {
  /* Fields shown in this order; the rest (unknown to this page) after them. */
  const SHOWN = ['_id', 'status', 'channel', 'func', 'version', 'priority', 'is_enable',
    'attempt', 'max_attempts', 'timeout_s', 'worker', 'created_at', 'not_before', 'claimed_at',
    'finished_at', 'backoff_ms', 'backoff_max_ms', 'dedupe_key', 'token', 'sig', 'flow', 'step',
    'shard', 'shards', 'parent', 'slot', 'origin', 'redundancy'];
  const APART = ['args', 'result', 'error', 'errors', 'copies', 'original', 'state'];
  const DATES = ['created_at', 'not_before', 'claimed_at', 'finished_at'];

  function value(t, k) {
    const v = t[k];
    if (v === undefined || v === null) return M.el('span', { class: 'dim' }, '–');
    if (DATES.indexOf(k) >= 0) {
      return M.el('span', { title: M.ago(v) }, M.fmtTime(v) + ' ', M.el('span', { class: 'dim' },
        '(' + M.ago(v) + ')'));
    }
    if (k === 'flow') return M.link('#/flow/' + M.oid(v), M.oid(v));
    if (k === 'parent') return M.link('#/task/' + M.oid(v), M.oid(v));
    if (k === 'worker') return M.link(M.hash('tasks', '', { worker: v }), v);
    if (k === 'sig') return 'signed with key ' + (v.key || '?');
    if (k === '_id') return M.oid(v);
    if (k === 'status') {
      const s = M.taskState(t);
      return M.el('span', null, M.badge(s), s !== v ? M.el('span', { class: 'dim' },
        ' stored status ' + v + ', is_enable false') : null,
      M.heldSuspended(t) ? M.el('span', { class: 'dim' }, ' (stopped while it runs on ' +
        t.worker + ')') : null);
    }
    if (k.endsWith('_ms')) return M.fmtDuration(v) + ' (' + v + ' ms)';
    if (k === 'timeout_s') return M.fmtDuration(v * 1000);
    if (typeof v === 'object') return M.pre(v, 'inline');
    return String(v);
  }

  function fields(t) {
    const keys = SHOWN.filter(function (k) { return k in t; });
    for (const k of Object.keys(t)) {
      if (keys.indexOf(k) < 0 && APART.indexOf(k) < 0) keys.push(k);
    }
    return M.el('table', { class: 'fields', id: 'fields' }, M.el('tbody', null, keys.map(function (k) {
      return M.el('tr', { 'data-field': k }, M.el('th', null, k === '_id' ? 'id' : k),
        M.el('td', null, value(t, k)));
    })));
  }

  function attempts(t) {
    const errs = Array.isArray(t.errors) ? t.errors : [];
    if (!errs.length) return null;
    return M.section('Errors of every attempt (' + errs.length + ')',
      M.table([{ text: 'attempt', class: 'n' }, 'worker', 'at', 'error'], errs.map(function (e) {
        return M.el('tr', null, M.el('td', { class: 'n' }, M.num(e.attempt)),
          M.el('td', null, e.worker || '–'), M.timeCell(e.at),
          M.el('td', { class: 'errtext' }, e.error || ''));
      }), { class: 'attempts', id: 'attempts' }));
  }

  M.historyTable = function (events, id) {
    const list = (events || []).slice().sort(function (a, b) {
      return (M.date(a.at) || 0) - (M.date(b.at) || 0);
    });
    // A flow's events name the step they are about (none: the flow itself).
    const steps = list.some(function (e) { return 'step' in e; });
    // A flow's events have no attempt: no column of dashes.
    const attempts = list.some(function (e) { return e.attempt !== undefined && e.attempt !== null; });
    const rows = list.map(function (e) {
      return M.el('tr', { 'data-to': e.to, 'data-by': e.by },
        M.timeCell(e.at),
        steps ? M.el('td', null, e.step || M.el('span', { class: 'dim' }, 'flow')) : null,
        M.el('td', null, e.from ? M.badge(e.from) : '–'),
        M.el('td', null, e.to ? M.badge(e.to) : '–'),
        M.el('td', { class: 'by' }, e.by || '–'),
        attempts ? M.el('td', { class: 'n' }, M.num(e.attempt)) : null,
        M.el('td', { class: 'why' }, e.why || ''));
    });
    if (!rows.length) {
      rows.push(M.el('tr', null, M.el('td', { colspan: 6, class: 'dim' }, 'No event recorded.')));
    }
    const head = ['at', 'from', 'to', 'by'].concat(attempts ? [{ text: 'attempt', class: 'n' }] : [],
      ['why']);
    if (steps) head.splice(1, 0, 'step');
    return M.table(head, rows, { class: 'history', id: id || 'history' });
  };

  function copiesTable(copies) {
    if (!Array.isArray(copies) || !copies.length) return null;
    return M.section('Redundant copies (' + copies.length + ')',
      M.table([{ text: 'slot', class: 'n' }, 'copy', 'worker', 'host', 'state', 'sent', 'ended',
        'result hash', 'error'], copies.map(function (c) {
        const id = M.oid(c.id || c._id);
        const state = c.state || (c.status ? M.taskState(c) : '');
        return M.el('tr', null, M.el('td', { class: 'n' }, M.num(c.slot)),
          M.el('td', { class: 'id' }, id ? M.link('#/task/' + id, id) : '–'),
          M.el('td', null, c.worker || '–'), M.el('td', null, c.host || '–'),
          M.el('td', null, state ? M.badge(state) : '–'),
          M.timeCell(c.sent_at || c.created_at), M.timeCell(c.ended_at || c.finished_at),
          M.el('td', { class: 'hash', title: c.hash || null }, c.hash ? c.hash.slice(0, 12) + '…' : '–'),
          M.el('td', { class: 'errtext' }, c.error || ''));
      }), { class: 'copies', id: 'copies' }));
  }

  function flowPart(t, flow) {
    if (!flow && !t.flow) return null;
    const fid = M.oid((flow && flow._id) || t.flow);
    const head = M.el('p', { id: 'task-flow' }, 'Step ', M.el('b', null, t.step || '?'),
      t.shards > 1 ? ' shard #' + t.shard + ' of ' + t.shards : '',
      ' of flow ', M.link('#/flow/' + fid, (flow && flow.name) || fid),
      flow && flow.status ? [' ', M.badge(flow.status)] : null);
    return M.section('Flow', head, flow && Array.isArray(flow.steps) ? M.flowGraph(flow, t.step) : null);
  }

  M.page('task', async function (view, ctx) {
    const id = ctx.arg;
    const data = await M.get('api/v1/tasks/' + encodeURIComponent(id));
    const t = data.task || {};
    const state = M.taskState(t);
    view.appendChild(M.el('h1', null, 'Task ', M.el('span', { class: 'mono', id: 'task-id' },
      M.oid(t._id) || id), ' ', M.badge(state), ' ',
    M.el('span', { class: 'dim' }, (t.func || '') + (t.version ? '@' + t.version : '') +
      ' on ' + (t.channel || '?'))));
    view.appendChild(M.el('div', { class: 'toolbar', id: 'task-actions' },
      M.taskButtons(t, false),
      M.el('button', { class: 'small', id: 'reload', onclick: function () { M.refresh(); } },
        'Reload')));

    const right = M.el('div', { class: 'col' },
      M.el('h3', null, 'Args'), M.pre(t.args === undefined ? null : t.args, 'args'));
    if (t.result !== undefined && t.result !== null) {
      right.appendChild(M.el('h3', null, 'Result'));
      right.appendChild(M.pre(t.result, 'result'));
    }
    if (t.error) {
      right.appendChild(M.el('h3', null, 'Last error'));
      right.appendChild(M.el('pre', { class: 'errtext', id: 'last-error' }, t.error));
    }
    if (t.original) {
      right.appendChild(M.el('h3', null, 'The malformed document, as found'));
      right.appendChild(M.pre(t.original, 'original'));
    }
    view.appendChild(M.el('div', { class: 'cols' },
      M.el('div', { class: 'col' }, fields(t)), right));
    M.append(view, [attempts(t),
      M.section('Audit trail', M.historyTable(data.history)),
      copiesTable(data.copies || t.copies),
      flowPart(t, data.flow)]);
    M.clock('read ' + M.fmtTime(new Date().toISOString()) + ' UTC');
  });
}(window.MTQ));
