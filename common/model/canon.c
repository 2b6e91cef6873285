/* canon.c - a canonical hash of a result document, so that copies of a
 * redundant task can be compared: two results are equal when they hold the
 * same keys with the same values, whatever the order of the keys and
 * whether a number came back as 3, 3.0 or a 64-bit 3 (JSON does not say). */
#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "mtq_task.h"

#define MAX_DEPTH 100

static void feed(EVP_MD_CTX *md, const void *data, size_t len) {
  EVP_DigestUpdate(md, data, len);
}

static void feed_len(EVP_MD_CTX *md, uint64_t n) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++) {
    b[i] = (uint8_t)(n >> (8 * i));
  }
  feed(md, b, sizeof b);
}

static void feed_value(EVP_MD_CTX *md, const bson_iter_t *it, int depth);

typedef struct {
  const char *key;
  bson_iter_t it;
} entry_t;

static int by_key(const void *a, const void *b) {
  return strcmp(((const entry_t *)a)->key, ((const entry_t *)b)->key);
}

/* A document's fields in key order; an array's in index order. */
static void feed_container(EVP_MD_CTX *md, const bson_iter_t *parent, bool sorted, int depth) {
  bson_iter_t sub;
  if (depth > MAX_DEPTH || !bson_iter_recurse(parent, &sub)) {
    feed(md, "!", 1);
    return;
  }
  entry_t *items = NULL;
  size_t n = 0, cap = 0;
  while (bson_iter_next(&sub)) {
    if (n == cap) {
      cap = cap ? cap * 2 : 8;
      items = bson_realloc(items, cap * sizeof *items);
    }
    items[n].key = bson_iter_key(&sub);
    items[n++].it = sub;
  }
  if (sorted && n > 1) {
    qsort(items, n, sizeof *items, by_key);
  }
  feed_len(md, n);
  for (size_t i = 0; i < n; i++) {
    if (sorted) {
      feed_len(md, strlen(items[i].key));
      feed(md, items[i].key, strlen(items[i].key));
    }
    feed_value(md, &items[i].it, depth + 1);
  }
  bson_free(items);
}

static void feed_value(EVP_MD_CTX *md, const bson_iter_t *it, int depth) {
  bson_type_t type = bson_iter_type(it);
  double d = type == BSON_TYPE_DOUBLE ? bson_iter_double(it) : 0.0;
  if (type == BSON_TYPE_INT32 || type == BSON_TYPE_INT64 ||
      (type == BSON_TYPE_DOUBLE && d == trunc(d) && fabs(d) < 9.2e18)) {
    /* Every integral number hashes as a 64-bit integer. */
    int64_t v = type == BSON_TYPE_DOUBLE ? (int64_t)d : bson_iter_as_int64(it);
    feed(md, "i", 1);
    feed_len(md, (uint64_t)v);
  } else if (type == BSON_TYPE_DOCUMENT || type == BSON_TYPE_ARRAY) {
    feed(md, type == BSON_TYPE_DOCUMENT ? "{" : "[", 1);
    feed_container(md, it, type == BSON_TYPE_DOCUMENT, depth);
  } else {
    /* Anything else by its type and raw bytes (strings, booleans, null,
     * non-integral doubles, dates, ...). */
    const bson_value_t *v = bson_iter_value((bson_iter_t *)it);
    uint8_t t = (uint8_t)type;
    feed(md, &t, 1);
    if (type == BSON_TYPE_UTF8) {
      feed_len(md, v->value.v_utf8.len);
      feed(md, v->value.v_utf8.str, v->value.v_utf8.len);
    } else if (type == BSON_TYPE_BOOL) {
      feed(md, v->value.v_bool ? "1" : "0", 1);
    } else if (type == BSON_TYPE_DOUBLE) {
      feed(md, &d, sizeof d);
    } else if (type == BSON_TYPE_DATE_TIME) {
      feed_len(md, (uint64_t)v->value.v_datetime);
    } else if (type == BSON_TYPE_BINARY) {
      feed_len(md, v->value.v_binary.data_len);
      feed(md, v->value.v_binary.data, v->value.v_binary.data_len);
    } else if (type == BSON_TYPE_OID) {
      feed(md, v->value.v_oid.bytes, sizeof v->value.v_oid.bytes);
    }
    /* null, undefined, min/max key: the type says it all. */
  }
}

void mtq_result_hash(const bson_t *doc, char hex[MTQ_SIG_HEX_LEN + 1]) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), NULL);
  bson_t empty = BSON_INITIALIZER;
  bson_t wrapper = BSON_INITIALIZER;
  BSON_APPEND_DOCUMENT(&wrapper, "r", doc ? doc : &empty);
  bson_iter_t it;
  if (bson_iter_init_find(&it, &wrapper, "r")) {
    feed_value(md, &it, 0);
  }
  uint8_t out[32];
  unsigned len = 0;
  EVP_DigestFinal_ex(md, out, &len);
  EVP_MD_CTX_free(md);
  for (unsigned i = 0; i < 32; i++) {
    static const char digits[] = "0123456789abcdef";
    hex[2 * i] = digits[out[i] >> 4];
    hex[2 * i + 1] = digits[out[i] & 15];
  }
  hex[64] = '\0';
  bson_destroy(&wrapper);
}
