/* floor.c - mtq-bench-floor URI SECONDS: the resident memory below which no
 * mtq process can go with this machine's MongoDB C driver.
 *
 * It links libmongoc and nothing else of mtq, connects to URI, runs one
 * ping and sleeps: what the idle phase of bench/run.sh measures beside the
 * workers.  Loading libmongoc (Debian's build) maps OpenSSL, Cyrus SASL,
 * ICU and libstdc++ (through libmongocrypt), and the driver's automatic
 * initialisation, run by the loader before main, sets OpenSSL up (an
 * SSL_CTX is made and freed), which touches most of libcrypto's code. */
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
  if (argc != 3 || atoi(argv[2]) < 1) {
    fprintf(stderr, "usage: mtq-bench-floor URI SECONDS\n");
    return 2;
  }
  mongoc_init();
  mongoc_client_t *client = mongoc_client_new(argv[1]);
  if (!client) {
    fprintf(stderr, "mtq-bench-floor: bad URI\n");
    return 2;
  }
  bson_t *ping = BCON_NEW("ping", BCON_INT32(1));
  bson_error_t error;
  if (!mongoc_client_command_simple(client, "admin", ping, NULL, NULL, &error)) {
    fprintf(stderr, "mtq-bench-floor: ping: %s\n", error.message);
    return 1;
  }
  struct timespec ts = {atoi(argv[2]), 0};
  nanosleep(&ts, NULL);
  bson_destroy(ping);
  mongoc_client_destroy(client);
  mongoc_cleanup();
  return 0;
}
