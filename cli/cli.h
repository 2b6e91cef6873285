/* cli.h - what the files of the mtq command line share.
 *
 * main.c parses the global options and dispatches to a subcommand handler
 * (cmd_task.c, cmd_batch.c, cmd_admin.c, cmd_flow.c, cmd_schedule.c,
 * cmd_functions.c); enqueue_opts.c holds the options
 * of one enqueue, shared by mtq enqueue and its --batch lines; cli.c holds
 * the connection, error reporting and argument parsing; output.c prints
 * tables and JSON. */
#ifndef MTQ_CLI_H
#define MTQ_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "mtq.h"

/* Exit codes. */
#define MTQ_CLI_OK 0
#define MTQ_CLI_FAILED 1 /* the operation failed, or the database is unreachable */
#define MTQ_CLI_USAGE 2  /* bad command line */
/* Returned by option parsing helpers once --help is printed: exit 0. */
#define MTQ_CLI_DONE (-1)

#define MTQ_CLI_DEFAULT_URI "mongodb://127.0.0.1:27017/mtq"
/* Who the CLI's changes are by, in the audit trail. */
#define MTQ_CLI_ACTOR "operator"

typedef struct {
  const char *uri;      /* borrowed from argv or the environment */
  const char *uri_from; /* where uri came from, for messages: "--uri", "MTQ_URI", NULL */
  bool json;            /* --json: machine-readable output */
  const char *command;  /* name of the subcommand being run, for messages */
  mtq_client_t *client; /* owned; opened by mtq_cli_open */
  mtq_store_t *store;   /* borrowed from client */
} mtq_cli_t;

/* A subcommand handler.  argv[0] is the subcommand's name; getopt's state is
 * reset before it is called.  Returns the exit code. */
typedef int (*mtq_cli_fn)(mtq_cli_t *cli, int argc, char **argv);

/* --- cli.c ------------------------------------------------------------------ */

/* Opens the client (no round trip yet).  Returns MTQ_CLI_OK, or prints why
 * not and returns the exit code. */
int mtq_cli_open(mtq_cli_t *cli);
/* mtq_cli_open for a producer: the client also signs what it enqueues
 * with the keys of MTQ_SIGN_KEYS, when set. */
int mtq_cli_open_producer(mtq_cli_t *cli);
void mtq_cli_close(mtq_cli_t *cli);

/* Prints "mtq: <what>: <error>" on stderr, or a plain "cannot reach the
 * database at <hosts>" when the error is transient.  Returns MTQ_CLI_FAILED. */
int mtq_cli_fail(const mtq_cli_t *cli, const bson_error_t *error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prints "mtq: <message>" and a hint to --help on stderr.  Returns MTQ_CLI_USAGE. */
int mtq_cli_usage(const mtq_cli_t *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The global options, which main.c parses before the subcommand and
 * mtq_cli_getopt after it.  Values outside any char, so that they never
 * clash with a subcommand's own option codes. */
#define MTQ_CLI_OPT_URI 0x1000
#define MTQ_CLI_OPT_JSON 0x1001
#define MTQ_CLI_GLOBAL_OPTIONS                                                                  \
  {"uri", required_argument, NULL, MTQ_CLI_OPT_URI}, {"json", no_argument, NULL, MTQ_CLI_OPT_JSON}

/* Applies global option c (MTQ_CLI_OPT_URI with its argument arg, or
 * MTQ_CLI_OPT_JSON) to cli; arg is borrowed and must outlive cli. */
void mtq_cli_global_option(mtq_cli_t *cli, int c, const char *arg);

/* getopt_long over a subcommand's argv, with the global options (--uri,
 * --json) accepted among the subcommand's own and applied to cli, so that
 * `mtq show ID --json` means `mtq --json show ID`.  Prints a message for an
 * unknown option or a missing argument and returns '?' then; -1 at the end. */
int mtq_cli_getopt(mtq_cli_t *cli, int argc, char **argv, const char *shortopts,
                   const struct option *longopts);

/* Checks that exactly n positional arguments remain after the options.
 * Returns MTQ_CLI_OK or, after printing why, MTQ_CLI_USAGE. */
int mtq_cli_positional(const mtq_cli_t *cli, int argc, char **argv, int n, const char *names);

/* For a command whose only option is --help: parses the options (printing
 * help returns MTQ_CLI_DONE), then checks that n positional arguments remain,
 * from argv[optind]. */
int mtq_cli_plain_args(mtq_cli_t *cli, int argc, char **argv, const char *help, int n,
                       const char *names);

/* Whole decimal numbers in [min, max]. */
bool mtq_cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);
/* A non-negative number of seconds, decimals allowed, as milliseconds. */
bool mtq_cli_parse_seconds(const char *s, int64_t *ms);
/* A task id: 24 hex digits.  Prints "not a task id" and returns
 * MTQ_CLI_USAGE when it is not one. */
int mtq_cli_parse_id(const mtq_cli_t *cli, const char *s, bson_oid_t *id);

/* "queued, delayed, ..." from the state table, into buf. */
void mtq_cli_state_names(char *buf, size_t size);

/* --- output.c ---------------------------------------------------------------- */

/* A text table, columns as wide as their widest cell. */
typedef struct mtq_table mtq_table_t;

/* headers: ncols borrowed strings.  Caller destroys. */
mtq_table_t *mtq_table_new(size_t ncols, const char *const *headers);
/* Copies ncols cells (NULL prints as "-"). */
void mtq_table_add(mtq_table_t *t, const char *const *cells);
void mtq_table_print(const mtq_table_t *t, FILE *out);
/* How many rows were added. */
size_t mtq_table_rows(const mtq_table_t *t);
void mtq_table_destroy(mtq_table_t *t);

/* Every --json output goes through these: libbson's relaxed extended JSON,
 * but with doubles in their shortest form that reads back the same (0.1,
 * not 0.10000000000000000555). */

/* A document as JSON, bson_malloc'd: caller bson_free()s it. */
char *mtq_cli_json(const bson_t *doc);
/* Prints a document as JSON and a newline. */
void mtq_cli_print_doc(const bson_t *doc, FILE *out);
/* Prints the array under key of doc as JSON (an empty one when there is none), and
 * a newline. */
void mtq_cli_print_array(const bson_t *doc, const char *key, FILE *out);
/* Prints s as a JSON string (quoted, escaped). */
void mtq_cli_print_json_string(const char *s, FILE *out);

/* "YYYY-MM-DD HH:MM:SS" in UTC, or "-" for 0. */
void mtq_cli_format_time(int64_t ms, char *buf, size_t size);
/* A duration: "850ms", "1.25s", "312s". */
void mtq_cli_format_ms(double ms, char *buf, size_t size);

/* Prints a task as a JSON document (the stored form) and a newline. */
void mtq_cli_print_task_json(const mtq_task_t *task, FILE *out);
/* Prints every field of a task, one per line. */
void mtq_cli_print_task_fields(const mtq_task_t *task, FILE *out);

/* --- enqueue_opts.c ------------------------------------------------------------ */

/* What one enqueue asks for: the producer's options and what the CLI does
 * around them.  mtq enqueue's flags and the keys of a --batch line are the
 * same names, set by the same code, so that a line takes exactly what the
 * command line takes. */
typedef struct {
  mtq_enqueue_opts_t o;    /* its strings are borrowed: from argv or a batch line */
  bool force;              /* --force: even if no worker serves the function */
  bool wait_for_room;      /* --wait: when the channel is full, wait for room */
  bool replacements_given; /* else mtq_cli_enqueue_finish derives them from copies */
} mtq_cli_enqueue_t;

/* How an option's value is written in a batch line: a JSON string, a
 * number, either, an object (args), or true/false (a flag). */
typedef enum {
  MTQ_CLI_VALUE_TEXT,
  MTQ_CLI_VALUE_NUMBER,
  MTQ_CLI_VALUE_NUMBER_OR_TEXT,
  MTQ_CLI_VALUE_OBJECT,
  MTQ_CLI_VALUE_FLAG,
} mtq_cli_value_t;

/* X(NAME, CODE, KIND): every option of one enqueue: its long flag (and the
 * key of a batch line), its getopt code, and how its value is written. */
#define MTQ_CLI_ENQUEUE_OPTIONS(X)                                                               \
  X("channel", 'c', TEXT)                                                                        \
  X("func", 'f', TEXT)                                                                           \
  X("version", 'v', TEXT)                                                                        \
  X("args", 'a', OBJECT)                                                                         \
  X("priority", 'p', NUMBER)                                                                     \
  X("delay", 'd', NUMBER)                                                                        \
  X("timeout", 't', NUMBER)                                                                      \
  X("max-attempts", 'm', NUMBER)                                                                 \
  X("backoff", 'b', NUMBER)                                                                      \
  X("backoff-max", 'B', NUMBER)                                                                  \
  X("dedupe-key", 'k', TEXT)                                                                     \
  X("wait", 'w', FLAG)                                                                           \
  X("force", 'F', FLAG)                                                                          \
  X("copies", 'K', NUMBER)                                                                       \
  X("pick", 'P', TEXT)                                                                           \
  X("replacements", 'R', NUMBER)                                                                 \
  X("hedge-after", 'H', NUMBER_OR_TEXT)                                                          \
  X("need-gpu", 'G', FLAG)                                                                       \
  X("min-mem-mb", 'M', NUMBER)                                                                   \
  X("tag", 'T', TEXT)

/* getopt_long's entry of one of them: a flag takes no argument. */
#define MTQ_CLI_HAS_ARG_TEXT required_argument
#define MTQ_CLI_HAS_ARG_NUMBER required_argument
#define MTQ_CLI_HAS_ARG_NUMBER_OR_TEXT required_argument
#define MTQ_CLI_HAS_ARG_OBJECT required_argument
#define MTQ_CLI_HAS_ARG_FLAG no_argument
#define MTQ_CLI_ENQUEUE_LONGOPT(name, code, kind) {name, MTQ_CLI_HAS_ARG_##kind, NULL, code},

/* Sets option code from its text: an argument as on the command line (a
 * flag's is NULL, or "true"/"false" from a batch line), borrowed.  On a bad
 * value writes why ("must be ..., not 'VALUE'", for the caller to put
 * after the option's name) and returns false. */
bool mtq_cli_enqueue_set(mtq_cli_enqueue_t *e, int code, const char *value, char *why,
                         size_t size);
/* The code of the option named name ("max-attempts"; "max_attempts" too),
 * and its kind into *kind; 0 when there is none. */
int mtq_cli_enqueue_code(const char *name, mtq_cli_value_t *kind);
/* The name of option code ("max-attempts"), or NULL. */
const char *mtq_cli_enqueue_name(int code);
/* Sets option code (of kind, from mtq_cli_enqueue_code) from the JSON value
 * at it, as a batch line or a flow step writes it: a string, a number, a
 * flag true/false, an object for args (printed back to JSON into
 * *args_json, which the caller frees with bson_free; strings are borrowed
 * from the document).  On a bad value writes why ("priority must be a
 * number, not a string") and returns false. */
bool mtq_cli_enqueue_set_json(mtq_cli_enqueue_t *e, int code, mtq_cli_value_t kind,
                              const bson_iter_t *it, char **args_json, char *why, size_t size);
/* What follows from all of a task's options together, once they are set:
 * replacements default to the copies, and require_served to not --force. */
void mtq_cli_enqueue_finish(mtq_cli_enqueue_t *e);

/* cmd_batch.c: enqueue --batch PATH ("-": stdin), every line over the
 * command line's options (defaults, borrowed).  Returns the exit code. */
int mtq_cli_enqueue_batch(mtq_cli_t *cli, const char *path, const mtq_cli_enqueue_t *defaults);

/* --- handlers ------------------------------------------------------------------ */

/* cmd_task.c */
int mtq_cmd_enqueue(mtq_cli_t *cli, int argc, char **argv);
int mtq_cmd_ls(mtq_cli_t *cli, int argc, char **argv);
int mtq_cmd_show(mtq_cli_t *cli, int argc, char **argv);
int mtq_cmd_wait(mtq_cli_t *cli, int argc, char **argv);

/* cmd_admin.c */
int mtq_cmd_set_priority(mtq_cli_t *cli, int argc, char **argv);
int mtq_cmd_disable(mtq_cli_t *cli, int argc, char **argv);
int mtq_cmd_enable(mtq_cli_t *cli, int argc, char **argv);
int mtq_cmd_cancel(mtq_cli_t *cli, int argc, char **argv);
int mtq_cmd_suspend(mtq_cli_t *cli, int argc, char **argv);
int mtq_cmd_resume(mtq_cli_t *cli, int argc, char **argv);
int mtq_cmd_retry(mtq_cli_t *cli, int argc, char **argv);
int mtq_cmd_workers(mtq_cli_t *cli, int argc, char **argv);
int mtq_cmd_stats(mtq_cli_t *cli, int argc, char **argv);
int mtq_cmd_channels(mtq_cli_t *cli, int argc, char **argv);
int mtq_cmd_coordinators(mtq_cli_t *cli, int argc, char **argv);

/* cmd_flow.c */
int mtq_cmd_flow(mtq_cli_t *cli, int argc, char **argv);
/* Reads the flow file path ("-": stdin) into f (initialised by the caller),
 * every step checked as its enqueue would be against the database (the
 * client is opened).  Returns the exit code, having said what is wrong. */
int mtq_cli_flow_load(mtq_cli_t *cli, const char *path, mtq_flow_t *f);

/* cmd_schedule.c */
int mtq_cmd_schedule(mtq_cli_t *cli, int argc, char **argv);
/* cmd_functions.c */
int mtq_cmd_functions(mtq_cli_t *cli, int argc, char **argv);

/* cmd_perf.c: figures from run records (mtq_perf.h) */

/* Prints the figures of func per worker (`mtq stats --func`).  Returns the
 * exit code. */
int mtq_cli_print_perf(mtq_cli_t *cli, const char *func);
/* Figures per worker over every function, for `mtq workers`; *out is
 * bson_malloc'd (caller bson_free()s it).  When the run records cannot be
 * read, says so on stderr and returns false with none. */
bool mtq_cli_worker_scores(const mtq_cli_t *cli, mtq_perf_t **out, size_t *n);
/* "20 runs 95% ok ~1.25s" (the moving average of run time), or "-" for
 * p NULL or without runs. */
void mtq_cli_format_score(const mtq_perf_t *p, char *buf, size_t size);
/* Writes workers into out (initialised by the call) as {"workers": [whoami...]},
 * each worker with the figures it has in scores under "perf". */
void mtq_cli_add_scores(const mtq_whoami_list_t *workers, const mtq_perf_t *scores, size_t n,
                        bson_t *out);

#endif
