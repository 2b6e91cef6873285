/* throughput.c - attempts ended per minute and channel, from run records:
 * the overview's throughput (pure; see web_private.h). */
#include <stdlib.h>
#include <string.h>

#include "mtq_perf.h"
#include "throughput.h"

typedef struct {
  int64_t minute_ms;
  char channel[MTQ_NAME_MAX + 1];
  int64_t done, failed;
} minute_t;

static int by_minute(const void *a, const void *b) {
  const minute_t *x = a, *y = b;
  if (x->minute_ms != y->minute_ms) {
    return x->minute_ms < y->minute_ms ? -1 : 1;
  }
  return strcmp(x->channel, y->channel);
}

void mtq__web_throughput(const mtq_run_t *runs, size_t n, int64_t since_ms, bson_t *out) {
  minute_t *m = bson_malloc0((n + 1) * sizeof *m);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const mtq_run_t *r = &runs[i];
    /* An attempt stopped from outside says nothing of throughput. */
    if (r->at_ms < since_ms || r->outcome == MTQ_STATE_CANCELLED ||
        r->outcome == MTQ_STATE_SUSPENDED) {
      continue;
    }
    int64_t minute = r->at_ms - r->at_ms % 60000;
    size_t j = 0;
    while (j < k && !(m[j].minute_ms == minute && strcmp(m[j].channel, r->channel) == 0)) {
      j++;
    }
    if (j == k) {
      m[k].minute_ms = minute;
      bson_strncpy(m[k].channel, r->channel, sizeof m[k].channel);
      k++;
    }
    if (r->outcome == MTQ_STATE_DONE) {
      m[j].done++;
    } else {
      m[j].failed++;
    }
  }
  qsort(m, k, sizeof *m, by_minute);
  bson_t arr;
  BSON_APPEND_ARRAY_BEGIN(out, "throughput", &arr);
  for (size_t i = 0; i < k; i++) {
    char key[16];
    const char *ks;
    bson_t doc;
    bson_uint32_to_string((uint32_t)i, &ks, key, sizeof key);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, ks, &doc);
    BSON_APPEND_DATE_TIME(&doc, "minute", m[i].minute_ms);
    BSON_APPEND_UTF8(&doc, "channel", m[i].channel);
    BSON_APPEND_INT64(&doc, "done", m[i].done);
    BSON_APPEND_INT64(&doc, "failed", m[i].failed);
    bson_append_document_end(&arr, &doc);
  }
  bson_append_array_end(out, &arr);
  bson_free(m);
}

