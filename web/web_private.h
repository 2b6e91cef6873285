/* web_private.h - what the files of mtq-web share: the server's state, a
 * request as the handlers see it and the reply they build. */
#ifndef MTQ_WEB_PRIVATE_H
#define MTQ_WEB_PRIVATE_H

#include <microhttpd.h>
#include <pthread.h>

#include "throttle.h"

#include "auth.h"
#include "duty.h"
#include "mtq_store_admin.h"
#include "session.h"
#include "throughput.h"
#include "web.h"

#define MTQ_WEB_COOKIE "mtq_session"
#define MTQ_WEB_MAX_SESSIONS 4096
/* The throughput of the overview covers this long. */
#define MTQ_WEB_THROUGHPUT_MS (60 * 60 * 1000)

/* What the stats duty keeps (cache.c), under lock. */
typedef struct {
  pthread_mutex_t lock;
  bool have_stats;
  bson_t stats;       /* mtq_store_stats */
  int64_t stats_at_ms;
  bool have_runs;
  bson_t throughput;  /* {"throughput": [...]} */
  mtq_perf_t *perf;   /* per worker, over every function */
  size_t n_perf;
  int64_t runs_at_ms;
  mtq_duty_t duty;
  bool duty_open;
} mtq_web_cache_t;

struct mtq_web {
  const mtq_web_config_t *cfg;
  mtq_store_t *store;
  struct sockaddr_storage addr;
  socklen_t addr_len;
  bool loopback;
  bool tls;      /* HTTPS here, or behind a proxy that does it */
  bool auth;     /* users or a token are required */
  mtq_web_users_t users;
  char *token;   /* NULL: none */
  char *tls_cert_pem, *tls_key_pem;
  mtq_web_sessions_t *sessions;
  mtq_web_cache_t cache;
  mtq_web_throttle_t throttle; /* of logins */
  struct MHD_Daemon *mhd;
};

/* Who makes a request. */
typedef struct {
  bool has_session;          /* a valid session cookie came with it */
  mtq_web_session_t session; /* its copy */
  bool bearer;               /* the token authenticated it (no cookie, no CSRF) */
  mtq_web_role_t role;       /* what it may do: NONE, READ, OPERATOR */
  char actor[MTQ_NAME_MAX + 8]; /* "web", "web:<user>", "web:token" */
} mtq_web_who_t;

typedef struct {
  mtq_web_t *w;
  struct MHD_Connection *conn;
  const char *method;
  const char *path;
  const char *body; /* NUL-terminated copy of what was sent; "" for none */
  size_t body_len;
  mtq_web_who_t who;
} mtq_web_req_t;

typedef struct {
  unsigned status;
  bson_t body;        /* a JSON object, unless asset is set */
  const void *asset;  /* const mtq_web_asset_t *: a file instead of JSON */
  char *text;         /* or a text of text_type instead (owned: bson_free) */
  const char *text_type;
  int retry_after_s;  /* > 0: a Retry-After header (429) */
  char set_cookie[256];
  bool no_store;      /* Cache-Control: no-store (every API reply) */
} mtq_web_reply_t;

/* Replies: an error {"error": "..."} with status, and the status of an
 * error of the store (404 unknown, 409 refused by the state table, 400
 * malformed, 503 database unreachable) with its message, or, for the
 * driver's own errors, a message naming no host or credential. */
void mtq__web_error(mtq_web_reply_t *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void mtq__web_store_error(mtq_web_reply_t *r, const bson_error_t *error, const char *doing);

/* The routes (api.c), and the task and flow handlers. */
void mtq__web_route(mtq_web_req_t *q, mtq_web_reply_t *r);
void mtq__web_tasks(mtq_web_req_t *q, mtq_web_reply_t *r);
void mtq__web_task(mtq_web_req_t *q, mtq_web_reply_t *r, const char *rest);
void mtq__web_flows(mtq_web_req_t *q, mtq_web_reply_t *r);
void mtq__web_flow(mtq_web_req_t *q, mtq_web_reply_t *r, const char *rest);
/* Whether the request may act (role operator); sets a 403 reply if not. */
bool mtq__web_may_act(mtq_web_req_t *q, mtq_web_reply_t *r);
/* A query parameter (NULL when absent). */
const char *mtq__web_arg(mtq_web_req_t *q, const char *name);
/* 400 when a query parameter not in names (NULL-terminated) was given. */
bool mtq__web_args_known(mtq_web_req_t *q, mtq_web_reply_t *r, const char *const *names);

/* The stats cache (cache.c). */
void mtq__web_cache_init(mtq_web_cache_t *c);
void mtq__web_cache_cleanup(mtq_web_cache_t *c);
void mtq__web_cache_start(mtq_web_t *w, uv_loop_t *loop);
void mtq__web_cache_close(mtq_web_t *w);
/* Counts now, in the caller's thread (when no count was made yet). */
bool mtq__web_cache_refresh(mtq_web_t *w, bson_error_t *error);
/* Appends {"at": date, "channels": {...}} of the cache to doc under key;
 * false (and a 503 in r) when it has none and cannot make one. */
bool mtq__web_append_stats(mtq_web_t *w, bson_t *doc, const char *key, mtq_web_reply_t *r);
/* Appends the throughput array of the cache under key (empty when none). */
void mtq__web_append_throughput(mtq_web_t *w, bson_t *doc, const char *key);
/* Appends {"workers": [...]} entries: whoami, "lost", "perf". */
bool mtq__web_append_workers(mtq_web_t *w, bson_t *doc, const char *key, mtq_web_reply_t *r);

/* GET /metrics and GET /api/v1/functions (api_ops.c). */
void mtq__web_metrics(mtq_web_req_t *q, mtq_web_reply_t *r);
void mtq__web_functions(mtq_web_req_t *q, mtq_web_reply_t *r);

#endif
