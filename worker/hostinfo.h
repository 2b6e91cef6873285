/* hostinfo.h - figures about the host a worker runs on, for its whoami
 * document (mtq_whoami.h): load, memory, disk, CPU temperature and NVIDIA
 * GPUs.
 *
 * Reading them touches the file system and may run nvidia-smi, so it is done
 * off the event loop (in the heartbeat's thread-pool work).  The parsers are
 * pure functions of the text of each /proc file or tool output, so that they
 * can be tested without the host. */
#ifndef MTQ_HOSTINFO_H
#define MTQ_HOSTINFO_H

#include <bson/bson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtq_whoami.h" /* mtq_hostinfo_t: the figures, as the document carries them */

/* nvidia-smi costs tens of milliseconds and wakes the GPUs' driver: it is run
 * at most this often and its answer reused in between. */
#define MTQ_HOSTINFO_GPU_CACHE_MS 30000
/* A wedged GPU driver can make nvidia-smi hang; a heartbeat must not. */
#define MTQ_HOSTINFO_GPU_TIMEOUT_MS 5000

/* Reads the host, keeping the nvidia-smi cache between calls.  Not
 * thread-safe: one thread at a time per probe (the worker has at most one
 * heartbeat in flight). */
typedef struct mtq_hostinfo_probe mtq_hostinfo_probe_t;

/* Caller destroys. */
mtq_hostinfo_probe_t *mtq_hostinfo_probe_new(void);
void mtq_hostinfo_probe_destroy(mtq_hostinfo_probe_t *probe);

/* Fills *out with a fresh reading (GPUs from the cache when it is younger
 * than MTQ_HOSTINFO_GPU_CACHE_MS).  now_ms is a monotonic clock in ms.
 * Never fails: what cannot be read is marked absent. */
void mtq_hostinfo_read(mtq_hostinfo_probe_t *probe, int64_t now_ms, mtq_hostinfo_t *out);

/* Parsers (text is NUL-terminated). */

/* /proc/loadavg: "0.52 0.58 0.59 1/467 12345". */
bool mtq_hostinfo_parse_loadavg(const char *text, double load[3]);

/* /proc/meminfo: MemTotal and MemAvailable in kB.  Kernels before 3.14 have
 * no MemAvailable; MemFree + Buffers + Cached stands in for it there. */
bool mtq_hostinfo_parse_meminfo(const char *text, int64_t *total_kb, int64_t *avail_kb);

/* A thermal zone's temp file: millidegrees Celsius ("45000\n").  False for
 * text that is not a number or a reading outside -50..200 °C (some zones
 * report placeholders such as -273000). */
bool mtq_hostinfo_parse_millicelsius(const char *text, double *celsius);

/* Output of nvidia-smi --query-gpu=index,name,utilization.gpu,memory.used,
 * memory.total,temperature.gpu --format=csv,noheader,nounits: one GPU per
 * line.  Writes up to max GPUs and returns how many; malformed lines are
 * skipped. */
size_t mtq_hostinfo_parse_nvidia_csv(const char *text, mtq_hostinfo_gpu_t *gpus, size_t max);

#endif
