/* mtq_task.h - the task document: building, reading and validating it.
 *
 * Nothing here talks to the database; the store (mtq_store.h) moves task
 * documents in and out of collections.  See schemas/task.schema.json. */
#ifndef MTQ_TASK_H
#define MTQ_TASK_H

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#include "mtq_state.h"

#define MTQ_NAME_MAX 64
/* The name of a lane segment: "w<10 digits>" or "w<10 digits>.<8 hex>", with its NUL. */
#define MTQ_SEG_MAX 24
#define MTQ_PRIORITY_MIN 0
#define MTQ_PRIORITY_MAX 9
#define MTQ_PRIORITY_LEVELS (MTQ_PRIORITY_MAX - MTQ_PRIORITY_MIN + 1)
#define MTQ_ARGS_MAX_BYTES (1024 * 1024)       /* args document, as BSON */
#define MTQ_RESULT_MAX_BYTES (4 * 1024 * 1024) /* result document, as BSON */
#define MTQ_ERROR_MAX_BYTES 4096               /* kept tail of stderr / error text */
#define MTQ_DEFAULT_TIMEOUT_S 3600
#define MTQ_DEFAULT_MAX_ATTEMPTS 3
#define MTQ_MAX_DELAY_MS (366LL * 24 * 3600 * 1000) /* a year: keeps not_before in range */
#define MTQ_MAX_ATTEMPTS 1000
#define MTQ_DEFAULT_BACKOFF_MS 1000        /* first retry waits about this long */
#define MTQ_DEFAULT_BACKOFF_MAX_MS 300000  /* no retry waits longer than 5 minutes */
#define MTQ_DEDUPE_KEY_MAX 128
/* Signed tasks (mtq_sign.h).  Defined here because the task carries them. */
#define MTQ_KEY_ID_MAX 32   /* a key id: 1..32 of [A-Za-z0-9_.-] */
#define MTQ_SIG_HEX_LEN 64  /* HMAC-SHA256 as lowercase hex */
/* Redundant dispatch (server/dispatch.c). */
#define MTQ_COPIES_MAX 16
#define MTQ_REPLACEMENTS_MAX 64
#define MTQ_HEDGE_AUTO (-1) /* hedge_ms: derive the deadline from the function's p95 */
#define MTQ_DIRECT_PREFIX "to." /* the channel of copies addressed to one worker */

/* How the result of a redundant task is picked from its copies. */
typedef enum {
  MTQ_PICK_FIRST,  /* the first success wins; the other copies are cancelled */
  MTQ_PICK_QUORUM, /* a majority of copies agree (equal canonical hash) */
  MTQ_PICK_ALL,    /* every copy must succeed; every result is kept */
} mtq_pick_t;

/* A task that goes through the coordinator's dispatcher instead of a lane:
 * copies > 0.  Requirements rule workers out; they apply to every copy. */
typedef struct {
  int32_t copies;           /* 0 = an ordinary task; 1..MTQ_COPIES_MAX */
  mtq_pick_t pick;
  int32_t max_replacements; /* copies sent for failed, lost or late ones */
  int64_t hedge_ms;         /* 0 = none; > 0: a second copy when the first runs
                             * longer; MTQ_HEDGE_AUTO: after the function's p95 */
  bool need_gpu;
  int64_t min_mem_mb;       /* free memory the worker's host must report */
  char tag[MTQ_NAME_MAX + 1]; /* a tag the worker's config must list; "" = any */
} mtq_redundancy_t;

typedef struct {
  bson_oid_t id;
  char channel[MTQ_NAME_MAX + 1];
  char func[MTQ_NAME_MAX + 1];
  char version[MTQ_NAME_MAX + 1];
  bson_t *args; /* owned; never NULL once built or read */
  int32_t priority;
  bool is_enable;
  mtq_state_t status;
  int32_t attempt;      /* runs started so far */
  int32_t max_attempts;
  int32_t timeout_s;
  int64_t token;        /* claim generation: the claim key is "<id>:<token>" */
  int64_t not_before;   /* ms since the epoch; 0 = now */
  int64_t created_at;   /* ms since the epoch; read as the _id's time when absent */
  int64_t claimed_at;   /* 0 = never */
  int64_t finished_at;  /* 0 = not yet */
  char worker[MTQ_NAME_MAX + 1];
  bson_t *result;       /* owned; set when done */
  char *error;          /* owned; set when failed or when a try failed */
  bson_t *errors;       /* owned array, one {attempt, worker, error, at} per failed
                         * attempt; NULL = none yet */
  int32_t backoff_ms;     /* retry delay after the first failure, doubled each time */
  int32_t backoff_max_ms; /* the cap of that delay */
  char dedupe_key[MTQ_DEDUPE_KEY_MAX + 1]; /* "" = none */
  char sig_key[MTQ_KEY_ID_MAX + 1]; /* id of the key that signed it; "" = unsigned */
  char sig[MTQ_SIG_HEX_LEN + 1];    /* the signature (mtq_sign.h); "" = unsigned */
  /* A parent (red.copies > 0) lives in the dispatch collection; mtqd sends
   * its copies, one per slot, each to one worker's own channel. */
  mtq_redundancy_t red;
  bson_t *copies;         /* owned; parents: one record per copy sent; NULL = none */
  /* A copy: a task in channel "to.<worker>" that only that worker claims. */
  bson_oid_t parent;      /* zeroed = not a copy */
  int32_t slot;           /* which of the parent's slots it fills */
  char origin[MTQ_NAME_MAX + 1]; /* the parent's channel */
  /* A step of a flow (mtq_flow.h): shard of shards of step. */
  bson_oid_t flow;        /* zeroed = not a flow's */
  char step[MTQ_NAME_MAX + 1];
  int32_t shard, shards;
  /* Where the store found it, not a field of the document: its priority's
   * side lane of tasks moved in after they were enqueued (a priority
   * edit), instead of the lane itself. */
  bool moved;
  /* Also where the store found it (or put it): the segment of its lane,
   * "" for the lane's inbox (common/store/segment.c). */
  char seg[MTQ_SEG_MAX];
} mtq_task_t;

/* A function at a version, as a task names it and a worker serves it
 * (borrowed strings). */
typedef struct {
  const char *name;
  const char *version;
} mtq_func_ref_t;

/* Every field of a task document, in the order mtq_task_to_bson writes it.
 * This one table drives writing (mtq_task_to_bson), reading and checking
 * (mtq_task_from_bson) and printing (`mtq show`, cli/output.c); the JSON
 * Schema, schemas/task.schema.json, says the same in its own words.  A new
 * field is a member of mtq_task_t above and one line here (task.c checks at
 * compile time that the member's C type is the one its kind reads into).
 *
 *   X(key, member, kind, lo, hi, missing, when, print)
 *
 * key      its name in the document
 * member   the mtq_task_t member that holds it
 * kind     how it is stored and checked (task.c):
 *            OID             an ObjectId
 *            NAME            a name (mtq_name_valid), char[MTQ_NAME_MAX + 1]
 *            NAME_OR_NULL    a name, or null; "" is written as null
 *            NAME_OR_ABSENT  a name; "" is not written
 *            INT32, INT64    an integer in lo..hi, stored as int32 / int64; a
 *                            whole double (mongosh's numbers) is accepted
 *            DATE_OR_NULL    a date, or null; ms since the epoch, 0 = null
 *            BOOL            true or false
 *            STATE           a stored state name (mtq_state.h)
 *            DOC             a document (bson_t *; none is written as {})
 *            DOC_OR_NULL     a document, or null (bson_t *, NULL = null)
 *            ARRAY_OR_ABSENT an array, or null (bson_t *); none is not written
 *            TEXT_OR_NULL    a string, or null (char *, owned)
 *            KEY_OR_ABSENT   a string of at most hi bytes, or null; "" is not
 *                            written
 *            SIG, REDUNDANCY a sub-document with a reader and a writer of its
 *                            own (read_sig, write_sig, ... in task.c)
 * lo, hi   INT32 and INT64: the range; KEY_OR_ABSENT: hi, the longest; else 0
 * missing  what a document without the field means:
 *            REQUIRED        it is refused: "field 'KEY' is missing"
 *            EMPTY           0, "", null or none, as mtq_task_init leaves it
 *            VALUE(n)        the integer n
 *            FROM_CHANNEL    the channel of the collection it was read from
 *            FROM_ID_TIME    the ObjectId's time, to the second (also when null)
 * when     which tasks it is written for: ALL, PARENT (mtq_task_is_parent),
 *          COPY (mtq_task_is_copy), FLOW (mtq_task_in_flow)
 * print    how `mtq show` prints it (cli/output.c): TEXT, NUMBER, BOOL, TIME,
 *          JSON, QUOTED (a JSON string), or a printer of one field: ID, STATE,
 *          ERRORS, BACKOFF, REDUNDANCY, COPIES, COPY_OF, FLOW_ID; HIDDEN: not at all */
#define MTQ_TASK_FIELDS(X)                                                                        \
  X("_id", id, OID, 0, 0, REQUIRED, ALL, ID)                                                      \
  X("channel", channel, NAME, 0, 0, FROM_CHANNEL, ALL, TEXT)                                      \
  X("func", func, NAME, 0, 0, REQUIRED, ALL, TEXT)                                                \
  X("version", version, NAME, 0, 0, REQUIRED, ALL, TEXT)                                          \
  X("args", args, DOC, 0, 0, REQUIRED, ALL, JSON)                                                 \
  X("priority", priority, INT32, MTQ_PRIORITY_MIN, MTQ_PRIORITY_MAX, REQUIRED, ALL, NUMBER)       \
  X("is_enable", is_enable, BOOL, 0, 0, REQUIRED, ALL, BOOL)                                      \
  X("status", status, STATE, 0, 0, REQUIRED, ALL, STATE)                                          \
  X("attempt", attempt, INT32, 0, INT32_MAX, VALUE(0), ALL, NUMBER)                               \
  X("max_attempts", max_attempts, INT32, 1, MTQ_MAX_ATTEMPTS, VALUE(MTQ_DEFAULT_MAX_ATTEMPTS),    \
    ALL, NUMBER)                                                                                  \
  X("timeout_s", timeout_s, INT32, 1, INT32_MAX, VALUE(MTQ_DEFAULT_TIMEOUT_S), ALL, NUMBER)       \
  X("token", token, INT64, 0, INT64_MAX, VALUE(0), ALL, NUMBER)                                   \
  X("not_before", not_before, DATE_OR_NULL, 0, 0, EMPTY, ALL, TIME)                               \
  X("created_at", created_at, DATE_OR_NULL, 0, 0, FROM_ID_TIME, ALL, TIME)                        \
  X("claimed_at", claimed_at, DATE_OR_NULL, 0, 0, EMPTY, ALL, TIME)                               \
  X("finished_at", finished_at, DATE_OR_NULL, 0, 0, EMPTY, ALL, TIME)                             \
  X("worker", worker, NAME_OR_NULL, 0, 0, EMPTY, ALL, TEXT)                                       \
  X("result", result, DOC_OR_NULL, 0, 0, EMPTY, ALL, JSON)                                        \
  X("error", error, TEXT_OR_NULL, 0, 0, EMPTY, ALL, QUOTED)                                       \
  X("errors", errors, ARRAY_OR_ABSENT, 0, 0, EMPTY, ALL, ERRORS)                                  \
  X("backoff_ms", backoff_ms, INT32, 1, INT32_MAX, VALUE(MTQ_DEFAULT_BACKOFF_MS), ALL, BACKOFF)   \
  X("backoff_max_ms", backoff_max_ms, INT32, 1, INT32_MAX, VALUE(MTQ_DEFAULT_BACKOFF_MAX_MS),     \
    ALL, HIDDEN)                                                                                  \
  X("dedupe_key", dedupe_key, KEY_OR_ABSENT, 0, MTQ_DEDUPE_KEY_MAX, EMPTY, ALL, TEXT)             \
  X("sig", sig, SIG, 0, 0, EMPTY, ALL, HIDDEN)                                                    \
  X("redundancy", red, REDUNDANCY, 0, 0, EMPTY, PARENT, REDUNDANCY)                               \
  X("copies", copies, ARRAY_OR_ABSENT, 0, 0, EMPTY, PARENT, COPIES)                               \
  X("parent", parent, OID, 0, 0, EMPTY, COPY, COPY_OF)                                            \
  X("slot", slot, INT32, 0, MTQ_COPIES_MAX - 1, VALUE(0), COPY, HIDDEN)                           \
  X("origin", origin, NAME_OR_ABSENT, 0, 0, EMPTY, COPY, HIDDEN)                                \
  X("flow", flow, OID, 0, 0, EMPTY, FLOW, FLOW_ID)                                                \
  X("step", step, NAME_OR_ABSENT, 0, 0, EMPTY, FLOW, TEXT)                                        \
  X("shard", shard, INT32, 0, INT32_MAX, VALUE(0), FLOW, NUMBER)                                  \
  X("shards", shards, INT32, 1, INT32_MAX, VALUE(1), FLOW, NUMBER)

/* What a producer asks for; fields left zero/NULL take defaults. */
typedef struct {
  const char *channel;
  const char *func;
  const char *version;   /* NULL = "1" */
  const char *args_json; /* NULL = {} ; must be a JSON object */
  int32_t priority;
  int64_t delay_ms;
  int32_t timeout_s;     /* 0 = MTQ_DEFAULT_TIMEOUT_S */
  int32_t max_attempts;  /* 0 = MTQ_DEFAULT_MAX_ATTEMPTS */
  int32_t backoff_ms;    /* 0 = MTQ_DEFAULT_BACKOFF_MS */
  int32_t backoff_max_ms; /* 0 = MTQ_DEFAULT_BACKOFF_MAX_MS */
  const char *dedupe_key; /* NULL = none: a second enqueue with the same key in
                           * the same channel returns the first task */
  mtq_redundancy_t red;   /* copies 0 = an ordinary task (then the rest must be
                           * zero, except requirements: they make it a parent
                           * with one copy) */
  bool require_served;    /* refuse the task when no worker has announced its
                           * function at its version on its channel (it would
                           * wait for ever) */
} mtq_enqueue_opts_t;

/* Zeroes a task (args NULL).  Use mtq_task_cleanup to free what it owns. */
void mtq_task_init(mtq_task_t *task);
void mtq_task_cleanup(mtq_task_t *task);

/* Builds a new queued (or delayed) task from producer options, validating
 * every field; now_ms is the creation time.  task must be initialised. */
bool mtq_task_build(mtq_task_t *task, const mtq_enqueue_opts_t *opts, int64_t now_ms,
                    bson_error_t *error);

/* A new task from a template, a task document as a schedule or a flow keeps
 * it (mtq_task_to_bson of a built task): its fields, a new id, created at
 * now_ms and due after the template's delay (its not_before minus its
 * created_at), never run, unsigned, with dedupe_key (NULL: the
 * template's).  task must be initialised; a template that is not a task
 * document fails as mtq_task_from_bson does. */
bool mtq_task_from_template(mtq_task_t *task, const bson_t *tmpl, int64_t now_ms,
                            const char *dedupe_key, bson_error_t *error);

/* Copies the task document at it, a template, into *out (caller destroys)
 * once it reads as a task (mtq_task_from_bson); false with why, *out NULL. */
bool mtq_task_template_copy(const bson_iter_t *it, bson_t **out, bson_error_t *error);

/* The state a person sees: status, except that a waiting task whose
 * is_enable is false is MTQ_STATE_DISABLED. */
mtq_state_t mtq_task_state(const mtq_task_t *task);

/* Checks that the lifecycle allows task -> to; otherwise fails with
 * MTQ_ERR_STATE: "task <id> is running: cannot <action> it". */
bool mtq_task_check_move(const mtq_task_t *task, mtq_state_t to, const char *action,
                         bson_error_t *error);

/* How long to wait before the next attempt, after `attempt` attempts failed:
 * backoff_ms * 2^(attempt-1), capped at backoff_max_ms, then jittered
 * uniformly into [d/2, d] by r (0 <= r < 1), so that tasks that failed
 * together do not come back together. */
int64_t mtq_task_backoff(const mtq_task_t *task, double r);

/* A parent of copies (goes to the dispatcher), a copy (runs once: a failed
 * copy is replaced by the dispatcher, not retried), or neither. */
bool mtq_task_is_parent(const mtq_task_t *task);
bool mtq_task_is_copy(const mtq_task_t *task);
/* A step (or a shard of one) of a flow. */
bool mtq_task_in_flow(const mtq_task_t *task);
/* Whether a failed attempt gets another one: attempts left, and not a copy. */
bool mtq_task_may_retry(const mtq_task_t *task);

const char *mtq_pick_name(mtq_pick_t pick);
/* "first", "quorum" or "all"; false otherwise. */
bool mtq_pick_parse(const char *name, mtq_pick_t *out);

/* Appends {attempt, worker, error, at} to task->errors. */
void mtq_task_add_error(mtq_task_t *task, const char *error_text, int64_t at_ms);

/* Appends the whole task document (with _id) to doc, which must be empty:
 * the fields of MTQ_TASK_FIELDS, in its order. */
void mtq_task_to_bson(const mtq_task_t *task, bson_t *doc);

/* Reads a task document as found in the database.  Every field of
 * MTQ_TASK_FIELDS is type-checked; a wrong type or out-of-range value fails
 * with a message that names the field, and so does a missing REQUIRED one;
 * a missing optional one takes its default.  Other fields are ignored.
 * channel (may be NULL) is the channel the document was read from. */
bool mtq_task_from_bson(mtq_task_t *task, const bson_t *doc, const char *channel,
                        bson_error_t *error);

/* Parses args/result JSON text into a BSON document (must be an object, at
 * most max_bytes once encoded).  *out is initialised by the call. */
bool mtq_json_to_doc(const char *json, size_t len, size_t max_bytes, bson_t *out,
                     bson_error_t *error);

/* SHA-256 (hex) of a result document in canonical form: keys sorted at
 * every level, integral numbers equal whatever their BSON type; so that two
 * copies' results are equal exactly when their hashes are (canon.c). */
void mtq_result_hash(const bson_t *doc, char hex[MTQ_SIG_HEX_LEN + 1]);

/* Advances it to the next element that is a document and lets *doc view it
 * (no copy: valid while the iterated document is); false at the end.  For
 * walking arrays of records such as a task's errors or copies. */
bool mtq_bson_next_doc(bson_iter_t *it, bson_t *doc);

/* Appends key: a date of ms, or null for 0. */
void mtq_bson_append_date_or_null(bson_t *doc, const char *key, int64_t ms);
/* Appends key: the string text, or null for NULL or "". */
void mtq_bson_append_name_or_null(bson_t *doc, const char *key, const char *text);

/* A channel, function or worker name: 1..64 of [A-Za-z0-9_.-]. */
bool mtq_name_valid(const char *name);

/* s without the spaces, tabs and line ends around it: cuts the end in place
 * and returns a pointer into s. */
char *mtq_trim(char *s);

/* Milliseconds since the epoch, from the real-time clock. */
int64_t mtq_now_ms(void);

/* A growable array of tasks; the list owns every task in it. */
typedef struct {
  mtq_task_t *items;
  size_t n;
  size_t cap;
} mtq_task_list_t;

void mtq_task_list_init(mtq_task_list_t *list);
/* Returns a new initialised slot at the end of the list (owned by the list). */
mtq_task_t *mtq_task_list_push(mtq_task_list_t *list);
/* Removes the last slot (cleaning it up), for a push whose fill failed. */
void mtq_task_list_pop(mtq_task_list_t *list);
void mtq_task_list_cleanup(mtq_task_list_t *list);

#endif
