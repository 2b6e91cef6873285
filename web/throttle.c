/* throttle.c - see throttle.h. */
#include "throttle.h"

#include <string.h>

void mtq_web_throttle_init(mtq_web_throttle_t *t) {
  memset(t, 0, sizeof *t);
  pthread_mutex_init(&t->lock, NULL);
}

void mtq_web_throttle_cleanup(mtq_web_throttle_t *t) {
  pthread_mutex_destroy(&t->lock);
}

/* FNV-1a: names are short, and the slot only needs to spread them. */
static size_t slot_of(const char *name) {
  uint32_t h = 2166136261u;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    h = (h ^ *p) * 16777619u;
  }
  return h % MTQ_WEB_THROTTLE_SLOTS;
}

bool mtq_web_throttle_begin(mtq_web_throttle_t *t, const char *name, int64_t now_ms,
                            int64_t *wait_ms) {
  size_t s = slot_of(name);
  pthread_mutex_lock(&t->lock);
  int64_t held = t->slot[s].held_until_ms - now_ms;
  bool busy = t->in_flight >= MTQ_WEB_THROTTLE_AT_ONCE;
  bool ok = held <= 0 && !busy;
  if (ok) {
    t->in_flight++;
  }
  pthread_mutex_unlock(&t->lock);
  /* A verification lasts well under a second: try again in one. */
  *wait_ms = ok ? 0 : held > 0 ? held : 1000;
  return ok;
}

void mtq_web_throttle_done(mtq_web_throttle_t *t, const char *name, bool ok, int64_t now_ms) {
  size_t s = slot_of(name);
  pthread_mutex_lock(&t->lock);
  t->in_flight--;
  if (ok) {
    t->slot[s].failures = 0;
    t->slot[s].held_until_ms = 0;
  } else if (++t->slot[s].failures >= MTQ_WEB_THROTTLE_FREE) {
    uint32_t k = t->slot[s].failures - MTQ_WEB_THROTTLE_FREE;
    int64_t hold = k >= 9 ? MTQ_WEB_THROTTLE_MAX_MS : (int64_t)MTQ_WEB_THROTTLE_FIRST_MS << k;
    t->slot[s].held_until_ms = now_ms + (hold > MTQ_WEB_THROTTLE_MAX_MS ? MTQ_WEB_THROTTLE_MAX_MS : hold);
  }
  pthread_mutex_unlock(&t->lock);
}
