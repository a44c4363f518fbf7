/* What the fuzz targets share: putting the input (or a fixture) where a
 * loader that reads files can find it. */
#ifndef IA_FUZZ_UTIL_H
#define IA_FUZZ_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

/* dir/name (dir NULL: name is the path) holds exactly n bytes of data. */
static inline bool fuzz_write_file(const char *dir, const char *name, const void *data, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s%s%s", dir ? dir : "", dir ? "/" : "", name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    const bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* The input as an in-memory file: its fd (close it), path in path[64]. */
static inline int fuzz_memfd(const char *name, const void *data, size_t n, char path[64])
{
    int fd = memfd_create(name, 0);
    if (fd < 0 || write(fd, data, n) != (ssize_t)n) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

#endif
