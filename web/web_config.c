/* web_config.c - [web] (see web_config.h). */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "mtq_error.h"
#include "web_config.h"

void mtq_web_config_init(mtq_web_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  mtq_config_init(&cfg->base);
  cfg->listen = bson_strdup(MTQ_WEB_DEFAULT_LISTEN);
  cfg->stats_interval_s = 10;
  cfg->max_body_bytes = 64 * 1024;
  cfg->session_ttl_s = 12 * 3600;
  cfg->threads = 4;
}

void mtq_web_config_cleanup(mtq_web_config_t *cfg) {
  mtq_config_cleanup(&cfg->base);
  bson_free(cfg->listen);
  bson_free(cfg->users_file);
  bson_free(cfg->token_file);
  bson_free(cfg->tls_cert);
  bson_free(cfg->tls_key);
  for (size_t i = 0; i < cfg->n_allowed_hosts; i++) {
    bson_free(cfg->allowed_hosts[i]);
  }
  memset(cfg, 0, sizeof *cfg);
}

/* "a, b": host names as a Host header carries them, without the port. */
static bool parse_hosts(mtq_web_config_t *cfg, const char *value, bson_error_t *error) {
  for (size_t i = 0; i < cfg->n_allowed_hosts; i++) {
    bson_free(cfg->allowed_hosts[i]);
  }
  cfg->n_allowed_hosts = 0;
  char *copy = bson_strdup(value), *save = NULL;
  bool ok = true;
  for (char *tok = strtok_r(copy, ",", &save); ok && tok; tok = strtok_r(NULL, ",", &save)) {
    char *h = mtq_trim(tok);
    bool valid = *h && strlen(h) <= 255;
    for (const char *p = h; valid && *p; p++) {
      valid = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr(".-_[]:", *p);
    }
    if (!valid) {
      mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not a host name", h);
      ok = false;
    } else if (cfg->n_allowed_hosts == MTQ_WEB_HOSTS_MAX) {
      mtq_error_set(error, MTQ_ERR_INVALID, "at most %d allowed_hosts", MTQ_WEB_HOSTS_MAX);
      ok = false;
    } else {
      cfg->allowed_hosts[cfg->n_allowed_hosts++] = bson_strdup(h);
    }
  }
  if (ok && cfg->n_allowed_hosts == 0) {
    mtq_error_set(error, MTQ_ERR_INVALID, "allowed_hosts is empty");
    ok = false;
  }
  bson_free(copy);
  return ok;
}

static bool web_key(void *data, const char *sub, const char *name, const char *value,
                    bson_error_t *error) {
  mtq_web_config_t *cfg = data;
  if (strcmp(name, "listen") == 0) {
    struct sockaddr_storage addr;
    socklen_t len;
    bool loopback;
    return mtq_web_listen_parse(value, &addr, &len, &loopback, error) &&
           mtq_config_string(&cfg->listen, value, error);
  }
  char **path = strcmp(name, "users_file") == 0   ? &cfg->users_file
                : strcmp(name, "token_file") == 0 ? &cfg->token_file
                : strcmp(name, "tls_cert") == 0   ? &cfg->tls_cert
                : strcmp(name, "tls_key") == 0    ? &cfg->tls_key
                                                  : NULL;
  if (path) {
    return mtq_config_string(path, value, error);
  }
  if (strcmp(name, "behind_proxy") == 0) {
    return mtq_config_bool(value, &cfg->behind_proxy, error);
  }
  if (strcmp(name, "allowed_hosts") == 0) {
    return parse_hosts(cfg, value, error);
  }
  if (strcmp(name, "stats_interval_s") == 0) {
    return mtq_config_int(value, 1, 3600, &cfg->stats_interval_s, error);
  }
  if (strcmp(name, "max_body_bytes") == 0) {
    return mtq_config_int(value, 1024, 16 * 1024 * 1024, &cfg->max_body_bytes, error);
  }
  if (strcmp(name, "session_ttl_s") == 0) {
    return mtq_config_int(value, 60, 30 * 24 * 3600, &cfg->session_ttl_s, error);
  }
  if (strcmp(name, "threads") == 0) {
    return mtq_config_int(value, 1, 64, &cfg->threads, error);
  }
  mtq_error_set(error, MTQ_ERR_INVALID, "unknown key '%s' in [web]", name);
  return false;
}

mtq_config_section_t mtq_web_config_section(mtq_web_config_t *cfg) {
  return (mtq_config_section_t){"web", web_key, NULL, cfg};
}

bool mtq_web_config_load(mtq_web_config_t *cfg, const char *path, bson_error_t *error) {
  const mtq_config_section_t table[] = {mtq_web_config_section(cfg),
                                        {"coordinator", NULL, NULL, NULL},
                                        {"worker", NULL, NULL, NULL},
                                        {"function ", NULL, NULL, NULL}};
  return mtq_config_load(&cfg->base, table, sizeof table / sizeof table[0], path, error);
}

bool mtq_web_listen_parse(const char *listen, struct sockaddr_storage *addr, socklen_t *len,
                          bool *loopback, bson_error_t *error) {
  char host[64];
  const char *colon = strrchr(listen, ':');
  memset(addr, 0, sizeof *addr);
  if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host) {
    mtq_error_set(error, MTQ_ERR_INVALID, "listen '%s' is not HOST:PORT", listen);
    return false;
  }
  memcpy(host, listen, (size_t)(colon - listen));
  host[colon - listen] = '\0';
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (!colon[1] || *end || port < 1 || port > 65535) {
    mtq_error_set(error, MTQ_ERR_INVALID, "listen '%s': the port must be 1..65535", listen);
    return false;
  }
  size_t hl = strlen(host);
  if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
    host[hl - 1] = '\0';
    if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1) {
      mtq_error_set(error, MTQ_ERR_INVALID, "listen '%s': bad IPv6 address", listen);
      return false;
    }
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    *len = sizeof *a6;
    *loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
    return true;
  }
  struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
  if (strcmp(host, "localhost") == 0) {
    bson_strncpy(host, "127.0.0.1", sizeof host);
  }
  if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "listen '%s': the host must be an IPv4 address, [IPv6] or localhost", listen);
    return false;
  }
  a4->sin_family = AF_INET;
  a4->sin_port = htons((uint16_t)port);
  *len = sizeof *a4;
  *loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
  return true;
}

bool mtq_web_config_check(const mtq_web_config_t *cfg, bool loopback, bson_error_t *error) {
  bool auth = cfg->users_file || cfg->token_file;
  bool tls = cfg->tls_cert || cfg->tls_key;
  if (tls && !(cfg->tls_cert && cfg->tls_key)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "[web] tls_cert and tls_key go together");
    return false;
  }
  if (cfg->behind_proxy && !auth) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "[web] behind_proxy needs authentication (users_file or token_file)");
    return false;
  }
  if (!loopback && !auth) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "refusing to listen on %s without authentication: set [web] users_file "
                  "(or token_file), and tls_cert/tls_key or behind_proxy, or listen on "
                  "127.0.0.1",
                  cfg->listen);
    return false;
  }
  if (!loopback && !tls && !cfg->behind_proxy) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "refusing to listen on %s without TLS: set [web] tls_cert and tls_key, or "
                  "behind_proxy = true when a reverse proxy does TLS",
                  cfg->listen);
    return false;
  }
  return true;
}
