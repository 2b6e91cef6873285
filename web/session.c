/* session.c - sessions in memory (see session.h).  A table of fixed size
 * searched from end to end: a few thousand sessions at most, and a lookup
 * compares every id in constant time, so its timing tells nothing of how
 * close a guess came. */
#include <pthread.h>
#include <string.h>

#include "session.h"

struct mtq_web_sessions {
  pthread_mutex_t lock;
  mtq_web_session_t *items; /* id "" = a free slot */
  size_t max;
  int64_t ttl_ms;
};

mtq_web_sessions_t *mtq_web_sessions_new(size_t max, int64_t ttl_ms) {
  mtq_web_sessions_t *s = bson_malloc0(sizeof *s);
  pthread_mutex_init(&s->lock, NULL);
  s->items = bson_malloc0(max * sizeof *s->items);
  s->max = max;
  s->ttl_ms = ttl_ms;
  return s;
}

void mtq_web_sessions_destroy(mtq_web_sessions_t *s) {
  if (!s) {
    return;
  }
  memset(s->items, 0, s->max * sizeof *s->items);
  bson_free(s->items);
  pthread_mutex_destroy(&s->lock);
  bson_free(s);
}

/* A slot for a new session: a free or expired one, else the oldest not
 * logged in; NULL when all are live logins.  Lock held. */
static mtq_web_session_t *free_slot(mtq_web_sessions_t *s, int64_t now_ms) {
  mtq_web_session_t *oldest_anon = NULL;
  for (size_t i = 0; i < s->max; i++) {
    mtq_web_session_t *x = &s->items[i];
    if (!x->id[0] || x->expires_ms <= now_ms) {
      return x;
    }
    if (!x->user[0] && (!oldest_anon || x->expires_ms < oldest_anon->expires_ms)) {
      oldest_anon = x;
    }
  }
  return oldest_anon;
}

bool mtq_web_sessions_create(mtq_web_sessions_t *s, const char *user, mtq_web_role_t role,
                             int64_t now_ms, mtq_web_session_t *out) {
  mtq_web_session_t n;
  memset(&n, 0, sizeof n);
  if (!mtq_web_random_hex(32, n.id) || !mtq_web_random_hex(32, n.csrf)) {
    return false;
  }
  bson_strncpy(n.user, user ? user : "", sizeof n.user);
  n.role = role;
  n.expires_ms = now_ms + s->ttl_ms;
  pthread_mutex_lock(&s->lock);
  mtq_web_session_t *slot = free_slot(s, now_ms);
  if (slot) {
    *slot = n;
  }
  pthread_mutex_unlock(&s->lock);
  *out = n;
  return slot != NULL;
}

bool mtq_web_sessions_get(mtq_web_sessions_t *s, const char *id, int64_t now_ms,
                          mtq_web_session_t *out) {
  if (!id || strlen(id) != MTQ_WEB_SECRET_HEX - 1) {
    return false;
  }
  bool found = false;
  pthread_mutex_lock(&s->lock);
  for (size_t i = 0; i < s->max; i++) {
    mtq_web_session_t *x = &s->items[i];
    if (x->id[0] && mtq_web_secret_equal(x->id, id) && x->expires_ms > now_ms) {
      x->expires_ms = now_ms + s->ttl_ms;
      *out = *x;
      found = true;
    }
  }
  pthread_mutex_unlock(&s->lock);
  return found;
}

void mtq_web_sessions_drop(mtq_web_sessions_t *s, const char *id) {
  if (!id) {
    return;
  }
  pthread_mutex_lock(&s->lock);
  for (size_t i = 0; i < s->max; i++) {
    if (s->items[i].id[0] && mtq_web_secret_equal(s->items[i].id, id)) {
      memset(&s->items[i], 0, sizeof s->items[i]);
    }
  }
  pthread_mutex_unlock(&s->lock);
}
