/* cmd_task.c - mtq enqueue, ls, show and wait. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "mtq_sign.h"

/* JSON read from stdin may be larger than its BSON form; anything beyond
 * this is refused before parsing. */
#define STDIN_JSON_MAX_BYTES (4 * MTQ_ARGS_MAX_BYTES)

/* Reads all of stdin into a NUL-terminated string the caller frees with
 * bson_free; NULL when it is too large or unreadable. */
static char *read_stdin(void) {
  size_t len = 0, cap = 4096;
  char *buf = bson_malloc(cap);
  size_t n;
  while ((n = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
    len += n;
    if (len > STDIN_JSON_MAX_BYTES) {
      bson_free(buf);
      return NULL;
    }
    if (cap - len - 1 == 0) {
      cap *= 2;
      buf = bson_realloc(buf, cap);
    }
  }
  if (ferror(stdin)) {
    bson_free(buf);
    return NULL;
  }
  buf[len] = '\0';
  return buf;
}

/* --- enqueue ------------------------------------------------------------------ */

static const char enqueue_help[] =
    "usage: mtq enqueue --channel C --func NAME [--version V] [--args JSON|-]\n"
    "                   [--priority N] [--delay SECONDS] [--timeout SECONDS]\n"
    "                   [--max-attempts N] [--backoff SECONDS] [--backoff-max SECONDS]\n"
    "                   [--dedupe-key KEY] [--wait] [--force]\n"
    "                   [--copies K] [--pick first|quorum|all] [--replacements N]\n"
    "                   [--hedge-after SECONDS|auto] [--need-gpu] [--min-mem-mb N] [--tag T]\n"
    "\n"
    "Adds a task to a declared channel and prints its id.  With MTQ_SIGN_KEYS set\n"
    "(\"ID:KEYFILE[,...]\"), the task is signed with the first key.\n"
    "\n"
    "  --channel C         channel (declared by mtqd)\n"
    "  --func NAME         function a worker runs\n"
    "  --version V         function version (default 1)\n"
    "  --args JSON         arguments, a JSON object (default {}); - reads stdin\n"
    "  --priority N        0 (lowest, default) to 9 (highest)\n"
    "  --delay SECONDS     run no earlier than this from now\n"
    "  --timeout SECONDS   a run is killed after this (default 3600)\n"
    "  --max-attempts N    runs before the task is dead (default 3)\n"
    "  --backoff SECONDS   wait before the 2nd attempt, doubled for each next one,\n"
    "                      jittered (default 1)\n"
    "  --backoff-max SECONDS  the longest such wait (default 300)\n"
    "  --dedupe-key KEY    a second enqueue with the same KEY on this channel\n"
    "                      prints the first task's id instead of adding a task\n"
    "  --wait              when the channel is full (mtqd's max_backlog), wait for\n"
    "                      room instead of failing\n"
    "  --force             enqueue even if no worker has announced this function\n"
    "                      and version on this channel (yet)\n"
    "\n"
    "Redundant dispatch (mtqd sends copies to chosen workers, on distinct hosts\n"
    "where it can; each copy runs once, within --timeout):\n"
    "  --copies K          run K copies (1..16) on K distinct workers\n"
    "  --pick RULE         first: the first success wins, the others are cancelled\n"
    "                      (default); quorum: a majority of copies must return equal\n"
    "                      results, else the task ends in conflict; all: keep every\n"
    "                      copy's result ({\"results\": [...]}), fail if one fails\n"
    "  --replacements N    copies sent in place of failed, late or lost ones (default K)\n"
    "  --hedge-after S     one copy; if it runs longer than S seconds, send a second\n"
    "                      one elsewhere and keep the first result (auto: after the\n"
    "                      function's p95 run time)\n"
    "  --need-gpu          only workers whose host has a GPU\n"
    "  --min-mem-mb N      only workers whose host has N MB of memory available\n"
    "  --tag T             only workers whose config lists tag T\n"
    "Any of these sends the task through mtqd, which places it on the worker that\n"
    "its run records and live load say will be fastest.\n";

/* An integer option in [min, max] into *dst; else the usage message
 * "--NAME must be a whole number from MIN to MAX, not 'VALUE'" and
 * MTQ_CLI_USAGE. */
static int int_option(const mtq_cli_t *cli, const char *name, const char *value, int64_t min,
                      int64_t max, int32_t *dst) {
  int64_t v;
  if (!mtq_cli_parse_int(value, min, max, &v)) {
    return mtq_cli_usage(cli, "--%s must be a whole number from %lld to %lld, not '%s'", name,
                         (long long)min, (long long)max, value);
  }
  *dst = (int32_t)v;
  return MTQ_CLI_OK;
}

/* Parses enqueue's options into o; *args_json is set when --args was given. */
static int enqueue_options(mtq_cli_t *cli, int argc, char **argv, mtq_enqueue_opts_t *o,
                           const char **args_json, bool *force, bool *wait_for_room) {
  static const struct option longopts[] = {
      {"channel", required_argument, NULL, 'c'},  {"func", required_argument, NULL, 'f'},
      {"version", required_argument, NULL, 'v'},  {"args", required_argument, NULL, 'a'},
      {"priority", required_argument, NULL, 'p'}, {"delay", required_argument, NULL, 'd'},
      {"timeout", required_argument, NULL, 't'},  {"max-attempts", required_argument, NULL, 'm'},
      {"force", no_argument, NULL, 'F'},          {"help", no_argument, NULL, 'h'},
      {"backoff", required_argument, NULL, 'b'},  {"backoff-max", required_argument, NULL, 'B'},
      {"dedupe-key", required_argument, NULL, 'k'}, {"wait", no_argument, NULL, 'w'},
      {"copies", required_argument, NULL, 'K'},   {"pick", required_argument, NULL, 'P'},
      {"replacements", required_argument, NULL, 'R'},
      {"hedge-after", required_argument, NULL, 'H'}, {"need-gpu", no_argument, NULL, 'G'},
      {"min-mem-mb", required_argument, NULL, 'M'}, {"tag", required_argument, NULL, 'T'},
      {NULL, 0, NULL, 0}};
  bool replacements_given = false;
  int c, rc;
  int64_t v;
  while ((c = mtq_cli_getopt(cli, argc, argv, ":h", longopts)) != -1) {
    switch (c) {
    case 'c':
      o->channel = optarg;
      break;
    case 'f':
      o->func = optarg;
      break;
    case 'v':
      o->version = optarg;
      break;
    case 'a':
      *args_json = optarg;
      break;
    case 'p':
      if ((rc = int_option(cli, "priority", optarg, MTQ_PRIORITY_MIN, MTQ_PRIORITY_MAX,
                           &o->priority))) {
        return rc;
      }
      break;
    case 'd':
      if (!mtq_cli_parse_seconds(optarg, &o->delay_ms)) {
        return mtq_cli_usage(cli, "--delay must be a number of seconds, not '%s'", optarg);
      }
      break;
    case 't':
      if (!mtq_cli_parse_int(optarg, 1, INT32_MAX, &v)) {
        return mtq_cli_usage(cli, "--timeout must be a whole number of seconds, not '%s'", optarg);
      }
      o->timeout_s = (int32_t)v;
      break;
    case 'm':
      if (!mtq_cli_parse_int(optarg, 1, INT32_MAX, &v)) {
        return mtq_cli_usage(cli, "--max-attempts must be a whole number, not '%s'", optarg);
      }
      o->max_attempts = (int32_t)v;
      break;
    case 'F':
      *force = true;
      break;
    case 'b':
    case 'B':
      if (!mtq_cli_parse_seconds(optarg, &v) || v < 1 || v > INT32_MAX) {
        return mtq_cli_usage(cli, "--%s must be a positive number of seconds, not '%s'",
                             c == 'b' ? "backoff" : "backoff-max", optarg);
      }
      *(c == 'b' ? &o->backoff_ms : &o->backoff_max_ms) = (int32_t)v;
      break;
    case 'k':
      o->dedupe_key = optarg;
      break;
    case 'w':
      *wait_for_room = true;
      break;
    case 'K':
      if ((rc = int_option(cli, "copies", optarg, 1, MTQ_COPIES_MAX, &o->red.copies))) {
        return rc;
      }
      break;
    case 'P':
      if (!mtq_pick_parse(optarg, &o->red.pick)) {
        return mtq_cli_usage(cli, "--pick must be first, quorum or all, not '%s'", optarg);
      }
      break;
    case 'R':
      if ((rc = int_option(cli, "replacements", optarg, 0, MTQ_REPLACEMENTS_MAX,
                           &o->red.max_replacements))) {
        return rc;
      }
      replacements_given = true;
      break;
    case 'H':
      if (strcmp(optarg, "auto") == 0) {
        o->red.hedge_ms = MTQ_HEDGE_AUTO;
      } else if (!mtq_cli_parse_seconds(optarg, &o->red.hedge_ms) || o->red.hedge_ms < 1) {
        return mtq_cli_usage(cli, "--hedge-after must be a positive number of seconds or auto, "
                             "not '%s'", optarg);
      }
      break;
    case 'G':
      o->red.need_gpu = true;
      break;
    case 'M':
      if (!mtq_cli_parse_int(optarg, 1, INT64_MAX / 2, &o->red.min_mem_mb)) {
        return mtq_cli_usage(cli, "--min-mem-mb must be a positive whole number, not '%s'",
                             optarg);
      }
      break;
    case 'T':
      if (!mtq_name_valid(optarg)) {
        return mtq_cli_usage(cli, "--tag must be 1-64 of A-Z a-z 0-9 _ . -, not '%s'", optarg);
      }
      bson_strncpy(o->red.tag, optarg, sizeof o->red.tag);
      break;
    case 'h':
      fputs(enqueue_help, stdout);
      return MTQ_CLI_DONE;
    default:
      return MTQ_CLI_USAGE;
    }
  }
  if (!o->channel || !o->func) {
    return mtq_cli_usage(cli, "--channel and --func are required");
  }
  if (!replacements_given) {
    o->red.max_replacements = o->red.copies ? o->red.copies : 1;
  }
  return mtq_cli_positional(cli, argc, argv, 0, "");
}

int mtq_cmd_enqueue(mtq_cli_t *cli, int argc, char **argv) {
  mtq_enqueue_opts_t o = {0};
  const char *args_json = NULL;
  bool force = false, wait_for_room = false;
  int rc = enqueue_options(cli, argc, argv, &o, &args_json, &force, &wait_for_room);
  if (rc != MTQ_CLI_OK) {
    return rc == MTQ_CLI_DONE ? MTQ_CLI_OK : rc;
  }
  char *from_stdin = NULL;
  if (args_json && strcmp(args_json, "-") == 0) {
    from_stdin = read_stdin();
    if (!from_stdin) {
      fprintf(stderr, "mtq: cannot read the arguments from stdin (at most %d bytes)\n",
              STDIN_JSON_MAX_BYTES);
      return MTQ_CLI_FAILED;
    }
    args_json = from_stdin;
  }
  o.args_json = args_json;
  /* A task for a function no worker serves would wait forever: refused
   * unless --force. */
  o.require_served = !force;
  bson_oid_t id;
  bson_error_t error;
  rc = mtq_cli_open(cli);
  mtq_keyring_t *ring = NULL;
  if (rc == MTQ_CLI_OK && !mtq_keyring_from_env(getenv("MTQ_SIGN_KEYS"), &ring, &error)) {
    rc = mtq_cli_fail(cli, &error, "MTQ_SIGN_KEYS");
  } else if (rc == MTQ_CLI_OK) {
    mtq_client_set_keyring(cli->client, ring);
  }
  bool existing = false, told = false;
  while (rc == MTQ_CLI_OK && !mtq_client_enqueue(cli->client, &o, &id, &existing, &error)) {
    if (error.domain == MTQ_ERROR_DOMAIN && error.code == MTQ_ERR_NOT_FOUND) {
      fprintf(stderr, "mtq: %s (see mtq workers; --force enqueues it anyway)\n", error.message);
      rc = MTQ_CLI_FAILED;
    } else if (!wait_for_room || error.domain != MTQ_ERROR_DOMAIN || error.code != MTQ_ERR_FULL) {
      rc = mtq_cli_fail(cli, &error, "cannot enqueue");
    } else {
      if (!told) {
        fprintf(stderr, "mtq: %s; waiting for room\n", error.message);
        told = true;
      }
      struct timespec pause = {1, 0};
      nanosleep(&pause, NULL);
    }
  }
  if (rc == MTQ_CLI_OK) {
    char hex[25];
    bson_oid_to_string(&id, hex);
    if (cli->json) {
      printf("{\"id\": \"%s\", \"existing\": %s}\n", hex, existing ? "true" : "false");
    } else {
      printf("%s\n", hex);
    }
    if (existing && !cli->json) {
      fprintf(stderr, "mtq: dedupe key '%s' already names this task: nothing added\n",
              o.dedupe_key);
    }
  }
  bson_free(from_stdin);
  return rc;
}

/* --- ls ----------------------------------------------------------------------- */

static const char ls_help[] =
    "usage: mtq ls [--channel C] [--status S] [--limit N]\n"
    "\n"
    "Lists tasks, highest priority first and, within a priority, oldest\n"
    "(created first) first, whatever their status.\n"
    "\n"
    "  --channel C   only this channel (default: all)\n"
    "  --status S    only tasks in this status (see below)\n"
    "  --limit N     at most N tasks (default 50): channel by channel, the tasks\n"
    "                not ended yet (highest priority first), then the ended ones\n"
    "                in the order they ended; those found are then sorted\n"
    "\n"
    "Statuses: ";

/* ls's order: priority descending, then creation ascending; the id (whose
 * first bytes are a time too) keeps ties in a stable order. */
static int ls_order(const void *pa, const void *pb) {
  const mtq_task_t *a = *(const mtq_task_t *const *)pa, *b = *(const mtq_task_t *const *)pb;
  if (a->priority != b->priority) {
    return a->priority > b->priority ? -1 : 1;
  }
  if (a->created_at != b->created_at) {
    return a->created_at < b->created_at ? -1 : 1;
  }
  return bson_oid_compare(&a->id, &b->id);
}

static void add_task_row(mtq_table_t *table, const mtq_task_t *t) {
  char id[25], prio[16], status[48], attempt[32], created[64];
  bson_oid_to_string(&t->id, id);
  snprintf(prio, sizeof prio, "%d", (int)t->priority);
  snprintf(status, sizeof status, "%s", mtq_state_name(mtq_task_state(t)));
  snprintf(attempt, sizeof attempt, "%d/%d", (int)t->attempt, (int)t->max_attempts);
  mtq_cli_format_time(t->created_at, created, sizeof created);
  const char *cells[] = {id, t->channel, t->func, prio, status, attempt,
                         t->worker[0] ? t->worker : NULL, created};
  mtq_table_add(table, cells);
}

/* Prints the tasks of list in ls's order.  The store reads each lane and
 * results in insertion order, which is age order within one collection but
 * not across them (ended tasks come in the order they ended): sorting what
 * was read is what makes "highest priority first" true for every status. */
static void print_tasks(const mtq_cli_t *cli, const mtq_task_list_t *list) {
  const mtq_task_t **order = bson_malloc((list->n + 1) * sizeof *order);
  for (size_t i = 0; i < list->n; i++) {
    order[i] = &list->items[i];
  }
  qsort(order, list->n, sizeof *order, ls_order);
  if (cli->json) {
    fputc('[', stdout);
    for (size_t i = 0; i < list->n; i++) {
      fputs(i ? ", " : "", stdout);
      bson_t doc = BSON_INITIALIZER;
      mtq_task_to_bson(order[i], &doc);
      char *json = mtq_cli_json(&doc);
      fputs(json, stdout);
      bson_free(json);
      bson_destroy(&doc);
    }
    fputs("]\n", stdout);
    bson_free(order);
    return;
  }
  static const char *const headers[] = {"ID",      "CHANNEL", "FUNC",   "PRIO",
                                        "STATUS",  "ATTEMPT", "WORKER", "CREATED"};
  mtq_table_t *table = mtq_table_new(8, headers);
  for (size_t i = 0; i < list->n; i++) {
    add_task_row(table, order[i]);
  }
  mtq_table_print(table, stdout);
  mtq_table_destroy(table);
  bson_free(order);
}

int mtq_cmd_ls(mtq_cli_t *cli, int argc, char **argv) {
  static const struct option longopts[] = {{"channel", required_argument, NULL, 'c'},
                                           {"status", required_argument, NULL, 's'},
                                           {"limit", required_argument, NULL, 'l'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  const char *channel = NULL;
  mtq_state_t status = MTQ_STATE_INVALID;
  int64_t limit = 50;
  char names[256];
  int c, rc;
  while ((c = mtq_cli_getopt(cli, argc, argv, ":h", longopts)) != -1) {
    switch (c) {
    case 'c':
      channel = optarg;
      break;
    case 's':
      if ((status = mtq_state_parse(optarg)) == MTQ_STATE_INVALID) {
        mtq_cli_state_names(names, sizeof names);
        return mtq_cli_usage(cli, "unknown status '%s' (one of: %s)", optarg, names);
      }
      break;
    case 'l':
      if (!mtq_cli_parse_int(optarg, 1, 1000000, &limit)) {
        return mtq_cli_usage(cli, "--limit must be a whole number from 1, not '%s'", optarg);
      }
      break;
    case 'h':
      mtq_cli_state_names(names, sizeof names);
      printf("%s%s\n", ls_help, names);
      return MTQ_CLI_OK;
    default:
      return MTQ_CLI_USAGE;
    }
  }
  if ((rc = mtq_cli_positional(cli, argc, argv, 0, "")) || (rc = mtq_cli_open(cli))) {
    return rc;
  }
  mtq_task_list_t list;
  mtq_task_list_init(&list);
  bson_error_t error;
  if (mtq_store_list(cli->store, channel, status, (size_t)limit, &list, &error)) {
    print_tasks(cli, &list);
  } else {
    rc = mtq_cli_fail(cli, &error, "cannot list tasks");
  }
  mtq_task_list_cleanup(&list);
  return rc;
}

/* --- show and wait ------------------------------------------------------------- */

static const char show_help[] =
    "usage: mtq show ID [--history]\n"
    "\n"
    "Prints every field of a task, one per line (--json: the task document).\n"
    "\n"
    "  --history   then its audit trail: every change of state, when, by whom\n"
    "              and why (--json: {\"task\": ..., \"events\": [...]})\n";

static void print_history(const mtq_cli_t *cli, const bson_t *history) {
  bson_iter_t it, arr;
  if (!bson_iter_init_find(&it, history, "events") || !bson_iter_recurse(&it, &arr)) {
    return;
  }
  puts("");
  static const char *const headers[] = {"AT", "FROM", "TO", "BY", "ATTEMPT", "WHY"};
  mtq_table_t *table = mtq_table_new(6, headers);
  while (bson_iter_next(&arr)) {
    bson_t ev;
    uint32_t len;
    const uint8_t *data;
    if (!BSON_ITER_HOLDS_DOCUMENT(&arr)) {
      continue;
    }
    bson_iter_document(&arr, &len, &data);
    if (!bson_init_static(&ev, data, len)) {
      continue;
    }
    char at[64] = "-", attempt[16] = "-";
    const char *cells[6] = {at, NULL, NULL, NULL, attempt, NULL};
    static const char *const keys[] = {NULL, "from", "to", "by", NULL, "why"};
    bson_iter_t f;
    for (int k = 0; k < 6; k++) {
      if (keys[k] && bson_iter_init_find(&f, &ev, keys[k]) && BSON_ITER_HOLDS_UTF8(&f)) {
        cells[k] = bson_iter_utf8(&f, NULL);
      }
    }
    if (bson_iter_init_find(&f, &ev, "at") && BSON_ITER_HOLDS_DATE_TIME(&f)) {
      mtq_cli_format_time(bson_iter_date_time(&f), at, sizeof at);
    }
    if (bson_iter_init_find(&f, &ev, "attempt") && BSON_ITER_HOLDS_NUMBER(&f)) {
      snprintf(attempt, sizeof attempt, "%lld", (long long)bson_iter_as_int64(&f));
    }
    mtq_table_add(table, cells);
  }
  mtq_table_print(table, stdout);
  mtq_table_destroy(table);
}

int mtq_cmd_show(mtq_cli_t *cli, int argc, char **argv) {
  static const struct option longopts[] = {{"history", no_argument, NULL, 'H'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  bool history = false;
  bson_oid_t id;
  int c, rc;
  while ((c = mtq_cli_getopt(cli, argc, argv, ":h", longopts)) != -1) {
    if (c == 'H') {
      history = true;
    } else if (c == 'h') {
      fputs(show_help, stdout);
      return MTQ_CLI_OK;
    } else {
      return MTQ_CLI_USAGE;
    }
  }
  if ((rc = mtq_cli_positional(cli, argc, argv, 1, "task ID")) ||
      (rc = mtq_cli_parse_id(cli, argv[optind], &id)) || (rc = mtq_cli_open(cli))) {
    return rc;
  }
  if (history) {
    mtq_task_t task;
    mtq_task_init(&task);
    bson_t events;
    bson_error_t error;
    if (!mtq_store_find(cli->store, &id, &task, &error) ||
        !mtq_store_history(cli->store, &id, &events, &error)) {
      rc = mtq_cli_fail(cli, &error, NULL);
    } else if (cli->json) {
      bson_t doc = BSON_INITIALIZER, out = BSON_INITIALIZER;
      mtq_task_to_bson(&task, &doc);
      BSON_APPEND_DOCUMENT(&out, "task", &doc);
      bson_iter_t it;
      if (bson_iter_init_find(&it, &events, "events")) {
        bson_append_iter(&out, "events", -1, &it);
      }
      mtq_cli_print_doc(&out, stdout);
      bson_destroy(&out);
      bson_destroy(&doc);
    } else {
      mtq_cli_print_task_fields(&task, stdout);
      print_history(cli, &events);
    }
    if (rc == MTQ_CLI_OK) {
      bson_destroy(&events);
    }
    mtq_task_cleanup(&task);
    return rc;
  }
  mtq_task_t task;
  mtq_task_init(&task);
  bson_error_t error;
  if (!mtq_store_find(cli->store, &id, &task, &error)) {
    rc = mtq_cli_fail(cli, &error, NULL);
  } else if (cli->json) {
    mtq_cli_print_task_json(&task, stdout);
  } else {
    mtq_cli_print_task_fields(&task, stdout);
  }
  mtq_task_cleanup(&task);
  return rc;
}

static const char wait_help[] =
    "usage: mtq wait ID [--timeout SECONDS]\n"
    "\n"
    "Waits until a task has finished and prints its result as JSON (--json:\n"
    "the task document).  Exits 1 when the task failed or was cancelled, or\n"
    "when the timeout (default: none) ran out.\n";

/* What a finished task means for the exit code, with a message when it failed. */
static int report_end(const mtq_cli_t *cli, const mtq_task_t *t, const char *hex) {
  if (cli->json) {
    mtq_cli_print_task_json(t, stdout);
  }
  switch (t->status) {
  case MTQ_STATE_DONE:
    if (!cli->json) {
      bson_t empty = BSON_INITIALIZER;
      mtq_cli_print_doc(t->result ? t->result : &empty, stdout);
    }
    return MTQ_CLI_OK;
  case MTQ_STATE_FAILED:
  case MTQ_STATE_DEAD:
  case MTQ_STATE_CONFLICT:
    fprintf(stderr, "mtq: task %s %s: %s\n", hex,
            t->status == MTQ_STATE_DEAD       ? "is dead (no attempts left)"
            : t->status == MTQ_STATE_CONFLICT ? "ended in conflict"
                                              : "failed",
            t->error ? t->error : "(no message)");
    return MTQ_CLI_FAILED;
  default:
    fprintf(stderr, "mtq: task %s was %s\n", hex, mtq_state_name(t->status));
    return MTQ_CLI_FAILED;
  }
}

int mtq_cmd_wait(mtq_cli_t *cli, int argc, char **argv) {
  static const struct option longopts[] = {{"timeout", required_argument, NULL, 't'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  int64_t timeout_ms = -1;
  int c, rc;
  while ((c = mtq_cli_getopt(cli, argc, argv, ":h", longopts)) != -1) {
    if (c == 'h') {
      fputs(wait_help, stdout);
      return MTQ_CLI_OK;
    }
    if (c != 't') {
      return MTQ_CLI_USAGE;
    }
    if (!mtq_cli_parse_seconds(optarg, &timeout_ms)) {
      return mtq_cli_usage(cli, "--timeout must be a number of seconds, not '%s'", optarg);
    }
  }
  bson_oid_t id;
  if ((rc = mtq_cli_positional(cli, argc, argv, 1, "task ID")) ||
      (rc = mtq_cli_parse_id(cli, argv[optind], &id)) || (rc = mtq_cli_open(cli))) {
    return rc;
  }
  char hex[25];
  bson_oid_to_string(&id, hex);
  mtq_task_t task;
  mtq_task_init(&task);
  bson_error_t error;
  if (mtq_client_wait(cli->client, &id, timeout_ms, &task, &error)) {
    rc = report_end(cli, &task, hex);
  } else if (error.domain == MTQ_ERROR_DOMAIN && error.code == MTQ_ERR_TIMEOUT) {
    fprintf(stderr, "mtq: timed out waiting for %s (it is %s)\n", hex,
            mtq_state_name(task.status));
    rc = MTQ_CLI_FAILED;
  } else {
    rc = mtq_cli_fail(cli, &error, NULL);
  }
  mtq_task_cleanup(&task);
  return rc;
}
