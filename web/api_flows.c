/* api_flows.c - flows: the list, one flow, cancel, suspend, resume. */
#include <string.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "params.h"
#include "web_private.h"

void mtq__web_flows(mtq_web_req_t *q, mtq_web_reply_t *r) {
  static const char *const names[] = {"state", "limit", NULL};
  if (!mtq__web_args_known(q, r, names)) {
    return;
  }
  const char *state = mtq__web_arg(q, "state"), *limit = mtq__web_arg(q, "limit");
  mtq_flow_state_t want = MTQ_FLOW_STATE_INVALID;
  if (state && (want = mtq_flow_state_parse(state)) == MTQ_FLOW_STATE_INVALID) {
    mtq__web_error(r, 400, "state must be one of running, suspended, done, failed, cancelled");
    return;
  }
  int64_t n = 50;
  if (limit && !mtq_web_parse_int(limit, 1, MTQ_BROWSE_LIMIT_MAX, &n)) {
    mtq__web_error(r, 400, "limit must be a whole number from 1 to %d", MTQ_BROWSE_LIMIT_MAX);
    return;
  }
  /* Flows are few (retention removes ended ones): read them newest first
   * and filter here. */
  bool unfinished = state && !mtq_flow_state_is_terminal(want);
  mtq_flow_t *flows;
  size_t count;
  bson_error_t error;
  if (!mtq_store_flows(q->w->store, unfinished, state ? 0 : (size_t)n, &flows, &count, &error)) {
    mtq__web_store_error(r, &error, "cannot list flows");
    return;
  }
  bson_t arr;
  BSON_APPEND_ARRAY_BEGIN(&r->body, "flows", &arr);
  uint32_t k = 0;
  for (size_t i = 0; i < count && k < (uint32_t)n; i++) {
    if (state && flows[i].status != want) {
      continue;
    }
    char key[16];
    const char *ks;
    bson_t doc;
    bson_uint32_to_string(k++, &ks, key, sizeof key);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, ks, &doc);
    mtq_flow_to_bson(&flows[i], &doc);
    bson_append_document_end(&arr, &doc);
  }
  bson_append_array_end(&r->body, &arr);
  mtq_flow_list_free(flows, count);
}

static void get_flow(mtq_web_req_t *q, mtq_web_reply_t *r, const bson_oid_t *id) {
  mtq_flow_t f;
  mtq_flow_init(&f);
  bson_error_t error;
  bson_t events = BSON_INITIALIZER;
  if (!mtq_store_flow_get(q->w->store, id, &f, &error)) {
    mtq__web_store_error(r, &error, "cannot read the flow");
  } else {
    bson_destroy(&events);
    if (!mtq_store_flow_history(q->w->store, id, &events, &error)) {
      mtq__web_store_error(r, &error, "cannot read the flow's history");
    } else {
      bson_t sub;
      BSON_APPEND_DOCUMENT_BEGIN(&r->body, "flow", &sub);
      mtq_flow_to_bson(&f, &sub);
      bson_append_document_end(&r->body, &sub);
      bson_iter_t it;
      if (bson_iter_init_find(&it, &events, "events")) {
        bson_append_iter(&r->body, "history", -1, &it);
      }
    }
  }
  bson_destroy(&events);
  mtq_flow_cleanup(&f);
}

void mtq__web_flow(mtq_web_req_t *q, mtq_web_reply_t *r, const char *rest) {
  char hex[25];
  const char *slash;
  bson_oid_t id;
  if (!mtq_web_parse_id_path(rest, &id, hex, &slash)) {
    mtq__web_error(r, 400, "a flow id is 24 hexadecimal digits");
    return;
  }
  bool post = strcmp(q->method, "POST") == 0;
  if (!slash) {
    if (post) {
      mtq__web_error(r, 405, "POST /api/v1/flows/ID/ACTION");
    } else {
      get_flow(q, r, &id);
    }
    return;
  }
  if (!post) {
    mtq__web_error(r, 405, "actions are POST");
    return;
  }
  const char *action = slash + 1;
  if (strcmp(action, "cancel") != 0 && strcmp(action, "suspend") != 0 &&
      strcmp(action, "resume") != 0) {
    mtq__web_error(r, 404, "no such action: cancel, suspend, resume");
    return;
  }
  if (!mtq__web_may_act(q, r)) {
    return;
  }
  bson_error_t error;
  bool ok = action[0] == 'c' ? mtq_store_flow_cancel(q->w->store, &id, q->who.actor, &error)
                             : mtq_store_flow_suspend(q->w->store, &id, action[0] == 's',
                                                      q->who.actor, &error);
  if (!ok) {
    mtq__web_store_error(r, &error, "refused");
    return;
  }
  mtq_info("%s: %s flow %s", q->who.actor, action, hex);
  get_flow(q, r, &id);
}
