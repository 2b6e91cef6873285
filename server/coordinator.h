/* coordinator.h - mtqd's duties on a libuv loop.
 *
 * The coordinator declares its channels, then keeps these duties, each a
 * loop timer armed for when it is next due:
 *
 *   lost workers   a worker silent for lost_after_ms is marked lost and the
 *                  tasks it held go back to their queue
 *   delayed tasks  tasks whose not_before has come move to their lane
 *   reconcile      tasks whose priority was edited in the database move to
 *                  the lane of their new priority
 *   retention      finished tasks kept past retain_done_s / retain_failed_s
 *                  are removed with their claims and events, in batches
 *   dispatch       redundant tasks' copies are sent, watched and picked
 *   schedules      the due ticks of recurring schedules enqueue their tasks
 *   flows          the steps of flows start when their parents have ended
 *
 * Every store call runs in libuv's thread pool; the loop thread only arms
 * timers and logs.  A duty is never in flight twice. */
#ifndef MTQD_COORDINATOR_H
#define MTQD_COORDINATOR_H

#include <uv.h>

#include "coord_config.h"

typedef struct mtq_coordinator mtq_coordinator_t;

/* loop, store, cfg and ring are borrowed and must outlive the coordinator;
 * cfg's [coordinator] section must already be valid; ring (NULL: none)
 * signs the tasks of schedules.  Caller destroys. */
mtq_coordinator_t *mtq_coordinator_new(uv_loop_t *loop, mtq_store_t *store,
                                       const mtq_coord_config_t *cfg, const mtq_keyring_t *ring);

/* Starts declaring the channels (retrying while the database is down), then
 * the duties.  Returns at once: the loop does the work. */
void mtq_coordinator_start(mtq_coordinator_t *co);

/* Stops every timer.  Work already in the thread pool finishes (a sweep
 * stops between two store calls); once it is back the coordinator holds no
 * active handle, so uv_run returns. */
void mtq_coordinator_stop(mtq_coordinator_t *co);

/* Call after uv_run has returned. */
void mtq_coordinator_destroy(mtq_coordinator_t *co);

#endif
