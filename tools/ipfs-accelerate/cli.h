/*
 * The ipfs-accelerate command line: main.c dispatches the first word(s) to
 * one cmd_* function per subcommand, each in the cmd_<area>.c file of its
 * subsystem. Each returns the process exit status (0 ok, 1 failure, 2 usage).
 */
#ifndef IA_CLI_H
#define IA_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "ipfs_accelerate/ipfs_accelerate.h"

typedef int (*cli_fn)(int argc, char **argv);

struct cli_command {
    const char *name;    /* "embed", "model info", "car export" */
    cli_fn fn;           /* argv[0] is the last word of the name */
    const char *summary; /* one line for `ipfs-accelerate help` */
};

/* Print "ipfs-accelerate: <message>" (and the library's detail, if the
 * status is a failure) to stderr. Returns 1 for `return cli_fail(...)`. */
int cli_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* While on, cli_fail prints nothing (a step whose failure the caller
 * handles quietly, e.g. --device auto's advice). */
void cli_fail_mute(bool on);
/* Usage error: message and a pointer to `--help`; returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The library's log messages go to stderr at this level or above. */
void cli_log_init(ia_log_level min_level);
bool cli_stderr_is_tty(void);
/* Seconds on a monotonic clock. */
double cli_now(void);
/* s as a JSON string literal on stdout (quotes, backslashes and control
 * characters escaped; other bytes as they are). */
void cli_print_json_string(const char *s);
/* A whole number in [lo, hi], all of s; false otherwise. */
bool cli_parse_long(const char *s, long lo, long hi, long *out);

/* `advise` (cmd_bench.c), shared with serve's /v1/advise: the advice on
 * model as a JSON document (*out: cJSON_Delete), 0 or 1 after printing why
 * to stderr (ia_errmsg() keeps the library's detail). */
typedef struct cli_advise_args {
    const char *model, *db; /* db NULL: the default database */
    double latency_ms;      /* > 0: the most throughput within it */
    bool throughput;
    long context;           /* 0: 128 tokens, a decoder 2048 positions */
    bool measure_peaks;     /* measure the CPU's peaks when none are stored */
    const char *detect_json; /* ia_hardware_detect_json's document; NULL: detect now */
    /* --device auto: only devices auto may use, in precision (NULL: each
     * device's own); the stored peaks only, no database made where none is. */
    bool auto_choice;
    const char *precision;
} cli_advise_args;
struct cJSON;
int cli_advise_json(const cli_advise_args *a, struct cJSON **out);

/* --device auto in embed, generate and serve (docs/benchmarks.md): the
 * device the performance model predicts fastest for model among those auto
 * may use, from the stored peaks and runs. device: --device (NULL: the
 * configuration's hardware.device). Writes the device to load on into out, or "" to leave
 * the request as it is (not auto, or the advisor could not decide: the
 * registry's priority order then; never an error). verbose: says why on
 * stderr. detect_json as in cli_advise_args. */
void cli_device_choose(const char *model, const char *device, const char *precision, const char *detect_json,
                       bool verbose, char *out, size_t cap);

#define IA_CLI_MIN(a, b) ((a) < (b) ? (a) : (b))

/* Configuration (cmd_config.c). Commands that honour it parse these long
 * options (option codes below) into cli_config_args with
 * cli_config_option(), then call cli_config_load(): files + environment +
 * these, made the library's configuration, logging routed by logging.*.
 * Returns 0, or the exit status after printing why. */
enum { CLI_OPT_SET = 0x1000, CLI_OPT_DEVICE, CLI_OPT_NO_FALLBACK, CLI_OPT_CONFIG };
/* The long options cli_config_option() takes, for a command's table. */
#define CLI_CONFIG_LONGOPTS                                                \
    {"set", required_argument, 0, CLI_OPT_SET},                            \
    {"device", required_argument, 0, CLI_OPT_DEVICE},                      \
    {"no-fallback", no_argument, 0, CLI_OPT_NO_FALLBACK},                  \
    {"config", required_argument, 0, CLI_OPT_CONFIG}
typedef struct cli_config_args {
    const char *sets[32]; /* "KEY=VALUE" from --set */
    size_t n_sets;
    const char *device;   /* --device */
    bool no_fallback;     /* --no-fallback */
    const char *file;     /* --config FILE: read in place of the project and user files */
} cli_config_args;
bool cli_config_option(int c, const char *arg, cli_config_args *args);
int cli_config_load(const char *cmd, const cli_config_args *args, ia_config **out);

/* The models `serve` serves (serve_models.c): the configuration's
 * server.models, then each --model [NAME=]PATH, which replaces the entry of
 * its name or is added. */
#define CLI_SERVE_MAX_MODELS 16
typedef struct cli_serve_model {
    char *name;    /* NULL: the folder's or file's name */
    char *path;    /* a model folder, .gguf file or reference */
    char *pooling; /* the entry's "pooling", or NULL */
    long max_seq;  /* the entry's "max_seq_length", or 0 */
    int entry;     /* its index in server.models, or -1 for a --model */
} cli_serve_model;
typedef struct cli_serve_models {
    cli_serve_model m[CLI_SERVE_MAX_MODELS];
    int n;
    char origin[512]; /* where server.models came from (a file, a variable, --set) */
} cli_serve_models;
/* 0, or the exit status after printing why. */
int cli_serve_models_get(const ia_config *cfg, char *const *cli_models, int n_cli, cli_serve_models *out);
void cli_serve_models_free(cli_serve_models *ms);

/* The options of a command that takes --json and --help, and with ca the
 * configuration options too. Returns -1 to go on (optind at the first
 * operand), else the exit status: 0 after printing help, 2 on a bad option. */
int cli_parse_json_opts(const char *cmd, const char *help, int argc, char **argv, bool *json,
                        cli_config_args *ca);

/* NATS credentials and TLS (cmd_cluster.c), for worker, embed --cluster
 * and cluster status: each --nats-* option, else its environment variable
 * (IPFS_ACCELERATE_NATS_USER, _PASSWORD, _TOKEN, _CREDS, _TLS_CA,
 * _TLS_CERT, _TLS_KEY), which keeps secrets off the process list. */
enum {
    CLI_OPT_NATS_USER = 0x1100, CLI_OPT_NATS_PASSWORD, CLI_OPT_NATS_TOKEN, CLI_OPT_NATS_CREDS,
    CLI_OPT_NATS_TLS_CA, CLI_OPT_NATS_TLS_CERT, CLI_OPT_NATS_TLS_KEY,
};
#define CLI_NATS_LONGOPTS                                                              \
    {"nats-user", required_argument, 0, CLI_OPT_NATS_USER},                            \
    {"nats-password", required_argument, 0, CLI_OPT_NATS_PASSWORD},                    \
    {"nats-token", required_argument, 0, CLI_OPT_NATS_TOKEN},                          \
    {"nats-creds", required_argument, 0, CLI_OPT_NATS_CREDS},                          \
    {"nats-tls-ca", required_argument, 0, CLI_OPT_NATS_TLS_CA},                        \
    {"nats-tls-cert", required_argument, 0, CLI_OPT_NATS_TLS_CERT},                    \
    {"nats-tls-key", required_argument, 0, CLI_OPT_NATS_TLS_KEY}
#define CLI_NATS_HELP                                                                    \
    "      --nats-user USER    NATS user (with --nats-password); env IPFS_ACCELERATE_NATS_USER\n" \
    "      --nats-password PW  env IPFS_ACCELERATE_NATS_PASSWORD (keeps it out of ps)\n"   \
    "      --nats-token TOKEN  NATS token; env IPFS_ACCELERATE_NATS_TOKEN\n"              \
    "      --nats-creds FILE   NATS .creds file (JWT and nkey); env IPFS_ACCELERATE_NATS_CREDS\n" \
    "      --nats-tls-ca FILE  PEM CA of the server's certificate (turns TLS on)\n"       \
    "      --nats-tls-cert FILE, --nats-tls-key FILE  this client's certificate and key\n"
typedef struct cli_nats_auth {
    const char *user, *password, *token, *creds, *tls_ca, *tls_cert, *tls_key;
} cli_nats_auth;
/* true when c is one of CLI_NATS_LONGOPTS (arg stored in a). */
bool cli_nats_option(int c, const char *arg, cli_nats_auth *a);
/* Connect with a's credentials (each else from its IPFS_ACCELERATE_NATS_*
 * variable); max_queue bounds the task queue when this makes it. */
struct ia_cluster;
ia_status cli_cluster_connect(const char *url, const char *client_name, long max_queue, const cli_nats_auth *a,
                              struct ia_cluster **out);

/* embed --cluster (cmd_cluster.c): the texts (the --text values, then the
 * lines of in) in shards of batch_size, queued on the NATS server at url
 * for workers of model; rows gets the vectors in input order. Returns the
 * exit status, after printing why on failure. */
typedef struct cli_cluster_embed {
    const char *url, *model, *prompt_name;
    int dimensions;
    int priority;       /* 0 .. IA_CLUSTER_PRIORITIES - 1 */
    long max_queue;     /* the task queue's bound if this run creates it; 0: the default */
    cli_nats_auth auth;
    size_t batch_size;
    char **extra;       /* --text values */
    size_t *extra_lens;
    size_t n_extra;
    FILE *in;           /* or NULL */
    const char *in_path;
    double timeout_s;   /* give up after this long without progress; 0: never */
    bool quiet;
    void (*rows)(void *ud, const float *vecs, size_t n, int dim);
    void *ud;
} cli_cluster_embed;
int cli_embed_cluster(const cli_cluster_embed *a);

#endif
