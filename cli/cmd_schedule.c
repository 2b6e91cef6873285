/* cmd_schedule.c - mtq schedule add, ls, show, rm, pause and resume:
 * recurring schedules, which mtqd fires (server/schedules.c). */
#include <string.h>
#include <time.h>

#include "cli.h"

/* How many next runs ls and show print. */
#define LS_NEXT 1
#define SHOW_NEXT 5
#define SHOW_TICKS 10

static const char schedule_help[] =
    "usage: mtq schedule add NAME (--cron EXPR [--tz ZONE] | --every DURATION)\n"
    "                        [--skip-if-running] --channel C --func NAME [task options]\n"
    "       mtq schedule add NAME (--cron EXPR [--tz ZONE] | --every DURATION)\n"
    "                        [--skip-if-running] --flow FILE\n"
    "       mtq schedule ls\n"
    "       mtq schedule show NAME\n"
    "       mtq schedule rm NAME\n"
    "       mtq schedule pause NAME\n"
    "       mtq schedule resume NAME\n"
    "\n"
    "A schedule enqueues a task at every tick; mtqd fires each tick exactly once,\n"
    "however many mtqd run.  After mtqd was down, the ticks it missed fire once,\n"
    "as one.  A resumed schedule fires no tick missed while it was paused.\n"
    "\n"
    "  --cron EXPR        five fields, as crontab(5): minute hour day-of-month month\n"
    "                     day-of-week (\"*/5 * * * *\", \"30 2 * * mon-fri\"), or\n"
    "                     @hourly, @daily, @weekly, @monthly, @yearly\n"
    "  --tz ZONE          the zone of the cron's times (\"Europe/Berlin\"; default UTC):\n"
    "                     a time skipped by a clock change fires when the clocks\n"
    "                     jump, a repeated one once\n"
    "  --every DURATION   a fixed interval from now (\"90s\", \"5m\", \"1h30m\", \"1d\"),\n"
    "                     at least 1s\n"
    "  --skip-if-running  skip a tick while the task (or flow) of the previous one has\n"
    "                     not ended\n"
    "  --flow FILE        every tick submits the flow of FILE (as mtq flow submit\n"
    "                     reads it, checked now) instead of enqueueing a task\n"
    "\n"
    "Task options are mtq enqueue's (see mtq enqueue --help), except --dedupe-key\n"
    "(each tick's task has its own: schedule:NAME:TICK_MS), --wait and --batch;\n"
    "--delay delays each tick's task.  A tick whose task the queue refuses (its\n"
    "channel full) is skipped, and show says why.  With [security] keys in its\n"
    "config, mtqd signs the tasks.\n";

/* Option codes of schedule add beyond enqueue's (outside any char). */
enum { OPT_CRON = 0x2000, OPT_TZ, OPT_EVERY, OPT_SKIP, OPT_FLOW };

typedef struct {
  const char *cron, *tz, *every, *flow;
  bool skip_if_running;
  bool task_options; /* an option of the task was given */
  mtq_cli_enqueue_t e;
} add_args_t;

static int add_options(mtq_cli_t *cli, int argc, char **argv, add_args_t *a) {
  static const struct option longopts[] = {
      MTQ_CLI_ENQUEUE_OPTIONS(MTQ_CLI_ENQUEUE_LONGOPT){"cron", required_argument, NULL, OPT_CRON},
      {"tz", required_argument, NULL, OPT_TZ},
      {"every", required_argument, NULL, OPT_EVERY},
      {"skip-if-running", no_argument, NULL, OPT_SKIP},
      {"flow", required_argument, NULL, OPT_FLOW},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  char why[160];
  int c;
  while ((c = mtq_cli_getopt(cli, argc, argv, ":h", longopts)) != -1) {
    switch (c) {
    case 'h':
      fputs(schedule_help, stdout);
      return MTQ_CLI_DONE;
    case OPT_CRON: a->cron = optarg; break;
    case OPT_TZ: a->tz = optarg; break;
    case OPT_EVERY: a->every = optarg; break;
    case OPT_SKIP: a->skip_if_running = true; break;
    case OPT_FLOW: a->flow = optarg; break;
    case 'k':
    case 'w':
      return mtq_cli_usage(cli, "--%s is not an option of a schedule", mtq_cli_enqueue_name(c));
    default:
      if (!mtq_cli_enqueue_name(c)) {
        return MTQ_CLI_USAGE; /* mtq_cli_getopt said why */
      }
      if (!mtq_cli_enqueue_set(&a->e, c, optarg, why, sizeof why)) {
        return mtq_cli_usage(cli, "--%s %s", mtq_cli_enqueue_name(c), why);
      }
      a->task_options = true;
    }
  }
  if (!a->cron == !a->every) {
    return mtq_cli_usage(cli, "give --cron or --every (one of them)");
  }
  if (a->tz && !a->cron) {
    return mtq_cli_usage(cli, "--tz goes with --cron");
  }
  if (a->flow && a->task_options) {
    return mtq_cli_usage(cli, "--flow takes no task options: the flow's file gives its steps'");
  }
  if (!a->flow && (!a->e.o.channel || !a->e.o.func)) {
    return mtq_cli_usage(cli, "--channel and --func are required (or --flow FILE)");
  }
  if (a->e.o.args_json && strcmp(a->e.o.args_json, "-") == 0) {
    return mtq_cli_usage(cli, "--args - is not taken by a schedule: give the JSON");
  }
  return mtq_cli_positional(cli, argc, argv, 1, "schedule NAME");
}

/* The schedule's times, checked as mtqd will compile them. */
static int add_times(mtq_cli_t *cli, const add_args_t *a, mtq_schedule_t *s) {
  bson_error_t err;
  if (a->every) {
    if (!mtq_duration_parse(a->every, &s->every_ms, &err)) {
      return mtq_cli_usage(cli, "--every: %s", err.message);
    }
    if (s->every_ms < MTQ_EVERY_MIN_MS) {
      return mtq_cli_usage(cli, "--every: %s is shorter than 1s", a->every);
    }
  } else if (strlen(a->cron) >= sizeof s->cron) {
    return mtq_cli_usage(cli, "--cron: longer than %zu bytes", sizeof s->cron - 1);
  } else {
    bson_strncpy(s->cron, a->cron, sizeof s->cron);
  }
  if (a->tz && strlen(a->tz) >= sizeof s->tz) {
    return mtq_cli_usage(cli, "--tz: longer than %zu bytes", sizeof s->tz - 1);
  }
  bson_strncpy(s->tz, a->tz ? a->tz : "", sizeof s->tz);
  mtq_schedule_clock_t clock;
  if (!mtq_schedule_clock_init(&clock, s, NULL, &err)) {
    return mtq_cli_usage(cli, "%s", err.message);
  }
  mtq_schedule_clock_cleanup(&clock);
  return MTQ_CLI_OK;
}

/* The template of the schedule's task: built and checked as enqueue would,
 * against the channel and the workers that serve it. */
static int add_template(mtq_cli_t *cli, add_args_t *a, mtq_schedule_t *s, int64_t now) {
  mtq_cli_enqueue_finish(&a->e);
  mtq_task_t t;
  mtq_task_init(&t);
  bson_error_t err;
  bool served = true;
  int rc = MTQ_CLI_OK;
  if (!mtq_task_build(&t, &a->e.o, now, &err)) {
    rc = mtq_cli_usage(cli, "%s", err.message);
  } else if (!mtq_store_check_channel(cli->store, t.channel, &err) ||
             (a->e.o.require_served &&
              !mtq_store_function_served(cli->store, t.channel, t.func, t.version, &served,
                                         &err))) {
    rc = mtq_cli_fail(cli, &err, "cannot add schedule %s", s->name);
  } else if (!served) {
    fprintf(stderr,
            "mtq: no worker serves function '%s' version %s on channel '%s' (see mtq "
            "workers; --force adds the schedule anyway)\n",
            t.func, t.version, t.channel);
    rc = MTQ_CLI_FAILED;
  } else {
    s->task = bson_new();
    mtq_task_to_bson(&t, s->task);
  }
  mtq_task_cleanup(&t);
  return rc;
}

/* The flow every tick submits, checked now as mtq flow submit checks it. */
static int add_flow(mtq_cli_t *cli, const char *path, mtq_schedule_t *s) {
  mtq_flow_t f;
  mtq_flow_init(&f);
  int rc = mtq_cli_flow_load(cli, path, &f);
  if (rc == MTQ_CLI_OK) {
    f.created_at = s->created_at; /* each tick's flow gets its own id and time */
    s->flow = bson_new();
    mtq_flow_to_bson(&f, s->flow);
  }
  mtq_flow_cleanup(&f);
  return rc;
}

static int schedule_add(mtq_cli_t *cli, int argc, char **argv) {
  add_args_t a = {0};
  mtq_schedule_t s;
  mtq_schedule_init(&s);
  int rc = add_options(cli, argc, argv, &a);
  const char *name = rc == MTQ_CLI_OK ? argv[optind] : NULL;
  if (rc == MTQ_CLI_OK && !mtq_name_valid(name)) {
    rc = mtq_cli_usage(cli, "schedule name '%s' must be 1-64 of A-Z a-z 0-9 _ . -", name);
  }
  int64_t now = mtq_now_ms();
  if (rc == MTQ_CLI_OK) {
    bson_strncpy(s.name, name, sizeof s.name);
    s.anchor_ms = s.since_ms = s.created_at = now;
    s.skip_if_running = a.skip_if_running;
    rc = add_times(cli, &a, &s);
  }
  if (rc == MTQ_CLI_OK && (rc = mtq_cli_open(cli)) == MTQ_CLI_OK &&
      (rc = a.flow ? add_flow(cli, a.flow, &s) : add_template(cli, &a, &s, now)) == MTQ_CLI_OK) {
    bson_error_t err;
    if (!mtq_store_schedule_add(cli->store, &s, &err)) {
      rc = mtq_cli_fail(cli, &err, NULL);
    } else {
      puts(cli->json ? "{\"ok\": true}" : "ok");
    }
  }
  mtq_schedule_cleanup(&s);
  return rc == MTQ_CLI_DONE ? MTQ_CLI_OK : rc;
}

/* --- printing ------------------------------------------------------------------- */

/* "1h30m", "90s" -> "1m30s", "500ms". */
static void format_every(int64_t ms, char *buf, size_t size) {
  static const struct {
    const char *unit;
    int64_t ms;
  } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
  size_t off = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < sizeof units / sizeof units[0] && ms > 0 && off < size; i++) {
    if (ms >= units[i].ms) {
      off += (size_t)snprintf(buf + off, size - off, "%lld%s", (long long)(ms / units[i].ms),
                              units[i].unit);
      ms %= units[i].ms;
    }
  }
}

static void format_when(const mtq_schedule_t *s, char *buf, size_t size) {
  if (s->every_ms) {
    char every[64];
    format_every(s->every_ms, every, sizeof every);
    snprintf(buf, size, "every %s", every);
  } else {
    snprintf(buf, size, "cron %s%s%s", s->cron, s->tz[0] ? " " : "", s->tz);
  }
}

/* A tick as UTC, and as the zone's wall clock when the schedule has one. */
static void format_tick(const mtq_schedule_clock_t *c, int64_t ms, char *buf, size_t size) {
  mtq_cli_format_time(ms, buf, size);
  if (!c->tz || ms <= 0) {
    return;
  }
  int32_t off = mtq_tz_offset(c->tz, ms / 1000);
  time_t wall = (time_t)(ms / 1000 + off);
  struct tm tm;
  char local[48];
  gmtime_r(&wall, &tm);
  strftime(local, sizeof local, "%Y-%m-%d %H:%M", &tm);
  size_t len = strlen(buf);
  snprintf(buf + len, size - len, " (%s %c%02d:%02d)", local, off < 0 ? '-' : '+',
           (int)(off < 0 ? -off : off) / 3600, (int)((off < 0 ? -off : off) % 3600) / 60);
}

/* The next n ticks of s after now (none while paused) into out[] (0: none). */
static void next_ticks(const mtq_schedule_t *s, const mtq_schedule_clock_t *c, int64_t now,
                       int64_t *out, size_t n) {
  int64_t after = s->last_tick_ms > s->since_ms ? s->last_tick_ms : s->since_ms;
  after = after > now ? after : now;
  for (size_t i = 0; i < n; i++) {
    out[i] = 0;
    if (!s->paused && mtq_ticks_next(&c->ticks, after, &out[i])) {
      after = out[i];
    }
  }
}

static void template_summary(const mtq_schedule_t *s, char *buf, size_t size) {
  if (s->flow) {
    mtq_flow_t f;
    mtq_flow_init(&f);
    bson_error_t ferr;
    if (mtq_flow_from_bson(&f, s->flow, &ferr)) {
      snprintf(buf, size, "flow %s (%zu step%s)", f.name[0] ? f.name : "-", f.n_steps,
               f.n_steps == 1 ? "" : "s");
    } else {
      snprintf(buf, size, "flow ?");
    }
    mtq_flow_cleanup(&f);
    return;
  }
  mtq_task_t t;
  mtq_task_init(&t);
  bson_error_t err;
  if (mtq_task_from_bson(&t, s->task, NULL, &err)) {
    snprintf(buf, size, "%s/%s@%s", t.channel, t.func, t.version);
  } else {
    snprintf(buf, size, "?");
  }
  mtq_task_cleanup(&t);
}

/* A schedule's document for --json, with its next ticks under "next". */
static void json_of(const mtq_schedule_t *s, const mtq_schedule_clock_t *c, size_t n_next,
                    int64_t now, bson_t *out) {
  mtq_schedule_to_bson(s, out);
  int64_t next[SHOW_NEXT];
  next_ticks(s, c, now, next, n_next);
  bson_t arr;
  BSON_APPEND_ARRAY_BEGIN(out, "next", &arr);
  for (size_t i = 0; i < n_next && next[i]; i++) {
    char key[16];
    const char *k;
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    BSON_APPEND_DATE_TIME(&arr, k, next[i]);
  }
  bson_append_array_end(out, &arr);
}

/* The state of the last tick's task, as ls prints it. */
static void last_task_state(mtq_cli_t *cli, const mtq_schedule_t *s, char *buf, size_t size) {
  static const bson_oid_t zero;
  snprintf(buf, size, "-");
  if (bson_oid_equal(&s->last_task, &zero)) {
    return;
  }
  bson_error_t err;
  char hex[25];
  bson_oid_to_string(&s->last_task, hex);
  if (s->flow) {
    mtq_flow_t f;
    mtq_flow_init(&f);
    if (mtq_store_flow_get(cli->store, &s->last_task, &f, &err)) {
      snprintf(buf, size, "flow %s %s", hex, mtq_flow_state_name(f.status));
    } else {
      snprintf(buf, size, "flow %s gone", hex);
    }
    mtq_flow_cleanup(&f);
    return;
  }
  mtq_task_t t;
  mtq_task_init(&t);
  if (mtq_store_find(cli->store, &s->last_task, &t, &err)) {
    snprintf(buf, size, "%s %s", hex, mtq_state_name(mtq_task_state(&t)));
  } else {
    snprintf(buf, size, "%s gone", hex);
  }
  mtq_task_cleanup(&t);
}

static int schedule_ls(mtq_cli_t *cli, int argc, char **argv) {
  int rc = mtq_cli_plain_args(cli, argc, argv, schedule_help, 0, "");
  if (rc || (rc = mtq_cli_open(cli))) {
    return rc == MTQ_CLI_DONE ? MTQ_CLI_OK : rc;
  }
  mtq_schedule_t *list = NULL;
  size_t n = 0;
  bson_error_t err;
  if (!mtq_store_schedules(cli->store, &list, &n, &err)) {
    return mtq_cli_fail(cli, &err, "cannot read the schedules");
  }
  static const char *const headers[] = {"NAME", "WHEN", "STATE", "TASK", "LAST", "LAST_TASK", "NEXT"};
  mtq_table_t *table = mtq_table_new(7, headers);
  int64_t now = mtq_now_ms();
  for (size_t i = 0; i < n; i++) {
    const mtq_schedule_t *s = &list[i];
    mtq_schedule_clock_t clock;
    bool compiled = mtq_schedule_clock_init(&clock, s, NULL, &err);
    if (cli->json) {
      bson_t doc = BSON_INITIALIZER;
      json_of(s, &clock, compiled ? LS_NEXT : 0, now, &doc);
      mtq_cli_print_doc(&doc, stdout);
      bson_destroy(&doc);
    } else {
      char when[MTQ_CRON_TEXT_MAX + 80], task[3 * MTQ_NAME_MAX + 8], last[96], last_task[64],
          next[96] = "-";
      int64_t next_ms = 0;
      format_when(s, when, sizeof when);
      template_summary(s, task, sizeof task);
      format_tick(&clock, s->last_tick_ms, last, sizeof last);
      last_task_state(cli, s, last_task, sizeof last_task);
      if (compiled) {
        next_ticks(s, &clock, now, &next_ms, LS_NEXT);
        format_tick(&clock, next_ms, next, sizeof next);
      }
      const char *row[] = {s->name, when, s->paused ? "paused" : "active", task, last,
                           last_task, compiled ? next : "(cannot compile)"};
      mtq_table_add(table, row);
    }
    if (compiled) {
      mtq_schedule_clock_cleanup(&clock);
    }
  }
  if (!cli->json) {
    mtq_table_print(table, stdout);
  }
  mtq_table_destroy(table);
  mtq_schedule_list_free(list, n);
  return MTQ_CLI_OK;
}

static void print_ticks(const bson_t *ticks) {
  bson_iter_t it, arr;
  bson_t rec;
  if (!bson_iter_init_find(&it, ticks, "ticks") || !bson_iter_recurse(&it, &arr)) {
    return;
  }
  puts("recent ticks:");
  while (mtq_bson_next_doc(&arr, &rec)) {
    bson_iter_t f;
    char when[32] = "-", task[25] = "-";
    const char *decision = "?", *why = "";
    if (bson_iter_init_find(&f, &rec, "tick") && BSON_ITER_HOLDS_DATE_TIME(&f)) {
      mtq_cli_format_time(bson_iter_date_time(&f), when, sizeof when);
    }
    if (bson_iter_init_find(&f, &rec, "decision") && BSON_ITER_HOLDS_UTF8(&f)) {
      decision = bson_iter_utf8(&f, NULL);
    }
    if (bson_iter_init_find(&f, &rec, "task") && BSON_ITER_HOLDS_OID(&f)) {
      bson_oid_to_string(bson_iter_oid(&f), task);
    }
    if (bson_iter_init_find(&f, &rec, "why") && BSON_ITER_HOLDS_UTF8(&f)) {
      why = bson_iter_utf8(&f, NULL);
    }
    printf("  %s  %-5s  %s%s%s\n", when, decision, task, why[0] ? "  " : "", why);
  }
}

static int schedule_show(mtq_cli_t *cli, int argc, char **argv) {
  int rc = mtq_cli_plain_args(cli, argc, argv, schedule_help, 1, "schedule NAME");
  if (rc || (rc = mtq_cli_open(cli))) {
    return rc == MTQ_CLI_DONE ? MTQ_CLI_OK : rc;
  }
  mtq_schedule_t s;
  mtq_schedule_init(&s);
  bson_error_t err;
  bson_t ticks = BSON_INITIALIZER;
  if (!mtq_store_schedule_get(cli->store, argv[optind], &s, &err) ||
      !mtq_store_schedule_ticks(cli->store, s.name, SHOW_TICKS, &ticks, &err)) {
    bson_destroy(&ticks);
    mtq_schedule_cleanup(&s);
    return mtq_cli_fail(cli, &err, NULL);
  }
  mtq_schedule_clock_t clock;
  bool compiled = mtq_schedule_clock_init(&clock, &s, NULL, &err);
  int64_t now = mtq_now_ms();
  if (cli->json) {
    bson_t doc = BSON_INITIALIZER;
    json_of(&s, &clock, compiled ? SHOW_NEXT : 0, now, &doc);
    bson_iter_t it;
    if (bson_iter_init_find(&it, &ticks, "ticks")) {
      bson_append_iter(&doc, "ticks", -1, &it);
    }
    mtq_cli_print_doc(&doc, stdout);
    bson_destroy(&doc);
  } else {
    char when[MTQ_CRON_TEXT_MAX + 80], buf[128];
    format_when(&s, when, sizeof when);
    printf("name:            %s\nwhen:            %s\nstate:           %s\n", s.name, when,
           s.paused ? "paused" : "active");
    printf("skip if running: %s\n", s.skip_if_running ? "yes" : "no");
    mtq_cli_format_time(s.created_at, buf, sizeof buf);
    printf("created:         %s\n", buf);
    format_tick(&clock, s.last_tick_ms, buf, sizeof buf);
    printf("last tick:       %s\n", buf);
    char *task = mtq_cli_json(s.flow ? s.flow : s.task);
    printf("%s            %s\n", s.flow ? "flow:" : "task:", task);
    bson_free(task);
    if (!compiled) {
      printf("next runs:       none: %s\n", err.message);
    } else {
      int64_t next[SHOW_NEXT];
      next_ticks(&s, &clock, now, next, SHOW_NEXT);
      puts(s.paused ? "next runs:       none while paused" : "next runs:");
      for (size_t i = 0; i < SHOW_NEXT && next[i]; i++) {
        format_tick(&clock, next[i], buf, sizeof buf);
        printf("  %s\n", buf);
      }
    }
    print_ticks(&ticks);
  }
  if (compiled) {
    mtq_schedule_clock_cleanup(&clock);
  }
  bson_destroy(&ticks);
  mtq_schedule_cleanup(&s);
  return MTQ_CLI_OK;
}

/* rm, pause, resume: one name. */
static int schedule_change(mtq_cli_t *cli, int argc, char **argv, const char *what) {
  int rc = mtq_cli_plain_args(cli, argc, argv, schedule_help, 1, "schedule NAME");
  if (rc || (rc = mtq_cli_open(cli))) {
    return rc == MTQ_CLI_DONE ? MTQ_CLI_OK : rc;
  }
  bson_error_t err;
  const char *name = argv[optind];
  bool ok = strcmp(what, "rm") == 0
                ? mtq_store_schedule_remove(cli->store, name, &err)
                : mtq_store_schedule_pause(cli->store, name, strcmp(what, "pause") == 0,
                                           mtq_now_ms(), &err);
  if (!ok) {
    return mtq_cli_fail(cli, &err, NULL);
  }
  puts(cli->json ? "{\"ok\": true}" : "ok");
  return MTQ_CLI_OK;
}

int mtq_cmd_schedule(mtq_cli_t *cli, int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    fputs(schedule_help, argc < 2 ? stderr : stdout);
    return argc < 2 ? MTQ_CLI_USAGE : MTQ_CLI_OK;
  }
  const char *sub = argv[1];
  /* The subcommand's options start after its name. */
  argc--;
  argv++;
  optind = 0;
  if (strcmp(sub, "add") == 0) {
    return schedule_add(cli, argc, argv);
  }
  if (strcmp(sub, "ls") == 0) {
    return schedule_ls(cli, argc, argv);
  }
  if (strcmp(sub, "show") == 0) {
    return schedule_show(cli, argc, argv);
  }
  if (strcmp(sub, "rm") == 0 || strcmp(sub, "pause") == 0 || strcmp(sub, "resume") == 0) {
    return schedule_change(cli, argc, argv, sub);
  }
  return mtq_cli_usage(cli, "unknown schedule command '%s' (add, ls, show, rm, pause, resume)",
                       sub);
}
