/* start.js - loaded last: reads the session (a 401 shows the login form),
 * then draws the page the hash names, and again at every change of it. */
'use strict';

(function (M) {
  window.addEventListener('hashchange', function () {
    M.unflash();
    M.route();
  });
  (async function () {
    try {
      await M.loadSession();
    } catch (e) {
      if (e.status !== 401) {
        const view = M.clear(document.getElementById('view'));
        view.appendChild(M.el('p', { class: 'error load-error' },
          'Cannot reach the mtq web server: ' + e.message));
        view.dataset.ready = 'yes';
      }
      return;
    }
    if (!M.loggedIn()) M.showLogin(); else M.route();
  }());
}(window.MTQ));
