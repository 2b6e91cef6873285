/* api.c - who a request comes from, the routes, and the small endpoints:
 * pages, session, login, logout, stats, overview, workers, channels
 * (README, "Web dashboard"). */
#include <string.h>

#include "assets.h"
#include "json.h"
#include "mtq_error.h"
#include "mtq_log.h"
#include "web_private.h"

#define API "/api/v1/"

const char *mtq__web_arg(mtq_web_req_t *q, const char *name) {
  return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, name);
}

typedef struct {
  const char *const *names;
  const char *unknown;
} known_t;

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value) {
  known_t *k = cls;
  for (size_t i = 0; k->names[i]; i++) {
    if (strcmp(k->names[i], key) == 0) {
      return MHD_YES;
    }
  }
  k->unknown = key;
  return MHD_NO;
}

bool mtq__web_args_known(mtq_web_req_t *q, mtq_web_reply_t *r, const char *const *names) {
  known_t k = {names, NULL};
  MHD_get_connection_values(q->conn, MHD_GET_ARGUMENT_KIND, check_arg, &k);
  if (k.unknown) {
    char name[65];
    bson_strncpy(name, k.unknown, sizeof name); /* echoed: bounded, and JSON-escaped */
    mtq__web_error(r, 400, "unknown parameter '%s'", name);
    return false;
  }
  return true;
}

static const char *header(mtq_web_req_t *q, const char *name) {
  return MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, name);
}

/* --- who ----------------------------------------------------------------- */

static void set_cookie(mtq_web_req_t *q, mtq_web_reply_t *r, const char *id) {
  snprintf(r->set_cookie, sizeof r->set_cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s",
           MTQ_WEB_COOKIE, id[0] ? id : "", q->w->tls ? "; Secure" : "",
           id[0] ? "" : "; Max-Age=0");
}

static void name_actor(mtq_web_who_t *who) {
  if (who->bearer) {
    snprintf(who->actor, sizeof who->actor, "web:token");
  } else if (who->has_session && who->session.user[0]) {
    snprintf(who->actor, sizeof who->actor, "web:%s", who->session.user);
  } else {
    snprintf(who->actor, sizeof who->actor, "web");
  }
}

/* Fills q->who from the bearer token or the session cookie; false (and a
 * 401) for a wrong token. */
static bool identify(mtq_web_req_t *q, mtq_web_reply_t *r) {
  mtq_web_t *w = q->w;
  mtq_web_who_t *who = &q->who;
  memset(who, 0, sizeof *who);
  const char *authz = header(q, "Authorization");
  if (authz && strncmp(authz, "Bearer ", 7) == 0) {
    if (!w->token || !mtq_web_secret_equal(authz + 7, w->token)) {
      mtq__web_error(r, 401, "wrong token");
      return false;
    }
    who->bearer = true;
    who->role = MTQ_WEB_ROLE_OPERATOR;
  } else {
    const char *id = MHD_lookup_connection_value(q->conn, MHD_COOKIE_KIND, MTQ_WEB_COOKIE);
    who->has_session = mtq_web_sessions_get(w->sessions, id, mtq_now_ms(), &who->session);
    who->role = who->has_session ? who->session.role : MTQ_WEB_ROLE_NONE;
  }
  name_actor(who);
  return true;
}

/* A POST from a page must carry its session's CSRF token in X-CSRF-Token
 * and come from this origin; the bearer token is no ambient credential (a
 * browser never adds it by itself), so it needs neither. */
static bool post_allowed(mtq_web_req_t *q, mtq_web_reply_t *r) {
  if (q->who.bearer) {
    return true;
  }
  if (!mtq_web_origin_ok(header(q, "Origin"), header(q, "Host"), header(q, "Sec-Fetch-Site"))) {
    mtq__web_error(r, 403, "cross-origin request refused");
    return false;
  }
  if (!q->who.has_session) {
    if (q->w->auth) {
      mtq__web_error(r, 401, "no session: GET /api/v1/session, then log in");
    } else {
      mtq__web_error(r, 403, "no session: GET /api/v1/session for a CSRF token first");
    }
    return false;
  }
  const char *csrf = header(q, "X-CSRF-Token");
  if (!csrf || !mtq_web_secret_equal(csrf, q->who.session.csrf)) {
    mtq__web_error(r, 403, "missing or wrong X-CSRF-Token (GET /api/v1/session gives it)");
    return false;
  }
  return true;
}

bool mtq__web_may_act(mtq_web_req_t *q, mtq_web_reply_t *r) {
  if (q->who.role != MTQ_WEB_ROLE_OPERATOR) {
    mtq__web_error(r, 403, "the %s role may not act", mtq_web_role_name(q->who.role));
    return false;
  }
  return true;
}

/* --- session, login, logout ------------------------------------------------ */

static void session_body(mtq_web_req_t *q, mtq_web_reply_t *r) {
  const mtq_web_who_t *who = &q->who;
  bson_reinit(&r->body);
  if (who->bearer) {
    BSON_APPEND_UTF8(&r->body, "user", "token");
  } else if (who->session.user[0]) {
    BSON_APPEND_UTF8(&r->body, "user", who->session.user);
  } else if (!q->w->auth) {
    BSON_APPEND_UTF8(&r->body, "user", "web");
  } else {
    BSON_APPEND_NULL(&r->body, "user");
  }
  if (who->role == MTQ_WEB_ROLE_NONE) {
    BSON_APPEND_NULL(&r->body, "role");
  } else {
    BSON_APPEND_UTF8(&r->body, "role", mtq_web_role_name(who->role));
  }
  if (who->has_session) {
    BSON_APPEND_UTF8(&r->body, "csrf", who->session.csrf);
  } else {
    BSON_APPEND_NULL(&r->body, "csrf");
  }
  BSON_APPEND_BOOL(&r->body, "auth", q->w->auth);
  BSON_APPEND_BOOL(&r->body, "logged_in", who->role != MTQ_WEB_ROLE_NONE);
  BSON_APPEND_BOOL(&r->body, "tls", q->w->tls);
}

/* A new session (logged in as user, or the anonymous one) replacing the
 * request's: a login never keeps the id it came with (session fixation). */
static bool new_session(mtq_web_req_t *q, mtq_web_reply_t *r, const char *user,
                        mtq_web_role_t role) {
  mtq_web_who_t *who = &q->who;
  if (who->has_session) {
    mtq_web_sessions_drop(q->w->sessions, who->session.id);
  }
  if (!mtq_web_sessions_create(q->w->sessions, user, role, mtq_now_ms(), &who->session)) {
    mtq__web_error(r, 503, "too many sessions; try again later");
    return false;
  }
  who->has_session = true;
  who->role = role;
  name_actor(who);
  set_cookie(q, r, who->session.id);
  return true;
}

static void get_session(mtq_web_req_t *q, mtq_web_reply_t *r) {
  if (!q->who.has_session && !q->who.bearer &&
      !new_session(q, r, "", q->w->auth ? MTQ_WEB_ROLE_NONE : MTQ_WEB_ROLE_OPERATOR)) {
    return;
  }
  session_body(q, r);
}

static bool body_string(const bson_t *doc, const char *key, const char **out) {
  bson_iter_t it;
  if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_UTF8(&it)) {
    return false;
  }
  *out = bson_iter_utf8(&it, NULL);
  return true;
}

static void login(mtq_web_req_t *q, mtq_web_reply_t *r) {
  if (!q->w->users.n) {
    mtq__web_error(r, 400, "this server has no users to log in as");
    return;
  }
  bson_error_t jerr;
  bson_t *doc = bson_new_from_json((const uint8_t *)q->body, (ssize_t)q->body_len, &jerr);
  const char *user = NULL, *password = NULL;
  if (!doc || !body_string(doc, "user", &user) || !body_string(doc, "password", &password)) {
    mtq__web_error(r, 400, "the body must be {\"user\": \"...\", \"password\": \"...\"}");
  } else {
    int64_t now = mtq_now_ms(), wait_ms;
    const mtq_web_user_t *u = NULL;
    if (!mtq_web_throttle_begin(&q->w->throttle, user, now, &wait_ms)) {
      r->retry_after_s = (int)((wait_ms + 999) / 1000);
      mtq_info("login for '%.64s' held for %d s", user, r->retry_after_s);
      mtq__web_error(r, 429, "too many login attempts: try again in %d s", r->retry_after_s);
    } else {
      u = mtq_web_users_check(&q->w->users, user, password, strlen(password));
      mtq_web_throttle_done(&q->w->throttle, user, u != NULL, mtq_now_ms());
    }
    if (r->status == 429) {
      /* held: answered above */
    } else if (!u) {
      mtq_info("login refused for '%.64s'", user);
      mtq__web_error(r, 401, "wrong user name or password");
    } else if (new_session(q, r, u->name, u->role)) {
      mtq_info("login: %s (%s)", u->name, mtq_web_role_name(u->role));
      session_body(q, r);
    }
  }
  if (doc) {
    bson_destroy(doc);
  }
}

static void logout(mtq_web_req_t *q, mtq_web_reply_t *r) {
  if (q->who.has_session) {
    mtq_web_sessions_drop(q->w->sessions, q->who.session.id);
  }
  set_cookie(q, r, "");
  bson_reinit(&r->body);
  BSON_APPEND_BOOL(&r->body, "ok", true);
}

/* --- reads --------------------------------------------------------------- */

static void get_stats(mtq_web_req_t *q, mtq_web_reply_t *r) {
  mtq__web_append_stats(q->w, &r->body, NULL, r);
}

static void get_overview(mtq_web_req_t *q, mtq_web_reply_t *r) {
  if (mtq__web_append_stats(q->w, &r->body, "stats", r)) {
    mtq__web_append_throughput(q->w, &r->body, "throughput");
    mtq__web_append_workers(q->w, &r->body, "workers", r);
  }
}

static void get_workers(mtq_web_req_t *q, mtq_web_reply_t *r) {
  mtq__web_append_workers(q->w, &r->body, "workers", r);
}

static void get_channels(mtq_web_req_t *q, mtq_web_reply_t *r) {
  char **names;
  bson_error_t error;
  if (!mtq_store_channels(q->w->store, &names, &error)) {
    mtq__web_store_error(r, &error, "cannot list channels");
    return;
  }
  bson_t arr;
  BSON_APPEND_ARRAY_BEGIN(&r->body, "channels", &arr);
  for (size_t i = 0; names[i]; i++) {
    char key[16];
    const char *ks;
    bson_uint32_to_string((uint32_t)i, &ks, key, sizeof key);
    BSON_APPEND_UTF8(&arr, ks, names[i]);
  }
  bson_append_array_end(&r->body, &arr);
  bson_strfreev(names);
}

static bool serve_asset(const char *path, mtq_web_reply_t *r) {
  for (size_t i = 0; i < mtq_web_n_assets; i++) {
    if (strcmp(mtq_web_assets[i].path, path) == 0) {
      r->asset = &mtq_web_assets[i];
      return true;
    }
  }
  return false;
}

/* --- routes ---------------------------------------------------------------- */

typedef struct {
  const char *method;
  const char *path; /* after /api/v1/; a trailing '/' matches a prefix */
  bool needs_login; /* a role (read or operator) when auth is on */
  void (*fn)(mtq_web_req_t *q, mtq_web_reply_t *r);
} route_t;

static void tasks_rest(mtq_web_req_t *q, mtq_web_reply_t *r) {
  mtq__web_task(q, r, q->path + strlen(API "tasks/"));
}

static void flows_rest(mtq_web_req_t *q, mtq_web_reply_t *r) {
  mtq__web_flow(q, r, q->path + strlen(API "flows/"));
}

static const route_t routes[] = {
    {"GET", "session", false, get_session},
    {"POST", "login", false, login},
    {"POST", "logout", false, logout},
    {"GET", "stats", true, get_stats},
    {"GET", "overview", true, get_overview},
    {"GET", "workers", true, get_workers},
    {"GET", "channels", true, get_channels},
    {"GET", "tasks", true, mtq__web_tasks},
    {"*", "tasks/", true, tasks_rest},
    {"GET", "flows", true, mtq__web_flows},
    {"*", "flows/", true, flows_rest},
    {"GET", "functions", true, mtq__web_functions},
};

static void api_route(mtq_web_req_t *q, mtq_web_reply_t *r) {
  const char *p = q->path + strlen(API);
  const route_t *found = NULL;
  bool path_known = false;
  for (size_t i = 0; !found && i < sizeof routes / sizeof routes[0]; i++) {
    const route_t *rt = &routes[i];
    size_t n = strlen(rt->path);
    bool match = rt->path[n - 1] == '/' ? strncmp(p, rt->path, n) == 0 && p[n]
                                        : strcmp(p, rt->path) == 0;
    path_known |= match;
    if (match && (rt->method[0] == '*' || strcmp(rt->method, q->method) == 0)) {
      found = rt;
    }
  }
  if (!found) {
    if (path_known) {
      mtq__web_error(r, 405, "%s is not allowed here", q->method);
    } else {
      mtq__web_error(r, 404, "no such endpoint");
    }
    return;
  }
  bool post = strcmp(q->method, "POST") == 0;
  if (!post && strcmp(q->method, "GET") != 0) {
    mtq__web_error(r, 405, "only GET and POST");
    return;
  }
  if (post && !post_allowed(q, r)) {
    return;
  }
  if (found->needs_login && q->w->auth && q->who.role == MTQ_WEB_ROLE_NONE) {
    mtq__web_error(r, 401, "log in first");
    return;
  }
  found->fn(q, r);
}

void mtq__web_route(mtq_web_req_t *q, mtq_web_reply_t *r) {
  r->status = 200;
  if (!mtq_web_host_allowed(header(q, "Host"), q->w->cfg->allowed_hosts,
                            q->w->cfg->n_allowed_hosts, q->w->loopback)) {
    mtq__web_error(r, 403, "this Host is not served here (see [web] allowed_hosts)");
    return;
  }
  if (!identify(q, r)) {
    return;
  }
  if (strncmp(q->path, API, strlen(API)) == 0) {
    api_route(q, r);
    return;
  }
  if (strcmp(q->method, "GET") != 0 && strcmp(q->method, "HEAD") != 0) {
    mtq__web_error(r, 405, "only GET here");
    return;
  }
  /* Prometheus scrapes with the bearer token when auth is on. */
  if (strcmp(q->path, "/metrics") == 0) {
    if (q->w->auth && q->who.role == MTQ_WEB_ROLE_NONE) {
      mtq__web_error(r, 401, "log in first (a scraper: Authorization: Bearer <token_file's token>)");
    } else {
      mtq__web_metrics(q, r);
    }
    return;
  }
  const char *file = strcmp(q->path, "/") == 0 ? "index.html"
                     : strncmp(q->path, "/assets/", 8) == 0 ? q->path + 8
                                                            : NULL;
  if (!file || !serve_asset(file, r)) {
    mtq__web_error(r, 404, "no such page");
  }
}
