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
    "                   [--dedupe-key KEY] [--wait] [--force] [--after ID[,ID...]]\n"
    "                   [--copies K] [--pick first|quorum|all] [--replacements N]\n"
    "                   [--hedge-after SECONDS|auto] [--need-gpu] [--min-mem-mb N] [--tag T]\n"
    "       mtq enqueue --batch FILE|- [OPTIONS...]\n"
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
    "  --after ID[,ID...]  the task waits, blocked, until every task named is done,\n"
    "                      then is queued; if one ends otherwise (dead, failed,\n"
    "                      cancelled) it is cancelled and says which (mtqd does the\n"
    "                      waiting, in a flow: mtq show prints its id)\n"
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
    "its run records and live load say will be fastest.\n"
    "\n"
    "Many tasks at once:\n"
    "  --batch FILE|-      FILE (-: stdin) holds one JSON object a line, each the\n"
    "                      options of one task under the names above without the\n"
    "                      leading -- (_ may stand for -), e.g.\n"
    "                        {\"func\": \"square\", \"args\": {\"x\": 3}, \"priority\": 5,\n"
    "                         \"dedupe-key\": \"k1\", \"need-gpu\": true}\n"
    "                      The options on the command line are every line's\n"
    "                      defaults; a line's own win.  Blank lines and lines\n"
    "                      starting with # are skipped.\n"
    "Every line is checked first: if any is bad, each bad line is reported as\n"
    "FILE:N: why, nothing is enqueued, and the exit status is 1.  Then the tasks\n"
    "go in, many per round trip, and one line is printed per task line, in\n"
    "order: its id (a dedupe key's earlier task's id), or - when it was refused\n"
    "(full channel, unknown channel, ...: said on stderr as FILE:N: why, with a\n"
    "count at the end; exit status 1).  With --wait, a task refused because its\n"
    "channel is full is tried again every second instead.  --json prints\n"
    "{\"line\": N, \"id\": ..., \"existing\": ...} or {\"line\": N, \"error\": ...}.\n";

/* Parses enqueue's options into e, --batch's into *batch and --after's into
 * *after. */
static int enqueue_options(mtq_cli_t *cli, int argc, char **argv, mtq_cli_enqueue_t *e,
                           const char **batch, const char **after) {
  static const struct option longopts[] = {
      MTQ_CLI_ENQUEUE_OPTIONS(MTQ_CLI_ENQUEUE_LONGOPT) {"batch", required_argument, NULL, 'X'},
      {"after", required_argument, NULL, 'Y'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  char why[160];
  int c;
  while ((c = mtq_cli_getopt(cli, argc, argv, ":h", longopts)) != -1) {
    if (c == 'h') {
      fputs(enqueue_help, stdout);
      return MTQ_CLI_DONE;
    }
    if (c == 'X') {
      *batch = optarg;
    } else if (c == 'Y') {
      *after = optarg;
    } else if (!mtq_cli_enqueue_name(c)) {
      return MTQ_CLI_USAGE; /* mtq_cli_getopt said why */
    } else if (!mtq_cli_enqueue_set(e, c, optarg, why, sizeof why)) {
      return mtq_cli_usage(cli, "--%s %s", mtq_cli_enqueue_name(c), why);
    }
  }
  /* A batch's lines may name their own channel and function. */
  if (!*batch && (!e->o.channel || !e->o.func)) {
    return mtq_cli_usage(cli, "--channel and --func are required");
  }
  if (*batch && *after) {
    return mtq_cli_usage(cli, "--after goes with one task, not with --batch");
  }
  if (*batch && strcmp(*batch, "-") == 0 && e->o.args_json && strcmp(e->o.args_json, "-") == 0) {
    return mtq_cli_usage(cli, "--batch - and --args - cannot both read stdin");
  }
  return mtq_cli_positional(cli, argc, argv, 0, "");
}

/* Enqueues one task; with --wait, waits for room in a full channel. */
static int enqueue_one(mtq_cli_t *cli, const mtq_cli_enqueue_t *e) {
  bson_oid_t id;
  bson_error_t error;
  bool existing = false, told = false;
  while (!mtq_client_enqueue(cli->client, &e->o, &id, &existing, &error)) {
    if (error.domain == MTQ_ERROR_DOMAIN && error.code == MTQ_ERR_NOT_FOUND) {
      fprintf(stderr, "mtq: %s (see mtq workers; --force enqueues it anyway)\n", error.message);
      return MTQ_CLI_FAILED;
    }
    if (!e->wait_for_room || error.domain != MTQ_ERROR_DOMAIN || error.code != MTQ_ERR_FULL) {
      return mtq_cli_fail(cli, &error, "cannot enqueue");
    }
    if (!told) {
      fprintf(stderr, "mtq: %s; waiting for room\n", error.message);
      told = true;
    }
    struct timespec pause = {1, 0};
    nanosleep(&pause, NULL);
  }
  char hex[25];
  bson_oid_to_string(&id, hex);
  if (cli->json) {
    printf("{\"id\": \"%s\", \"existing\": %s}\n", hex, existing ? "true" : "false");
  } else {
    printf("%s\n", hex);
  }
  if (existing && !cli->json) {
    fprintf(stderr, "mtq: dedupe key '%s' already names this task: nothing added\n",
            e->o.dedupe_key);
  }
  return MTQ_CLI_OK;
}

/* "ID,ID,..." into ids (at most MTQ_AFTER_MAX); the usage exit code when a
 * part is not an id. */
static int parse_after(mtq_cli_t *cli, const char *text, bson_oid_t *ids, size_t *n) {
  *n = 0;
  char *copy = bson_strdup(text), *save = NULL;
  int rc = MTQ_CLI_OK;
  for (char *tok = strtok_r(copy, ",", &save); tok && rc == MTQ_CLI_OK;
       tok = strtok_r(NULL, ",", &save)) {
    tok = mtq_trim(tok);
    if (*n == MTQ_AFTER_MAX) {
      rc = mtq_cli_usage(cli, "--after names at most %d tasks", MTQ_AFTER_MAX);
    } else if ((rc = mtq_cli_parse_id(cli, tok, &ids[*n])) == MTQ_CLI_OK) {
      (*n)++;
    }
  }
  if (rc == MTQ_CLI_OK && *n == 0) {
    rc = mtq_cli_usage(cli, "--after needs a task id");
  }
  bson_free(copy);
  return rc;
}

/* Enqueues one task that waits for others. */
static int enqueue_after(mtq_cli_t *cli, const mtq_cli_enqueue_t *e, const char *after) {
  bson_oid_t *ids = bson_malloc0(MTQ_AFTER_MAX * sizeof *ids);
  size_t n = 0;
  int rc = parse_after(cli, after, ids, &n);
  bson_oid_t id, flow;
  bson_error_t error;
  if (rc == MTQ_CLI_OK && (rc = mtq_cli_open_producer(cli)) == MTQ_CLI_OK &&
      !mtq_client_enqueue_after(cli->client, &e->o, ids, n, &id, &flow, &error)) {
    if (error.domain == MTQ_ERROR_DOMAIN && error.code == MTQ_ERR_INVALID) {
      rc = mtq_cli_usage(cli, "%s", error.message);
    } else {
      rc = mtq_cli_fail(cli, &error, "cannot enqueue");
    }
  } else if (rc == MTQ_CLI_OK) {
    char hex[25], fhex[25];
    bson_oid_to_string(&id, hex);
    bson_oid_to_string(&flow, fhex);
    if (cli->json) {
      printf("{\"id\": \"%s\", \"flow\": \"%s\"}\n", hex, fhex);
    } else {
      printf("%s\n", hex);
    }
  }
  bson_free(ids);
  return rc;
}

int mtq_cmd_enqueue(mtq_cli_t *cli, int argc, char **argv) {
  mtq_cli_enqueue_t e = {0};
  const char *batch = NULL, *after = NULL;
  int rc = enqueue_options(cli, argc, argv, &e, &batch, &after);
  if (rc != MTQ_CLI_OK) {
    return rc == MTQ_CLI_DONE ? MTQ_CLI_OK : rc;
  }
  char *from_stdin = NULL;
  if (e.o.args_json && strcmp(e.o.args_json, "-") == 0) {
    from_stdin = read_stdin();
    if (!from_stdin) {
      fprintf(stderr, "mtq: cannot read the arguments from stdin (at most %d bytes)\n",
              STDIN_JSON_MAX_BYTES);
      return MTQ_CLI_FAILED;
    }
    e.o.args_json = from_stdin;
  }
  if (batch) {
    /* The command line's options are every line's defaults: finished per
     * line, once the line's own are set. */
    rc = mtq_cli_enqueue_batch(cli, batch, &e);
  } else if (after) {
    mtq_cli_enqueue_finish(&e);
    rc = enqueue_after(cli, &e, after);
  } else {
    mtq_cli_enqueue_finish(&e);
    rc = mtq_cli_open_producer(cli);
    if (rc == MTQ_CLI_OK) {
      rc = enqueue_one(cli, &e);
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

/* A waiting task whose version no worker announces waits for one that
 * does: said under its fields, with what the registry knows of why (two
 * small reads: whoami and functions). */
static void note_unserved(mtq_cli_t *cli, const mtq_task_t *task) {
  bool waiting = task->status == MTQ_STATE_QUEUED || task->status == MTQ_STATE_DELAYED ||
                 task->status == MTQ_STATE_RETRY_WAIT;
  bool served = true;
  bson_error_t error;
  if (!waiting || mtq_task_is_parent(task) ||
      !mtq_store_function_served(cli->store, task->channel, task->func, task->version, &served,
                                 &error) ||
      served) {
    return;
  }
  printf("note: no worker serves %s version %s in channel %s: the task waits until one does\n",
         task->func, task->version, task->channel);
  mtq_function_record_list_t records;
  mtq_function_record_list_init(&records);
  if (mtq_store_function_records(cli->store, NULL, &records, &error)) {
    for (size_t i = 0; i < records.n; i++) {
      const mtq_function_record_t *r = &records.items[i];
      if (r->state == MTQ_FUNCTION_STATE_MISSING && strcmp(r->name, task->func) == 0 &&
          strcmp(r->version, task->version) == 0) {
        char since[32];
        mtq_cli_format_time(r->created_at_ms, since, sizeof since);
        printf("note: worker %s has wanted it since %s: %s\n", r->worker, since,
               r->why ? r->why : "-");
      }
    }
  }
  mtq_function_record_list_cleanup(&records);
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
    note_unserved(cli, &task);
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
