/* mtq_state.h - the task lifecycle, in one table.
 *
 * MTQ_STATE_MAP generates the enum and the strings stored in MongoDB; the
 * transition table in state.c decides every change of a task's state
 * (mtq_state_check), in the store and so in the CLI.
 *
 *                 ┌──────── enable ◀── disabled ◀── disable ───┐ (any waiting state)
 *   delayed ──release──▶ queued ──claim──▶ running ──▶ done
 *                         ▲  ▲                │ ├──▶ failed    (cannot succeed: malformed,
 *        retry_wait ──due─┘  │                │ │               rejected signature)
 *            ▲               │                │ ├──▶ retry_wait (attempts left; backoff)
 *            └───────────────┼── attempt fails┘ ├──▶ dead       (attempts used up)
 *   suspended ◀─suspend─ waiting states      │   └──▶ queued    (lease expired, shutdown)
 *   suspended ──resume──▶ queued             │
 *   running ──suspend──▶ suspended ──resume──▶ running   (its process stopped, its
 *                        lease and slot kept, its timeout clock paused)
 *   dead, failed ──retry (operator)──▶ queued
 *   any waiting state, running, suspended ──cancel──▶ cancelled
 *   running ──▶ conflict (a redundant task whose copies disagree: no quorum)
 *   blocked ──unblock (mtqd: the tasks it waits for are done)──▶ queued
 *   blocked ──cancel (an operator, or mtqd: one of them did not end done)──▶ cancelled
 *
 * "disabled" is not stored in status: it is a waiting task whose is_enable
 * is false (operators flip is_enable in the database directly, and the poll
 * filters on it), reported as disabled by mtq_task_state(). */
#ifndef MTQ_STATE_H
#define MTQ_STATE_H

#include <stdbool.h>

/* X(enum suffix, stored name, terminal?) */
#define MTQ_STATE_MAP(X)            \
  X(QUEUED, "queued", false)        \
  X(DELAYED, "delayed", false)      \
  X(RUNNING, "running", false)      \
  X(DONE, "done", true)             \
  X(FAILED, "failed", true)         \
  X(CANCELLED, "cancelled", true)   \
  X(RETRY_WAIT, "retry_wait", false) \
  X(DEAD, "dead", true)             \
  X(SUSPENDED, "suspended", false)  \
  X(DISABLED, "disabled", false)    \
  X(CONFLICT, "conflict", true)     \
  X(BLOCKED, "blocked", false)

typedef enum {
#define MTQ__STATE_ENUM(e, s, t) MTQ_STATE_##e,
  MTQ_STATE_MAP(MTQ__STATE_ENUM)
#undef MTQ__STATE_ENUM
  MTQ_STATE_COUNT,
  MTQ_STATE_INVALID = -1
} mtq_state_t;

/* Stored name of a state; "invalid" for anything out of range. Static string. */
const char *mtq_state_name(mtq_state_t state);
/* Parses a stored name ("retry-wait" is accepted for retry_wait);
 * MTQ_STATE_INVALID when unknown. */
mtq_state_t mtq_state_parse(const char *name);
bool mtq_state_is_terminal(mtq_state_t state);
/* Waiting: not running and not ended (queued, delayed, retry_wait,
 * suspended, disabled, blocked). */
bool mtq_state_is_waiting(mtq_state_t state);
/* True when the lifecycle allows from -> to. */
bool mtq_state_can_move(mtq_state_t from, mtq_state_t to);
/* The action that makes from -> to ("claim", "cancel", ...), NULL when the
 * table has no such edge. */
const char *mtq_state_action(mtq_state_t from, mtq_state_t to);

#endif
