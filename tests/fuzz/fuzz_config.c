/* fuzz_config.c - libFuzzer harness for mtq_config_parse, which reads the
 * INI file of mtq-worker and mtqd, with both daemons' sections
 * (worker/worker_config.c, server/coord_config.c).
 *
 * Input: the file's bytes.  Besides not crashing, an accepted configuration
 * must be one the daemons can use without checking again: every function
 * has a command (the worker runs argv[0]) and every name is valid. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_config.h"
#include "mtq_config.h"
#include "mtq_task.h"
#include "worker_config.h"

static void check(bool ok, const char *what, const uint8_t *data, size_t size) {
  if (!ok) {
    fprintf(stderr, "fuzz_config: accepted, but %s\n--- input ---\n%.*s\n---\n", what, (int)size,
            (const char *)data);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mtq_worker_config_t w;
  mtq_coord_config_t c;
  mtq_worker_config_init(&w);
  mtq_coord_config_init(&c);
  mtq_config_section_t table[MTQ_WORKER_CONFIG_SECTIONS + 1];
  mtq_worker_config_sections(&w, table);
  table[MTQ_WORKER_CONFIG_SECTIONS] = mtq_coord_config_section(&c);
  bson_error_t error;
  if (mtq_config_parse(&w.base, table, MTQ_WORKER_CONFIG_SECTIONS + 1, (const char *)data, size,
                       "fuzz.ini", &error) &&
      mtq_worker_config_check(&w, "fuzz.ini", &error)) {
    for (size_t i = 0; i < w.n_functions; i++) {
      const mtq_function_t *f = &w.functions[i];
      check(mtq_name_valid(f->name), "a function name is not valid", data, size);
      check(mtq_name_valid(f->version), "a function version is not valid", data, size);
      check(f->argv && f->argv[0], "a function has no command", data, size);
    }
    for (size_t i = 0; i < w.n_channels; i++) {
      check(mtq_name_valid(w.channels[i]), "a worker channel is not valid", data, size);
    }
    for (size_t i = 0; i < c.n_channels; i++) {
      check(mtq_name_valid(c.channels[i]), "a coordinator channel is not valid", data, size);
    }
    /* The default id is the host name, which is not the parser's doing. */
    mtq_worker_config_t defaults;
    mtq_worker_config_init(&defaults);
    check(strcmp(w.worker_id, defaults.worker_id) == 0 || mtq_name_valid(w.worker_id),
          "the worker id is not valid", data, size);
    mtq_worker_config_cleanup(&defaults);
  }
  mtq_worker_config_cleanup(&w);
  mtq_coord_config_cleanup(&c);
  return 0;
}
