/* functions.js - #/functions: the function registry (GET /api/v1/functions):
 * each function's version, description, who develops it and how to reach
 * them, its digest, the workers that serve it; a function no worker
 * serves any more is marked missing.  A server without the registry
 * answers 404: the page says so. */
'use strict';

(function (M) {
  function workerNames(f) {
    return (f.workers || []).map(function (w) {
      return typeof w === 'string' ? w : (w.id || w._id || w.worker || JSON.stringify(w));
    });
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
      const ws = workerNames(f);
      return M.el('tr', { class: f.missing ? 'lost' : null, 'data-func': f.name },
        M.el('th', null, M.link(M.hash('tasks', '', { func: f.name }), f.name,
          { title: 'tasks of ' + f.name })),
        M.el('td', null, f.version || '–'),
        M.el('td', { class: 'desc' }, f.description || ''),
        M.el('td', null, f.developer || '–'),
        M.el('td', null, f.contact || '–'),
        M.el('td', { class: 'hash mono', title: f.digest || null },
          f.digest ? String(f.digest).slice(0, 12) + '…' : '–'),
        M.timeCell(f.updated_at),
        M.el('td', null, ws.length ? ws.join(', ') : M.el('span', { class: 'dim' }, 'none')),
        M.el('td', null, f.missing ? M.badge('missing') : M.badge('served')));
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
