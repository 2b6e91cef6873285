/* dbedit.c - a test tool: edits the mtq database directly, the way an
 * operator would in mongosh, and reads JSON for the test scripts.
 *
 * It talks to MongoDB through libmongoc only, never through libmtq's store,
 * so that it can write what mtq itself would refuse (wrong types on purpose).
 *
 *   dbedit --uri URI --id TASKID --set JSON   $set JSON on the live task document
 *                                            (whichever lane or delayed collection
 *                                            holds it); prints the collection name
 *   dbedit --uri URI --find TASKID           prints the live document as JSON
 *   dbedit --uri URI --where TASKID          prints the live document's collection
 *   dbedit --uri URI --find-result TASKID    prints results/TASKID as JSON
 *   dbedit --uri URI --count COLLECTION [FILTER]
 *                                            prints its number of documents (matching
 *                                            FILTER, extended JSON; 0 when it does
 *                                            not exist)
 *   dbedit --uri URI --ids COLLECTION [--filter JSON]
 *                                            prints the _id of every (matching)
 *                                            document, one a line
 *   dbedit --uri URI --docs COLLECTION [--filter JSON]
 *                                            the same with whole documents, as
 *                                            relaxed extended JSON, one a line
 *   dbedit --uri URI --count COLLECTION --filter JSON   same as the positional FILTER
 *   dbedit --uri URI --count-claims          claims taken to run a task (kind "run")
 *   dbedit --uri URI --collections PREFIX    prints "NAME COUNT" for every collection
 *                                            whose name starts with PREFIX, in name
 *                                            order
 *   dbedit --uri URI --insert COLLECTION JSON
 *                                            inserts one document (extended JSON)
 *   dbedit --uri URI --delete COLLECTION FILTER
 *                                            deletes the documents matching FILTER
 *   dbedit --get PATH  < JSON                prints the value at a dotted path
 *                                            (array indexes are numbers): strings
 *                                            raw, documents and arrays as JSON
 *   dbedit --len PATH  < JSON                prints the number of elements there
 *   dbedit --canon     < JSON                prints the JSON in one canonical form
 *
 * PATH "." is the whole input.  Exit status: 0 ok, 1 not found or failed,
 * 2 bad usage. */
#include <inttypes.h>
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void) {
  fprintf(stderr, "usage: dbedit --uri URI (--id ID --set JSON | --find ID | --where ID |\n"
                  "                         --find-result ID |\n"
                  "                         --count COLLECTION [FILTER] | --count-claims |\n"
                  "                         --insert COLLECTION JSON |\n"
                  "                         --delete COLLECTION FILTER)\n"
                  "       dbedit (--get PATH | --len PATH | --canon) < JSON\n");
  return 2;
}

/* --- JSON on stdin --------------------------------------------------------- */

/* Reads stdin whole; caller frees. */
static char *read_stdin(size_t *len) {
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  size_t r;
  while (buf && (r = fread(buf + n, 1, cap - n, stdin)) > 0) {
    n += r;
    if (n == cap) {
      cap *= 2;
      buf = realloc(buf, cap);
    }
  }
  *len = n;
  return buf;
}

/* Parses stdin as {"v": <input>}, so that a top-level array or scalar works
 * too.  *doc is initialised on success. */
static bool parse_stdin(bson_t *doc) {
  size_t len;
  char *in = read_stdin(&len);
  if (!in) {
    return false;
  }
  char *wrapped = bson_strdup_printf("{\"v\": %.*s}", (int)len, in);
  bson_error_t err;
  bool ok = bson_init_from_json(doc, wrapped, -1, &err);
  if (!ok) {
    fprintf(stderr, "dbedit: input is not JSON: %s\n", err.message);
  }
  bson_free(wrapped);
  free(in);
  return ok;
}

static void print_value(bson_iter_t *it) {
  switch (bson_iter_type(it)) {
  case BSON_TYPE_UTF8:
    printf("%s\n", bson_iter_utf8(it, NULL));
    break;
  case BSON_TYPE_INT32:
  case BSON_TYPE_INT64:
    printf("%" PRId64 "\n", bson_iter_as_int64(it));
    break;
  case BSON_TYPE_DOUBLE:
    printf("%.17g\n", bson_iter_double(it));
    break;
  case BSON_TYPE_BOOL:
    printf("%s\n", bson_iter_bool(it) ? "true" : "false");
    break;
  case BSON_TYPE_NULL:
    printf("null\n");
    break;
  case BSON_TYPE_OID: {
    char hex[25];
    bson_oid_to_string(bson_iter_oid(it), hex);
    printf("%s\n", hex);
    break;
  }
  case BSON_TYPE_DOCUMENT:
  case BSON_TYPE_ARRAY: {
    uint32_t len;
    const uint8_t *data;
    bson_t sub;
    bool is_doc = BSON_ITER_HOLDS_DOCUMENT(it);
    if (is_doc) {
      bson_iter_document(it, &len, &data);
    } else {
      bson_iter_array(it, &len, &data);
    }
    if (bson_init_static(&sub, data, len)) {
      char *s = is_doc ? bson_as_relaxed_extended_json(&sub, NULL) : bson_array_as_json(&sub, NULL);
      printf("%s\n", s);
      bson_free(s);
    }
    break;
  }
  default: {
    /* Anything else (dates...): as relaxed extended JSON of {"v": value}. */
    bson_t one = BSON_INITIALIZER;
    bson_append_value(&one, "v", 1, bson_iter_value(it));
    char *s = bson_as_relaxed_extended_json(&one, NULL);
    printf("%s\n", s);
    bson_free(s);
    bson_destroy(&one);
  }
  }
}

static int json_query(const char *mode, const char *path) {
  bson_t doc;
  if (!parse_stdin(&doc)) {
    return 1;
  }
  int rc = 1;
  bson_iter_t it;
  char *full = strcmp(path, ".") == 0 ? bson_strdup("v") : bson_strdup_printf("v.%s", path);
  bson_iter_t root;
  if (bson_iter_init(&root, &doc) && bson_iter_find_descendant(&root, full, &it)) {
    rc = 0;
    if (strcmp(mode, "--len") == 0) {
      bson_iter_t child;
      int64_t n = 0;
      if ((BSON_ITER_HOLDS_DOCUMENT(&it) || BSON_ITER_HOLDS_ARRAY(&it)) &&
          bson_iter_recurse(&it, &child)) {
        while (bson_iter_next(&child)) {
          n++;
        }
        printf("%" PRId64 "\n", n);
      } else {
        fprintf(stderr, "dbedit: %s is neither a document nor an array\n", path);
        rc = 1;
      }
    } else {
      print_value(&it);
    }
  } else {
    fprintf(stderr, "dbedit: no %s in the input\n", path);
  }
  bson_free(full);
  bson_destroy(&doc);
  return rc;
}

/* --- database ---------------------------------------------------------------- */

static bool parse_oid(const char *hex, bson_oid_t *oid) {
  if (!hex || strlen(hex) != 24 || !bson_oid_is_valid(hex, 24)) {
    fprintf(stderr, "dbedit: '%s' is not a task id (24 hex digits)\n", hex ? hex : "");
    return false;
  }
  bson_oid_init_from_string(oid, hex);
  return true;
}

static void print_doc(const bson_t *doc) {
  char *s = bson_as_relaxed_extended_json(doc, NULL);
  printf("%s\n", s);
  bson_free(s);
}

/* Names of the live collections of every channel: q.* but the segment
 * directories (.dir) and collections being dropped (.dropping), in name
 * order (the delayed collection, then lanes, side lanes and segments);
 * caller frees with bson_strfreev. */
static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **live_collections(mongoc_database_t *db, bson_error_t *error) {
  char **all = mongoc_database_get_collection_names_with_opts(db, NULL, error);
  if (!all) {
    return NULL;
  }
  size_t n = 0, m = 0;
  while (all[n]) {
    n++;
  }
  char **names = bson_malloc0((n + 1) * sizeof(char *));
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(all[i]);
    bool skip = strncmp(all[i], "q.", 2) != 0 ||
                (len > 4 && strcmp(all[i] + len - 4, ".dir") == 0) ||
                (len > 9 && strcmp(all[i] + len - 9, ".dropping") == 0);
    if (!skip) {
      names[m++] = bson_strdup(all[i]);
    }
  }
  qsort(names, m, sizeof *names, by_name);
  bson_strfreev(all);
  return names;
}

/* Finds the document with this _id in coll; *found tells. */
static bool find_one(mongoc_collection_t *coll, const bson_oid_t *oid, bson_t *out, bool *found,
                     bson_error_t *error) {
  bson_t filter = BSON_INITIALIZER;
  BSON_APPEND_OID(&filter, "_id", oid);
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, NULL, NULL);
  const bson_t *doc;
  *found = mongoc_cursor_next(cur, &doc);
  if (*found) {
    bson_copy_to(doc, out);
  }
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  bson_destroy(&filter);
  return ok;
}

static int do_set(mongoc_database_t *db, const char *id, const char *json) {
  bson_oid_t oid;
  bson_t set;
  bson_error_t err;
  if (!parse_oid(id, &oid)) {
    return 2;
  }
  if (!bson_init_from_json(&set, json, -1, &err)) {
    fprintf(stderr, "dbedit: --set: %s\n", err.message);
    return 2;
  }
  char **names = live_collections(db, &err);
  int rc = 1;
  for (size_t i = 0; names && names[i] && rc == 1; i++) {
    mongoc_collection_t *coll = mongoc_database_get_collection(db, names[i]);
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, reply;
    BSON_APPEND_OID(&filter, "_id", &oid);
    BSON_APPEND_DOCUMENT(&update, "$set", &set);
    if (!mongoc_collection_update_one(coll, &filter, &update, NULL, &reply, &err)) {
      fprintf(stderr, "dbedit: update in %s failed: %s\n", names[i], err.message);
      rc = 3;
    } else {
      bson_iter_t it;
      if (bson_iter_init_find(&it, &reply, "matchedCount") && bson_iter_as_int64(&it) > 0) {
        printf("%s\n", names[i]);
        rc = 0;
      }
    }
    bson_destroy(&reply);
    bson_destroy(&update);
    bson_destroy(&filter);
    mongoc_collection_destroy(coll);
  }
  if (!names) {
    fprintf(stderr, "dbedit: cannot read channels: %s\n", err.message);
  } else if (rc == 1) {
    fprintf(stderr, "dbedit: no live task %s\n", id);
  }
  bson_strfreev(names);
  bson_destroy(&set);
  return rc == 3 ? 1 : rc;
}

/* Prints the document (or with where, its collection) of a live task, or of
 * a finished one (result). */
static int do_find(mongoc_database_t *db, const char *id, bool result, bool where) {
  bson_oid_t oid;
  bson_error_t err;
  if (!parse_oid(id, &oid)) {
    return 2;
  }
  char **names = result ? NULL : live_collections(db, &err);
  if (!result && !names) {
    fprintf(stderr, "dbedit: cannot read channels: %s\n", err.message);
    return 1;
  }
  const char *only[] = {"results", NULL};
  const char *const *list = result ? only : (const char *const *)names;
  int rc = 1;
  for (size_t i = 0; list[i] && rc == 1; i++) {
    mongoc_collection_t *coll = mongoc_database_get_collection(db, list[i]);
    bson_t doc = BSON_INITIALIZER;
    bool found = false;
    if (!find_one(coll, &oid, &doc, &found, &err)) {
      fprintf(stderr, "dbedit: find in %s failed: %s\n", list[i], err.message);
      rc = 3;
    } else if (found) {
      if (where) {
        printf("%s\n", list[i]);
      } else {
        print_doc(&doc);
      }
      rc = 0;
    }
    bson_destroy(&doc);
    mongoc_collection_destroy(coll);
  }
  if (rc == 1) {
    fprintf(stderr, "dbedit: no %s task %s\n", result ? "finished" : "live", id);
  }
  bson_strfreev(names);
  return rc == 3 ? 1 : rc;
}

static int do_count(mongoc_database_t *db, const char *name, const char *json) {
  bson_t filter = BSON_INITIALIZER;
  bson_error_t err;
  if (json && !bson_init_from_json(&filter, json, -1, &err)) {
    fprintf(stderr, "dbedit: --count filter: %s\n", err.message);
    return 2;
  }
  mongoc_collection_t *coll = mongoc_database_get_collection(db, name);
  int64_t n = mongoc_collection_count_documents(coll, &filter, NULL, NULL, NULL, &err);
  bson_destroy(&filter);
  mongoc_collection_destroy(coll);
  if (n < 0) {
    fprintf(stderr, "dbedit: count of %s failed: %s\n", name, err.message);
    return 1;
  }
  printf("%" PRId64 "\n", n);
  return 0;
}

static int do_collections(mongoc_database_t *db, const char *prefix) {
  bson_error_t err;
  char **names = mongoc_database_get_collection_names_with_opts(db, NULL, &err);
  if (!names) {
    fprintf(stderr, "dbedit: listing collections failed: %s\n", err.message);
    return 1;
  }
  size_t n = 0;
  while (names[n]) {
    n++;
  }
  qsort(names, n, sizeof *names, by_name);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (strncmp(names[i], prefix, strlen(prefix)) == 0) {
      printf("%s ", names[i]);
      fflush(stdout);
      rc = do_count(db, names[i], NULL);
    }
  }
  bson_strfreev(names);
  return rc;
}

/* --insert: one document; --delete: every document matching json. */
static int do_write(mongoc_database_t *db, const char *mode, const char *name, const char *json) {
  bson_t doc;
  bson_error_t err;
  if (!bson_init_from_json(&doc, json, -1, &err)) {
    fprintf(stderr, "dbedit: %s: %s\n", mode, err.message);
    return 2;
  }
  mongoc_collection_t *coll = mongoc_database_get_collection(db, name);
  bool ok = strcmp(mode, "--insert") == 0
                ? mongoc_collection_insert_one(coll, &doc, NULL, NULL, &err)
                : mongoc_collection_delete_many(coll, &doc, NULL, NULL, &err);
  if (!ok) {
    fprintf(stderr, "dbedit: %s on %s failed: %s\n", mode, name, err.message);
  }
  mongoc_collection_destroy(coll);
  bson_destroy(&doc);
  return ok ? 0 : 1;
}

/* Prints the _id (whole: the whole document, as relaxed extended JSON) of
 * every document matching json (NULL: all), one a line. */
static int do_ids(mongoc_database_t *db, const char *name, const char *json, bool whole) {
  bson_t filter = BSON_INITIALIZER;
  bson_error_t err;
  if (json && !bson_init_from_json(&filter, json, -1, &err)) {
    fprintf(stderr, "dbedit: --filter: %s\n", err.message);
    return 2;
  }
  mongoc_collection_t *coll = mongoc_database_get_collection(db, name);
  bson_t *opts = whole ? bson_new() : BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}");
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
  const bson_t *doc;
  while (mongoc_cursor_next(cur, &doc)) {
    bson_iter_t it;
    if (whole) {
      char *text = bson_as_relaxed_extended_json(doc, NULL);
      puts(text);
      bson_free(text);
    } else if (bson_iter_init_find(&it, doc, "_id")) {
      print_value(&it);
    }
  }
  int rc = 0;
  if (mongoc_cursor_error(cur, &err)) {
    fprintf(stderr, "dbedit: reading %s failed: %s\n", name, err.message);
    rc = 1;
  }
  mongoc_cursor_destroy(cur);
  bson_destroy(opts);
  bson_destroy(&filter);
  mongoc_collection_destroy(coll);
  return rc;
}

int main(int argc, char **argv) {
  const char *uri_s = NULL, *id = NULL, *set = NULL, *mode = NULL, *arg = NULL;
  const char *count_filter = NULL, *insert_json = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    bool has_value = i + 1 < argc;
    if (strcmp(a, "--canon") == 0 || strcmp(a, "--count-claims") == 0) {
      mode = a;
    } else if (!has_value) {
      return usage();
    } else if (strcmp(a, "--uri") == 0) {
      uri_s = argv[++i];
    } else if (strcmp(a, "--id") == 0) {
      id = argv[++i];
    } else if (strcmp(a, "--set") == 0) {
      set = argv[++i];
    } else if (strcmp(a, "--filter") == 0) {
      count_filter = argv[++i];
    } else if ((strcmp(a, "--insert") == 0 || strcmp(a, "--delete") == 0) && i + 2 < argc) {
      mode = a;
      arg = argv[++i];
      insert_json = argv[++i];
    } else if (strcmp(a, "--find") == 0 || strcmp(a, "--find-result") == 0 ||
               strcmp(a, "--where") == 0 || strcmp(a, "--count") == 0 ||
               strcmp(a, "--ids") == 0 || strcmp(a, "--docs") == 0 || strcmp(a, "--get") == 0 || strcmp(a, "--len") == 0 ||
               strcmp(a, "--collections") == 0) {
      mode = a;
      arg = argv[++i];
      if (strcmp(a, "--count") == 0 && i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
        count_filter = argv[++i];
      }
    } else {
      return usage();
    }
  }
  if (mode && (strcmp(mode, "--get") == 0 || strcmp(mode, "--len") == 0)) {
    return json_query(mode, arg);
  }
  if (mode && strcmp(mode, "--canon") == 0) {
    return json_query("--get", ".");
  }
  if (!uri_s || (!mode && !(id && set))) {
    return usage();
  }

  mongoc_init();
  /* The driver's warnings (FerretDB lacks endSessions...) are noise here. */
  mongoc_log_set_handler(NULL, NULL);
  bson_error_t err;
  mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_s, &err);
  if (!uri) {
    fprintf(stderr, "dbedit: bad URI: %s\n", err.message);
    return 2;
  }
  if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS)) {
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 5000);
  }
  mongoc_client_t *client = mongoc_client_new_from_uri(uri);
  const char *dbname = mongoc_uri_get_database(uri);
  mongoc_database_t *db = mongoc_client_get_database(client, dbname && *dbname ? dbname : "mtq");
  int rc;
  if (!mode) {
    rc = do_set(db, id, set);
  } else if (strcmp(mode, "--find") == 0 || strcmp(mode, "--where") == 0) {
    rc = do_find(db, arg, false, strcmp(mode, "--where") == 0);
  } else if (strcmp(mode, "--find-result") == 0) {
    rc = do_find(db, arg, true, false);
  } else if (strcmp(mode, "--count") == 0) {
    rc = do_count(db, arg, count_filter);
  } else if (strcmp(mode, "--insert") == 0 || strcmp(mode, "--delete") == 0) {
    rc = do_write(db, mode, arg, insert_json);
  } else if (strcmp(mode, "--ids") == 0) {
    rc = do_ids(db, arg, count_filter, false);
  } else if (strcmp(mode, "--docs") == 0) {
    rc = do_ids(db, arg, count_filter, true);
  } else if (strcmp(mode, "--collections") == 0) {
    rc = do_collections(db, arg);
  } else {
    rc = do_count(db, "claims", "{\"kind\": \"run\"}");
  }
  mongoc_database_destroy(db);
  mongoc_client_destroy(client);
  mongoc_uri_destroy(uri);
  mongoc_cleanup();
  return rc;
}
