/* producer.c - a program outside mtq's tree that uses libmtq as installed:
 * built by test_install.sh with
 *   cc producer.c $(pkg-config --cflags --libs mtq)
 * against a scratch prefix.  It enqueues one task and waits for its result,
 * which it prints.
 *
 *   producer URI CHANNEL FUNC ARGS_JSON      exit 0 when the task is done */
#include <stdio.h>

#include "mtq.h"

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: producer URI CHANNEL FUNC ARGS_JSON\n");
    return 2;
  }
  bson_error_t err;
  mtq_client_t *c = mtq_client_new(argv[1], &err);
  if (!c) {
    fprintf(stderr, "producer: %s\n", err.message);
    return 1;
  }
  mtq_enqueue_opts_t o = {.channel = argv[2], .func = argv[3], .args_json = argv[4],
                          .require_served = true};
  bson_oid_t id;
  mtq_task_t t;
  mtq_task_init(&t);
  int rc = 1;
  if (!mtq_client_enqueue(c, &o, &id, NULL, &err) || !mtq_client_wait(c, &id, 60000, &t, &err)) {
    fprintf(stderr, "producer: %s\n", err.message);
  } else if (t.status != MTQ_STATE_DONE) {
    fprintf(stderr, "producer: task ended %s: %s\n", mtq_state_name(t.status),
            t.error ? t.error : "");
  } else {
    char *json = bson_as_relaxed_extended_json(t.result, NULL);
    printf("%s\n", json);
    bson_free(json);
    rc = 0;
  }
  mtq_task_cleanup(&t);
  mtq_client_destroy(c);
  return rc;
}
