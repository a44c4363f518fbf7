/*
 * `ipfs-accelerate generate` and `chat`: text generation with a decoder
 * model (a GGUF file or a Hugging Face folder), streaming to stdout.
 * Sampling options are named like the OpenAI API's fields.
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "model/lm.h"

#define SAMPLING_HELP                                                                         \
    "  -n, --max-tokens N      tokens to generate at most (default 128; chat: 512)\n"          \
    "      --temperature T     0: greedy (generate's default); > 0: sample (chat's 0.7)\n"     \
    "      --top-p P           nucleus sampling (default 1: off)\n"                            \
    "      --top-k K           sample from the K most likely (default 0: off)\n"               \
    "      --min-p P           drop tokens under P x the most likely's probability\n"          \
    "      --repetition-penalty R, --presence-penalty P, --frequency-penalty F\n"              \
    "      --seed N            random seed (default 0; the same seed, the same text)\n"        \
    "      --stop TEXT         end the text before TEXT (repeatable)\n"                        \
    "      --ctx N             context size in tokens (default: the model's)\n"                \
    "      --kv-cache-type T   f16 (default on the CPU: half the memory) or f32\n"             \
    "  -t, --threads N         worker threads (default: all cores)\n"                          \
    "      --ignore-eos        keep generating past end-of-text tokens\n"                      \
    "  -v, --verbose           tokens/s and timings on stderr\n"                               \
    "      --device D          cpu, auto... (as for embed)\n"

static const char generate_help[] =
    "Usage: ipfs-accelerate generate --model MODEL --prompt TEXT [options]\n"
    "\n"
    "Continue TEXT (raw: no chat template) and stream the continuation to\n"
    "stdout.\n"
    "\n"
    "  -m, --model MODEL       a decoder (llama, qwen2, qwen3, mistral, gpt2): a .gguf file or a\n"
    "                          Hugging Face folder (config.json, safetensors, tokenizer.json)\n"
    "  -p, --prompt TEXT       the text to continue ('-': read it from stdin)\n" SAMPLING_HELP;

static const char chat_help[] =
    "Usage: ipfs-accelerate chat --model MODEL [--system TEXT] [options]\n"
    "\n"
    "An interactive chat in the terminal with the model's chat template: type\n"
    "a message and Enter. /reset forgets the conversation, /quit (or end of\n"
    "input) leaves, Ctrl-C stops the answer being written. Earlier turns are\n"
    "not computed again.\n"
    "\n"
    "  -m, --model MODEL       a decoder with a chat template (a .gguf file or a folder)\n"
    "  -s, --system TEXT       a system message first\n" SAMPLING_HELP;

typedef struct gen_opts {
    const char *model, *prompt, *system, *stops[16], *kv_cache;
    size_t n_stop;
    long max_tokens, threads, n_ctx;
    bool verbose, ignore_eos;
    ia_sampling sp;
    cli_config_args ca;
} gen_opts;

static bool parse_float(const char *s, double lo, double hi, float *out)
{
    char *end;
    const double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = (float)v;
    return true;
}

/* Options of both commands into *o; -1 to go on, else the exit status. */
static int parse_opts(const char *cmd, const char *help, int argc, char **argv, gen_opts *o)
{
    enum { O_TEMP = 0x2000, O_TOPP, O_TOPK, O_MINP, O_REP, O_PRES, O_FREQ, O_SEED, O_STOP, O_CTX, O_NOEOS, O_KV };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"prompt", required_argument, 0, 'p'},
        {"system", required_argument, 0, 's'}, {"max-tokens", required_argument, 0, 'n'},
        {"temperature", required_argument, 0, O_TEMP}, {"top-p", required_argument, 0, O_TOPP},
        {"top-k", required_argument, 0, O_TOPK}, {"min-p", required_argument, 0, O_MINP},
        {"repetition-penalty", required_argument, 0, O_REP}, {"presence-penalty", required_argument, 0, O_PRES},
        {"frequency-penalty", required_argument, 0, O_FREQ}, {"seed", required_argument, 0, O_SEED},
        {"stop", required_argument, 0, O_STOP}, {"ctx", required_argument, 0, O_CTX},
        {"kv-cache-type", required_argument, 0, O_KV},
        {"threads", required_argument, 0, 't'}, {"ignore-eos", no_argument, 0, O_NOEOS},
        {"verbose", no_argument, 0, 'v'}, CLI_CONFIG_LONGOPTS, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    long top_k = 0, seed = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:p:s:n:t:vh", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'p': o->prompt = optarg; break;
        case 's': o->system = optarg; break;
        case 'n': ok = cli_parse_long(optarg, 1, 1 << 24, &o->max_tokens); break;
        case 't': ok = cli_parse_long(optarg, 1, 4096, &o->threads); break;
        case 'v': o->verbose = true; break;
        case O_TEMP: ok = parse_float(optarg, 0, 100, &o->sp.temperature); break;
        case O_TOPP: ok = parse_float(optarg, 0, 1, &o->sp.top_p); break;
        case O_TOPK: ok = cli_parse_long(optarg, 0, 1 << 24, &top_k); break;
        case O_MINP: ok = parse_float(optarg, 0, 1, &o->sp.min_p); break;
        case O_REP: ok = parse_float(optarg, 0, 100, &o->sp.repetition_penalty); break;
        case O_PRES: ok = parse_float(optarg, -2, 2, &o->sp.presence_penalty); break;
        case O_FREQ: ok = parse_float(optarg, -2, 2, &o->sp.frequency_penalty); break;
        case O_SEED: ok = cli_parse_long(optarg, 0, 0x7fffffffffffffffL, &seed); break;
        case O_CTX: ok = cli_parse_long(optarg, 1, 1 << 24, &o->n_ctx); break;
        case O_NOEOS: o->ignore_eos = true; break;
        case O_KV:
            ok = !strcmp(optarg, "f16") || !strcmp(optarg, "f32");
            o->kv_cache = optarg;
            break;
        case O_STOP:
            ok = o->n_stop < 16 && *optarg;
            if (ok)
                o->stops[o->n_stop++] = optarg;
            break;
        case 'h': fputs(help, stdout); return 0;
        default:
            if (cli_config_option(c, optarg, &o->ca))
                break;
            return cli_usage(cmd, "unknown option");
        }
        if (!ok)
            return cli_usage(cmd, "bad value \"%s\" (see the ranges in --help)", optarg ? optarg : "");
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument \"%s\"", argv[optind]);
    o->sp.top_k = (int)top_k;
    o->sp.seed = (uint64_t)seed;
    return -1;
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static bool write_out(const char *text, size_t len, void *user)
{
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return !interrupted;
}

static void report(const gen_opts *o, const ia_gen_result *res)
{
    if (!o->verbose)
        return;
    const double gen_s = res->total_s - res->first_token_s;
    fprintf(stderr, "[prompt %d tokens (%d cached), first token after %.1f ms; %d tokens in %.2f s, %.1f tokens/s "
            "after the first; finish: %s]\n", res->prompt_tokens, res->cached_tokens, res->first_token_s * 1e3,
            res->completion_tokens, res->total_s,
            res->completion_tokens > 1 && gen_s > 0 ? (res->completion_tokens - 1) / gen_s : 0.0,
            res->finish_reason);
}

/* All of stdin, NUL-terminated (caller frees), or NULL. */
static char *read_stdin(void)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + len, 1, cap - len - 1, stdin)) > 0;) {
        len += got;
        if (cap - len < 2) {
            char *b = realloc(buf, cap *= 2);
            if (!b)
                free(buf);
            buf = b;
        }
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* Load the model and a session for the command. */
static int open_lm(const char *cmd, gen_opts *o, ia_config **cfg, ia_lm **lm, ia_session **s)
{
    int st = cli_config_load(cmd, &o->ca, cfg);
    if (st)
        return st;
    char chosen[64];
    cli_device_choose(o->model, o->ca.device, NULL, NULL, o->verbose, chosen, sizeof chosen);
    const double t0 = cli_now();
    ia_status rc = ia__lm_load(o->model, chosen[0] ? chosen : o->ca.device, (int)o->threads, o->kv_cache, lm);
    if (!rc)
        rc = ia__session_new((*lm)->dec, (int)o->n_ctx, s);
    if (rc)
        return cli_fail(rc, "loading %s", o->model);
    if (o->verbose) {
        const ia_decoder_config *c = ia__decoder_config((*lm)->dec);
        fprintf(stderr, "[%s: %s, %d layers, %d heads (%d kv), vocabulary %d, %s; context %d; loaded in %.2f s]\n",
                o->model, c->arch, c->n_layer, c->n_head, c->n_head_kv, c->n_vocab, ia__bpe_describe((*lm)->tok),
                ia__session_n_ctx(*s), cli_now() - t0);
    }
    return 0;
}

int cmd_generate(int argc, char **argv)
{
    gen_opts o = {.max_tokens = 128};
    int st = parse_opts("generate", generate_help, argc, argv, &o);
    if (st >= 0)
        return st;
    if (!o.model || !o.prompt)
        return cli_usage("generate", "--model and --prompt are required");
    char *text = !strcmp(o.prompt, "-") ? read_stdin() : strdup(o.prompt);
    if (!text)
        return cli_fail(0, "cannot read the prompt");
    ia_config *cfg = NULL;
    ia_lm *lm = NULL;
    ia_session *s = NULL;
    ia_i32vec ids = {0};
    st = open_lm("generate", &o, &cfg, &lm, &s);
    if (!st) {
        signal(SIGINT, on_sigint);
        ia_status rc = ia__bpe_encode(lm->tok, text, strlen(text), true, false, &ids);
        ia_gen_result res = {0};
        const ia_gen_params gp = {.sampling = o.sp, .max_tokens = (int)o.max_tokens, .stop = o.stops,
                                  .n_stop = o.n_stop, .ignore_eos = o.ignore_eos};
        if (!rc)
            rc = ia__lm_generate(lm, s, ids.v, (int)ids.n, &gp, write_out, NULL, &res);
        putchar('\n');
        if (rc)
            st = cli_fail(rc, "generating with %s", o.model);
        report(&o, &res);
    }
    ia__i32vec_free(&ids);
    ia__session_free(s);
    ia__lm_free(lm);
    ia_config_free(cfg);
    free(text);
    return st;
}

/* One line from stdin without its newline (caller frees), NULL at the end. */
static char *read_line(void)
{
    size_t cap = 256, len = 0;
    char *buf = malloc(cap);
    int c;
    while (buf && (c = getchar()) != EOF && c != '\n') {
        if (len + 2 > cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b)
                free(buf);
            buf = b;
        }
        if (buf)
            buf[len++] = (char)c;
    }
    if (buf && c == EOF && !len) {
        free(buf);
        return NULL;
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* Collects the answer's text for the history. */
typedef struct answer {
    char *text;
    size_t len;
} answer;

static bool write_and_keep(const char *text, size_t len, void *user)
{
    answer *a = user;
    char *t = realloc(a->text, a->len + len + 1);
    if (t) {
        memcpy(t + a->len, text, len);
        a->len += len;
        t[a->len] = '\0';
        a->text = t;
    }
    return write_out(text, len, NULL);
}

static bool add_message(cJSON *msgs, const char *role, const char *content)
{
    cJSON *m = cJSON_CreateObject();
    if (!m || !cJSON_AddStringToObject(m, "role", role) || !cJSON_AddStringToObject(m, "content", content)) {
        cJSON_Delete(m);
        return false;
    }
    return cJSON_AddItemToArray(msgs, m);
}

int cmd_chat(int argc, char **argv)
{
    gen_opts o = {.max_tokens = 512, .sp = {.temperature = 0.7f}};
    int st = parse_opts("chat", chat_help, argc, argv, &o);
    if (st >= 0)
        return st;
    if (!o.model)
        return cli_usage("chat", "--model is required");
    ia_config *cfg = NULL;
    ia_lm *lm = NULL;
    ia_session *s = NULL;
    cJSON *msgs = NULL;
    st = open_lm("chat", &o, &cfg, &lm, &s);
    const bool tty = isatty(0);
    struct sigaction sa = {.sa_handler = on_sigint};
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: Ctrl-C at the prompt ends the read */
    for (bool reset = true; !st;) {
        if (reset) {
            cJSON_Delete(msgs);
            msgs = cJSON_CreateArray();
            if (!msgs || (o.system && !add_message(msgs, "system", o.system))) {
                st = cli_fail(0, "out of memory");
                break;
            }
            reset = false;
        }
        if (tty)
            fputs("> ", stdout), fflush(stdout);
        interrupted = 0;
        char *line = read_line();
        if (!line || !strcmp(line, "/quit")) {
            free(line);
            break;
        }
        if (!strcmp(line, "/reset") || !*line) {
            reset = *line != '\0';
            if (reset)
                fputs("(conversation reset)\n", stdout);
            free(line);
            continue;
        }
        const bool ok = add_message(msgs, "user", line);
        free(line);
        ia_i32vec ids = {0};
        ia_status rc = ok ? ia__lm_chat_prompt(lm, msgs, NULL, true, &ids, NULL) : ia__error(IA_ERR_NOMEM, "out of memory");
        answer a = {0};
        ia_gen_result res = {0};
        const ia_gen_params gp = {.sampling = o.sp, .max_tokens = (int)o.max_tokens, .stop = o.stops,
                                  .n_stop = o.n_stop, .ignore_eos = o.ignore_eos};
        if (!rc)
            rc = ia__lm_generate(lm, s, ids.v, (int)ids.n, &gp, write_and_keep, &a, &res);
        ia__i32vec_free(&ids);
        puts(interrupted ? " [stopped]" : "");
        report(&o, &res);
        if (rc) {
            /* a turn that failed (context full...) is dropped; the chat goes on */
            cli_fail(rc, "chat");
            cJSON_DeleteItemFromArray(msgs, cJSON_GetArraySize(msgs) - 1);
        } else if (!add_message(msgs, "assistant", a.text ? a.text : "")) {
            st = cli_fail(0, "out of memory");
        }
        free(a.text);
    }
    cJSON_Delete(msgs);
    ia__session_free(s);
    ia__lm_free(lm);
    ia_config_free(cfg);
    return st;
}
