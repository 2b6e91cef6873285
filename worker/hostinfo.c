/* hostinfo.c - load, memory, disk, temperature and GPU figures of the host. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostinfo.h"
#include "mtq_log.h"

#define NVIDIA_OUTPUT_MAX (64 * 1024)
#define PROC_FILE_MAX (16 * 1024)

extern char **environ;

struct mtq_hostinfo_probe {
  bool gpus_valid;      /* the cache below holds an answer */
  int64_t gpus_read_ms; /* when it was read (monotonic) */
  size_t n_gpus;
  mtq_hostinfo_gpu_t gpus[MTQ_HOSTINFO_MAX_GPUS];
};

mtq_hostinfo_probe_t *mtq_hostinfo_probe_new(void) {
  return bson_malloc0(sizeof(mtq_hostinfo_probe_t));
}

void mtq_hostinfo_probe_destroy(mtq_hostinfo_probe_t *probe) { bson_free(probe); }

/* --- parsers ------------------------------------------------------------- */

bool mtq_hostinfo_parse_loadavg(const char *text, double load[3]) {
  const char *p = text;
  for (int i = 0; i < 3; i++) {
    char *end = NULL;
    double v = strtod(p, &end);
    if (end == p || !isfinite(v) || v < 0) {
      return false;
    }
    load[i] = v;
    p = end;
  }
  return true;
}

/* Value in kB of the "Key:   1234 kB" line, or -1 when absent. */
static int64_t meminfo_field(const char *text, const char *key) {
  size_t klen = strlen(key);
  const char *line = text;
  while (line && *line) {
    if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
      char *end = NULL;
      long long v = strtoll(line + klen + 1, &end, 10);
      return end == line + klen + 1 || v < 0 ? -1 : (int64_t)v;
    }
    line = strchr(line, '\n');
    line = line ? line + 1 : NULL;
  }
  return -1;
}

bool mtq_hostinfo_parse_meminfo(const char *text, int64_t *total_kb, int64_t *avail_kb) {
  int64_t total = meminfo_field(text, "MemTotal");
  int64_t avail = meminfo_field(text, "MemAvailable");
  if (avail < 0) {
    int64_t free_kb = meminfo_field(text, "MemFree");
    int64_t buffers = meminfo_field(text, "Buffers");
    int64_t cached = meminfo_field(text, "Cached");
    if (free_kb >= 0) {
      avail = free_kb + (buffers > 0 ? buffers : 0) + (cached > 0 ? cached : 0);
    }
  }
  if (total < 0 || avail < 0) {
    return false;
  }
  *total_kb = total;
  *avail_kb = avail;
  return true;
}

bool mtq_hostinfo_parse_millicelsius(const char *text, double *celsius) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno || end == text || (*end && *end != '\n')) {
    return false;
  }
  if (v <= -50000 || v >= 200000) {
    return false;
  }
  *celsius = (double)v / 1000.0;
  return true;
}

/* A number, or NAN for nvidia-smi's "[N/A]", "[Not Supported]" and the like. */
static double gpu_figure(char *field) {
  char *end = NULL;
  double v = strtod(field, &end);
  return end == field || *end || !isfinite(v) ? NAN : v;
}

/* One CSV line; false when it does not have the six fields or no index. */
static bool parse_gpu_line(char *line, mtq_hostinfo_gpu_t *gpu) {
  char *fields[6];
  char *save = NULL;
  size_t n = 0;
  for (char *tok = strtok_r(line, ",", &save); tok && n < 6; tok = strtok_r(NULL, ",", &save)) {
    fields[n++] = mtq_trim(tok);
  }
  if (n != 6 || strtok_r(NULL, ",", &save)) {
    return false;
  }
  char *end = NULL;
  long index = strtol(fields[0], &end, 10);
  if (end == fields[0] || *end || index < 0 || index > INT32_MAX) {
    return false;
  }
  memset(gpu, 0, sizeof *gpu);
  gpu->index = (int32_t)index;
  bson_strncpy(gpu->name, fields[1], sizeof gpu->name);
  gpu->util_pct = gpu_figure(fields[2]);
  gpu->mem_used_mb = gpu_figure(fields[3]);
  gpu->mem_total_mb = gpu_figure(fields[4]);
  gpu->temp_c = gpu_figure(fields[5]);
  return true;
}

size_t mtq_hostinfo_parse_nvidia_csv(const char *text, mtq_hostinfo_gpu_t *gpus, size_t max) {
  char *copy = bson_strdup(text);
  char *save = NULL;
  size_t n = 0;
  for (char *line = strtok_r(copy, "\n", &save); line && n < max;
       line = strtok_r(NULL, "\n", &save)) {
    if (parse_gpu_line(line, &gpus[n])) {
      n++;
    }
  }
  bson_free(copy);
  return n;
}

/* --- readers ------------------------------------------------------------- */

/* Reads a small text file whole into buf (NUL-terminated); false if absent. */
static bool read_text(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  size_t len = 0;
  while (len + 1 < size) {
    ssize_t n = read(fd, buf + len, size - 1 - len);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    len += (size_t)n;
  }
  close(fd);
  buf[len] = '\0';
  return len > 0;
}

/* The hottest thermal zone: on a machine with several, the one most likely
 * to throttle is what an operator wants to see. */
static bool read_cpu_temp(double *celsius) {
  glob_t g;
  if (glob("/sys/class/thermal/thermal_zone*/temp", 0, NULL, &g) != 0) {
    return false;
  }
  bool found = false;
  for (size_t i = 0; i < g.gl_pathc; i++) {
    char buf[64];
    double c;
    if (read_text(g.gl_pathv[i], buf, sizeof buf) && mtq_hostinfo_parse_millicelsius(buf, &c) &&
        (!found || c > *celsius)) {
      *celsius = c;
      found = true;
    }
  }
  globfree(&g);
  return found;
}

static bool read_disk(mtq_hostinfo_t *out) {
  struct statvfs st;
  if (!getcwd(out->disk_path, sizeof out->disk_path) || statvfs(out->disk_path, &st) != 0) {
    return false;
  }
  const uint64_t mb = 1024 * 1024;
  out->disk_total_mb = (int64_t)((uint64_t)st.f_blocks * st.f_frsize / mb);
  out->disk_free_mb = (int64_t)((uint64_t)st.f_bavail * st.f_frsize / mb);
  return true;
}

static int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads the child's stdout until EOF or the deadline; false on timeout. */
static bool read_until(int fd, char *buf, size_t size, int64_t deadline_ms) {
  size_t len = 0;
  for (;;) {
    int64_t left = deadline_ms - monotonic_ms();
    if (left <= 0) {
      return false;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int rc = poll(&pfd, 1, (int)left);
    if (rc < 0 && errno == EINTR) {
      continue;
    }
    if (rc <= 0) {
      return false;
    }
    char scratch[4096];
    char *dst = len + 1 < size ? buf + len : scratch;
    size_t room = len + 1 < size ? size - 1 - len : sizeof scratch;
    ssize_t n = read(fd, dst, room);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      buf[len] = '\0';
      return true;
    }
    if (dst != scratch) {
      len += (size_t)n;
    }
  }
}

/* Runs nvidia-smi directly (no shell) and parses its answer.  Returns the
 * number of GPUs; 0 when the tool is missing, fails or hangs. */
static size_t run_nvidia_smi(mtq_hostinfo_gpu_t *gpus, size_t max) {
  char *const argv[] = {"nvidia-smi",
                        "--query-gpu=index,name,utilization.gpu,memory.used,memory.total,"
                        "temperature.gpu",
                        "--format=csv,noheader,nounits", NULL};
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return 0;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  /* A group of its own, so that a hung nvidia-smi is killed along with
   * anything it started. */
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    /* Not installed: the normal case on a machine without NVIDIA GPUs. */
    close(fds[0]);
    return 0;
  }
  char *buf = bson_malloc(NVIDIA_OUTPUT_MAX);
  bool complete = read_until(fds[0], buf, NVIDIA_OUTPUT_MAX, monotonic_ms() + MTQ_HOSTINFO_GPU_TIMEOUT_MS);
  close(fds[0]);
  if (!complete) {
    mtq_warn("nvidia-smi did not answer within %d ms; GPU figures left out",
             MTQ_HOSTINFO_GPU_TIMEOUT_MS);
    kill(-pid, SIGKILL);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  size_t n = 0;
  if (complete && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    n = mtq_hostinfo_parse_nvidia_csv(buf, gpus, max);
  }
  bson_free(buf);
  return n;
}

void mtq_hostinfo_read(mtq_hostinfo_probe_t *probe, int64_t now_ms, mtq_hostinfo_t *out) {
  memset(out, 0, sizeof *out);
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  out->cores = cores > 0 ? (int32_t)cores : 1;

  char *buf = bson_malloc(PROC_FILE_MAX);
  out->has_load = read_text("/proc/loadavg", buf, PROC_FILE_MAX) &&
                  mtq_hostinfo_parse_loadavg(buf, out->load);
  int64_t total_kb, avail_kb;
  if (read_text("/proc/meminfo", buf, PROC_FILE_MAX) &&
      mtq_hostinfo_parse_meminfo(buf, &total_kb, &avail_kb)) {
    out->has_mem = true;
    out->mem_total_mb = total_kb / 1024;
    out->mem_available_mb = avail_kb / 1024;
  }
  bson_free(buf);
  out->has_disk = read_disk(out);
  out->has_cpu_temp = read_cpu_temp(&out->cpu_temp_c);

  if (!probe->gpus_valid || now_ms - probe->gpus_read_ms >= MTQ_HOSTINFO_GPU_CACHE_MS) {
    probe->n_gpus = run_nvidia_smi(probe->gpus, MTQ_HOSTINFO_MAX_GPUS);
    probe->gpus_valid = true;
    probe->gpus_read_ms = now_ms;
  }
  out->n_gpus = probe->n_gpus;
  memcpy(out->gpus, probe->gpus, probe->n_gpus * sizeof probe->gpus[0]);
}
