/* web_config.h - the [web] section of mtq-web's configuration file, and
 * the check that refuses an unsafe listen address (README, "Web dashboard").
 *
 *   [web]
 *   listen = 127.0.0.1:8642      ; HOST:PORT, [IPv6]:PORT
 *   users_file = /etc/mtq/web-users     ; name:role:$argon2id$...
 *   token_file = /etc/mtq/web-token     ; optional; a bearer token (operator)
 *   tls_cert = /etc/mtq/web.crt  ; with tls_key: HTTPS (GnuTLS in libmicrohttpd)
 *   tls_key = /etc/mtq/web.key
 *   behind_proxy = false         ; TLS is done by a reverse proxy in front
 *   allowed_hosts = mtq.example.org     ; Host headers accepted (default below)
 *   stats_interval_s = 10        ; how often the counts are refreshed
 *   max_body_bytes = 65536       ; larger request bodies get 413
 *   session_ttl_s = 43200        ; a session's life since it was last used
 *   threads = 4                  ; the HTTP server's thread pool */
#ifndef MTQ_WEB_CONFIG_H
#define MTQ_WEB_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mtq_config.h"

#define MTQ_WEB_DEFAULT_LISTEN "127.0.0.1:8642"
#define MTQ_WEB_HOSTS_MAX 16

typedef struct {
  mtq_config_t base; /* [database], [security] */
  char *listen;      /* owned; MTQ_WEB_DEFAULT_LISTEN unless set */
  char *users_file, *token_file, *tls_cert, *tls_key; /* owned; NULL: none */
  bool behind_proxy;
  char *allowed_hosts[MTQ_WEB_HOSTS_MAX]; /* owned; n_allowed_hosts of them */
  size_t n_allowed_hosts;
  int64_t stats_interval_s;
  int64_t max_body_bytes;
  int64_t session_ttl_s;
  int64_t threads;
} mtq_web_config_t;

void mtq_web_config_init(mtq_web_config_t *cfg);
void mtq_web_config_cleanup(mtq_web_config_t *cfg);
/* The [web] section's handler, for mtq_config_parse. */
mtq_config_section_t mtq_web_config_section(mtq_web_config_t *cfg);
/* Reads the file: [web], [database], [security]; the daemons' sections are
 * skipped, so one file can serve all three. */
bool mtq_web_config_load(mtq_web_config_t *cfg, const char *path, bson_error_t *error);

/* Parses "HOST:PORT" ("127.0.0.1:8642", "[::1]:8642", "localhost:8642",
 * "0.0.0.0:80") into addr (numeric addresses only, "localhost" as
 * 127.0.0.1) and says whether it is a loopback address. */
bool mtq_web_listen_parse(const char *listen, struct sockaddr_storage *addr, socklen_t *len,
                          bool *loopback, bson_error_t *error);

/* The security rules of the configuration: a listen address other than
 * loopback needs authentication (users_file or token_file) and TLS
 * (tls_cert and tls_key) or behind_proxy; behind_proxy needs
 * authentication; a certificate needs its key.  False with the reason. */
bool mtq_web_config_check(const mtq_web_config_t *cfg, bool loopback, bson_error_t *error);

#endif
