/* session.h - the sessions of mtq-web's pages: kept in memory (a restart
 * logs everyone out), each a random 256-bit id in a cookie, a CSRF token
 * of its own, who it is and until when.  Thread-safe: the HTTP server's
 * threads share one table. */
#ifndef MTQ_WEB_SESSION_H
#define MTQ_WEB_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "auth.h"

#define MTQ_WEB_SECRET_HEX 65 /* 32 random bytes as hex, and the NUL */

typedef struct {
  char id[MTQ_WEB_SECRET_HEX];
  char csrf[MTQ_WEB_SECRET_HEX];
  char user[MTQ_NAME_MAX + 1]; /* "" until logged in (and for the anonymous one) */
  mtq_web_role_t role;         /* NONE until logged in */
  int64_t expires_ms;
} mtq_web_session_t;

typedef struct mtq_web_sessions mtq_web_sessions_t;

/* At most max sessions; each lives ttl_ms since it was last used.  Caller
 * destroys. */
mtq_web_sessions_t *mtq_web_sessions_new(size_t max, int64_t ttl_ms);
void mtq_web_sessions_destroy(mtq_web_sessions_t *s);
/* A new session for user (borrowed; "" for none) with role; a copy into
 * *out.  When the table is full, expired ones go first, then the oldest
 * not logged in; false when every one is a live login. */
bool mtq_web_sessions_create(mtq_web_sessions_t *s, const char *user, mtq_web_role_t role,
                             int64_t now_ms, mtq_web_session_t *out);
/* A copy of session id into *out, its life renewed; false when there is
 * no such live session. */
bool mtq_web_sessions_get(mtq_web_sessions_t *s, const char *id, int64_t now_ms,
                          mtq_web_session_t *out);
void mtq_web_sessions_drop(mtq_web_sessions_t *s, const char *id);

#endif
