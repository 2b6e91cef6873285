/* fuzz_config.c - libFuzzer harness for mtq_config_parse, which reads the
 * INI file of mtq-worker and mtqd.
 *
 * Input: the file's bytes.  Besides not crashing, an accepted configuration
 * must be one the daemons can use without checking again: every function
 * has a command (the worker runs argv[0]) and every name is valid. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtq_config.h"
#include "mtq_task.h"

static void check(bool ok, const char *what, const uint8_t *data, size_t size) {
  if (!ok) {
    fprintf(stderr, "fuzz_config: accepted, but %s\n--- input ---\n%.*s\n---\n", what, (int)size,
            (const char *)data);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mtq_config_t cfg;
  mtq_config_init(&cfg);
  bson_error_t error;
  if (mtq_config_parse(&cfg, (const char *)data, size, "fuzz.ini", &error)) {
    for (size_t i = 0; i < cfg.n_functions; i++) {
      const mtq_function_t *f = &cfg.functions[i];
      check(mtq_name_valid(f->name), "a function name is not valid", data, size);
      check(mtq_name_valid(f->version), "a function version is not valid", data, size);
      check(f->argv && f->argv[0], "a function has no command", data, size);
    }
    for (size_t i = 0; i < cfg.n_channels; i++) {
      check(mtq_name_valid(cfg.channels[i]), "a worker channel is not valid", data, size);
    }
    for (size_t i = 0; i < cfg.n_coord_channels; i++) {
      check(mtq_name_valid(cfg.coord_channels[i]), "a coordinator channel is not valid", data,
            size);
    }
    /* The default id is the host name, which is not the parser's doing. */
    mtq_config_t defaults;
    mtq_config_init(&defaults);
    check(strcmp(cfg.worker_id, defaults.worker_id) == 0 || mtq_name_valid(cfg.worker_id),
          "the worker id is not valid", data, size);
    mtq_config_cleanup(&defaults);
  }
  mtq_config_cleanup(&cfg);
  return 0;
}
