/* mtq_tz.h - time zones, for schedules that fire at wall-clock times.
 *
 * A zone is read from the system's TZif files (/usr/share/zoneinfo, the
 * IANA database that tzdata installs), or named "UTC".  It answers one
 * question: the offset from UTC in force at an instant.  Times past the
 * file's last transition follow the POSIX rule in its footer (e.g.
 * "CET-1CEST,M3.5.0,M10.5.0/3"), as glibc does.  No global state: unlike
 * localtime(3) with $TZ, any number of zones can be used at once, from any
 * thread.  Pure logic but for mtq_tz_load, which reads the file. */
#ifndef MTQ_TZ_H
#define MTQ_TZ_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#define MTQ_TZ_NAME_MAX 64

typedef struct mtq_tz mtq_tz_t;

/* Loads zone `name` ("Europe/Berlin", "UTC"; NULL or "" is UTC) from the
 * zoneinfo directory (dir NULL: $TZDIR, else /usr/share/zoneinfo).  A name
 * with "..", a leading '/' or characters outside [A-Za-z0-9/_+-] is refused
 * (MTQ_ERR_INVALID), an unknown one is MTQ_ERR_NOT_FOUND.  Caller destroys
 * the zone with mtq_tz_destroy. */
mtq_tz_t *mtq_tz_load(const char *name, const char *dir, bson_error_t *error);

/* Parses the contents of a TZif file (versions 1 to 4) for zone `name`.
 * Every length and index is checked: a truncated or corrupt file is
 * MTQ_ERR_INVALID, never a read out of bounds.  Caller destroys. */
mtq_tz_t *mtq_tz_parse(const char *name, const uint8_t *data, size_t len, bson_error_t *error);

/* A zone of a POSIX TZ rule alone ("UTC0", "EST5EDT,M3.2.0,M11.1.0").
 * Caller destroys. */
mtq_tz_t *mtq_tz_from_rule(const char *rule, bson_error_t *error);

void mtq_tz_destroy(mtq_tz_t *tz);

/* UTC, one zone shared by every caller (borrowed: not destroyed). */
const mtq_tz_t *mtq_tz_utc(void);

/* The zone's name, as given to mtq_tz_load (borrowed). */
const char *mtq_tz_name(const mtq_tz_t *tz);

/* Seconds east of UTC in force at unix time t_s (Berlin in winter: 3600). */
int32_t mtq_tz_offset(const mtq_tz_t *tz, int64_t t_s);

/* The first instant (unix seconds) at which the wall clock of the zone
 * reads wall_s (seconds since 1970-01-01 00:00 of the wall clock).  A wall
 * time that happens twice (the hour repeated when clocks go back) is its
 * first occurrence; one that never happens (skipped when clocks go
 * forward) is the instant the clocks jump, the end of the gap. */
int64_t mtq_tz_first_instant(const mtq_tz_t *tz, int64_t wall_s);

/* Calendar helpers shared with the cron and schedule modules: days since
 * 1970-01-01 of a proleptic Gregorian date, and back; the weekday of such
 * a day (0 = Sunday); a / b rounded down (b > 0), for instants before
 * 1970 as after. */
int64_t mtq_days_from_civil(int64_t y, int m, int d);
void mtq_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
int mtq_weekday(int64_t days);
int64_t mtq_floor_div(int64_t a, int64_t b);

#endif
