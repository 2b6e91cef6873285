/* cmd_functions.c - mtq functions: the function registry, every function
 * version the workers loaded, who serves it, and the versions tasks want
 * that nobody serves (common/include/mtq_function.h). */
#include <string.h>

#include "cli.h"

static const char functions_help[] =
    "usage: mtq functions\n"
    "\n"
    "Lists every function version a worker has loaded (from its INI file or its\n"
    "function_dir), by name and version: its digest (SHA-256 of the files it\n"
    "runs, shortened; DIFFERS when workers run different files under one\n"
    "version), when it last changed, the workers that serve it (* live: running\n"
    "and announcing it now), its developer and description.  A version that\n"
    "tasks want and no live worker serves is listed as MISSING, and explained\n"
    "below the table: which worker wants it, in which channel, since when, its\n"
    "last sync and why the version is not there.  Such tasks stay queued.\n"
    "--json: one object per version, with every worker's digest.\n";

static const char *text_at(const bson_t *doc, const char *key) {
  bson_iter_t it;
  return bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it)
             ? bson_iter_utf8(&it, NULL)
             : NULL;
}

static int64_t date_at(const bson_t *doc, const char *key) {
  bson_iter_t it;
  return bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_DATE_TIME(&it)
             ? bson_iter_date_time(&it)
             : 0;
}

static bool bool_at(const bson_t *doc, const char *key) {
  bson_iter_t it;
  return bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
}

/* The documents of the array under key, one call each. */
static void each_of(const bson_t *doc, const char *key, void (*fn)(void *, const bson_t *),
                    void *data) {
  bson_iter_t it, child;
  if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_ARRAY(&it) ||
      !bson_iter_recurse(&it, &child)) {
    return;
  }
  bson_t one;
  while (mtq_bson_next_doc(&child, &one)) {
    fn(data, &one);
  }
}

static void add_worker(void *data, const bson_t *w) {
  bson_string_t *s = data;
  const char *id = text_at(w, "id");
  bson_string_append_printf(s, "%s%s%s", s->len ? ", " : "", id ? id : "?",
                            bool_at(w, "live") ? "*" : "");
}

static void add_missing_count(void *data, const bson_t *m) { (*(int *)data)++; }

static void add_row(mtq_table_t *table, const bson_t *f) {
  bson_string_t *workers = bson_string_new(NULL);
  each_of(f, "workers", add_worker, workers);
  int missing = 0;
  each_of(f, "missing", add_missing_count, &missing);
  const char *digest = text_at(f, "digest");
  char shortd[16] = "-", updated[32], who[256] = "-";
  if (digest) {
    bson_snprintf(shortd, sizeof shortd, "%.12s", bool_at(f, "digests_agree") ? digest : "DIFFERS");
  }
  mtq_cli_format_time(date_at(f, "updated_at"), updated, sizeof updated);
  const char *dev = text_at(f, "developer"), *contact = text_at(f, "contact");
  if (dev || contact) {
    bson_snprintf(who, sizeof who, "%s%s%s%s", dev ? dev : "", dev && contact ? " <" : "",
                  contact ? contact : "", dev && contact ? ">" : "");
  }
  const char *desc = text_at(f, "description");
  const char *row[] = {text_at(f, "name"),
                       text_at(f, "version"),
                       missing ? "MISSING" : shortd,
                       updated,
                       workers->len ? workers->str : "-",
                       who,
                       desc ? desc : "-"};
  mtq_table_add(table, row);
  bson_string_free(workers, true);
}

static void print_missing(void *data, const bson_t *m) {
  const bson_t *f = data;
  char since[32], sync[32];
  mtq_cli_format_time(date_at(m, "since"), since, sizeof since);
  mtq_cli_format_time(date_at(m, "last_sync_at"), sync, sizeof sync);
  bson_iter_t it;
  int64_t seen = bson_iter_init_find(&it, m, "tasks_seen") && BSON_ITER_HOLDS_NUMBER(&it)
                     ? bson_iter_as_int64(&it)
                     : 0;
  const char *why = text_at(m, "why");
  printf("MISSING %s version %s: no live worker serves it; wanted by %s for %lld task(s) seen in "
         "channel %s since %s, last sync %s: %s\n",
         text_at(f, "name"), text_at(f, "version"), text_at(m, "worker"),
         (long long)seen, text_at(m, "channel") ? text_at(m, "channel") : "?", since, sync,
         why ? why : "-");
}

int mtq_cmd_functions(mtq_cli_t *cli, int argc, char **argv) {
  int rc = mtq_cli_plain_args(cli, argc, argv, functions_help, 0, "");
  if (rc || (rc = mtq_cli_open(cli))) {
    return rc == MTQ_CLI_DONE ? MTQ_CLI_OK : rc;
  }
  bson_t reg;
  bson_error_t error;
  if (!mtq_store_functions(cli->store, &reg, &error)) {
    bson_destroy(&reg);
    return mtq_cli_fail(cli, &error, "cannot read the function registry");
  }
  if (cli->json) {
    mtq_cli_print_array(&reg, "functions", stdout);
    bson_destroy(&reg);
    return MTQ_CLI_OK;
  }
  static const char *const headers[] = {"FUNCTION", "VERSION",   "DIGEST",     "UPDATED",
                                        "WORKERS",  "DEVELOPER", "DESCRIPTION"};
  mtq_table_t *table = mtq_table_new(7, headers);
  bson_iter_t it, child;
  bson_t f;
  if (bson_iter_init_find(&it, &reg, "functions") && bson_iter_recurse(&it, &child)) {
    while (mtq_bson_next_doc(&child, &f)) {
      add_row(table, &f);
    }
  }
  mtq_table_print(table, stdout);
  if (mtq_table_rows(table) > 0) {
    printf("(* live: running and announcing that version now)\n");
  }
  mtq_table_destroy(table);
  if (bson_iter_init_find(&it, &reg, "functions") && bson_iter_recurse(&it, &child)) {
    while (mtq_bson_next_doc(&child, &f)) {
      each_of(&f, "missing", print_missing, &f);
    }
  }
  bson_destroy(&reg);
  return MTQ_CLI_OK;
}
