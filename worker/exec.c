/* exec.c - mtq-exec, the trampoline every task process starts as.
 *
 *   mtq-exec PPID -- COMMAND [ARGS...]
 *
 * libuv has no hook between fork and exec, and a task must die with its
 * worker (runner.h): so the worker spawns this program, which asks the
 * kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG), exits at
 * once if the parent (pid PPID) is already gone, and executes COMMAND
 * (searched in PATH) with the environment it was given.  When COMMAND
 * cannot be executed it writes "cannot start COMMAND: <reason>" to stderr
 * and exits with MTQ_RUNNER_EXEC_FAILED.
 *
 * A program of its own, linked with libc alone, not a mode of mtq-worker:
 * executing mtq-worker loads some twenty shared libraries (libmongoc,
 * OpenSSL, ICU, libstdc++) only to replace them, which cost a no-op task
 * more CPU than the task itself. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "exec.h"

/* "cannot start COMMAND: reason", in the words libuv would use (strerror's,
 * first letter lower case), then the failure exit. */
static _Noreturn void fail(const char *command, int err) {
  char reason[256];
  snprintf(reason, sizeof reason, "%s", strerror(err));
  reason[0] = (char)tolower((unsigned char)reason[0]);
  fprintf(stderr, "cannot start %s: %s\n", command, reason);
  _exit(MTQ_RUNNER_EXEC_FAILED);
}

int main(int argc, char **argv) {
  /* First of all, so that the window in which the worker could die unseen
   * is as short as can be: the check of the parent below closes it. */
  int pdeath_errno = prctl(PR_SET_PDEATHSIG, SIGKILL) == 0 ? 0 : errno;
  char *end = NULL;
  long ppid = argc >= 4 ? strtol(argv[1], &end, 10) : 0;
  if (argc < 4 || end == argv[1] || *end || ppid <= 0 || strcmp(argv[2], "--") != 0) {
    fprintf(stderr, "usage: " MTQ_RUNNER_EXEC " PPID -- COMMAND [ARGS...]\n");
    _exit(MTQ_RUNNER_EXEC_FAILED);
  }
  const char *command = argv[3];
  /* Fails only on a bad argument, which cannot be; but a task that would
   * outlive its worker is what this program exists to prevent. */
  if (pdeath_errno != 0) {
    fprintf(stderr, "cannot start %s: prctl(PR_SET_PDEATHSIG): %s\n", command,
            strerror(pdeath_errno));
    _exit(MTQ_RUNNER_EXEC_FAILED);
  }
  /* The worker died between fork and prctl: the signal will never come,
   * and nobody waits for this task any more. */
  if (getppid() != (pid_t)ppid) {
    _exit(MTQ_RUNNER_EXEC_FAILED);
  }
  execvp(command, argv + 3);
  fail(command, errno);
}
