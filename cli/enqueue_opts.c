/* enqueue_opts.c - the options of one enqueue, by name.
 *
 * mtq enqueue's flags and the keys of an `mtq enqueue --batch` line are the
 * same options (MTQ_CLI_ENQUEUE_OPTIONS in cli.h), and a value of either is
 * set here from its text, so that a line takes exactly what the command
 * line takes and is refused with the same words. */
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
