/* flows.js - #/flows (every flow, newest first) and #/flow/<id> (its steps
 * as a graph and a table, its audit trail, cancel / suspend / resume). */
'use strict';

(function (M) {
  function stepCounts(f) {
    const steps = f.steps || [];
    let done = 0, shards = 0, shardsDone = 0, failed = 0;
    for (const s of steps) {
      if (s.state === 'done') done++;
      shards += s.shards || 1;
      shardsDone += s.shards_done || 0;
      failed += s.shards_failed || 0;
    }
    return { steps: steps.length, done: done, shards: shards, shardsDone: shardsDone, failed: failed };
  }

  function span(a, b) {
    const x = M.date(a), y = M.date(b);
    if (!x) return '–';
    return M.fmtDuration((y ? y.getTime() : Date.now()) - x.getTime()) + (y ? '' : ' so far');
  }

  M.page('flows', async function (view) {
    const data = await M.get('api/v1/flows');
    const flows = (data.flows || []).slice().sort(function (a, b) {
      return (M.date(b.created_at) || 0) - (M.date(a.created_at) || 0);
    });
    view.appendChild(M.el('h1', null, 'Flows ', M.el('span', { class: 'dim' },
      flows.length + ' flow' + (flows.length === 1 ? '' : 's'))));
    const head = ['id', 'name', 'state', { text: 'steps done', class: 'n' },
      { text: 'shards done', class: 'n' }, 'created', { text: 'took', class: 'n' }, 'why'];
    if (M.canAct()) head.push('actions');
    const rows = flows.map(function (f) {
      const id = M.oid(f._id), c = stepCounts(f);
      return M.el('tr', { 'data-id': id, 'data-state': f.status },
        M.el('td', { class: 'id' }, M.link('#/flow/' + id, id)),
        M.el('td', null, f.name || M.el('span', { class: 'dim' }, '(no name)')),
        M.el('td', null, M.badge(f.status)),
        M.el('td', { class: 'n' }, c.done + '/' + c.steps),
        M.el('td', { class: 'n' }, c.shardsDone + '/' + c.shards +
          (c.failed ? ' (' + c.failed + ' failed)' : '')),
        M.timeCell(f.created_at),
        M.el('td', { class: 'n' }, span(f.created_at, f.finished_at)),
        M.el('td', { class: 'errtext' }, f.reason || ''),
        M.canAct() ? M.el('td', { class: 'rowact' }, M.flowButtons(f, true)) : null);
    });
    if (!rows.length) {
      rows.push(M.el('tr', null, M.el('td', { colspan: head.length, class: 'dim' },
        'No flow (mtq flow submit FILE starts one).')));
    }
    view.appendChild(M.el('div', { class: 'scroll' }, M.table(head, rows, { class: 'flows', id: 'flows' })));
    M.clock('read ' + M.fmtTime(new Date().toISOString()) + ' UTC');
  });

  function taskLinks(s) {
    const tasks = s.tasks || [];
    if (!tasks.length) return M.el('span', { class: 'dim' }, 'not started');
    const shown = tasks.slice(0, 6).map(function (t, i) {
      const id = M.oid(t);
      return [i ? ' ' : '', M.link('#/task/' + id, tasks.length > 1 ? '#' + i : M.shortId(id),
        { title: id, class: 'mono' })];
    });
    return M.el('span', null, shown, tasks.length > 6 ? ' … ' + tasks.length + ' tasks' : '');
  }

  function stepsTable(f) {
    return M.table(['step', 'function', 'after', 'state', { text: 'shards', class: 'n' },
      { text: 'failed', class: 'n' }, 'started', { text: 'took', class: 'n' }, 'tasks', 'why'],
    (f.steps || []).map(function (s) {
      const after = Array.isArray(s.after) ? s.after : (s.after ? [s.after] : []);
      const task = s.task || {};
      return M.el('tr', { 'data-step': s.name, 'data-state': s.state },
        M.el('th', null, s.name),
        M.el('td', null, (task.func || '–') + (task.version && task.version !== '1' ? '@' + task.version : '')),
        M.el('td', null, after.join(', ') || '–'),
        M.el('td', null, M.badge(s.state || 'waiting')),
        M.el('td', { class: 'n' }, (s.shards_done || 0) + '/' + (s.shards || 1)),
        M.el('td', { class: 'n' + (s.shards_failed ? ' bad' : '') }, M.num(s.shards_failed || 0)),
        M.timeCell(s.started_at),
        M.el('td', { class: 'n' }, span(s.started_at, s.ended_at)),
        M.el('td', { class: 'tasks' }, taskLinks(s)),
        M.el('td', { class: 'errtext' }, s.error || ''));
    }), { class: 'steps', id: 'steps' });
  }

  M.page('flow', async function (view, ctx) {
    const data = await M.get('api/v1/flows/' + encodeURIComponent(ctx.arg));
    const f = data.flow || {};
    const c = stepCounts(f);
    view.appendChild(M.el('h1', null, 'Flow ', M.el('b', null, f.name || ''), ' ',
      M.el('span', { class: 'mono', id: 'flow-id' }, M.oid(f._id) || ctx.arg), ' ',
      M.badge(f.status || '?')));
    view.appendChild(M.el('div', { class: 'toolbar', id: 'flow-actions' }, M.flowButtons(f, false),
      M.el('span', { class: 'dim' }, c.done + ' of ' + c.steps + ' steps done, ' + c.shardsDone +
        ' of ' + c.shards + ' shards; created ' + M.fmtTime(f.created_at) +
        (f.finished_at ? ', ended ' + M.fmtTime(f.finished_at) : '') + ', took ' +
        span(f.created_at, f.finished_at)),
      M.el('button', { class: 'small', id: 'reload', onclick: function () { M.refresh(); } }, 'Reload')));
    if (f.reason) view.appendChild(M.el('p', { class: 'error', id: 'flow-reason' }, f.reason));
    M.append(view, [
      M.section('Steps', M.flowGraph(f), stepsTable(f)),
      M.section('Audit trail', M.historyTable(data.history, 'flow-history')),
    ]);
    M.clock('read ' + M.fmtTime(new Date().toISOString()) + ' UTC');
  });
}(window.MTQ));
