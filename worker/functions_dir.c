/* functions_dir.c - the worker's function set, its function directory and
 * digests (see functions_dir.h). */
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "functions_dir.h"

/* --- the set --------------------------------------------------------------- */

mtq_fnset_t *mtq_fnset_new(void) {
  mtq_fnset_t *set = bson_malloc0(sizeof *set);
  set->refs = 1;
  return set;
}

void mtq_fnset_add(mtq_fnset_t *set, const mtq_function_t *f) {
  set->items = bson_realloc(set->items, (set->n + 1) * sizeof *set->items);
  mtq_function_copy(&set->items[set->n++], f);
  /* The pairs point into the items' own strings, which do not move. */
  set->served = bson_realloc(set->served, set->n * sizeof *set->served);
  for (size_t i = 0; i < set->n; i++) {
    set->served[i] = (mtq_func_ref_t){set->items[i].name, set->items[i].version};
  }
}

mtq_fnset_t *mtq_fnset_ref(mtq_fnset_t *set) {
  set->refs++;
  return set;
}

void mtq_fnset_unref(mtq_fnset_t *set) {
  if (!set || --set->refs > 0) {
    return;
  }
  for (size_t i = 0; i < set->n; i++) {
    mtq_function_cleanup(&set->items[i]);
  }
  bson_free(set->items);
  bson_free(set->served);
  bson_free(set);
}

const mtq_function_t *mtq_fnset_find(const mtq_fnset_t *set, const char *name,
                                     const char *version) {
  for (size_t i = 0; set && i < set->n; i++) {
    if (strcmp(set->items[i].name, name) == 0 && strcmp(set->items[i].version, version) == 0) {
      return &set->items[i];
    }
  }
  return NULL;
}

static bool text_same(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool function_same(const mtq_function_t *a, const mtq_function_t *b) {
  size_t i = 0;
  for (; a->argv[i] && b->argv[i]; i++) {
    if (strcmp(a->argv[i], b->argv[i]) != 0) {
      return false;
    }
  }
  return !a->argv[i] && !b->argv[i] && text_same(a->description, b->description) &&
         text_same(a->developer, b->developer) && text_same(a->contact, b->contact) &&
         text_same(a->source, b->source) && a->from_dir == b->from_dir &&
         strcmp(a->digest, b->digest) == 0;
}

bool mtq_fnset_same(const mtq_fnset_t *a, const mtq_fnset_t *b) {
  if (a->n != b->n) {
    return false;
  }
  for (size_t i = 0; i < a->n; i++) {
    const mtq_function_t *other = mtq_fnset_find(b, a->items[i].name, a->items[i].version);
    if (!other || !function_same(&a->items[i], other)) {
      return false;
    }
  }
  return true;
}

/* --- digests ----------------------------------------------------------------- */

typedef struct {
  char *path;
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
  char hex[65];
} cache_entry_t;

/* Two generations: what the last scan hashed (sorted by path, searched),
 * and what this one did (appended).  A scan's end is the next scan's start:
 * entries of files no longer hashed fall away. */
struct mtq_digest_cache {
  cache_entry_t *old;
  size_t n_old;
  cache_entry_t *now;
  size_t n_now, cap_now;
};

mtq_digest_cache_t *mtq_digest_cache_new(void) { return bson_malloc0(sizeof(mtq_digest_cache_t)); }

static void entries_free(cache_entry_t *e, size_t n) {
  for (size_t i = 0; i < n; i++) {
    bson_free(e[i].path);
  }
  bson_free(e);
}

void mtq_digest_cache_destroy(mtq_digest_cache_t *cache) {
  if (cache) {
    entries_free(cache->old, cache->n_old);
    entries_free(cache->now, cache->n_now);
    bson_free(cache);
  }
}

static int entry_cmp(const void *x, const void *y) {
  return strcmp(((const cache_entry_t *)x)->path, ((const cache_entry_t *)y)->path);
}

/* Ends a scan: what it hashed is what the next one looks up. */
static void cache_turn(mtq_digest_cache_t *cache) {
  if (!cache) {
    return;
  }
  entries_free(cache->old, cache->n_old);
  cache->old = cache->now;
  cache->n_old = cache->n_now;
  cache->now = NULL;
  cache->n_now = cache->cap_now = 0;
  qsort(cache->old, cache->n_old, sizeof *cache->old, entry_cmp);
}

static bool stat_same(const cache_entry_t *e, const struct stat *st) {
  return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
         e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static void hex_of(const unsigned char *md, unsigned len, char *hex) {
  static const char digits[] = "0123456789abcdef";
  for (unsigned i = 0; i < len; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  hex[2 * len] = '\0';
}

/* The SHA-256 of one file's contents, from the cache when it did not
 * change. */
static bool file_digest(mtq_digest_cache_t *cache, const char *path, char hex[65],
                        bson_error_t *error) {
  struct stat st;
  FILE *f = fopen(path, "rb");
  if (!f || fstat(fileno(f), &st) != 0) {
    mtq_error_set(error, MTQ_ERR_NOT_FOUND, "cannot read %s: %s", path, strerror(errno));
    if (f) {
      fclose(f);
    }
    return false;
  }
  cache_entry_t key = {.path = (char *)path};
  const cache_entry_t *hit =
      cache ? bsearch(&key, cache->old, cache->n_old, sizeof key, entry_cmp) : NULL;
  bool ok = true;
  if (hit && stat_same(hit, &st)) {
    memcpy(hex, hit->hex, 65);
  } else {
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    char buf[64 * 1024];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
      EVP_DigestUpdate(md, buf, n);
    }
    if (ferror(f)) {
      mtq_error_set(error, MTQ_ERR_INVALID, "cannot read %s: %s", path, strerror(errno));
      ok = false;
    }
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(md, out, &len);
    EVP_MD_CTX_free(md);
    hex_of(out, len, hex);
  }
  fclose(f);
  if (ok && cache) {
    if (cache->n_now == cache->cap_now) {
      cache->cap_now = cache->cap_now ? 2 * cache->cap_now : 32;
      cache->now = bson_realloc(cache->now, cache->cap_now * sizeof *cache->now);
    }
    cache_entry_t *e = &cache->now[cache->n_now++];
    e->path = bson_strdup(path);
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    e->size = st.st_size;
    e->mtime = st.st_mtim;
    memcpy(e->hex, hex, 65);
  }
  return ok;
}

bool mtq_digest_files(mtq_digest_cache_t *cache, const char *base, char *const *paths, size_t n,
                      char hex[65], bson_error_t *error) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), NULL);
  bool ok = true;
  for (size_t i = 0; ok && i < n; i++) {
    char *full = base ? bson_strdup_printf("%s/%s", base, paths[i]) : bson_strdup(paths[i]);
    char one[65];
    ok = file_digest(cache, full, one, error);
    bson_free(full);
    if (ok) {
      /* A line of sha256sum: the digest, two spaces, the name. */
      EVP_DigestUpdate(md, one, 64);
      EVP_DigestUpdate(md, "  ", 2);
      EVP_DigestUpdate(md, paths[i], strlen(paths[i]));
      EVP_DigestUpdate(md, "\n", 1);
    }
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(md, out, &len);
  EVP_MD_CTX_free(md);
  if (ok) {
    hex_of(out, len, hex);
  }
  return ok;
}

/* --- listing folders --------------------------------------------------------- */

typedef struct {
  char **items;
  size_t n;
} names_t;

static void names_push(names_t *l, char *owned) {
  l->items = bson_realloc(l->items, (l->n + 1) * sizeof *l->items);
  l->items[l->n++] = owned;
}

static void names_free(names_t *l) {
  for (size_t i = 0; i < l->n; i++) {
    bson_free(l->items[i]);
  }
  bson_free(l->items);
  memset(l, 0, sizeof *l);
}

static int name_cmp(const void *x, const void *y) {
  return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The entries of dir, "." and ".." aside (with_dots: the others starting
 * with a dot too), in byte order. */
static bool list_dir(const char *dir, bool with_dots, names_t *out, bson_error_t *error) {
  DIR *d = opendir(dir);
  if (!d) {
    mtq_error_set(error, MTQ_ERR_NOT_FOUND, "%s: cannot read: %s", dir, strerror(errno));
    return false;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
        (!with_dots && e->d_name[0] == '.')) {
      continue;
    }
    names_push(out, bson_strdup(e->d_name));
  }
  closedir(d);
  qsort(out->items, out->n, sizeof *out->items, name_cmp);
  return true;
}

static bool is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Every regular file under root/rel (symbolic links followed), as paths
 * relative to root, into out. */
static bool walk(const char *root, const char *rel, int depth, names_t *out,
                 bson_error_t *error) {
  if (depth > MTQ_FNDIR_MAX_DEPTH) {
    mtq_error_set(error, MTQ_ERR_TOO_LARGE, "%s/%s: nested deeper than %d folders", root, rel,
                  MTQ_FNDIR_MAX_DEPTH);
    return false;
  }
  char *dir = rel[0] ? bson_strdup_printf("%s/%s", root, rel) : bson_strdup(root);
  names_t here = {0};
  bool ok = list_dir(dir, true, &here, error);
  for (size_t i = 0; ok && i < here.n; i++) {
    char *sub = rel[0] ? bson_strdup_printf("%s/%s", rel, here.items[i])
                       : bson_strdup(here.items[i]);
    char *full = bson_strdup_printf("%s/%s", dir, here.items[i]);
    struct stat st;
    if (stat(full, &st) != 0) {
      /* A dangling link runs nothing. */
    } else if (S_ISDIR(st.st_mode)) {
      ok = walk(root, sub, depth + 1, out, error);
    } else if (S_ISREG(st.st_mode)) {
      if (out->n >= MTQ_FNDIR_MAX_FILES) {
        mtq_error_set(error, MTQ_ERR_TOO_LARGE, "%s: more than %d files", root,
                      MTQ_FNDIR_MAX_FILES);
        ok = false;
      } else {
        names_push(out, sub);
        sub = NULL;
      }
    }
    bson_free(sub);
    bson_free(full);
  }
  names_free(&here);
  bson_free(dir);
  return ok;
}

/* --- manifests ------------------------------------------------------------------ */

typedef struct {
  mtq_function_t *f;
  char *command;
} manifest_t;

static bool manifest_key(void *data, const char *sub, const char *name, const char *value,
                         bson_error_t *error) {
  manifest_t *m = data;
  char **text = strcmp(name, "command") == 0       ? &m->command
                : strcmp(name, "description") == 0 ? &m->f->description
                : strcmp(name, "developer") == 0   ? &m->f->developer
                : strcmp(name, "contact") == 0     ? &m->f->contact
                                                   : NULL;
  if (!text) {
    mtq_error_set(error, MTQ_ERR_INVALID,
                  "unknown key '%s' (a manifest has command, description, developer, contact)",
                  name);
    return false;
  }
  return mtq_config_string(text, value, error);
}

/* Makes the words of argv that name something in dir absolute; checks that
 * a program found there is executable. */
static bool resolve_command(char **argv, const char *path, const char *dir,
                            bson_error_t *error) {
  for (size_t i = 0; argv[i]; i++) {
    const char *w = argv[i];
    if (w[0] == '/' || w[0] == '-' || !w[0]) {
      continue;
    }
    const char *rel = strncmp(w, "./", 2) == 0 ? w + 2 : w;
    char *full = bson_strdup_printf("%s/%s", dir, rel);
    struct stat st;
    bool there = stat(full, &st) == 0;
    if (i == 0 && !there && strchr(w, '/')) {
      mtq_error_set(error, MTQ_ERR_NOT_FOUND, "%s: command %s: no such file in %s", path, w, dir);
      bson_free(full);
      return false;
    }
    if (i == 0 && there && (!S_ISREG(st.st_mode) || access(full, X_OK) != 0)) {
      mtq_error_set(error, MTQ_ERR_INVALID, "%s: command %s is not an executable file", path, w);
      bson_free(full);
      return false;
    }
    if (there) {
      bson_free(argv[i]);
      argv[i] = full;
    } else {
      bson_free(full);
    }
  }
  return true;
}

bool mtq_fndir_manifest_parse(const char *text, size_t len, const char *path, const char *dir,
                              const char *name, const char *version, mtq_function_t *f,
                              bson_error_t *error) {
  memset(f, 0, sizeof *f);
  f->name = bson_strdup(name);
  f->version = bson_strdup(version);
  f->source = bson_strdup(dir);
  f->from_dir = true;
  manifest_t m = {f, NULL};
  mtq_config_section_t table[] = {{"function", manifest_key, NULL, &m}};
  mtq_config_t base;
  mtq_config_init(&base);
  bool ok = mtq_config_parse(&base, table, 1, text, len, path, error);
  if (ok && (base.uri || base.n_keys)) {
    mtq_error_set(error, MTQ_ERR_INVALID, "%s: a manifest holds [function] only", path);
    ok = false;
  }
  mtq_config_cleanup(&base);
  if (ok && !m.command) {
    mtq_error_set(error, MTQ_ERR_INVALID, "%s: [function] has no command", path);
    ok = false;
  }
  if (ok) {
    bson_error_t err;
    f->argv = mtq_argv_split(m.command, &err);
    if (!f->argv) {
      mtq_error_set(error, MTQ_ERR_INVALID, "%s: [function] command: %s", path, err.message);
      ok = false;
    }
  }
  ok = ok && resolve_command(f->argv, path, dir, error);
  bson_free(m.command);
  return ok;
}

/* --- scanning ---------------------------------------------------------------------- */

static void say(mtq_fndir_problem_fn problem, void *data, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(mtq_fndir_problem_fn problem, void *data, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = bson_strdupv_printf(fmt, ap);
  va_end(ap);
  if (problem) {
    problem(data, msg);
  }
  bson_free(msg);
}

static bool read_file(const char *path, char **text, size_t *len, bson_error_t *error) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    mtq_error_set(error, MTQ_ERR_NOT_FOUND, "%s: %s", path,
                  errno == ENOENT ? "missing (every version has a manifest)" : strerror(errno));
    return false;
  }
  /* The config reader refuses more than a MiB; read one byte beyond. */
  size_t cap = 1024 * 1024 + 1;
  *text = bson_malloc(cap);
  *len = fread(*text, 1, cap, f);
  bool ok = !ferror(f);
  fclose(f);
  if (!ok) {
    mtq_error_set(error, MTQ_ERR_INVALID, "%s: cannot read", path);
    bson_free(*text);
  }
  return ok;
}

/* One version folder: its manifest, its digest. */
static void scan_version(const char *vdir, const char *name, const char *version,
                         mtq_digest_cache_t *cache, mtq_fnset_t *set,
                         mtq_fndir_problem_fn problem, void *data) {
  if (mtq_fnset_find(set, name, version)) {
    say(problem, data, "%s: %s version %s is also a [function] of the worker's INI file, "
        "which is what runs", vdir, name, version);
    return;
  }
  char *path = bson_strdup_printf("%s/%s", vdir, MTQ_FNDIR_MANIFEST);
  char *text = NULL;
  size_t len = 0;
  bson_error_t err;
  mtq_function_t f;
  memset(&f, 0, sizeof f);
  bool ok = read_file(path, &text, &len, &err) &&
            mtq_fndir_manifest_parse(text, len, path, vdir, name, version, &f, &err);
  names_t files = {0};
  ok = ok && walk(vdir, "", 0, &files, &err);
  if (ok) {
    /* The walk goes folder by folder ("lib" before "lib.txt"); the digest
     * takes whole paths in byte order ("lib.txt" before "lib/a.py"), as
     * sort(1) orders find's output. */
    qsort(files.items, files.n, sizeof *files.items, name_cmp);
    ok = mtq_digest_files(cache, vdir, files.items, files.n, f.digest, &err);
  }
  if (ok) {
    mtq_fnset_add(set, &f);
  } else {
    say(problem, data, "%s", err.message);
  }
  names_free(&files);
  mtq_function_cleanup(&f);
  bson_free(text);
  bson_free(path);
}

void mtq_fndir_scan(const char *dir, mtq_digest_cache_t *cache, mtq_fnset_t *set,
                    mtq_fndir_problem_fn problem, void *data) {
  names_t funcs = {0};
  bson_error_t err;
  if (!list_dir(dir, false, &funcs, &err)) {
    say(problem, data, "function_dir %s", err.message);
    return;
  }
  for (size_t i = 0; i < funcs.n; i++) {
    char *fdir = bson_strdup_printf("%s/%s", dir, funcs.items[i]);
    names_t versions = {0};
    if (!is_dir(fdir)) {
      /* A README beside the functions. */
    } else if (!mtq_name_valid(funcs.items[i])) {
      say(problem, data, "%s: '%s' is not a valid function name (1-64 of A-Z a-z 0-9 _ . -)",
          fdir, funcs.items[i]);
    } else if (!list_dir(fdir, false, &versions, &err)) {
      say(problem, data, "%s", err.message);
    }
    for (size_t k = 0; k < versions.n; k++) {
      char *vdir = bson_strdup_printf("%s/%s", fdir, versions.items[k]);
      if (!is_dir(vdir)) {
        /* Notes beside the versions. */
      } else if (!mtq_name_valid(versions.items[k])) {
        say(problem, data, "%s: '%s' is not a valid version (1-64 of A-Z a-z 0-9 _ . -)", vdir,
            versions.items[k]);
      } else {
        scan_version(vdir, funcs.items[i], versions.items[k], cache, set, problem, data);
      }
      bson_free(vdir);
    }
    names_free(&versions);
    bson_free(fdir);
  }
  names_free(&funcs);
}

/* The first word of a command as the kernel would find it: in PATH when it
 * has no slash.  Owned; NULL when not found. */
static char *find_program(const char *word) {
  if (strchr(word, '/')) {
    return bson_strdup(word);
  }
  const char *path = getenv("PATH");
  char *copy = bson_strdup(path ? path : "/usr/local/bin:/usr/bin:/bin");
  char *save = NULL, *found = NULL;
  for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
    char *full = bson_strdup_printf("%s/%s", *d ? d : ".", word);
    struct stat st;
    if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0) {
      found = full;
    } else {
      bson_free(full);
    }
  }
  bson_free(copy);
  return found;
}

/* An INI function's digest: the files its command names. */
static void ini_digest(mtq_function_t *f, mtq_digest_cache_t *cache,
                       mtq_fndir_problem_fn problem, void *data) {
  names_t files = {0};
  for (size_t i = 0; f->argv[i]; i++) {
    char *p = i == 0 ? find_program(f->argv[i]) : bson_strdup(f->argv[i]);
    struct stat st;
    if (p && stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
      names_push(&files, p);
    } else {
      bson_free(p);
    }
  }
  bson_error_t err;
  if (!mtq_digest_files(cache, NULL, files.items, files.n, f->digest, &err)) {
    say(problem, data, "[function %s]: digest: %s", f->name, err.message);
    f->digest[0] = '\0';
  }
  names_free(&files);
}

mtq_fnset_t *mtq_fnset_load(const mtq_worker_config_t *cfg, mtq_digest_cache_t *cache,
                            mtq_fndir_problem_fn problem, void *data) {
  mtq_fnset_t *set = mtq_fnset_new();
  for (size_t i = 0; i < cfg->n_functions; i++) {
    mtq_function_t f;
    mtq_function_copy(&f, &cfg->functions[i]);
    if (!f.source && cfg->source) {
      f.source = bson_strdup(cfg->source);
    }
    ini_digest(&f, cache, problem, data);
    mtq_fnset_add(set, &f);
    mtq_function_cleanup(&f);
  }
  if (cfg->function_dir) {
    mtq_fndir_scan(cfg->function_dir, cache, set, problem, data);
  }
  cache_turn(cache);
  return set;
}
