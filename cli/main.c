/* main.c - mtq, the operator's command line: global options and the table
 * of subcommands. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct {
  const char *name;
  mtq_cli_fn run;
  const char *summary;
} command_t;

static int cmd_help(mtq_cli_t *cli, int argc, char **argv);

/* Every subcommand, in the order `mtq help` lists them. */
static const command_t commands[] = {
    {"enqueue", mtq_cmd_enqueue, "add a task to a channel; prints its id"},
    {"ls", mtq_cmd_ls, "list tasks"},
    {"show", mtq_cmd_show, "show every field of a task"},
    {"wait", mtq_cmd_wait, "wait for a task to finish; prints its result"},
    {"set-priority", mtq_cmd_set_priority, "change a waiting task's priority (0..9)"},
    {"disable", mtq_cmd_disable, "keep a waiting task from being run"},
    {"enable", mtq_cmd_enable, "let a disabled task run again"},
    {"cancel", mtq_cmd_cancel, "cancel a waiting or running task"},
    {"suspend", mtq_cmd_suspend, "hold a waiting task until resumed"},
    {"resume", mtq_cmd_resume, "let a suspended task wait for its turn again"},
    {"retry", mtq_cmd_retry, "queue a dead or failed task again"},
    {"workers", mtq_cmd_workers, "list workers, their hosts and their scores"},
    {"functions", mtq_cmd_functions, "the function registry: versions, digests, workers, missing"},
    {"stats", mtq_cmd_stats, "count tasks per channel and status; --func: per worker"},
    {"channels", mtq_cmd_channels, "list declared channels"},
    {"coordinators", mtq_cmd_coordinators, "which mtqd leads, and the leaderships before"},
    {"flow", mtq_cmd_flow, "flows of steps: submit, show, ls, cancel, suspend, resume"},
    {"schedule", mtq_cmd_schedule, "recurring schedules: add, ls, show, rm, pause, resume"},
    {"help", cmd_help, "this list, or the help of a command"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void print_help(FILE *out) {
  fputs("usage: mtq [--uri URI] [--json] COMMAND [ARGS]\n"
        "\n"
        "Operate an mtq task queue.\n"
        "\n"
        "  --uri URI   database (else $MTQ_URI, else " MTQ_CLI_DEFAULT_URI ");\n"
        "              credentials belong in $MTQ_URI, not on the command line\n"
        "  --json      machine-readable output\n"
        "  --help      this help\n"
        "--uri and --json may also come after the command (mtq show ID --json).\n"
        "\n"
        "Commands:\n",
        out);
  for (size_t i = 0; i < N_COMMANDS; i++) {
    fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
  }
  fputs("\nRun 'mtq COMMAND --help' for the options of a command.\n"
        "Exit status: 0 success, 1 failure, 2 bad usage.\n",
        out);
}

static const command_t *find_command(const char *name) {
  for (size_t i = 0; i < N_COMMANDS; i++) {
    if (strcmp(commands[i].name, name) == 0) {
      return &commands[i];
    }
  }
  return NULL;
}

static int run_command(mtq_cli_t *cli, const command_t *cmd, int argc, char **argv) {
  cli->command = cmd->name;
  /* glibc's getopt starts afresh, at argv[1], when optind is 0. */
  optind = 0;
  opterr = 0;
  return cmd->run(cli, argc, argv);
}

/* `mtq help COMMAND` is `mtq COMMAND --help`. */
static int cmd_help(mtq_cli_t *cli, int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    print_help(stdout);
    return MTQ_CLI_OK;
  }
  const command_t *cmd = find_command(argv[1]);
  if (!cmd || cmd->run == cmd_help) {
    cli->command = NULL; /* the hint is then "mtq --help" */
    return mtq_cli_usage(cli, "unknown command '%s'", argv[1]);
  }
  char *sub_argv[] = {argv[1], "--help", NULL};
  return run_command(cli, cmd, 2, sub_argv);
}

/* Returns -1 to go on with argv[optind] as the command, else the exit code.
 * Global options after the command are the command's getopt's to find
 * (mtq_cli_getopt). */
static int parse_global(mtq_cli_t *cli, int argc, char **argv) {
  static const struct option longopts[] = {
      MTQ_CLI_GLOBAL_OPTIONS, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  int c;
  opterr = 0;
  /* "+": stop at the command, whose options are its own to parse. */
  while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
    switch (c) {
    case MTQ_CLI_OPT_URI:
    case MTQ_CLI_OPT_JSON:
      mtq_cli_global_option(cli, c, optarg);
      break;
    case 'h':
      print_help(stdout);
      return MTQ_CLI_OK;
    case ':':
      return mtq_cli_usage(cli, "option '%s' needs an argument", argv[optind - 1]);
    default:
      return mtq_cli_usage(cli, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind >= argc) {
    print_help(stderr);
    return MTQ_CLI_USAGE;
  }
  return -1;
}

int main(int argc, char **argv) {
  mtq_cli_t cli = {0};
  /* The store logs what it quarantines or cannot do; debug and info are
   * noise on a terminal. */
  mtq_log_init("mtq", MTQ_LOG_WARN);
  int rc = parse_global(&cli, argc, argv);
  if (rc >= 0) {
    return rc;
  }
  /* Set here, before the command's own options: a --uri after the command
   * still wins over MTQ_URI. */
  if (!cli.uri) {
    const char *env = getenv("MTQ_URI");
    cli.uri = env && *env ? env : MTQ_CLI_DEFAULT_URI;
    cli.uri_from = env && *env ? "MTQ_URI" : NULL;
  }
  const command_t *cmd = find_command(argv[optind]);
  if (!cmd) {
    return mtq_cli_usage(&cli, "unknown command '%s'", argv[optind]);
  }
  rc = run_command(&cli, cmd, argc - optind, argv + optind);
  mtq_cli_close(&cli);
  /* Output is buffered: a full disk shows only here. */
  if (fflush(stdout) != 0 && rc == MTQ_CLI_OK) {
    rc = MTQ_CLI_FAILED;
  }
  return rc;
}
