/* wake.c - telling idle workers that a channel has work: a UDP datagram
 * "mtq-wake <db> <channel>" to each running worker that serves it, with
 * " <priority>" appended when one task of that priority is what came (the
 * worker then reads that lane alone, not the channel's twenty), and a
 * sequence number in the channel's document for those the datagram does
 * not reach (README, "Wake-ups").
 *
 * Both are best effort and never fail the write they follow: a datagram
 * lost, a firewall in the way or a seq that was not bumped costs latency
 * (the worker's seq check, or its full poll every idle_poll_ms), never a
 * task.  Why UDP and not a tailable cursor: on FerretDB 1.24 each idle
 * cursor re-runs its query every 10 ms over the whole capped collection.
 *
 * Who to tell comes from the whoami collection, read at most every
 * MTQ__WAKE_CACHE_MS per store, so that a producer enqueueing in a loop does
 * not read whoami each time; a worker started since then is reached by its
 * seq check instead. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mtq_error.h"
#include "mtq_log.h"
#include "store_private.h"

#define MTQ__WAKE_CACHE_MS 5000
/* Workers woken per datagram: waking every worker of a channel for one
 * task makes them all race for it (each loser's claim is a wasted round
 * trip or three); two, with free slots when their last heartbeat said so,
 * leave a spare should one be busy.  The others learn of it from the seq. */
#define MTQ__WAKE_FANOUT 2

/* One running worker as the cache keeps it. */
typedef struct {
  char id[MTQ_NAME_MAX + 1];
  char **channels;
  size_t n_channels;
  struct sockaddr_in addrs[MTQ_WHOAMI_WAKE_MAX];
  size_t n_addrs;
  bool has_room; /* free slots at its last heartbeat (or unknown) */
} wake_peer_t;

struct mtq__wake_cache {
  int fd; /* the sending socket, -1 until first needed */
  int64_t loaded_ms;
  bool loading; /* one thread reads whoami; the others use the old list */
  wake_peer_t *peers;
  size_t n_peers;
  char host[256]; /* ours: loopback addresses are only worth it on the same host */
};

static void peers_free(wake_peer_t *peers, size_t n) {
  for (size_t i = 0; i < n; i++) {
    for (size_t c = 0; c < peers[i].n_channels; c++) {
      bson_free(peers[i].channels[c]);
    }
    bson_free(peers[i].channels);
  }
  bson_free(peers);
}

void mtq__wake_cache_free(struct mtq__wake_cache *cache) {
  if (!cache) {
    return;
  }
  if (cache->fd >= 0) {
    close(cache->fd);
  }
  peers_free(cache->peers, cache->n_peers);
  bson_free(cache);
}

/* The cache of store, made on first use (under store->lock). */
static struct mtq__wake_cache *cache_of(mtq_store_t *store) {
  if (!store->wake) {
    store->wake = bson_malloc0(sizeof *store->wake);
    store->wake->fd = -1;
    if (gethostname(store->wake->host, sizeof store->wake->host - 1) != 0) {
      store->wake->host[0] = '\0';
    }
  }
  return store->wake;
}

typedef struct {
  const char *host;
  wake_peer_t *peers;
  size_t n;
} load_t;

/* A worker kept when it runs and says where it listens (w borrowed). */
static void add_peer(load_t *l, const mtq_whoami_t *w) {
  if (w->state != MTQ_WORKER_STATE_RUNNING || w->n_wake == 0) {
    return;
  }
  wake_peer_t p = {0};
  bson_strncpy(p.id, w->id, sizeof p.id);
  p.has_room = w->concurrency <= 0 || w->running < w->concurrency;
  bool same_host = l->host[0] && strcmp(w->host, l->host) == 0;
  for (size_t i = 0; i < w->n_wake; i++) {
    uint32_t ip;
    uint16_t port;
    if (!mtq_whoami_wake_parse(w->wake[i], &ip, &port)) {
      continue;
    }
    /* 127.0.0.1 of another host is our own host: a datagram there would
     * wake a stranger, or no one. */
    if ((ntohl(ip) >> 24) == 127 && !same_host) {
      continue;
    }
    struct sockaddr_in *a = &p.addrs[p.n_addrs++];
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = ip;
    a->sin_port = htons(port);
  }
  p.channels = bson_malloc0((w->n_channels + 1) * sizeof *p.channels);
  for (size_t i = 0; i < w->n_channels; i++) {
    p.channels[p.n_channels++] = bson_strdup(w->channels[i]);
  }
  l->peers = bson_realloc(l->peers, (l->n + 1) * sizeof *l->peers);
  l->peers[l->n++] = p;
}

static bool load_one(void *ctx, const bson_t *doc) {
  mtq_whoami_t *w = bson_malloc0(sizeof *w); /* large: its GPU table */
  mtq_whoami_init(w);
  if (mtq_whoami_from_bson(w, doc)) {
    add_peer(ctx, w);
  }
  mtq_whoami_cleanup(w);
  bson_free(w);
  return true;
}

/* The new list in place of the old (under the lock); l is left empty. */
static void install(struct mtq__wake_cache *c, load_t *l, int64_t now) {
  peers_free(c->peers, c->n_peers);
  c->peers = l->peers;
  c->n_peers = l->n;
  c->loaded_ms = now;
  l->peers = NULL;
  l->n = 0;
}

void mtq__wake_learn(mtq_store_t *store, const mtq_whoami_list_t *all) {
  pthread_mutex_lock(&store->lock);
  struct mtq__wake_cache *c = cache_of(store);
  load_t l = {c->host, NULL, 0};
  for (size_t i = 0; i < all->n; i++) {
    add_peer(&l, &all->items[i]);
  }
  install(c, &l, mtq_now_ms());
  pthread_mutex_unlock(&store->lock);
}

/* Rereads the running workers when the list is older than the cache
 * allows; a failed read keeps the old list (and is retried next time). */
static void refresh(mtq_store_t *store, mongoc_client_t *client) {
  int64_t now = mtq_now_ms();
  pthread_mutex_lock(&store->lock);
  struct mtq__wake_cache *c = cache_of(store);
  bool due = !c->loading && (c->loaded_ms == 0 || now - c->loaded_ms >= MTQ__WAKE_CACHE_MS ||
                             now < c->loaded_ms);
  if (due) {
    c->loading = true;
  }
  char host[sizeof c->host];
  memcpy(host, c->host, sizeof host);
  pthread_mutex_unlock(&store->lock);
  if (!due) {
    return;
  }
  load_t l = {host, NULL, 0};
  mongoc_collection_t *coll = mtq__coll(store, client, "whoami");
  bson_t *filter = BCON_NEW("state", BCON_UTF8("running"));
  bson_error_t err;
  bool ok = mtq__each_doc(coll, filter, NULL, load_one, &l, &err);
  bson_destroy(filter);
  mongoc_collection_destroy(coll);
  if (!ok) {
    mtq_debug("wake-ups: cannot read the workers: %s", err.message);
  }
  pthread_mutex_lock(&store->lock);
  c->loading = false;
  if (ok) {
    install(c, &l, now);
  }
  pthread_mutex_unlock(&store->lock);
  peers_free(l.peers, l.n);
}

static bool peer_wants(const wake_peer_t *p, const char *channel) {
  size_t n = strlen(MTQ_DIRECT_PREFIX);
  if (strncmp(channel, MTQ_DIRECT_PREFIX, n) == 0) {
    return strcmp(channel + n, p->id) == 0; /* to.<worker>: that worker only */
  }
  for (size_t i = 0; i < p->n_channels; i++) {
    if (strcmp(p->channels[i], channel) == 0) {
      return true;
    }
  }
  return false;
}

void mtq__wake(mtq_store_t *store, mongoc_client_t *client, const char *channel,
               int32_t priority) {
  refresh(store, client);
  char msg[32 + 2 * MTQ_NAME_MAX];
  int len = priority >= MTQ_PRIORITY_MIN && priority <= MTQ_PRIORITY_MAX
                ? snprintf(msg, sizeof msg, "mtq-wake %s %s %d", store->db_name, channel,
                           (int)priority)
                : snprintf(msg, sizeof msg, "mtq-wake %s %s", store->db_name, channel);
  if (len <= 0 || (size_t)len >= sizeof msg) {
    return;
  }
  /* Sent under the lock: a handful of non-blocking sendto calls, and the
   * list cannot change under us. */
  pthread_mutex_lock(&store->lock);
  struct mtq__wake_cache *c = cache_of(store);
  if (c->fd < 0) {
    c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  }
  /* The workers of the channel, those with room first, each group in a
   * random order, so that the load spreads; the first FANOUT are woken. */
  size_t *pick = bson_malloc0((c->n_peers + 1) * sizeof *pick);
  size_t n = 0;
  for (int room = 1; room >= 0; room--) {
    size_t first = n;
    for (size_t i = 0; i < c->n_peers; i++) {
      if (c->peers[i].has_room == (bool)room && peer_wants(&c->peers[i], channel)) {
        pick[n++] = i;
      }
    }
    for (size_t k = n; k > first + 1; k--) {
      size_t j = first + (size_t)random() % (k - first);
      size_t t = pick[k - 1];
      pick[k - 1] = pick[j];
      pick[j] = t;
    }
  }
  for (size_t k = 0; c->fd >= 0 && k < n && k < MTQ__WAKE_FANOUT; k++) {
    const wake_peer_t *p = &c->peers[pick[k]];
    for (size_t a = 0; a < p->n_addrs; a++) {
      if (sendto(c->fd, msg, (size_t)len, 0, (const struct sockaddr *)&p->addrs[a],
                 sizeof p->addrs[a]) < 0 &&
          errno != EAGAIN) {
        mtq_debug("wake-up of worker %s: sendto: %s", p->id, strerror(errno));
      }
    }
  }
  bson_free(pick);
  pthread_mutex_unlock(&store->lock);
}

static void touch(mtq_store_t *store, mongoc_client_t *client, const char *channel,
                  int32_t priority) {
  mongoc_collection_t *coll = mtq__coll(store, client, "channels");
  bson_t *sel = BCON_NEW("_id", BCON_UTF8(channel));
  bson_t *upd = BCON_NEW("$inc", "{", "seq", BCON_INT64(1), "}");
  bson_error_t err;
  /* Two producers racing on FerretDB (whose $inc is a read and a write)
   * may both write the same seq: it still moved, which is all a worker
   * looks for. */
  if (!mongoc_collection_update_one(coll, sel, upd, NULL, NULL, &err)) {
    mtq_debug("cannot bump the seq of channel %s: %s", channel, err.message);
  }
  bson_destroy(upd);
  bson_destroy(sel);
  mongoc_collection_destroy(coll);
  mtq__wake(store, client, channel, priority);
}

void mtq__channel_touch(mtq_store_t *store, mongoc_client_t *client, const char *channel) {
  touch(store, client, channel, -1);
}

void mtq__task_touch(mtq_store_t *store, mongoc_client_t *client, const mtq_task_t *task) {
  /* A parent waits in dispatch for mtqd, not for a worker's poll. */
  if (task->status == MTQ_STATE_QUEUED && task->is_enable && !mtq_task_is_parent(task)) {
    touch(store, client, task->channel, task->priority);
  }
}

bool mtq_store_channel_seqs(mtq_store_t *store, const char *const *names, size_t n,
                            int64_t *seqs, bson_error_t *error) {
  bson_t filter = BSON_INITIALIZER, id, in;
  BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &id);
  BSON_APPEND_ARRAY_BEGIN(&id, "$in", &in);
  for (size_t i = 0; i < n; i++) {
    char key[16];
    const char *k;
    bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
    BSON_APPEND_UTF8(&in, k, names[i]);
    seqs[i] = 0;
  }
  bson_append_array_end(&id, &in);
  bson_append_document_end(&filter, &id);
  bson_t *opts = BCON_NEW("projection", "{", "seq", BCON_INT32(1), "}");
  mongoc_client_t *client = mtq__store_pop(store);
  mongoc_collection_t *coll = mtq__coll(store, client, "channels");
  mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
  const bson_t *doc;
  while (mongoc_cursor_next(cur, &doc)) {
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "_id") || !BSON_ITER_HOLDS_UTF8(&it)) {
      continue;
    }
    const char *name = bson_iter_utf8(&it, NULL);
    int64_t seq = bson_iter_init_find(&it, doc, "seq") && BSON_ITER_HOLDS_NUMBER(&it)
                      ? bson_iter_as_int64(&it)
                      : 0;
    for (size_t i = 0; i < n; i++) {
      if (strcmp(names[i], name) == 0) {
        seqs[i] = seq;
      }
    }
  }
  bool ok = !mongoc_cursor_error(cur, error);
  mongoc_cursor_destroy(cur);
  mongoc_collection_destroy(coll);
  mtq__store_push(store, client);
  bson_destroy(opts);
  bson_destroy(&filter);
  return ok;
}
