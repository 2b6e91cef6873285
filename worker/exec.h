/* exec.h - what the worker and its trampoline (exec.c) agree on: the
 * trampoline's file name, beside mtq-worker, and its exit status when it
 * cannot execute the command.  Plain macros, so that exec.c needs nothing
 * but libc. */
#ifndef MTQ_EXEC_H
#define MTQ_EXEC_H

#define MTQ_RUNNER_EXEC "mtq-exec"
#define MTQ_RUNNER_EXEC_FAILED 127

#endif
