/*
 * The machine's own meters around a benchmark run: the peak resident set
 * (the kernel's VmHWM, reset per run through /proc/self/clear_refs where
 * allowed; getrusage otherwise) and package energy from RAPL
 * (/sys/class/powercap/intel-rapl:N/energy_uj, usually readable by root
 * only). What cannot be read is reported as unavailable, never guessed.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "benchdb/benchdb.h"

bool ia__bench_rss_reset(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = write(fd, "5", 1) == 1;
    close(fd);
    return ok;
}

uint64_t ia__bench_peak_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        unsigned long long kb;
        while (fgets(line, sizeof line, f)) {
            if (sscanf(line, "VmHWM: %llu kB", &kb) == 1) {
                fclose(f);
                return (uint64_t)kb * 1024;
            }
        }
        fclose(f);
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss > 0)
        return (uint64_t)ru.ru_maxrss * 1024; /* kilobytes on Linux */
    return 0;
}

static bool read_u64(const char *dir, const char *zone, const char *file, uint64_t *v)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/%s", dir, zone, file);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char buf[64];
    bool ok = fgets(buf, sizeof buf, f) != NULL;
    fclose(f);
    if (!ok)
        return false;
    char *end;
    unsigned long long x = strtoull(buf, &end, 10);
    if (end == buf)
        return false;
    *v = (uint64_t)x;
    return true;
}

/* Top-level package zones only ("intel-rapl:0", not "intel-rapl:0:0",
 * whose energy the package already counts), in a stable order. */
static int zone_names(const char *root, char names[][64], int cap)
{
    DIR *d = opendir(root);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        const char *p = e->d_name;
        if (strncmp(p, "intel-rapl:", 11) != 0 || strchr(p + 11, ':'))
            continue;
        snprintf(names[n++], 64, "%s", p);
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort: a handful of names */
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[64];
            memcpy(t, names[j], 64);
            memcpy(names[j], names[j - 1], 64);
            memcpy(names[j - 1], t, 64);
        }
    return n;
}

int ia__bench_energy_start(ia_bench_energy *e, const char *root)
{
    memset(e, 0, sizeof *e);
    snprintf(e->root, sizeof e->root, "%s", root ? root : "/sys/class/powercap");
    char names[16][64];
    int nz = zone_names(e->root, names, 16);
    for (int i = 0; i < nz; i++) {
        uint64_t uj, range = 0;
        if (!read_u64(e->root, names[i], "energy_uj", &uj))
            return e->n = 0; /* all zones or none: a partial sum would mislead */
        read_u64(e->root, names[i], "max_energy_range_uj", &range);
        e->uj[i] = uj;
        e->range_uj[i] = range;
    }
    e->n = nz;
    return e->n;
}

double ia__bench_energy_joules(const ia_bench_energy *e)
{
    if (e->n == 0)
        return -1;
    char names[16][64];
    int nz = zone_names(e->root, names, 16);
    if (nz != e->n)
        return -1;
    double total_uj = 0;
    for (int i = 0; i < nz; i++) {
        uint64_t uj;
        if (!read_u64(e->root, names[i], "energy_uj", &uj))
            return -1;
        if (uj >= e->uj[i])
            total_uj += (double)(uj - e->uj[i]);
        else if (e->range_uj[i] > e->uj[i])
            total_uj += (double)(e->range_uj[i] - e->uj[i] + uj); /* wrapped once */
        else
            return -1;
    }
    return total_uj * 1e-6;
}
