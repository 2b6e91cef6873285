/* fuzz_flow_seeds.c - writes the seed corpus of fuzz_flow: flow and schedule
 * documents as mtq stores them, one BSON file each.
 *
 *   fuzz_flow_seeds DIR
 *
 * Written from extended JSON, as fuzz_task_seeds does; deterministic. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <bson/bson.h>

#define OID(x) "{\"$oid\": \"65a1b2c3d4e5f60718293a4" x "\"}"
#define DATE(ms) "{\"$date\": {\"$numberLong\": \"" #ms "\"}}"
#define TASK                                                                                       \
  "{\"_id\": " OID("b") ", \"channel\": \"default\", \"func\": \"echo\", \"version\": \"1\","     \
  " \"args\": {\"x\": 1}, \"priority\": 0, \"is_enable\": true, \"status\": \"queued\","          \
  " \"not_before\": " DATE(1700000002000) ", \"created_at\": " DATE(1700000000000) "}"

static const struct {
  const char *name;
  const char *json;
} seeds[] = {
    {"flow-fanout",
     "{\"_id\": " OID("c") ", \"name\": \"etl\", \"status\": \"running\", \"reason\": null,"
     " \"created_at\": " DATE(1700000000000) ", \"finished_at\": null, \"steps\": ["
     "{\"name\": \"prep\", \"after\": [], \"shards\": 1, \"tolerance\": 0.0, \"task\": " TASK ","
     " \"state\": \"done\", \"started_at\": " DATE(1700000000100) ", \"ended_at\": "
     DATE(1700000000900) ", \"tasks\": [" OID("d") "], \"shards_done\": 1, \"shards_failed\": 0,"
     " \"error\": null},"
     "{\"name\": \"predict\", \"after\": [\"prep\"], \"shards\": 3, \"tolerance\": 0.0, \"task\": "
     TASK ", \"state\": \"running\", \"started_at\": " DATE(1700000001000) ", \"ended_at\": null,"
     " \"tasks\": [" OID("e") ", " OID("f") ", " OID("0") "], \"shards_done\": 1,"
     " \"shards_failed\": 0, \"error\": null},"
     "{\"name\": \"merge\", \"after\": [\"predict\", \"prep\"], \"shards\": 1, \"tolerance\": 0.34,"
     " \"task\": " TASK ", \"state\": \"waiting\", \"started_at\": null, \"ended_at\": null,"
     " \"tasks\": null, \"shards_done\": 0, \"shards_failed\": 0, \"error\": null}]}"},
    {"flow-after",
     "{\"_id\": " OID("1") ", \"name\": \"after\", \"status\": \"running\","
     " \"created_at\": " DATE(1700000000000) ", \"steps\": ["
     "{\"name\": \"before\", \"shards\": 2, \"external\": true, \"state\": \"running\","
     " \"tasks\": [" OID("2") ", " OID("3") "]},"
     "{\"name\": \"task\", \"after\": [\"before\"], \"shards\": 1, \"held\": true,"
     " \"state\": \"waiting\", \"tasks\": [" OID("4") "]}]}"},
    {"schedule-every",
     "{\"_id\": \"tick2\", \"cron\": null, \"tz\": null, \"every_ms\": {\"$numberLong\": \"2000\"},"
     " \"anchor\": " DATE(1700000000000) ", \"paused\": false, \"skip_if_running\": true,"
     " \"since\": " DATE(1700000000000) ", \"created_at\": " DATE(1700000000000) ","
     " \"last_tick\": " DATE(1700000010000) ", \"last_task\": " OID("5") ", \"task\": " TASK "}"},
    {"schedule-cron",
     "{\"_id\": \"nightly\", \"cron\": \"30 2 * * mon-fri\", \"tz\": null, \"every_ms\": null,"
     " \"anchor\": " DATE(1700000000000) ", \"paused\": true, \"skip_if_running\": false,"
     " \"since\": " DATE(1700000000000) ", \"created_at\": " DATE(1700000000000) ","
     " \"last_tick\": null, \"last_task\": null, \"task\": " TASK "}"},
};

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fuzz_flow_seeds DIR\n");
    return 2;
  }
  for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
    bson_error_t error;
    bson_t *doc = bson_new_from_json((const uint8_t *)seeds[i].json, -1, &error);
    if (!doc) {
      fprintf(stderr, "fuzz_flow_seeds: %s: %s\n", seeds[i].name, error.message);
      return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.bson", argv[1], seeds[i].name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bson_get_data(doc), 1, doc->len, f) != doc->len || fclose(f) != 0) {
      fprintf(stderr, "fuzz_flow_seeds: %s: %s\n", path, strerror(errno));
      return 1;
    }
    bson_destroy(doc);
  }
  return 0;
}
