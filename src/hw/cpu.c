/*
 * The CPU probe: model, cores and threads, caches and memory from the
 * Linux files that describe them (/proc/cpuinfo, /sys/devices/system/cpu,
 * /proc/meminfo, the cgroup memory limit), instruction-set features from
 * the architecture's own probe (cpu_x86.c: cpuid; cpu_arm.c: hwcaps).
 * The CPU backend is always built, so the CPU is always "available".
 */
#include <ctype.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "hw/hw-impl.h"

/* A small text file's first line, or "" (never fails). */
static void read_line(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (fgets(buf, (int)cap, f))
        buf[strcspn(buf, "\n")] = '\0';
    fclose(f);
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    size_t k = 0;
    while (isspace((unsigned char)s[k]))
        k++;
    memmove(s, s + k, n - k + 1);
}

/* "48K", "1024K", "32M" as sysfs writes cache sizes. */
static uint64_t parse_sysfs_size(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s)
        return 0;
    switch (*end) {
    case 'K': return v << 10;
    case 'M': return v << 20;
    case 'G': return v << 30;
    default: return v;
    }
}

/* Number of CPUs in a list like "0-3,8,10-11". */
static int count_cpu_list(const char *s)
{
    int n = 0;
    while (*s) {
        char *end;
        long a = strtol(s, &end, 10);
        if (end == s)
            break;
        long b = a;
        if (*end == '-')
            b = strtol(end + 1, &end, 10);
        if (b >= a)
            n += (int)(b - a + 1);
        s = end;
        if (*s == ',')
            s++;
        else
            break;
    }
    return n;
}

static void cpuinfo_fields(ia_cpu_info *ci)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        char *key = line, *val = colon + 1;
        trim(key);
        trim(val);
        if (!ci->model[0] && (!strcmp(key, "model name") || !strcmp(key, "Model") ||
                              !strcmp(key, "cpu model")))
            IA_HW_SET(ci->model, "%s", val);
        else if (!ci->vendor[0] && (!strcmp(key, "vendor_id") || !strcmp(key, "CPU implementer")))
            IA_HW_SET(ci->vendor, "%s", val);
    }
    fclose(f);
}

/* Physical cores and sockets: distinct (package, core) pairs in sysfs. */
static void topology(ia_cpu_info *ci)
{
    enum { MAXC = 4096 };
    static const size_t cap = MAXC;
    long *keys = ia__malloc(cap * sizeof *keys);
    long *pkgs = ia__malloc(cap * sizeof *pkgs);
    if (!keys || !pkgs)
        goto done;
    size_t nk = 0, np = 0;
    for (int cpu = 0; cpu < MAXC; cpu++) {
        char path[128], buf[64];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
        read_line(path, buf, sizeof buf);
        if (!buf[0]) {
            if (cpu >= ci->logical && cpu > 0)
                break;
            continue;
        }
        long core = strtol(buf, NULL, 10);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
        read_line(path, buf, sizeof buf);
        long pkg = buf[0] ? strtol(buf, NULL, 10) : 0;
        long key = pkg * 1000000L + core;
        bool seen = false;
        for (size_t i = 0; i < nk && !seen; i++)
            seen = keys[i] == key;
        if (!seen && nk < cap)
            keys[nk++] = key;
        seen = false;
        for (size_t i = 0; i < np && !seen; i++)
            seen = pkgs[i] == pkg;
        if (!seen && np < cap)
            pkgs[np++] = pkg;
    }
    ci->cores = (int)nk;
    ci->sockets = (int)np;
done:
    ia__free(keys);
    ia__free(pkgs);
}

static void caches(ia_cpu_info *ci)
{
    for (int i = 0; i < 16 && ci->n_cache < IA_CPU_MAX_CACHES; i++) {
        char path[128], level[16], type[32], size[32], shared[256];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        read_line(path, level, sizeof level);
        if (!level[0])
            break;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        read_line(path, type, sizeof type);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        read_line(path, size, sizeof size);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/shared_cpu_list", i);
        read_line(path, shared, sizeof shared);
        int k = ci->n_cache++;
        ci->cache[k].level = atoi(level);
        IA_HW_SET(ci->cache[k].type, "%s", !strcmp(type, "Data") ? "data"
                                         : !strcmp(type, "Instruction") ? "instruction"
                                         : "unified");
        ci->cache[k].size = parse_sysfs_size(size);
        ci->cache[k].shared_by = count_cpu_list(shared);
    }
}

static void memory(ia_cpu_info *ci)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        unsigned long long kb;
        while (fgets(line, sizeof line, f)) {
            if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
                ci->mem_total = (uint64_t)kb * 1024;
            else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
                ci->mem_available = (uint64_t)kb * 1024;
        }
        fclose(f);
    }
    if (!ci->mem_total) {
        long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
        if (pages > 0 && psize > 0)
            ci->mem_total = (uint64_t)pages * (uint64_t)psize;
    }
    /* A container's limit: cgroup v2, then v1 ("max" / huge: none). */
    char buf[64];
    read_line("/sys/fs/cgroup/memory.max", buf, sizeof buf);
    if (!buf[0])
        read_line("/sys/fs/cgroup/memory/memory.limit_in_bytes", buf, sizeof buf);
    if (buf[0] && isdigit((unsigned char)buf[0])) {
        unsigned long long lim = strtoull(buf, NULL, 10);
        if (lim && (!ci->mem_total || lim < ci->mem_total))
            ci->mem_cgroup_limit = lim;
    }
}

void ia__cpu_add_feature(ia_cpu_info *ci, const char *name, bool hw, bool usable)
{
    if (ci->n_feat < IA_CPU_MAX_FEATURES)
        ci->feat[ci->n_feat++] = (ia_cpu_feature){name, hw, hw && usable};
}

const ia_cpu_feature *ia__cpu_feature(const ia_cpu_info *ci, const char *name)
{
    for (int i = 0; i < ci->n_feat; i++)
        if (!strcmp(ci->feat[i].name, name))
            return &ci->feat[i];
    return NULL;
}

void ia__cpu_info(ia_cpu_info *ci)
{
    memset(ci, 0, sizeof *ci);
    struct utsname u;
    if (uname(&u) == 0)
        IA_HW_SET(ci->arch, "%s", u.machine);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    ci->logical = n > 0 ? (int)n : 1;
    cpu_set_t set;
    ci->usable = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : ci->logical;
    cpuinfo_fields(ci);
    topology(ci);
    caches(ci);
    memory(ci);
    ia__cpu_features(ci);
    if (!ci->model[0])
        IA_HW_SET(ci->model, "unknown %s processor", ci->arch);
}

cJSON *ia__cpu_json(const ia_cpu_info *ci)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "arch", ci->arch);
    cJSON_AddStringToObject(o, "vendor", ci->vendor);
    cJSON_AddStringToObject(o, "model", ci->model);
    cJSON_AddNumberToObject(o, "logical_cpus", ci->logical);
    cJSON_AddNumberToObject(o, "usable_cpus", ci->usable);
    if (ci->cores)
        cJSON_AddNumberToObject(o, "cores", ci->cores);
    else
        cJSON_AddNullToObject(o, "cores");
    cJSON_AddNumberToObject(o, "sockets", ci->sockets);
    cJSON_AddNumberToObject(o, "memory_total", (double)ci->mem_total);
    cJSON_AddNumberToObject(o, "memory_available", (double)ci->mem_available);
    if (ci->mem_cgroup_limit)
        cJSON_AddNumberToObject(o, "memory_cgroup_limit", (double)ci->mem_cgroup_limit);
    cJSON *cs = cJSON_AddArrayToObject(o, "caches");
    for (int i = 0; cs && i < ci->n_cache; i++) {
        cJSON *c = cJSON_CreateObject();
        if (!c)
            break;
        cJSON_AddNumberToObject(c, "level", ci->cache[i].level);
        cJSON_AddStringToObject(c, "type", ci->cache[i].type);
        cJSON_AddNumberToObject(c, "size", (double)ci->cache[i].size);
        cJSON_AddNumberToObject(c, "shared_by", ci->cache[i].shared_by);
        cJSON_AddItemToArray(cs, c);
    }
    cJSON *fs = cJSON_AddObjectToObject(o, "features");
    for (int i = 0; fs && i < ci->n_feat; i++)
        cJSON_AddBoolToObject(fs, ci->feat[i].name, ci->feat[i].usable);
    cJSON_AddStringToObject(o, "feature_probe", ci->feature_probe);
    return o;
}

static void fmt_bytes(char *buf, size_t cap, uint64_t b)
{
    if (b >= (1ull << 30))
        snprintf(buf, cap, "%.1f GiB", (double)b / (double)(1ull << 30));
    else if (b >= (1ull << 20))
        snprintf(buf, cap, "%.0f MiB", (double)b / (double)(1ull << 20));
    else
        snprintf(buf, cap, "%.0f KiB", (double)b / 1024.0);
}

void ia__hw_probe_cpu(const ia_hw_loader *ld, ia_hw_platform *p)
{
    (void)ld;
    ia_cpu_info ci;
    ia__cpu_info(&ci);
    p->state = IA_HW_DETECTED;
    IA_HW_SET(p->probe, "/proc/cpuinfo, /sys/devices/system/cpu, /proc/meminfo, %s", ci.feature_probe);
    char mem[32], feats[256] = "";
    fmt_bytes(mem, sizeof mem, ci.mem_total);
    size_t len = 0;
    for (int i = 0; i < ci.n_feat; i++)
        if (ci.feat[i].usable && len + strlen(ci.feat[i].name) + 2 < sizeof feats)
            len += (size_t)snprintf(feats + len, sizeof feats - len, "%s%s", len ? " " : "",
                                    ci.feat[i].name);
    IA_HW_SET(p->reason, "%s: %d cores, %d threads (%d usable), %s memory", ci.model, ci.cores,
              ci.logical, ci.usable, mem);
    ia_hw_device *d = ia__hw_add_device(p);
    IA_HW_SET(d->name, "%s", ci.model);
    IA_HW_SET(d->kind, "cpu");
    d->memory = ci.mem_cgroup_limit ? ci.mem_cgroup_limit : ci.mem_total;
    IA_HW_SET(d->detail, "%s", feats[0] ? feats : "no SIMD extensions detected");
    cJSON *x = ia__hw_extra(p), *cj = ia__cpu_json(&ci);
    if (x && cj)
        cJSON_AddItemToObject(x, "cpu", cj);
    else
        cJSON_Delete(cj);
}
