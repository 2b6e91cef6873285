/* config.c - the INI reader and the shared sections (format in mtq_config.h),
 * via inih. */
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
  const mtq_config_section_t *sections; /* the program's own, borrowed */
  size_t n_sections;
  const char *source;
  bson_error_t *error;
  bool failed;
  /* The first refused entry, for a message that names its line once
   * inih has said which line it was. */
  char failed_section[64];
  char failed_key[64];
  char failed_why[sizeof(((bson_error_t *)0)->message)];
  int require_signature; /* -1 until the file sets it: its default depends on keys */
} parse_state_t;

void mtq_config_init(mtq_config_t *cfg) { memset(cfg, 0, sizeof *cfg); }

void mtq_config_names_free(char **list, size_t n) {
  for (size_t i = 0; i < n; i++) {
    bson_free(list[i]);
  }
  bson_free(list);
}

void mtq_config_cleanup(mtq_config_t *cfg) {
  bson_free(cfg->uri);
  mtq_config_names_free(cfg->key_ids, cfg->n_keys);
  mtq_config_names_free(cfg->key_files, cfg->n_keys);
  bson_free(cfg->sign_with);
  memset(cfg, 0, sizeof *cfg);
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

/* --- values ------------------------------------------------------------------ */

bool mtq_config_names(const char *value, char ***list, size_t *n_list, bson_error_t *error) {
  char **out = NULL;
  size_t n = 0;
  char *copy = bson_strdup(value);
  char *save = NULL;
  bool ok = true;
  for (char *tok = strtok_r(copy, ",", &save); ok && tok; tok = strtok_r(NULL, ",", &save)) {
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
      ok = false;
    }
    for (size_t i = 0; ok && i < n; i++) {
      if (strcmp(out[i], tok) == 0) {
        mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is listed twice", tok);
        ok = false;
      }
    }
    if (ok) {
      out = bson_realloc(out, (n + 1) * sizeof *out);
      out[n++] = bson_strdup(tok);
    }
  }
  bson_free(copy);
  if (ok && n == 0) {
    mtq_error_set(error, MTQ_ERR_INVALID, "empty list");
    ok = false;
  }
  if (!ok) {
    mtq_config_names_free(out, n);
    return false;
  }
  mtq_config_names_free(*list, *n_list);
  *list = out;
  *n_list = n;
  return true;
}

bool mtq_config_int(const char *value, int64_t min, int64_t max, int64_t *out,
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

bool mtq_config_string(char **field, const char *value, bson_error_t *error) {
  if (!*value) {
    mtq_error_set(error, MTQ_ERR_INVALID, "empty value");
    return false;
  }
  bson_free(*field);
  *field = bson_strdup(value);
  return true;
}

bool mtq_config_name(char **field, const char *value, const char *what, bson_error_t *error) {
  if (!mtq_name_valid(value)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not a valid %s", value, what);
    return false;
  }
  return mtq_config_string(field, value, error);
}

bool mtq_config_bool(const char *value, bool *out, bson_error_t *error) {
  static const char *const yes[] = {"true", "yes", "on", "1"};
  static const char *const no[] = {"false", "no", "off", "0"};
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
    if (strcmp(value, yes[i]) == 0 || strcmp(value, no[i]) == 0) {
      *out = strcmp(value, yes[i]) == 0;
      return true;
    }
  }
  mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not true or false", value);
  return false;
}

/* --- the shared sections ------------------------------------------------------- */

static bool database_key(void *data, const char *sub, const char *name, const char *value,
                         bson_error_t *error) {
  parse_state_t *st = data;
  if (strcmp(name, "uri") == 0) {
    return mtq_config_string(&st->cfg->uri, value, error);
  }
  mtq_error_set(error, MTQ_ERR_INVALID, "unknown key '%s' in [database]", name);
  return false;
}

static bool security_key(void *data, const char *sub, const char *name, const char *value,
                         bson_error_t *error) {
  parse_state_t *st = data;
  mtq_config_t *cfg = st->cfg;
  if (strcmp(name, "keys") == 0) {
    mtq_config_names_free(cfg->key_ids, cfg->n_keys);
    mtq_config_names_free(cfg->key_files, cfg->n_keys);
    cfg->key_ids = cfg->key_files = NULL;
    cfg->n_keys = 0;
    return mtq__key_spec_parse(value, &cfg->key_ids, &cfg->key_files, &cfg->n_keys, error);
  }
  if (strcmp(name, "sign_with") == 0) {
    if (!mtq_key_id_valid(value)) {
      mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not a valid key id", value);
      return false;
    }
    return mtq_config_string(&cfg->sign_with, value, error);
  }
  if (strcmp(name, "require_signature") == 0) {
    bool v;
    if (!mtq_config_bool(value, &v, error)) {
      return false;
    }
    st->require_signature = v;
    return true;
  }
  mtq_error_set(error, MTQ_ERR_INVALID, "unknown key '%s' in [security]", name);
  return false;
}

/* The section a header names ("worker", "function sq"): its entry and, for
 * a named section, where its NAME starts; NULL when no program reads it. */
static const mtq_config_section_t *find_section(const parse_state_t *st,
                                                const mtq_config_section_t *builtin,
                                                const char *name, size_t len, size_t *sub) {
  for (size_t t = 0; t < 2; t++) {
    const mtq_config_section_t *table = t ? st->sections : builtin;
    size_t n = t ? st->n_sections : 2;
    for (size_t i = 0; i < n; i++) {
      size_t nlen = strlen(table[i].name);
      bool prefix = nlen > 0 && table[i].name[nlen - 1] == ' ';
      if (prefix ? len > nlen && strncmp(name, table[i].name, nlen) == 0
                 : len == nlen && strncmp(name, table[i].name, len) == 0) {
        *sub = prefix ? nlen : len;
        return &table[i];
      }
    }
  }
  return NULL;
}

static int on_entry(void *user, const char *section, const char *name, const char *value) {
  parse_state_t *st = user;
  if (st->failed) {
    return 0;
  }
  const mtq_config_section_t builtin[] = {{"database", database_key, NULL, st},
                                          {"security", security_key, NULL, st}};
  size_t sub = 0;
  const mtq_config_section_t *sec = find_section(st, builtin, section, strlen(section), &sub);
  bson_error_t err = {0};
  bool ok;
  if (!sec) {
    ok = false;
    mtq_error_set(&err, MTQ_ERR_INVALID, "unknown section [%s]", section);
  } else {
    ok = !sec->key || sec->key(sec->data, section + sub, name, value, &err);
  }
  if (!ok) {
    /* Keep the first error only: inih goes on after a failed entry. */
    st->failed = true;
    bson_strncpy(st->failed_section, section, sizeof st->failed_section);
    bson_strncpy(st->failed_key, name, sizeof st->failed_key);
    bson_strncpy(st->failed_why, err.message, sizeof st->failed_why);
    mtq_error_set(st->error, MTQ_ERR_INVALID, "%s: [%s] %s: %s", st->source, section, name,
                  err.message);
    return 0;
  }
  return 1;
}

/* "[database], [security], [worker] or [function NAME]", for a message. */
static void expected_sections(const parse_state_t *st, char *buf, size_t size) {
  size_t off = (size_t)snprintf(buf, size, "[database], [security]");
  for (size_t i = 0; i < st->n_sections && off < size; i++) {
    const char *name = st->sections[i].name;
    size_t len = strlen(name);
    bool prefix = len > 0 && name[len - 1] == ' ';
    off += (size_t)snprintf(buf + off, size - off, "%s[%.*s%s]",
                            i + 1 == st->n_sections ? " or " : ", ", (int)(prefix ? len - 1 : len),
                            name, prefix ? " NAME" : "");
  }
}

/* A section header at p (after '['), len bytes long: known, not too long,
 * and its program told of it. */
static bool check_header(parse_state_t *st, const char *p, size_t len, int line,
                         bson_error_t *error) {
  const mtq_config_section_t builtin[] = {{"database", database_key, NULL, st},
                                          {"security", security_key, NULL, st}};
  size_t sub = 0;
  const mtq_config_section_t *sec = find_section(st, builtin, p, len, &sub);
  if (!sec) {
    char expected[512];
    expected_sections(st, expected, sizeof expected);
    mtq_error_set(error, MTQ_ERR_INVALID, "%s:%d: unknown section (expected %s)", st->source,
                  line, expected);
    return false;
  }
  /* A longer name reached on_entry cut short, and the function so
   * configured was then reported as having no command. */
  if (len > CONFIG_MAX_SECTION) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "%s:%d: section name longer than %d characters (function names: 40)",
                  st->source, line, CONFIG_MAX_SECTION);
    return false;
  }
  if (sec->key && sec->header) {
    char name[CONFIG_MAX_SECTION + 1];
    snprintf(name, sizeof name, "%.*s", (int)(len - sub), p + sub);
    bson_error_t err = {0};
    if (!sec->header(sec->data, name, &err)) {
      mtq_error_set(error, MTQ_ERR_INVALID, "%s:%d: [%.*s]: %s", st->source, line, (int)len, p,
                    err.message);
      return false;
    }
  }
  return true;
}

/* What inih passes over in silence: over-long lines, continuation lines
 * (which would replace a value with its last part), broken or unknown
 * section headers, and sections without keys (their program is told of
 * every header here).  Checked here, with the line number, before inih
 * sees the text. */
static bool check_lines(parse_state_t *st, const char *text, bson_error_t *error) {
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
      mtq_error_set(error, MTQ_ERR_INVALID, "%s:%d: line longer than %d characters", st->source,
                    line, CONFIG_MAX_LINE);
      return false;
    }
    /* inih skips every isspace() character at the start of a line, so each
     * of them indents it: a line led by \v was a continuation, or a
     * [function] header that its program never saw. */
    size_t i = 0;
    while (i < len &&
           (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\v' || p[i] == '\f')) {
      i++;
    }
    bool blank = i == len || p[i] == ';' || p[i] == '#';
    if (!blank && i > 0) {
      mtq_error_set(error, MTQ_ERR_INVALID,
                    "%s:%d: indented line (continuation lines are not supported)", st->source,
                    line);
      return false;
    }
    if (!blank && p[i] == '[') {
      const char *close = memchr(p + i, ']', len - i);
      if (!close) {
        mtq_error_set(error, MTQ_ERR_INVALID, "%s:%d: section header without ']'", st->source,
                      line);
        return false;
      }
      if (!check_header(st, p + i + 1, (size_t)(close - p - i - 1), line, error)) {
        return false;
      }
    }
    p = next;
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

bool mtq_config_parse(mtq_config_t *cfg, const mtq_config_section_t *sections, size_t n,
                      const char *text, size_t len, const char *source, bson_error_t *error) {
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
  parse_state_t st = {.cfg = cfg,
                      .sections = sections,
                      .n_sections = n,
                      .source = source,
                      .error = error,
                      .require_signature = -1};
  if (!check_lines(&st, copy, error)) {
    bson_free(copy);
    return false;
  }
  int rc = ini_parse_string(copy, on_entry, &st);
  bool ok = !st.failed;
  if (st.failed && rc > 0) {
    /* inih returns the line of the first entry a handler refused. */
    mtq_error_set(error, MTQ_ERR_INVALID, "%s:%d: [%s] %s: %s", source, rc, st.failed_section,
                  st.failed_key, st.failed_why);
  }
  if (ok && rc != 0) {
    mtq_error_set(error, MTQ_ERR_INVALID, "%s:%d: syntax error (expected [section] or key = value)",
                  source, rc);
    ok = false;
  }
  ok = ok && check_security(cfg, st.require_signature, source, error);
  bson_free(copy);
  return ok;
}

bool mtq_config_load(mtq_config_t *cfg, const mtq_config_section_t *sections, size_t n,
                     const char *path, bson_error_t *error) {
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
    ok = mtq_config_parse(cfg, sections, n, buf, len, path, error);
  }
  bson_free(buf);
  return ok;
}
