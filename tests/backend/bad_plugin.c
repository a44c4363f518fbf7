/*
 * Broken backend plugins for test_plugin.c, one per BAD_KIND, each a
 * reason the loader must skip a file with a warning (never crash):
 * 1 no entry point, 2 the entry point returns NULL (cannot serve the
 * host's version), 3 a table of an older interface version, 4 a table
 * named like one already registered ("example"), 5 a table without the
 * required open slot.
 */
#include <stdlib.h>

#include "backend/backend-impl.h"

#define EXPORT __attribute__((visibility("default")))

#if BAD_KIND == 1
EXPORT int not_a_backend_plugin = 1;
#else
static int device_count(void) { return 1; }
static const char *resolve_precision(const char *want) { return "fp32"; }
static ia_status open_instance(int device, int n_threads, const char *precision, bool profile, void **ctx)
{
    *ctx = malloc(1);
    return IA_OK;
}
static void close_instance(void *ctx) { free(ctx); }
static void *buf_alloc(void *ctx, size_t bytes) { return malloc(bytes); }
static void buf_free(void *ctx, void *buf) { free(buf); }
static bool supports(void *ctx, const ia_node *node) { return false; }
static ia_status graph_compute(void *ctx, const ia_node *nodes, int n_nodes) { return IA_ERR_UNSUPPORTED; }

static const ia_backend table = {
    .api_version = BAD_KIND == 3 ? IA_BACKEND_API_VERSION - 1 : IA_BACKEND_API_VERSION,
    .name = BAD_KIND == 4 ? "example" : "bad",
    .iface = {
        .device_count = device_count,
        .resolve_precision = resolve_precision,
        .open = BAD_KIND == 5 ? NULL : open_instance,
        .close = close_instance,
        .buf_alloc = buf_alloc,
        .buf_free = buf_free,
        .supports = supports,
        .graph_compute = graph_compute,
    },
};

EXPORT const ia_backend *ia_backend_plugin(int host_api_version, const ia_plugin_host *host);
const ia_backend *ia_backend_plugin(int host_api_version, const ia_plugin_host *host)
{
    return BAD_KIND == 2 ? NULL : &table;
}
#endif
