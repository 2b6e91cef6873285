/* task_doc.c - the task document: encoding, decoding and validating a
 * task's BSON, by walking the field table MTQ_TASK_FIELDS (mtq_task.h). */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "mtq_error.h"
#include "mtq_sign.h"
#include "mtq_task.h"

/* --- reading -------------------------------------------------------------- */

static const char *type_name(bson_type_t t) {
  switch (t) {
  case BSON_TYPE_DOUBLE: return "double";
  case BSON_TYPE_UTF8: return "string";
  case BSON_TYPE_DOCUMENT: return "document";
  case BSON_TYPE_ARRAY: return "array";
  case BSON_TYPE_OID: return "objectId";
  case BSON_TYPE_BOOL: return "bool";
  case BSON_TYPE_DATE_TIME: return "date";
  case BSON_TYPE_NULL: return "null";
  case BSON_TYPE_INT32: return "int";
  case BSON_TYPE_INT64: return "long";
  default: return "another type";
  }
}

static bool wrong_type(const bson_iter_t *it, const char *want, bson_error_t *error) {
  mtq_error_set(error, MTQ_ERR_INVALID, "field '%s' must be %s, not %s", bson_iter_key(it), want,
                type_name(bson_iter_type(it)));
  return false;
}

/* Operators edit documents in mongosh, where a number is a double; a whole
 * double is accepted wherever an integer is expected. */
static bool read_int(const bson_iter_t *it, int64_t min, int64_t max, int64_t *out,
                     bson_error_t *error) {
  int64_t v;
  if (BSON_ITER_HOLDS_INT32(it) || BSON_ITER_HOLDS_INT64(it)) {
    v = bson_iter_as_int64(it);
  } else if (BSON_ITER_HOLDS_DOUBLE(it) && fabs(bson_iter_double(it)) < 9.0e18 &&
             bson_iter_double(it) == trunc(bson_iter_double(it))) {
    v = (int64_t)bson_iter_double(it); /* range-checked first: the cast is defined */
  } else {
    return wrong_type(it, "an integer", error);
  }
  if (v < min || v > max) {
    mtq_error_set(error, MTQ_ERR_INVALID, "field '%s' is %lld, out of range %lld..%lld",
                  bson_iter_key(it), (long long)v, (long long)min, (long long)max);
    return false;
  }
  *out = v;
  return true;
}

static bool read_name(const bson_iter_t *it, char *dst, bool nullable, bson_error_t *error) {
  if (nullable && BSON_ITER_HOLDS_NULL(it)) {
    dst[0] = '\0';
    return true;
  }
  if (!BSON_ITER_HOLDS_UTF8(it)) {
    return wrong_type(it, "a string", error);
  }
  const char *s = bson_iter_utf8(it, NULL);
  if (!mtq_name_valid(s)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "field '%s' is not a valid name", bson_iter_key(it));
    return false;
  }
  bson_strncpy(dst, s, MTQ_NAME_MAX + 1);
  return true;
}

static bool read_date(const bson_iter_t *it, int64_t *out, bson_error_t *error) {
  if (BSON_ITER_HOLDS_NULL(it)) {
    *out = 0;
  } else if (BSON_ITER_HOLDS_DATE_TIME(it)) {
    *out = bson_iter_date_time(it);
  } else {
    return wrong_type(it, "a date or null", error);
  }
  return true;
}

/* A sub-document (or, with array, an array) copied into *out; null leaves
 * *out as it is when nullable. */
static bool read_bson(const bson_iter_t *it, bson_t **out, bool nullable, bool array,
                      bson_error_t *error) {
  if (nullable && BSON_ITER_HOLDS_NULL(it)) {
    return true;
  }
  if (array ? !BSON_ITER_HOLDS_ARRAY(it) : !BSON_ITER_HOLDS_DOCUMENT(it)) {
    return wrong_type(it,
                      array ? (nullable ? "an array or null" : "an array")
                            : (nullable ? "a document or null" : "a document"),
                      error);
  }
  uint32_t len;
  const uint8_t *data;
  if (array) {
    bson_iter_array(it, &len, &data);
  } else {
    bson_iter_document(it, &len, &data);
  }
  if (*out) {
    bson_destroy(*out);
  }
  *out = bson_new_from_data(data, len);
  if (!*out) {
    mtq_error_set(error, MTQ_ERR_INVALID, "field '%s' is corrupt BSON", bson_iter_key(it));
    return false;
  }
  return true;
}

/* Enters the sub-document at it (*sub iterates its fields). */
static bool enter_doc(const bson_iter_t *it, bson_iter_t *sub, bson_error_t *error) {
  if (!BSON_ITER_HOLDS_DOCUMENT(it)) {
    return wrong_type(it, "a document", error);
  }
  if (!bson_iter_recurse(it, sub)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "field '%s' is corrupt BSON", bson_iter_key(it));
    return false;
  }
  return true;
}

/* sig: {key, hmac}.  Only the form is checked here; whether the signature
 * is right is mtq_task_verify's business. */
static bool read_sig(mtq_task_t *t, const bson_iter_t *it, bson_error_t *error) {
  bson_iter_t sub;
  if (!enter_doc(it, &sub, error)) {
    return false;
  }
  const char *key = NULL, *hmac = NULL;
  while (bson_iter_next(&sub)) {
    const char *k = bson_iter_key(&sub);
    const char **dst = strcmp(k, "key") == 0 ? &key : strcmp(k, "hmac") == 0 ? &hmac : NULL;
    if (dst && !BSON_ITER_HOLDS_UTF8(&sub)) {
      mtq_error_set(error, MTQ_ERR_INVALID, "field 'sig.%s' must be a string, not %s", k,
                    type_name(bson_iter_type(&sub)));
      return false;
    }
    if (dst) {
      *dst = bson_iter_utf8(&sub, NULL);
    }
  }
  if (!key || !mtq_key_id_valid(key)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "field 'sig.key' is %s",
                  key ? "not a valid key id (1-32 of A-Z a-z 0-9 _ . -)" : "missing");
    return false;
  }
  size_t n = hmac ? strspn(hmac, "0123456789abcdef") : 0;
  if (!hmac || n != MTQ_SIG_HEX_LEN || hmac[n]) {
    mtq_error_set(error, MTQ_ERR_INVALID, "field 'sig.hmac' is %s",
                  hmac ? "not 64 lowercase hex digits" : "missing");
    return false;
  }
  bson_strncpy(t->sig_key, key, sizeof t->sig_key);
  bson_strncpy(t->sig, hmac, sizeof t->sig);
  return true;
}

/* redundancy: {copies, pick, max_replacements, hedge_ms, need_gpu, min_mem_mb, tag}. */
static bool read_redundancy(mtq_task_t *t, const bson_iter_t *it, bson_error_t *error) {
  bson_iter_t sub;
  if (!enter_doc(it, &sub, error)) {
    return false;
  }
  mtq_redundancy_t *r = &t->red;
  bool ok = true;
  int64_t v = 0;
  while (ok && bson_iter_next(&sub)) {
    const char *k = bson_iter_key(&sub);
    if (strcmp(k, "copies") == 0) {
      ok = read_int(&sub, 1, MTQ_COPIES_MAX, &v, error);
      r->copies = (int32_t)v;
    } else if (strcmp(k, "max_replacements") == 0) {
      ok = read_int(&sub, 0, MTQ_REPLACEMENTS_MAX, &v, error);
      r->max_replacements = (int32_t)v;
    } else if (strcmp(k, "hedge_ms") == 0) {
      ok = read_int(&sub, MTQ_HEDGE_AUTO, INT64_MAX, &r->hedge_ms, error);
    } else if (strcmp(k, "min_mem_mb") == 0) {
      ok = read_int(&sub, 0, INT64_MAX, &r->min_mem_mb, error);
    } else if (strcmp(k, "need_gpu") == 0) {
      if (!BSON_ITER_HOLDS_BOOL(&sub)) {
        return wrong_type(&sub, "true or false", error);
      }
      r->need_gpu = bson_iter_bool(&sub);
    } else if (strcmp(k, "pick") == 0) {
      if (!BSON_ITER_HOLDS_UTF8(&sub) || !mtq_pick_parse(bson_iter_utf8(&sub, NULL), &r->pick)) {
        mtq_error_set(error, MTQ_ERR_INVALID,
                      "field 'redundancy.pick' must be \"first\", \"quorum\" or \"all\"");
        return false;
      }
    } else if (strcmp(k, "tag") == 0) {
      ok = read_name(&sub, r->tag, true, error);
    }
  }
  if (ok && r->copies == 0) {
    mtq_error_set(error, MTQ_ERR_INVALID, "field 'redundancy.copies' is missing");
    ok = false;
  }
  return ok;
}

/* error: a string of any length, or null. */
static bool read_text(const bson_iter_t *it, char **dst, bson_error_t *error) {
  if (BSON_ITER_HOLDS_UTF8(it)) {
    bson_free(*dst);
    *dst = bson_strdup(bson_iter_utf8(it, NULL));
  } else if (!BSON_ITER_HOLDS_NULL(it)) {
    return wrong_type(it, "a string or null", error);
  }
  return true;
}

/* dedupe_key: a string of at most max bytes (dst holds max + 1), or null. */
static bool read_key(const bson_iter_t *it, char *dst, size_t max, bson_error_t *error) {
  if (BSON_ITER_HOLDS_UTF8(it) && strlen(bson_iter_utf8(it, NULL)) <= max) {
    bson_strncpy(dst, bson_iter_utf8(it, NULL), max + 1);
  } else if (!BSON_ITER_HOLDS_NULL(it)) {
    char want[64];
    snprintf(want, sizeof want, "a string of at most %zu bytes or null", max);
    return wrong_type(it, want, error);
  }
  return true;
}

static bool read_state(const bson_iter_t *it, mtq_state_t *dst, bson_error_t *error) {
  if (!BSON_ITER_HOLDS_UTF8(it)) {
    return wrong_type(it, "a string", error);
  }
  *dst = mtq_state_parse(bson_iter_utf8(it, NULL));
  if (*dst == MTQ_STATE_INVALID) {
    mtq_error_set(error, MTQ_ERR_INVALID, "field '%s' is '%s', not a known state",
                  bson_iter_key(it), bson_iter_utf8(it, NULL));
    return false;
  }
  return true;
}

/* --- writing -------------------------------------------------------------- */

static void write_sig(bson_t *doc, const char *key, const mtq_task_t *t) {
  if (!t->sig[0]) {
    return; /* unsigned */
  }
  bson_t sig;
  BSON_APPEND_DOCUMENT_BEGIN(doc, key, &sig);
  BSON_APPEND_UTF8(&sig, "key", t->sig_key);
  BSON_APPEND_UTF8(&sig, "hmac", t->sig);
  bson_append_document_end(doc, &sig);
}

static void write_redundancy(bson_t *doc, const char *key, const mtq_redundancy_t *r) {
  bson_t sub;
  BSON_APPEND_DOCUMENT_BEGIN(doc, key, &sub);
  BSON_APPEND_INT32(&sub, "copies", r->copies);
  BSON_APPEND_UTF8(&sub, "pick", mtq_pick_name(r->pick));
  BSON_APPEND_INT32(&sub, "max_replacements", r->max_replacements);
  BSON_APPEND_INT64(&sub, "hedge_ms", r->hedge_ms);
  BSON_APPEND_BOOL(&sub, "need_gpu", r->need_gpu);
  BSON_APPEND_INT64(&sub, "min_mem_mb", r->min_mem_mb);
  if (r->tag[0]) {
    BSON_APPEND_UTF8(&sub, "tag", r->tag);
  }
  bson_append_document_end(doc, &sub);
}

static void append_text_or_null(bson_t *doc, const char *key, const char *s) {
  if (s) {
    BSON_APPEND_UTF8(doc, key, s);
  } else {
    BSON_APPEND_NULL(doc, key);
  }
}

static void append_doc_or_null(bson_t *doc, const char *key, const bson_t *sub) {
  if (sub) {
    BSON_APPEND_DOCUMENT(doc, key, sub);
  } else {
    BSON_APPEND_NULL(doc, key);
  }
}

/* --- the field table (MTQ_TASK_FIELDS, mtq_task.h) ------------------------ */

typedef enum {
  KIND_OID,
  KIND_NAME,
  KIND_NAME_OR_NULL,
  KIND_NAME_OR_ABSENT,
  KIND_INT32,
  KIND_INT64,
  KIND_DATE_OR_NULL,
  KIND_BOOL,
  KIND_STATE,
  KIND_DOC,
  KIND_DOC_OR_NULL,
  KIND_ARRAY_OR_ABSENT,
  KIND_TEXT_OR_NULL,
  KIND_KEY_OR_ABSENT,
  KIND_SIG,
  KIND_REDUNDANCY,
} kind_t;

typedef enum { WHEN_ALL, WHEN_PARENT, WHEN_COPY, WHEN_FLOW } when_t;

/* The fields are reached by their offset in mtq_task_t, so the C type of
 * each member must be the one its kind reads into: FITS_<kind> says so, and
 * a table line that breaks it does not compile. */
#define FITS(m, type) _Generic(&(m), type: 1, default: 0)
#define FITS_OID(m, lo, hi) FITS(m, bson_oid_t *)
#define FITS_NAME(m, lo, hi) FITS(m, char(*)[MTQ_NAME_MAX + 1])
#define FITS_NAME_OR_NULL FITS_NAME
#define FITS_NAME_OR_ABSENT FITS_NAME
#define FITS_INT32(m, lo, hi) (FITS(m, int32_t *) && (lo) >= INT32_MIN && (hi) <= INT32_MAX)
#define FITS_INT64(m, lo, hi) FITS(m, int64_t *)
#define FITS_DATE_OR_NULL(m, lo, hi) FITS(m, int64_t *)
#define FITS_BOOL(m, lo, hi) FITS(m, bool *)
#define FITS_STATE(m, lo, hi) FITS(m, mtq_state_t *)
#define FITS_DOC(m, lo, hi) FITS(m, bson_t **)
#define FITS_DOC_OR_NULL FITS_DOC
#define FITS_ARRAY_OR_ABSENT FITS_DOC
#define FITS_TEXT_OR_NULL(m, lo, hi) FITS(m, char **)
#define FITS_KEY_OR_ABSENT(m, lo, hi) FITS(m, char(*)[(hi) + 1])
#define FITS_SIG(m, lo, hi) FITS(m, char(*)[MTQ_SIG_HEX_LEN + 1])
#define FITS_REDUNDANCY(m, lo, hi) FITS(m, mtq_redundancy_t *)
#define CHECK_FIELD(key, member, kind, lo, hi, missing, when, print)                              \
  _Static_assert(FITS_##kind(((mtq_task_t *)0)->member, lo, hi) && (lo) <= (hi),                 \
                 "task field " key ": member " #member " is not what " #kind " reads into");
MTQ_TASK_FIELDS(CHECK_FIELD)
#undef CHECK_FIELD

static void fill_channel(mtq_task_t *t, const char *channel);
static void fill_created_at(mtq_task_t *t, const char *channel);

/* The missing column, as {required, value, fill}. */
#define NEED_REQUIRED true, 0, NULL
#define NEED_EMPTY false, 0, NULL
#define NEED_VALUE(n) false, (n), NULL
#define NEED_FROM_CHANNEL false, 0, fill_channel
#define NEED_FROM_ID_TIME false, 0, fill_created_at

typedef struct {
  const char *key;
  kind_t kind;
  size_t offset; /* of the member in mtq_task_t */
  int64_t lo, hi;
  bool required;
  int64_t value; /* VALUE(n): an integer's default */
  /* FROM_...: called once the document is read, to set the field when it
   * was absent or null. */
  void (*fill)(mtq_task_t *t, const char *channel);
  when_t when;
} field_t;

static const field_t fields[] = {
#define FIELD(key, member, kind, lo, hi, missing, when, print)                                    \
  {key, KIND_##kind, offsetof(mtq_task_t, member), lo, hi, NEED_##missing, WHEN_##when},
    MTQ_TASK_FIELDS(FIELD)
#undef FIELD
};

#define N_FIELDS (sizeof fields / sizeof fields[0])
#define MEMBER(t, f, type) ((type *)((char *)(t) + (f)->offset))
#define CONST_MEMBER(t, f, type) ((const type *)((const char *)(t) + (f)->offset))

static void fill_channel(mtq_task_t *t, const char *channel) {
  if (!t->channel[0] && channel) {
    bson_strncpy(t->channel, channel, sizeof t->channel);
  }
}

/* A producer that wrote no created_at (another program writing only what
 * the schema requires) made the ObjectId when it made the task: its time,
 * to the second, is when the task was created, and what a run's wait_ms
 * counts from.  Without it that was 0, and wait_ms counted from 1970. */
static void fill_created_at(mtq_task_t *t, const char *channel) {
  if (!t->created_at) {
    t->created_at = (int64_t)bson_oid_get_time_t(&t->id) * 1000;
  }
}

static const field_t *find_field(const char *key) {
  for (size_t i = 0; i < N_FIELDS; i++) {
    if (strcmp(fields[i].key, key) == 0) {
      return &fields[i];
    }
  }
  return NULL;
}

/* Whether task has the field written: the when column. */
static bool has_field(const mtq_task_t *task, const field_t *f) {
  switch (f->when) {
  case WHEN_PARENT: return mtq_task_is_parent(task);
  case WHEN_COPY: return mtq_task_is_copy(task);
  case WHEN_FLOW: return mtq_task_in_flow(task);
  default: return true;
  }
}

/* Reads the value at it, which is f's, into its member of t. */
static bool read_value(mtq_task_t *t, const field_t *f, const bson_iter_t *it,
                       bson_error_t *error) {
  int64_t v = 0;
  switch (f->kind) {
  case KIND_OID:
    if (!BSON_ITER_HOLDS_OID(it)) {
      return wrong_type(it, "an objectId", error);
    }
    bson_oid_copy(bson_iter_oid(it), MEMBER(t, f, bson_oid_t));
    return true;
  case KIND_NAME:
  case KIND_NAME_OR_ABSENT: return read_name(it, MEMBER(t, f, char), false, error);
  case KIND_NAME_OR_NULL: return read_name(it, MEMBER(t, f, char), true, error);
  case KIND_INT32:
    if (!read_int(it, f->lo, f->hi, &v, error)) {
      return false;
    }
    *MEMBER(t, f, int32_t) = (int32_t)v; /* in range: FITS_INT32 */
    return true;
  case KIND_INT64: return read_int(it, f->lo, f->hi, MEMBER(t, f, int64_t), error);
  case KIND_DATE_OR_NULL: return read_date(it, MEMBER(t, f, int64_t), error);
  case KIND_BOOL:
    if (!BSON_ITER_HOLDS_BOOL(it)) {
      return wrong_type(it, "true or false", error);
    }
    *MEMBER(t, f, bool) = bson_iter_bool(it);
    return true;
  case KIND_STATE: return read_state(it, MEMBER(t, f, mtq_state_t), error);
  case KIND_DOC: return read_bson(it, MEMBER(t, f, bson_t *), false, false, error);
  case KIND_DOC_OR_NULL: return read_bson(it, MEMBER(t, f, bson_t *), true, false, error);
  case KIND_ARRAY_OR_ABSENT: return read_bson(it, MEMBER(t, f, bson_t *), true, true, error);
  case KIND_TEXT_OR_NULL: return read_text(it, MEMBER(t, f, char *), error);
  case KIND_KEY_OR_ABSENT: return read_key(it, MEMBER(t, f, char), (size_t)f->hi, error);
  case KIND_SIG: return read_sig(t, it, error);
  case KIND_REDUNDANCY: return read_redundancy(t, it, error);
  }
  return false;
}

/* Appends f's value in t to doc, or nothing when its kind leaves it out. */
static void write_value(bson_t *doc, const field_t *f, const mtq_task_t *t) {
  const char *k = f->key;
  const char *s;
  switch (f->kind) {
  case KIND_OID: BSON_APPEND_OID(doc, k, CONST_MEMBER(t, f, bson_oid_t)); break;
  case KIND_NAME: BSON_APPEND_UTF8(doc, k, CONST_MEMBER(t, f, char)); break;
  case KIND_NAME_OR_NULL:
    s = CONST_MEMBER(t, f, char);
    append_text_or_null(doc, k, s[0] ? s : NULL);
    break;
  case KIND_NAME_OR_ABSENT:
  case KIND_KEY_OR_ABSENT:
    /* A copy's origin absent from a document made by hand is not invented. */
    s = CONST_MEMBER(t, f, char);
    if (s[0]) {
      BSON_APPEND_UTF8(doc, k, s);
    }
    break;
  case KIND_INT32: BSON_APPEND_INT32(doc, k, *CONST_MEMBER(t, f, int32_t)); break;
  case KIND_INT64: BSON_APPEND_INT64(doc, k, *CONST_MEMBER(t, f, int64_t)); break;
  case KIND_DATE_OR_NULL:
    if (*CONST_MEMBER(t, f, int64_t)) {
      BSON_APPEND_DATE_TIME(doc, k, *CONST_MEMBER(t, f, int64_t));
    } else {
      BSON_APPEND_NULL(doc, k);
    }
    break;
  case KIND_BOOL: BSON_APPEND_BOOL(doc, k, *CONST_MEMBER(t, f, bool)); break;
  case KIND_STATE:
    BSON_APPEND_UTF8(doc, k, mtq_state_name(*CONST_MEMBER(t, f, mtq_state_t)));
    break;
  case KIND_DOC:
    if (*CONST_MEMBER(t, f, bson_t *)) {
      BSON_APPEND_DOCUMENT(doc, k, *CONST_MEMBER(t, f, bson_t *));
    } else {
      bson_t empty = BSON_INITIALIZER;
      BSON_APPEND_DOCUMENT(doc, k, &empty);
    }
    break;
  case KIND_DOC_OR_NULL: append_doc_or_null(doc, k, *CONST_MEMBER(t, f, bson_t *)); break;
  case KIND_ARRAY_OR_ABSENT:
    if (*CONST_MEMBER(t, f, bson_t *)) {
      BSON_APPEND_ARRAY(doc, k, *CONST_MEMBER(t, f, bson_t *));
    }
    break;
  case KIND_TEXT_OR_NULL: append_text_or_null(doc, k, *CONST_MEMBER(t, f, char *)); break;
  case KIND_SIG: write_sig(doc, k, t); break;
  case KIND_REDUNDANCY: write_redundancy(doc, k, CONST_MEMBER(t, f, mtq_redundancy_t)); break;
  }
}

void mtq_task_to_bson(const mtq_task_t *task, bson_t *doc) {
  for (size_t i = 0; i < N_FIELDS; i++) {
    if (has_field(task, &fields[i])) {
      write_value(doc, &fields[i], task);
    }
  }
}

/* The defaults of the VALUE(n) column; the rest start empty. */
static void set_defaults(mtq_task_t *t) {
  for (size_t i = 0; i < N_FIELDS; i++) {
    const field_t *f = &fields[i];
    if (f->kind == KIND_INT32) {
      *MEMBER(t, f, int32_t) = (int32_t)f->value;
    } else if (f->kind == KIND_INT64 || f->kind == KIND_DATE_OR_NULL) {
      *MEMBER(t, f, int64_t) = f->value;
    }
  }
}

bool mtq_task_from_bson(mtq_task_t *task, const bson_t *doc, const char *channel,
                        bson_error_t *error) {
  mtq_task_cleanup(task);
  set_defaults(task);
  bson_iter_t it;
  if (!bson_iter_init(&it, doc)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "corrupt BSON document");
    return false;
  }
  bool seen[N_FIELDS] = {false};
  while (bson_iter_next(&it)) {
    /* Other fields (an operator's notes, the original of a quarantined
     * document) are kept in the database and ignored here. */
    const field_t *f = find_field(bson_iter_key(&it));
    if (f) {
      seen[f - fields] = true;
      if (!read_value(task, f, &it, error)) {
        return false;
      }
    }
  }
  for (size_t i = 0; i < N_FIELDS; i++) {
    if (fields[i].required && !seen[i]) {
      mtq_error_set(error, MTQ_ERR_INVALID, "field '%s' is missing", fields[i].key);
      return false;
    }
  }
  for (size_t i = 0; i < N_FIELDS; i++) {
    if (fields[i].fill) {
      fields[i].fill(task, channel);
    }
  }
  return true;
}

