/* overview.js - #/ : each channel's counts by state (each a link to the
 * task table so filtered), the throughput of the last hour, the workers
 * (lost ones highlighted).  Redrawn from /api/v1/overview every 5 s while
 * it is shown and the tab is visible. */
'use strict';

(function (M) {
  const REFRESH_MS = 5000;
  let chartChannel = ''; // the chart's channel, kept across redraws

  /* channels sorted as mtq stats prints them: the declared ones by name,
   * then the copies' own channels to.<worker>. */
  function channelNames(stats) {
    const names = Object.keys((stats && stats.channels) || {});
    const plain = names.filter(function (n) { return !n.startsWith('to.'); }).sort();
    const copies = names.filter(function (n) { return n.startsWith('to.'); }).sort();
    return plain.concat(copies);
  }

  M.countsTable = function (stats) {
    const chans = channelNames(stats);
    const totals = {};
    const rows = chans.map(function (ch) {
      const c = stats.channels[ch] || {};
      return M.el('tr', { class: ch.startsWith('to.') ? 'copies' : null, 'data-channel': ch },
        M.el('th', { class: 'ch' }, M.link(M.hash('tasks', '', { channel: ch }), ch)),
        M.STATES.map(function (s) {
          const n = Number(c[s] || 0);
          totals[s] = (totals[s] || 0) + n;
          return M.el('td', { class: 'n' + (n ? ' s-' + s : ' zero'), 'data-channel': ch,
            'data-state': s }, n ? M.link(M.hash('tasks', '', { channel: ch, state: s }), n) : '0');
        }));
    });
    if (chans.length > 1) {
      rows.push(M.el('tr', { class: 'total' }, M.el('th', null, 'all'),
        M.STATES.map(function (s) {
          const n = totals[s] || 0;
          return M.el('td', { class: 'n' + (n ? '' : ' zero'), 'data-total': s },
            n ? M.link(M.hash('tasks', '', { state: s }), n) : '0');
        })));
    }
    if (!chans.length) {
      rows.push(M.el('tr', null, M.el('td', { colspan: M.STATES.length + 1, class: 'dim' },
        'No channel is declared yet (mtqd declares them).')));
    }
    return M.table([{ text: 'channel' }].concat(M.STATES.map(function (s) {
      return { node: M.badge(s), class: 'n' };
    })), rows, { class: 'counts', id: 'counts' });
  };

  function chartSection(data) {
    const chans = {};
    for (const r of data.throughput || []) chans[r.channel] = true;
    const sel = M.el('select', { id: 'chart-channel', 'aria-label': 'channel of the chart' },
      M.el('option', { value: '' }, 'every channel'),
      Object.keys(chans).sort().map(function (c) {
        return M.el('option', { value: c, selected: c === chartChannel }, c);
      }));
    const box = M.el('div', null, M.throughputChart(data.throughput, chartChannel,
      data.stats && data.stats.at));
    sel.addEventListener('change', function () {
      chartChannel = sel.value;
      M.clear(box).appendChild(M.throughputChart(data.throughput, chartChannel,
        data.stats && data.stats.at));
    });
    return M.el('section', { id: 'throughput' },
      M.el('h2', null, 'Throughput ', sel), box);
  }

  function draw(into, data) {
    const workers = data.workers || [];
    const lost = workers.filter(function (w) { return M.workerLost(w); }).length;
    M.clear(into);
    M.append(into, [
      M.section('Tasks by channel and state', M.countsTable(data.stats || {})),
      chartSection(data),
      M.el('section', { id: 'overview-workers' },
        M.el('h2', null, 'Workers ',
          M.el('span', { class: 'dim' }, workers.length + ' known'),
          lost ? M.el('span', { class: 'badge s-dead' }, lost + ' lost') : null,
          ' ', M.link('#/workers', 'all figures', { class: 'more' })),
        M.workersTable(workers, false)),
    ]);
    M.clock('updated ' + M.fmtTime(data.stats && data.stats.at) + ' UTC');
  }

  M.page('overview', async function (view, ctx) {
    view.appendChild(M.el('h1', null, 'Overview'));
    const body = M.el('div', { id: 'overview' });
    view.appendChild(body);
    draw(body, await M.get('api/v1/overview'));
    let busy = false;
    ctx.every(REFRESH_MS, async function () {
      if (busy || document.hidden || ctx.stale()) return;
      busy = true;
      try {
        const data = await M.get('api/v1/overview');
        if (!ctx.stale()) {
          draw(body, data);
          body.dataset.refreshed = String(Date.now());
        }
      } catch (e) {
        if (!ctx.stale() && e.status !== 401) M.clock('refresh failed: ' + e.message);
      } finally {
        busy = false;
      }
    });
  });
}(window.MTQ));
