/*
 * `ipfs-accelerate model pull`: put a Hugging Face model into the shared
 * Hugging Face cache (downloading and verifying what is missing) and print
 * its snapshot folder, which every --model option also accepts.
 */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char pull_help[] =
    "Usage: ipfs-accelerate model pull ORG/NAME[@REVISION] [--revision REV] [--offline]\n"
    "\n"
    "Download a model from the Hugging Face hub into the Hugging Face cache\n"
    "(shared with Python tools) and print its local folder. Every file is\n"
    "checked against the hash the hub announces.\n"
    "\n"
    "  -r, --revision REV   branch, tag or commit (default main)\n"
    "      --offline        use the cache only (as HF_HUB_OFFLINE=1)\n"
    "  -q, --quiet          no progress on stderr\n"
    "\n"
    "Environment: HF_ENDPOINT (default https://huggingface.co), HF_HOME or\n"
    "HF_HUB_CACHE (cache location), HF_TOKEN (gated or private models).\n";

typedef struct pull_progress {
    char file[256];
    double last;
} pull_progress;

static void on_progress(const char *file, uint64_t done, uint64_t total, void *user)
{
    pull_progress *p = user;
    double now = cli_now();
    bool new_file = strcmp(p->file, file) != 0;
    if (!new_file && now - p->last < 0.2 && done != total)
        return;
    if (new_file && p->file[0])
        fputc('\n', stderr);
    snprintf(p->file, sizeof p->file, "%s", file);
    p->last = now;
    if (total)
        fprintf(stderr, "\r%-40s %6.1f / %.1f MB", file, (double)done / 1e6, (double)total / 1e6);
    else
        fprintf(stderr, "\r%-40s %6.1f MB", file, (double)done / 1e6);
}

int cmd_model_pull(int argc, char **argv)
{
    static const struct option opts[] = {
        {"revision", required_argument, 0, 'r'}, {"offline", no_argument, 0, 'O'},
        {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    ia_hub_options ho = {0};
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "r:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'r': ho.revision = optarg; break;
        case 'O': ho.offline = true; break;
        case 'q': quiet = true; break;
        case 'h': fputs(pull_help, stdout); return 0;
        default: return cli_usage("model pull", "bad option");
        }
    }
    if (optind + 1 != argc)
        return cli_usage("model pull", "give one model id, e.g. sentence-transformers/all-MiniLM-L6-v2");
    pull_progress pp = {0};
    if (!quiet && cli_stderr_is_tty()) {
        ho.progress = on_progress;
        ho.progress_user = &pp;
    }
    char *path;
    ia_status rc = ia_hub_snapshot(argv[optind], &ho, &path);
    if (pp.file[0])
        fputc('\n', stderr);
    if (rc)
        return cli_fail(rc, "cannot get %s", argv[optind]);
    puts(path);
    ia_free(path);
    return 0;
}
