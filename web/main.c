/* main.c - mtq-web, the dashboard's daemon: options, configuration,
 * signals; `mtq-web --hash-password` for the users file. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth.h"
#include "daemon.h"
#include "web.h"

#define DEFAULT_URI "mongodb://127.0.0.1:27017/mtq"

static const char usage[] =
    "usage: mtq-web --config FILE [--uri URI] [--log-level LEVEL]\n"
    "       mtq-web --hash-password   < password\n"
    "\n"
    "The mtq web dashboard: pages and a JSON API under /api/v1/ over the\n"
    "database, served on [web] listen (default 127.0.0.1:8642).  A listen\n"
    "address other than loopback needs users (users_file) or a token\n"
    "(token_file), and TLS (tls_cert, tls_key) or behind_proxy.\n"
    "\n"
    "  -c, --config FILE      configuration file (INI)\n"
    "      --uri URI          database URI (else $MTQ_URI, else [database] uri)\n"
    "      --log-level LEVEL  debug, info (default), warn or error\n"
    "      --hash-password    read a password on stdin (one line), print its\n"
    "                         argon2id hash for a users file line name:role:HASH\n"
    "  -h, --help             this help\n";

static int hash_password(void) {
  char buf[1024];
  bool tty = isatty(STDIN_FILENO);
  struct termios old, quiet;
  if (tty) {
    fputs("password: ", stderr);
    tcgetattr(STDIN_FILENO, &old);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  bool got = fgets(buf, sizeof buf, stdin) != NULL;
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    fputs("\n", stderr);
  }
  size_t n = got ? strlen(buf) : 0;
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
    buf[--n] = '\0';
  }
  if (n == 0) {
    fputs("mtq-web: no password on stdin\n", stderr);
    return 2;
  }
  char hash[MTQ_WEB_HASH_MAX];
  bson_error_t error;
  bool ok = mtq_web_password_hash(buf, n, hash, &error);
  memset(buf, 0, sizeof buf);
  if (!ok) {
    fprintf(stderr, "mtq-web: %s\n", error.message);
    return 1;
  }
  puts(hash);
  return 0;
}

typedef struct {
  mtq_daemon_t *daemon;
  mtq_web_t *web;
} web_main_t;

static void on_signal(void *data, int signum) {
  web_main_t *m = data;
  mtq_info("%s: stopping", strsignal(signum));
  mtq_web_stop(m->web);
  mtq_daemon_close_signals(m->daemon);
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--hash-password") == 0) {
    return hash_password();
  }
  mtq_daemon_options_t o;
  int rc = mtq_daemon_options(argc, argv, "mtq-web", usage, false, &o);
  if (rc >= 0) {
    return rc;
  }
  mtq_log_init("mtq-web", o.log_level);
  mtq_web_config_t cfg;
  mtq_web_config_init(&cfg);
  bson_error_t err;
  mtq_daemon_t daemon;
  bool daemon_up = false;
  mtq_web_t *web = NULL;
  rc = 1;
  if (!mtq_web_config_load(&cfg, o.config, &err)) {
    mtq_err("%s", err.message);
    goto done;
  }
  const char *uri = mtq_daemon_uri(&o, cfg.base.uri);
  uri = uri ? uri : DEFAULT_URI;
  if (!(daemon_up = mtq_daemon_init(&daemon, uri, "mtq-web", &err)) ||
      !(web = mtq_web_new(&cfg, daemon.store, &err)) ||
      !mtq_web_start(web, &daemon.loop, &err)) {
    mtq_err("%s", err.message);
    goto done;
  }
  char where[512];
  mtq_uri_describe(uri, where, sizeof where);
  mtq_info("serving on %s%s (%s), database %s", cfg.tls_cert ? "https://" : "http://",
           cfg.listen, cfg.users_file || cfg.token_file ? "authentication on" : "no users: loopback only",
           where);
  web_main_t m = {&daemon, web};
  mtq_daemon_on_signal(&daemon, on_signal, &m);
  mtq_daemon_run(&daemon);
  mtq_info("stopped");
  rc = 0;
done:
  mtq_web_destroy(web);
  if (daemon_up) {
    mtq_daemon_destroy(&daemon);
  }
  mtq_web_config_cleanup(&cfg);
  return rc;
}
