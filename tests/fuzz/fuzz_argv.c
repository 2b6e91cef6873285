/* fuzz_argv.c - libFuzzer harness for mtq_argv_split, which splits the
 * `command` of a [function] section into the argv the worker executes.
 *
 * Input: the command line (a NUL-terminated copy is made, as inih hands
 * values over).  Besides not crashing, a split that succeeds has at least
 * one word, and no word is longer than the line it came from. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtq_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *line = malloc(size + 1);
  memcpy(line, data, size);
  line[size] = '\0';
  bson_error_t error;
  char **argv = mtq_argv_split(line, &error);
  if (argv) {
    if (!argv[0]) {
      fprintf(stderr, "fuzz_argv: accepted '%s' with no words\n", line);
      abort();
    }
    for (size_t i = 0; argv[i]; i++) {
      if (strlen(argv[i]) > strlen(line)) {
        fprintf(stderr, "fuzz_argv: word %zu of '%s' is longer than the line\n", i, line);
        abort();
      }
    }
    mtq_argv_free(argv);
  }
  free(line);
  return 0;
}
