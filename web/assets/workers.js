/* workers.js - #/workers: every worker that ever heartbeated (whoami), with
 * its host's figures and its score from its run records; a lost one (its
 * heartbeat older than mtqd's lost_after_ms) is highlighted.  The compact
 * form of the table is the overview's. */
'use strict';

(function (M) {
  M.workerLost = function (w) {
    return w.lost === true || w.state === 'lost';
  };

  /* The CLI's SCORE: "20 runs 95% ok ~1.25s" (README, CLI). */
  M.score = function (p) {
    if (!p || !p.runs) return '–';
    const pct = Math.round((p.success_rate !== undefined ? p.success_rate : p.ok / p.runs) * 100);
    return p.runs + ' runs ' + pct + '% ok' +
      (p.ewma_ms ? ' ~' + M.fmtDuration(p.ewma_ms).replace(' ', '') : '');
  };

  function loadCell(w) {
    const l = Array.isArray(w.load) ? w.load : [];
    if (!l.length) return M.el('td', { class: 'n' }, '–');
    // Load per core above 1 means tasks wait for a CPU.
    const hot = w.cores && l[0] / w.cores > 1;
    return M.el('td', { class: 'n' + (hot ? ' warn' : ''),
      title: 'load average 1/5/15 min' + (w.cores ? ' on ' + w.cores + ' cores' : '') },
    l.map(function (v) { return Number(v).toFixed(2); }).join(' '));
  }
  function memCell(w) {
    const m = w.mem || {};
    const low = m.total_mb && m.available_mb / m.total_mb < 0.1;
    return M.el('td', { class: 'n' + (low ? ' warn' : '') },
      M.mbOf(m.available_mb, m.total_mb));
  }
  function diskCell(w) {
    const d = w.disk || {};
    return M.el('td', { class: 'n', title: d.path || null },
      M.mbOf(d.free_mb, d.total_mb));
  }
  function gpuCell(w) {
    const g = Array.isArray(w.gpus) ? w.gpus : [];
    if (!g.length) return M.el('td', { class: 'dim' }, '–');
    return M.el('td', null, g.map(function (x) {
      return M.el('div', null, '#' + x.index + ' ' + (x.name || '') + ' ' +
        M.num(x.util_pct) + '% ' + M.num(x.mem_used_mb) + '/' + M.num(x.mem_total_mb) + ' MiB' +
        (x.temp_c !== undefined ? ' ' + M.num(x.temp_c) + '°C' : ''));
    }));
  }
  function funcs(w) {
    return (w.functions || []).map(function (f) {
      return f.name + (f.version && f.version !== '1' ? '@' + f.version : '');
    }).join(', ');
  }

  /* workersTable(workers, full): compact for the overview, every figure
   * for the workers page. */
  M.workersTable = function (workers, full) {
    const list = (workers || []).slice().sort(function (a, b) {
      return String(a._id).localeCompare(String(b._id));
    });
    const head = ['worker', 'host', 'state', { text: 'busy', class: 'n', title: 'tasks running / concurrency' },
      { text: 'load', class: 'n' }, { text: 'memory free', class: 'n' }];
    if (full) {
      head.push({ text: 'disk free', class: 'n' }, { text: 'cpu °C', class: 'n' }, 'gpus',
        'channels', 'functions', { text: 'up', title: 'since the worker started' });
    }
    head.push('last seen', 'score');
    const rows = list.map(function (w) {
      const lost = M.workerLost(w);
      const state = lost ? 'lost' : (w.state || '?');
      const p = w.perf || {};
      const cells = [
        M.el('th', { class: 'wid' }, M.link(M.hash('tasks', '', { worker: w._id }), w._id,
          { title: 'tasks of ' + w._id })),
        M.el('td', null, w.host || '–', full && w.pid ? M.el('span', { class: 'dim' }, ' pid ' + w.pid) : null),
        M.el('td', null, M.badge(state === 'lost' ? 'lost' : state)),
        M.el('td', { class: 'n' }, M.num(w.running) + ' / ' + M.num(w.concurrency)),
        loadCell(w), memCell(w),
      ];
      if (full) {
        cells.push(diskCell(w),
          M.el('td', { class: 'n' }, w.cpu_temp_c === undefined ? '–' : M.num(w.cpu_temp_c, 0)),
          gpuCell(w),
          M.el('td', null, (w.channels || []).join(', ')),
          M.el('td', { class: 'funcs' }, funcs(w)),
          M.el('td', { class: 'time', title: M.fmtTime(w.started_at) + ' UTC' },
            // Up only while it heartbeats: a lost or stopped one is not.
            lost || w.state !== 'running' ? '–' : M.ago(w.started_at).replace(' ago', '')));
      }
      cells.push(M.el('td', { class: 'time', title: M.fmtTime(w.last_seen) + ' UTC' },
        M.ago(w.last_seen)), M.el('td', { class: 'score' }, M.score(w.perf),
        // Run time of the done attempts, and the wait from runnable to claimed.
        full && p.runs ? M.el('div', { class: 'dim' }, 'p50 ' + M.fmtDuration(p.p50_ms) +
          ' · p95 ' + M.fmtDuration(p.p95_ms) + ' · wait ' + M.fmtDuration(p.mean_wait_ms)) : null));
      return M.el('tr', { class: lost ? 'lost' : (w.state === 'stopped' ? 'stopped' : null),
        'data-worker': w._id, 'data-lost': lost ? 'yes' : 'no' }, cells);
    });
    if (!rows.length) {
      rows.push(M.el('tr', null, M.el('td', { colspan: head.length, class: 'dim' },
        'No worker has announced itself yet.')));
    }
    return M.table(head, rows, { class: 'workers' + (full ? ' full' : ''), id: 'workers' });
  };

  M.page('workers', async function (view) {
    const data = await M.get('api/v1/workers');
    const workers = data.workers || [];
    const lost = workers.filter(M.workerLost).length;
    view.appendChild(M.el('h1', null, 'Workers ',
      M.el('span', { class: 'dim' }, workers.length + ' known, ' +
        workers.filter(function (w) { return !M.workerLost(w) && w.state === 'running'; }).length +
        ' running'),
      lost ? M.el('span', { class: 'badge s-dead' }, lost + ' lost') : null));
    view.appendChild(M.el('div', { class: 'scroll' }, M.workersTable(workers, true)));
    view.appendChild(M.el('p', { class: 'dim note' },
      'A worker is lost when its heartbeat is older than mtqd\'s lost_after_ms; mtqd gives ' +
      'its tasks back to the queue. Score: attempts ended, the share that ended done, the ' +
      'moving average of their run time.'));
    M.clock('read ' + M.fmtTime(new Date().toISOString()) + ' UTC');
  });
}(window.MTQ));
