/*
 * ipfs-accelerate: the command-line front end. The first word(s) pick a
 * subcommand from the table; each subsystem's commands live in its own
 * cmd_<area>.c. Shared helpers for messages and logging are here.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int cmd_embed(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_model_info(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_rerank(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_embed_sparse(int argc, char **argv);
int cmd_model_pull(int argc, char **argv);
int cmd_hw(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_config_show(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_cluster_status(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_advise(int argc, char **argv);

int cmd_ipfs_add(int argc, char **argv);
int cmd_ipfs_cat(int argc, char **argv);
int cmd_ipfs_get(int argc, char **argv);
int cmd_ipfs_ls(int argc, char **argv);
int cmd_ipfs_car_export(int argc, char **argv);
int cmd_ipfs_car_import(int argc, char **argv);
int cmd_ipfs_pin_add(int argc, char **argv);
int cmd_ipfs_pin_rm(int argc, char **argv);
int cmd_ipfs_pin_ls(int argc, char **argv);
int cmd_ipfs_gc(int argc, char **argv);
int cmd_ipfs_store_stat(int argc, char **argv);
int cmd_ipfs_store_verify(int argc, char **argv);
int cmd_ipfs_gateway(int argc, char **argv);
int cmd_ipfs_model_add(int argc, char **argv);

static const struct cli_command commands[] = {
    {"embed", cmd_embed, "embed texts with a model (JSON Lines or .npy)"},
    {"generate", cmd_generate, "continue a prompt with a decoder model (GGUF), streaming"},
    {"chat", cmd_chat, "chat with a decoder model in the terminal (its chat template)"},
    {"model info", cmd_model_info, "describe a model folder"},
    {"serve", cmd_serve, "serve embeddings over HTTP (OpenAI and TEI APIs)"},
    {"rerank", cmd_rerank, "order documents by relevance to a query (cross-encoder)"},
    {"classify", cmd_classify, "label texts or text pairs with a classifier model"},
    {"embed-sparse", cmd_embed_sparse, "SPLADE vectors of texts with a masked-LM model"},
    {"tokenize", cmd_tokenize, "print the token ids of texts"},
    {"model pull", cmd_model_pull, "download a Hugging Face model into the shared cache"},
    {"hw", cmd_hw, "what hardware this machine has and what the engine can use"},
    {"status", cmd_status, "acceleration status: backends and what is selected, and why"},
    {"config", cmd_config, "configuration (see 'config show')"},
    {"config show", cmd_config_show, "every configuration key, its value and where it came from"},
    {"add", cmd_ipfs_add, "add files or directories to the IPFS store (kubo's CIDs)"},
    {"cat", cmd_ipfs_cat, "print a file from IPFS (verified), or a byte range of it"},
    {"get", cmd_ipfs_get, "write a file or directory from IPFS to disk"},
    {"ls", cmd_ipfs_ls, "list an IPFS directory"},
    {"car export", cmd_ipfs_car_export, "write a DAG as a CAR file"},
    {"car import", cmd_ipfs_car_import, "store the blocks of CAR files and pin their roots"},
    {"pin add", cmd_ipfs_pin_add, "protect a DAG from garbage collection"},
    {"pin rm", cmd_ipfs_pin_rm, "remove a pin"},
    {"pin ls", cmd_ipfs_pin_ls, "list pins"},
    {"gc", cmd_ipfs_gc, "remove unpinned blocks (LRU first, down to a size cap)"},
    {"store stat", cmd_ipfs_store_stat, "blocks, bytes and pins of the IPFS store"},
    {"store verify", cmd_ipfs_store_verify, "re-hash every stored block, report damage"},
    {"gateway", cmd_ipfs_gateway, "serve the store as a trustless HTTP gateway"},
    {"model add", cmd_ipfs_model_add, "add a model folder to IPFS and print its CID"},
    {"worker", cmd_worker, "embed tasks from a NATS JetStream cluster (docs/distributed.md)"},
    {"cluster status", cmd_cluster_status, "a cluster's workers, queue depth and oldest task"},
    {"bench", cmd_bench, "benchmark a model over a matrix, stored in a database ('bench list')"},
    {"advise", cmd_advise, "which device, precision, batch and threads to run a model with, and why"},
};

static int log_min = IA_LOG_WARN;

static void log_to_stderr(ia_log_level level, const char *msg, void *user)
{
    (void)user;
    fprintf(stderr, "ipfs-accelerate: %s: %s\n", ia_log_level_name(level), msg);
}

void cli_log_init(ia_log_level min_level)
{
    log_min = min_level;
    ia_log_set(log_to_stderr, NULL, min_level);
}

bool cli_stderr_is_tty(void) { return isatty(STDERR_FILENO); }

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool cli_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

void cli_print_json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static bool fail_muted;

void cli_fail_mute(bool on) { fail_muted = on; }

int cli_fail(int status, const char *fmt, ...)
{
    if (fail_muted)
        return 1;
    va_list ap;
    va_start(ap, fmt);
    fputs("ipfs-accelerate: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (status < 0 && ia_errmsg()[0])
        fprintf(stderr, ": %s", ia_errmsg());
    else if (status < 0)
        fprintf(stderr, ": %s", ia_strerror(status));
    fputc('\n', stderr);
    return 1;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ipfs-accelerate: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'ipfs-accelerate %s --help'.\n", cmd);
    return 2;
}

int cli_parse_json_opts(const char *cmd, const char *help, int argc, char **argv, bool *json,
                        cli_config_args *ca)
{
    static const struct option plain[] = {
        {"json", no_argument, 0, 'J'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    static const struct option with_config[] = {
        {"json", no_argument, 0, 'J'}, CLI_CONFIG_LONGOPTS, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", ca ? with_config : plain, NULL)) != -1) {
        if (c == 'J')
            *json = true;
        else if (c == 'h')
            return fputs(help, stdout), 0;
        else if (!ca || !cli_config_option(c, optarg, ca))
            return cli_usage(cmd, "bad option");
    }
    return -1;
}

static void help(FILE *f)
{
    fprintf(f, "ipfs-accelerate %s: fast local inference, models by content address\n\n"
               "Usage: ipfs-accelerate COMMAND [ARGS...]\n\nCommands:\n", ia_version());
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'ipfs-accelerate COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    cli_log_init(IA_LOG_WARN);
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        help(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("ipfs-accelerate %s\n", ia_version());
        return 0;
    }
    /* Longest match first: "model info" before a plain "model". */
    const struct cli_command *best = NULL;
    int best_words = 0;
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        const char *name = commands[i].name, *sp = strchr(name, ' ');
        int words = sp ? 2 : 1;
        bool match = sp ? argc > 2 && !strncmp(argv[1], name, (size_t)(sp - name)) &&
                              argv[1][sp - name] == '\0' && !strcmp(argv[2], sp + 1)
                        : !strcmp(argv[1], name);
        if (match && words > best_words) {
            best = &commands[i];
            best_words = words;
        }
    }
    if (!best) {
        fprintf(stderr, "ipfs-accelerate: unknown command '%s'%s%s\n", argv[1],
                argc > 2 ? " " : "", argc > 2 ? argv[2] : "");
        help(stderr);
        return 2;
    }
    int rc = best->fn(argc - best_words, argv + best_words);
    /* Flush before exit's handlers run: a sanitizer that reports there
     * ends the process without flushing stdio. */
    if (fflush(stdout) != 0 && !rc) {
        fprintf(stderr, "ipfs-accelerate: writing the output failed\n");
        rc = 1;
    }
    return rc;
}
