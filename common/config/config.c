/* config.c - the INI configuration file (format in mtq_config.h), via inih. */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtq_config.h"
#include "mtq_error.h"
#include "mtq_task.h"
#include "sign_private.h"

/* inih's Debian build reads lines into a 200-byte buffer (newline and NUL
 * included) and splits longer ones silently; we refuse them instead. */
#define CONFIG_MAX_LINE 198
/* inih keeps 49 characters of a section name (MAX_SECTION in ini.c). */
#define CONFIG_MAX_SECTION 49
#define CONFIG_MAX_FILE (1024 * 1024)

typedef struct {
  mtq_config_t *cfg;
  const char *source;
  bson_error_t *error;
  bool failed;
  int require_signature; /* -1 until the file sets it: its default depends on keys */
} parse_state_t;

void mtq_config_init(mtq_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  cfg->concurrency = cores > 0 ? (int)cores : 1;
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  cfg->worker_id = bson_strdup(host);
  cfg->poll_interval_ms = 1000;
  cfg->heartbeat_interval_ms = 3000;
  cfg->grace_period_ms = 30000;
  cfg->lease_ms = 30000;
  cfg->lost_after_ms = 15000;
  cfg->sweep_interval_ms = 1000;
  cfg->reconcile_interval_ms = 5000;
  cfg->dispatch_interval_ms = 500;
  cfg->perf_refresh_ms = 10000;
  cfg->retain_done_s = 7 * 24 * 3600;
  cfg->retain_failed_s = 30 * 24 * 3600;
  cfg->retention_interval_ms = 60000;
  cfg->retention_batch = 500;
}

static void free_list(char **list, size_t n) {
  for (size_t i = 0; i < n; i++) {
    bson_free(list[i]);
  }
  bson_free(list);
}

void mtq_config_cleanup(mtq_config_t *cfg) {
  bson_free(cfg->uri);
  bson_free(cfg->worker_id);
  free_list(cfg->channels, cfg->n_channels);
  free_list(cfg->tags, cfg->n_tags);
  free_list(cfg->coord_channels, cfg->n_coord_channels);
  free_list(cfg->key_ids, cfg->n_keys);
  free_list(cfg->key_files, cfg->n_keys);
  bson_free(cfg->sign_with);
  for (size_t i = 0; i < cfg->n_functions; i++) {
    bson_free(cfg->functions[i].name);
    bson_free(cfg->functions[i].version);
    mtq_argv_free(cfg->functions[i].argv);
  }
  bson_free(cfg->functions);
  memset(cfg, 0, sizeof *cfg);
}

const mtq_function_t *mtq_config_function(const mtq_config_t *cfg, const char *name) {
  for (size_t i = 0; i < cfg->n_functions; i++) {
    if (strcmp(cfg->functions[i].name, name) == 0) {
      return &cfg->functions[i];
    }
  }
  return NULL;
}

void mtq_argv_free(char **argv) {
  for (size_t i = 0; argv && argv[i]; i++) {
    bson_free(argv[i]);
  }
  bson_free(argv);
}

char **mtq_argv_split(const char *line, bson_error_t *error) {
  size_t cap = 8, n = 0;
  char **argv = bson_malloc0(cap * sizeof *argv);
  const char *p = line;
  for (;;) {
    while (*p == ' ' || *p == '\t') {
      p++;
    }
    if (!*p) {
      break;
    }
    bson_string_t *word = bson_string_new(NULL);
    char quote = 0;
    for (; *p && (quote || (*p != ' ' && *p != '\t')); p++) {
      if (quote && *p == quote) {
        quote = 0;
      } else if (!quote && (*p == '\'' || *p == '"')) {
        quote = *p;
      } else if (*p == '\\' && quote != '\'' && p[1]) {
        bson_string_append_c(word, *++p);
      } else {
        bson_string_append_c(word, *p);
      }
    }
    if (quote) {
      bson_string_free(word, true);
      mtq_argv_free(argv);
      mtq_error_set(error, MTQ_ERR_INVALID, "unterminated %c quote in command", quote);
      return NULL;
    }
    if (n + 2 > cap) {
      cap *= 2;
      argv = bson_realloc(argv, cap * sizeof *argv);
    }
    argv[n++] = bson_string_free(word, false);
    argv[n] = NULL;
  }
  if (n == 0) {
    mtq_argv_free(argv);
    mtq_error_set(error, MTQ_ERR_INVALID, "empty command");
    return NULL;
  }
  return argv;
}

/* Splits "a, b ,c" into validated names. */
static bool parse_names(const char *value, char ***out, size_t *n_out, bson_error_t *error) {
  char *copy = bson_strdup(value);
  char *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    while (*tok == ' ' || *tok == '\t') {
      tok++;
    }
    size_t len = strlen(tok);
    while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t')) {
      tok[--len] = '\0';
    }
    if (!mtq_name_valid(tok)) {
      mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not a valid name (1-64 of A-Z a-z 0-9 _ . -)",
                    tok);
      bson_free(copy);
      return false;
    }
    for (size_t i = 0; i < *n_out; i++) {
      if (strcmp((*out)[i], tok) == 0) {
        mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is listed twice", tok);
        bson_free(copy);
        return false;
      }
    }
    *out = bson_realloc(*out, (*n_out + 1) * sizeof **out);
    (*out)[(*n_out)++] = bson_strdup(tok);
  }
  bson_free(copy);
  if (*n_out == 0) {
    mtq_error_set(error, MTQ_ERR_INVALID, "empty list");
    return false;
  }
  return true;
}

static bool parse_int(const char *value, int64_t min, int64_t max, int64_t *out,
                      bson_error_t *error) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(value, &end, 10);
  if (errno || end == value || *end != '\0' || v < min || v > max) {
    mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not a whole number from %lld to %lld", value,
                  (long long)min, (long long)max);
    return false;
  }
  *out = v;
  return true;
}

static bool set_string(char **field, const char *value, bson_error_t *error) {
  if (!*value) {
    mtq_error_set(error, MTQ_ERR_INVALID, "empty value");
    return false;
  }
  bson_free(*field);
  *field = bson_strdup(value);
  return true;
}

static bool parse_worker_key(mtq_config_t *cfg, const char *name, const char *value,
                             bson_error_t *error) {
  int64_t v;
  if (strcmp(name, "id") == 0) {
    if (!mtq_name_valid(value)) {
      mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not a valid worker id", value);
      return false;
    }
    return set_string(&cfg->worker_id, value, error);
  }
  if (strcmp(name, "channels") == 0) {
    free_list(cfg->channels, cfg->n_channels);
    cfg->channels = NULL;
    cfg->n_channels = 0;
    return parse_names(value, &cfg->channels, &cfg->n_channels, error);
  }
  if (strcmp(name, "tags") == 0) {
    free_list(cfg->tags, cfg->n_tags);
    cfg->tags = NULL;
    cfg->n_tags = 0;
    return parse_names(value, &cfg->tags, &cfg->n_tags, error);
  }
  if (strcmp(name, "concurrency") == 0) {
    if (!parse_int(value, 1, 1024, &v, error)) {
      return false;
    }
    cfg->concurrency = (int)v;
    return true;
  }
  int64_t *ms = strcmp(name, "poll_interval_ms") == 0        ? &cfg->poll_interval_ms
                : strcmp(name, "heartbeat_interval_ms") == 0 ? &cfg->heartbeat_interval_ms
                : strcmp(name, "grace_period_ms") == 0       ? &cfg->grace_period_ms
                : strcmp(name, "lease_ms") == 0              ? &cfg->lease_ms
                                                             : NULL;
  if (ms) {
    /* A lease shorter than a second would be renewed faster than a busy
     * database answers. */
    return parse_int(value, ms == &cfg->lease_ms ? 1000 : 10, 24 * 3600 * 1000, ms, error);
  }
  mtq_error_set(error, MTQ_ERR_INVALID, "unknown key '%s' in [worker]", name);
  return false;
}

static bool parse_coordinator_key(mtq_config_t *cfg, const char *name, const char *value,
                                  bson_error_t *error) {
  if (strcmp(name, "channels") == 0) {
    free_list(cfg->coord_channels, cfg->n_coord_channels);
    cfg->coord_channels = NULL;
    cfg->n_coord_channels = 0;
    return parse_names(value, &cfg->coord_channels, &cfg->n_coord_channels, error);
  }
  if (strcmp(name, "max_backlog") == 0) {
    return parse_int(value, 0, INT64_MAX / 2, &cfg->max_backlog, error);
  }
  int64_t *ms = strcmp(name, "lost_after_ms") == 0           ? &cfg->lost_after_ms
                : strcmp(name, "sweep_interval_ms") == 0     ? &cfg->sweep_interval_ms
                : strcmp(name, "reconcile_interval_ms") == 0 ? &cfg->reconcile_interval_ms
                : strcmp(name, "retention_interval_ms") == 0 ? &cfg->retention_interval_ms
                : strcmp(name, "dispatch_interval_ms") == 0  ? &cfg->dispatch_interval_ms
                : strcmp(name, "perf_refresh_ms") == 0       ? &cfg->perf_refresh_ms
                                                             : NULL;
  if (ms) {
    return parse_int(value, 10, 24 * 3600 * 1000, ms, error);
  }
  /* 0 keeps finished tasks forever; ten years is far beyond any sane
   * retention and keeps the cutoff arithmetic clear of overflow. */
  int64_t *secs = strcmp(name, "retain_done_s") == 0     ? &cfg->retain_done_s
                  : strcmp(name, "retain_failed_s") == 0 ? &cfg->retain_failed_s
                                                         : NULL;
  if (secs) {
    return parse_int(value, 0, MTQ_RETAIN_MAX_S, secs, error);
  }
  if (strcmp(name, "retention_batch") == 0) {
    return parse_int(value, 1, MTQ_RETENTION_BATCH_MAX, &cfg->retention_batch, error);
  }
  mtq_error_set(error, MTQ_ERR_INVALID, "unknown key '%s' in [coordinator]", name);
  return false;
}

static bool parse_security_key(parse_state_t *st, const char *name, const char *value,
                               bson_error_t *error) {
  mtq_config_t *cfg = st->cfg;
  if (strcmp(name, "keys") == 0) {
    free_list(cfg->key_ids, cfg->n_keys);
    free_list(cfg->key_files, cfg->n_keys);
    cfg->key_ids = cfg->key_files = NULL;
    cfg->n_keys = 0;
    return mtq__key_spec_parse(value, &cfg->key_ids, &cfg->key_files, &cfg->n_keys, error);
  }
  if (strcmp(name, "sign_with") == 0) {
    if (!mtq_key_id_valid(value)) {
      mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not a valid key id", value);
      return false;
    }
    return set_string(&cfg->sign_with, value, error);
  }
  if (strcmp(name, "require_signature") == 0) {
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
      if (strcmp(value, yes[i]) == 0 || strcmp(value, no[i]) == 0) {
        st->require_signature = strcmp(value, yes[i]) == 0;
        return true;
      }
    }
    mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not true or false", value);
    return false;
  }
  mtq_error_set(error, MTQ_ERR_INVALID, "unknown key '%s' in [security]", name);
  return false;
}

/* The function named by a "[function NAME]" section, created on first use. */
static mtq_function_t *function_for(mtq_config_t *cfg, const char *fname, bson_error_t *error) {
  if (!mtq_name_valid(fname)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not a valid function name", fname);
    return NULL;
  }
  mtq_function_t *f = (mtq_function_t *)mtq_config_function(cfg, fname);
  if (!f) {
    cfg->functions = bson_realloc(cfg->functions, (cfg->n_functions + 1) * sizeof *f);
    f = &cfg->functions[cfg->n_functions++];
    memset(f, 0, sizeof *f);
    f->name = bson_strdup(fname);
    f->version = bson_strdup("1");
  }
  return f;
}

static bool parse_function_key(mtq_config_t *cfg, const char *fname, const char *name,
                               const char *value, bson_error_t *error) {
  mtq_function_t *f = function_for(cfg, fname, error);
  if (!f) {
    return false;
  }
  if (strcmp(name, "version") == 0) {
    if (!mtq_name_valid(value)) {
      mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not a valid version", value);
      return false;
    }
    return set_string(&f->version, value, error);
  }
  if (strcmp(name, "command") == 0) {
    char **argv = mtq_argv_split(value, error);
    if (!argv) {
      return false;
    }
    mtq_argv_free(f->argv);
    f->argv = argv;
    return true;
  }
  mtq_error_set(error, MTQ_ERR_INVALID, "unknown key '%s' in [function %s]", name, fname);
  return false;
}

static int on_entry(void *user, const char *section, const char *name, const char *value) {
  parse_state_t *st = user;
  if (st->failed) {
    return 0;
  }
  bson_error_t err = {0};
  bool ok;
  if (strcmp(section, "database") == 0) {
    ok = strcmp(name, "uri") == 0 ? set_string(&st->cfg->uri, value, &err) : false;
    if (!ok && !err.code) {
      mtq_error_set(&err, MTQ_ERR_INVALID, "unknown key '%s' in [database]", name);
    }
  } else if (strcmp(section, "worker") == 0) {
    ok = parse_worker_key(st->cfg, name, value, &err);
  } else if (strcmp(section, "coordinator") == 0) {
    ok = parse_coordinator_key(st->cfg, name, value, &err);
  } else if (strcmp(section, "security") == 0) {
    ok = parse_security_key(st, name, value, &err);
  } else if (strncmp(section, "function ", 9) == 0) {
    ok = parse_function_key(st->cfg, section + 9, name, value, &err);
  } else {
    ok = false;
    mtq_error_set(&err, MTQ_ERR_INVALID, "unknown section [%s]", section);
  }
  if (!ok) {
    /* Keep the first error only: inih goes on after a failed entry. */
    st->failed = true;
    mtq_error_set(st->error, MTQ_ERR_INVALID, "%s: [%s] %s: %s", st->source, section, name,
                  err.message);
    return 0;
  }
  return 1;
}

static bool known_section(const char *name, size_t len) {
  static const char *const fixed[] = {"database", "worker", "coordinator", "security"};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
    if (strlen(fixed[i]) == len && strncmp(name, fixed[i], len) == 0) {
      return true;
    }
  }
  return len > 9 && strncmp(name, "function ", 9) == 0;
}

/* What inih passes over in silence: over-long lines, continuation lines
 * (which would replace a value with its last part), broken or unknown
 * section headers, and sections without keys.  Checked here, with the line
 * number, before inih sees the text. */
static bool check_lines(const char *text, const char *source, bson_error_t *error) {
  int line = 0;
  for (const char *p = text; *p;) {
    line++;
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    const char *next = end ? end + 1 : p + len;
    if (len > 0 && p[len - 1] == '\r') {
      len--;
    }
    if (len > CONFIG_MAX_LINE) {
      mtq_error_set(error, MTQ_ERR_INVALID, "%s:%d: line longer than %d characters", source, line,
                    CONFIG_MAX_LINE);
      return false;
    }
    /* inih skips every isspace() character at the start of a line, so each
     * of them indents it: a line led by \v was a continuation, or a
     * [function] header that check_functions never saw. */
    size_t i = 0;
    while (i < len &&
           (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\v' || p[i] == '\f')) {
      i++;
    }
    bool blank = i == len || p[i] == ';' || p[i] == '#';
    if (!blank && i > 0) {
      mtq_error_set(error, MTQ_ERR_INVALID,
                    "%s:%d: indented line (continuation lines are not supported)", source, line);
      return false;
    }
    if (!blank && p[i] == '[') {
      const char *close = memchr(p + i, ']', len - i);
      if (!close || !known_section(p + i + 1, (size_t)(close - p - i - 1))) {
        mtq_error_set(error, MTQ_ERR_INVALID, "%s:%d: %s", source, line,
                      close ? "unknown section (expected [database], [worker], [coordinator], "
                              "[security] or [function NAME])"
                            : "section header without ']'");
        return false;
      }
      /* A longer name reached on_entry cut short, and the function so
       * configured was then reported as having no command. */
      if ((size_t)(close - p - i - 1) > CONFIG_MAX_SECTION) {
        mtq_error_set(error, MTQ_ERR_INVALID,
                      "%s:%d: section name longer than %d characters (function names: 40)",
                      source, line, CONFIG_MAX_SECTION);
        return false;
      }
    }
    p = next;
  }
  return true;
}

/* Function sections must have a command; inih never reports a section that
 * has no keys at all, so the headers are counted here. */
static bool check_functions(const mtq_config_t *cfg, const char *text, const char *source,
                            bson_error_t *error) {
  for (const char *p = strstr(text, "[function "); p; p = strstr(p + 1, "[function ")) {
    if (p != text && p[-1] != '\n') {
      continue;
    }
    const char *close = strchr(p, ']');
    char name[MTQ_NAME_MAX + 2] = "";
    size_t n = close ? (size_t)(close - p - 10) : 0;
    if (n > 0 && n <= MTQ_NAME_MAX) {
      memcpy(name, p + 10, n);
      name[n] = '\0';
    }
    const mtq_function_t *f = mtq_config_function(cfg, name);
    if (!f || !f->argv) {
      mtq_error_set(error, MTQ_ERR_INVALID, "%s: [function %s] has no command", source, name);
      return false;
    }
  }
  return true;
}

/* What [security] decides as a whole, once every line is read: the lines
 * may come in any order. */
static bool check_security(mtq_config_t *cfg, int require_signature, const char *source,
                           bson_error_t *error) {
  bool listed = !cfg->sign_with;
  for (size_t i = 0; i < cfg->n_keys && !listed; i++) {
    listed = strcmp(cfg->key_ids[i], cfg->sign_with) == 0;
  }
  if (!listed) {
    mtq_error_set(error, MTQ_ERR_INVALID, "%s: [security] sign_with: key '%s' is not in keys",
                  source, cfg->sign_with);
    return false;
  }
  if (require_signature == 1 && cfg->n_keys == 0) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "%s: [security] require_signature = true, but no keys to verify with", source);
    return false;
  }
  cfg->require_signature = require_signature < 0 ? cfg->n_keys > 0 : require_signature;
  return true;
}

bool mtq_config_keyring(const mtq_config_t *cfg, mtq_keyring_t **out, bson_error_t *error) {
  *out = NULL;
  return cfg->n_keys == 0 || mtq__keyring_load(cfg->key_ids, cfg->key_files, cfg->n_keys,
                                               cfg->sign_with, out, error);
}

bool mtq_config_parse(mtq_config_t *cfg, const char *text, size_t len, const char *source,
                      bson_error_t *error) {
  if (len > CONFIG_MAX_FILE) {
    mtq_error_set(error, MTQ_ERR_TOO_LARGE, "%s: larger than %d bytes", source, CONFIG_MAX_FILE);
    return false;
  }
  char *copy = bson_malloc(len + 1);
  memcpy(copy, text, len);
  copy[len] = '\0';
  if (strlen(copy) != len) {
    bson_free(copy);
    mtq_error_set(error, MTQ_ERR_INVALID, "%s: contains a NUL byte", source);
    return false;
  }
  if (!check_lines(copy, source, error)) {
    bson_free(copy);
    return false;
  }
  parse_state_t st = {cfg, source, error, false, -1};
  int rc = ini_parse_string(copy, on_entry, &st);
  bool ok = !st.failed;
  if (ok && rc != 0) {
    mtq_error_set(error, MTQ_ERR_INVALID, "%s:%d: syntax error (expected [section] or key = value)",
                  source, rc);
    ok = false;
  }
  ok = ok && check_functions(cfg, copy, source, error);
  ok = ok && check_security(cfg, st.require_signature, source, error);
  bson_free(copy);
  return ok;
}

bool mtq_config_load(mtq_config_t *cfg, const char *path, bson_error_t *error) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    mtq_error_set(error, MTQ_ERR_NOT_FOUND, "cannot open %s: %s", path, strerror(errno));
    return false;
  }
  char *buf = bson_malloc(CONFIG_MAX_FILE + 1);
  size_t len = fread(buf, 1, CONFIG_MAX_FILE + 1, f);
  bool read_error = ferror(f);
  fclose(f);
  bool ok = false;
  if (read_error) {
    mtq_error_set(error, MTQ_ERR_INVALID, "cannot read %s", path);
  } else {
    ok = mtq_config_parse(cfg, buf, len, path, error);
  }
  bson_free(buf);
  return ok;
}
