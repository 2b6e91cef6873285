/* wake.c - the worker's wake-up socket: a UDP socket on the worker's loop
 * that producers and mtqd send "mtq-wake <db> <channel>" to after a write
 * that makes work runnable in a channel (common/store/wake.c).  A datagram
 * for this worker's database and one of its channels makes the poll run
 * now (mtq__worker_wake); anything else is dropped without a word, since
 * anyone who can reach the port can send it.
 *
 * The worker announces where it listens in its whoami document: each
 * non-loopback IPv4 address of its host, then 127.0.0.1, with the bound
 * port.  Addresses are read again at every heartbeat, so a host whose
 * address changes is reached again within one heartbeat.  Without the
 * socket (wake = false, or the bind failed) the worker announces nothing
 * and relies on its seq checks (worker.c). */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <string.h>

#include "worker_private.h"

#define WAKE_PREFIX "mtq-wake "

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  mtq_worker_t *w = h->data;
  (void)suggested;
  *buf = uv_buf_init(w->wake_buf, sizeof w->wake_buf);
}

/* "mtq-wake <db> <channel>[ <priority>]", nothing more: the index of the
 * channel in w->watch, or -1; *priority -1 when none is given. */
static int parse(const mtq_worker_t *w, const char *msg, size_t len, int *priority) {
  size_t plen = strlen(WAKE_PREFIX);
  if (len <= plen || memchr(msg, '\0', len) || strncmp(msg, WAKE_PREFIX, plen) != 0) {
    return -1;
  }
  const char *db = msg + plen;
  const char *sp = memchr(db, ' ', len - plen);
  if (!sp) {
    return -1;
  }
  size_t db_len = (size_t)(sp - db);
  const char *mine = mtq_store_db_name(w->store);
  if (db_len != strlen(mine) || memcmp(db, mine, db_len) != 0) {
    return -1; /* another database's producers share the network */
  }
  const char *ch = sp + 1;
  size_t ch_len = len - (size_t)(ch - msg);
  *priority = -1;
  if (ch_len > 2 && ch[ch_len - 2] == ' ') {
    char digit = ch[ch_len - 1];
    if (digit < '0' + MTQ_PRIORITY_MIN || digit > '0' + MTQ_PRIORITY_MAX) {
      return -1;
    }
    *priority = digit - '0';
    ch_len -= 2;
  }
  for (size_t i = 0; i < w->n_watch; i++) {
    if (strlen(w->watch[i]) == ch_len && memcmp(w->watch[i], ch, ch_len) == 0) {
      return (int)i;
    }
  }
  return -1;
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags) {
  mtq_worker_t *w = h->data;
  if (nread <= 0 || (flags & UV_UDP_PARTIAL)) {
    return; /* nothing (nread 0, from NULL), an error, or too long to be ours */
  }
  int priority;
  int i = parse(w, buf->base, (size_t)nread, &priority);
  if (i < 0) {
    mtq_debug("ignoring a datagram of %zd bytes on the wake-up port", nread);
    return;
  }
  (void)from;
  mtq__worker_wake(w, (size_t)i, priority);
}

bool mtq__wake_open(mtq_worker_t *w) {
  if (!w->cfg->wake) {
    return false;
  }
  struct sockaddr_in addr;
  uv_ip4_addr("0.0.0.0", (int)w->cfg->wake_port, &addr);
  int rc = uv_udp_init(w->loop, &w->wake_udp);
  if (rc == 0) {
    w->wake_udp.data = w;
    w->wake_open = true;
    rc = uv_udp_bind(&w->wake_udp, (const struct sockaddr *)&addr, 0);
  }
  struct sockaddr_storage bound;
  int len = sizeof bound;
  if (rc == 0) {
    rc = uv_udp_getsockname(&w->wake_udp, (struct sockaddr *)&bound, &len);
  }
  if (rc == 0) {
    rc = uv_udp_recv_start(&w->wake_udp, on_alloc, on_recv);
  }
  if (rc != 0) {
    mtq_warn("no wake-ups: cannot listen on UDP port %d: %s; new work is found by polling",
             (int)w->cfg->wake_port, uv_strerror(rc));
    mtq__wake_close(w);
    return false;
  }
  w->wake_port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
  mtq_info("listening for wake-ups on UDP port %u", (unsigned)w->wake_port);
  return true;
}

void mtq__wake_close(mtq_worker_t *w) {
  if (w->wake_open) {
    w->wake_open = false;
    w->wake_port = 0;
    uv_close((uv_handle_t *)&w->wake_udp, NULL);
  }
}

void mtq__wake_announce(const mtq_worker_t *w, mtq_whoami_t *who) {
  if (!w->wake_port) {
    return;
  }
  char addr[MTQ_WHOAMI_WAKE_SIZE], ip[INET_ADDRSTRLEN];
  struct ifaddrs *all = NULL;
  if (getifaddrs(&all) == 0) {
    /* The loopback goes last, so that 16 addresses always leave room for it. */
    for (struct ifaddrs *a = all; a && who->n_wake < MTQ_WHOAMI_WAKE_MAX - 1; a = a->ifa_next) {
      if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || !(a->ifa_flags & IFF_UP) ||
          (a->ifa_flags & IFF_LOOPBACK)) {
        continue;
      }
      const struct sockaddr_in *in = (const struct sockaddr_in *)a->ifa_addr;
      if (inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip)) {
        snprintf(addr, sizeof addr, "%s:%u", ip, (unsigned)w->wake_port);
        mtq_whoami_add_wake(who, addr);
      }
    }
    freeifaddrs(all);
  }
  snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)w->wake_port);
  mtq_whoami_add_wake(who, addr);
}
