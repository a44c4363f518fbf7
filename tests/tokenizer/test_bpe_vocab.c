/*
 * The BPE tokenizer (src/tokenizer/bpe.c) against llama.cpp's tokenizer
 * test vectors: models/ggml-vocab-NAME.gguf (tokenizer metadata only, no
 * tensors) with NAME.gguf.inp (inputs separated by a
 * "\n__ggml_vocab_test__\n" line) and NAME.gguf.out (one line of ids per
 * input), which llama.cpp's tests/test-tokenizer-0.py made with Hugging
 * Face `tokenizers` on the models' own tokenizer.json (encode without
 * special tokens). Every vocabulary whose tokenizer we implement must give
 * the same ids for every input; the others are listed as not supported.
 * Each file's inputs are also encoded from two threads at once (the
 * tokenizer is shared read-only) and decoded back.
 *
 * Usage: test_bpe_vocab LLAMA_CPP_DIR (scripts/fetch-llama-cpp-src.sh
 * prints it). Prints a table: vocabulary, tokenizer, cases passed.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>

#include "model/gguf-impl.h"
#include "test.h"
#include "tokenizer/bpe.h"

/* Must load and pass: the tokenizers of the decoders we run. */
static const char *const REQUIRED[] = {
    "gpt-2", "llama-bpe", "qwen2", "llama-spm", "phi-3", "starcoder",
    "deepseek-llm", "deepseek-coder", "command-r", "mpt", "refact", "qwen35", "falcon",
};

typedef struct vcase {
    char *text;
    size_t len;
    int32_t *ids;
    size_t n;
} vcase;

static char *slurp(const char *path, size_t *len)
{
    char *s;
    return ia__read_file(path, &s, len) == IA_OK ? s : NULL;
}

/* The .inp/.out pair as llama.cpp's test-tokenizer-0.cpp reads it. */
static vcase *read_cases(const char *gguf, size_t *n_cases)
{
    char path[1024];
    size_t ilen, olen;
    snprintf(path, sizeof path, "%s.inp", gguf);
    char *inp = slurp(path, &ilen);
    snprintf(path, sizeof path, "%s.out", gguf);
    char *out = slurp(path, &olen);
    if (!inp || !out) {
        ia__free(inp);
        ia__free(out);
        return NULL;
    }
    static const char sep[] = "\n__ggml_vocab_test__\n";
    vcase *cs = NULL;
    size_t n = 0, pos = 0;
    while (pos < ilen) {
        char *next = strstr(inp + pos, sep);
        size_t end = next ? (size_t)(next - inp) : ilen;
        cs = realloc(cs, (n + 1) * sizeof *cs);
        cs[n].len = end - pos;
        cs[n].text = malloc(cs[n].len + 1);
        memcpy(cs[n].text, inp + pos, cs[n].len);
        cs[n].text[cs[n].len] = '\0';
        cs[n].ids = NULL;
        cs[n].n = 0;
        n++;
        pos = next ? end + sizeof sep - 1 : ilen;
    }
    size_t line = 0;
    for (char *p = out, *nl; p < out + olen && line < n; p = nl + 1, line++) {
        nl = strchr(p, '\n');
        if (!nl)
            nl = out + olen;
        for (char *q = p; q < nl;) {
            char *end;
            long v = strtol(q, &end, 10);
            if (end == q) {
                q++;
                continue;
            }
            cs[line].ids = realloc(cs[line].ids, (cs[line].n + 1) * sizeof *cs[line].ids);
            cs[line].ids[cs[line].n++] = (int32_t)v;
            q = end;
        }
    }
    ia__free(inp);
    ia__free(out);
    if (line != n) {
        fprintf(stderr, "%s: %zu inputs but %zu output lines\n", gguf, n, line);
        for (size_t i = 0; i < n; i++) {
            free(cs[i].text);
            free(cs[i].ids);
        }
        free(cs);
        return NULL;
    }
    *n_cases = n;
    return cs;
}

typedef struct run_args {
    const ia_bpe *b;
    const vcase *cs;
    size_t n;
    size_t passed, roundtrip;
    int verbose;
} run_args;

static void *run_cases(void *p)
{
    run_args *a = p;
    ia_i32vec ids = {0};
    char buf[65536];
    for (size_t i = 0; i < a->n; i++) {
        const vcase *c = &a->cs[i];
        ids.n = 0;
        ia_status st = ia__bpe_encode(a->b, c->text, c->len, false, false, &ids);
        bool same = st == IA_OK && ids.n == c->n && (!c->n || !memcmp(ids.v, c->ids, c->n * sizeof *c->ids));
        a->passed += same;
        if (!same && a->verbose) {
            fprintf(stderr, "  input %zu \"%s\":\n    want", i, c->text);
            for (size_t k = 0; k < c->n; k++)
                fprintf(stderr, " %d", c->ids[k]);
            fprintf(stderr, "\n    got ");
            for (size_t k = 0; k < ids.n; k++)
                fprintf(stderr, " %d", ids.v[k]);
            fprintf(stderr, "%s\n", st ? ia_errmsg() : "");
        }
        size_t len;
        if (same && ia__bpe_decode(a->b, ids.v, ids.n, false, buf, sizeof buf, &len) == IA_OK &&
            len == c->len && !memcmp(buf, c->text, len))
            a->roundtrip++;
    }
    ia__i32vec_free(&ids);
    return NULL;
}

static bool required(const char *name)
{
    for (size_t i = 0; i < IA_ARRAY_LEN(REQUIRED); i++)
        if (!strcmp(name, REQUIRED[i]))
            return true;
    return false;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s LLAMA_CPP_DIR\n", argv[0]);
        return 2;
    }
    char models[1024];
    snprintf(models, sizeof models, "%s/models", argv[1]);
    DIR *d = opendir(models);
    CHECK_MSG(d != NULL, "cannot open %s", models);
    if (!d)
        return test_summary("test_bpe_vocab");
    char *names[64];
    size_t n_names = 0;
    for (struct dirent *e; (e = readdir(d)) && n_names < IA_ARRAY_LEN(names);) {
        size_t l = strlen(e->d_name);
        if (!strncmp(e->d_name, "ggml-vocab-", 11) && l > 16 && !strcmp(e->d_name + l - 9, ".gguf.inp"))
            names[n_names++] = strndup(e->d_name + 11, l - 11 - 9);
    }
    closedir(d);
    qsort(names, n_names, sizeof *names, by_name);
    size_t total = 0, total_passed = 0, n_required = 0;
    printf("%-16s %-44s %s\n", "vocabulary", "tokenizer", "cases passed (decode round trips)");
    for (size_t v = 0; v < n_names; v++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/ggml-vocab-%s.gguf", models, names[v]);
        size_t n = 0;
        vcase *cs = read_cases(path, &n);
        CHECK_MSG(cs != NULL, "%s: cannot read the .inp/.out pair", path);
        ia_gguf *g = NULL;
        ia_bpe *b = NULL;
        ia_status st = ia__gguf_open(path, &g);
        CHECK_MSG(st == IA_OK, "%s: %s", path, ia_errmsg());
        if (st == IA_OK)
            st = ia__bpe_from_gguf(g, &b);
        ia__gguf_close(g); /* the tokenizer must not need the file */
        bool req = required(names[v]);
        n_required += req;
        if (st != IA_OK || !cs) {
            char why[200];
            snprintf(why, sizeof why, "%s", ia_errmsg());
            char *at = strstr(why, ".gguf: "); /* shorten the path away */
            printf("%-16s not supported: %s\n", names[v], at ? at + 7 : why);
            CHECK_MSG(!req, "%s must load: %s", names[v], why);
        } else {
            run_args a[2] = {{b, cs, n, 0, 0, 1}, {b, cs, n, 0, 0, 0}};
            pthread_t th;
            bool threaded = pthread_create(&th, NULL, run_cases, &a[1]) == 0;
            run_cases(&a[0]);
            if (threaded)
                pthread_join(th, NULL);
            printf("%-16s %-44s %zu/%zu (%zu)\n", names[v], ia__bpe_describe(b), a[0].passed, n,
                   a[0].roundtrip);
            CHECK_MSG(a[0].passed == n, "%s: %zu of %zu inputs differ from the reference ids",
                      names[v], n - a[0].passed, n);
            CHECK_MSG(!threaded || a[1].passed == a[0].passed, "%s: another thread got other ids", names[v]);
            total += n;
            total_passed += a[0].passed;
        }
        ia__bpe_free(b);
        for (size_t i = 0; cs && i < n; i++) {
            free(cs[i].text);
            free(cs[i].ids);
        }
        free(cs);
        free(names[v]);
    }
    printf("total: %zu/%zu cases in the supported vocabularies\n", total_passed, total);
    CHECK_MSG(n_required == IA_ARRAY_LEN(REQUIRED), "found %zu of the %zu required vocabularies",
              n_required, IA_ARRAY_LEN(REQUIRED));
    return test_summary("test_bpe_vocab");
}
