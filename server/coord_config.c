/* coord_config.c - [coordinator] (see coord_config.h). */
#include <string.h>

#include "coord_config.h"

void mtq_coord_config_init(mtq_coord_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  mtq_config_init(&cfg->base);
  cfg->lost_after_ms = 15000;
  cfg->sweep_interval_ms = 1000;
  cfg->reconcile_interval_ms = 5000;
  cfg->dispatch_interval_ms = 500;
  cfg->perf_refresh_ms = 10000;
  cfg->retain_done_s = 7 * 24 * 3600;
  cfg->retain_failed_s = 30 * 24 * 3600;
  cfg->retention_interval_ms = 60000;
  cfg->retention_batch = 500;
  cfg->segment_retire_s = MTQ_SEGMENT_RETIRE_S;
}

void mtq_coord_config_cleanup(mtq_coord_config_t *cfg) {
  mtq_config_cleanup(&cfg->base);
  mtq_config_names_free(cfg->channels, cfg->n_channels);
  memset(cfg, 0, sizeof *cfg);
}

static bool coordinator_key(void *data, const char *sub, const char *name, const char *value,
                            bson_error_t *error) {
  mtq_coord_config_t *cfg = data;
  if (strcmp(name, "channels") == 0) {
    return mtq_config_names(value, &cfg->channels, &cfg->n_channels, error);
  }
  if (strcmp(name, "max_backlog") == 0) {
    return mtq_config_int(value, 0, INT64_MAX / 2, &cfg->max_backlog, error);
  }
  int64_t *ms = strcmp(name, "lost_after_ms") == 0           ? &cfg->lost_after_ms
                : strcmp(name, "sweep_interval_ms") == 0     ? &cfg->sweep_interval_ms
                : strcmp(name, "reconcile_interval_ms") == 0 ? &cfg->reconcile_interval_ms
                : strcmp(name, "retention_interval_ms") == 0 ? &cfg->retention_interval_ms
                : strcmp(name, "dispatch_interval_ms") == 0  ? &cfg->dispatch_interval_ms
                : strcmp(name, "perf_refresh_ms") == 0       ? &cfg->perf_refresh_ms
                                                             : NULL;
  if (ms) {
    return mtq_config_int(value, 10, 24 * 3600 * 1000, ms, error);
  }
  /* 0 keeps finished tasks forever; ten years is far beyond any sane
   * retention and keeps the cutoff arithmetic clear of overflow. */
  int64_t *secs = strcmp(name, "retain_done_s") == 0     ? &cfg->retain_done_s
                  : strcmp(name, "retain_failed_s") == 0 ? &cfg->retain_failed_s
                                                         : NULL;
  if (secs) {
    return mtq_config_int(value, 0, MTQ_RETAIN_MAX_S, secs, error);
  }
  if (strcmp(name, "segment_retire_s") == 0) {
    return mtq_config_int(value, 1, 7 * 24 * 3600, &cfg->segment_retire_s, error);
  }
  if (strcmp(name, "retention_batch") == 0) {
    return mtq_config_int(value, 1, MTQ_RETENTION_BATCH_MAX, &cfg->retention_batch, error);
  }
  mtq_error_set(error, MTQ_ERR_INVALID, "unknown key '%s' in [coordinator]", name);
  return false;
}

mtq_config_section_t mtq_coord_config_section(mtq_coord_config_t *cfg) {
  return (mtq_config_section_t){"coordinator", coordinator_key, NULL, cfg};
}

bool mtq_coord_config_load(mtq_coord_config_t *cfg, const char *path, bson_error_t *error) {
  const mtq_config_section_t table[] = {mtq_coord_config_section(cfg),
                                        {"worker", NULL, NULL, NULL},
                                        {"function ", NULL, NULL, NULL},
                                        {"web", NULL, NULL, NULL}};
  return mtq_config_load(&cfg->base, table, sizeof table / sizeof table[0], path, error);
}
