/* faultload.c - the producer of test_faults.sh: enqueues N tasks through the
 * C API while faults happen around it, keeping the backlog bounded.
 *
 *   faultload --uri URI --func NAME [--channel C] [--tasks N] [--max-attempts K]
 *             [--backlog B] [--batch M] [--seed S] [--ids FILE] [--for SECONDS]
 *
 * Task i (0..N-1) gets args {"n": i, "ms": <0..50, from the seed>}.  Before
 * each batch of M tasks it reads the channel's backlog (mtq_store_backlog)
 * and waits while more than B tasks are not finished: FerretDB's SQLite backend
 * scans a lane for every per-task write, so a backlog of all N tasks would
 * make each of them slower.
 *
 * The database may go away at any time (the test restarts it): a transient
 * failure is retried until it succeeds, with the same task and _id.  An
 * insert whose reply was lost may have happened; before inserting again,
 * the task is looked up, so that no task is enqueued twice and every id
 * written to FILE (one a line, in hex, as soon as the insert is known to have
 * happened) is a task in the database.
 *
 * With --for, it stops enqueueing (at a batch boundary) once SECONDS have
 * passed, so that a busy machine's run stays within its time: the ids file
 * says how many went in.
 *
 * Prints a line of figures at the end.  Exit status: 0 when all N are
 * enqueued (or --for ran out), 1 on a failure that is not transient, 2 for
 * bad usage. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mtq.h"

#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000
#define BACKLOG_WAIT_MS 500

typedef struct {
  const char *uri, *channel, *func, *ids_path;
  int64_t tasks, backlog, batch, for_s;
  int32_t max_attempts;
  unsigned seed;
} options_t;

typedef struct {
  int64_t enqueued, transient, found_after_error, backlog_waits;
} figures_t;

static int usage(void) {
  fprintf(stderr, "usage: faultload --uri URI --func NAME [--channel C] [--tasks N]\n"
                  "                 [--max-attempts K] [--backlog B] [--batch M] [--seed S]\n"
                  "                 [--ids FILE] [--for SECONDS]\n");
  return 2;
}

static bool parse_int(const char *s, int64_t min, int64_t *out) {
  char *end;
  long long v = strtoll(s, &end, 10);
  if (end == s || *end || v < min) {
    return false;
  }
  *out = v;
  return true;
}

static bool parse_args(int argc, char **argv, options_t *o) {
  *o = (options_t){.channel = "default", .tasks = 20000, .backlog = 1000, .batch = 100,
                   .max_attempts = 5, .seed = 1};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int64_t n = 0;
    if (!v) {
      return false;
    }
    i++;
    if (strcmp(a, "--uri") == 0) {
      o->uri = v;
    } else if (strcmp(a, "--func") == 0) {
      o->func = v;
    } else if (strcmp(a, "--channel") == 0) {
      o->channel = v;
    } else if (strcmp(a, "--ids") == 0) {
      o->ids_path = v;
    } else if (strcmp(a, "--tasks") == 0 && parse_int(v, 1, &n)) {
      o->tasks = n;
    } else if (strcmp(a, "--backlog") == 0 && parse_int(v, 1, &n)) {
      o->backlog = n;
    } else if (strcmp(a, "--for") == 0 && parse_int(v, 0, &n)) {
      o->for_s = n;
    } else if (strcmp(a, "--batch") == 0 && parse_int(v, 1, &n)) {
      o->batch = n;
    } else if (strcmp(a, "--max-attempts") == 0 && parse_int(v, 1, &n) && n <= INT32_MAX) {
      o->max_attempts = (int32_t)n;
    } else if (strcmp(a, "--seed") == 0 && parse_int(v, 0, &n)) {
      o->seed = (unsigned)n;
    } else {
      return false;
    }
  }
  return o->uri && o->func;
}

static void sleep_ms(int64_t ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

static int64_t next_backoff(int64_t ms) {
  return ms < RETRY_MIN_MS ? RETRY_MIN_MS : ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : ms * 2;
}

/* Waits until the backlog is at most o->backlog.  False on a failure that
 * is not transient. */
static bool wait_for_room(mtq_store_t *store, const options_t *o, figures_t *f) {
  int64_t backoff = 0;
  for (;;) {
    int64_t backlog;
    bson_error_t err;
    if (mtq_store_backlog(store, o->channel, &backlog, &err)) {
      if (backlog <= o->backlog) {
        return true;
      }
      f->backlog_waits++;
      sleep_ms(BACKLOG_WAIT_MS);
      backoff = 0;
    } else if (mtq_error_is_transient(&err)) {
      f->transient++;
      backoff = next_backoff(backoff);
      sleep_ms(backoff);
    } else {
      fprintf(stderr, "faultload: cannot read the counts: %s\n", err.message);
      return false;
    }
  }
}

/* Sets *there when the task is in the database, wherever it is now. */
static bool task_exists(mtq_store_t *store, const bson_oid_t *id, bool *there,
                        bson_error_t *error) {
  mtq_task_t found;
  mtq_task_init(&found);
  bool ok = mtq_store_find(store, id, &found, error);
  mtq_task_cleanup(&found);
  *there = ok;
  return ok || (error->domain == MTQ_ERROR_DOMAIN && error->code == MTQ_ERR_NOT_FOUND);
}

/* Inserts the task (built, with its _id) until the database has it.  After a
 * transient failure the insert may have happened all the same: the task is
 * looked up before it is inserted again. */
static bool enqueue_surely(mtq_store_t *store, mtq_task_t *task, figures_t *f) {
  int64_t backoff = 0;
  bool maybe_there = false;
  for (;;) {
    bson_error_t err;
    bool there = false;
    if (maybe_there) {
      if (task_exists(store, &task->id, &there, &err)) {
        if (there) {
          f->found_after_error++;
          return true;
        }
        maybe_there = false;
        continue;
      }
    } else if (mtq_store_enqueue(store, task, false, NULL, &err)) {
      return true;
    } else {
      maybe_there = true;
    }
    if (!mtq_error_is_transient(&err)) {
      fprintf(stderr, "faultload: enqueue failed: %s\n", err.message);
      return false;
    }
    f->transient++;
    backoff = next_backoff(backoff);
    sleep_ms(backoff);
  }
}

static bool run(mtq_store_t *store, const options_t *o, FILE *ids, figures_t *f) {
  unsigned seed = o->seed;
  int64_t stop_ms = o->for_s > 0 ? mtq_now_ms() + o->for_s * 1000 : INT64_MAX;
  for (int64_t i = 0; i < o->tasks; i++) {
    if (i % o->batch == 0 && mtq_now_ms() >= stop_ms) {
      fprintf(stderr, "faultload: %" PRId64 " s are over: stopping after %" PRId64 " tasks\n",
              o->for_s, i);
      break;
    }
    if (i % o->batch == 0 && !wait_for_room(store, o, f)) {
      return false;
    }
    char args[64];
    snprintf(args, sizeof args, "{\"n\": %" PRId64 ", \"ms\": %d}", i, rand_r(&seed) % 51);
    mtq_enqueue_opts_t eo = {.channel = o->channel, .func = o->func, .args_json = args,
                             .max_attempts = o->max_attempts};
    mtq_task_t task;
    mtq_task_init(&task);
    bson_error_t err;
    bool ok = mtq_task_build(&task, &eo, mtq_now_ms(), &err);
    if (!ok) {
      fprintf(stderr, "faultload: task %" PRId64 ": %s\n", i, err.message);
    } else if ((ok = enqueue_surely(store, &task, f))) {
      char hex[25];
      bson_oid_to_string(&task.id, hex);
      fprintf(ids, "%s\n", hex);
      fflush(ids);
      f->enqueued++;
    }
    mtq_task_cleanup(&task);
    if (!ok) {
      return false;
    }
  }
  return true;
}

int main(int argc, char **argv) {
  options_t o;
  if (!parse_args(argc, argv, &o)) {
    return usage();
  }
  FILE *ids = o.ids_path ? fopen(o.ids_path, "w") : stdout;
  if (!ids) {
    perror(o.ids_path);
    return 1;
  }
  mtq_log_init("faultload", MTQ_LOG_WARN);
  bson_error_t err;
  mtq_client_t *client = mtq_client_new(o.uri, &err);
  if (!client) {
    fprintf(stderr, "faultload: %s\n", err.message);
    return 2;
  }
  figures_t f = {0};
  int64_t t0 = mtq_now_ms();
  bool ok = run(mtq_client_store(client), &o, ids, &f);
  double secs = (double)(mtq_now_ms() - t0) / 1000.0;
  fprintf(stderr,
          "faultload: enqueued=%" PRId64 " of %" PRId64 " in %.1f s, transient_errors=%" PRId64
          " found_after_error=%" PRId64 " backlog_waits=%" PRId64 "\n",
          f.enqueued, o.tasks, secs, f.transient, f.found_after_error, f.backlog_waits);
  mtq_client_destroy(client);
  if (ids != stdout) {
    fclose(ids);
  }
  return ok ? 0 : 1;
}
