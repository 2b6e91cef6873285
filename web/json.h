/* json.h - the API's JSON: BSON documents written the way the pages read
 * them (README, "Web dashboard"): ObjectIds as 24-hex strings, dates as
 * ISO-8601 UTC strings with milliseconds and Z, every other value as
 * stored.  Pure: no database, no server. */
#ifndef MTQ_WEB_JSON_H
#define MTQ_WEB_JSON_H

#include <bson/bson.h>
#include <stdint.h>

/* "2026-12-04T10:11:12.345Z" of ms since the epoch into buf (at least
 * MTQ_WEB_ISO_SIZE bytes). */
#define MTQ_WEB_ISO_SIZE 64
void mtq_web_iso(int64_t ms, char *buf);

/* The JSON object of doc; caller bson_free()s it. */
char *mtq_web_json(const bson_t *doc);
/* Appends the JSON of one value (the iterator's) to out. */
void mtq_web_json_value(bson_string_t *out, const bson_iter_t *it);

/* Appends a date in the API's form to a document: {"$date"...} stays a
 * BSON date, so mtq_web_json writes it as ISO; these are for fields built
 * by the server itself. */
void mtq_web_append_date(bson_t *doc, const char *key, int64_t ms);

#endif
