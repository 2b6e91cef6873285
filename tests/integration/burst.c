/* burst.c - a test tool: enqueues N tasks of FUNC at PRIORITY into CHANNEL
 * with one mtq_client_enqueue_many call (one producer, as fast as it can),
 * and prints their ids, one a line, in order.
 *
 *   burst URI CHANNEL FUNC PRIORITY N
 *
 * Exit status: 0 when all went in, 1 when any did not (each said on
 * stderr), 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>

#include "mtq_client.h"

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: burst URI CHANNEL FUNC PRIORITY N\n");
    return 2;
  }
  long n = strtol(argv[5], NULL, 10);
  if (n <= 0 || n > 10000000) {
    fprintf(stderr, "burst: N must be 1..10000000\n");
    return 2;
  }
  bson_error_t err;
  mtq_client_t *client = mtq_client_new(argv[1], &err);
  if (!client) {
    fprintf(stderr, "burst: %s\n", err.message);
    return 2;
  }
  mtq_enqueue_opts_t *opts = calloc((size_t)n, sizeof *opts);
  mtq_enqueue_result_t *res = calloc((size_t)n, sizeof *res);
  char (*args)[32] = calloc((size_t)n, sizeof *args);
  for (long i = 0; i < n; i++) {
    snprintf(args[i], sizeof args[i], "{\"i\": %ld}", i);
    opts[i].channel = argv[2];
    opts[i].func = argv[3];
    opts[i].priority = (int32_t)strtol(argv[4], NULL, 10);
    opts[i].args_json = args[i];
  }
  size_t in = mtq_client_enqueue_many(client, opts, (size_t)n, res);
  for (long i = 0; i < n; i++) {
    char hex[25];
    if (res[i].ok) {
      bson_oid_to_string(&res[i].id, hex);
      printf("%s\n", hex);
    } else {
      printf("-\n");
      fprintf(stderr, "burst: task %ld: %s\n", i, res[i].error.message);
    }
  }
  free(args);
  free(res);
  free(opts);
  mtq_client_destroy(client);
  return in == (size_t)n ? 0 : 1;
}
