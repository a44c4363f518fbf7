/*
 * The cluster's command line (src/cluster/, docs/distributed.md):
 * `ipfs-accelerate worker` pulls embedding tasks from NATS JetStream,
 * `ipfs-accelerate cluster status` shows workers and the queue, and
 * cli_embed_cluster() is `embed --cluster`: cmd_embed.c reads the options
 * and writes the output, this file shards, submits and waits.
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "cluster/cluster-impl.h"
#include "ipfs_accelerate/gateway.h"
#include "ipfs_accelerate/server.h"
#include "ipfs_accelerate/store.h"

static volatile int stop_requested, drain_requested;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        drain_requested = 1;
    else if (sig == SIGUSR2)
        drain_requested = 0;
    else
        stop_requested = 1;
}

bool cli_nats_option(int c, const char *arg, cli_nats_auth *a)
{
    switch (c) {
    case CLI_OPT_NATS_USER: a->user = arg; return true;
    case CLI_OPT_NATS_PASSWORD: a->password = arg; return true;
    case CLI_OPT_NATS_TOKEN: a->token = arg; return true;
    case CLI_OPT_NATS_CREDS: a->creds = arg; return true;
    case CLI_OPT_NATS_TLS_CA: a->tls_ca = arg; return true;
    case CLI_OPT_NATS_TLS_CERT: a->tls_cert = arg; return true;
    case CLI_OPT_NATS_TLS_KEY: a->tls_key = arg; return true;
    default: return false;
    }
}

/* The option, else its environment variable, else NULL. */
static const char *opt_or_env(const char *opt, const char *var)
{
    const char *v = opt ? opt : getenv(var);
    return v && *v ? v : NULL;
}

/* cache_dir: the disk tier's folder (NULL: none). */
static ia_status connect_with(const char *url, const char *client_name, long max_queue, const cli_nats_auth *a,
                              const char *cache_dir, ia_cluster **out)
{
    ia_cluster_options o = IA_CLUSTER_OPTIONS_INIT;
    o.cache_dir = cache_dir;
    o.client_name = client_name;
    o.max_tasks = max_queue;
    o.user = opt_or_env(a->user, "IPFS_ACCELERATE_NATS_USER");
    o.password = opt_or_env(a->password, "IPFS_ACCELERATE_NATS_PASSWORD");
    o.token = opt_or_env(a->token, "IPFS_ACCELERATE_NATS_TOKEN");
    o.creds_file = opt_or_env(a->creds, "IPFS_ACCELERATE_NATS_CREDS");
    o.tls_ca = opt_or_env(a->tls_ca, "IPFS_ACCELERATE_NATS_TLS_CA");
    o.tls_cert = opt_or_env(a->tls_cert, "IPFS_ACCELERATE_NATS_TLS_CERT");
    o.tls_key = opt_or_env(a->tls_key, "IPFS_ACCELERATE_NATS_TLS_KEY");
    return ia_cluster_connect(url, &o, out);
}

/* Submitters (embed and serve --cluster): a disk tier where
 * IPFS_ACCELERATE_RESULT_CACHE_DIR names one. */
ia_status cli_cluster_connect(const char *url, const char *client_name, long max_queue, const cli_nats_auth *a,
                              ia_cluster **out)
{
    return connect_with(url, client_name, max_queue, a, opt_or_env(NULL, "IPFS_ACCELERATE_RESULT_CACHE_DIR"), out);
}

static const char worker_help[] =
    "Usage: ipfs-accelerate worker --nats URL [--model DIR|ipfs://CID] [OPTIONS]\n"
    "\n"
    "Join a cluster: load the model, then embed the tasks queued for it on the\n"
    "NATS JetStream server at URL until SIGINT or SIGTERM. Each result is stored\n"
    "before its task is acknowledged. Tasks for a model by CID that no worker\n"
    "holds are taken by a worker with room, which fetches the model from a\n"
    "peer's gateway (every block verified) into its store; an idle worker with\n"
    "room also takes up a model whose holders fall behind. SIGUSR1 drains the\n"
    "worker (no new task; the gateway still serves), SIGUSR2 resumes it. See\n"
    "docs/distributed.md.\n"
    "\n"
    "  -n, --nats URL          nats://HOST:PORT (several: comma-separated)\n"
    "  -m, --model DIR         model folder; tasks name it by its last path component\n"
    "                          or by its CID (ipfs://CID: fetched from the peers)\n"
    "      --max-models N      models held at once, --model included (default 2;\n"
    "                          0 with --model: only that one); beyond, the least\n"
    "                          recently used model taken up is unloaded (kept on disk)\n"
    "      --spread-after SECONDS  when idle, take up a model whose tasks have waited\n"
    "                          this long for the workers that hold it (default 10;\n"
    "                          0: never)\n"
    "      --gateway-listen HOST:PORT  serve this worker's store (its models) as a\n"
    "                          trustless gateway for the peers, and advertise it\n"
    "      --advertise-gateway URL     the gateway URL peers fetch models from (default:\n"
    "                          http://HOST:PORT of --gateway-listen; alone: a gateway\n"
    "                          run separately over the same store)\n"
    "      --result-cache DIR  keep the results this worker computes in DIR (1 GiB,\n"
    "                          least recently used dropped) and answer a task from there\n"
    "                          before computing it (default: none)\n"
    "  -j, --threads N         compute threads (default: all cores)\n"
    "      --name NAME         advertised name (default: HOST-PID)\n"
    "      --device NAME       as for embed (default: hardware.device, else auto)\n"
    "      --ack-wait SECONDS  redelivery delay of an unacknowledged task, set when\n"
    "                          this worker creates the consumer (default 30)\n"
    "      --max-deliver N     a failing task goes to the dead letters at its N-th\n"
    "                          delivery (default 5)\n"
    "      --max-queue N       the task queue's bound, set when this worker creates\n"
    "                          the stream (default 100000 tasks, 1 GiB)\n"
    CLI_NATS_HELP
    "  -q, --quiet             log warnings only, not every task\n";

enum {
    OPT_NAME = 0x2000, OPT_ACK_WAIT, OPT_MAX_DELIVER, OPT_MAX_QUEUE, OPT_MAX_MODELS, OPT_GW_LISTEN, OPT_GW_URL,
    OPT_RESULT_CACHE, OPT_SPREAD
};

/* The model folder in the worker's store (imported and pinned, so its
 * gateway serves it to the peers); *cid gets its CID, the tasks' key. */
static ia_status import_model(const char *dir, char cid[IA_CID_STR_MAX])
{
    ia_blockstore *bs;
    ia_status st = ia_blockstore_open(NULL, &bs);
    if (st)
        return st;
    ia_block_sink sink;
    ia_blockstore_sink(bs, &sink);
    ia_cid root;
    st = ia_unixfs_add_path(dir, true, NULL, &sink, NULL, NULL, &root);
    if (!st)
        st = ia_pin_add(bs, &root, true);
    ia_blockstore_close(bs);
    if (st)
        return st;
    ia_cid_str(&root, cid);
    return IA_OK;
}

/* A trustless gateway over the worker's store on listen; url gets the
 * address it answers on. */
static ia_status start_gateway(const char *listen, ia_store **store, ia_gateway **gw, ia_server **srv, char *url,
                               size_t cap)
{
    ia_store_options so;
    ia_store_options_init(&so);
    so.offline = true;
    ia_server_options o;
    memset(&o, 0, sizeof o);
    o.listen = listen;
    o.http_threads = 4;
    ia_status st = ia_store_open(&so, store);
    if (!st)
        st = ia_gateway_new(*store, gw);
    if (!st)
        st = ia_server_new(&o, srv);
    if (!st)
        st = ia_gateway_mount(*gw, *srv);
    if (!st)
        st = ia_server_start(*srv);
    if (st)
        return st;
    char host[256] = "127.0.0.1", ma[320];
    const char *colon = strrchr(listen, ':');
    if (colon && colon != listen && (size_t)(colon - listen) < sizeof host)
        snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    unsigned port = ia_server_port(*srv);
    snprintf(ma, sizeof ma, "/ip4/%s/tcp/%u/http", host, port);
    ia_gateway_set_address(*gw, ma);
    snprintf(url, cap, "http://%s:%u", host, port);
    return IA_OK;
}

int cmd_worker(int argc, char **argv)
{
    static const struct option opts[] = {
        {"nats", required_argument, 0, 'n'}, {"model", required_argument, 0, 'm'},
        {"threads", required_argument, 0, 'j'}, {"name", required_argument, 0, OPT_NAME},
        {"device", required_argument, 0, CLI_OPT_DEVICE}, {"ack-wait", required_argument, 0, OPT_ACK_WAIT},
        {"max-deliver", required_argument, 0, OPT_MAX_DELIVER}, {"quiet", no_argument, 0, 'q'},
        {"max-queue", required_argument, 0, OPT_MAX_QUEUE}, {"max-models", required_argument, 0, OPT_MAX_MODELS},
        {"gateway-listen", required_argument, 0, OPT_GW_LISTEN},
        {"advertise-gateway", required_argument, 0, OPT_GW_URL},
        {"result-cache", required_argument, 0, OPT_RESULT_CACHE},
        {"spread-after", required_argument, 0, OPT_SPREAD}, CLI_NATS_LONGOPTS,
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *url = NULL, *model_dir = NULL, *name = NULL, *gw_listen = NULL, *gw_url = NULL, *result_cache = NULL;
    cli_config_args ca = {0};
    long threads = 0, ack_wait = 30, max_deliver = 5, max_queue = 0, max_models = -1, spread_after = 10;
    cli_nats_auth auth = {0};
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:m:j:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'n': url = optarg; break;
        case 'm': model_dir = optarg; break;
        case 'j':
            if (!cli_parse_long(optarg, 0, 4096, &threads))
                return cli_usage("worker", "--threads must be a whole number from 0 to 4096, not '%s'", optarg);
            break;
        case OPT_NAME: name = optarg; break;
        case CLI_OPT_DEVICE: ca.device = optarg; break;
        case OPT_ACK_WAIT:
            if (!cli_parse_long(optarg, 1, 86400, &ack_wait))
                return cli_usage("worker", "--ack-wait must be whole seconds from 1 to 86400, not '%s'", optarg);
            break;
        case OPT_MAX_DELIVER:
            if (!cli_parse_long(optarg, 1, 1000, &max_deliver))
                return cli_usage("worker", "--max-deliver must be a whole number from 1 to 1000, not '%s'", optarg);
            break;
        case OPT_MAX_QUEUE:
            if (!cli_parse_long(optarg, 1, 1L << 40, &max_queue))
                return cli_usage("worker", "--max-queue must be a whole number >= 1, not '%s'", optarg);
            break;
        case OPT_MAX_MODELS:
            if (!cli_parse_long(optarg, 0, 8, &max_models))
                return cli_usage("worker", "--max-models must be a whole number from 0 to 8, not '%s'", optarg);
            break;
        case OPT_SPREAD:
            if (!cli_parse_long(optarg, 0, 86400, &spread_after))
                return cli_usage("worker", "--spread-after must be whole seconds from 0 to 86400, not '%s'", optarg);
            break;
        case OPT_GW_LISTEN: gw_listen = optarg; break;
        case OPT_RESULT_CACHE: result_cache = optarg; break;
        case OPT_GW_URL:
            if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8))
                return cli_usage("worker", "--advertise-gateway must be an http:// or https:// URL, not '%s'",
                                 optarg);
            gw_url = optarg;
            break;
        case 'q': quiet = true; break;
        case 'h': fputs(worker_help, stdout); return 0;
        default:
            if (cli_nats_option(c, optarg, &auth))
                break;
            return cli_usage("worker", "bad option");
        }
    }
    if (!url)
        return cli_usage("worker", "--nats URL is required");
    if (!model_dir && max_models == 0)
        return cli_usage("worker", "--max-models 0 needs --model (a worker with no model and no room takes nothing)");
    if (optind < argc)
        return cli_usage("worker", "unexpected argument '%s'", argv[optind]);
    char model_name[64] = "", host[64], default_name[96], fetch_cid[IA_CID_STR_MAX] = "";
    bool by_cid = model_dir && ia_ipfs_is_ref(model_dir);
    ia_status st = !model_dir ? IA_OK
                 : by_cid     ? ia__cluster_cid_key(model_dir, fetch_cid)
                              : ia__cluster_model_name(model_dir, model_name);
    if (st)
        return cli_fail(st, "--model");
    if (!name) {
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "worker");
        host[sizeof host - 1] = '\0';
        snprintf(default_name, sizeof default_name, "%s-%ld", host, (long)getpid());
        name = default_name;
    }
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_' || *p == '.'))
            return cli_usage("worker", "--name may hold letters, digits, '-', '_' and '.', not '%s'", name);

    ia_config *cfg;
    int crc = cli_config_load("worker", &ca, &cfg);
    if (crc)
        return crc;
    ia_config_free(cfg);
    if (!quiet)
        cli_log_init(IA_LOG_INFO);
    ia_cluster *cl; /* first: a wrong URL fails before a large model loads */
    if ((st = connect_with(url, name, max_queue, &auth, result_cache, &cl)))
        return cli_fail(st, "worker %s", name);
    ia_model *model = NULL;
    char cid[IA_CID_STR_MAX] = "", gw_addr[300] = "";
    ia_store *gw_store = NULL;
    ia_gateway *gw = NULL;
    ia_server *gw_srv = NULL;
    int rc = 0;
    if (model_dir && !by_cid) {
        ia_model_options mo = {.n_threads = (int)threads, .device = ca.device};
        if ((st = ia_model_load(model_dir, &mo, &model))) {
            rc = cli_fail(st, "cannot load model");
            goto out;
        }
        /* The weights' identity, the key of its tasks by CID: serve
         * --cluster's tasks name the CID they were tokenized for, and
         * only a worker with those files takes them. With a gateway the
         * folder goes into the store too, for the peers to fetch. */
        ia_model_info info;
        ia_model_get_info(model, &info);
        st = gw_listen || gw_url ? import_model(info.path, cid) : ia__cluster_model_cid(info.path, cid);
        if (st) {
            rc = cli_fail(st, "worker %s", name);
            goto out;
        }
    }
    if (gw_listen && (st = start_gateway(gw_listen, &gw_store, &gw, &gw_srv, gw_addr, sizeof gw_addr))) {
        rc = cli_fail(st, "worker %s: --gateway-listen %s", name, gw_listen);
        goto out;
    }
    if (gw_listen && !gw_url && (!strncmp(gw_addr, "http://0.0.0.0:", 15) || !strncmp(gw_addr, "http://[", 8))) {
        rc = cli_usage("worker", "--gateway-listen %s: peers cannot reach a wildcard address; give the URL "
                       "they should use with --advertise-gateway", gw_listen);
        goto out;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    ia_cluster_worker_config wc = {
        .name = name, .model_name = model_name, .model = model, .model_cid = cid[0] ? cid : NULL,
        .threads = threads ? (int)threads : (int)sysconf(_SC_NPROCESSORS_ONLN),
        .ack_wait_s = (int)ack_wait, .max_deliver = (int)max_deliver, .stop = &stop_requested,
        .fetch_cid = fetch_cid[0] ? fetch_cid : NULL, .device = ca.device,
        .max_models = max_models < 0 ? 2 : max_models == 0 ? 1 : (int)max_models,
        .gateway_url = gw_url ? gw_url : gw_addr[0] ? gw_addr : NULL, .draining = &drain_requested,
        .spread_after_s = (double)spread_after,
    };
    st = ia__cluster_worker_run(cl, &wc);
    rc = st ? cli_fail(st, "worker %s", name) : 0;
out:
    if (gw_srv)
        ia_server_shutdown(gw_srv, 5);
    ia_server_free(gw_srv);
    ia_gateway_free(gw);
    ia_store_close(gw_store);
    ia_cluster_free(cl);
    ia_model_free(model);
    return rc;
}

static const char status_help[] =
    "Usage: ipfs-accelerate cluster status --nats URL [--json]\n"
    "\n"
    "The workers advertised in the cluster (name, host, model, threads, tasks,\n"
    "last seen), the task queue's depth and its oldest task's age, the\n"
    "counts of stored results and dead letters, and the result cache (its\n"
    "bucket, and the hits and misses the submitters reported).\n"
    "\n"
    "  -n, --nats URL          nats://HOST:PORT (several: comma-separated)\n"
    "      --json              the same as one JSON object\n"
    CLI_NATS_HELP;

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "?";
}

int cmd_cluster_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"nats", required_argument, 0, 'n'}, {"json", no_argument, 0, 'J'}, CLI_NATS_LONGOPTS,
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *url = NULL;
    cli_nats_auth auth = {0};
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': url = optarg; break;
        case 'J': json = true; break;
        case 'h': fputs(status_help, stdout); return 0;
        default:
            if (cli_nats_option(c, optarg, &auth))
                break;
            return cli_usage("cluster status", "bad option");
        }
    }
    if (!url)
        return cli_usage("cluster status", "--nats URL is required");
    ia_cluster *cl;
    ia_status st = cli_cluster_connect(url, "ipfs-accelerate cluster status", 0, &auth, &cl);
    if (st)
        return cli_fail(st, "cluster status");
    cJSON *s;
    st = ia__cluster_status(cl, &s);
    ia_cluster_free(cl);
    if (st)
        return cli_fail(st, "cluster status");
    if (json) {
        char *text = cJSON_PrintUnformatted(s);
        if (text)
            printf("%s\n", text);
        free(text);
        cJSON_Delete(s);
        return 0;
    }
    const cJSON *workers = cJSON_GetObjectItem(s, "workers"), *w;
    printf("workers: %d\n", cJSON_GetArraySize(workers));
    if (cJSON_GetArraySize(workers))
        printf("  %-24s %-16s %-20s %7s %6s %6s %6s %9s\n", "NAME", "HOST", "MODEL", "THREADS", "DONE", "FAILED",
               "DEAD", "LAST SEEN");
    cJSON_ArrayForEach(w, workers) {
        printf("  %-24s %-16s %-20s %7.0f %6.0f %6.0f %6.0f %7.0f s%s\n", str(w, "name"), str(w, "host"),
               str(w, "model"), num(w, "threads"), num(w, "tasks_done"), num(w, "tasks_failed"),
               num(w, "dead_letters"), num(w, "last_seen_s"),
               cJSON_IsTrue(cJSON_GetObjectItem(w, "draining")) ? " (draining)" : "");
        const cJSON *m, *models = cJSON_GetObjectItem(w, "models"), *gw = cJSON_GetObjectItem(w, "gateway"),
                        *fetching = cJSON_GetObjectItem(w, "fetching");
        if (cJSON_GetArraySize(models) || (cJSON_IsString(gw) && gw->valuestring[0]) || cJSON_IsString(fetching)) {
            printf("    models (%d of %.0f):", cJSON_GetArraySize(models), num(w, "max_models"));
            cJSON_ArrayForEach(m, models)
                printf(" %s%s", str(m, "cid"), cJSON_IsTrue(cJSON_GetObjectItem(m, "fetched")) ? " (fetched)" : "");
            if (cJSON_IsString(fetching))
                printf("; fetching %s", fetching->valuestring);
            printf("%s%s\n", cJSON_IsString(gw) && gw->valuestring[0] ? "; gateway " : "",
                   cJSON_IsString(gw) ? gw->valuestring : "");
        }
    }
    const cJSON *q = cJSON_GetObjectItem(s, "queue");
    printf("queue: %.0f tasks waiting (oldest %.1f s), %.0f in flight, %.0f redelivered\n", num(q, "tasks"),
           num(q, "oldest_age_s"), num(q, "in_flight"), num(q, "redelivered"));
    const cJSON *bp = cJSON_GetObjectItem(q, "by_priority"), *lv;
    int level = 0;
    printf("  waiting by priority:");
    cJSON_ArrayForEach(lv, bp)
        printf("%s p%d %.0f", level ? "," : "", level, cJSON_IsNumber(lv) ? lv->valuedouble : 0), level++;
    printf("; bound %.0f tasks, %.0f bytes (%.0f used)\n", num(q, "max_tasks"), num(q, "max_bytes"), num(q, "bytes"));
    printf("results stored: %.0f; dead letters: %.0f\n", num(s, "results"), num(s, "dead_letters"));
    const cJSON *ca = cJSON_GetObjectItem(s, "cache");
    printf("result cache: %.0f results, %.0f of %.0f bytes, kept %.0f s; hits %.0f in memory, %.0f on disk, %.0f in "
           "the cluster, misses %.0f (hit rate %.1f %%); workers answered %.0f tasks from their disk\n",
           num(ca, "entries"), num(ca, "bytes"), num(ca, "max_bytes"), num(ca, "ttl_s"), num(ca, "hits_memory"),
           num(ca, "hits_disk"), num(ca, "hits_cluster"), num(ca, "misses"), 100 * num(ca, "hit_rate"),
           num(ca, "worker_hits_disk"));
    cJSON_Delete(s);
    return 0;
}

/* ---- embed --cluster ---- */

typedef struct submit_state {
    const cli_cluster_embed *a;
    double t0;
    bool tty;
    double last_line;
    double base_t; /* the first progress report: results found done by then */
    size_t base_texts; /* do not count towards the rate */
    bool based;
} submit_state;

static void on_rows(void *ud, const float *vecs, size_t n, int dim)
{
    submit_state *s = ud;
    s->a->rows(s->a->ud, vecs, n, dim);
}

static void on_progress(void *ud, const ia_cluster_progress *p)
{
    submit_state *s = ud;
    if (s->a->quiet)
        return;
    double now = cli_now();
    if (!s->based) {
        s->based = true;
        s->base_t = now;
        s->base_texts = p->texts_done;
    }
    bool final = p->shards_done == p->shards;
    if (!s->tty && !final && now - s->last_line < 2)
        return;
    s->last_line = now;
    double secs = now - s->base_t;
    double rate = secs > 0 ? (double)(p->texts_done - s->base_texts) / secs : 0;
    char eta[32] = "ETA ? (no result yet)";
    if (rate > 0)
        snprintf(eta, sizeof eta, "ETA %.0f s", (double)(p->texts - p->texts_done) / rate);
    fprintf(stderr, "%scluster: %zu/%zu shards (%zu found done), %zu/%zu texts, %.1f texts/s, %s%s",
            s->tty ? "\r" : "ipfs-accelerate: ", p->shards_done, p->shards, p->shards_found, p->texts_done, p->texts,
            rate, final ? "done" : eta, s->tty && !final ? "\033[K" : "\n");
    fflush(stderr);
}

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* The shards: one per batch of the local embed, in the same order and with
 * the same boundaries (the --text values, then the input's lines, each
 * batch_size at a time), so each shard is computed exactly as the local
 * embed computes that batch. */
int cli_embed_cluster(const cli_cluster_embed *a)
{
    /* The model by CID (ipfs://CID, or a local folder's CID): its tasks
     * go to the workers that hold it, or to any worker, which fetches it.
     * Any other name: to the workers started with a folder of that name. */
    char model_name[IA_CID_STR_MAX];
    bool by_cid = ia_ipfs_is_ref(a->model) || is_dir(a->model);
    ia_status st = ia_ipfs_is_ref(a->model) ? ia__cluster_cid_key(a->model, model_name)
                 : by_cid                   ? ia__cluster_model_cid(a->model, model_name)
                                            : ia__cluster_model_name(a->model, model_name);
    if (st)
        return cli_fail(st, "--model");
    ia_cluster *cl;
    if ((st = cli_cluster_connect(a->url, "ipfs-accelerate embed", a->max_queue, &a->auth, &cl)))
        return cli_fail(st, "embed --cluster");
    ia_cluster_task_opts to = {.dimensions = a->dimensions, .prompt_name = a->prompt_name, .priority = a->priority,
                               .by_cid = by_cid};
    ia_cluster_job *job;
    if ((st = ia__cluster_job_new(cl, model_name, &to, &job))) {
        ia_cluster_free(cl);
        return cli_fail(st, "embed --cluster");
    }
    submit_state s = {.a = a, .t0 = cli_now(), .tty = cli_stderr_is_tty()};
    int rc = 0;
    for (size_t k = 0; k < a->n_extra && !rc; k += a->batch_size) {
        size_t n = IA_CLI_MIN(a->n_extra - k, a->batch_size);
        if ((st = ia__cluster_job_add(job, (const char *const *)a->extra + k, a->extra_lens + k, n)))
            rc = cli_fail(st, "embed --cluster");
    }
    char **texts = malloc(a->batch_size * sizeof *texts);
    size_t *lens = malloc(a->batch_size * sizeof *lens), nb = 0, texts_total = a->n_extra;
    char *line = NULL;
    size_t line_cap = 0;
    if ((!texts || !lens) && !rc)
        rc = cli_fail(0, "out of memory");
    while (a->in && !rc) {
        ssize_t len;
        while (nb < a->batch_size && (len = getline(&line, &line_cap, a->in)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                len--;
            if (!(texts[nb] = malloc((size_t)len + 1))) {
                rc = cli_fail(0, "out of memory");
                break;
            }
            memcpy(texts[nb], line, (size_t)len);
            texts[nb][len] = '\0';
            lens[nb++] = (size_t)len;
        }
        if (rc || nb == 0)
            break;
        if ((st = ia__cluster_job_add(job, (const char *const *)texts, lens, nb)))
            rc = cli_fail(st, "embed --cluster");
        texts_total += nb;
        for (size_t i = 0; i < nb; i++)
            free(texts[i]);
        nb = 0;
    }
    for (size_t i = 0; i < nb; i++)
        free(texts[i]);
    free(line);
    free(texts);
    free(lens);
    if (a->in && ferror(a->in) && !rc)
        rc = cli_fail(0, "%s: read error", a->in_path ? a->in_path : "stdin");
    if (!rc) {
        st = ia__cluster_job_wait(job, a->timeout_s, on_rows, on_progress, &s);
        if (st)
            rc = cli_fail(st, "embed --cluster (job %s)", ia__cluster_job_id(job));
    }
    double secs = cli_now() - s.t0;
    if (!rc && !a->quiet)
        fprintf(stderr, "ipfs-accelerate: embedded %zu texts in %.2f s on the cluster at %s: %.1f sentences/s "
                "[job %s]\n", texts_total, secs, a->url, secs > 0 ? (double)texts_total / secs : 0,
                ia__cluster_job_id(job));
    ia__cluster_job_free(job);
    ia_cluster_free(cl);
    return rc;
}
