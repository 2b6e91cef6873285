/* app.js - the dashboard's core: building DOM nodes (text only, never
 * markup: every string from the server goes in as a text node or an
 * attribute value), the API client (CSRF token, 401 -> login form), the
 * hash router, formatting, and the flash line where refusals are shown.
 * Every page file registers itself with MTQ.page(); start.js starts it. */
'use strict';

window.MTQ = (function () {
  const M = {};
  const SVG_NS = 'http://www.w3.org/2000/svg';

  /* --- DOM -------------------------------------------------------------------- */

  function build(node, attrs, kids) {
    if (attrs) {
      for (const k of Object.keys(attrs)) {
        const v = attrs[k];
        if (v === undefined || v === null || v === false) continue;
        if (k.startsWith('on') && typeof v === 'function') {
          node.addEventListener(k.slice(2), v);
        } else {
          node.setAttribute(k, v === true ? '' : String(v));
        }
      }
    }
    M.append(node, kids);
    return node;
  }

  /* append(node, kids): kids are nodes, strings (as text), numbers, null
   * (skipped) or arrays of those. */
  M.append = function (node, kids) {
    for (const k of kids) {
      if (k === null || k === undefined || k === false) continue;
      if (Array.isArray(k)) M.append(node, k);
      else if (k instanceof Node) node.appendChild(k);
      else node.appendChild(document.createTextNode(String(k)));
    }
    return node;
  };

  /* el('td', {class: 'x', onclick: f}, 'text', child, ...) */
  M.el = function (tag, attrs, ...kids) {
    return build(document.createElement(tag), attrs, kids);
  };
  M.svg = function (tag, attrs, ...kids) {
    return build(document.createElementNS(SVG_NS, tag), attrs, kids);
  };
  M.clear = function (node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  };
  M.link = function (href, text, attrs) {
    return M.el('a', Object.assign({ href: href }, attrs || {}), text);
  };

  /* --- values as the API gives them ----------------------------------------------- */

  /* The API writes ObjectIds as 24-hex strings and dates as ISO strings;
   * extended JSON ({"$oid"}, {"$date"}) is read too, so that a page does
   * not break on a field the server passes through as stored. */
  M.oid = function (v) {
    if (v && typeof v === 'object' && '$oid' in v) return String(v.$oid);
    return v === null || v === undefined ? '' : String(v);
  };
  M.date = function (v) {
    if (v === null || v === undefined || v === '') return null;
    if (typeof v === 'object' && '$date' in v) v = v.$date;
    if (v && typeof v === 'object' && '$numberLong' in v) v = Number(v.$numberLong);
    const d = new Date(v);
    return isNaN(d.getTime()) ? null : d;
  };
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  /* 2026-12-04 23:04:28, in UTC like the CLI (the header says so). */
  M.fmtTime = function (v) {
    const d = M.date(v);
    if (!d) return '–';
    return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) +
      ' ' + pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds());
  };
  M.fmtDuration = function (ms) {
    if (ms === null || ms === undefined || isNaN(ms)) return '–';
    const neg = ms < 0;
    ms = Math.abs(ms);
    let s;
    if (ms < 1000) s = Math.round(ms) + ' ms';
    else if (ms < 60e3) s = (ms / 1000).toFixed(ms < 10e3 ? 2 : 1) + ' s';
    else if (ms < 3600e3) s = Math.floor(ms / 60e3) + 'm ' + Math.floor((ms % 60e3) / 1000) + 's';
    else if (ms < 86400e3) s = Math.floor(ms / 3600e3) + 'h ' + Math.floor((ms % 3600e3) / 60e3) + 'm';
    else s = Math.floor(ms / 86400e3) + 'd ' + Math.floor((ms % 86400e3) / 3600e3) + 'h';
    return (neg ? '-' : '') + s;
  };
  /* "12 s ago" / "in 3m 2s" */
  M.ago = function (v) {
    const d = M.date(v);
    if (!d) return '–';
    const ms = Date.now() - d.getTime();
    return ms >= 0 ? M.fmtDuration(ms) + ' ago' : 'in ' + M.fmtDuration(-ms);
  };
  /* A time cell: the UTC time, its distance from now as the tooltip. */
  M.timeCell = function (v, cls) {
    const d = M.date(v);
    return M.el('td', { class: 'time' + (cls ? ' ' + cls : ''), title: d ? M.ago(v) : null },
      M.fmtTime(v));
  };
  M.json = function (v) {
    return JSON.stringify(v, null, 2);
  };
  M.num = function (v, digits) {
    if (v === null || v === undefined || v === '' || isNaN(v)) return '–';
    return digits === undefined ? String(v) : Number(v).toFixed(digits);
  };
  /* "22.9 / 23.5 GiB": a part and its whole in the whole's unit. */
  M.mbOf = function (part, whole) {
    if (part === null || part === undefined || isNaN(part)) return '–';
    if (!whole) return M.mb(part);
    return whole >= 10240 ? (part / 1024).toFixed(1) + ' / ' + (whole / 1024).toFixed(1) + ' GiB'
      : part + ' / ' + whole + ' MiB';
  };
  M.mb = function (v) {
    if (v === null || v === undefined || isNaN(v)) return '–';
    return v >= 10240 ? (v / 1024).toFixed(1) + ' GiB' : v + ' MiB';
  };

  /* --- task states ------------------------------------------------------------- */

  /* The order of the state columns: waiting, running, then the ends. */
  M.STATES = ['queued', 'delayed', 'blocked', 'retry_wait', 'suspended', 'disabled', 'running',
    'done', 'dead', 'failed', 'cancelled', 'conflict'];
  M.WAITING = ['queued', 'delayed', 'retry_wait', 'suspended', 'disabled', 'blocked'];
  M.TERMINAL = ['done', 'failed', 'cancelled', 'dead', 'conflict'];

  /* A task's state as mtq names it: "disabled" is not stored in status but
   * is a waiting task whose is_enable is false (README, Tasks). */
  M.taskState = function (t) {
    const s = t.state || t.status;
    if (t.is_enable === false && M.WAITING.indexOf(s) >= 0 && s !== 'blocked') return 'disabled';
    return s;
  };
  M.badge = function (state, extra) {
    return M.el('span', { class: 'badge s-' + String(state).replace(/[^a-z_]/g, '') },
      extra ? state + ' ' + extra : state);
  };

  /* --- flash: one line for what an action did or why it was refused ------------------ */

  let flashTimer = null;
  M.flash = function (text, kind) {
    const f = document.getElementById('flash');
    M.clear(f);
    f.className = kind || 'ok';
    f.appendChild(M.el('span', { class: 'msg' }, text));
    f.appendChild(M.el('button', { class: 'close', title: 'dismiss', onclick: M.unflash }, '×'));
    clearTimeout(flashTimer);
    // A refusal stays until dismissed or the next action; a success fades.
    if (kind !== 'error') flashTimer = setTimeout(M.unflash, 8000);
  };
  M.unflash = function () {
    const f = document.getElementById('flash');
    if (f) { M.clear(f); f.className = ''; }
  };

  /* --- the API ---------------------------------------------------------------- */

  M.session = null;

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }
  M.ApiError = ApiError;

  /* api(method, path, body): the parsed JSON answer; throws ApiError with
   * the server's {"error"} message.  A 401 shows the login form. */
  M.api = async function (method, path, body) {
    const opt = { method: method, headers: { Accept: 'application/json' },
      credentials: 'same-origin', cache: 'no-store' };
    if (method !== 'GET') {
      opt.headers['X-CSRF-Token'] = (M.session && M.session.csrf) || '';
      if (body !== undefined) {
        opt.headers['Content-Type'] = 'application/json';
        opt.body = JSON.stringify(body);
      }
    }
    let r;
    try {
      r = await fetch(path, opt);
    } catch (e) {
      throw new ApiError(0, 'the server is unreachable (' + e.message + ')');
    }
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (r.status === 401 && !path.endsWith('/login')) {
      // Not logged in, or the session expired: the form logs in again.
      M.showLogin();
      throw new ApiError(401, (data && data.error) || 'log in first');
    }
    if (!r.ok) {
      throw new ApiError(r.status, (data && data.error) || (r.status + ' ' + r.statusText));
    }
    return data;
  };
  M.get = function (path) { return M.api('GET', path); };
  M.post = function (path, body) { return M.api('POST', path, body === undefined ? {} : body); };

  M.canAct = function () {
    return !!(M.session && M.session.role === 'operator');
  };

  /* loadSession(): GET /api/v1/session, which always answers: {user, role
   * (null until logged in), csrf (for this cookie's session, anonymous
   * too: the login POST needs it), auth (whether there are users to log in
   * as), logged_in}. */
  M.loadSession = async function () {
    M.session = await M.get('api/v1/session');
    renderWho();
    return M.session;
  };
  M.loggedIn = function () {
    const s = M.session;
    return !!(s && (s.logged_in === true || (s.logged_in === undefined && s.role)));
  };

  function renderWho() {
    const who = M.clear(document.getElementById('who'));
    const s = M.session;
    if (!s || !M.loggedIn()) return;
    if (s.user) who.appendChild(M.el('span', { class: 'user' }, s.user));
    who.appendChild(M.el('span', { class: 'role role-' + s.role, title: s.role === 'operator'
      ? 'may act on tasks and flows' : 'read only: no actions' }, s.role));
    // Without authentication (no users) there is nothing to log out of.
    if (s.auth === true || (typeof s.auth === 'string' && s.auth !== 'none')) {
      who.appendChild(M.el('button', { class: 'small', id: 'logout', onclick: async function () {
        try { await M.post('api/v1/logout'); } catch (e) { /* the form says the rest */ }
        M.showLogin();
      } }, 'Log out'));
    }
  }

  M.showLogin = function (message) {
    stopTimers();
    M.clear(document.getElementById('who'));
    const view = M.clear(document.getElementById('view'));
    view.dataset.view = 'login';
    const err = M.el('p', { class: 'error', id: 'login-error' }, message || '');
    const user = M.el('input', { name: 'user', id: 'login-user', autocomplete: 'username',
      required: true });
    const pass = M.el('input', { name: 'password', id: 'login-password', type: 'password',
      autocomplete: 'current-password', required: true });
    const form = M.el('form', { class: 'login', onsubmit: async function (ev) {
      ev.preventDefault();
      try {
        // The CSRF token of the session this cookie names now (a new
        // anonymous one after a logout or an expiry).
        await M.loadSession();
        await M.api('POST', 'api/v1/login', { user: user.value, password: pass.value });
        await M.loadSession();
        M.route();
      } catch (e) {
        M.clear(err).appendChild(document.createTextNode(e.message));
      }
    } },
    M.el('h1', null, 'Log in to mtq'),
    M.el('label', null, 'User', user),
    M.el('label', null, 'Password', pass),
    M.el('button', { type: 'submit', class: 'primary' }, 'Log in'),
    err);
    view.appendChild(form);
    view.dataset.ready = 'login';
    user.focus();
  };

  /* --- router: #/name/arg?query --------------------------------------------------- */

  const pages = {};
  let generation = 0;
  let timers = [];

  /* page(name, render): render(view, ctx) draws the page into view, an
   * empty <main>; ctx = {arg, query (URLSearchParams), stale(), every(ms, f)}. */
  M.page = function (name, render) { pages[name] = render; };

  function stopTimers() {
    for (const t of timers) clearInterval(t);
    timers = [];
  }

  M.parseHash = function () {
    let h = location.hash.replace(/^#\/?/, '');
    let q = '';
    const i = h.indexOf('?');
    if (i >= 0) { q = h.slice(i + 1); h = h.slice(0, i); }
    const parts = h.split('/').filter(function (p) { return p !== ''; }).map(decodeURIComponent);
    return { name: parts[0] || 'overview', arg: parts[1] || '', query: new URLSearchParams(q) };
  };

  /* hash(name, arg, params): '#/tasks?state=failed' with empty params left out. */
  M.hash = function (name, arg, params) {
    let h = '#/' + name + (arg ? '/' + encodeURIComponent(arg) : '');
    const q = new URLSearchParams();
    for (const k of Object.keys(params || {})) {
      const v = params[k];
      if (v !== undefined && v !== null && v !== '') q.set(k, v);
    }
    const s = q.toString();
    return s ? h + '?' + s : h;
  };

  /* route(): draws the page the hash names.  A render that finishes after
   * the next navigation started is thrown away (ctx.stale()). */
  M.route = async function () {
    stopTimers();
    const r = M.parseHash();
    const render = pages[r.name];
    const my = ++generation;
    for (const a of document.querySelectorAll('#nav a')) {
      const on = a.dataset.route === r.name ||
        (a.dataset.route === 'tasks' && r.name === 'task') ||
        (a.dataset.route === 'flows' && r.name === 'flow');
      a.classList.toggle('on', on);
    }
    const view = document.getElementById('view');
    view.dataset.ready = 'no';
    if (!render) {
      M.clear(view).appendChild(M.el('p', { class: 'error' }, 'No page "' + r.name + '".'));
      view.dataset.view = 'none';
      view.dataset.ready = 'yes';
      return;
    }
    const ctx = {
      name: r.name, arg: r.arg, query: r.query,
      stale: function () { return my !== generation; },
      every: function (ms, f) { timers.push(setInterval(f, ms)); },
    };
    // Draw off-screen, then swap: the old page stays until the new one is
    // whole, dimmed after a moment (a page of ended tasks can take seconds
    // on FerretDB: README, "The task table over many tasks").
    const fresh = M.el('main', { id: 'view' });
    const slow = setTimeout(function () {
      if (!ctx.stale()) { document.body.classList.add('loading'); M.clock('loading…'); }
    }, 300);
    try {
      await render(fresh, ctx);
    } catch (e) {
      clearTimeout(slow);
      if (ctx.stale()) return;
      document.body.classList.remove('loading');
      if (e instanceof ApiError && e.status === 401) return; // the login form is up
      M.clear(fresh).appendChild(M.el('p', { class: 'error load-error' },
        'Could not load this page: ' + e.message));
    }
    clearTimeout(slow);
    if (ctx.stale()) return;
    document.body.classList.remove('loading');
    fresh.dataset.view = r.name;
    fresh.dataset.ready = 'yes';
    document.getElementById('view').replaceWith(fresh);
  };

  /* refresh(): draws the current page again (after an action). */
  M.refresh = function () { return M.route(); };

  /* --- small shared pieces ------------------------------------------------------- */

  M.section = function (title, ...kids) {
    return M.el('section', null, M.el('h2', null, title), kids);
  };
  /* table(headers, rows, attrs): headers are strings or {text, class, title} */
  M.table = function (headers, rows, attrs) {
    return M.el('table', attrs || null,
      M.el('thead', null, M.el('tr', null, headers.map(function (h) {
        return typeof h === 'string' ? M.el('th', null, h)
          : M.el('th', { class: h.class, title: h.title }, h.node || h.text);
      }))),
      M.el('tbody', null, rows));
  };
  M.pre = function (v, cls) {
    return M.el('pre', { class: 'json' + (cls ? ' ' + cls : '') },
      typeof v === 'string' ? v : M.json(v));
  };
  M.shortId = function (id) {
    id = M.oid(id);
    return id.length === 24 ? id.slice(0, 8) + '…' + id.slice(18) : id;
  };
  M.clock = function (text) {
    const c = document.getElementById('clock');
    if (c) { M.clear(c).appendChild(document.createTextNode(text)); }
  };

  return M;
}());
