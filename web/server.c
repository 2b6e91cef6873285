/* server.c - the HTTP server: libmicrohttpd's daemon, a request's body,
 * the reply with its security headers (see web.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "assets.h"
#include "json.h"
#include "mtq_error.h"
#include "mtq_log.h"
#include "web_private.h"

/* A request between libmicrohttpd's calls: its body as it comes. */
typedef struct {
  char *body;
  size_t len;
  bool too_big;
} upload_t;

void mtq__web_error(mtq_web_reply_t *r, unsigned status, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  r->status = status;
  bson_reinit(&r->body);
  BSON_APPEND_UTF8(&r->body, "error", msg);
}

void mtq__web_store_error(mtq_web_reply_t *r, const bson_error_t *error, const char *doing) {
  if (error->domain != MTQ_ERROR_DOMAIN) {
    /* The driver's messages may name hosts; the log has them, the page a
     * plain sentence. */
    mtq_warn("%s: %s", doing, error->message);
    unsigned status = mtq_error_is_transient(error) ? 503 : 500;
    mtq__web_error(r, status, "%s: the database could not be read (see mtq-web's log)", doing);
    return;
  }
  unsigned status;
  switch (error->code) {
  case MTQ_ERR_NOT_FOUND:
  case MTQ_ERR_UNKNOWN_CHANNEL:
    status = 404;
    break;
  case MTQ_ERR_STATE:
  case MTQ_ERR_CONFLICT:
  case MTQ_ERR_FULL:
    status = 409;
    break;
  case MTQ_ERR_INVALID:
  case MTQ_ERR_TOO_LARGE:
    status = 400;
    break;
  case MTQ_ERR_UNAVAILABLE:
  case MTQ_ERR_TIMEOUT:
    status = 503;
    break;
  default:
    status = 500;
  }
  mtq__web_error(r, status, "%s", error->message);
}

static void add_headers(const mtq_web_t *w, struct MHD_Response *resp) {
  MHD_add_response_header(resp, "Content-Security-Policy",
                          "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                          "form-action 'self'");
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(resp, "X-Frame-Options", "DENY");
  MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
  MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
  MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
  if (w->cfg->tls_cert) {
    MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
  }
}

static enum MHD_Result send_reply(mtq_web_t *w, struct MHD_Connection *conn,
                                  mtq_web_reply_t *r) {
  struct MHD_Response *resp;
  const mtq_web_asset_t *a = r->asset;
  if (a) {
    resp = MHD_create_response_from_buffer(a->size, (void *)a->bytes, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Content-Type", a->content_type);
    /* index.html names the other files: always revalidated; the rest may
     * be kept a little while, not longer than a deploy is apart. */
    MHD_add_response_header(resp, "Cache-Control",
                            strcmp(a->path, "index.html") == 0 ? "no-cache" : "max-age=300");
  } else if (r->text && r->status == 200) {
    resp = MHD_create_response_from_buffer(strlen(r->text), r->text, MHD_RESPMEM_MUST_FREE);
    r->text = NULL; /* the response frees it */
    MHD_add_response_header(resp, "Content-Type", r->text_type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
  } else {
    char *json = mtq_web_json(&r->body);
    size_t len = strlen(json);
    json = bson_realloc(json, len + 2);
    json[len++] = '\n';
    json[len] = '\0';
    resp = MHD_create_response_from_buffer(len, json, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
  }
  if (r->set_cookie[0]) {
    MHD_add_response_header(resp, "Set-Cookie", r->set_cookie);
  }
  if (r->retry_after_s > 0) {
    char s[24];
    snprintf(s, sizeof s, "%d", r->retry_after_s);
    MHD_add_response_header(resp, "Retry-After", s);
  }
  if (r->status == 401 && w->token) {
    MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"mtq\"");
  }
  add_headers(w, resp);
  enum MHD_Result ret = MHD_queue_response(conn, r->status, resp);
  MHD_destroy_response(resp);
  return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
  mtq_web_t *w = cls;
  upload_t *up = *con_cls;
  if (!up) {
    up = bson_malloc0(sizeof *up);
    *con_cls = up;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoll(cl, NULL, 10) > w->cfg->max_body_bytes) {
      up->too_big = true;
    }
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    if (!up->too_big && up->len + *upload_data_size <= (size_t)w->cfg->max_body_bytes) {
      up->body = bson_realloc(up->body, up->len + *upload_data_size + 1);
      memcpy(up->body + up->len, upload_data, *upload_data_size);
      up->len += *upload_data_size;
      up->body[up->len] = '\0';
    } else {
      /* Read and dropped, so that the client gets the 413, not a reset. */
      up->too_big = true;
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  mtq_web_reply_t r;
  memset(&r, 0, sizeof r);
  bson_init(&r.body);
  r.status = 200;
  if (up->too_big) {
    mtq__web_error(&r, 413, "the request body is larger than %lld bytes",
                   (long long)w->cfg->max_body_bytes);
  } else {
    mtq_web_req_t q = {w, conn, method, url, up->body ? up->body : "", up->len, {0}};
    mtq__web_route(&q, &r);
  }
  enum MHD_Result ret = send_reply(w, conn, &r);
  bson_free(r.text);
  bson_destroy(&r.body);
  return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  upload_t *up = *con_cls;
  if (up) {
    bson_free(up->body);
    bson_free(up);
    *con_cls = NULL;
  }
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n > 0 && msg[n - 1] == '\n') {
    msg[--n] = '\0';
  }
  mtq_debug("http: %s", msg);
}

static bool read_pem(const char *path, char **out, bson_error_t *error) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    mtq_error_set(error, MTQ_ERR_NOT_FOUND, "cannot open %s: %s", path, strerror(errno));
    return false;
  }
  char *buf = bson_malloc0(1024 * 1024 + 1);
  size_t n = fread(buf, 1, 1024 * 1024, f);
  fclose(f);
  if (n == 0 || n == 1024 * 1024) {
    bson_free(buf);
    mtq_error_set(error, MTQ_ERR_INVALID, "%s is empty or larger than 1 MiB", path);
    return false;
  }
  *out = buf;
  return true;
}

mtq_web_t *mtq_web_new(const mtq_web_config_t *cfg, mtq_store_t *store, bson_error_t *error) {
  mtq_web_t *w = bson_malloc0(sizeof *w);
  w->cfg = cfg;
  w->store = store;
  mtq__web_cache_init(&w->cache);
  mtq_web_throttle_init(&w->throttle);
  bool ok = mtq_web_listen_parse(cfg->listen, &w->addr, &w->addr_len, &w->loopback, error) &&
            mtq_web_config_check(cfg, w->loopback, error);
  if (ok && cfg->users_file) {
    ok = mtq_web_users_load(cfg->users_file, &w->users, error);
  }
  if (ok && cfg->token_file) {
    ok = mtq_web_token_load(cfg->token_file, &w->token, error);
  }
  if (ok && cfg->tls_cert) {
    ok = read_pem(cfg->tls_cert, &w->tls_cert_pem, error) &&
         read_pem(cfg->tls_key, &w->tls_key_pem, error);
    if (ok && !MHD_is_feature_supported(MHD_FEATURE_TLS)) {
      mtq_error_set(error, MTQ_ERR_INVALID, "this libmicrohttpd has no TLS support");
      ok = false;
    }
  }
  if (!ok) {
    mtq_web_destroy(w);
    return NULL;
  }
  w->auth = cfg->users_file || cfg->token_file;
  w->tls = cfg->tls_cert || cfg->behind_proxy;
  w->sessions = mtq_web_sessions_new(MTQ_WEB_MAX_SESSIONS, cfg->session_ttl_s * 1000);
  return w;
}

bool mtq_web_start(mtq_web_t *w, uv_loop_t *loop, bson_error_t *error) {
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
  if (w->addr.ss_family == AF_INET6) {
    flags |= MHD_USE_IPv6;
  }
  if (w->tls_cert_pem) {
    flags |= MHD_USE_TLS;
  }
  uint16_t port = w->addr.ss_family == AF_INET6
                      ? ntohs(((struct sockaddr_in6 *)&w->addr)->sin6_port)
                      : ntohs(((struct sockaddr_in *)&w->addr)->sin_port);
  struct MHD_OptionItem tls_opts[] = {
      {MHD_OPTION_HTTPS_MEM_CERT, 0, w->tls_cert_pem},
      {MHD_OPTION_HTTPS_MEM_KEY, 0, w->tls_key_pem},
      {MHD_OPTION_END, 0, NULL},
  };
  w->mhd = MHD_start_daemon(
      flags, port, NULL, NULL, on_request, w, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&w->addr,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)w->cfg->threads, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_NOTIFY_COMPLETED,
      on_completed, w, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, w, MHD_OPTION_ARRAY,
      w->tls_cert_pem ? tls_opts : &tls_opts[2], MHD_OPTION_END);
  if (!w->mhd) {
    mtq_error_set(error, MTQ_ERR_UNAVAILABLE,
                  "cannot listen on %s%s (in use, or not an address of this host?)",
                  w->cfg->listen, w->tls_cert_pem ? " with TLS (is the key the certificate's?)" : "");
    return false;
  }
  mtq__web_cache_start(w, loop);
  return true;
}

void mtq_web_stop(mtq_web_t *w) {
  if (w->mhd) {
    MHD_stop_daemon(w->mhd);
    w->mhd = NULL;
  }
  mtq__web_cache_close(w);
}

void mtq_web_destroy(mtq_web_t *w) {
  if (!w) {
    return;
  }
  mtq_web_stop(w);
  mtq_web_users_free(&w->users);
  if (w->token) {
    memset(w->token, 0, strlen(w->token));
    bson_free(w->token);
  }
  bson_free(w->tls_cert_pem);
  if (w->tls_key_pem) {
    memset(w->tls_key_pem, 0, strlen(w->tls_key_pem));
    bson_free(w->tls_key_pem);
  }
  mtq_web_sessions_destroy(w->sessions);
  mtq__web_cache_cleanup(&w->cache);
  mtq_web_throttle_cleanup(&w->throttle);
  bson_free(w);
}
