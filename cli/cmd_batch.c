/* cmd_batch.c - mtq enqueue --batch FILE|-: many tasks, one JSON object a
 * line, each a task's options (enqueue_opts.c), enqueued many per round
 * trip.
 *
 * Two passes, so that a bad line costs nothing: the first reads every line,
 * checks it as mtq enqueue would check its flags (the names, the values,
 * then mtq_task_build) and copies the input into a temporary file; only
 * when every line is good does the second read that copy back and enqueue
 * it, CHUNK_LINES tasks per mtq_client_enqueue_many.  The copy is what lets
 * stdin be read twice, and what makes the tasks enqueued the very lines
 * checked even when FILE changes meanwhile.  Either pass holds one line, or
 * one chunk, in memory at a time, whatever the length of the input. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* Tasks per mtq_client_enqueue_many: enough that the round trips are few,
 * few enough that the first ids show soon. */
#define CHUNK_LINES 1000
/* A line holds the args (at most MTQ_ARGS_MAX_BYTES as BSON) and the
 * other options; JSON text may be larger than its BSON form. */
#define LINE_MAX_BYTES (4 * MTQ_ARGS_MAX_BYTES)

/* One task line: its options and what their strings point into. */
typedef struct {
  size_t lineno;
  bson_t doc;      /* the line, parsed: text options borrow from it */
  char *args_json; /* its args printed back to JSON, owned; NULL: the default's */
  mtq_cli_enqueue_t e;
} line_t;

/* The input, line by line, with the numbers of its lines. */
typedef struct {
  FILE *in;
  const char *name; /* as given, "-" for stdin: the FILE of "FILE:N: why" */
  char *buf;        /* getline's, owned */
  size_t cap;
  size_t lineno;
} reader_t;

/* What the second pass did, for the summary and the exit status. */
typedef struct {
  size_t in, existing, refused, untried;
  size_t first_untried, last_untried; /* line numbers */
  bool unreachable; /* the database went away: the rest is not tried */
} tally_t;

static void reader_cleanup(reader_t *r) { free(r->buf); }

/* The next line that is a task's (neither blank nor a # comment) into
 * *text, *len (without its line end); false at the end of the input or on
 * an error (ferror(r->in) tells).  copy, when not NULL, receives every line
 * as read. */
static bool next_task_line(reader_t *r, FILE *copy, const char **text, size_t *len) {
  ssize_t n;
  while ((n = getline(&r->buf, &r->cap, r->in)) >= 0) {
    r->lineno++;
    if (copy) {
      fwrite(r->buf, 1, (size_t)n, copy);
    }
    size_t l = (size_t)n;
    while (l > 0 && (r->buf[l - 1] == '\n' || r->buf[l - 1] == '\r')) {
      l--;
    }
    size_t lead = strspn(r->buf, " \t");
    if (lead >= l || r->buf[lead] == '#') {
      continue;
    }
    *text = r->buf;
    *len = l;
    return true;
  }
  return false;
}

static void line_cleanup(line_t *l) {
  bson_destroy(&l->doc);
  bson_free(l->args_json);
  l->args_json = NULL;
}

/* Parses one task line over the command line's options into l (which the
 * caller cleans up, whatever the outcome); false with why, a message
 * without the file and line, when the line is bad. */
static bool line_parse(line_t *l, const char *text, size_t len, const mtq_cli_enqueue_t *defaults,
                       char *why, size_t size) {
  l->e = *defaults;
  l->args_json = NULL;
  bson_error_t error;
  if (!mtq_json_to_doc(text, len, LINE_MAX_BYTES, &l->doc, &error)) {
    snprintf(why, size, "%s", error.message);
    return false;
  }
  bson_iter_t it;
  if (!bson_iter_init(&it, &l->doc)) {
    snprintf(why, size, "the line does not parse as an object");
    return false;
  }
  while (bson_iter_next(&it)) {
    const char *key = bson_iter_key(&it);
    mtq_cli_value_t kind;
    int code = mtq_cli_enqueue_code(key, &kind);
    if (!code) {
      snprintf(why, size, "unknown key '%s'", key);
      return false;
    }
    if (!mtq_cli_enqueue_set_json(&l->e, code, kind, &it, &l->args_json, why, size)) {
      return false;
    }
  }
  if (!l->e.o.channel || !l->e.o.func) {
    snprintf(why, size, "no %s: give \"%s\" in the line or --%s on the command line",
             l->e.o.channel ? "func" : "channel", l->e.o.channel ? "func" : "channel",
             l->e.o.channel ? "func" : "channel");
    return false;
  }
  mtq_cli_enqueue_finish(&l->e);
  return true;
}

/* The first pass: copies the whole input into spool and checks every task
 * line, as the store's own check would (mtq_task_build), reporting each
 * bad one as "FILE:N: why".  Returns how many were bad, or -1 when the
 * input could not be read or copied (said). */
static long check_pass(reader_t *r, FILE *spool, const mtq_cli_enqueue_t *defaults,
                       size_t *tasks) {
  long bad = 0;
  const char *text;
  size_t len;
  int64_t now = mtq_now_ms();
  *tasks = 0;
  while (next_task_line(r, spool, &text, &len)) {
    (*tasks)++;
    char why[600];
    line_t l;
    bool ok = len <= LINE_MAX_BYTES && line_parse(&l, text, len, defaults, why, sizeof why);
    if (len > LINE_MAX_BYTES) {
      snprintf(why, sizeof why, "the line is longer than %d bytes", LINE_MAX_BYTES);
      bson_init(&l.doc);
      l.args_json = NULL;
    }
    if (ok) {
      mtq_task_t task;
      bson_error_t error;
      mtq_task_init(&task);
      if (!mtq_task_build(&task, &l.e.o, now, &error)) {
        snprintf(why, sizeof why, "%s", error.message);
        ok = false;
      }
      mtq_task_cleanup(&task);
    }
    if (!ok) {
      fprintf(stderr, "%s:%zu: %s\n", r->name, r->lineno, why);
      bad++;
    }
    line_cleanup(&l);
  }
  if (ferror(r->in)) {
    fprintf(stderr, "mtq: cannot read %s: %s\n", r->name, strerror(errno));
    return -1;
  }
  if (fflush(spool) != 0 || ferror(spool)) {
    fprintf(stderr, "mtq: cannot keep a copy of %s in a temporary file: %s\n", r->name,
            strerror(errno));
    return -1;
  }
  return bad;
}

static bool is_full(const mtq_enqueue_result_t *res) {
  return !res->ok && res->error.domain == MTQ_ERROR_DOMAIN && res->error.code == MTQ_ERR_FULL;
}

/* Enqueues n lines in one call; with --wait (a line's or the command
 * line's), those refused because their channel is full are tried again
 * every second until they go in. */
static void send_chunk(mtq_cli_t *cli, const line_t *lines, size_t n,
                       mtq_enqueue_result_t *results, bool *told) {
  mtq_enqueue_opts_t *opts = bson_malloc(n * sizeof *opts);
  mtq_enqueue_result_t *again = bson_malloc(n * sizeof *again);
  size_t *from = bson_malloc(n * sizeof *from);
  for (size_t i = 0; i < n; i++) {
    opts[i] = lines[i].e.o;
  }
  mtq_client_enqueue_many(cli->client, opts, n, results);
  for (;;) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
      if (lines[i].e.wait_for_room && is_full(&results[i])) {
        if (!*told) {
          fprintf(stderr, "mtq: %s; waiting for room\n", results[i].error.message);
          *told = true;
        }
        /* Packed to the front: opts[m] is behind i, already read. */
        opts[m] = lines[i].e.o;
        from[m++] = i;
      }
    }
    if (m == 0) {
      break;
    }
    struct timespec pause = {1, 0};
    nanosleep(&pause, NULL);
    mtq_client_enqueue_many(cli->client, opts, m, again);
    for (size_t k = 0; k < m; k++) {
      results[from[k]] = again[k];
    }
  }
  bson_free(from);
  bson_free(again);
  bson_free(opts);
}

/* Prints what became of one line: stdout its id or "-" (--json: an object),
 * stderr why it did not go in. */
static void report(const mtq_cli_t *cli, const char *name, size_t lineno,
                   const mtq_enqueue_result_t *res, const char *why) {
  char hex[25] = "-";
  if (res && res->ok) {
    bson_oid_to_string(&res->id, hex);
  }
  if (cli->json && res && res->ok) {
    printf("{\"line\": %zu, \"id\": \"%s\", \"existing\": %s}\n", lineno, hex,
           res->existing ? "true" : "false");
  } else if (cli->json) {
    printf("{\"line\": %zu, \"error\": ", lineno);
    mtq_cli_print_json_string(why, stdout);
    fputs("}\n", stdout);
  } else {
    printf("%s\n", hex);
  }
  if (res && !res->ok) {
    const char *hint = res && res->error.domain == MTQ_ERROR_DOMAIN &&
                               res->error.code == MTQ_ERR_NOT_FOUND
                           ? " (see mtq workers; --force or \"force\": true enqueues it anyway)"
                           : "";
    fprintf(stderr, "%s:%zu: %s%s\n", name, lineno, why, hint);
  }
}

/* Sends one chunk (unless the database was found gone), reports each of
 * its lines and cleans them up. */
static void flush_chunk(mtq_cli_t *cli, const char *name, line_t *lines, size_t n,
                        tally_t *t, bool *told) {
  static mtq_enqueue_result_t results[CHUNK_LINES];
  if (n == 0) {
    return;
  }
  if (!t->unreachable) {
    send_chunk(cli, lines, n, results, told);
  }
  for (size_t i = 0; i < n; i++) {
    mtq_enqueue_result_t *res = &results[i];
    if (t->unreachable) {
      /* Said once, in the summary, rather than once a line. */
      if (!t->untried++) {
        t->first_untried = lines[i].lineno;
      }
      t->last_untried = lines[i].lineno;
      report(cli, name, lines[i].lineno, NULL, "not tried: the database is unreachable");
      continue;
    }
    if (res->ok) {
      t->in++;
      t->existing += res->existing;
    } else {
      t->refused++;
    }
    report(cli, name, lines[i].lineno, res, res->error.message);
  }
  /* One unreachable task in a chunk ends the batch: each chunk more would
   * wait out the server selection timeout again, once per task. */
  for (size_t i = 0; i < n && !t->unreachable; i++) {
    t->unreachable = !results[i].ok && mtq_error_is_transient(&results[i].error);
  }
  for (size_t i = 0; i < n; i++) {
    line_cleanup(&lines[i]);
  }
  fflush(stdout);
}

/* The second pass: reads the checked copy back and enqueues it chunk by
 * chunk. */
static void enqueue_pass(mtq_cli_t *cli, reader_t *r, const mtq_cli_enqueue_t *defaults,
                         tally_t *t) {
  static line_t lines[CHUNK_LINES];
  size_t n = 0;
  bool told = false;
  const char *text;
  size_t len;
  char why[600];
  while (next_task_line(r, NULL, &text, &len)) {
    line_t *l = &lines[n];
    l->lineno = r->lineno;
    if (line_parse(l, text, len, defaults, why, sizeof why)) {
      if (++n == CHUNK_LINES) {
        flush_chunk(cli, r->name, lines, n, t, &told);
        n = 0;
      }
      continue;
    }
    /* Checked in the first pass, read back from our own copy: cannot
     * happen short of a broken disk, and is then said like any refusal,
     * after the lines before it. */
    line_cleanup(l);
    flush_chunk(cli, r->name, lines, n, t, &told);
    n = 0;
    mtq_enqueue_result_t res = {0};
    bson_set_error(&res.error, MTQ_ERROR_DOMAIN, MTQ_ERR_INVALID, "%s", why);
    t->refused++;
    report(cli, r->name, r->lineno, &res, why);
  }
  flush_chunk(cli, r->name, lines, n, t, &told);
}

int mtq_cli_enqueue_batch(mtq_cli_t *cli, const char *path, const mtq_cli_enqueue_t *defaults) {
  bool from_stdin = strcmp(path, "-") == 0;
  reader_t r = {.in = from_stdin ? stdin : fopen(path, "r"), .name = path};
  if (!r.in) {
    fprintf(stderr, "mtq: cannot open %s: %s\n", path, strerror(errno));
    return MTQ_CLI_FAILED;
  }
  FILE *spool = tmpfile();
  int rc = spool ? mtq_cli_open_producer(cli) : MTQ_CLI_FAILED;
  if (!spool) {
    fprintf(stderr, "mtq: cannot make a temporary file for %s: %s\n", path, strerror(errno));
  }
  size_t tasks = 0;
  long bad = rc == MTQ_CLI_OK ? check_pass(&r, spool, defaults, &tasks) : 0;
  if (bad < 0) {
    rc = MTQ_CLI_FAILED;
  } else if (bad > 0) {
    fprintf(stderr, "mtq: %s: %ld of %zu task lines %s bad: nothing enqueued\n", path, bad,
            tasks, bad == 1 ? "is" : "are");
    rc = MTQ_CLI_FAILED;
  }
  if (!from_stdin) {
    fclose(r.in);
  }
  if (rc == MTQ_CLI_OK) {
    rewind(spool);
    reader_t back = {.in = spool, .name = path};
    tally_t t = {0};
    enqueue_pass(cli, &back, defaults, &t);
    if (ferror(spool)) {
      fprintf(stderr, "mtq: cannot read back the copy of %s: %s\n", path, strerror(errno));
      rc = MTQ_CLI_FAILED;
    }
    reader_cleanup(&back);
    if (t.untried) {
      fprintf(stderr, "%s:%zu-%zu: %zu tasks not tried: the database is unreachable\n", path,
              t.first_untried, t.last_untried, t.untried);
    }
    if (t.refused || t.untried) {
      char deduped[64] = "";
      if (t.existing) {
        snprintf(deduped, sizeof deduped, " (%zu found by their dedupe key)", t.existing);
      }
      fprintf(stderr, "mtq: %s: %zu enqueued%s, %zu refused\n", path, t.in, deduped,
              t.refused + t.untried);
      rc = MTQ_CLI_FAILED;
    }
  }
  reader_cleanup(&r);
  if (spool) {
    fclose(spool);
  }
  return rc;
}
