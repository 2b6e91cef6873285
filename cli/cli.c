/* cli.c - the connection, error messages and argument parsing of mtq. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mongoc/mongoc.h>

#include "cli.h"
#include "mtq_sign.h"

/* The secrets a URI string may hold, as spans of it: the password of its
 * user info and the value of every option named *password*
 * (tlsCertificateKeyFilePassword).  Returns how many, at most max. */
typedef struct {
  const char *at;
  size_t len;
} span_t;

static size_t uri_secrets(const char *uri, span_t *out, size_t max) {
  size_t n = 0;
  const char *start = strstr(uri, "://");
  start = start ? start + 3 : uri;
  size_t auth_len = strcspn(start, "/?");
  const char *at = NULL;
  for (const char *p = start; p < start + auth_len; p++) {
    at = *p == '@' ? p : at;
  }
  const char *colon = at ? memchr(start, ':', (size_t)(at - start)) : NULL;
  if (colon && n < max) {
    out[n++] = (span_t){colon + 1, (size_t)(at - colon - 1)};
  }
  for (const char *opt = strchr(start, '?'); opt && n < max; opt = strpbrk(opt + 1, "&;")) {
    const char *key = opt + 1;
    size_t key_len = strcspn(key, "=&;");
    if (key[key_len] != '=') {
      continue;
    }
    for (size_t i = 0; i + 8 <= key_len; i++) {
      if (strncasecmp(key + i, "password", 8) == 0) {
        out[n++] = (span_t){key + key_len + 1, strcspn(key + key_len + 1, "&;")};
        break;
      }
    }
  }
  return n;
}

/* Copies s into buf with every secret of the URI uri replaced by "***". */
static void redact(const char *s, const char *uri, char *buf, size_t size) {
  span_t secrets[8];
  size_t n = uri_secrets(uri, secrets, 8), off = 0;
  while (*s && off + 4 < size) {
    size_t skip = 0;
    for (size_t i = 0; i < n && !skip; i++) {
      if (secrets[i].len && strncmp(s, secrets[i].at, secrets[i].len) == 0) {
        skip = secrets[i].len;
      }
    }
    if (skip) {
      memcpy(buf + off, "***", 3);
      off += 3;
      s += skip;
    } else {
      buf[off++] = *s++;
    }
  }
  buf[off] = '\0';
}

int mtq_cli_open(mtq_cli_t *cli) {
  if (cli->client) {
    return MTQ_CLI_OK;
  }
  bson_error_t error;
  cli->client = mtq_client_new(cli->uri, &error);
  if (!cli->client) {
    /* The URI and the driver's message about it may hold a password: show
     * both with it (and any other secret option) blanked out. */
    static const char prefix[] = "bad database URI: ";
    const char *why = error.message;
    if (strncmp(why, prefix, sizeof prefix - 1) == 0) {
      why += sizeof prefix - 1;
    }
    char shown_uri[512], shown_why[sizeof error.message + 64];
    redact(cli->uri, cli->uri, shown_uri, sizeof shown_uri);
    redact(why, cli->uri, shown_why, sizeof shown_why);
    fprintf(stderr,
            "mtq: bad database URI '%s' (from %s): %s\n"
            "     (expected mongodb://HOST[:PORT]/DATABASE, such as " MTQ_CLI_DEFAULT_URI ")\n",
            shown_uri, cli->uri_from ? cli->uri_from : "the default", shown_why);
    return MTQ_CLI_USAGE;
  }
  cli->store = mtq_client_store(cli->client);
  return MTQ_CLI_OK;
}

int mtq_cli_open_producer(mtq_cli_t *cli) {
  int rc = mtq_cli_open(cli);
  if (rc != MTQ_CLI_OK) {
    return rc;
  }
  mtq_keyring_t *ring = NULL;
  bson_error_t error;
  if (!mtq_keyring_from_env(getenv("MTQ_SIGN_KEYS"), &ring, &error)) {
    return mtq_cli_fail(cli, &error, "MTQ_SIGN_KEYS");
  }
  mtq_client_set_keyring(cli->client, ring);
  return MTQ_CLI_OK;
}

void mtq_cli_close(mtq_cli_t *cli) {
  mtq_client_destroy(cli->client);
  cli->client = NULL;
  cli->store = NULL;
}

int mtq_cli_fail(const mtq_cli_t *cli, const bson_error_t *error, const char *fmt, ...) {
  if (mtq_error_is_transient(error)) {
    char where[256];
    mtq_uri_describe(cli->uri, where, sizeof where);
    fprintf(stderr, "mtq: cannot reach the database at %s: %s\n", where, error->message);
    return MTQ_CLI_FAILED;
  }
  fputs("mtq: ", stderr);
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(": ", stderr);
  }
  fprintf(stderr, "%s\n", error->message);
  return MTQ_CLI_FAILED;
}

int mtq_cli_usage(const mtq_cli_t *cli, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("mtq: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (cli->command) {
    fprintf(stderr, "\nTry 'mtq %s --help'.\n", cli->command);
  } else {
    fputs("\nTry 'mtq --help'.\n", stderr);
  }
  return MTQ_CLI_USAGE;
}

void mtq_cli_global_option(mtq_cli_t *cli, int c, const char *arg) {
  if (c == MTQ_CLI_OPT_JSON) {
    cli->json = true;
    return;
  }
  cli->uri = arg;
  cli->uri_from = "--uri";
  /* "user:password@" on a command line is readable by every user of the
   * host (ps, /proc): say so once, and how to avoid it. */
  if (strchr(arg, '@') && strchr(arg, ':') != strrchr(arg, ':')) {
    fputs("mtq: warning: a password in --uri is visible to other users (ps); "
          "set MTQ_URI instead\n",
          stderr);
  }
}

/* The most options a subcommand has (enqueue: 22), with room to grow. */
#define MAX_LONGOPTS 48

/* longopts followed by the global options.  One static array serves every
 * call: getopt_long reads the table it is given anew each time. */
static const struct option *with_globals(const struct option *longopts) {
  static const struct option globals[] = {MTQ_CLI_GLOBAL_OPTIONS, {NULL, 0, NULL, 0}};
  static struct option merged[MAX_LONGOPTS + sizeof globals / sizeof globals[0]];
  size_t n = 0;
  for (; longopts[n].name; n++) {
    if (n == MAX_LONGOPTS) {
      /* A programming error, found by the first run of that subcommand. */
      fputs("mtq: internal error: too many options (raise MAX_LONGOPTS)\n", stderr);
      abort();
    }
    merged[n] = longopts[n];
  }
  memcpy(&merged[n], globals, sizeof globals);
  return merged;
}

/* The message for what getopt_long refused in arg: an unknown option, or a
 * value given to one that takes none ("--json=yes"). */
static void unknown_option(const mtq_cli_t *cli, const char *arg, const struct option *all) {
  const char *eq = strchr(arg, '=');
  if (strncmp(arg, "--", 2) == 0 && eq) {
    size_t len = (size_t)(eq - arg) - 2;
    for (const struct option *o = all; o->name; o++) {
      if (strlen(o->name) == len && strncmp(o->name, arg + 2, len) == 0) {
        mtq_cli_usage(cli, "option '--%s' takes no value", o->name);
        return;
      }
    }
  }
  if (strncmp(arg, "--", 2) == 0 || optopt == 0 || optopt > 0x7f) {
    mtq_cli_usage(cli, "unknown option '%s'", arg);
  } else {
    mtq_cli_usage(cli, "unknown option '-%c'", optopt);
  }
}

int mtq_cli_getopt(mtq_cli_t *cli, int argc, char **argv, const char *shortopts,
                   const struct option *longopts) {
  const struct option *all = with_globals(longopts);
  int c;
  while ((c = getopt_long(argc, argv, shortopts, all, NULL)) == MTQ_CLI_OPT_URI ||
         c == MTQ_CLI_OPT_JSON) {
    mtq_cli_global_option(cli, c, optarg);
  }
  if (c == ':') {
    mtq_cli_usage(cli, "option '%s' needs an argument", argv[optind - 1]);
    return '?';
  }
  if (c == '?') {
    unknown_option(cli, argv[optind - 1], all);
  }
  return c;
}

int mtq_cli_positional(const mtq_cli_t *cli, int argc, char **argv, int n, const char *names) {
  int have = argc - optind;
  if (have < n) {
    return mtq_cli_usage(cli, "missing %s", names);
  }
  if (have > n) {
    return mtq_cli_usage(cli, "unexpected argument '%s'", argv[optind + n]);
  }
  return MTQ_CLI_OK;
}

int mtq_cli_plain_args(mtq_cli_t *cli, int argc, char **argv, const char *help, int n,
                       const char *names) {
  static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  int c;
  while ((c = mtq_cli_getopt(cli, argc, argv, ":h", longopts)) != -1) {
    if (c != 'h') {
      return MTQ_CLI_USAGE;
    }
    fputs(help, stdout);
    return MTQ_CLI_DONE;
  }
  return mtq_cli_positional(cli, argc, argv, n, names);
}

bool mtq_cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max) {
    return false;
  }
  *out = v;
  return true;
}

bool mtq_cli_parse_seconds(const char *s, int64_t *ms) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  /* Ten years is more than any wait or delay means; it keeps ms in range. */
  if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 10.0 * 365 * 24 * 3600) {
    return false;
  }
  *ms = (int64_t)(v * 1000.0 + 0.5);
  return true;
}

void mtq_cli_state_names(char *buf, size_t size) {
  size_t off = 0;
  buf[0] = '\0';
  for (int s = 0; s < MTQ_STATE_COUNT && off < size; s++) {
    off += (size_t)snprintf(buf + off, size - off, "%s%s", s ? ", " : "",
                            mtq_state_name((mtq_state_t)s));
  }
}

int mtq_cli_parse_id(const mtq_cli_t *cli, const char *s, bson_oid_t *id) {
  if (!bson_oid_is_valid(s, strlen(s)) || strlen(s) != 24) {
    return mtq_cli_usage(cli, "'%s' is not a task id (24 hex digits)", s);
  }
  bson_oid_init_from_string(id, s);
  return MTQ_CLI_OK;
}
