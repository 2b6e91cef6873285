/* mtq_config.h - the INI configuration file: its reader, and the sections
 * every mtq program shares.
 *
 *   [database]
 *   uri = mongodb://127.0.0.1:27017/mtq
 *
 *   [security]                   ; signed tasks (mtq_sign.h)
 *   keys = k2:/etc/mtq/k2.key, k1:/etc/mtq/k1.key   ; id:file, all accepted for verifying
 *   sign_with = k2               ; the key producers sign with; default: the first of keys
 *   require_signature = true     ; default: true when keys are set
 *
 * A program adds its own sections by handing the reader a table of them
 * (mtq_config_section_t): mtq-worker reads [worker] and [function NAME]
 * (worker/worker_config.h), mtqd reads [coordinator] (server/coord_config.h).
 * A section no table names is an error, with its line number; a section
 * that belongs to another program is named with a NULL handler and
 * skipped, so that one file can serve both daemons.
 *
 * Parsing uses inih.  A command is split into words like a shell would
 * (quotes, backslashes) but is never run through a shell. */
#ifndef MTQ_CONFIG_H
#define MTQ_CONFIG_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtq_sign.h"

/* What every program reads: [database] and [security]. */
typedef struct {
  char *uri; /* NULL when the file names none */
  /* [security]: key_ids[i] is read from key_files[i] */
  char **key_ids;
  char **key_files;
  size_t n_keys;
  char *sign_with;        /* NULL: the first of key_ids */
  bool require_signature; /* false: unsigned tasks run too (while producers start signing) */
} mtq_config_t;

/* One section a program reads.  name is "worker", or, ending in a space,
 * the prefix of named sections ("function " for [function NAME]). */
typedef struct {
  const char *name;
  /* Called for each "key = value" of the section; sub is the NAME of a
   * named section, "" otherwise.  Fills error (only the reason: the reader
   * adds where) and returns false to refuse the line.  NULL: the section
   * belongs to another program and is skipped. */
  bool (*key)(void *data, const char *sub, const char *key, const char *value,
              bson_error_t *error);
  /* Called for each header of the section in the file, before its keys,
   * even when it has none (may be NULL). */
  bool (*header)(void *data, const char *sub, bson_error_t *error);
  void *data;
} mtq_config_section_t;

/* Zeroes *cfg (no uri, no keys). */
void mtq_config_init(mtq_config_t *cfg);
/* Frees everything the config owns; cfg may be reused after mtq_config_init. */
void mtq_config_cleanup(mtq_config_t *cfg);

/* Parses INI text (need not be NUL-terminated; len bytes are read) into
 * cfg and, through their handlers, the program's own sections (n of them,
 * borrowed).  On failure *error names the source, line or section and key,
 * and the problem; what was parsed stays and must still be cleaned up. */
bool mtq_config_parse(mtq_config_t *cfg, const mtq_config_section_t *sections, size_t n,
                      const char *text, size_t len, const char *source, bson_error_t *error);

/* Reads and parses a file. */
bool mtq_config_load(mtq_config_t *cfg, const mtq_config_section_t *sections, size_t n,
                     const char *path, bson_error_t *error);

/* Loads the key files of [security] into a new ring (*out, which the caller
 * destroys), signing with sign_with.  No keys: *out = NULL and success. */
bool mtq_config_keyring(const mtq_config_t *cfg, mtq_keyring_t **out, bson_error_t *error);

/* --- for the handlers of a program's sections ------------------------------ */

/* A whole number in [min, max]. */
bool mtq_config_int(const char *value, int64_t min, int64_t max, int64_t *out,
                    bson_error_t *error);
/* A non-empty string, replacing *field (owned by the config). */
bool mtq_config_string(char **field, const char *value, bson_error_t *error);
/* A name (mtq_name_valid), replacing *field; what says which in the message
 * ("worker id": "'x y' is not a valid worker id"). */
bool mtq_config_name(char **field, const char *value, const char *what, bson_error_t *error);
/* "a, b ,c": valid names (mtq_name_valid), none twice, at least one;
 * replaces *list (owned by the config; free with mtq_config_names_free). */
bool mtq_config_names(const char *value, char ***list, size_t *n, bson_error_t *error);
void mtq_config_names_free(char **list, size_t n);
/* "true", "yes", "on", "1" or their opposites. */
bool mtq_config_bool(const char *value, bool *out, bson_error_t *error);

/* Splits a command line into a NULL-terminated argv (caller frees with
 * mtq_argv_free).  Supports single quotes, double quotes and backslash; no
 * expansion of any kind. */
char **mtq_argv_split(const char *line, bson_error_t *error);
void mtq_argv_free(char **argv);

#endif
