/* cmd_flow.c - mtq flow submit, show, ls and cancel: flows of steps, which
 * mtqd drives (server/flows.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A flow file is JSON: its steps' args are in it, 1 MiB each at most. */
#define FLOW_FILE_MAX_BYTES (64 * 1024 * 1024)
#define LS_DEFAULT_LIMIT 50

static const char flow_help[] =
    "usage: mtq flow submit FILE|-\n"
    "       mtq flow show ID [--history]\n"
    "       mtq flow ls [--all] [--limit N]\n"
    "       mtq flow cancel ID\n"
    "       mtq flow suspend ID    (its running steps' tasks suspended, no step started)\n"
    "       mtq flow resume ID\n"
    "\n"
    "A flow is a JSON document of named steps; mtqd starts each step when the\n"
    "steps it comes after have ended, and prints nothing: mtq flow show says\n"
    "where it stands.  submit prints the flow's id.\n"
    "\n"
    "  {\"name\": \"nightly\", \"channel\": \"default\",\n"
    "   \"steps\": [\n"
    "     {\"name\": \"prep\", \"func\": \"prep\", \"args\": {\"day\": \"2026-12-04\"}},\n"
    "     {\"name\": \"predict\", \"func\": \"predict\", \"after\": \"prep\", \"shards\": 20},\n"
    "     {\"name\": \"merge\", \"func\": \"merge\", \"after\": [\"predict\"], \"tolerance\": 0.1},\n"
    "     {\"name\": \"submit\", \"func\": \"submit\", \"after\": \"merge\", \"delay\": 60}]}\n"
    "\n"
    "A step takes mtq enqueue's options under their names (func, version, args,\n"
    "channel, priority, timeout, max-attempts, force, ...; not dedupe-key or\n"
    "wait); those at the top are every step's defaults.  Its own keys:\n"
    "  name        1-64 of A-Z a-z 0-9 _ . -, unique in the flow\n"
    "  after       a step name or a list of them: it starts once they have ended\n"
    "  delay       seconds after they ended\n"
    "  shards      N tasks (1..10000), each given shard (0..N-1) and shards (N) in\n"
    "              its args and as MTQ_SHARD, MTQ_SHARDS in its environment\n"
    "  tolerance   the share (0..1) of a parent's shards that may fail: the step\n"
    "              still starts once at least ceil(N * (1 - tolerance)) are done\n"
    "              and the rest have ended; without it one failed shard fails\n"
    "              the flow\n"
    "A step with parents gets their outcomes in its args, under \"parents\":\n"
    "{\"STEP\": {\"shards\": N, \"done\": D, \"missing\": [shard...], \"results\":\n"
    "[{\"shard\": K, \"task\": ID, \"status\": S, \"result\": {...}}]}} (results beyond\n"
    "64 KiB each, or 768 KiB in all, by task id only: results_inline false).\n"
    "\n"
    "  --history   show: the flow's audit trail too\n"
    "  --all       ls: ended flows too (default: those not ended)\n"
    "  --limit N   ls: at most N flows, newest first (default 50)\n";

/* --- submit ------------------------------------------------------------------------ */

/* The step's own keys, beside enqueue's options. */
static bool step_key(mtq_step_t *s, bson_t *after, const bson_iter_t *it, bool *taken,
                     char *why, size_t size) {
  const char *key = bson_iter_key(it);
  *taken = true;
  if (strcmp(key, "name") == 0) {
    if (!BSON_ITER_HOLDS_UTF8(it) || bson_iter_utf8_len_unsafe(it) > MTQ_NAME_MAX) {
      snprintf(why, size, "name must be a string of 1-64 of A-Z a-z 0-9 _ . -");
      return false;
    }
    bson_strncpy(s->name, bson_iter_utf8(it, NULL), sizeof s->name);
  } else if (strcmp(key, "after") == 0) {
    bson_iter_t arr;
    if (BSON_ITER_HOLDS_UTF8(it)) {
      BSON_APPEND_UTF8(after, "0", bson_iter_utf8(it, NULL));
    } else if (BSON_ITER_HOLDS_ARRAY(it) && bson_iter_recurse(it, &arr)) {
      while (bson_iter_next(&arr)) {
        char k[16];
        const char *kk;
        if (!BSON_ITER_HOLDS_UTF8(&arr)) {
          snprintf(why, size, "after must be a step name or a list of them");
          return false;
        }
        bson_uint32_to_string(bson_count_keys(after), &kk, k, sizeof k);
        BSON_APPEND_UTF8(after, kk, bson_iter_utf8(&arr, NULL));
      }
    } else {
      snprintf(why, size, "after must be a step name or a list of them");
      return false;
    }
  } else if (strcmp(key, "shards") == 0) {
    if (!(BSON_ITER_HOLDS_INT32(it) || BSON_ITER_HOLDS_INT64(it)) ||
        bson_iter_as_int64(it) < 1 || bson_iter_as_int64(it) > MTQ_FLOW_SHARDS_MAX) {
      snprintf(why, size, "shards must be a whole number from 1 to %d", MTQ_FLOW_SHARDS_MAX);
      return false;
    }
    s->shards = (int32_t)bson_iter_as_int64(it);
  } else if (strcmp(key, "tolerance") == 0) {
    if (!BSON_ITER_HOLDS_NUMBER(it) || bson_iter_as_double(it) < 0 ||
        bson_iter_as_double(it) > 1) {
      snprintf(why, size, "tolerance must be a number from 0 to 1");
      return false;
    }
    s->tolerance = bson_iter_as_double(it);
  } else {
    *taken = false;
  }
  return true;
}

/* One enqueue option at it into e; dedupe-key and wait are the flow's own
 * business. */
static bool option_key(mtq_cli_enqueue_t *e, const bson_iter_t *it, char **args_json, char *why,
                       size_t size) {
  mtq_cli_value_t kind;
  int code = mtq_cli_enqueue_code(bson_iter_key(it), &kind);
  if (!code) {
    snprintf(why, size, "unknown key '%s'", bson_iter_key(it));
    return false;
  }
  if (code == 'k' || code == 'w') {
    snprintf(why, size, "%s is not an option of a flow step (each shard has its own dedupe key)",
             bson_iter_key(it));
    return false;
  }
  return mtq_cli_enqueue_set_json(e, code, kind, it, args_json, why, size);
}

/* The keys of the template's args that the flow adds itself. */
static bool args_clash(const bson_t *args, char *why, size_t size) {
  static const char *const ours[] = {"shard", "shards", "parents"};
  for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) {
    if (bson_has_field(args, ours[i])) {
      snprintf(why, size, "args may not hold '%s': the flow gives it", ours[i]);
      return true;
    }
  }
  return false;
}

/* Reads step doc over the defaults into s and its template. */
static bool read_step(mtq_cli_t *cli, mtq_step_t *s, const bson_t *doc,
                      const mtq_cli_enqueue_t *defaults, bson_t *after, char *why, size_t size) {
  mtq_cli_enqueue_t e = *defaults;
  char *args_json = NULL;
  bson_iter_t it;
  bool ok = bson_iter_init(&it, doc);
  while (ok && bson_iter_next(&it)) {
    bool taken;
    ok = step_key(s, after, &it, &taken, why, size) &&
         (taken || option_key(&e, &it, &args_json, why, size));
  }
  if (ok && !s->name[0]) {
    snprintf(why, size, "a step has no name");
    ok = false;
  }
  if (ok && (!e.o.channel || !e.o.func)) {
    snprintf(why, size, "no %s: give it in the step or at the top", e.o.channel ? "func" : "channel");
    ok = false;
  }
  mtq_task_t t;
  mtq_task_init(&t);
  bson_error_t err;
  bool served = true;
  if (ok) {
    mtq_cli_enqueue_finish(&e);
    ok = mtq_task_build(&t, &e.o, mtq_now_ms(), &err);
    if (!ok) {
      snprintf(why, size, "%s", err.message);
    }
  }
  ok = ok && !args_clash(t.args, why, size);
  if (ok && (!mtq_store_check_channel(cli->store, t.channel, &err) ||
             (e.o.require_served &&
              !mtq_store_function_served(cli->store, t.channel, t.func, t.version, &served,
                                         &err)))) {
    snprintf(why, size, "%s", err.message);
    ok = false;
  } else if (ok && !served) {
    snprintf(why, size, "no worker serves function '%s' version %s on channel '%s' (\"force\": "
             "true submits it anyway)", t.func, t.version, t.channel);
    ok = false;
  }
  if (ok) {
    s->task = bson_new();
    mtq_task_to_bson(&t, s->task);
  }
  mtq_task_cleanup(&t);
  bson_free(args_json);
  return ok;
}

/* The steps' parents by name (afters[i] for step i), into indexes. */
static bool link_steps(mtq_flow_t *f, bson_t *afters, char *why, size_t size) {
  for (size_t i = 0; i < f->n_steps; i++) {
    bson_iter_t it;
    mtq_step_t *s = &f->steps[i];
    bson_iter_init(&it, &afters[i]);
    while (bson_iter_next(&it)) {
      long p = mtq_flow_step_index(f, bson_iter_utf8(&it, NULL));
      if (p < 0) {
        snprintf(why, size, "step %s: comes after '%s', which is no step of the flow", s->name,
                 bson_iter_utf8(&it, NULL));
        return false;
      }
      if (s->n_after == MTQ_FLOW_AFTER_MAX) {
        snprintf(why, size, "step %s: comes after more than %d steps", s->name,
                 MTQ_FLOW_AFTER_MAX);
        return false;
      }
      s->after[s->n_after++] = (size_t)p;
    }
  }
  return true;
}

/* The flow of doc, every step checked as its enqueue would be. */
static bool read_flow(mtq_cli_t *cli, const bson_t *doc, mtq_flow_t *f, char *why, size_t size) {
  mtq_cli_enqueue_t defaults = {0};
  char *args_json = NULL;
  bson_iter_t it, steps;
  bool have_steps = false, ok = bson_iter_init(&it, doc);
  while (ok && bson_iter_next(&it)) {
    const char *key = bson_iter_key(&it);
    if (strcmp(key, "name") == 0) {
      ok = BSON_ITER_HOLDS_UTF8(&it) && bson_iter_utf8_len_unsafe(&it) <= MTQ_NAME_MAX &&
           mtq_name_valid(bson_iter_utf8(&it, NULL));
      if (ok) {
        bson_strncpy(f->name, bson_iter_utf8(&it, NULL), sizeof f->name);
      } else {
        snprintf(why, size, "name must be 1-64 of A-Z a-z 0-9 _ . -");
      }
    } else if (strcmp(key, "steps") == 0) {
      ok = BSON_ITER_HOLDS_ARRAY(&it) && bson_iter_recurse(&it, &steps);
      have_steps = ok;
      if (!ok) {
        snprintf(why, size, "steps must be a list of steps");
      }
    } else {
      ok = option_key(&defaults, &it, &args_json, why, size);
    }
  }
  if (ok && !have_steps) {
    snprintf(why, size, "no steps");
    ok = false;
  }
  bson_t *afters = bson_malloc0((MTQ_FLOW_STEPS_MAX + 1) * sizeof *afters);
  bson_t step;
  while (ok && bson_iter_next(&steps)) {
    if (f->n_steps == MTQ_FLOW_STEPS_MAX || !BSON_ITER_HOLDS_DOCUMENT(&steps)) {
      snprintf(why, size, "steps must be at most %d objects", MTQ_FLOW_STEPS_MAX);
      ok = false;
      break;
    }
    uint32_t len;
    const uint8_t *data;
    bson_iter_document(&steps, &len, &data);
    bson_init_static(&step, data, len);
    size_t i = f->n_steps;
    bson_init(&afters[i]);
    mtq_step_t *s = mtq_flow_add_step(f);
    char inner[700];
    if (!read_step(cli, s, &step, &defaults, &afters[i], inner, sizeof inner)) {
      if (s->name[0]) {
        snprintf(why, size, "step %s: %s", s->name, inner);
      } else {
        snprintf(why, size, "step %zu: %s", i + 1, inner);
      }
      ok = false;
    }
  }
  ok = ok && link_steps(f, afters, why, size);
  for (size_t i = 0; i < f->n_steps; i++) {
    bson_destroy(&afters[i]);
  }
  bson_free(afters);
  bson_free(args_json);
  bson_error_t err;
  if (ok && !mtq_flow_validate(f, &err)) {
    snprintf(why, size, "%s", err.message);
    ok = false;
  }
  return ok;
}

/* Reads the whole of path ("-": stdin); NULL when it cannot (said). */
static char *read_all(const char *path, size_t *len) {
  FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  if (!in) {
    fprintf(stderr, "mtq: cannot open %s: %s\n", path, strerror(errno));
    return NULL;
  }
  size_t cap = 65536, n = 0, r;
  char *buf = bson_malloc(cap);
  while ((r = fread(buf + n, 1, cap - n - 1, in)) > 0) {
    n += r;
    if (n > FLOW_FILE_MAX_BYTES) {
      fprintf(stderr, "mtq: %s: larger than %d bytes\n", path, FLOW_FILE_MAX_BYTES);
      bson_free(buf);
      buf = NULL;
      break;
    }
    if (cap - n - 1 == 0) {
      cap *= 2;
      buf = bson_realloc(buf, cap);
    }
  }
  if (buf && ferror(in)) {
    fprintf(stderr, "mtq: cannot read %s\n", path);
    bson_free(buf);
    buf = NULL;
  }
  if (in != stdin) {
    fclose(in);
  }
  if (buf) {
    buf[n] = '\0';
    *len = n;
  }
  return buf;
}

int mtq_cli_flow_load(mtq_cli_t *cli, const char *path, mtq_flow_t *f) {
  size_t len = 0;
  char *text = read_all(path, &len);
  if (!text) {
    return MTQ_CLI_FAILED;
  }
  bson_t doc;
  bson_error_t err;
  char why[900];
  int rc;
  if (!mtq_json_to_doc(text, len, FLOW_FILE_MAX_BYTES, &doc, &err)) {
    fprintf(stderr, "mtq: %s: %s\n", path, err.message);
    rc = MTQ_CLI_FAILED;
  } else if ((rc = mtq_cli_open(cli)) == MTQ_CLI_OK && !read_flow(cli, &doc, f, why, sizeof why)) {
    fprintf(stderr, "mtq: %s: %s (nothing submitted)\n", path, why);
    rc = MTQ_CLI_FAILED;
  }
  bson_destroy(&doc);
  bson_free(text);
  return rc;
}

static int flow_submit(mtq_cli_t *cli, int argc, char **argv) {
  int rc = mtq_cli_plain_args(cli, argc, argv, flow_help, 1, "the flow's FILE (or -)");
  if (rc) {
    return rc == MTQ_CLI_DONE ? MTQ_CLI_OK : rc;
  }
  bson_error_t err;
  mtq_flow_t f;
  mtq_flow_init(&f);
  if ((rc = mtq_cli_flow_load(cli, argv[optind], &f)) == MTQ_CLI_OK) {
    bson_oid_init(&f.id, NULL);
    f.created_at = mtq_now_ms();
    if (!mtq_store_flow_submit(cli->store, &f, MTQ_CLI_ACTOR, &err)) {
      rc = mtq_cli_fail(cli, &err, "cannot submit the flow");
    } else {
      char hex[25];
      bson_oid_to_string(&f.id, hex);
      if (cli->json) {
        printf("{\"id\": \"%s\"}\n", hex);
      } else {
        puts(hex);
      }
    }
  }
  mtq_flow_cleanup(&f);
  return rc;
}

/* --- show ---------------------------------------------------------------------------- */

static void took(const mtq_step_t *s, int64_t now, char *buf, size_t size) {
  if (!s->started_at) {
    snprintf(buf, size, "-");
    return;
  }
  mtq_cli_format_ms((double)((s->ended_at ? s->ended_at : now) - s->started_at), buf, size);
}

static void note_of(const mtq_flow_t *f, const mtq_step_t *s, char *buf, size_t size) {
  size_t off = 0;
  buf[0] = '\0';
  if (s->n_after > 1 || s->tolerance > 0) {
    off += (size_t)snprintf(buf + off, size - off, "after ");
    for (size_t k = 0; k < s->n_after && off < size; k++) {
      off += (size_t)snprintf(buf + off, size - off, "%s%s", k ? ", " : "",
                              f->steps[s->after[k]].name);
    }
    if (s->tolerance > 0 && off < size) {
      off += (size_t)snprintf(buf + off, size - off, " (tolerance %g)", s->tolerance);
    }
  }
  if (s->error && off < size) {
    snprintf(buf + off, size - off, "%s%s", off ? "; " : "", s->error);
  }
}

/* Adds step i and, below it, the steps whose first parent it is. */
static void add_tree(const mtq_flow_t *f, size_t i, int depth, bool *shown, int64_t now,
                     mtq_table_t *t) {
  const mtq_step_t *s = &f->steps[i];
  shown[i] = true;
  char name[MTQ_NAME_MAX + 80], shards[48], started[32], dur[32], note[1024];
  int off = 0;
  for (int d = 1; d < depth && off < 60; d++) {
    off += snprintf(name + off, sizeof name - (size_t)off, "   ");
  }
  snprintf(name + off, sizeof name - (size_t)off, "%s%s", depth ? "`- " : "", s->name);
  if (s->state == MTQ_STEP_WAITING) {
    snprintf(shards, sizeof shards, "0/%d", s->shards);
  } else if (s->shards_failed) {
    snprintf(shards, sizeof shards, "%d/%d (%d failed)", s->shards_done, s->shards,
             s->shards_failed);
  } else {
    snprintf(shards, sizeof shards, "%d/%d", s->shards_done, s->shards);
  }
  mtq_cli_format_time(s->started_at, started, sizeof started);
  took(s, now, dur, sizeof dur);
  note_of(f, s, note, sizeof note);
  const char *row[] = {name, mtq_step_state_name(s->state), shards, started, dur, note};
  mtq_table_add(t, row);
  for (size_t c = 0; c < f->n_steps; c++) {
    if (!shown[c] && f->steps[c].n_after && f->steps[c].after[0] == i) {
      add_tree(f, c, depth + 1, shown, now, t);
    }
  }
}

static void print_flow(const mtq_flow_t *f) {
  char hex[25], created[32], dur[32];
  bson_oid_to_string(&f->id, hex);
  mtq_cli_format_time(f->created_at, created, sizeof created);
  int64_t now = mtq_now_ms();
  mtq_cli_format_ms((double)((f->finished_at ? f->finished_at : now) - f->created_at), dur,
                    sizeof dur);
  size_t done = 0;
  for (size_t i = 0; i < f->n_steps; i++) {
    done += f->steps[i].state == MTQ_STEP_DONE;
  }
  printf("flow %s%s%s: %s, %zu of %zu steps done, created %s, %s%s\n", hex, f->name[0] ? " " : "",
         f->name, mtq_flow_state_name(f->status), done, f->n_steps, created,
         f->finished_at ? "took " : "running for ", dur);
  if (f->reason) {
    printf("reason: %s\n", f->reason);
  }
  static const char *const headers[] = {"STEP", "STATE", "SHARDS", "STARTED", "TOOK", "NOTE"};
  mtq_table_t *t = mtq_table_new(6, headers);
  bool *shown = bson_malloc0(f->n_steps + 1);
  for (size_t i = 0; i < f->n_steps; i++) {
    if (!shown[i] && f->steps[i].n_after == 0) {
      add_tree(f, i, 0, shown, now, t);
    }
  }
  mtq_table_print(t, stdout);
  mtq_table_destroy(t);
  bson_free(shown);
}

static void print_history(const bson_t *h) {
  bson_iter_t it, arr;
  bson_t ev;
  if (!bson_iter_init_find(&it, h, "events") || !bson_iter_recurse(&it, &arr)) {
    return;
  }
  puts("history:");
  while (mtq_bson_next_doc(&arr, &ev)) {
    bson_iter_t f;
    char at[32] = "-";
    if (bson_iter_init_find(&f, &ev, "at") && BSON_ITER_HOLDS_DATE_TIME(&f)) {
      mtq_cli_format_time(bson_iter_date_time(&f), at, sizeof at);
    }
#define STR(k) (bson_iter_init_find(&f, &ev, k) && BSON_ITER_HOLDS_UTF8(&f) ? bson_iter_utf8(&f, NULL) : "")
    const char *step = STR("step");
    printf("  %s  %-10s %s -> %s by %s", at, step[0] ? step : "(flow)", STR("from"), STR("to"),
           STR("by"));
    const char *why = STR("why");
    if (why[0]) {
      printf(": %s", why);
    }
#undef STR
    putchar('\n');
  }
}

static int flow_show(mtq_cli_t *cli, int argc, char **argv) {
  static const struct option longopts[] = {
      {"history", no_argument, NULL, 'H'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  bool history = false;
  int c;
  while ((c = mtq_cli_getopt(cli, argc, argv, ":h", longopts)) != -1) {
    if (c == 'h') {
      fputs(flow_help, stdout);
      return MTQ_CLI_OK;
    }
    if (c != 'H') {
      return MTQ_CLI_USAGE;
    }
    history = true;
  }
  bson_oid_t id;
  int rc = mtq_cli_positional(cli, argc, argv, 1, "flow ID");
  if (rc || (rc = mtq_cli_parse_id(cli, argv[optind], &id)) || (rc = mtq_cli_open(cli))) {
    return rc;
  }
  mtq_flow_t f;
  mtq_flow_init(&f);
  bson_error_t err;
  bson_t h = BSON_INITIALIZER;
  if (!mtq_store_flow_get(cli->store, &id, &f, &err) ||
      (history && !mtq_store_flow_history(cli->store, &id, &h, &err))) {
    bson_destroy(&h);
    mtq_flow_cleanup(&f);
    return mtq_cli_fail(cli, &err, NULL);
  }
  if (cli->json) {
    bson_t doc = BSON_INITIALIZER;
    mtq_flow_to_bson(&f, &doc);
    bson_iter_t it;
    if (history && bson_iter_init_find(&it, &h, "events")) {
      bson_append_iter(&doc, "history", -1, &it);
    }
    mtq_cli_print_doc(&doc, stdout);
    bson_destroy(&doc);
  } else {
    print_flow(&f);
    if (history) {
      print_history(&h);
    }
  }
  bson_destroy(&h);
  mtq_flow_cleanup(&f);
  return MTQ_CLI_OK;
}

/* --- ls, cancel --------------------------------------------------------------------- */

static int flow_ls(mtq_cli_t *cli, int argc, char **argv) {
  static const struct option longopts[] = {{"all", no_argument, NULL, 'a'},
                                           {"limit", required_argument, NULL, 'l'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
  bool all = false;
  int64_t limit = LS_DEFAULT_LIMIT;
  int c;
  while ((c = mtq_cli_getopt(cli, argc, argv, ":h", longopts)) != -1) {
    if (c == 'h') {
      fputs(flow_help, stdout);
      return MTQ_CLI_OK;
    }
    if (c == 'a') {
      all = true;
    } else if (c == 'l') {
      if (!mtq_cli_parse_int(optarg, 1, 100000, &limit)) {
        return mtq_cli_usage(cli, "--limit must be a whole number from 1 to 100000, not '%s'",
                             optarg);
      }
    } else {
      return MTQ_CLI_USAGE;
    }
  }
  int rc = mtq_cli_positional(cli, argc, argv, 0, "");
  if (rc || (rc = mtq_cli_open(cli))) {
    return rc;
  }
  mtq_flow_t *list = NULL;
  size_t n = 0;
  bson_error_t err;
  if (!mtq_store_flows(cli->store, !all, (size_t)limit, &list, &n, &err)) {
    return mtq_cli_fail(cli, &err, "cannot read the flows");
  }
  static const char *const headers[] = {"ID", "NAME", "STATUS", "STEPS_DONE", "CREATED", "ENDED"};
  mtq_table_t *t = mtq_table_new(6, headers);
  for (size_t i = 0; i < n; i++) {
    const mtq_flow_t *f = &list[i];
    if (cli->json) {
      bson_t doc = BSON_INITIALIZER;
      mtq_flow_to_bson(f, &doc);
      mtq_cli_print_doc(&doc, stdout);
      bson_destroy(&doc);
      continue;
    }
    char hex[25], steps[32], created[32], ended[32];
    bson_oid_to_string(&f->id, hex);
    size_t done = 0;
    for (size_t k = 0; k < f->n_steps; k++) {
      done += f->steps[k].state == MTQ_STEP_DONE;
    }
    snprintf(steps, sizeof steps, "%zu/%zu", done, f->n_steps);
    mtq_cli_format_time(f->created_at, created, sizeof created);
    mtq_cli_format_time(f->finished_at, ended, sizeof ended);
    const char *row[] = {hex, f->name[0] ? f->name : "-", mtq_flow_state_name(f->status), steps,
                         created, ended};
    mtq_table_add(t, row);
  }
  if (!cli->json) {
    mtq_table_print(t, stdout);
  }
  mtq_table_destroy(t);
  mtq_flow_list_free(list, n);
  return MTQ_CLI_OK;
}

/* cancel, suspend, resume: one flow id. */
static int flow_change(mtq_cli_t *cli, int argc, char **argv, const char *what) {
  bson_oid_t id;
  int rc = mtq_cli_plain_args(cli, argc, argv, flow_help, 1, "flow ID");
  if (rc || (rc = mtq_cli_parse_id(cli, argv[optind], &id)) || (rc = mtq_cli_open(cli))) {
    return rc == MTQ_CLI_DONE ? MTQ_CLI_OK : rc;
  }
  bson_error_t err;
  bool ok = strcmp(what, "cancel") == 0
                ? mtq_store_flow_cancel(cli->store, &id, MTQ_CLI_ACTOR, &err)
                : mtq_store_flow_suspend(cli->store, &id, strcmp(what, "suspend") == 0,
                                         MTQ_CLI_ACTOR, &err);
  if (!ok) {
    return mtq_cli_fail(cli, &err, NULL);
  }
  puts(cli->json ? "{\"ok\": true}" : "ok");
  return MTQ_CLI_OK;
}

int mtq_cmd_flow(mtq_cli_t *cli, int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    fputs(flow_help, argc < 2 ? stderr : stdout);
    return argc < 2 ? MTQ_CLI_USAGE : MTQ_CLI_OK;
  }
  const char *sub = argv[1];
  argc--;
  argv++;
  optind = 0;
  if (strcmp(sub, "submit") == 0) {
    return flow_submit(cli, argc, argv);
  }
  if (strcmp(sub, "show") == 0) {
    return flow_show(cli, argc, argv);
  }
  if (strcmp(sub, "ls") == 0) {
    return flow_ls(cli, argc, argv);
  }
  if (strcmp(sub, "cancel") == 0 || strcmp(sub, "suspend") == 0 || strcmp(sub, "resume") == 0) {
    return flow_change(cli, argc, argv, sub);
  }
  return mtq_cli_usage(cli,
                       "unknown flow command '%s' (submit, show, ls, cancel, suspend, resume)",
                       sub);
}
