/* auth.h - who may use mtq-web, and what protects its actions: the users
 * file, argon2id password hashes, the bearer token, and the checks of
 * Host, Origin and CSRF tokens.  Pure (files and random bytes aside): no
 * server, no database.
 *
 * Users file: one user a line, `name:role:$argon2id$v=19$m=...$salt$hash`,
 * role `read` or `operator`; blank lines and lines starting with # are
 * skipped.  `mtq-web --hash-password` prints the third field. */
#ifndef MTQ_WEB_AUTH_H
#define MTQ_WEB_AUTH_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stddef.h>

#include "mtq_task.h"

typedef enum { MTQ_WEB_ROLE_NONE = 0, MTQ_WEB_ROLE_READ, MTQ_WEB_ROLE_OPERATOR } mtq_web_role_t;
/* "read", "operator"; "none" for MTQ_WEB_ROLE_NONE. */
const char *mtq_web_role_name(mtq_web_role_t role);

#define MTQ_WEB_HASH_MAX 256
typedef struct {
  char name[MTQ_NAME_MAX + 1];
  mtq_web_role_t role;
  char hash[MTQ_WEB_HASH_MAX]; /* the encoded argon2id hash */
} mtq_web_user_t;

typedef struct {
  mtq_web_user_t *items; /* owned */
  size_t n;
} mtq_web_users_t;

/* Parses the text of a users file (len bytes; source names it in errors:
 * "users: line 3: role must be read or operator").  Nothing is kept on
 * failure.  Caller frees with mtq_web_users_free. */
bool mtq_web_users_parse(const char *text, size_t len, const char *source, mtq_web_users_t *out,
                         bson_error_t *error);
/* Reads and parses a file that must not be readable by others (mode 0600
 * or 0640: it holds password hashes). */
bool mtq_web_users_load(const char *path, mtq_web_users_t *out, bson_error_t *error);
void mtq_web_users_free(mtq_web_users_t *users);
/* Borrowed; NULL when there is no such user. */
const mtq_web_user_t *mtq_web_users_find(const mtq_web_users_t *users, const char *name);

/* Checks name and password: the user when they match, else NULL.  The
 * time taken does not tell an unknown user from a wrong password (a
 * dummy hash is verified for unknown names). */
const mtq_web_user_t *mtq_web_users_check(const mtq_web_users_t *users, const char *name,
                                          const char *password, size_t password_len);

/* argon2id of password with a fresh random salt (t=3, 64 MiB, p=1, 32
 * bytes), encoded, into out (MTQ_WEB_HASH_MAX bytes). */
bool mtq_web_password_hash(const char *password, size_t len, char *out, bson_error_t *error);
/* Whether password matches an encoded argon2id hash. */
bool mtq_web_password_verify(const char *encoded, const char *password, size_t len);

/* The token file: one token of at least 32 printable characters (a
 * trailing newline is dropped), mode 0600 or 0640.  Into out (caller
 * bson_free()s it). */
bool mtq_web_token_load(const char *path, char **out, bson_error_t *error);

/* Equality of two secrets in a time that depends on their lengths only. */
bool mtq_web_secret_equal(const char *a, const char *b);

/* n random bytes as 2n lowercase hex characters into out (2n + 1 bytes). */
bool mtq_web_random_hex(size_t n, char *out);

/* Whether a request's Host header names this server: with allowed hosts
 * configured, one of them (any port); else on a loopback listen address
 * only localhost, 127.0.0.1 and [::1] (any port), which defeats DNS
 * rebinding; else (a public listen address, where authentication guards)
 * any.  host may be NULL (then false). */
bool mtq_web_host_allowed(const char *host, char *const *allowed, size_t n_allowed,
                          bool loopback);

/* Whether an action may come from where the browser says it comes from:
 * Origin, when present, must be http(s)://<Host>; Sec-Fetch-Site, when
 * present, must be same-origin or none (typed, not from another page).
 * Requests without either (curl, scripts) pass: the CSRF token still
 * binds them to a session. */
bool mtq_web_origin_ok(const char *origin, const char *host, const char *sec_fetch_site);

#endif
