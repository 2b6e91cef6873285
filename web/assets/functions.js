/* functions.js - #/functions: the function registry (GET /api/v1/functions):
 * each function's version, description, who develops it and how to reach
 * them, its digest, the workers that serve it (a stopped one dimmed); a
 * version that tasks want and no running worker has is marked missing,
 * with why.  A server without the registry
 * answers 404: the page says so. */
'use strict';

(function (M) {
  /* The workers that serve a version, a stopped one dimmed. */
  function workersCell(f) {
    const ws = f.workers || [];
    if (!ws.length) return M.el('span', { class: 'dim' }, 'none');
    const cell = M.el('span');
    ws.forEach(function (w, i) {
      if (i) cell.appendChild(document.createTextNode(', '));
      cell.appendChild(M.el('span', { class: w.live ? null : 'dim',
        title: w.live ? 'serving' : 'not running' }, w.id));
    });
    return cell;
  }

  /* Tasks want the version and no running worker has it: who looked, when
   * they last synced, and why it is still missing. */
  function missingText(f) {
    return (f.missing || []).map(function (m) {
      return m.worker + ' (channel ' + m.channel + '): ' + (m.why || 'not found') +
        (m.last_sync_at ? '; last sync ' + M.ago(m.last_sync_at) : '');
    }).join('; ');
  }

  M.page('functions', async function (view) {
    view.appendChild(M.el('h1', null, 'Functions'));
    let data;
    try {
      data = await M.get('api/v1/functions');
    } catch (e) {
      if (e.status !== 404) throw e;
      view.appendChild(M.el('p', { class: 'notice', id: 'functions-unavailable' },
        'The function registry is not available on this server.'));
      return;
    }
    const list = (data.functions || []).slice().sort(function (a, b) {
      return String(a.name).localeCompare(String(b.name)) ||
        String(a.version).localeCompare(String(b.version));
    });
    const rows = list.map(function (f) {
      const missing = (f.missing || []).length > 0;
      return M.el('tr', { class: missing ? 'lost' : null, 'data-func': f.name,
        'data-version': f.version, title: missing ? missingText(f) : null },
        M.el('th', null, M.link(M.hash('tasks', '', { func: f.name }), f.name,
          { title: 'tasks of ' + f.name })),
        M.el('td', null, f.version || '–'),
        M.el('td', { class: 'desc' }, f.description || ''),
        M.el('td', null, f.developer || '–'),
        M.el('td', null, f.contact || '–'),
        M.el('td', { class: 'hash mono', title: f.digest || null },
          f.digest ? String(f.digest).slice(0, 12) + '…' : '–'),
        M.timeCell(f.updated_at),
        M.el('td', null, workersCell(f)),
        M.el('td', null, missing ? M.badge('missing') : M.badge(f.live ? 'served' : 'not served')));
    });
    if (!rows.length) {
      rows.push(M.el('tr', null, M.el('td', { colspan: 9, class: 'dim' },
        'No function is registered.')));
    }
    view.appendChild(M.el('div', { class: 'scroll' }, M.table(['function', 'version',
      'description', 'developer', 'contact', 'digest', 'updated', 'workers', ''], rows,
    { class: 'functions', id: 'functions' })));
  });
}(window.MTQ));
