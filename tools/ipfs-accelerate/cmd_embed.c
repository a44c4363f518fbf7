/*
 * `ipfs-accelerate embed` and `ipfs-accelerate model info`: the CLI face of
 * the embedding engine. Texts come one per line from a file or stdin and/or
 * from --text; embeddings go out as JSON Lines or a float32 .npy matrix.
 * Input is read and embedded in chunks, so stdin can be a long stream.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "model/model-impl.h"

static const char embed_help[] =
    "Usage: ipfs-accelerate embed --model DIR [FILE|-] [--text TEXT]...\n"
    "\n"
    "Embed texts, one per line of FILE (or stdin with '-' or when no text is\n"
    "given), plus each --text. Prints JSON Lines {\"index\", \"embedding\"} in\n"
    "input order, or writes them to --output.\n"
    "\n"
    "  -m, --model DIR         model folder (Hugging Face layout)\n"
    "  -t, --text TEXT         a text to embed (repeatable)\n"
    "  -o, --output FILE       write here; FILE.npy gives a float32 (n, dim) matrix\n"
    "      --format jsonl|npy  output format (default: from --output's suffix, else jsonl)\n"
    "  -b, --batch-size N      texts handed to the engine at a time (default 256)\n"
    "  -j, --threads N         worker threads (default: all cores)\n"
    "      --max-seq-length N  truncate texts to N tokens (default: the model's)\n"
    "      --dimensions N      Matryoshka: the first N values of each vector\n"
    "                          (normalized again when the model normalizes)\n"
    "      --chunk-tokens N    cut a text over N tokens into windows of N, embedded\n"
    "                          apart and averaged (default: truncate at the limit)\n"
    "      --chunk-overlap N   tokens each window repeats of the one before (default 0)\n"
    "      --prompt-name NAME  put the model's prompt NAME before every text\n"
    "                          (config_sentence_transformers.json; default: its\n"
    "                          default_prompt_name, \"\" for none)\n"
    "      --device NAME       auto, cpu, cuda[:N], rocm[:N], mps, openvino, vulkan[:N],\n"
    "                          opencl[:N] (default: hardware.device, else auto); an\n"
    "                          unusable device falls back to the CPU with a warning;\n"
    "                          auto asks the performance model where it has a choice\n"
    "                          (--verbose says why)\n"
    "      --no-fallback       fail instead of falling back to the CPU\n"
    "      --precision P       fp32 (default), int8 (AVX2 or better; cosine >= 0.989\n"
    "                          to fp32 on our test texts) or bf16 (AVX512_BF16;\n"
    "                          >= 0.9999): opt-in, faster; else fp32\n"
    "  -q, --quiet             no progress or summary on stderr\n"
    "  -v, --verbose           say which backend and precision computed\n"
    "      --cluster URL       have the workers of a NATS JetStream cluster embed\n"
    "                          (nats://HOST:PORT; docs/distributed.md): same output,\n"
    "                          shards of --batch-size texts, resumable by rerunning\n"
    "      --priority N        with --cluster: 0 (default) to 2, higher levels are\n"
    "                          taken first\n"
    "      --max-queue N       with --cluster: the task queue's bound when this run\n"
    "                          creates it (default 100000); a full queue is waited on\n"
    CLI_NATS_HELP;

typedef struct text_batch {
    char **texts;
    size_t *lens;
    size_t n, cap;
} text_batch;

static bool batch_push(text_batch *b, const char *s, size_t len)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        char **t = realloc(b->texts, cap * sizeof *t);
        if (t)
            b->texts = t;
        size_t *l = realloc(b->lens, cap * sizeof *l);
        if (l)
            b->lens = l;
        if (!t || !l)
            return false;
        b->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return false;
    memcpy(copy, s, len);
    copy[len] = '\0';
    b->texts[b->n] = copy;
    b->lens[b->n++] = len;
    return true;
}

static void batch_clear(text_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->texts[i]);
    b->n = 0;
}

static void batch_free(text_batch *b)
{
    batch_clear(b);
    free(b->texts);
    free(b->lens);
    *b = (text_batch){0};
}

typedef struct output {
    FILE *f;
    bool npy;
    int dim;
    size_t rows;
    long header_pos;
} output;

/* .npy v1.0: magic, header length, a Python dict literal padded with
 * spaces to a multiple of 64 bytes. Rewritten at the end with the final
 * row count; the padding leaves room for any count. */
static void npy_header(output *o)
{
    char dict[128];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %d), }",
                     o->rows, o->dim);
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    if (padded < 128)
        padded = 128;
    unsigned short hl = (unsigned short)(padded - 10);
    fwrite("\x93NUMPY\x01\x00", 1, 8, o->f);
    fputc(hl & 0xff, o->f);
    fputc(hl >> 8, o->f);
    fwrite(dict, 1, (size_t)n, o->f);
    for (size_t i = (size_t)n; i < padded - 11; i++)
        fputc(' ', o->f);
    fputc('\n', o->f);
}

static void write_rows(output *o, const float *v, size_t n, size_t first_index)
{
    if (o->npy) {
        fwrite(v, sizeof(float), n * (size_t)o->dim, o->f);
    } else {
        for (size_t i = 0; i < n; i++) {
            fprintf(o->f, "{\"index\":%zu,\"embedding\":[", first_index + i);
            for (int j = 0; j < o->dim; j++)
                fprintf(o->f, "%s%.9g", j ? "," : "", v[i * (size_t)o->dim + j]);
            fputs("]}\n", o->f);
        }
    }
    o->rows += n;
}

static size_t count_lines(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char buf[1 << 16];
    size_t n = 0, got, last = '\n';
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        for (size_t i = 0; i < got; i++)
            n += buf[i] == '\n';
        last = (unsigned char)buf[got - 1];
    }
    fclose(f);
    return n + (last != '\n');
}

static void progress(size_t done, size_t total, double secs, bool final)
{
    double rate = secs > 0 ? (double)done / secs : 0;
    if (total) {
        int width = 30, filled = (int)((double)width * (double)done / (double)total);
        fprintf(stderr, "\r[%.*s%*s] %zu/%zu texts, %.1f sentences/s", filled,
                "==============================", width - filled, "", done, total, rate);
    } else {
        fprintf(stderr, "\r%zu texts, %.1f sentences/s", done, rate);
    }
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

/* The --cluster hook: the workers embed (cmd_cluster.c), this process
 * writes their vectors as a local run would. */
static void cluster_rows(void *ud, const float *vecs, size_t n, int dim)
{
    output *o = ud;
    o->dim = dim;
    write_rows(o, vecs, n, o->rows);
}

static int embed_cluster(cli_cluster_embed *a, const char *out_path, bool npy)
{
    output out = {.f = stdout, .npy = npy};
    if (out_path && !(out.f = fopen(out_path, "wb")))
        return cli_fail(0, "%s: %s", out_path, strerror(errno));
    if (npy)
        npy_header(&out);
    a->rows = cluster_rows;
    a->ud = &out;
    int rc = cli_embed_cluster(a);
    if (npy && !rc) { /* final shape */
        fflush(out.f);
        if (fseek(out.f, 0, SEEK_SET) == 0)
            npy_header(&out);
    }
    if (out.f != stdout && fclose(out.f) != 0 && !rc)
        rc = cli_fail(0, "%s: %s", out_path, strerror(errno));
    return rc;
}

/* A usage error after --text has allocated: free, then report. */
#define EMBED_USAGE(...)                                                   \
    do {                                                                   \
        batch_free(&extra);                                                \
        return cli_usage("embed", __VA_ARGS__);                            \
    } while (0)

int cmd_embed(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"text", required_argument, 0, 't'},
        {"output", required_argument, 0, 'o'}, {"format", required_argument, 0, 'F'},
        {"batch-size", required_argument, 0, 'b'}, {"threads", required_argument, 0, 'j'},
        {"max-seq-length", required_argument, 0, 'L'}, {"device", required_argument, 0, 'D'},
        {"quiet", no_argument, 0, 'q'}, {"verbose", no_argument, 0, 'v'},
        {"no-fallback", no_argument, 0, CLI_OPT_NO_FALLBACK},
        {"precision", required_argument, 0, 'P'}, {"prompt-name", required_argument, 0, 'N'},
        {"dimensions", required_argument, 0, 'M'}, {"chunk-tokens", required_argument, 0, 'K'},
        {"chunk-overlap", required_argument, 0, 'O'}, {"cluster", required_argument, 0, 'C'},
        {"priority", required_argument, 0, 'R'}, {"max-queue", required_argument, 0, 'Q'},
        CLI_NATS_LONGOPTS,
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *model_dir = NULL, *out_path = NULL, *format = NULL, *device = NULL;
    const char *precision = NULL, *prompt_name = NULL, *cluster = NULL;
    cli_config_args ca = {0};
    long batch_size = 256, threads = 0, max_seq = 0, dims = 0, chunk = 0, overlap = 0, priority = -1, max_queue = 0;
    bool quiet = false, verbose = false;
    text_batch extra = {0};
    cli_nats_auth auth = {0};
    bool auth_given = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:t:o:b:j:qvh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_dir = optarg; break;
        case 't':
            if (!batch_push(&extra, optarg, strlen(optarg)))
                return cli_fail(0, "out of memory");
            break;
        case 'o': out_path = optarg; break;
        case 'F': format = optarg; break;
        case 'b':
            if (!cli_parse_long(optarg, 1, 1 << 20, &batch_size))
                EMBED_USAGE("--batch-size must be a whole number from 1 to 1048576, not '%s'", optarg);
            break;
        case 'j':
            if (!cli_parse_long(optarg, 0, 4096, &threads))
                EMBED_USAGE("--threads must be a whole number from 0 to 4096, not '%s'", optarg);
            break;
        case 'L':
            if (!cli_parse_long(optarg, 2, 1 << 20, &max_seq))
                EMBED_USAGE("--max-seq-length must be a whole number >= 2, not '%s'", optarg);
            break;
        case 'D': device = ca.device = optarg; break;
        case CLI_OPT_NO_FALLBACK: ca.no_fallback = true; break;
        case 'P':
            if (strcmp(optarg, "fp32") && strcmp(optarg, "int8") && strcmp(optarg, "bf16"))
                EMBED_USAGE("--precision must be fp32, int8 or bf16, not '%s'", optarg);
            precision = optarg;
            break;
        case 'N': prompt_name = optarg; break;
        case 'M':
            if (!cli_parse_long(optarg, 1, 1 << 20, &dims))
                EMBED_USAGE("--dimensions must be a whole number >= 1, not '%s'", optarg);
            break;
        case 'K':
            if (!cli_parse_long(optarg, 2, 1 << 20, &chunk))
                EMBED_USAGE("--chunk-tokens must be a whole number >= 2, not '%s'", optarg);
            break;
        case 'O':
            if (!cli_parse_long(optarg, 0, 1 << 20, &overlap))
                EMBED_USAGE("--chunk-overlap must be a whole number >= 0, not '%s'", optarg);
            break;
        case 'q': quiet = true; break;
        case 'v': verbose = true; break;
        case 'C': cluster = optarg; break;
        case 'R':
            if (!cli_parse_long(optarg, 0, IA_CLUSTER_PRIORITIES - 1, &priority))
                EMBED_USAGE("--priority must be a whole number from 0 to %d, not '%s'", IA_CLUSTER_PRIORITIES - 1,
                            optarg);
            break;
        case 'Q':
            if (!cli_parse_long(optarg, 1, 1L << 40, &max_queue))
                EMBED_USAGE("--max-queue must be a whole number >= 1, not '%s'", optarg);
            break;
        case 'h': fputs(embed_help, stdout); return 0;
        default:
            if (cli_nats_option(c, optarg, &auth)) {
                auth_given = true;
                break;
            }
            EMBED_USAGE("bad option");
        }
    }
    if (!model_dir)
        EMBED_USAGE("--model DIR is required");
    if (!cluster && (priority >= 0 || max_queue || auth_given))
        EMBED_USAGE("--priority, --max-queue and the --nats-* options go with --cluster");
    if (cluster && chunk)
        EMBED_USAGE("--chunk-tokens does not go with --cluster yet");
    if (argc - optind > 1)
        EMBED_USAGE("at most one input FILE, got %d", argc - optind);
    const char *in_path = optind < argc ? argv[optind] : (extra.n ? NULL : "-");
    bool npy;
    if (format)
        npy = !strcmp(format, "npy");
    else
        npy = out_path && strlen(out_path) > 4 && !strcmp(out_path + strlen(out_path) - 4, ".npy");
    if (format && !npy && strcmp(format, "jsonl"))
        EMBED_USAGE("--format must be jsonl or npy, not '%s'", format);
    if (npy && !out_path)
        EMBED_USAGE(".npy output needs --output FILE");
    if (cluster && (precision || max_seq || device || ca.no_fallback || threads))
        EMBED_USAGE("with --cluster the workers choose --threads, --precision, --max-seq-length, --device and "
                    "--no-fallback (see 'ipfs-accelerate worker --help')");

    FILE *in = NULL;
    size_t total = extra.n;
    if (in_path && !strcmp(in_path, "-")) {
        in = stdin;
        total = 0;
    } else if (in_path) {
        if (!(in = fopen(in_path, "rb"))) {
            batch_free(&extra);
            return cli_fail(0, "%s: %s", in_path, strerror(errno));
        }
        total += count_lines(in_path);
    }
    if (cluster) {
        cli_cluster_embed a = {.url = cluster, .model = model_dir, .prompt_name = prompt_name,
                               .dimensions = (int)dims, .priority = priority > 0 ? (int)priority : 0,
                               .max_queue = max_queue, .auth = auth, .batch_size = (size_t)batch_size, .extra = extra.texts,
                               .extra_lens = extra.lens, .n_extra = extra.n, .in = in, .in_path = in_path,
                               .quiet = quiet};
        int rc = embed_cluster(&a, out_path, npy);
        if (in && in != stdin)
            fclose(in);
        batch_free(&extra);
        return rc;
    }

    ia_config *cfg; /* configuration files, environment, --device, --no-fallback */
    int crc = cli_config_load("embed", &ca, &cfg);
    if (crc) {
        if (in && in != stdin)
            fclose(in);
        batch_free(&extra);
        return crc;
    }
    const bool profiling = ia_config_get_bool(cfg, "performance.enable_profiling");
    char chosen[64];
    cli_device_choose(model_dir, device, precision, NULL, verbose, chosen, sizeof chosen);
    ia_config_free(cfg);
    ia_model_options mo = {.n_threads = (int)threads, .device = chosen[0] ? chosen : device,
                           .max_seq_length = (size_t)max_seq, .precision = precision};
    ia_model *model;
    ia_status st = ia_model_load(model_dir, &mo, &model);
    if (st) {
        if (in && in != stdin)
            fclose(in);
        batch_free(&extra);
        return cli_fail(st, "cannot load model");
    }
    ia_model_info info;
    ia_model_get_info(model, &info);
    if (verbose)
        fprintf(stderr, "ipfs-accelerate: %s model, %d dims, backend %s, device %s, precision %s, max %zu tokens (%s)\n",
                info.architecture, info.dim, info.backend, info.device, info.precision, info.max_seq_length,
                info.backend_reason);

    if (dims > info.dim) {
        ia_model_free(model);
        if (in && in != stdin)
            fclose(in);
        batch_free(&extra);
        return cli_usage("embed", "--dimensions %ld is more than the model's %d", dims, info.dim);
    }
    const int dim = dims ? (int)dims : info.dim;
    output out = {.f = stdout, .npy = npy, .dim = dim};
    if (out_path && !(out.f = fopen(out_path, "wb"))) {
        int e = errno;
        ia_model_free(model);
        if (in && in != stdin)
            fclose(in);
        batch_free(&extra);
        return cli_fail(0, "%s: %s", out_path, strerror(e));
    }
    if (npy)
        npy_header(&out);

    bool show = !quiet && cli_stderr_is_tty();
    float *vecs = malloc((size_t)batch_size * (size_t)dim * sizeof(float));
    text_batch b = {0};
    ia_embed_stats stats = {0};
    double t0 = cli_now();
    ia_embed_options eo = IA_EMBED_OPTIONS_INIT;
    eo.prompt_name = prompt_name;
    eo.dimensions = (int)dims;
    eo.chunk_tokens = (size_t)chunk;
    eo.chunk_overlap = (size_t)overlap;
    const char *prompt_text;
    int rc = !vecs                                            ? cli_fail(0, "out of memory")
             : ia_model_prompt(model, prompt_name, &prompt_text) ? cli_fail(0, "%s", ia_errmsg())
                                                                 : 0;
    size_t done = 0;
    char *line = NULL;
    size_t line_cap = 0;

    /* --text values first, then the file's lines, batch_size at a time. */
    for (size_t k = 0; k < extra.n && !rc; k += (size_t)batch_size) {
        size_t n = IA_CLI_MIN(extra.n - k, (size_t)batch_size);
        st = ia_model_embed_opts(model, (const char *const *)extra.texts + k, extra.lens + k, n, &eo, vecs, &stats);
        if (st) {
            rc = cli_fail(st, "embedding failed");
            break;
        }
        write_rows(&out, vecs, n, done);
        done += n;
    }
    while (in && !rc) {
        ssize_t len;
        while (b.n < (size_t)batch_size && (len = getline(&line, &line_cap, in)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                len--;
            if (!batch_push(&b, line, (size_t)len)) {
                rc = cli_fail(0, "out of memory");
                break;
            }
        }
        if (rc || b.n == 0)
            break;
        st = ia_model_embed_opts(model, (const char *const *)b.texts, b.lens, b.n, &eo, vecs, &stats);
        if (st) {
            rc = cli_fail(st, "embedding failed");
            break;
        }
        write_rows(&out, vecs, b.n, done);
        done += b.n;
        batch_clear(&b);
        if (show)
            progress(done, total, cli_now() - t0, false);
    }
    if (in && in != stdin && ferror(in) && !rc)
        rc = cli_fail(0, "%s: read error", in_path);
    double secs = cli_now() - t0;
    if (show)
        progress(done, total > done ? total : done, secs, true);

    if (npy && !rc) { /* final shape */
        fflush(out.f);
        if (fseek(out.f, 0, SEEK_SET) == 0)
            npy_header(&out);
    }
    if (out.f != stdout && fclose(out.f) != 0 && !rc)
        rc = cli_fail(0, "%s: %s", out_path, strerror(errno));
    else if (out.f == stdout && fflush(stdout) != 0 && !rc)
        rc = cli_fail(0, "writing the output: %s", strerror(errno));
    if (stats.n_invalid_utf8)
        fprintf(stderr, "ipfs-accelerate: warning: %zu invalid UTF-8 sequence%s replaced by U+FFFD\n",
                stats.n_invalid_utf8, stats.n_invalid_utf8 == 1 ? "" : "s");
    if (stats.n_truncated_texts && !quiet)
        fprintf(stderr, "ipfs-accelerate: note: %zu text%s truncated to %zu tokens\n", stats.n_truncated_texts,
                stats.n_truncated_texts == 1 ? "" : "s", info.max_seq_length);
    ia_model_get_info(model, &info); /* a device that failed mid-run handed the model to the CPU */
    if (!rc && !quiet)
        fprintf(stderr, "ipfs-accelerate: embedded %zu texts (%zu tokens) in %.2f s: %.1f sentences/s, %.0f tokens/s [%s, %s]\n",
                done, stats.n_tokens, secs, secs > 0 ? (double)done / secs : 0,
                secs > 0 ? (double)stats.n_tokens / secs : 0, info.backend, info.precision);
    if (!rc && !quiet && profiling) { /* performance.enable_profiling */
        ia_backend_profile p;
        ia__model_profile(model, &p);
        fprintf(stderr, "ipfs-accelerate: profile: linear layers %.3f s (%ld calls, %.1f GFLOP/s), attention %.3f s, "
                "embeddings/layernorm/pooling %.3f s, of %.2f s\n", p.linear_s, p.linear_calls,
                p.linear_s > 0 ? p.linear_flop / p.linear_s * 1e-9 : 0.0, p.attention_s, p.other_s, secs);
    }
    free(line);
    batch_free(&b);
    batch_free(&extra);
    free(vecs);
    if (in && in != stdin)
        fclose(in);
    ia_model_free(model);
    return rc;
}

static const char info_help[] =
    "Usage: ipfs-accelerate model info [--json] DIR\n"
    "\n"
    "Describe a model folder: architecture, parameter count, dimensions,\n"
    "tokenizer and pooling. Loads the weights, so shape errors show here.\n";

int cmd_model_info(int argc, char **argv)
{
    bool json = false;
    const int rc = cli_parse_json_opts("model info", info_help, argc, argv, &json, NULL);
    if (rc >= 0)
        return rc;
    if (argc - optind != 1)
        return cli_usage("model info", "expected one model folder");
    ia_model *m;
    ia_status st = ia_model_load(argv[optind], NULL, &m);
    if (st)
        return cli_fail(st, "cannot load model");
    ia_model_info i;
    ia_model_get_info(m, &i);
    if (json) {
        printf("{\"path\":\"%s\",\"architecture\":\"%s\",\"parameters\":%zu,\"dim\":%d,"
               "\"layers\":%d,\"heads\":%d,\"hidden_size\":%d,\"intermediate_size\":%d,"
               "\"vocab_size\":%d,\"max_position\":%d,\"max_seq_length\":%zu,\"activation\":\"%s\","
               "\"weights_dtype\":\"%s\",\"tokenizer\":\"%s\",\"pooling\":\"%s\",\"normalize\":%s,"
               "\"backend\":\"%s\",\"precision\":\"%s\",\"device\":\"%s\"}\n",
               i.path, i.architecture, i.n_params, i.dim, i.n_layers, i.n_heads, i.hidden_size,
               i.intermediate_size, i.vocab_size, i.max_position, i.max_seq_length, i.activation,
               i.weights_dtype, i.tokenizer, i.pooling, i.normalize ? "true" : "false", i.backend,
               i.precision, i.device);
    } else {
        printf("path:           %s\n"
               "architecture:   %s\n"
               "parameters:     %zu (%.1f M)\n"
               "embedding dim:  %d\n"
               "layers:         %d (heads %d, hidden %d, intermediate %d, %s)\n"
               "vocabulary:     %d\n"
               "max tokens:     %zu (positions %d)\n"
               "weights dtype:  %s\n"
               "tokenizer:      %s\n"
               "pooling:        %s%s\n"
               "backend:        %s (%s) on %s\n",
               i.path, i.architecture, i.n_params, (double)i.n_params / 1e6, i.dim, i.n_layers,
               i.n_heads, i.hidden_size, i.intermediate_size, i.activation, i.vocab_size,
               i.max_seq_length, i.max_position, i.weights_dtype, i.tokenizer, i.pooling,
               i.normalize ? ", L2-normalized" : "", i.backend, i.precision, i.device);
    }
    ia_model_free(m);
    return 0;
}
