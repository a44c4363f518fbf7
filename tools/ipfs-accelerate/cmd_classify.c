/*
 * `ipfs-accelerate rerank`, `classify` and `embed-sparse`: the CLI face of
 * the models with a task head: sequence classification (cross-encoders
 * and classifiers, ia_model_classify) and masked-LM SPLADE vectors. Texts
 * come one per line from a file or stdin and/or from --text; results go
 * out as JSON Lines.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char rerank_help[] =
    "Usage: ipfs-accelerate rerank --model DIR --query TEXT [FILE|-] [--text DOC]...\n"
    "\n"
    "Score each document (one per line of FILE, or stdin with '-' or when no\n"
    "--text is given, plus each --text) against the query with a cross-encoder\n"
    "(a *ForSequenceClassification model with one label) and print JSON Lines\n"
    "{\"index\", \"score\"} from the most to the least relevant.\n"
    "\n"
    "  -m, --model DIR         cross-encoder model folder\n"
    "  -Q, --query TEXT        the query\n"
    "  -t, --text DOC          a document (repeatable)\n"
    "  -n, --top-n N           print only the N best\n"
    "      --raw-scores        the model's logits instead of their sigmoid\n"
    "      --return-text       add each document's \"text\"\n"
    "      --max-seq-length N  truncate each pair to N tokens (default: the model's)\n"
    "  -j, --threads N         worker threads (default: all cores)\n"
    "      --device NAME       as for embed\n";

static const char classify_help[] =
    "Usage: ipfs-accelerate classify --model DIR [FILE|-] [--text TEXT]...\n"
    "\n"
    "Classify texts (one per line of FILE, or stdin with '-' or when no --text\n"
    "is given, plus each --text) with a *ForSequenceClassification model and\n"
    "print JSON Lines {\"index\", \"label\", \"scores\": {label: score}} in input\n"
    "order; \"label\" is the best one.\n"
    "\n"
    "  -m, --model DIR         classifier model folder\n"
    "  -t, --text TEXT         a text (repeatable)\n"
    "      --pairs             each line is TEXT<tab>TEXT, classified as a pair\n"
    "      --raw-scores        the model's logits instead of softmax (sigmoid for one label)\n"
    "      --max-seq-length N  truncate to N tokens (default: the model's)\n"
    "  -j, --threads N         worker threads (default: all cores)\n"
    "      --device NAME       as for embed\n";

static const char sparse_help[] =
    "Usage: ipfs-accelerate embed-sparse --model DIR [FILE|-] [--text TEXT]...\n"
    "\n"
    "SPLADE vectors of texts (one per line of FILE, or stdin with '-' or when no\n"
    "--text is given, plus each --text) from a *ForMaskedLM model: JSON Lines\n"
    "{\"index\", \"indices\", \"values\"} with the non-zero token weights, in input order.\n"
    "\n"
    "  -m, --model DIR         masked-LM model folder (e.g. a SPLADE model)\n"
    "  -t, --text TEXT         a text (repeatable)\n"
    "      --max-seq-length N  truncate to N tokens (default: the model's)\n"
    "  -j, --threads N         worker threads (default: all cores)\n"
    "      --device NAME       as for embed\n";

typedef struct texts {
    char **v;
    size_t n, cap;
} texts;

static bool texts_push(texts *t, const char *s, size_t len)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        char **v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return false;
        t->v = v;
        t->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return false;
    memcpy(copy, s, len);
    copy[len] = '\0';
    t->v[t->n++] = copy;
    return true;
}

static void texts_free(texts *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i]);
    free(t->v);
    *t = (texts){0};
}

/* The lines of path ("-": stdin) appended to t. */
static int read_lines(const char *path, texts *t)
{
    FILE *in = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!in)
        return cli_fail(0, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while (!rc && (len = getline(&line, &cap, in)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (!texts_push(t, line, (size_t)len))
            rc = cli_fail(0, "out of memory");
    }
    if (!rc && ferror(in))
        rc = cli_fail(0, "%s: read error", path);
    free(line);
    if (in != stdin)
        fclose(in);
    return rc;
}

/* What both commands share: options, inputs and the model. */
typedef struct run {
    const char *model_dir, *query, *device;
    long threads, max_seq, top_n;
    bool raw, return_text, pairs;
    texts in;
    ia_model *model;
} run;

/* kind: 'r' rerank, 'c' classify, 's' embed-sparse */
static int parse(const char *cmd, const char *help, char kind, int argc, char **argv, run *r)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"query", required_argument, 0, 'Q'},
        {"text", required_argument, 0, 't'}, {"top-n", required_argument, 0, 'n'},
        {"raw-scores", no_argument, 0, 'R'}, {"return-text", no_argument, 0, 'T'},
        {"pairs", no_argument, 0, 'P'}, {"max-seq-length", required_argument, 0, 'L'},
        {"threads", required_argument, 0, 'j'}, {"device", required_argument, 0, 'D'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    bool from_text = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:Q:t:n:j:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': r->model_dir = optarg; break;
        case 'Q': r->query = optarg; break;
        case 't':
            if (!texts_push(&r->in, optarg, strlen(optarg)))
                return cli_fail(0, "out of memory");
            from_text = true;
            break;
        case 'n':
            if (!cli_parse_long(optarg, 1, 1L << 30, &r->top_n))
                return cli_usage(cmd, "--top-n must be a whole number >= 1, not '%s'", optarg);
            break;
        case 'R': r->raw = true; break;
        case 'T': r->return_text = true; break;
        case 'P': r->pairs = true; break;
        case 'L':
            if (!cli_parse_long(optarg, 2, 1 << 20, &r->max_seq))
                return cli_usage(cmd, "--max-seq-length must be a whole number >= 2, not '%s'", optarg);
            break;
        case 'j':
            if (!cli_parse_long(optarg, 0, 4096, &r->threads))
                return cli_usage(cmd, "--threads must be a whole number from 0 to 4096, not '%s'", optarg);
            break;
        case 'D': r->device = optarg; break;
        case 'h': fputs(help, stdout); return -2;
        default: return cli_usage(cmd, "bad option");
        }
    }
    if (!r->model_dir)
        return cli_usage(cmd, "--model DIR is required");
    const bool rerank = kind == 'r';
    if (rerank && !r->query)
        return cli_usage(cmd, "--query TEXT is required");
    if ((kind != 'c' && r->pairs) || (!rerank && (r->query || r->top_n || r->return_text)) || (kind == 's' && r->raw))
        return cli_usage(cmd, "--query, --top-n and --return-text are for rerank, --pairs for classify, "
                              "--raw-scores for both");
    if (argc - optind > 1)
        return cli_usage(cmd, "at most one input FILE, got %d", argc - optind);
    const char *path = optind < argc ? argv[optind] : from_text ? NULL : "-";
    int rc = path ? read_lines(path, &r->in) : 0;
    ia_config *cfg; /* configuration files, environment, --device */
    cli_config_args ca = {.device = r->device};
    if (rc || (rc = cli_config_load(cmd, &ca, &cfg)))
        return rc;
    ia_config_free(cfg);
    ia_model_options mo = {.n_threads = (int)r->threads, .device = r->device, .max_seq_length = (size_t)r->max_seq,
                           .pooling = kind == 's' ? "splade" : NULL};
    ia_status st = ia_model_load(r->model_dir, &mo, &r->model);
    if (st)
        return cli_fail(st, "cannot load model");
    if (kind == 's')
        return 0;
    if (!ia_model_num_labels(r->model))
        return cli_fail(0, "%s: not a classification model (config.json names no *ForSequenceClassification "
                        "architecture); use embed", r->model_dir);
    if (rerank && ia_model_num_labels(r->model) != 1)
        return cli_fail(0, "%s: a reranker has one label, this model has %d; use classify", r->model_dir,
                        ia_model_num_labels(r->model));
    return 0;
}

static void run_free(run *r)
{
    texts_free(&r->in);
    ia_model_free(r->model);
}

static const float *sort_scores;

static int by_score_desc(const void *a, const void *b)
{
    const float x = sort_scores[*(const size_t *)a], y = sort_scores[*(const size_t *)b];
    return x > y ? -1 : x < y ? 1 : (*(const size_t *)a > *(const size_t *)b) - (*(const size_t *)a < *(const size_t *)b);
}

int cmd_rerank(int argc, char **argv)
{
    run r = {0};
    int rc = parse("rerank", rerank_help, 'r', argc, argv, &r);
    if (rc) {
        run_free(&r);
        return rc == -2 ? 0 : rc;
    }
    const size_t n = r.in.n;
    const char **queries = malloc((n ? n : 1) * sizeof *queries);
    float *scores = malloc((n ? n : 1) * sizeof *scores);
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!queries || !scores || !order)
        rc = cli_fail(0, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        queries[i] = r.query;
        order[i] = i;
    }
    ia_classify_options co = IA_CLASSIFY_OPTIONS_INIT;
    co.raw_scores = r.raw;
    ia_status st = rc ? IA_OK
                      : ia_model_classify(r.model, queries, NULL, (const char *const *)r.in.v, NULL, n, &co, scores, NULL);
    if (st)
        rc = cli_fail(st, "reranking failed");
    if (!rc) {
        sort_scores = scores;
        qsort(order, n, sizeof *order, by_score_desc);
        const size_t shown = r.top_n && (size_t)r.top_n < n ? (size_t)r.top_n : n;
        for (size_t k = 0; k < shown; k++) {
            printf("{\"index\":%zu,\"score\":%.9g", order[k], scores[order[k]]);
            if (r.return_text) {
                fputs(",\"text\":", stdout);
                cli_print_json_string(r.in.v[order[k]]);
            }
            puts("}");
        }
    }
    free(queries);
    free(scores);
    free(order);
    run_free(&r);
    return rc;
}

int cmd_classify(int argc, char **argv)
{
    run r = {0};
    int rc = parse("classify", classify_help, 'c', argc, argv, &r);
    if (rc) {
        run_free(&r);
        return rc == -2 ? 0 : rc;
    }
    const size_t n = r.in.n;
    const int L = ia_model_num_labels(r.model);
    char **seconds = r.pairs ? calloc(n ? n : 1, sizeof *seconds) : NULL;
    float *scores = malloc((n ? n : 1) * (size_t)L * sizeof *scores);
    if (!scores || (r.pairs && !seconds))
        rc = cli_fail(0, "out of memory");
    for (size_t i = 0; !rc && r.pairs && i < n; i++) { /* split at the tab, in place */
        char *tab = strchr(r.in.v[i], '\t');
        if (!tab)
            rc = cli_fail(0, "input %zu: no tab between the two texts of the pair", i);
        else
            *tab = '\0', seconds[i] = tab + 1;
    }
    ia_classify_options co = IA_CLASSIFY_OPTIONS_INIT;
    co.raw_scores = r.raw;
    ia_status st = rc ? IA_OK
                      : ia_model_classify(r.model, (const char *const *)r.in.v, NULL, (const char *const *)seconds,
                                          NULL, n, &co, scores, NULL);
    if (st)
        rc = cli_fail(st, "classifying failed");
    for (size_t i = 0; !rc && i < n; i++) {
        const float *s = scores + i * (size_t)L;
        int best = 0;
        for (int k = 1; k < L; k++)
            best = s[k] > s[best] ? k : best;
        printf("{\"index\":%zu,\"label\":", i);
        cli_print_json_string(ia_model_label(r.model, best));
        fputs(",\"scores\":{", stdout);
        for (int k = 0; k < L; k++) {
            if (k)
                putchar(',');
            cli_print_json_string(ia_model_label(r.model, k));
            printf(":%.9g", s[k]);
        }
        puts("}}");
    }
    free(seconds);
    free(scores);
    run_free(&r);
    return rc;
}

int cmd_embed_sparse(int argc, char **argv)
{
    run r = {0};
    int rc = parse("embed-sparse", sparse_help, 's', argc, argv, &r);
    if (rc) {
        run_free(&r);
        return rc == -2 ? 0 : rc;
    }
    enum { CHUNK = 64 }; /* texts per call: their vectors are vocabulary-sized */
    const size_t n = r.in.n, V = (size_t)ia_model_dim(r.model);
    float *vec = malloc(CHUNK * V * sizeof *vec);
    ia_embed_options eo = IA_EMBED_OPTIONS_INIT;
    eo.normalize = IA_NORMALIZE_NO;
    if (!vec)
        rc = cli_fail(0, "out of memory");
    for (size_t i0 = 0; !rc && i0 < n; i0 += CHUNK) {
        const size_t m = n - i0 < CHUNK ? n - i0 : CHUNK;
        ia_status st = ia_model_embed_opts(r.model, (const char *const *)r.in.v + i0, NULL, m, &eo, vec, NULL);
        if (st) {
            rc = cli_fail(st, "embedding failed");
            break;
        }
        for (size_t i = 0; i < m; i++) {
            const float *v = vec + i * V;
            printf("{\"index\":%zu,\"indices\":[", i0 + i);
            const char *sep = "";
            for (size_t k = 0; k < V; k++)
                if (v[k] != 0.0f)
                    printf("%s%zu", sep, k), sep = ",";
            fputs("],\"values\":[", stdout);
            sep = "";
            for (size_t k = 0; k < V; k++)
                if (v[k] != 0.0f)
                    printf("%s%.9g", sep, v[k]), sep = ",";
            puts("]}");
        }
    }
    free(vec);
    run_free(&r);
    return rc;
}
