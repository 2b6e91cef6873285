/* enqueue_opts.c - the options of one enqueue, by name.
 *
 * mtq enqueue's flags and the keys of an `mtq enqueue --batch` line are the
 * same options (MTQ_CLI_ENQUEUE_OPTIONS in cli.h), and a value of either is
 * set here from its text, so that a line takes exactly what the command
 * line takes and is refused with the same words. */
#include <inttypes.h>
#include <string.h>

#include "cli.h"

static const struct {
  const char *name;
  int code;
  mtq_cli_value_t kind;
} options[] = {
#define OPTION(name, code, kind) {name, code, MTQ_CLI_VALUE_##kind},
    MTQ_CLI_ENQUEUE_OPTIONS(OPTION)
#undef OPTION
};

#define N_OPTIONS (sizeof options / sizeof options[0])

/* "must be MUST, not 'VALUE'" into why; returns false for the caller to
 * return. */
static bool refuse(char *why, size_t size, const char *must, const char *value) {
  snprintf(why, size, "must be %s, not '%s'", must, value ? value : "");
  return false;
}

/* A whole number in [min, max] into *dst. */
static bool int_value(const char *value, int64_t min, int64_t max, int32_t *dst, char *why,
                      size_t size) {
  int64_t v;
  if (!value || !mtq_cli_parse_int(value, min, max, &v)) {
    char must[96];
    snprintf(must, sizeof must, "a whole number from %lld to %lld", (long long)min,
             (long long)max);
    return refuse(why, size, must, value);
  }
  *dst = (int32_t)v;
  return true;
}

/* A flag is on when given on the command line (no value) or true in a line. */
static bool flag_value(const char *value) { return !value || strcmp(value, "false") != 0; }

bool mtq_cli_enqueue_set(mtq_cli_enqueue_t *e, int code, const char *value, char *why,
                         size_t size) {
  mtq_enqueue_opts_t *o = &e->o;
  int64_t v;
  switch (code) {
  case 'c':
    o->channel = value;
    return true;
  case 'f':
    o->func = value;
    return true;
  case 'v':
    o->version = value;
    return true;
  case 'a':
    o->args_json = value;
    return true;
  case 'k':
    o->dedupe_key = value;
    return true;
  case 'p':
    return int_value(value, MTQ_PRIORITY_MIN, MTQ_PRIORITY_MAX, &o->priority, why, size);
  case 'd':
    return (value && mtq_cli_parse_seconds(value, &o->delay_ms)) ||
           refuse(why, size, "a number of seconds", value);
  case 't':
    if (!value || !mtq_cli_parse_int(value, 1, INT32_MAX, &v)) {
      return refuse(why, size, "a whole number of seconds", value);
    }
    o->timeout_s = (int32_t)v;
    return true;
  case 'm':
    if (!value || !mtq_cli_parse_int(value, 1, INT32_MAX, &v)) {
      return refuse(why, size, "a whole number", value);
    }
    o->max_attempts = (int32_t)v;
    return true;
  case 'b':
  case 'B':
    if (!value || !mtq_cli_parse_seconds(value, &v) || v < 1 || v > INT32_MAX) {
      return refuse(why, size, "a positive number of seconds", value);
    }
    *(code == 'b' ? &o->backoff_ms : &o->backoff_max_ms) = (int32_t)v;
    return true;
  case 'w':
    e->wait_for_room = flag_value(value);
    return true;
  case 'F':
    e->force = flag_value(value);
    return true;
  case 'K':
    return int_value(value, 1, MTQ_COPIES_MAX, &o->red.copies, why, size);
  case 'P':
    return (value && mtq_pick_parse(value, &o->red.pick)) ||
           refuse(why, size, "first, quorum or all", value);
  case 'R':
    e->replacements_given = true;
    return int_value(value, 0, MTQ_REPLACEMENTS_MAX, &o->red.max_replacements, why, size);
  case 'H':
    if (value && strcmp(value, "auto") == 0) {
      o->red.hedge_ms = MTQ_HEDGE_AUTO;
      return true;
    }
    return (value && mtq_cli_parse_seconds(value, &o->red.hedge_ms) && o->red.hedge_ms >= 1) ||
           refuse(why, size, "a positive number of seconds or auto", value);
  case 'G':
    o->red.need_gpu = flag_value(value);
    return true;
  case 'M':
    return (value && mtq_cli_parse_int(value, 1, INT64_MAX / 2, &o->red.min_mem_mb)) ||
           refuse(why, size, "a positive whole number", value);
  case 'T':
    if (!value || !mtq_name_valid(value)) {
      return refuse(why, size, "1-64 of A-Z a-z 0-9 _ . -", value);
    }
    bson_strncpy(o->red.tag, value, sizeof o->red.tag);
    return true;
  default:
    snprintf(why, size, "is not an option of enqueue");
    return false;
  }
}

/* name equals option, an underscore matching a dash: a batch line written
 * after the task document's own fields (max_attempts) reads as meant. */
static bool same_name(const char *name, const char *option) {
  for (; *name && *option; name++, option++) {
    if (*name != *option && !(*name == '_' && *option == '-')) {
      return false;
    }
  }
  return *name == *option;
}

int mtq_cli_enqueue_code(const char *name, mtq_cli_value_t *kind) {
  for (size_t i = 0; i < N_OPTIONS; i++) {
    if (same_name(name, options[i].name)) {
      *kind = options[i].kind;
      return options[i].code;
    }
  }
  return 0;
}

const char *mtq_cli_enqueue_name(int code) {
  for (size_t i = 0; i < N_OPTIONS; i++) {
    if (options[i].code == code) {
      return options[i].name;
    }
  }
  return NULL;
}

void mtq_cli_enqueue_finish(mtq_cli_enqueue_t *e) {
  if (!e->replacements_given) {
    e->o.red.max_replacements = e->o.red.copies ? e->o.red.copies : 1;
  }
  /* A task for a function no worker serves would wait forever: refused
   * unless --force. */
  e->o.require_served = !e->force;
}

/* --- options as JSON (batch lines, flow steps) ----------------------------------- */

/* How a value of a JSON object of options is to be written, and how it was: for "priority
 * must be a number, not a string". */
static const char *kind_wanted(mtq_cli_value_t kind) {
  switch (kind) {
  case MTQ_CLI_VALUE_TEXT:
    return "a string";
  case MTQ_CLI_VALUE_NUMBER:
    return "a number";
  case MTQ_CLI_VALUE_NUMBER_OR_TEXT:
    return "a number or a string";
  case MTQ_CLI_VALUE_OBJECT:
    return "an object";
  default:
    return "true or false";
  }
}

static const char *type_found(const bson_iter_t *it) {
  switch (bson_iter_type(it)) {
  case BSON_TYPE_UTF8:
    return "a string";
  case BSON_TYPE_INT32:
  case BSON_TYPE_INT64:
  case BSON_TYPE_DOUBLE:
  case BSON_TYPE_DECIMAL128:
    return "a number";
  case BSON_TYPE_DOCUMENT:
    return "an object";
  case BSON_TYPE_ARRAY:
    return "an array";
  case BSON_TYPE_BOOL:
    return bson_iter_bool(it) ? "true" : "false";
  case BSON_TYPE_NULL:
    return "null";
  default:
    return "an extended JSON value";
  }
}

/* The text of one value, as the option's argument would be written on the
 * command line: a string as it is (borrowed from the document), a number
 * printed into num, a flag "true" or "false", args printed back to JSON
 * (kept in *args_json).  NULL, with why, when it is not of its kind. */
static const char *value_text(const bson_iter_t *it, mtq_cli_value_t kind, char **args_json,
                              char *num, size_t num_size, char *why, size_t size) {
  const char *key = bson_iter_key(it);
  bool number = BSON_ITER_HOLDS_INT32(it) || BSON_ITER_HOLDS_INT64(it) ||
                BSON_ITER_HOLDS_DOUBLE(it);
  if ((kind == MTQ_CLI_VALUE_TEXT || kind == MTQ_CLI_VALUE_NUMBER_OR_TEXT) &&
      BSON_ITER_HOLDS_UTF8(it)) {
    uint32_t len;
    const char *s = bson_iter_utf8(it, &len);
    if (strlen(s) != len) {
      snprintf(why, size, "%s holds a NUL character", key);
      return NULL;
    }
    return s;
  }
  if ((kind == MTQ_CLI_VALUE_NUMBER || kind == MTQ_CLI_VALUE_NUMBER_OR_TEXT) && number) {
    if (BSON_ITER_HOLDS_DOUBLE(it)) {
      snprintf(num, num_size, "%.17g", bson_iter_double(it));
    } else {
      snprintf(num, num_size, "%" PRId64, bson_iter_as_int64(it));
    }
    return num;
  }
  if (kind == MTQ_CLI_VALUE_FLAG && BSON_ITER_HOLDS_BOOL(it)) {
    return bson_iter_bool(it) ? "true" : "false";
  }
  if (kind == MTQ_CLI_VALUE_OBJECT && BSON_ITER_HOLDS_DOCUMENT(it)) {
    uint32_t len;
    const uint8_t *data;
    bson_t args;
    bson_iter_document(it, &len, &data);
    if (!bson_init_static(&args, data, len)) {
      snprintf(why, size, "%s is not a readable object", key);
      return NULL;
    }
    bson_free(*args_json);
    *args_json = mtq_cli_json(&args);
    return *args_json;
  }
  snprintf(why, size, "%s must be %s, not %s", key, kind_wanted(kind), type_found(it));
  return NULL;
}

bool mtq_cli_enqueue_set_json(mtq_cli_enqueue_t *e, int code, mtq_cli_value_t kind,
                              const bson_iter_t *it, char **args_json, char *why, size_t size) {
  char num[40], bad[160];
  const char *value = value_text(it, kind, args_json, num, sizeof num, why, size);
  if (!value) {
    return false;
  }
  if (!mtq_cli_enqueue_set(e, code, value, bad, sizeof bad)) {
    snprintf(why, size, "%s %s", bson_iter_key(it), bad);
    return false;
  }
  return true;
}
