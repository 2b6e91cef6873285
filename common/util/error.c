/* error.c - mtq's error domain on top of bson_error_t. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "mtq_error.h"

void mtq_error_set(bson_error_t *error, mtq_errcode_t code, const char *fmt, ...) {
  if (!error) {
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  error->domain = MTQ_ERROR_DOMAIN;
  error->code = (uint32_t)code;
  vsnprintf(error->message, sizeof error->message, fmt, ap);
  va_end(ap);
}

bool mtq_error_is_transient(const bson_error_t *error) {
  if (!error) {
    return false;
  }
  if (error->domain == MTQ_ERROR_DOMAIN) {
    return error->code == MTQ_ERR_UNAVAILABLE;
  }
  /* Driver-side failures to reach or talk to a server: selection timeouts,
   * refused or dropped connections.  Server-side errors (a command that ran
   * and failed) are not transient. */
  /* Server errors that mean "the server is going away or was interrupted",
   * not "your command is wrong": a database restarting answers the
   * commands in flight with these (FerretDB: "context canceled", code 50). */
  if (error->domain == MONGOC_ERROR_SERVER || error->domain == MONGOC_ERROR_QUERY ||
      error->domain == MONGOC_ERROR_COLLECTION || error->domain == MONGOC_ERROR_WRITE_CONCERN) {
    switch (error->code) {
    case 6:     /* HostUnreachable */
    case 7:     /* HostNotFound */
    case 50:    /* MaxTimeMSExpired */
    case 89:    /* NetworkTimeout */
    case 91:    /* ShutdownInProgress */
    case 189:   /* PrimarySteppedDown */
    case 262:   /* ExceededTimeLimit */
    case 9001:  /* SocketException */
    case 10107: /* NotWritablePrimary */
    case 11600: /* InterruptedAtShutdown */
    case 11602: /* InterruptedDueToReplStateChange */
    case 13435: /* NotPrimaryNoSecondaryOk */
      return true;
    default:
      break;
    }
    if (strstr(error->message, "context canceled")) {
      return true;
    }
  }
  return error->domain == MONGOC_ERROR_SERVER_SELECTION || error->domain == MONGOC_ERROR_STREAM ||
         error->domain == MONGOC_ERROR_PROTOCOL ||
         (error->domain == MONGOC_ERROR_CLIENT &&
          error->code == MONGOC_ERROR_CLIENT_AUTHENTICATE);
}

bool mtq_error_is_duplicate(const bson_error_t *error) {
  return error && error->code == 11000 &&
         (error->domain == MONGOC_ERROR_SERVER || error->domain == MONGOC_ERROR_COLLECTION ||
          error->domain == MONGOC_ERROR_WRITE_CONCERN || error->domain == MONGOC_ERROR_QUERY);
}
