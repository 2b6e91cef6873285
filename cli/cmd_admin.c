/* cmd_admin.c - mtq set-priority, disable, enable, cancel, suspend, resume,
 * retry, workers, stats, channels and coordinators (their performance
 * figures: cmd_perf.c). */
#include <string.h>

#include "cli.h"

static void print_ok(const mtq_cli_t *cli) { puts(cli->json ? "{\"ok\": true}" : "ok"); }

/* --- changing a task ------------------------------------------------------------ */

static const char set_priority_help[] =
    "usage: mtq set-priority ID N\n"
    "\n"
    "Changes the priority of a queued, delayed or disabled task: 0 (lowest)\n"
    "to 9 (highest).\n";

int mtq_cmd_set_priority(mtq_cli_t *cli, int argc, char **argv) {
  bson_oid_t id;
  int64_t priority;
  int rc = mtq_cli_plain_args(cli, argc, argv, set_priority_help, 2, "task ID and priority");
  if (rc || (rc = mtq_cli_parse_id(cli, argv[optind], &id))) {
    return rc == MTQ_CLI_DONE ? MTQ_CLI_OK : rc;
  }
  if (!mtq_cli_parse_int(argv[optind + 1], MTQ_PRIORITY_MIN, MTQ_PRIORITY_MAX, &priority)) {
    return mtq_cli_usage(cli, "priority must be a whole number from %d to %d, not '%s'",
                         MTQ_PRIORITY_MIN, MTQ_PRIORITY_MAX, argv[optind + 1]);
  }
  if ((rc = mtq_cli_open(cli))) {
    return rc;
  }
  bson_error_t error;
  if (!mtq_store_set_priority(cli->store, &id, (int32_t)priority, MTQ_CLI_ACTOR, &error)) {
    return mtq_cli_fail(cli, &error, NULL);
  }
  print_ok(cli);
  return MTQ_CLI_OK;
}

typedef enum {
  CHANGE_DISABLE,
  CHANGE_ENABLE,
  CHANGE_CANCEL,
  CHANGE_SUSPEND,
  CHANGE_RESUME,
  CHANGE_RETRY
} change_t;

static const char *const change_help[] = {
    "usage: mtq disable ID\n\nKeeps a waiting task from being run until it is enabled\n"
    "(sets is_enable to false, as an operator may do in the database).\n",
    "usage: mtq enable ID\n\nLets a disabled task run again.\n",
    "usage: mtq cancel ID\n\nCancels a waiting or running task.  A running task's worker\n"
    "stops its process at its next lease renewal.  An ended task cannot be cancelled.\n",
    "usage: mtq suspend ID\n\nHolds a waiting task (queued, delayed, retry_wait or\n"
    "disabled) until `mtq resume ID`.\n",
    "usage: mtq resume ID\n\nLets a suspended task wait for its turn again.\n",
    "usage: mtq retry ID\n\nGives a dead (or failed) task a new life: queued again, its\n"
    "attempts counted from zero, the errors of its earlier attempts kept.\n",
};

static int change_task(mtq_cli_t *cli, int argc, char **argv, change_t change) {
  bson_oid_t id;
  int rc = mtq_cli_plain_args(cli, argc, argv, change_help[change], 1, "task ID");
  if (rc || (rc = mtq_cli_parse_id(cli, argv[optind], &id)) || (rc = mtq_cli_open(cli))) {
    return rc == MTQ_CLI_DONE ? MTQ_CLI_OK : rc;
  }
  bson_error_t error;
  bool ok;
  switch (change) {
  case CHANGE_CANCEL: ok = mtq_store_cancel(cli->store, &id, MTQ_CLI_ACTOR, &error); break;
  case CHANGE_SUSPEND: ok = mtq_store_suspend(cli->store, &id, MTQ_CLI_ACTOR, &error); break;
  case CHANGE_RESUME: ok = mtq_store_resume(cli->store, &id, MTQ_CLI_ACTOR, &error); break;
  case CHANGE_RETRY: ok = mtq_store_retry(cli->store, &id, MTQ_CLI_ACTOR, &error); break;
  default:
    ok = mtq_store_set_enable(cli->store, &id, change == CHANGE_ENABLE, MTQ_CLI_ACTOR, &error);
    break;
  }
  if (!ok) {
    return mtq_cli_fail(cli, &error, NULL);
  }
  print_ok(cli);
  return MTQ_CLI_OK;
}

/* mtq disable, enable, cancel, suspend, resume and retry: one handler each,
 * all of them change_task. */
#define CHANGE_HANDLER(name, change)                              \
  int mtq_cmd_##name(mtq_cli_t *cli, int argc, char **argv) {     \
    return change_task(cli, argc, argv, change);                  \
  }
CHANGE_HANDLER(disable, CHANGE_DISABLE)
CHANGE_HANDLER(enable, CHANGE_ENABLE)
CHANGE_HANDLER(cancel, CHANGE_CANCEL)
CHANGE_HANDLER(suspend, CHANGE_SUSPEND)
CHANGE_HANDLER(resume, CHANGE_RESUME)
CHANGE_HANDLER(retry, CHANGE_RETRY)
#undef CHANGE_HANDLER

/* --- workers ------------------------------------------------------------------------ */

static const char workers_help[] =
    "usage: mtq workers\n"
    "\n"
    "Lists the workers that ever heartbeated, with their host's figures and\n"
    "a score from the run records (the last attempts of every function, see\n"
    "`mtq stats --func`): SCORE \"20 runs 95% ok ~1.25s\" is attempts ended,\n"
    "the share that succeeded, and the moving average of their run time\n"
    "(recent runs weigh more).  --json adds the figures under \"perf\".\n";

/* "a,b" of a list of names. */
static void join_names(char *const *names, size_t n, char *buf, size_t size) {
  size_t off = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n && off < size; i++) {
    off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? "," : "", names[i]);
  }
}

static void add_worker_row(mtq_table_t *table, const mtq_whoami_t *w, int64_t now_ms,
                           const mtq_perf_t *scores, size_t n_scores) {
  char load[32] = "", mem[32] = "", seen[48] = "", channels[512], functions[1024] = "";
  char slots[80], score[80];
  const mtq_hostinfo_t *h = &w->hostinfo;
  snprintf(slots, sizeof slots, "%d/%d", (int)w->running, (int)w->concurrency);
  if (h->has_load) {
    snprintf(load, sizeof load, "%.2f", h->load[0]);
  }
  if (h->has_mem) {
    snprintf(mem, sizeof mem, "%lld", (long long)h->mem_available_mb);
  }
  if (w->last_seen_ms > 0) {
    snprintf(seen, sizeof seen, "%llds ago", (long long)((now_ms - w->last_seen_ms) / 1000));
  }
  join_names(w->channels, w->n_channels, channels, sizeof channels);
  for (size_t i = 0, off = 0; i < w->n_functions && off < sizeof functions; i++) {
    off += (size_t)snprintf(functions + off, sizeof functions - off, "%s%s@%s", i ? "," : "",
                            w->functions[i].name, w->functions[i].version);
  }
  mtq_cli_format_score(mtq_perf_find(scores, n_scores, w->id, ""), score, sizeof score);
  const char *cells[] = {w->id,  w->host, mtq_worker_state_name(w->state), slots, load, mem,
                         score,  seen,    channels,                        functions};
  for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++) {
    cells[i] = cells[i][0] ? cells[i] : NULL;
  }
  mtq_table_add(table, cells);
}

int mtq_cmd_workers(mtq_cli_t *cli, int argc, char **argv) {
  int rc = mtq_cli_plain_args(cli, argc, argv, workers_help, 0, "");
  if (rc || (rc = mtq_cli_open(cli))) {
    return rc == MTQ_CLI_DONE ? MTQ_CLI_OK : rc;
  }
  mtq_whoami_list_t workers;
  mtq_whoami_list_init(&workers);
  bson_error_t error;
  if (!mtq_store_workers(cli->store, &workers, &error)) {
    mtq_whoami_list_cleanup(&workers);
    return mtq_cli_fail(cli, &error, "cannot list workers");
  }
  mtq_perf_t *scores;
  size_t n_scores;
  mtq_cli_worker_scores(cli, &scores, &n_scores);
  if (cli->json) {
    bson_t scored;
    mtq_cli_add_scores(&workers, scores, n_scores, &scored);
    mtq_cli_print_array(&scored, "workers", stdout);
    bson_destroy(&scored);
  } else {
    static const char *const headers[] = {
        "ID",           "HOST",  "STATE",     "RUNNING/CONCURRENCY", "LOAD1",
        "MEM_AVAIL_MB", "SCORE", "LAST_SEEN", "CHANNELS",            "FUNCTIONS"};
    mtq_table_t *table = mtq_table_new(10, headers);
    int64_t now_ms = mtq_now_ms();
    for (size_t i = 0; i < workers.n; i++) {
      add_worker_row(table, &workers.items[i], now_ms, scores, n_scores);
    }
    mtq_table_print(table, stdout);
    mtq_table_destroy(table);
  }
  mtq_whoami_list_cleanup(&workers);
  bson_free(scores);
  return MTQ_CLI_OK;
}

/* --- stats and channels ---------------------------------------------------------------- */

static const char stats_help[] =
    "usage: mtq stats [--func NAME]\n"
    "\n"
    "Counts the tasks of every declared channel, per status.  The copies of\n"
    "redundant tasks (--copies, --hedge-after, requirements), which mtqd puts in\n"
    "each chosen worker's own channel to.<worker>, are counted apart, per\n"
    "worker, below the table, when there are any.  --json: one object per\n"
    "channel, to.<worker> channels included.\n"
    "\n"
    "  --func NAME   instead, how each worker runs function NAME, from the run\n"
    "                records of its last attempts (every attempt that ended: done,\n"
    "                retry_wait, dead, failed, or queued again; not those cancelled\n"
    "                or suspended, which say nothing of the worker):\n"
    "                RUNS attempts ended, OK of them done, SUCCESS their share,\n"
    "                P50/P95/MAX run time of the done ones (claim to end), EWMA\n"
    "                its moving average (recent runs weigh more), MEAN_WAIT from\n"
    "                runnable to claimed.  The records are the last 10,000\n"
    "                attempts of all functions (capped collection runs).\n";

/* The count of state s in counts ({"queued": n, ...}), 0 when missing. */
static int64_t stats_count(const bson_t *counts, int s) {
  bson_iter_t it;
  return bson_iter_init_find(&it, counts, mtq_state_name((mtq_state_t)s)) &&
                 BSON_ITER_HOLDS_NUMBER(&it)
             ? bson_iter_as_int64(&it)
             : 0;
}

/* Adds a row of counts, unless they are all 0 and skip_empty. */
static void add_stats_row(mtq_table_t *table, const char *channel, const bson_t *counts,
                          bool skip_empty) {
  char numbers[MTQ_STATE_COUNT][24];
  const char *cells[MTQ_STATE_COUNT + 1] = {channel};
  int64_t sum = 0;
  for (int s = 0; s < MTQ_STATE_COUNT; s++) {
    int64_t n = stats_count(counts, s);
    sum += n;
    snprintf(numbers[s], sizeof numbers[s], "%lld", (long long)n);
    cells[s + 1] = numbers[s];
  }
  if (sum > 0 || !skip_empty) {
    mtq_table_add(table, cells);
  }
}

/* The text of `mtq stats`: the channels the user declared in one table.
 * Each worker declares its own channel to.<worker> for the copies of
 * redundant tasks that mtqd addresses to it; those are not channels anyone
 * enqueues to, and every worker adds one, so they go into a second table,
 * by worker, with only the workers that have copies, printed only when one
 * has. */
static void print_stats(const bson_t *doc) {
  /* The columns come from the state table, so a new state shows up here. */
  const char *headers[MTQ_STATE_COUNT + 1] = {"CHANNEL"};
  const char *copy_headers[MTQ_STATE_COUNT + 1] = {"WORKER"};
  char upper[MTQ_STATE_COUNT][32];
  for (int s = 0; s < MTQ_STATE_COUNT; s++) {
    snprintf(upper[s], sizeof upper[s], "%s", mtq_state_name((mtq_state_t)s));
    for (char *p = upper[s]; *p; p++) {
      *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    }
    headers[s + 1] = copy_headers[s + 1] = upper[s];
  }
  mtq_table_t *table = mtq_table_new(MTQ_STATE_COUNT + 1, headers);
  mtq_table_t *copies = mtq_table_new(MTQ_STATE_COUNT + 1, copy_headers);
  const size_t plen = strlen(MTQ_DIRECT_PREFIX);
  bson_iter_t it;
  bson_t counts;
  if (bson_iter_init(&it, doc)) {
    while (mtq_bson_next_doc(&it, &counts)) {
      const char *name = bson_iter_key(&it);
      if (strncmp(name, MTQ_DIRECT_PREFIX, plen) == 0) {
        add_stats_row(copies, name + plen, &counts, true);
      } else {
        add_stats_row(table, name, &counts, false);
      }
    }
  }
  mtq_table_print(table, stdout);
  if (mtq_table_rows(copies) > 0) {
    fputs("\nCopies of redundant tasks, in the channel of the worker they were sent to:\n",
          stdout);
    mtq_table_print(copies, stdout);
  }
  mtq_table_destroy(copies);
  mtq_table_destroy(table);
}

/* Parses stats' options; *func is set by --func.  Returns -1 to go on, else
 * the exit code. */
static int stats_options(mtq_cli_t *cli, int argc, char **argv, const char **func) {
  static const struct option longopts[] = {
      {"func", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  int c;
  while ((c = mtq_cli_getopt(cli, argc, argv, ":h", longopts)) != -1) {
    switch (c) {
    case 'f':
      if (!mtq_name_valid(optarg)) {
        return mtq_cli_usage(cli, "'%s' is not a valid function name", optarg);
      }
      *func = optarg;
      break;
    case 'h':
      fputs(stats_help, stdout);
      return MTQ_CLI_OK;
    default:
      return MTQ_CLI_USAGE;
    }
  }
  int rc = mtq_cli_positional(cli, argc, argv, 0, "");
  return rc ? rc : -1;
}

int mtq_cmd_stats(mtq_cli_t *cli, int argc, char **argv) {
  const char *func = NULL;
  int rc = stats_options(cli, argc, argv, &func);
  if (rc >= 0 || (rc = mtq_cli_open(cli))) {
    return rc;
  }
  if (func) {
    return mtq_cli_print_perf(cli, func);
  }
  bson_t doc;
  bson_error_t error;
  if (!mtq_store_stats(cli->store, &doc, &error)) {
    bson_destroy(&doc);
    return mtq_cli_fail(cli, &error, "cannot count tasks");
  }
  if (cli->json) {
    mtq_cli_print_doc(&doc, stdout);
    bson_destroy(&doc);
    return MTQ_CLI_OK;
  }
  print_stats(&doc);
  bson_destroy(&doc);
  return MTQ_CLI_OK;
}

static const char channels_help[] =
    "usage: mtq channels\n"
    "\n"
    "Lists the channels mtqd has declared.\n";

int mtq_cmd_channels(mtq_cli_t *cli, int argc, char **argv) {
  int rc = mtq_cli_plain_args(cli, argc, argv, channels_help, 0, "");
  if (rc || (rc = mtq_cli_open(cli))) {
    return rc == MTQ_CLI_DONE ? MTQ_CLI_OK : rc;
  }
  char **names = NULL;
  bson_error_t error;
  if (!mtq_store_channels(cli->store, &names, &error)) {
    return mtq_cli_fail(cli, &error, "cannot list channels");
  }
  if (cli->json) {
    fputc('[', stdout);
    for (size_t i = 0; names[i]; i++) {
      fputs(i ? ", " : "", stdout);
      mtq_cli_print_json_string(names[i], stdout);
    }
    fputs("]\n", stdout);
  } else {
    for (size_t i = 0; names[i]; i++) {
      puts(names[i]);
    }
  }
  bson_strfreev(names);
  return MTQ_CLI_OK;
}

/* --- coordinators ------------------------------------------------------------------ */

static const char coordinators_help[] =
    "usage: mtq coordinators\n"
    "\n"
    "Lists the latest leaderships of the coordinators, newest first.  One mtqd\n"
    "leads at a time and alone releases delayed tasks, reconciles, dispatches\n"
    "redundant tasks and removes what retention says; any mtqd looks after lost\n"
    "workers, expired leases, schedules and flows.  When the leader goes silent\n"
    "for lost_after_ms another takes over (at once when it stopped cleanly).\n";

int mtq_cmd_coordinators(mtq_cli_t *cli, int argc, char **argv) {
  int rc = mtq_cli_plain_args(cli, argc, argv, coordinators_help, 0, "");
  if (rc || (rc = mtq_cli_open(cli))) {
    return rc == MTQ_CLI_DONE ? MTQ_CLI_OK : rc;
  }
  bson_t out;
  bson_error_t error;
  if (!mtq_store_leaders(cli->store, &out, &error)) {
    bson_destroy(&out);
    return mtq_cli_fail(cli, &error, "cannot read the leaderships");
  }
  if (cli->json) {
    mtq_cli_print_array(&out, "leaders", stdout);
    bson_destroy(&out);
    return MTQ_CLI_OK;
  }
  static const char *const headers[] = {"EPOCH", "HOLDER", "STATE", "RENEWALS", "SINCE",
                                        "RENEWED_AT"};
  mtq_table_t *t = mtq_table_new(6, headers);
  bson_iter_t it, arr;
  bson_t rec;
  bool first = true;
  if (bson_iter_init_find(&it, &out, "leaders") && bson_iter_recurse(&it, &arr)) {
    while (mtq_bson_next_doc(&arr, &rec)) {
      bson_iter_t f;
      char epoch[24] = "?", renewals[24] = "0", since[32] = "-", renewed[32] = "-";
      const char *holder = "";
      bool resigned = false;
      if (bson_iter_init_find(&f, &rec, "_id") && BSON_ITER_HOLDS_NUMBER(&f)) {
        snprintf(epoch, sizeof epoch, "%lld", (long long)bson_iter_as_int64(&f));
      }
      if (bson_iter_init_find(&f, &rec, "holder") && BSON_ITER_HOLDS_UTF8(&f)) {
        holder = bson_iter_utf8(&f, NULL);
      }
      if (bson_iter_init_find(&f, &rec, "renewals") && BSON_ITER_HOLDS_NUMBER(&f)) {
        snprintf(renewals, sizeof renewals, "%lld", (long long)bson_iter_as_int64(&f));
      }
      if (bson_iter_init_find(&f, &rec, "at") && BSON_ITER_HOLDS_DATE_TIME(&f)) {
        mtq_cli_format_time(bson_iter_date_time(&f), since, sizeof since);
      }
      if (bson_iter_init_find(&f, &rec, "renewed_at") && BSON_ITER_HOLDS_DATE_TIME(&f)) {
        mtq_cli_format_time(bson_iter_date_time(&f), renewed, sizeof renewed);
      }
      resigned = bson_iter_init_find(&f, &rec, "resigned") && BSON_ITER_HOLDS_BOOL(&f) &&
                 bson_iter_bool(&f);
      const char *state = resigned ? "resigned" : first ? "leader" : "past";
      const char *row[] = {epoch, holder[0] ? holder : "-", state, renewals, since, renewed};
      mtq_table_add(t, row);
      first = false;
    }
  }
  mtq_table_print(t, stdout);
  mtq_table_destroy(t);
  bson_destroy(&out);
  return MTQ_CLI_OK;
}
