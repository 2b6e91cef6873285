/* worker_config.c - [worker] and [function NAME] (see worker_config.h). */
#include <string.h>
#include <unistd.h>

#include "worker_config.h"

void mtq_worker_config_init(mtq_worker_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  mtq_config_init(&cfg->base);
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  cfg->concurrency = cores > 0 ? (int)cores : 1;
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  cfg->worker_id = bson_strdup(host);
  cfg->poll_interval_ms = 1000;
  cfg->heartbeat_interval_ms = 3000;
  cfg->grace_period_ms = 30000;
  cfg->lease_ms = 30000;
  cfg->idle_poll_ms = 30000;
  cfg->wake = true;
}

void mtq_worker_config_cleanup(mtq_worker_config_t *cfg) {
  mtq_config_cleanup(&cfg->base);
  bson_free(cfg->worker_id);
  mtq_config_names_free(cfg->channels, cfg->n_channels);
  mtq_config_names_free(cfg->tags, cfg->n_tags);
  for (size_t i = 0; i < cfg->n_functions; i++) {
    bson_free(cfg->functions[i].name);
    bson_free(cfg->functions[i].version);
    mtq_argv_free(cfg->functions[i].argv);
  }
  bson_free(cfg->functions);
  memset(cfg, 0, sizeof *cfg);
}

const mtq_function_t *mtq_worker_config_function(const mtq_worker_config_t *cfg,
                                                 const char *name) {
  for (size_t i = 0; i < cfg->n_functions; i++) {
    if (strcmp(cfg->functions[i].name, name) == 0) {
      return &cfg->functions[i];
    }
  }
  return NULL;
}

static bool worker_key(void *data, const char *sub, const char *name, const char *value,
                       bson_error_t *error) {
  mtq_worker_config_t *cfg = data;
  int64_t v;
  if (strcmp(name, "id") == 0) {
    return mtq_config_name(&cfg->worker_id, value, "worker id", error);
  }
  if (strcmp(name, "channels") == 0) {
    return mtq_config_names(value, &cfg->channels, &cfg->n_channels, error);
  }
  if (strcmp(name, "tags") == 0) {
    return mtq_config_names(value, &cfg->tags, &cfg->n_tags, error);
  }
  if (strcmp(name, "concurrency") == 0) {
    if (!mtq_config_int(value, 1, 1024, &v, error)) {
      return false;
    }
    cfg->concurrency = (int)v;
    return true;
  }
  if (strcmp(name, "wake") == 0) {
    return mtq_config_bool(value, &cfg->wake, error);
  }
  if (strcmp(name, "wake_port") == 0) {
    return mtq_config_int(value, 0, 65535, &cfg->wake_port, error);
  }
  int64_t *ms = strcmp(name, "poll_interval_ms") == 0        ? &cfg->poll_interval_ms
                : strcmp(name, "idle_poll_ms") == 0          ? &cfg->idle_poll_ms
                : strcmp(name, "heartbeat_interval_ms") == 0 ? &cfg->heartbeat_interval_ms
                : strcmp(name, "grace_period_ms") == 0       ? &cfg->grace_period_ms
                : strcmp(name, "lease_ms") == 0              ? &cfg->lease_ms
                                                             : NULL;
  if (ms) {
    /* A lease shorter than a second would be renewed faster than a busy
     * database answers. */
    return mtq_config_int(value, ms == &cfg->lease_ms ? 1000 : 10, 24 * 3600 * 1000, ms, error);
  }
  mtq_error_set(error, MTQ_ERR_INVALID, "unknown key '%s' in [worker]", name);
  return false;
}

/* The function of a "[function NAME]" header, created when first seen
 * (version 1, no command yet). */
static bool function_header(void *data, const char *fname, bson_error_t *error) {
  mtq_worker_config_t *cfg = data;
  if (!mtq_name_valid(fname)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not a valid function name", fname);
    return false;
  }
  if (!mtq_worker_config_function(cfg, fname)) {
    cfg->functions =
        bson_realloc(cfg->functions, (cfg->n_functions + 1) * sizeof *cfg->functions);
    mtq_function_t *f = &cfg->functions[cfg->n_functions++];
    memset(f, 0, sizeof *f);
    f->name = bson_strdup(fname);
    f->version = bson_strdup("1");
  }
  return true;
}

static bool function_key(void *data, const char *fname, const char *name, const char *value,
                         bson_error_t *error) {
  mtq_worker_config_t *cfg = data;
  if (!function_header(cfg, fname, error)) {
    return false;
  }
  mtq_function_t *f = (mtq_function_t *)mtq_worker_config_function(cfg, fname);
  if (strcmp(name, "version") == 0) {
    return mtq_config_name(&f->version, value, "version", error);
  }
  if (strcmp(name, "command") == 0) {
    char **argv = mtq_argv_split(value, error);
    if (!argv) {
      return false;
    }
    mtq_argv_free(f->argv);
    f->argv = argv;
    return true;
  }
  mtq_error_set(error, MTQ_ERR_INVALID, "unknown key '%s' in [function %s]", name, fname);
  return false;
}

void mtq_worker_config_sections(mtq_worker_config_t *cfg, mtq_config_section_t *out) {
  out[0] = (mtq_config_section_t){"worker", worker_key, NULL, cfg};
  out[1] = (mtq_config_section_t){"function ", function_key, function_header, cfg};
}

bool mtq_worker_config_check(const mtq_worker_config_t *cfg, const char *source,
                             bson_error_t *error) {
  for (size_t i = 0; i < cfg->n_functions; i++) {
    if (!cfg->functions[i].argv) {
      mtq_error_set(error, MTQ_ERR_INVALID, "%s: [function %s] has no command", source,
                    cfg->functions[i].name);
      return false;
    }
  }
  return true;
}

/* The worker's table: its own sections, and mtqd's and mtq-web's skipped. */
static size_t sections(mtq_worker_config_t *cfg, mtq_config_section_t *out) {
  mtq_worker_config_sections(cfg, out);
  out[MTQ_WORKER_CONFIG_SECTIONS] = (mtq_config_section_t){"coordinator", NULL, NULL, NULL};
  out[MTQ_WORKER_CONFIG_SECTIONS + 1] = (mtq_config_section_t){"web", NULL, NULL, NULL};
  return MTQ_WORKER_CONFIG_SECTIONS + 2;
}

bool mtq_worker_config_parse(mtq_worker_config_t *cfg, const char *text, size_t len,
                             const char *source, bson_error_t *error) {
  mtq_config_section_t table[MTQ_WORKER_CONFIG_SECTIONS + 2];
  size_t n = sections(cfg, table);
  return mtq_config_parse(&cfg->base, table, n, text, len, source, error) &&
         mtq_worker_config_check(cfg, source, error);
}

bool mtq_worker_config_load(mtq_worker_config_t *cfg, const char *path, bson_error_t *error) {
  mtq_config_section_t table[MTQ_WORKER_CONFIG_SECTIONS + 2];
  size_t n = sections(cfg, table);
  return mtq_config_load(&cfg->base, table, n, path, error) &&
         mtq_worker_config_check(cfg, path, error);
}
