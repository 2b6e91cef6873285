/* fuzz_task_seeds.c - writes the seed corpus of fuzz_task: task documents as
 * mtq stores them and as an operator might leave them after editing one in
 * mongosh, one BSON file each.
 *
 *   fuzz_task_seeds DIR
 *
 * The documents are written as extended JSON here because BSON is not
 * something to keep by hand; the output is deterministic, so re-running it
 * leaves the committed corpus unchanged. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mtq_task.h"

#define OID "{\"$oid\": \"65a1b2c3d4e5f60718293a4b\"}"
#define DATE(ms) "{\"$date\": {\"$numberLong\": \"" #ms "\"}}"

static const struct {
  const char *name;
  const char *json;
} seeds[] = {
    {"queued",
     "{\"_id\": " OID ", \"channel\": \"default\", \"func\": \"square\", \"version\": \"1\","
     " \"args\": {\"x\": 7}, \"priority\": 5, \"is_enable\": true, \"status\": \"queued\","
     " \"attempt\": 0, \"max_attempts\": 3, \"timeout_s\": 3600,"
     " \"token\": {\"$numberLong\": \"0\"},"
     " \"not_before\": " DATE(1700000000000) ", \"created_at\": " DATE(1700000000000) ","
     " \"claimed_at\": null, \"finished_at\": null, \"worker\": null, \"result\": null,"
     " \"error\": null}"},
    {"delayed",
     "{\"_id\": " OID ", \"channel\": \"gpu\", \"func\": \"train\", \"version\": \"2\","
     " \"args\": {\"epochs\": 10, \"lr\": 0.001, \"layers\": [64, 32]}, \"priority\": 0,"
     " \"is_enable\": true, \"status\": \"delayed\", \"attempt\": 0, \"max_attempts\": 1,"
     " \"timeout_s\": 86400, \"token\": {\"$numberLong\": \"0\"},"
     " \"not_before\": " DATE(1700000600000) ", \"created_at\": " DATE(1700000000000) "}"},
    {"running",
     "{\"_id\": " OID ", \"channel\": \"default\", \"func\": \"sleep\", \"version\": \"1\","
     " \"args\": {\"s\": 2}, \"priority\": 9, \"is_enable\": true, \"status\": \"running\","
     " \"attempt\": 2, \"max_attempts\": 3, \"timeout_s\": 60, \"token\": {\"$numberLong\": \"4\"},"
     " \"not_before\": null, \"created_at\": " DATE(1700000000000) ","
     " \"claimed_at\": " DATE(1700000001000) ", \"finished_at\": null, \"worker\": \"m1\","
     " \"result\": null, \"error\": \"exit code 1: out of memory\"}"},
    {"done",
     "{\"_id\": " OID ", \"channel\": \"default\", \"func\": \"square\", \"version\": \"1\","
     " \"args\": {\"x\": 7}, \"priority\": 5, \"is_enable\": true, \"status\": \"done\","
     " \"attempt\": 1, \"max_attempts\": 3, \"timeout_s\": 3600,"
     " \"token\": {\"$numberLong\": \"1\"},"
     " \"created_at\": " DATE(1700000000000) ", \"claimed_at\": " DATE(1700000001000) ","
     " \"finished_at\": " DATE(1700000002000) ", \"worker\": \"gpu-node-01\","
     " \"result\": {\"x\": 7, \"square\": 49}, \"error\": null}"},
    {"failed",
     "{\"_id\": " OID ", \"channel\": \"default\", \"func\": \"fail\", \"version\": \"1\","
     " \"args\": {}, \"priority\": 1, \"is_enable\": false, \"status\": \"failed\","
     " \"attempt\": 3, \"max_attempts\": 3, \"timeout_s\": 10, \"token\": {\"$numberLong\": \"3\"},"
     " \"finished_at\": " DATE(1700000009000) ", \"worker\": \"m2\","
     " \"error\": \"killed by signal 9: \\u00e9chec\"}"},
    /* Edited in mongosh: numbers are doubles, an operator's note. */
    {"edited",
     "{\"_id\": " OID ", \"func\": \"square\", \"version\": \"1\", \"args\": {\"x\": 1.5},"
     " \"priority\": 9.0, \"is_enable\": true, \"status\": \"queued\", \"attempt\": 0.0,"
     " \"timeout_s\": 120.0, \"note\": \"bumped by alice\"}"},
    /* Only the required fields. */
    {"minimal",
     "{\"_id\": " OID ", \"func\": \"f\", \"version\": \"1\", \"args\": {}, \"priority\": 0,"
     " \"is_enable\": true, \"status\": \"cancelled\"}"},
    /* As another program writes it (README, "Producing tasks from another
     * language"): the schema's required fields; token, created_at and the
     * rest take their defaults. */
    {"outside_client",
     "{\"_id\": " OID ", \"func\": \"square\", \"version\": \"1\", \"args\": {\"x\": 7},"
     " \"priority\": 5, \"is_enable\": true, \"status\": \"queued\"}"},
    /* Every optional field of the table: a signed, redundant parent. */
    {"parent",
     "{\"_id\": " OID ", \"channel\": \"default\", \"func\": \"render\", \"version\": \"1\","
     " \"args\": {\"f\": 1}, \"priority\": 4, \"is_enable\": true, \"status\": \"running\","
     " \"attempt\": 1, \"max_attempts\": 3, \"timeout_s\": 60, \"token\": {\"$numberLong\": \"2\"},"
     " \"not_before\": " DATE(1700000000000) ", \"created_at\": " DATE(1700000000000) ","
     " \"claimed_at\": " DATE(1700000001000) ", \"finished_at\": null, \"worker\": \"mtqd\","
     " \"result\": null, \"error\": \"copy 1 lost\","
     " \"errors\": [{\"attempt\": 1, \"worker\": \"w2\", \"error\": \"exit code 3\","
     " \"at\": " DATE(1700000000500) "}], \"backoff_ms\": 500, \"backoff_max_ms\": 60000,"
     " \"dedupe_key\": \"frame-17\", \"sig\": {\"key\": \"k2\", \"hmac\":"
     " \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"},"
     " \"redundancy\": {\"copies\": 3, \"pick\": \"quorum\", \"max_replacements\": 2,"
     " \"hedge_ms\": {\"$numberLong\": \"0\"}, \"need_gpu\": true,"
     " \"min_mem_mb\": {\"$numberLong\": \"512\"}, \"tag\": \"big\"},"
     " \"copies\": [{\"slot\": 0, \"id\": " OID ", \"worker\": \"w1\", \"host\": \"m1\","
     " \"state\": \"done\"}]}"},
    /* A copy in its worker's own channel. */
    {"copy",
     "{\"_id\": " OID ", \"channel\": \"to.w1\", \"func\": \"render\", \"version\": \"1\","
     " \"args\": {\"f\": 1}, \"priority\": 4, \"is_enable\": true, \"status\": \"queued\","
     " \"parent\": " OID ", \"slot\": 2, \"origin\": \"default\"}"},
    /* A wrong type, as the bad-input integration test writes it. */
    {"wrong_type",
     "{\"_id\": " OID ", \"func\": \"square\", \"version\": \"1\", \"args\": {\"x\": 7},"
     " \"priority\": \"high\", \"is_enable\": true, \"status\": \"queued\"}"},
    /* Nested args of several types. */
    {"nested",
     "{\"_id\": " OID ", \"func\": \"render\", \"version\": \"v3\", \"args\": {\"scene\":"
     " {\"objects\": [{\"id\": 1, \"tags\": [\"a\", \"b\"]}, {\"id\": 2, \"on\": false}],"
     " \"at\": " DATE(1700000000000) ", \"big\": {\"$numberLong\": \"9007199254740993\"}},"
     " \"none\": null}, \"priority\": 3, \"is_enable\": true, \"status\": \"queued\"}"},
};

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fuzz_task_seeds DIR\n");
    return 2;
  }
  for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
    bson_error_t error;
    bson_t *doc = bson_new_from_json((const uint8_t *)seeds[i].json, -1, &error);
    if (!doc) {
      fprintf(stderr, "fuzz_task_seeds: %s: %s\n", seeds[i].name, error.message);
      return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.bson", argv[1], seeds[i].name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bson_get_data(doc), 1, doc->len, f) != doc->len || fclose(f) != 0) {
      fprintf(stderr, "fuzz_task_seeds: %s: %s\n", path, strerror(errno));
      return 1;
    }
    bson_destroy(doc);
  }
  return 0;
}
