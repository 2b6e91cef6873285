/* graph.js - a flow's steps as a graph: one box a step (its state, shards
 * done/total, failed), columns by depth (a step stands one column right of
 * its deepest parent), an arrow from each parent.  Hand-written SVG. */
'use strict';

(function (M) {
  const BW = 168, BH = 56, GX = 56, GY = 18, PAD = 10;

  function afterOf(step) {
    const a = step.after;
    if (!a) return [];
    return Array.isArray(a) ? a : [a];
  }

  /* layout(steps): {col, row} per step name, and the grid's size.  Depth is
   * the longest path from a root; a cycle (refused at submit) cannot occur,
   * but a bound keeps a bad document from looping. */
  function layout(steps) {
    const byName = {};
    steps.forEach(function (s) { byName[s.name] = s; });
    const depth = {};
    function d(name, guard) {
      if (depth[name] !== undefined) return depth[name];
      if (guard > steps.length) return 0;
      let best = 0;
      for (const p of afterOf(byName[name] || {})) {
        if (byName[p]) best = Math.max(best, d(p, guard + 1) + 1);
      }
      depth[name] = best;
      return best;
    }
    const cols = [];
    steps.forEach(function (s) {
      const c = d(s.name, 0);
      (cols[c] = cols[c] || []).push(s.name);
    });
    const pos = {};
    let rows = 0;
    cols.forEach(function (names, c) {
      names.forEach(function (n, r) { pos[n] = { col: c, row: r }; });
      rows = Math.max(rows, names.length);
    });
    return { pos: pos, cols: cols.length, rows: rows };
  }

  /* The right of a box's second line: shards done of all (and failed) for a
   * sharded step, else its function. */
  function stepLines(s) {
    const shards = s.shards || 1;
    const done = s.shards_done || 0, failed = s.shards_failed || 0;
    let line = shards > 1 ? done + '/' + shards + ' shards' : ((s.task && s.task.func) || '');
    if (failed) line += (shards > 1 ? ', ' : ' ') + failed + ' failed';
    return line;
  }

  /* flowGraph(flow, highlight): the SVG of the flow's steps; highlight
   * names a step to mark (the task page's own). */
  M.flowGraph = function (flow, highlight) {
    const steps = flow.steps || [];
    const L = layout(steps);
    const W = PAD * 2 + L.cols * BW + Math.max(0, L.cols - 1) * GX;
    const H = PAD * 2 + L.rows * BH + Math.max(0, L.rows - 1) * GY;
    const svg = M.svg('svg', { class: 'flowgraph', viewBox: '0 0 ' + W + ' ' + H,
      width: W, height: H, role: 'img', 'aria-label': 'the steps of flow ' + (flow.name || '') });
    const defs = M.svg('defs', null,
      M.svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5,
        markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      M.svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrowhead' })));
    svg.appendChild(defs);
    const xy = function (n) {
      const p = L.pos[n];
      return { x: PAD + p.col * (BW + GX), y: PAD + p.row * (BH + GY) };
    };
    // Edges first, under the boxes.
    for (const s of steps) {
      for (const p of afterOf(s)) {
        if (!L.pos[p]) continue;
        const a = xy(p), b = xy(s.name);
        const x1 = a.x + BW, y1 = a.y + BH / 2, x2 = b.x - 2, y2 = b.y + BH / 2;
        const mx = (x1 + x2) / 2;
        svg.appendChild(M.svg('path', { class: 'edge', 'marker-end': 'url(#arrow)',
          d: 'M ' + x1 + ' ' + y1 + ' C ' + mx + ' ' + y1 + ', ' + mx + ' ' + y2 + ', ' + x2 + ' ' + y2 }));
      }
    }
    for (const s of steps) {
      const p = xy(s.name);
      const state = String(s.state || 'waiting').replace(/[^a-z_]/g, '');
      const shards = s.shards || 1;
      const frac = shards > 0 ? Math.min(1, (s.shards_done || 0) / shards) : 0;
      const g = M.svg('g', { class: 'step st-' + state + (s.name === highlight ? ' mine' : ''),
        'data-step': s.name, 'data-state': state,
        transform: 'translate(' + p.x + ',' + p.y + ')' },
      M.svg('title', null, s.name + ': ' + state + (s.error ? ' (' + s.error + ')' : '')),
      M.svg('rect', { class: 'box', width: BW, height: BH, rx: 6 }),
      // Progress of its shards along the bottom edge.
      M.svg('rect', { class: 'progress', x: 1, y: BH - 6, height: 5, rx: 2,
        width: Math.max(0, (BW - 2) * frac) }),
      M.svg('text', { class: 'name', x: 10, y: 19 }, clip(s.name, 20)),
      M.svg('text', { class: 'state', x: 10, y: 36 }, state),
      M.svg('text', { class: 'shards', x: BW - 10, y: 36, 'text-anchor': 'end' }, stepLines(s)));
      // A step of one task links to it.
      const tasks = s.tasks || [];
      if (tasks.length === 1) {
        const a = M.svg('a', { href: '#/task/' + M.oid(tasks[0]) });
        a.appendChild(g);
        svg.appendChild(a);
      } else {
        svg.appendChild(g);
      }
    }
    return M.el('div', { class: 'graphbox' }, svg);
  };

  function clip(s, n) {
    s = String(s);
    return s.length > n ? s.slice(0, n - 1) + '…' : s;
  }
}(window.MTQ));
