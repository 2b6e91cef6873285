/* functions_dir.h - the functions a worker serves, as one set: those of its
 * INI file ([function NAME]) and those of its function directory, and the
 * digest of the files each of them runs.
 *
 * The directory holds one folder per function and one per version in it:
 *
 *   FUNCTION_DIR/NAME/VERSION/mtq.ini     the manifest:
 *     [function]
 *     command = ./square.sh --fast        ; a word that names a file or folder of
 *                                         ; VERSION (./x, x, sub/x) is made absolute
 *     description = squares x             ; optional, for the registry
 *     developer = Ada
 *     contact = ada@example.com
 *
 * NAME and VERSION are names (1-64 of A-Z a-z 0-9 _ . -); entries starting
 * with a dot (.git) and plain files beside the folders (a README) are
 * skipped.  Each problem (a bad name, no manifest, an unknown key, no
 * command, a command that is not there or not executable) is reported with
 * the file, and the line when there is one, and costs that version only.
 * A version both in the INI file and in the directory is served as the
 * INI file says: the machine's own configuration is the explicit choice,
 * and a push to the shared directory cannot change what it runs.
 *
 * The digest (64 hex digits) is SHA-256 over one line per file,
 * "<sha256 of the file in hex>  <path>\n", in the format of sha256sum:
 *   - a directory function: every regular file under VERSION (symbolic
 *     links followed), the path relative to VERSION, in byte order of the
 *     paths; the manifest included.  By hand:
 *       cd FUNCTION_DIR/NAME/VERSION &&
 *       find -L . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum
 *   - an INI function: each word of its command that names a regular file
 *     (the first looked up in PATH when it has no slash), as written, in
 *     command order: sha256sum /usr/bin/python3 /opt/mtq/square.py | sha256sum
 * A digest cache keyed by path, device, inode, size and modification time
 * spares re-reading files that did not change. */
#ifndef MTQ_FUNCTIONS_DIR_H
#define MTQ_FUNCTIONS_DIR_H

#include <bson/bson.h>

#include "worker_config.h"

#define MTQ_FNDIR_MANIFEST "mtq.ini"
/* Bounds of one version folder's digest: deeper or larger is refused. */
#define MTQ_FNDIR_MAX_DEPTH 16
#define MTQ_FNDIR_MAX_FILES 10000

/* A set of functions, immutable once built, shared by reference count on
 * one thread (the worker's loop): a poll in flight keeps the set it began
 * with while a rescan installs a new one. */
typedef struct {
  int refs;
  mtq_function_t *items;
  size_t n;
  mtq_func_ref_t *served; /* the items as name/version pairs, for polls */
} mtq_fnset_t;

/* An empty set with one reference. */
mtq_fnset_t *mtq_fnset_new(void);
/* Appends a copy of f (borrowed); before the set is shared only. */
void mtq_fnset_add(mtq_fnset_t *set, const mtq_function_t *f);
/* Another reference to set (returned); unref drops one, the last frees it.
 * unref(NULL) does nothing. */
mtq_fnset_t *mtq_fnset_ref(mtq_fnset_t *set);
void mtq_fnset_unref(mtq_fnset_t *set);
/* The function at that version; NULL when the set has none (borrowed). */
const mtq_function_t *mtq_fnset_find(const mtq_fnset_t *set, const char *name,
                                     const char *version);
/* Whether both hold the same functions, each with the same command, texts
 * and digest. */
bool mtq_fnset_same(const mtq_fnset_t *a, const mtq_fnset_t *b);

typedef struct mtq_digest_cache mtq_digest_cache_t;
/* Caller destroys. */
mtq_digest_cache_t *mtq_digest_cache_new(void);
void mtq_digest_cache_destroy(mtq_digest_cache_t *cache);

/* The digest of n files (see above): paths[i] is read as base/paths[i]
 * (base NULL: as it is) and hashed under the name paths[i].  cache may be
 * NULL.  False when a file cannot be read. */
bool mtq_digest_files(mtq_digest_cache_t *cache, const char *base, char *const *paths, size_t n,
                      char hex[65], bson_error_t *error);

/* Reads the manifest text (len bytes) of the version folder dir into *f
 * (name and version given; f initialised by the call, cleaned by the
 * caller): its keys, the command's words made absolute where they name
 * something in dir, and the command checked.  path names the file in
 * messages.  The digest is not computed here. */
bool mtq_fndir_manifest_parse(const char *text, size_t len, const char *path, const char *dir,
                              const char *name, const char *version, mtq_function_t *f,
                              bson_error_t *error);

/* Told of each problem of a scan ("FILE:LINE: why"). */
typedef void (*mtq_fndir_problem_fn)(void *data, const char *message);

/* Appends every version of the directory that is in order to set, its
 * digest computed (cache may be NULL), and tells problem of each that is
 * not.  A version already in set (from the INI) is skipped, and said. */
void mtq_fndir_scan(const char *dir, mtq_digest_cache_t *cache, mtq_fnset_t *set,
                    mtq_fndir_problem_fn problem, void *data);

/* The whole set of cfg (borrowed): its [function] sections with their
 * digests, then its function_dir.  A new set with one reference. */
mtq_fnset_t *mtq_fnset_load(const mtq_worker_config_t *cfg, mtq_digest_cache_t *cache,
                            mtq_fndir_problem_fn problem, void *data);

#endif
