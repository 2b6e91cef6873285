/* api_tasks.c - the task table, one task, and the actions on it (README,
 * "Web dashboard").  Every action goes through the store's functions that
 * the CLI calls, so the state table refuses here what it refuses there,
 * with the web user as the actor in the audit trail. */
#include <string.h>

#include "json.h"
#include "mtq_error.h"
#include "mtq_log.h"
#include "params.h"
#include "web_private.h"

static void append_task(bson_t *doc, const char *key, const mtq_task_t *t) {
  bson_t sub;
  BSON_APPEND_DOCUMENT_BEGIN(doc, key, &sub);
  mtq_task_to_bson(t, &sub);
  /* disabled is a view of is_enable, as `mtq show` reports it. */
  BSON_APPEND_UTF8(&sub, "state", mtq_state_name(mtq_task_state(t)));
  bson_append_document_end(doc, &sub);
}

void mtq__web_tasks(mtq_web_req_t *q, mtq_web_reply_t *r) {
  static const char *const names[] = {"channel", "state", "func",   "worker", "error",
                                      "sort",    "limit", "cursor", NULL};
  if (!mtq__web_args_known(q, r, names)) {
    return;
  }
  mtq_web_task_query_t p = {mtq__web_arg(q, "channel"), mtq__web_arg(q, "state"),
                            mtq__web_arg(q, "func"),    mtq__web_arg(q, "worker"),
                            mtq__web_arg(q, "error"),   mtq__web_arg(q, "sort"),
                            mtq__web_arg(q, "limit"),   mtq__web_arg(q, "cursor")};
  mtq_browse_t b;
  bson_error_t error;
  if (!mtq_web_task_query_parse(&p, &b, &error)) {
    mtq__web_error(r, 400, "%s", error.message);
    return;
  }
  mtq_task_list_t list;
  mtq_task_list_init(&list);
  bool more = false;
  if (!mtq_store_browse(q->w->store, &b, &list, &more, &error)) {
    mtq_task_list_cleanup(&list);
    mtq__web_store_error(r, &error, "cannot list tasks");
    return;
  }
  bson_t arr;
  BSON_APPEND_ARRAY_BEGIN(&r->body, "tasks", &arr);
  for (size_t i = 0; i < list.n; i++) {
    char key[16];
    const char *ks;
    bson_uint32_to_string((uint32_t)i, &ks, key, sizeof key);
    append_task(&arr, ks, &list.items[i]);
  }
  bson_append_array_end(&r->body, &arr);
  if (more && list.n > 0) {
    char cursor[MTQ_WEB_CURSOR_MAX];
    mtq_web_cursor_encode(&b, &list.items[list.n - 1], cursor);
    BSON_APPEND_UTF8(&r->body, "next", cursor);
  } else {
    BSON_APPEND_NULL(&r->body, "next");
  }
  mtq_task_list_cleanup(&list);
}

/* The copies a redundant task's parent sent, each as it is now (one find
 * each: at most MTQ_COPIES_MAX + MTQ_REPLACEMENTS_MAX of them). */
static void append_copies(mtq_web_t *w, bson_t *doc, const mtq_task_t *t) {
  bson_t arr;
  BSON_APPEND_ARRAY_BEGIN(doc, "copies", &arr);
  bson_iter_t it, rec;
  uint32_t n = 0;
  if (t->copies && bson_iter_init(&it, t->copies)) {
    while (bson_iter_next(&it)) {
      bson_iter_t id;
      if (!BSON_ITER_HOLDS_DOCUMENT(&it) || !bson_iter_recurse(&it, &rec) ||
          !bson_iter_find_descendant(&rec, "id", &id) || !BSON_ITER_HOLDS_OID(&id)) {
        continue;
      }
      mtq_task_t copy;
      mtq_task_init(&copy);
      bson_error_t error;
      char key[16];
      const char *ks;
      bson_uint32_to_string(n++, &ks, key, sizeof key);
      if (mtq_store_find(w->store, bson_iter_oid(&id), &copy, &error)) {
        append_task(&arr, ks, &copy);
      } else {
        /* Removed by retention, or never inserted: the record says what it was. */
        bson_append_iter(&arr, ks, -1, &it);
      }
      mtq_task_cleanup(&copy);
    }
  }
  bson_append_array_end(doc, &arr);
}

static void append_flow(mtq_web_t *w, bson_t *doc, const mtq_task_t *t) {
  mtq_flow_t f;
  mtq_flow_init(&f);
  bson_error_t error;
  if (mtq_task_in_flow(t) && mtq_store_flow_get(w->store, &t->flow, &f, &error)) {
    bson_t sub;
    BSON_APPEND_DOCUMENT_BEGIN(doc, "flow", &sub);
    mtq_flow_to_bson(&f, &sub);
    bson_append_document_end(doc, &sub);
  } else {
    BSON_APPEND_NULL(doc, "flow");
  }
  mtq_flow_cleanup(&f);
}

static void append_history(bson_t *doc, const bson_t *events) {
  bson_iter_t it;
  if (bson_iter_init_find(&it, events, "events")) {
    bson_append_iter(doc, "history", -1, &it);
  } else {
    bson_t empty;
    BSON_APPEND_ARRAY_BEGIN(doc, "history", &empty);
    bson_append_array_end(doc, &empty);
  }
}

static void get_task(mtq_web_req_t *q, mtq_web_reply_t *r, const bson_oid_t *id) {
  mtq_task_t t;
  mtq_task_init(&t);
  bson_error_t error;
  if (!mtq_store_find(q->w->store, id, &t, &error)) {
    mtq_task_cleanup(&t);
    mtq__web_store_error(r, &error, "cannot read the task");
    return;
  }
  bson_t events;
  if (!mtq_store_history(q->w->store, id, &events, &error)) {
    bson_destroy(&events);
    mtq_task_cleanup(&t);
    mtq__web_store_error(r, &error, "cannot read the task's history");
    return;
  }
  append_task(&r->body, "task", &t);
  append_history(&r->body, &events);
  append_copies(q->w, &r->body, &t);
  append_flow(q->w, &r->body, &t);
  bson_destroy(&events);
  mtq_task_cleanup(&t);
}

/* {"priority": 0..9}: a whole number (a JSON integer, or a double with no
 * fraction), nothing else. */
static bool read_priority(mtq_web_req_t *q, int32_t *out, mtq_web_reply_t *r) {
  bson_error_t jerr;
  bson_t *doc = bson_new_from_json((const uint8_t *)q->body, (ssize_t)q->body_len, &jerr);
  bson_iter_t it;
  bool ok = doc && bson_iter_init_find(&it, doc, "priority");
  if (ok) {
    if (BSON_ITER_HOLDS_INT32(&it) || BSON_ITER_HOLDS_INT64(&it)) {
      int64_t v = bson_iter_as_int64(&it);
      ok = v >= MTQ_PRIORITY_MIN && v <= MTQ_PRIORITY_MAX;
      *out = (int32_t)v;
    } else if (BSON_ITER_HOLDS_DOUBLE(&it)) {
      double v = bson_iter_double(&it);
      ok = v >= MTQ_PRIORITY_MIN && v <= MTQ_PRIORITY_MAX && v == (double)(int32_t)v;
      *out = (int32_t)v;
    } else {
      ok = false;
    }
  }
  if (doc) {
    bson_destroy(doc);
  }
  if (!ok) {
    mtq__web_error(r, 400, "the body must be {\"priority\": N} with N a whole number 0..9");
  }
  return ok;
}

static void act(mtq_web_req_t *q, mtq_web_reply_t *r, const bson_oid_t *id, const char *action) {
  if (!mtq__web_may_act(q, r)) {
    return;
  }
  mtq_store_t *s = q->w->store;
  const char *by = q->who.actor;
  bson_error_t error;
  bool ok;
  int32_t prio = 0;
  if (strcmp(action, "cancel") == 0) {
    ok = mtq_store_cancel(s, id, by, &error);
  } else if (strcmp(action, "retry") == 0) {
    ok = mtq_store_retry(s, id, by, &error);
  } else if (strcmp(action, "suspend") == 0) {
    ok = mtq_store_suspend(s, id, by, &error);
  } else if (strcmp(action, "resume") == 0) {
    ok = mtq_store_resume(s, id, by, &error);
  } else if (strcmp(action, "enable") == 0 || strcmp(action, "disable") == 0) {
    ok = mtq_store_set_enable(s, id, action[0] == 'e', by, &error);
  } else if (strcmp(action, "priority") == 0) {
    if (!read_priority(q, &prio, r)) {
      return;
    }
    ok = mtq_store_set_priority(s, id, prio, by, &error);
  } else {
    mtq__web_error(r, 404, "no such action: cancel, retry, suspend, resume, enable, disable, "
                           "priority");
    return;
  }
  char hex[25];
  bson_oid_to_string(id, hex);
  if (!ok) {
    mtq__web_store_error(r, &error, "refused");
    return;
  }
  mtq_info("%s: %s task %s", by, action, hex);
  mtq_task_t t;
  mtq_task_init(&t);
  if (mtq_store_find(s, id, &t, &error)) {
    append_task(&r->body, "task", &t);
  } else {
    mtq__web_store_error(r, &error, "done, but cannot read the task again");
  }
  mtq_task_cleanup(&t);
}

void mtq__web_task(mtq_web_req_t *q, mtq_web_reply_t *r, const char *rest) {
  char hex[25];
  const char *slash;
  bson_oid_t id;
  if (!mtq_web_parse_id_path(rest, &id, hex, &slash)) {
    mtq__web_error(r, 400, "a task id is 24 hexadecimal digits");
    return;
  }
  bool post = strcmp(q->method, "POST") == 0;
  if (!slash) {
    if (post) {
      mtq__web_error(r, 405, "POST /api/v1/tasks/ID/ACTION");
    } else if (mtq__web_args_known(q, r, (const char *const[]){NULL})) {
      get_task(q, r, &id);
    }
  } else if (!post) {
    mtq__web_error(r, 405, "actions are POST");
  } else if (strchr(slash + 1, '/')) {
    mtq__web_error(r, 404, "no such endpoint");
  } else {
    act(q, r, &id, slash + 1);
  }
}
