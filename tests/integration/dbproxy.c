/* dbproxy.c - a TCP proxy that slows the database down for a test: every
 * chunk it forwards, either way, waits DELAY milliseconds first.  DELAY is
 * read from a file (a number, 0 when the file is missing or empty) every
 * 100 ms, so a test changes the latency while its daemons run:
 *
 *   dbproxy LISTEN_PORT TARGET_PORT DELAY_FILE
 *
 * Loopback only.  Order within a connection is kept (chunks wait in a
 * queue); connections are independent.  Runs until SIGTERM. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct chunk {
  struct chunk *next;
  uint64_t due_ms;
  uv_buf_t buf;
} chunk_t;

typedef struct side side_t;
typedef struct pair pair_t;

/* One direction of a connection: what it reads goes out on peer, delayed. */
struct side {
  uv_tcp_t tcp;
  pair_t *pair;
  side_t *peer;
  chunk_t *head, *tail; /* read here, waiting to be written to peer */
  uv_timer_t timer;
  bool closing;
};

struct pair {
  side_t client, server;
  int open_handles;
};

static uv_loop_t *loop;
static struct sockaddr_in target;
static const char *delay_file;
static uint64_t delay_ms;

static void read_delay(uv_timer_t *t) {
  FILE *f = fopen(delay_file, "r");
  long v = 0;
  if (f) {
    if (fscanf(f, "%ld", &v) != 1) {
      v = 0;
    }
    fclose(f);
  }
  delay_ms = v > 0 ? (uint64_t)v : 0;
}

/* Both handles of both sides carry their side_t, not the pair. */
static void on_closed(uv_handle_t *h) {
  pair_t *p = ((side_t *)h->data)->pair;
  if (--p->open_handles == 0) {
    for (side_t *s = &p->client; s; s = s == &p->client ? &p->server : NULL) {
      while (s->head) {
        chunk_t *c = s->head;
        s->head = c->next;
        free(c->buf.base);
        free(c);
      }
    }
    free(p);
  }
}

static void close_pair(pair_t *p) {
  side_t *sides[] = {&p->client, &p->server};
  for (int i = 0; i < 2; i++) {
    if (!sides[i]->closing) {
      sides[i]->closing = true;
      uv_close((uv_handle_t *)&sides[i]->tcp, on_closed);
      uv_close((uv_handle_t *)&sides[i]->timer, on_closed);
    }
  }
}

static void on_written(uv_write_t *req, int status) {
  free(req->data);
  free(req);
}

static void flush_due(uv_timer_t *t);

static void arm(side_t *s) {
  if (!s->head || s->closing) {
    return;
  }
  uint64_t now = uv_now(loop);
  uv_timer_start(&s->timer, flush_due, s->head->due_ms > now ? s->head->due_ms - now : 0, 0);
}

/* Writes every chunk of s that is due to its peer. */
static void flush_due(uv_timer_t *t) {
  side_t *s = t->data;
  uint64_t now = uv_now(loop);
  while (s->head && s->head->due_ms <= now && !s->peer->closing) {
    chunk_t *c = s->head;
    s->head = c->next;
    if (!s->head) {
      s->tail = NULL;
    }
    uv_write_t *req = malloc(sizeof *req);
    req->data = c->buf.base;
    if (uv_write(req, (uv_stream_t *)&s->peer->tcp, &c->buf, 1, on_written) != 0) {
      free(c->buf.base);
      free(req);
    }
    free(c);
  }
  arm(s);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  buf->base = malloc(suggested);
  buf->len = suggested;
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf) {
  side_t *s = stream->data;
  if (n < 0) {
    free(buf->base);
    close_pair(s->pair);
    return;
  }
  if (n == 0) {
    free(buf->base);
    return;
  }
  chunk_t *c = malloc(sizeof *c);
  c->next = NULL;
  c->due_ms = uv_now(loop) + delay_ms;
  c->buf = uv_buf_init(buf->base, (unsigned)n);
  if (s->tail) {
    s->tail->next = c;
  } else {
    s->head = c;
  }
  s->tail = c;
  arm(s);
}

static void side_init(pair_t *p, side_t *s, side_t *peer) {
  s->pair = p;
  s->peer = peer;
  uv_tcp_init(loop, &s->tcp);
  uv_timer_init(loop, &s->timer);
  s->tcp.data = s;
  s->timer.data = s;
  p->open_handles += 2;
}

static void on_connected(uv_connect_t *req, int status) {
  pair_t *p = req->data;
  free(req);
  if (status != 0) {
    close_pair(p);
    return;
  }
  uv_read_start((uv_stream_t *)&p->client.tcp, on_alloc, on_read);
  uv_read_start((uv_stream_t *)&p->server.tcp, on_alloc, on_read);
}

static void on_connection(uv_stream_t *listener, int status) {
  if (status != 0) {
    return;
  }
  pair_t *p = calloc(1, sizeof *p);
  side_init(p, &p->client, &p->server);
  side_init(p, &p->server, &p->client);
  if (uv_accept(listener, (uv_stream_t *)&p->client.tcp) != 0) {
    close_pair(p);
    return;
  }
  uv_connect_t *req = malloc(sizeof *req);
  req->data = p;
  if (uv_tcp_connect(req, &p->server.tcp, (const struct sockaddr *)&target, on_connected) != 0) {
    free(req);
    close_pair(p);
  }
}

static void on_signal(uv_signal_t *s, int signum) { uv_stop(loop); }

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: dbproxy LISTEN_PORT TARGET_PORT DELAY_FILE\n");
    return 2;
  }
  loop = uv_default_loop();
  delay_file = argv[3];
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", atoi(argv[1]), &addr);
  uv_ip4_addr("127.0.0.1", atoi(argv[2]), &target);
  uv_tcp_t listener;
  uv_tcp_init(loop, &listener);
  if (uv_tcp_bind(&listener, (const struct sockaddr *)&addr, 0) != 0 ||
      uv_listen((uv_stream_t *)&listener, 64, on_connection) != 0) {
    fprintf(stderr, "dbproxy: cannot listen on 127.0.0.1:%s\n", argv[1]);
    return 1;
  }
  uv_timer_t delay_timer;
  uv_timer_init(loop, &delay_timer);
  read_delay(&delay_timer);
  uv_timer_start(&delay_timer, read_delay, 100, 100);
  uv_signal_t sigterm;
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  signal(SIGPIPE, SIG_IGN);
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
