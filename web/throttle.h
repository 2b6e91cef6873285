/* throttle.h - how fast mtq-web lets logins be tried.  Each try costs an
 * argon2id verification (64 MiB, tens of milliseconds), so guessing is
 * slowed per user name, and the verifications at once are bounded. */
#ifndef MTQ_WEB_THROTTLE_H
#define MTQ_WEB_THROTTLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Failures of one name before it is held, the first hold, the longest. */
#define MTQ_WEB_THROTTLE_FREE 5
#define MTQ_WEB_THROTTLE_FIRST_MS 1000
#define MTQ_WEB_THROTTLE_MAX_MS 300000
/* Verifications at once (each holds 64 MiB). */
#define MTQ_WEB_THROTTLE_AT_ONCE 2
/* Names are kept by hash in this many slots; two names that share one
 * are held together, which errs on the safe side. */
#define MTQ_WEB_THROTTLE_SLOTS 256

typedef struct {
  pthread_mutex_t lock;
  int in_flight;
  struct {
    uint32_t failures;      /* in a row */
    int64_t held_until_ms;  /* no try before then */
  } slot[MTQ_WEB_THROTTLE_SLOTS];
} mtq_web_throttle_t;

void mtq_web_throttle_init(mtq_web_throttle_t *t);
void mtq_web_throttle_cleanup(mtq_web_throttle_t *t);
/* Whether a login as name may be tried at now_ms; when not, *wait_ms is how
 * long to wait (name held, or too many verifications at once).  A true
 * return must be followed by mtq_web_throttle_done. */
bool mtq_web_throttle_begin(mtq_web_throttle_t *t, const char *name, int64_t now_ms,
                            int64_t *wait_ms);
/* The try's outcome: a success forgets the name's failures; the
 * MTQ_WEB_THROTTLE_FREE-th failure in a row and every one after hold the
 * name, for MTQ_WEB_THROTTLE_FIRST_MS doubling up to MTQ_WEB_THROTTLE_MAX_MS. */
void mtq_web_throttle_done(mtq_web_throttle_t *t, const char *name, bool ok, int64_t now_ms);

#endif
