/*
 * `ipfs-accelerate serve`: the HTTP inference server (include/ipfs_accelerate/
 * server.h) in the foreground. Listens first (so /health answers 503 while
 * models load), loads and test-runs each --model, then serves until SIGTERM
 * or SIGINT, when it stops accepting, finishes in-flight requests and
 * exits 0. The local content store is served read-only beside the API as a
 * trustless gateway (/ipfs/, /routing/v1/; include/ipfs_accelerate/gateway.h)
 * unless --no-gateway.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "ipfs_accelerate/cluster.h"
#include "ipfs_accelerate/gateway.h"
#include "ipfs_accelerate/server.h"
#include "ipfs_accelerate/store.h"
#include "model/lm.h"
#include "server/server-impl.h"

static const char serve_help[] =
    "Usage: ipfs-accelerate serve --model [NAME=]PATH [--model ...] [OPTIONS]\n"
    "       ipfs-accelerate serve --config FILE [OPTIONS]   (FILE's server.models)\n"
    "\n"
    "Serve embeddings and text generation over HTTP: OpenAI POST /v1/embeddings,\n"
    "POST /v1/chat/completions, POST /v1/completions and GET /v1/models;\n"
    "text-embeddings-inference POST /embed, /embed_sparse, /similarity, /rerank,\n"
    "/predict, /tokenize, /decode and GET /info; Cohere-style POST /v1/rerank;\n"
    "POST /detokenize and POST /apply-template for language models; plus\n"
    "GET /health and GET /metrics (Prometheus). See docs/server.md.\n"
    "\n"
    "  -m, --model [NAME=]PATH         an embedding model folder, or a language model\n"
    "                                  (a .gguf file) to serve (repeatable; requests\n"
    "                                  choose by NAME, the folder or file name by default;\n"
    "                                  one named as a server.models entry replaces it)\n"
    "      --config FILE               configuration file read in place of ./ipfs_accelerate.json\n"
    "                                  and the user's; its \"server\": {\"models\": [{\"path\",\n"
    "                                  \"name\", \"pooling\", \"max_seq_length\"}, ...]} are served\n"
    "  -l, --listen HOST:PORT          address to listen on (default 127.0.0.1:8080;\n"
    "                                  port 0: any free port, see --port-file)\n"
    "      --max-batch-tokens N        tokens per coalesced engine call (default 16384)\n"
    "      --max-client-batch-size N   inputs per request, more: 413 (default 128)\n"
    "      --max-concurrent-requests N embedding requests queued or running, more: 429\n"
    "                                  (default 512)\n"
    "      --max-body-bytes N          request body limit, more: 413 (default 2000000)\n"
    "      --timeout SECONDS           close idle or stalled connections (default 30)\n"
    "      --drain-timeout SECONDS     on SIGTERM or SIGINT, give requests in flight this\n"
    "                                  long to finish (default 30)\n"
    "      --max-connections N         open connections (default 1000)\n"
    "      --http-threads N            HTTP threads (default 2)\n"
    "      --api-key KEY               require \"Authorization: Bearer KEY\" on all routes\n"
    "                                  but /health and /metrics (default: the environment's\n"
    "                                  IPFS_ACCELERATE_API_KEY, else none)\n"
    "  -j, --threads N                 engine threads (default: all cores; for a language\n"
    "                                  model all but one, as its tokens stream out)\n"
    "      --device NAME               backend: auto, cpu, cuda[:N], ... (default: hardware.device)\n"
    "      --no-fallback               fail instead of falling back to the CPU\n"
    "      --set KEY=VALUE             override a configuration key (see 'config show')\n"
    "      --max-seq-length N          truncate texts to N tokens (default: the model's; a\n"
    "                                  server.models entry's max_seq_length wins for it)\n"
    "      --pooling MODE              the embedding models' pooling over their folders': mean,\n"
    "                                  cls, max, lasttoken, ..., or splade (a *ForMaskedLM\n"
    "                                  model's SPLADE vectors: POST /embed_sparse; a\n"
    "                                  server.models entry's pooling wins for it)\n"
    "      --max-running N             generations decoded together per language model;\n"
    "                                  more wait (default 16)\n"
    "      --kv-cache-mb N             KV cache per language model, kept for running and\n"
    "                                  finished requests (prefix cache; default 1024)\n"
    "      --kv-cache-type T           f16 (the default on the CPU: half the memory and\n"
    "                                  the bytes a decode step reads) or f32\n"
    "      --port-file FILE            write the bound port to FILE once listening\n"
    "      --no-gateway                do not serve the local store's blocks at /ipfs/\n"
    "                                  and /routing/v1/ (trustless gateway, read-only)\n"
    "      --cluster URL               send the embedding models' engine calls to workers on\n"
    "                                  the NATS JetStream server at URL (ipfs-accelerate worker\n"
    "                                  --model with the same folder); the models are still\n"
    "                                  loaded here for their tokenizers (docs/distributed.md)\n"
    "      --cluster-timeout SECONDS   wait this long for a task's result, then 504 (default 60)\n"
    "      --cluster-tasks N           tasks in flight at once (default 8)\n"
    "      --priority N                the tasks' priority level, 0 to 2 (default 0)\n"
    "      --max-queue N               the task queue's bound when this server creates it\n"
    CLI_NATS_HELP
    "  -v, --verbose                   log what the server does, a line per request\n";

/* A .gguf file or a folder whose config.json names a *ForCausalLM, unless
 * it is a sentence-transformers folder (modules.json: a decoder embedder
 * such as gte-Qwen2). */
static bool is_language_model(const char *path)
{
    const size_t n = strlen(path);
    if (n > 5 && !strcasecmp(path + n - 5, ".gguf"))
        return true;
    char cfg[4096];
    snprintf(cfg, sizeof cfg, "%s/modules.json", path);
    if (access(cfg, F_OK) == 0)
        return false;
    snprintf(cfg, sizeof cfg, "%s/config.json", path);
    FILE *f = fopen(cfg, "rb");
    if (!f)
        return false;
    char buf[65536];
    const size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = '\0';
    return strstr(buf, "ForCausalLM\"") != NULL || strstr(buf, "LMHeadModel\"") != NULL;
}

/* ---- /v1/advise ------------------------------------------------------------ */

static void advise_error(ia_http_response *res, int status, const char *param, const char *msg)
{
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", status == 400 ? "invalid_request_error" : "server_error");
    if (param)
        cJSON_AddStringToObject(e, "param", param);
    else
        cJSON_AddNullToObject(e, "param");
    cJSON_AddNullToObject(e, "code");
    char *txt = cJSON_PrintUnformatted(o);
    ia_http_respond(res, status, "application/json", txt ? txt : "{}", txt ? strlen(txt) : 2);
    cJSON_free(txt);
    cJSON_Delete(o);
}

/* `advise` over HTTP: GET /v1/advise?model=M[&latency_ms=X|&throughput=1][&context=N]
 * or POST with those fields as a JSON object; the CLI's --json document.
 * Peaks are read from the benchmark database, never measured here. */
static void advise_route(const ia_http_request *req, ia_http_response *res, void *user)
{
    const char *method = ia_http_request_method(req);
    if (strcmp(ia_http_request_path(req), "/v1/advise")) {
        advise_error(res, 404, NULL, "no such route");
        return;
    }
    /* The default database ($IPFS_ACCELERATE_HOME/bench.db); the hardware
     * as detected at start, on the main thread (user). */
    cli_advise_args a = {.detect_json = user};
    cJSON *body = NULL;
    char num[64];
    const char *model = NULL, *lat = NULL, *thr = NULL, *ctxs = NULL;
    if (!strcmp(method, "POST")) {
        size_t len = 0;
        const char *b = ia_http_request_body(req, &len);
        body = b ? cJSON_ParseWithLength(b, len) : NULL;
        if (!cJSON_IsObject(body)) {
            cJSON_Delete(body);
            advise_error(res, 400, NULL, "the body must be a JSON object: {\"model\": ..., \"latency_ms\" or "
                                         "\"throughput\", \"context\"}");
            return;
        }
        const cJSON *j = cJSON_GetObjectItemCaseSensitive(body, "model");
        model = cJSON_IsString(j) ? j->valuestring : NULL;
        a.throughput = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body, "throughput"));
        j = cJSON_GetObjectItemCaseSensitive(body, "latency_ms");
        if (j && !(cJSON_IsNumber(j) && j->valuedouble > 0)) {
            cJSON_Delete(body);
            advise_error(res, 400, "latency_ms", "latency_ms: a positive number of milliseconds");
            return;
        }
        a.latency_ms = j ? j->valuedouble : 0;
        j = cJSON_GetObjectItemCaseSensitive(body, "context");
        if (j && !(cJSON_IsNumber(j) && j->valuedouble >= 1 && j->valuedouble <= (1 << 20))) {
            cJSON_Delete(body);
            advise_error(res, 400, "context", "context: a token count from 1 to 1048576");
            return;
        }
        a.context = j ? (long)j->valuedouble : 0;
    } else if (!strcmp(method, "GET") || !strcmp(method, "HEAD")) {
        model = ia_http_request_query(req, "model");
        lat = ia_http_request_query(req, "latency_ms");
        thr = ia_http_request_query(req, "throughput");
        ctxs = ia_http_request_query(req, "context");
        a.throughput = thr && (!*thr || !strcmp(thr, "1") || !strcmp(thr, "true"));
        char *end;
        if (lat) {
            a.latency_ms = strtod(lat, &end);
            if (end == lat || *end || !(a.latency_ms > 0)) {
                snprintf(num, sizeof num, "latency_ms=%.20s: not a positive number of milliseconds", lat);
                advise_error(res, 400, "latency_ms", num);
                return;
            }
        }
        if (ctxs && !cli_parse_long(ctxs, 1, 1 << 20, &a.context)) {
            snprintf(num, sizeof num, "context=%.20s: not a token count", ctxs);
            advise_error(res, 400, "context", num);
            return;
        }
    } else {
        ia_http_response_header(res, "Allow", "GET, HEAD, POST");
        advise_error(res, 405, NULL, "/v1/advise takes GET or POST");
        return;
    }
    if (!model || !*model) {
        cJSON_Delete(body);
        advise_error(res, 400, "model", "model is required");
        return;
    }
    if (a.throughput && a.latency_ms > 0) {
        cJSON_Delete(body);
        advise_error(res, 400, "throughput", "latency_ms and throughput: one goal, not both");
        return;
    }
    a.model = model;
    cJSON *doc = NULL;
    int rc = cli_advise_json(&a, &doc);
    if (rc) {
        char msg[768];
        snprintf(msg, sizeof msg, "model %.200s: %s", model, ia_errmsg()[0] ? ia_errmsg() : "cannot be advised on");
        cJSON_Delete(body); /* model was borrowed from it */
        advise_error(res, 400, "model", msg);
        return;
    }
    cJSON_Delete(body);
    char *txt = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (!txt) {
        advise_error(res, 500, NULL, "out of memory");
        return;
    }
    ia_http_respond(res, 200, "application/json", txt, strlen(txt));
    cJSON_free(txt);
}

int cmd_serve(int argc, char **argv)
{
    enum { O_MBT = 256, O_MCBS, O_MCR, O_MBB, O_TIMEOUT, O_MAXCONN, O_HTTPT, O_KEY, O_DEVICE,
           O_SEQ, O_PORTFILE, O_NOGW, O_RUNNING, O_KV, O_POOLING, O_CLUSTER, O_CTIMEOUT, O_CTASKS,
           O_PRIORITY, O_MAXQUEUE, O_DRAIN, O_KVTYPE };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"listen", required_argument, 0, 'l'},
        {"max-batch-tokens", required_argument, 0, O_MBT},
        {"max-client-batch-size", required_argument, 0, O_MCBS},
        {"max-concurrent-requests", required_argument, 0, O_MCR},
        {"max-body-bytes", required_argument, 0, O_MBB}, {"timeout", required_argument, 0, O_TIMEOUT},
        {"drain-timeout", required_argument, 0, O_DRAIN},
        {"max-connections", required_argument, 0, O_MAXCONN},
        {"http-threads", required_argument, 0, O_HTTPT}, {"api-key", required_argument, 0, O_KEY},
        {"threads", required_argument, 0, 'j'}, {"device", required_argument, 0, O_DEVICE},
        {"max-seq-length", required_argument, 0, O_SEQ}, {"port-file", required_argument, 0, O_PORTFILE},
        {"no-gateway", no_argument, 0, O_NOGW}, {"max-running", required_argument, 0, O_RUNNING},
        {"kv-cache-mb", required_argument, 0, O_KV}, {"kv-cache-type", required_argument, 0, O_KVTYPE},
        {"pooling", required_argument, 0, O_POOLING},
        {"cluster", required_argument, 0, O_CLUSTER}, {"cluster-timeout", required_argument, 0, O_CTIMEOUT},
        {"cluster-tasks", required_argument, 0, O_CTASKS}, {"priority", required_argument, 0, O_PRIORITY},
        {"max-queue", required_argument, 0, O_MAXQUEUE}, CLI_NATS_LONGOPTS,
        {"set", required_argument, 0, CLI_OPT_SET}, {"no-fallback", no_argument, 0, CLI_OPT_NO_FALLBACK},
        {"config", required_argument, 0, CLI_OPT_CONFIG},
        {"verbose", no_argument, 0, 'v'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    char *models[CLI_SERVE_MAX_MODELS];
    int n_models = 0;
    ia_server_options so = {0};
    const char *device = NULL, *port_file = NULL, *key = NULL, *pooling = NULL, *kv_type = NULL;
    long threads = 0, max_seq = 0, v;
    bool verbose = false, gateway = true;
    const char *cluster_url = NULL, *cluster_opt = NULL; /* the last cluster option given */
    long cluster_timeout = 60, cluster_tasks = 8, priority = 0, max_queue = 0, drain_s = 30;
    cli_nats_auth auth = {0};
    cli_config_args ca = {0};
    int c;
    optind = 1;
#define NUM(name, lo, hi, dst)                                                                   \
    do {                                                                                         \
        if (!cli_parse_long(optarg, lo, hi, &v))                                                      \
            return cli_usage("serve", "--%s must be a whole number from %ld to %ld, not '%s'",   \
                             name, (long)(lo), (long)(hi), optarg);                              \
        dst = v;                                                                                 \
    } while (0)
    while ((c = getopt_long(argc, argv, "m:l:j:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (n_models == CLI_SERVE_MAX_MODELS)
                return cli_usage("serve", "at most %d --model options", CLI_SERVE_MAX_MODELS);
            models[n_models++] = optarg;
            break;
        case 'l': so.listen = optarg; break;
        case O_MBT: NUM("max-batch-tokens", 16, 1L << 24, so.max_batch_tokens); break;
        case O_MCBS: NUM("max-client-batch-size", 1, 1L << 20, so.max_client_batch_size); break;
        case O_MCR: NUM("max-concurrent-requests", 1, 1L << 20, so.max_concurrent_requests); break;
        case O_MBB: NUM("max-body-bytes", 64, 1L << 30, so.max_body_bytes); break;
        case O_TIMEOUT: NUM("timeout", 1, 86400, so.timeout_s); break;
        case O_DRAIN: NUM("drain-timeout", 0, 86400, drain_s); break;
        case O_MAXCONN: NUM("max-connections", 1, 1L << 20, so.max_connections); break;
        case O_HTTPT: NUM("http-threads", 1, 256, so.http_threads); break;
        case O_KEY: key = optarg; break;
        case 'j': NUM("threads", 0, 4096, threads); break;
        case O_DEVICE: device = ca.device = optarg; break;
        case O_SEQ: NUM("max-seq-length", 2, 1L << 20, max_seq); break;
        case O_PORTFILE: port_file = optarg; break;
        case O_POOLING: pooling = optarg; break;
        case O_NOGW: gateway = false; break;
        case O_RUNNING: NUM("max-running", 1, 256, so.max_running_generations); break;
        case O_KV: NUM("kv-cache-mb", 16, 1L << 24, so.kv_cache_bytes); so.kv_cache_bytes <<= 20; break;
        case O_KVTYPE:
            if (strcmp(optarg, "f16") && strcmp(optarg, "f32"))
                return cli_usage("serve", "--kv-cache-type must be f16 or f32, not '%s'", optarg);
            kv_type = optarg;
            break;
        case O_CLUSTER: cluster_url = optarg; break;
        case O_CTIMEOUT:
            NUM("cluster-timeout", 1, 86400, cluster_timeout);
            cluster_opt = "--cluster-timeout";
            break;
        case O_CTASKS:
            NUM("cluster-tasks", 1, SRV_MAX_ENGINES, cluster_tasks);
            cluster_opt = "--cluster-tasks";
            break;
        case O_PRIORITY:
            NUM("priority", 0, IA_CLUSTER_PRIORITIES - 1, priority);
            cluster_opt = "--priority";
            break;
        case O_MAXQUEUE:
            NUM("max-queue", 1, 1L << 40, max_queue);
            cluster_opt = "--max-queue";
            break;
        case 'v': verbose = true; break;
        case 'h': fputs(serve_help, stdout); return 0;
        default:
            if (cli_nats_option(c, optarg, &auth)) {
                cluster_opt = "the --nats-* options";
                break;
            }
            if (!cli_config_option(c, optarg, &ca))
                return cli_usage("serve", "bad option");
        }
    }
#undef NUM
    if (optind < argc)
        return cli_usage("serve", "unexpected argument '%s'", argv[optind]);
    if (cluster_opt && !cluster_url)
        return cli_usage("serve", "%s: only with --cluster URL", cluster_opt);
    if (!key)
        key = getenv("IPFS_ACCELERATE_API_KEY");
    so.api_key = key;
    ia_config *cfg; /* configuration files, environment, --set, --device, --no-fallback */
    int crc = cli_config_load("serve", &ca, &cfg);
    if (crc)
        return crc;
    static cli_serve_models list; /* server.models, with --model on top (static: what the early
                                     returns leave is still reachable) */
    crc = cli_serve_models_get(cfg, models, n_models, &list);
    ia_config_free(cfg);
    if (crc)
        return crc;
    if (list.n == 0)
        return cli_usage("serve", "--model DIR, or a server.models list (serve --config FILE), is required");
    if (verbose) /* what the server does, and a line per request */
        cli_log_init(IA_LOG_DEBUG);

    /* Signals are taken by sigwait() below; every server thread inherits
     * the mask, so none of them is interrupted. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Many connections need many descriptors: raise the soft limit to the
     * hard one, as servers do. */
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    ia_server *srv;
    ia_status st = ia_server_new(&so, &srv);
    if (st)
        return cli_fail(st, "cannot make the server");
    ia_cluster *cluster = NULL; /* freed after the server, which borrows it */
    if (cluster_url) {
        if ((st = cli_cluster_connect(cluster_url, "serve", max_queue, &auth, &cluster)) ||
            (st = ia__server_set_cluster(srv, cluster, (double)cluster_timeout, (int)priority, (int)cluster_tasks))) {
            ia_server_free(srv);
            ia_cluster_free(cluster);
            return cli_fail(st, "serve --cluster %s", cluster_url);
        }
        fprintf(stderr, "ipfs-accelerate: embedding requests go to the workers at %s\n", cluster_url);
    }
    /* The gateway serves what the local store holds, offline, read-only. */
    ia_store *store = NULL;
    ia_gateway *gw = NULL;
    if (gateway) {
        ia_store_options sto;
        ia_store_options_init(&sto);
        sto.offline = true;
        st = ia_store_open(&sto, &store);
        if (!st)
            st = ia_gateway_new(store, &gw);
        if (!st)
            st = ia_gateway_mount(gw, srv);
        if (st) {
            fprintf(stderr, "ipfs-accelerate: warning: no trustless gateway at /ipfs/: %s "
                            "(--no-gateway hides this)\n", ia_errmsg()[0] ? ia_errmsg() : ia_strerror(st));
            ia_gateway_free(gw);
            ia_store_close(store);
            gw = NULL;
            store = NULL;
        }
    }
    /* /v1/advise's hardware, detected once here: probing Vulkan and OpenCL
     * on a handler thread leaves an alternate signal stack (LLVM's) that
     * the thread's exit under ASan cannot unmap. Kept until exit. */
    static char *advise_hw;
    if (!advise_hw && (st = ia_hardware_detect_json(&advise_hw)))
        fprintf(stderr, "ipfs-accelerate: warning: /v1/advise detects the hardware per request: %s\n",
                ia_strerror(st));
    if ((st = ia_server_mount(srv, "/v1/advise", advise_route, advise_hw, 0))) {
        ia_server_free(srv);
        ia_cluster_free(cluster);
        ia_gateway_free(gw);
        ia_store_close(store);
        return cli_fail(st, "mounting /v1/advise");
    }
    ia_server_set_loading(srv, true); /* /health: 503 until every model is in */
    if ((st = ia_server_start(srv))) {
        ia_server_free(srv);
        ia_cluster_free(cluster);
        ia_gateway_free(gw);
        ia_store_close(store);
        return cli_fail(st, "cannot start the server");
    }
    unsigned port = ia_server_port(srv);
    if (gw) {
        char host[256] = "127.0.0.1", ma[320];
        const char *lst = so.listen ? so.listen : "127.0.0.1:8080", *colon = strrchr(lst, ':');
        if (colon && colon != lst && (size_t)(colon - lst) < sizeof host && lst[0] != '[')
            snprintf(host, sizeof host, "%.*s", (int)(colon - lst), lst);
        snprintf(ma, sizeof ma, "/ip4/%s/tcp/%u/http", host, port);
        ia_gateway_set_address(gw, ma);
    }
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f)) {
            ia_server_free(srv);
            ia_cluster_free(cluster);
            return cli_fail(0, "%s: %s", port_file, strerror(errno));
        }
    }
    fprintf(stderr, "ipfs-accelerate: listening on %s (port %u); loading %d model%s\n",
            so.listen ? so.listen : "127.0.0.1:8080", port, list.n, list.n == 1 ? "" : "s");

    ia_model_options mo = {.n_threads = (int)threads, .device = device,
                           .max_seq_length = (size_t)max_seq, .pooling = pooling};
    char chosen[64]; /* --device auto: per model, by the performance model */
    for (int i = 0; i < list.n; i++) {
        const cli_serve_model *e = &list.m[i];
        char *name = e->name ? strdup(e->name) : NULL, where[700] = "";
        const char *dir = e->path;
        if (e->entry >= 0) /* the error names the entry */
            snprintf(where, sizeof where, "%s: server.models[%d]: ", list.origin, e->entry);
        sigset_t pending;
        if (!sigpending(&pending) && (sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT))) {
            fprintf(stderr, "ipfs-accelerate: stopped while loading models\n");
            free(name);
            ia_server_free(srv);
            ia_cluster_free(cluster);
            ia_gateway_free(gw);
            ia_store_close(store);
            return 0;
        }
        double t0 = cli_now();
        const bool lang = is_language_model(dir);
        mo.pooling = e->pooling ? e->pooling : pooling;
        mo.max_seq_length = (size_t)(e->max_seq ? e->max_seq : max_seq);
        ia_lm *lm = NULL;
        ia_model *m = NULL;
        cli_device_choose(dir, device, NULL, advise_hw, verbose, chosen, sizeof chosen);
        mo.device = chosen[0] ? chosen : device;
        if (lang && (e->pooling || e->max_seq)) {
            st = ia__error(IA_ERR_INVALID, "it is a language model: pooling and max_seq_length are for embedding "
                           "models");
        } else if (lang) {
            /* Generation by default on all cores but one: each streamed token
             * wakes an HTTP thread, and on every core it would preempt one of
             * the engine's threads, stalling the rest at the next barrier
             * (2 cores, SmolLM2: one stream 48 -> 214 tok/s, eight 264 -> 617) */
            const long cores = sysconf(_SC_NPROCESSORS_ONLN);
            st = ia__lm_load(dir, mo.device, threads ? (int)threads : (int)(cores > 1 ? cores - 1 : 1), kv_type,
                             &lm);
            if (!st)
                st = ia__server_add_lm(srv, name, lm);
        } else {
            st = ia_model_load(dir, &mo, &m);
            if (!st)
                st = ia_server_add_model(srv, name, m);
        }
        if (st) {
            int rc = cli_fail(st, "%scannot serve model %s", where, dir);
            free(name);
            ia_server_free(srv);
            ia_cluster_free(cluster);
            ia_gateway_free(gw);
            ia_store_close(store);
            return rc;
        }
        if (lang) {
            const ia_decoder_config *dc = ia__decoder_config(lm->dec);
            fprintf(stderr, "ipfs-accelerate: serving %s (%s text generation, context %d, %s) on %s; "
                            "loaded in %.2f s\n",
                    name ? name : dir, dc->arch, dc->n_ctx_train, lm->chat_template ? "chat template" : "no chat template",
                    lm->be->name, cli_now() - t0);
            free(name);
            continue;
        }
        ia_model_info info;
        ia_model_get_info(m, &info);
        fprintf(stderr, "ipfs-accelerate: serving %s (%s, %d dims, max %zu tokens) on %s, %s; "
                        "loaded in %.2f s\n",
                name ? name : dir, info.architecture, info.dim, info.max_seq_length, info.backend,
                info.precision, cli_now() - t0);
        if (srv->dispatch) { /* what a worker must be started with */
            const int k = ia__srv_model_count(srv) - 1;
            fprintf(stderr, "ipfs-accelerate: its requests go to the workers that hold ipfs://%s (its folder's "
                    "CID), else to any worker, which fetches it\n", srv->dispatch->cids[k]);
        }
        free(name);
    }
    ia_server_set_loading(srv, false);
    fprintf(stderr, "ipfs-accelerate: ready: http://%s/%s\n", so.listen ? so.listen : "127.0.0.1:8080",
            gw ? " (and the local store's blocks at /ipfs/)" : "");

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "ipfs-accelerate: %s: finishing in-flight requests\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    ia_server_shutdown(srv, (double)drain_s);
    ia_server_free(srv);
    ia_cluster_free(cluster);
    ia_gateway_free(gw);
    ia_store_close(store);
    cli_serve_models_free(&list);
    fprintf(stderr, "ipfs-accelerate: stopped\n");
    return 0;
}
