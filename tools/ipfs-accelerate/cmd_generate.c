/*
 * `ipfs-accelerate generate`: continue a prompt with a decoder model (a
 * GGUF file), streaming the text to stdout as it is generated. Sampling
 * options are named like the OpenAI API's fields.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model/lm.h"

static const char generate_help[] =
    "Usage: ipfs-accelerate generate --model FILE.gguf --prompt TEXT [options]\n"
    "\n"
    "Continue TEXT (raw: no chat template) and stream the continuation to\n"
    "stdout. Statistics go to stderr with --verbose.\n"
    "\n"
    "  -m, --model FILE        a GGUF decoder (llama, qwen2, mistral)\n"
    "  -p, --prompt TEXT       the text to continue ('-': read it from stdin)\n"
    "  -n, --max-tokens N      tokens to generate at most (default 128)\n"
    "      --temperature T     0: greedy (the default); > 0: sample\n"
    "      --top-p P           nucleus sampling (default 1: off)\n"
    "      --top-k K           sample from the K most likely (default 0: off)\n"
    "      --min-p P           drop tokens under P x the most likely's probability\n"
    "      --repetition-penalty R, --presence-penalty P, --frequency-penalty F\n"
    "      --seed N            random seed (default 0; the same seed, the same text)\n"
    "      --stop TEXT         end the text before TEXT (repeatable)\n"
    "      --ctx N             context size in tokens (default: the model's)\n"
    "  -t, --threads N         worker threads (default: all cores)\n"
    "      --ignore-eos        keep generating past end-of-text tokens\n"
    "  -v, --verbose           tokens/s and timings on stderr\n"
    "      --device D          cpu, auto... (as for embed)\n";

static bool write_out(const char *text, size_t len, void *user)
{
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;
}

static bool parse_float(const char *s, double lo, double hi, float *out)
{
    char *end;
    const double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = (float)v;
    return true;
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

int cmd_generate(int argc, char **argv)
{
    enum { O_TEMP = 0x2000, O_TOPP, O_TOPK, O_MINP, O_REP, O_PRES, O_FREQ, O_SEED, O_STOP, O_CTX, O_NOEOS };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"prompt", required_argument, 0, 'p'},
        {"max-tokens", required_argument, 0, 'n'}, {"temperature", required_argument, 0, O_TEMP},
        {"top-p", required_argument, 0, O_TOPP}, {"top-k", required_argument, 0, O_TOPK},
        {"min-p", required_argument, 0, O_MINP}, {"repetition-penalty", required_argument, 0, O_REP},
        {"presence-penalty", required_argument, 0, O_PRES}, {"frequency-penalty", required_argument, 0, O_FREQ},
        {"seed", required_argument, 0, O_SEED}, {"stop", required_argument, 0, O_STOP},
        {"ctx", required_argument, 0, O_CTX}, {"threads", required_argument, 0, 't'},
        {"ignore-eos", no_argument, 0, O_NOEOS}, {"verbose", no_argument, 0, 'v'},
        CLI_CONFIG_LONGOPTS, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *model = NULL, *prompt = NULL, *stops[16];
    size_t n_stop = 0;
    long max_tokens = 128, top_k = 0, threads = 0, n_ctx = 0, seed = 0;
    bool verbose = false, ignore_eos = false;
    ia_sampling sp = {0};
    cli_config_args ca = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:p:n:t:vh", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'm': model = optarg; break;
        case 'p': prompt = optarg; break;
        case 'n': ok = cli_parse_long(optarg, 1, 1 << 24, &max_tokens); break;
        case 't': ok = cli_parse_long(optarg, 1, 4096, &threads); break;
        case 'v': verbose = true; break;
        case O_TEMP: ok = parse_float(optarg, 0, 100, &sp.temperature); break;
        case O_TOPP: ok = parse_float(optarg, 0, 1, &sp.top_p); break;
        case O_TOPK: ok = cli_parse_long(optarg, 0, 1 << 24, &top_k); break;
        case O_MINP: ok = parse_float(optarg, 0, 1, &sp.min_p); break;
        case O_REP: ok = parse_float(optarg, 0, 100, &sp.repetition_penalty); break;
        case O_PRES: ok = parse_float(optarg, -2, 2, &sp.presence_penalty); break;
        case O_FREQ: ok = parse_float(optarg, -2, 2, &sp.frequency_penalty); break;
        case O_SEED: ok = cli_parse_long(optarg, 0, 0x7fffffffffffffffL, &seed); break;
        case O_CTX: ok = cli_parse_long(optarg, 1, 1 << 24, &n_ctx); break;
        case O_NOEOS: ignore_eos = true; break;
        case O_STOP:
            ok = n_stop < 16 && *optarg;
            if (ok)
                stops[n_stop++] = optarg;
            break;
        case 'h': fputs(generate_help, stdout); return 0;
        default:
            if (cli_config_option(c, optarg, &ca))
                break;
            return cli_usage("generate", "unknown option");
        }
        if (!ok)
            return cli_usage("generate", "bad value \"%s\" (see the ranges in --help)", optarg ? optarg : "");
    }
    if (!model || !prompt)
        return cli_usage("generate", "--model and --prompt are required");
    ia_config *cfg = NULL;
    int st = cli_config_load("generate", &ca, &cfg);
    if (st)
        return st;
    char *text = !strcmp(prompt, "-") ? read_stdin() : strdup(prompt);
    if (!text) {
        ia_config_free(cfg);
        return cli_fail(0, "cannot read the prompt");
    }
    sp.top_k = (int)top_k;
    sp.seed = (uint64_t)seed;
    ia_lm *lm = NULL;
    ia_session *s = NULL;
    ia_i32vec ids = {0};
    const double t0 = cli_now();
    ia_status rc = ia__lm_load(model, ca.device, (int)threads, &lm);
    const double t_load = cli_now() - t0;
    if (!rc)
        rc = ia__bpe_encode(lm->tok, text, strlen(text), true, false, &ids);
    if (!rc)
        rc = ia__session_new(lm->dec, (int)n_ctx, &s);
    ia_gen_result res = {0};
    if (!rc) {
        const ia_gen_params gp = {.sampling = sp, .max_tokens = (int)max_tokens, .stop = stops, .n_stop = n_stop,
                                  .ignore_eos = ignore_eos};
        rc = ia__lm_generate(lm, s, ids.v, (int)ids.n, &gp, write_out, NULL, &res);
        putchar('\n');
    }
    int ret = 0;
    if (rc)
        ret = cli_fail(rc, "generate with %s", model);
    else if (verbose) {
        const double gen_s = res.total_s - res.first_token_s;
        fprintf(stderr, "%s: load %.2f s; prompt %d tokens, first token after %.1f ms; %d tokens in %.2f s "
                "(%.1f tokens/s after the first); finish: %s\n", model, t_load, res.prompt_tokens,
                res.first_token_s * 1e3, res.completion_tokens, res.total_s,
                res.completion_tokens > 1 && gen_s > 0 ? (res.completion_tokens - 1) / gen_s : 0.0, res.finish_reason);
    }
    ia__i32vec_free(&ids);
    ia__session_free(s);
    ia__lm_free(lm);
    free(text);
    ia_config_free(cfg);
    return ret;
}
