/* chart.js - the overview's throughput chart: one bar a minute over the last
 * hour, tasks that ended done below those that failed, drawn as SVG by
 * hand (no library). */
'use strict';

(function (M) {
  const W = 760, H = 170, L = 36, R = 8, T = 10, B = 22; // size and margins
  const MINUTES = 60;

  /* niceMax(n): a round axis top at or above n (1, 2, 5 times a power of 10). */
  function niceMax(n) {
    if (n <= 4) return 4;
    const p = Math.pow(10, Math.floor(Math.log10(n)));
    for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
    return 10 * p;
  }

  function hhmm(d) {
    return String(d.getUTCHours()).padStart(2, '0') + ':' + String(d.getUTCMinutes()).padStart(2, '0');
  }

  /* throughputChart(rows, channel, nowIso): rows as /api/v1/overview gives
   * them, [{minute, channel, done, failed}]; channel '' sums them all. */
  M.throughputChart = function (rows, channel, nowIso) {
    const now = M.date(nowIso) || new Date();
    const last = Math.floor(now.getTime() / 60000); // the current minute
    const first = last - MINUTES + 1;
    const done = new Array(MINUTES).fill(0), failed = new Array(MINUTES).fill(0);
    for (const r of rows || []) {
      if (channel && r.channel !== channel) continue;
      const d = M.date(r.minute);
      if (!d) continue;
      const i = Math.floor(d.getTime() / 60000) - first;
      if (i < 0 || i >= MINUTES) continue;
      done[i] += Number(r.done) || 0;
      failed[i] += Number(r.failed) || 0;
    }
    let top = 0, sumDone = 0, sumFailed = 0;
    for (let i = 0; i < MINUTES; i++) {
      top = Math.max(top, done[i] + failed[i]);
      sumDone += done[i];
      sumFailed += failed[i];
    }
    top = niceMax(top);
    const pw = W - L - R, ph = H - T - B, bw = pw / MINUTES;
    const y = function (v) { return T + ph - (v / top) * ph; };

    const svg = M.svg('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + H,
      role: 'img', 'aria-label': 'tasks ended per minute over the last hour' });
    // Grid and the y axis: 0, half, top.
    for (const v of [0, top / 2, top]) {
      svg.appendChild(M.svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      svg.appendChild(M.svg('text', { class: 'axis', x: L - 4, y: y(v) + 4, 'text-anchor': 'end' },
        Number.isInteger(v) ? String(v) : v.toFixed(1)));
    }
    // x labels every 10 minutes, on whole tens of the clock.
    for (let i = 0; i < MINUTES; i++) {
      const t = new Date((first + i) * 60000);
      if (t.getUTCMinutes() % 10 !== 0) continue;
      const x = L + i * bw;
      svg.appendChild(M.svg('line', { class: 'tick', x1: x, x2: x, y1: T + ph, y2: T + ph + 4 }));
      svg.appendChild(M.svg('text', { class: 'axis', x: x, y: H - 6, 'text-anchor': 'middle' },
        hhmm(t)));
    }
    for (let i = 0; i < MINUTES; i++) {
      if (!done[i] && !failed[i]) continue;
      const x = L + i * bw + 1, w = Math.max(1, bw - 2);
      const t = new Date((first + i) * 60000);
      const g = M.svg('g', { class: 'bar' },
        M.svg('title', null, hhmm(t) + ' UTC: ' + done[i] + ' done, ' + failed[i] + ' failed'));
      if (done[i]) {
        g.appendChild(M.svg('rect', { class: 'done', x: x, width: w, y: y(done[i]),
          height: y(0) - y(done[i]) }));
      }
      if (failed[i]) {
        g.appendChild(M.svg('rect', { class: 'failed', x: x, width: w,
          y: y(done[i] + failed[i]), height: y(done[i]) - y(done[i] + failed[i]) }));
      }
      svg.appendChild(g);
    }
    svg.appendChild(M.svg('line', { class: 'axisline', x1: L, x2: W - R, y1: y(0), y2: y(0) }));

    const legend = M.el('p', { class: 'legend' },
      M.el('span', { class: 'key done' }), ' done ', M.el('b', { 'data-sum': 'done' }, sumDone),
      '   ', M.el('span', { class: 'key failed' }), ' failed ',
      M.el('b', { 'data-sum': 'failed' }, sumFailed),
      M.el('span', { class: 'dim' }, '  in the last hour, per minute (UTC)'));
    return M.el('div', { class: 'chartbox' }, svg, legend);
  };
}(window.MTQ));
