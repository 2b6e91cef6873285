/* mtq_state.h - the task lifecycle, in one table.
 *
 * MTQ_STATE_MAP generates the enum, the strings stored in MongoDB and the
 * transition check; every change of a task's state goes through
 * mtq_state_can_move().
 *
 *   delayed ──release──▶ queued ──claim──▶ running ──▶ done
 *      │                  ▲  │               │  └────▶ failed
 *      │                  │  │               └─requeue─┘ (retry, lost worker, shutdown)
 *      └──────cancel──────┴──┴──▶ cancelled
 */
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
  X(CANCELLED, "cancelled", true)

typedef enum {
#define MTQ__STATE_ENUM(e, s, t) MTQ_STATE_##e,
  MTQ_STATE_MAP(MTQ__STATE_ENUM)
#undef MTQ__STATE_ENUM
  MTQ_STATE_COUNT,
  MTQ_STATE_INVALID = -1
} mtq_state_t;

/* Stored name of a state; "invalid" for anything out of range. Static string. */
const char *mtq_state_name(mtq_state_t state);
/* Parses a stored name; MTQ_STATE_INVALID when unknown. */
mtq_state_t mtq_state_parse(const char *name);
bool mtq_state_is_terminal(mtq_state_t state);
/* True when the lifecycle allows from -> to. */
bool mtq_state_can_move(mtq_state_t from, mtq_state_t to);

#endif
