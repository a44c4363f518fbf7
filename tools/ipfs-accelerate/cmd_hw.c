/*
 * `ipfs-accelerate hw`: what hardware this machine has, one row per
 * platform with its state, the reason and the probe that decided it. The
 * text is drawn from the same JSON document `hw --json` prints
 * (ia_hardware_detect_json), so the two never disagree.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char hw_help[] =
    "Usage: ipfs-accelerate hw [--json]\n"
    "\n"
    "Probe every platform the engine targets (CPU, CUDA, ROCm/HIP, Apple MPS,\n"
    "OpenVINO, Vulkan, OpenCL, Qualcomm QNN, WebGPU, WebNN) and say, for each,\n"
    "\"available (backend built)\", \"detected, no backend built\" or \"not\n"
    "present\", with the reason and the probe that decided it; then what the\n"
    "engine would use with the current configuration (see 'status').\n"
    "\n"
    "      --json   the detection document (the library's ia_hardware_detect_json)\n";

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(j) ? j->valuestring : "";
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(j) ? j->valuedouble : 0;
}

static void bytes(char *buf, size_t cap, double b)
{
    if (b >= 1024.0 * 1024 * 1024)
        snprintf(buf, cap, "%.1f GiB", b / (1024.0 * 1024 * 1024));
    else if (b >= 1024.0 * 1024)
        snprintf(buf, cap, "%.0f MiB", b / (1024.0 * 1024));
    else
        snprintf(buf, cap, "%.0f KiB", b / 1024.0);
}

static bool feature(const cJSON *feats, const char *name)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(feats, name));
}

static void print_cpu(const cJSON *cpu)
{
    char mem[32], avail[32];
    bytes(mem, sizeof mem, num(cpu, "memory_total"));
    bytes(avail, sizeof avail, num(cpu, "memory_available"));
    printf("             %s %s, %.0f socket%s, %s memory free of %s\n", str(cpu, "vendor"), str(cpu, "arch"),
           num(cpu, "sockets"), num(cpu, "sockets") == 1 ? "" : "s", avail, mem);
    if (num(cpu, "memory_cgroup_limit") > 0) {
        bytes(mem, sizeof mem, num(cpu, "memory_cgroup_limit"));
        printf("             container memory limit: %s\n", mem);
    }
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(cpu, "caches"), *c;
    if (cJSON_GetArraySize(cs) > 0) {
        printf("             caches:");
        int i = 0;
        cJSON_ArrayForEach(c, cs)
        {
            char sz[32];
            bytes(sz, sizeof sz, num(c, "size"));
            const char *t = str(c, "type");
            printf("%s L%.0f%s %s", i++ ? "," : "", num(c, "level"),
                   !strcmp(t, "data") ? "d" : !strcmp(t, "instruction") ? "i" : "", sz);
            if (num(c, "shared_by") > 1)
                printf(" (shared by %.0f)", num(c, "shared_by"));
        }
        putchar('\n');
    }
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(cpu, "features");
    /* The features the issue names, then every one the probe reports. */
    printf("             AVX2 %s, AVX-512F %s, VNNI %s, BF16 %s, AMX %s, NEON %s\n",
           feature(f, "avx2") ? "yes" : "no", feature(f, "avx512f") ? "yes" : "no",
           feature(f, "avx512_vnni") || feature(f, "avx_vnni") ? "yes" : "no",
           feature(f, "avx512_bf16") || feature(f, "bf16") ? "yes" : "no",
           feature(f, "amx_tile") ? "yes" : "no", feature(f, "neon") ? "yes" : "no");
    const cJSON *it;
    printf("             features:");
    cJSON_ArrayForEach(it, f)
    if (cJSON_IsTrue(it))
        printf(" %s", it->string);
    putchar('\n');
}

int cmd_hw(int argc, char **argv)
{
    bool json = false;
    const int rc = cli_parse_json_opts("hw", hw_help, argc, argv, &json, NULL);
    if (rc >= 0)
        return rc;
    if (optind < argc)
        return cli_usage("hw", "unexpected argument '%s'", argv[optind]);
    char *doc;
    ia_status st = ia_hardware_detect_json(&doc);
    if (st)
        return cli_fail(st, "hardware detection");
    if (json) {
        puts(doc);
        ia_free(doc);
        return 0;
    }
    cJSON *root = cJSON_Parse(doc);
    ia_free(doc);
    if (!root)
        return cli_fail(0, "hardware detection: out of memory");
    printf("ipfs-accelerate %s: hardware on this machine (acceleration %s)\n\n", str(root, "version"),
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "acceleration_enabled"))
               ? "enabled"
               : "switched off by " IA_ENV_ENABLED);
    printf("%-12s %-15s %s\n", "PLATFORM", "NAME", "STATE, REASON, PROBE");
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(root, "platforms"))
    {
        printf("%-12s %-15s %s\n", str(p, "id"), str(p, "name"), str(p, "state_text"));
        printf("             %s\n", str(p, "reason"));
        const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(p, "cpu");
        if (cpu)
            print_cpu(cpu);
        else {
            const cJSON *d;
            cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(p, "devices"))
            {
                char mem[32] = "memory unknown";
                if (num(d, "memory") > 0)
                    bytes(mem, sizeof mem, num(d, "memory"));
                printf("             device %.0f: %s (%s, %s%s%s)\n", num(d, "index"), str(d, "name"), str(d, "kind"),
                       mem, *str(d, "detail") ? ", " : "", str(d, "detail"));
            }
            if (*str(p, "driver_version"))
                printf("             driver version %s\n", str(p, "driver_version"));
        }
        printf("             probe: %s\n", str(p, "probe"));
    }
    const cJSON *sel = cJSON_GetObjectItemCaseSensitive(root, "selected");
    if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(sel, "backend")))
        printf("\nthe engine uses: %s (%s, %s), %s\n  %s\n", str(sel, "backend"), str(sel, "device"),
               str(sel, "device_name"), str(sel, "precision"), str(sel, "reason"));
    else
        printf("\nthe engine uses: nothing: %s\n", str(sel, "error"));
    cJSON_Delete(root);
    return 0;
}
