/* sign.c - signed tasks (format and rules in mtq_sign.h): the keyring, the
 * signed message, HMAC-SHA256 through OpenSSL. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mtq_error.h"
#include "sign_private.h"

typedef struct {
  char id[MTQ_KEY_ID_MAX + 1];
  uint8_t *secret; /* owned; wiped before it is freed */
  size_t len;
} sign_key_t;

struct mtq_keyring {
  sign_key_t *keys;
  size_t n;
  size_t signer; /* index into keys; meaningful when n > 0 */
};

bool mtq_key_id_valid(const char *key_id) {
  return mtq_name_valid(key_id) && strlen(key_id) <= MTQ_KEY_ID_MAX;
}

/* --- the keyring ---------------------------------------------------------- */

mtq_keyring_t *mtq_keyring_new(void) { return bson_malloc0(sizeof(mtq_keyring_t)); }

void mtq_keyring_destroy(mtq_keyring_t *ring) {
  if (!ring) {
    return;
  }
  for (size_t i = 0; i < ring->n; i++) {
    OPENSSL_cleanse(ring->keys[i].secret, ring->keys[i].len);
    bson_free(ring->keys[i].secret);
  }
  bson_free(ring->keys);
  bson_free(ring);
}

bool mtq_keyring_empty(const mtq_keyring_t *ring) { return !ring || ring->n == 0; }

static const sign_key_t *find_key(const mtq_keyring_t *ring, const char *key_id) {
  for (size_t i = 0; ring && i < ring->n; i++) {
    if (strcmp(ring->keys[i].id, key_id) == 0) {
      return &ring->keys[i];
    }
  }
  return NULL;
}

bool mtq_keyring_add(mtq_keyring_t *ring, const char *key_id, const uint8_t *secret, size_t len,
                     bson_error_t *error) {
  if (!mtq_key_id_valid(key_id)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not a valid key id (1-%d of A-Z a-z 0-9 _ . -)",
                  key_id ? key_id : "", MTQ_KEY_ID_MAX);
    return false;
  }
  if (find_key(ring, key_id)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "key '%s' is listed twice", key_id);
    return false;
  }
  if (len < MTQ_KEY_MIN_BYTES || len > MTQ_KEY_MAX_BYTES) {
    mtq_error_set(error, MTQ_ERR_INVALID, "key '%s' is %zu bytes; a secret must have %d to %d",
                  key_id, len, MTQ_KEY_MIN_BYTES, MTQ_KEY_MAX_BYTES);
    return false;
  }
  ring->keys = bson_realloc(ring->keys, (ring->n + 1) * sizeof *ring->keys);
  sign_key_t *k = &ring->keys[ring->n++];
  bson_strncpy(k->id, key_id, sizeof k->id);
  k->secret = bson_malloc(len);
  memcpy(k->secret, secret, len);
  k->len = len;
  return true;
}

/* Reads at most MTQ_KEY_MAX_BYTES + 1 bytes, so that an over-long file is
 * seen as such by mtq_keyring_add.  Returns the count, or -1 with errno. */
static ssize_t read_all(int fd, uint8_t *buf, size_t cap) {
  size_t len = 0;
  while (len < cap) {
    ssize_t r = read(fd, buf + len, cap - len);
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r < 0) {
      return -1;
    }
    if (r == 0) {
      break;
    }
    len += (size_t)r;
  }
  return (ssize_t)len;
}

bool mtq_keyring_add_file(mtq_keyring_t *ring, const char *key_id, const char *path,
                          bson_error_t *error) {
  /* O_NONBLOCK: a FIFO put where the key should be is refused below
   * instead of blocking the open. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    mtq_error_set(error, MTQ_ERR_NOT_FOUND, "key '%s': cannot open %s: %s", key_id, path,
                  strerror(errno));
    return false;
  }
  /* The mode is checked on the open file, so the file that is read is the
   * one that was checked. */
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    mtq_error_set(error, MTQ_ERR_INVALID, "key '%s': %s is not a regular file", key_id, path);
    return false;
  }
  if (st.st_mode & 077) {
    close(fd);
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "key '%s': permissions %04o for %s are too open: group or others may access "
                  "the secret (chmod 600 %s)",
                  key_id, (unsigned)(st.st_mode & 07777), path, path);
    return false;
  }
  uint8_t buf[MTQ_KEY_MAX_BYTES + 1];
  ssize_t n = read_all(fd, buf, sizeof buf);
  int read_errno = errno;
  close(fd);
  bool ok = false;
  if (n < 0) {
    mtq_error_set(error, MTQ_ERR_INVALID, "key '%s': cannot read %s: %s", key_id, path,
                  strerror(read_errno));
  } else {
    /* One line ending, as echo or an editor leaves it; the secret is the
     * rest, byte for byte. */
    size_t len = (size_t)n;
    if (len > 0 && buf[len - 1] == '\n') {
      len--;
      if (len > 0 && buf[len - 1] == '\r') {
        len--;
      }
    }
    bson_error_t err;
    ok = mtq_keyring_add(ring, key_id, buf, len, &err);
    if (!ok) {
      mtq_error_set(error, (mtq_errcode_t)err.code, "%s: %s", path, err.message);
    }
  }
  OPENSSL_cleanse(buf, sizeof buf);
  return ok;
}

bool mtq_keyring_set_signer(mtq_keyring_t *ring, const char *key_id, bson_error_t *error) {
  const sign_key_t *k = find_key(ring, key_id);
  if (!k) {
    mtq_error_set(error, MTQ_ERR_NOT_FOUND, "cannot sign with key '%s': it is not in the keyring",
                  key_id);
    return false;
  }
  ring->signer = (size_t)(k - ring->keys);
  return true;
}

/* --- the signed message --------------------------------------------------- */

typedef struct {
  uint8_t *data;
  size_t len;
  size_t cap;
} buf_t;

static void buf_put(buf_t *b, const void *data, size_t len) {
  if (b->len + len > b->cap) {
    b->cap = (b->len + len) * 2;
    b->data = bson_realloc(b->data, b->cap);
  }
  memcpy(b->data + b->len, data, len);
  b->len += len;
}

/* "name:len:value\n" */
static void put_field(buf_t *b, const char *name, const void *value, size_t len) {
  char head[MTQ_NAME_MAX + 32];
  int n = snprintf(head, sizeof head, "%s:%zu:", name, len);
  buf_put(b, head, (size_t)n);
  buf_put(b, value, len);
  buf_put(b, "\n", 1);
}

static void put_int(buf_t *b, const char *name, int32_t v) {
  char text[16];
  int n = snprintf(text, sizeof text, "%d", v);
  put_field(b, name, text, (size_t)n);
}

uint8_t *mtq__sign_message(const mtq_task_t *task, size_t *len) {
  static const char magic[] = "mtq-sig-v1\n";
  buf_t b = {0};
  buf_put(&b, magic, sizeof magic - 1);
  /* A copy of a redundant task (mtqd made it; it holds no key) carries its
   * parent's signature: it is checked against the parent's id and channel,
   * and the rest of what runs is the parent's too. */
  bool copy = mtq_task_is_copy(task);
  const char *channel = copy ? task->origin : task->channel;
  char oid[25];
  bson_oid_to_string(copy ? &task->parent : &task->id, oid);
  put_field(&b, "_id", oid, strlen(oid));
  put_field(&b, "channel", channel, strlen(channel));
  put_field(&b, "func", task->func, strlen(task->func));
  put_field(&b, "version", task->version, strlen(task->version));
  /* A task without args is written with an empty document, so it is signed
   * as one. */
  bson_t empty = BSON_INITIALIZER;
  const bson_t *args = task->args ? task->args : &empty;
  put_field(&b, "args", bson_get_data(args), args->len);
  put_int(&b, "timeout_s", task->timeout_s);
  put_int(&b, "max_attempts", task->max_attempts);
  *len = b.len;
  return b.data;
}

bool mtq__hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *msg, size_t msg_len,
                      uint8_t out[MTQ__HMAC_BYTES]) {
  unsigned out_len = 0;
  return HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &out_len) &&
         out_len == MTQ__HMAC_BYTES;
}

/* The signature of task under k, as NUL-terminated lowercase hex. */
static bool compute_sig(const sign_key_t *k, const mtq_task_t *task, char hex[MTQ_SIG_HEX_LEN + 1],
                        bson_error_t *error) {
  size_t len;
  uint8_t *msg = mtq__sign_message(task, &len);
  uint8_t mac[MTQ__HMAC_BYTES];
  bool ok = mtq__hmac_sha256(k->secret, k->len, msg, len, mac);
  bson_free(msg);
  if (!ok) {
    mtq_error_set(error, MTQ_ERR_INVALID, "HMAC-SHA256 failed in OpenSSL");
    return false;
  }
  for (size_t i = 0; i < MTQ__HMAC_BYTES; i++) {
    snprintf(hex + 2 * i, 3, "%02x", mac[i]);
  }
  return true;
}

/* --- signing and verifying ------------------------------------------------ */

static bool has_negative_zero(bson_iter_t *it) {
  while (bson_iter_next(it)) {
    bson_iter_t sub;
    if (BSON_ITER_HOLDS_DOUBLE(it) && bson_iter_double(it) == 0.0 &&
        signbit(bson_iter_double(it))) {
      return true;
    }
    if ((BSON_ITER_HOLDS_DOCUMENT(it) || BSON_ITER_HOLDS_ARRAY(it)) &&
        bson_iter_recurse(it, &sub) && has_negative_zero(&sub)) {
      return true;
    }
  }
  return false;
}

static void copy_without_negative_zero(bson_iter_t *it, bson_t *dst) {
  while (bson_iter_next(it)) {
    const char *key = bson_iter_key(it);
    bson_iter_t sub;
    bson_t child;
    if (BSON_ITER_HOLDS_DOUBLE(it) && bson_iter_double(it) == 0.0) {
      BSON_APPEND_DOUBLE(dst, key, 0.0);
    } else if (BSON_ITER_HOLDS_DOCUMENT(it) && bson_iter_recurse(it, &sub)) {
      BSON_APPEND_DOCUMENT_BEGIN(dst, key, &child);
      copy_without_negative_zero(&sub, &child);
      bson_append_document_end(dst, &child);
    } else if (BSON_ITER_HOLDS_ARRAY(it) && bson_iter_recurse(it, &sub)) {
      BSON_APPEND_ARRAY_BEGIN(dst, key, &child);
      copy_without_negative_zero(&sub, &child);
      bson_append_array_end(dst, &child);
    } else {
      bson_append_iter(dst, NULL, 0, it);
    }
  }
}

/* FerretDB 1.x stores -0.0 as 0.0 (its "known differences"), which would
 * change the bytes of args between producer and worker and break the
 * signature.  The task is signed and stored with 0.0 instead: the same
 * number to any JSON reader. */
static void drop_negative_zeros(mtq_task_t *task) {
  bson_iter_t it;
  if (!task->args || !bson_iter_init(&it, task->args) || !has_negative_zero(&it)) {
    return;
  }
  bson_t *clean = bson_new();
  bson_iter_init(&it, task->args);
  copy_without_negative_zero(&it, clean);
  bson_destroy(task->args);
  task->args = clean;
}

bool mtq_task_sign(const mtq_keyring_t *ring, mtq_task_t *task, bson_error_t *error) {
  if (mtq_keyring_empty(ring)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "cannot sign: no signing key");
    return false;
  }
  const sign_key_t *k = &ring->keys[ring->signer];
  drop_negative_zeros(task);
  char hex[MTQ_SIG_HEX_LEN + 1];
  if (!compute_sig(k, task, hex, error)) {
    return false;
  }
  bson_strncpy(task->sig_key, k->id, sizeof task->sig_key);
  bson_strncpy(task->sig, hex, sizeof task->sig);
  return true;
}

bool mtq_task_verify(const mtq_keyring_t *ring, const mtq_task_t *task, bson_error_t *error) {
  if (!task->sig[0] || !task->sig_key[0]) {
    mtq_error_set(error, MTQ_ERR_SIGNATURE, "task is not signed");
    return false;
  }
  const sign_key_t *k = find_key(ring, task->sig_key);
  if (!k) {
    mtq_error_set(error, MTQ_ERR_SIGNATURE, "unknown signing key '%s'", task->sig_key);
    return false;
  }
  char hex[MTQ_SIG_HEX_LEN + 1];
  if (!compute_sig(k, task, hex, error)) {
    return false;
  }
  /* Constant time, so that the time a refusal takes does not tell how many
   * leading digits of a forged signature were right. */
  if (strlen(task->sig) != MTQ_SIG_HEX_LEN || CRYPTO_memcmp(hex, task->sig, MTQ_SIG_HEX_LEN)) {
    mtq_error_set(error, MTQ_ERR_SIGNATURE,
                  "signature does not match (task altered, or signed with another secret)");
    return false;
  }
  return true;
}

/* --- key lists: [security] keys and MTQ_SIGN_KEYS ------------------------- */

bool mtq__key_spec_parse(const char *spec, char ***ids, char ***files, size_t *n,
                         bson_error_t *error) {
  char *copy = bson_strdup(spec);
  char *save = NULL;
  bool ok = true;
  size_t before = *n;
  for (char *tok = strtok_r(copy, ",", &save); ok && tok; tok = strtok_r(NULL, ",", &save)) {
    char *item = mtq_trim(tok);
    char *colon = strchr(item, ':');
    if (!colon) {
      mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not id:path", item);
      ok = false;
      break;
    }
    *colon = '\0';
    char *id = mtq_trim(item), *path = mtq_trim(colon + 1);
    if (!mtq_key_id_valid(id) || !*path) {
      mtq_error_set(error, MTQ_ERR_INVALID,
                    "'%s:%s' is not id:path (id: 1-%d of A-Z a-z 0-9 _ . -)", id, path,
                    MTQ_KEY_ID_MAX);
      ok = false;
      break;
    }
    for (size_t i = 0; i < *n; i++) {
      if (strcmp((*ids)[i], id) == 0) {
        mtq_error_set(error, MTQ_ERR_INVALID, "key '%s' is listed twice", id);
        ok = false;
      }
    }
    if (ok) {
      *ids = bson_realloc(*ids, (*n + 1) * sizeof **ids);
      *files = bson_realloc(*files, (*n + 1) * sizeof **files);
      (*ids)[*n] = bson_strdup(id);
      (*files)[(*n)++] = bson_strdup(path);
    }
  }
  bson_free(copy);
  if (ok && *n == before) {
    mtq_error_set(error, MTQ_ERR_INVALID, "empty list");
    ok = false;
  }
  return ok;
}

bool mtq__keyring_load(char *const *ids, char *const *files, size_t n, const char *signer,
                       mtq_keyring_t **out, bson_error_t *error) {
  mtq_keyring_t *ring = mtq_keyring_new();
  for (size_t i = 0; i < n; i++) {
    if (!mtq_keyring_add_file(ring, ids[i], files[i], error)) {
      mtq_keyring_destroy(ring);
      return false;
    }
  }
  if (signer && !mtq_keyring_set_signer(ring, signer, error)) {
    mtq_keyring_destroy(ring);
    return false;
  }
  *out = ring;
  return true;
}

bool mtq_keyring_from_env(const char *spec, mtq_keyring_t **out, bson_error_t *error) {
  *out = NULL;
  if (!spec || !*spec) {
    return true;
  }
  char **ids = NULL, **files = NULL;
  size_t n = 0;
  bson_error_t err;
  bool ok = mtq__key_spec_parse(spec, &ids, &files, &n, &err) &&
            mtq__keyring_load(ids, files, n, NULL, out, &err);
  if (!ok) {
    mtq_error_set(error, (mtq_errcode_t)err.code, "MTQ_SIGN_KEYS: %s", err.message);
  }
  for (size_t i = 0; i < n; i++) {
    bson_free(ids[i]);
    bson_free(files[i]);
  }
  bson_free(ids);
  bson_free(files);
  return ok;
}
