/* auth.c - users, passwords, tokens, Host/Origin checks (see auth.h). */
#include <argon2.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "auth.h"
#include "mtq_error.h"

#define HASH_T 3
#define HASH_M_KIB (64 * 1024)
#define HASH_P 1
#define HASH_LEN 32
#define SALT_LEN 16
#define TOKEN_MIN 32
#define SECRET_FILE_MAX (1024 * 1024)

const char *mtq_web_role_name(mtq_web_role_t role) {
  return role == MTQ_WEB_ROLE_READ ? "read" : role == MTQ_WEB_ROLE_OPERATOR ? "operator" : "none";
}

void mtq_web_users_free(mtq_web_users_t *users) {
  if (users->items) {
    /* The hashes are not secrets as passwords are, but no need to leave them. */
    memset(users->items, 0, users->n * sizeof *users->items);
  }
  bson_free(users->items);
  users->items = NULL;
  users->n = 0;
}

static bool parse_line(char *line, mtq_web_user_t *u, bson_error_t *error) {
  char *c1 = strchr(line, ':');
  char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  if (!c2) {
    mtq_error_set(error, MTQ_ERR_INVALID, "expected name:role:hash");
    return false;
  }
  *c1 = *c2 = '\0';
  const char *name = line, *role = c1 + 1, *hash = c2 + 1;
  if (!mtq_name_valid(name)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "'%s' is not a valid user name (1-64 of A-Z a-z 0-9 _ . -)",
                  name);
    return false;
  }
  u->role = strcmp(role, "read") == 0       ? MTQ_WEB_ROLE_READ
            : strcmp(role, "operator") == 0 ? MTQ_WEB_ROLE_OPERATOR
                                            : MTQ_WEB_ROLE_NONE;
  if (u->role == MTQ_WEB_ROLE_NONE) {
    mtq_error_set(error, MTQ_ERR_INVALID, "user %s: role must be read or operator", name);
    return false;
  }
  if (strncmp(hash, "$argon2id$", 10) != 0 || strlen(hash) >= MTQ_WEB_HASH_MAX) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "user %s: the hash must be argon2id ($argon2id$...; mtq-web --hash-password)",
                  name);
    return false;
  }
  bson_strncpy(u->name, name, sizeof u->name);
  bson_strncpy(u->hash, hash, sizeof u->hash);
  return true;
}

bool mtq_web_users_parse(const char *text, size_t len, const char *source, mtq_web_users_t *out,
                         bson_error_t *error) {
  out->items = NULL;
  out->n = 0;
  char *copy = bson_strndup(text, len);
  int lineno = 0;
  bool ok = true;
  size_t cap = 0;
  /* strtok_r would skip empty lines and so miscount them. */
  for (char *line = copy; ok && line;) {
    char *nl = strchr(line, '\n');
    if (nl) {
      *nl = '\0';
    }
    lineno++;
    char *l = mtq_trim(line);
    if (*l && *l != '#') {
      mtq_web_user_t u;
      bson_error_t lerr;
      memset(&u, 0, sizeof u);
      if (!parse_line(l, &u, &lerr)) {
        mtq_error_set(error, MTQ_ERR_INVALID, "%s: line %d: %s", source, lineno, lerr.message);
        ok = false;
      } else if (mtq_web_users_find(out, u.name)) {
        mtq_error_set(error, MTQ_ERR_INVALID, "%s: line %d: user %s is listed twice", source,
                      lineno, u.name);
        ok = false;
      } else {
        if (out->n == cap) {
          cap = cap ? 2 * cap : 8;
          out->items = bson_realloc(out->items, cap * sizeof *out->items);
        }
        out->items[out->n++] = u;
      }
    }
    line = nl ? nl + 1 : NULL;
  }
  if (ok && out->n == 0) {
    mtq_error_set(error, MTQ_ERR_INVALID, "%s: no users", source);
    ok = false;
  }
  memset(copy, 0, len);
  bson_free(copy);
  if (!ok) {
    mtq_web_users_free(out);
  }
  return ok;
}

/* Reads a file holding secrets, refusing one that others may read. */
static bool read_secret_file(const char *path, const char *what, char **text, size_t *len,
                             bson_error_t *error) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    mtq_error_set(error, MTQ_ERR_NOT_FOUND, "cannot open %s %s: %s", what, path, strerror(errno));
    return false;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || (st.st_mode & S_IRWXO)) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "%s %s must not be readable by others (chmod 600 or 640)", what, path);
    fclose(f);
    return false;
  }
  if (st.st_size > SECRET_FILE_MAX) {
    mtq_error_set(error, MTQ_ERR_TOO_LARGE, "%s %s is larger than 1 MiB", what, path);
    fclose(f);
    return false;
  }
  *text = bson_malloc0((size_t)st.st_size + 1);
  *len = fread(*text, 1, (size_t)st.st_size, f);
  fclose(f);
  return true;
}

bool mtq_web_users_load(const char *path, mtq_web_users_t *out, bson_error_t *error) {
  char *text;
  size_t len;
  if (!read_secret_file(path, "users file", &text, &len, error)) {
    return false;
  }
  bool ok = mtq_web_users_parse(text, len, path, out, error);
  memset(text, 0, len);
  bson_free(text);
  return ok;
}

const mtq_web_user_t *mtq_web_users_find(const mtq_web_users_t *users, const char *name) {
  for (size_t i = 0; name && i < users->n; i++) {
    if (strcmp(users->items[i].name, name) == 0) {
      return &users->items[i];
    }
  }
  return NULL;
}

bool mtq_web_password_verify(const char *encoded, const char *password, size_t len) {
  return argon2id_verify(encoded, password, len) == ARGON2_OK;
}

const mtq_web_user_t *mtq_web_users_check(const mtq_web_users_t *users, const char *name,
                                          const char *password, size_t password_len) {
  /* A valid hash of a password nobody uses (made once by --hash-password), so that
   * an unknown name costs what a wrong password costs. */
  static const char dummy[] =
      "$argon2id$v=19$m=65536,t=3,p=1$eprl4VS6VQmKrCGuWP5iVw$"
      "li8y1wVgMp0bWmCKg55tPQD7bgq000OQpolu5UdPFzQ";
  const mtq_web_user_t *u = mtq_web_users_find(users, name);
  bool match = mtq_web_password_verify(u ? u->hash : dummy, password, password_len);
  return u && match ? u : NULL;
}

bool mtq_web_random_hex(size_t n, char *out) {
  unsigned char buf[64];
  if (n > sizeof buf) {
    return false;
  }
  size_t got = 0;
  while (got < n) {
    ssize_t r = getrandom(buf + got, n - got, 0);
    if (r < 0 && errno != EINTR) {
      return false;
    }
    got += r > 0 ? (size_t)r : 0;
  }
  for (size_t i = 0; i < n; i++) {
    snprintf(out + 2 * i, 3, "%02x", buf[i]);
  }
  memset(buf, 0, sizeof buf);
  return true;
}

bool mtq_web_password_hash(const char *password, size_t len, char *out, bson_error_t *error) {
  unsigned char salt[SALT_LEN];
  char hex[2 * SALT_LEN + 1];
  if (!mtq_web_random_hex(SALT_LEN, hex)) {
    mtq_error_set(error, MTQ_ERR_UNAVAILABLE, "no random bytes: %s", strerror(errno));
    return false;
  }
  for (size_t i = 0; i < SALT_LEN; i++) {
    unsigned v;
    sscanf(hex + 2 * i, "%2x", &v);
    salt[i] = (unsigned char)v;
  }
  int rc = argon2id_hash_encoded(HASH_T, HASH_M_KIB, HASH_P, password, len, salt, SALT_LEN,
                                 HASH_LEN, out, MTQ_WEB_HASH_MAX);
  if (rc != ARGON2_OK) {
    mtq_error_set(error, MTQ_ERR_INVALID, "argon2id: %s", argon2_error_message(rc));
    return false;
  }
  return true;
}

bool mtq_web_token_load(const char *path, char **out, bson_error_t *error) {
  char *text;
  size_t len;
  *out = NULL;
  if (!read_secret_file(path, "token file", &text, &len, error)) {
    return false;
  }
  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r')) {
    text[--len] = '\0';
  }
  bool ok = len >= TOKEN_MIN && strlen(text) == len;
  for (size_t i = 0; ok && i < len; i++) {
    ok = text[i] > ' ' && text[i] < 127;
  }
  if (!ok) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "token file %s must hold one token of at least %d printable characters "
                  "(e.g. openssl rand -hex 32)",
                  path, TOKEN_MIN);
    memset(text, 0, len);
    bson_free(text);
    return false;
  }
  *out = text;
  return true;
}

bool mtq_web_secret_equal(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  unsigned char diff = la != lb;
  for (size_t i = 0; i < la && i < lb; i++) {
    diff |= (unsigned char)(a[i] ^ b[i]);
  }
  return diff == 0;
}

/* The host part of a Host header ("example.org:8642" -> "example.org",
 * "[::1]:80" -> "[::1]") into out. */
static bool host_part(const char *host, char *out, size_t size) {
  size_t n;
  if (host[0] == '[') {
    const char *close = strchr(host, ']');
    if (!close) {
      return false;
    }
    n = (size_t)(close - host) + 1;
    if (close[1] && close[1] != ':') {
      return false;
    }
  } else {
    const char *colon = strchr(host, ':');
    n = colon ? (size_t)(colon - host) : strlen(host);
  }
  if (n == 0 || n >= size) {
    return false;
  }
  memcpy(out, host, n);
  out[n] = '\0';
  return true;
}

bool mtq_web_host_allowed(const char *host, char *const *allowed, size_t n_allowed,
                          bool loopback) {
  char h[300];
  if (!host || !host_part(host, h, sizeof h)) {
    return false;
  }
  if (n_allowed > 0) {
    for (size_t i = 0; i < n_allowed; i++) {
      if (strcasecmp(h, allowed[i]) == 0) {
        return true;
      }
    }
    return false;
  }
  if (loopback) {
    return strcasecmp(h, "localhost") == 0 || strcmp(h, "127.0.0.1") == 0 ||
           strcmp(h, "[::1]") == 0;
  }
  return true;
}

bool mtq_web_origin_ok(const char *origin, const char *host, const char *sec_fetch_site) {
  if (sec_fetch_site && strcmp(sec_fetch_site, "same-origin") != 0 &&
      strcmp(sec_fetch_site, "none") != 0) {
    return false;
  }
  if (!origin) {
    return true;
  }
  const char *rest = strncmp(origin, "http://", 7) == 0    ? origin + 7
                     : strncmp(origin, "https://", 8) == 0 ? origin + 8
                                                           : NULL;
  return rest && host && strcasecmp(rest, host) == 0;
}
