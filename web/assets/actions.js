/* actions.js - what an operator may do to a task or a flow, with the CLI's
 * rules (common/model/state.c's table and common/store/edit.c): the
 * buttons offered follow them, and the server, which checks them again,
 * has the last word: a refusal (the task moved on meanwhile) is shown with
 * the server's own message. */
'use strict';

(function (M) {
  /* Suspended while its worker holds it: a running task that was suspended
   * (its process stopped, its lease kept).  Such a task can be resumed or
   * cancelled only (edit.c: held_suspended). */
  M.heldSuspended = function (t) {
    return t.status === 'suspended' && !!t.worker && !!t.claimed_at;
  };

  /* taskActions(t): the actions that apply to t in its state, in the order
   * the buttons are shown. */
  M.taskActions = function (t) {
    const s = M.taskState(t);
    const held = M.heldSuspended(t);
    const a = [];
    if (s === 'disabled') a.push('enable');
    if (['queued', 'delayed', 'retry_wait'].indexOf(s) >= 0 || (s === 'suspended' && !held)) {
      a.push('disable');
    }
    if (['queued', 'delayed', 'retry_wait', 'disabled', 'running'].indexOf(s) >= 0) {
      a.push('suspend');
    }
    if (s === 'suspended') a.push('resume');
    if (['dead', 'failed', 'conflict'].indexOf(s) >= 0) a.push('retry');
    if (M.TERMINAL.indexOf(s) < 0) a.push('cancel');
    return a;
  };
  /* A new priority takes while the task waits (not once it runs). */
  M.canPrioritise = function (t) {
    const s = M.taskState(t);
    return M.WAITING.indexOf(s) >= 0 && !M.heldSuspended(t);
  };

  const LABELS = { enable: 'Enable', disable: 'Disable', suspend: 'Suspend', resume: 'Resume',
    retry: 'Retry', cancel: 'Cancel' };
  const DONE = { enable: 'enabled', disable: 'disabled', suspend: 'suspended', resume: 'resumed',
    retry: 'queued for a retry', cancel: 'cancelled' };

  /* act(kind, id, action, body): POSTs the action; flashes what happened or
   * the server's refusal, then draws the page again. */
  M.act = async function (kind, id, action, body) {
    const path = 'api/v1/' + kind + 's/' + encodeURIComponent(id) + '/' + action;
    try {
      await M.post(path, body);
      M.flash(kind + ' ' + id + ': ' + (action === 'priority'
        ? 'priority set to ' + body.priority : DONE[action]), 'ok');
    } catch (e) {
      if (e.status === 401) return;
      M.flash(kind + ' ' + id + ': ' + action + ' refused: ' + e.message, 'error');
    }
    await M.refresh();
  };

  function confirmed(kind, id, action) {
    // Cancelling is final; everything else can be undone.
    return action !== 'cancel' || window.confirm('Cancel ' + kind + ' ' + id + '? This is final.');
  }

  function button(kind, id, action, small) {
    return M.el('button', {
      class: 'act act-' + action + (small ? ' small' : ''),
      'data-action': action,
      title: action + ' ' + kind + ' ' + id,
      onclick: function (ev) {
        ev.preventDefault();
        ev.stopPropagation();
        if (confirmed(kind, id, action)) M.act(kind, id, action);
      },
    }, LABELS[action]);
  }

  /* taskButtons(t, small): the action buttons of a task (none for the read
   * role), and a priority control while it waits. */
  M.taskButtons = function (t, small) {
    if (!M.canAct()) return null;
    const id = M.oid(t._id);
    const box = M.el('span', { class: 'actions' });
    for (const a of M.taskActions(t)) box.appendChild(button('task', id, a, small));
    if (!small && M.canPrioritise(t)) box.appendChild(M.priorityControl(t));
    return box;
  };

  /* priorityControl(t): a 0-9 field and a Set button.  The value goes to
   * the server as typed: the server checks the range and says why not. */
  M.priorityControl = function (t) {
    const id = M.oid(t._id);
    const input = M.el('input', { type: 'number', min: 0, max: 9, step: 1, class: 'prio',
      name: 'priority', value: t.priority === undefined ? 0 : t.priority,
      'aria-label': 'priority' });
    return M.el('form', { class: 'prio-form', onsubmit: function (ev) {
      ev.preventDefault();
      const n = Number(input.value);
      if (input.value.trim() === '' || !Number.isInteger(n)) {
        M.flash('task ' + id + ': priority must be a whole number', 'error');
        return;
      }
      M.act('task', id, 'priority', { priority: n });
    } }, input, M.el('button', { type: 'submit', class: 'act act-priority',
      'data-action': 'priority' }, 'Set priority'));
  };

  /* flowActions(f): cancel while it is not over, suspend while it runs,
   * resume while it is suspended (common/model/flow.c). */
  M.flowActions = function (f) {
    const a = [];
    if (f.status === 'running') a.push('suspend');
    if (f.status === 'suspended') a.push('resume');
    if (f.status === 'running' || f.status === 'suspended') a.push('cancel');
    return a;
  };
  M.flowButtons = function (f, small) {
    if (!M.canAct()) return null;
    const id = M.oid(f._id);
    const box = M.el('span', { class: 'actions' });
    for (const a of M.flowActions(f)) box.appendChild(button('flow', id, a, small));
    return box;
  };
}(window.MTQ));
