/*
 * Model outputs against external references.
 *
 *   test_model golden MODEL_DIR GOLDEN.npy [N]
 *     embeds the first N (default all) texts of tests/data/sentences.jsonl
 *     and compares each with sentence-transformers' vector, batched and
 *     alone: cosine >= GOLDEN_MIN_COS and max abs error <= GOLDEN_MAX_ABS
 *     (x |v| for unnormalized models). Also checks that a text embeds the
 *     same alone as in a batch.
 *   test_model published MODEL_DIR REFERENCE_DIR
 *     the real all-MiniLM-L6-v2 against text-embeddings-inference's
 *     snapshots and fastembed's published values.
 *
 * The bounds below are the figures README.md ("Correctness") states; a
 * change to one changes the other.
 *
 * MODEL_DIR "@real" is the real model fetched by scripts/fetch-model.sh.
 * With IA_CPU_ISA naming a level this CPU lacks (the library then runs a
 * lower one), the test exits 77: CTest reports it skipped.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "ipfs_accelerate/ipfs_accelerate.h"
#include "backend/cpu/cpu-impl.h"
#include "model/model-impl.h"
#include "test.h"
#include "test_data.h"

/* sentence-transformers goldens, every text, batched and alone */
#define GOLDEN_MIN_COS 0.999999
#define GOLDEN_MAX_ABS 1e-6
/* text-embeddings-inference snapshots and fastembed values (published) */
#define TEI_MIN_COS 0.999999
#define TEI_BATCH_ERF 1.4e-3  /* max abs, the model's exact GELU vs TEI's tanh one */
#define TEI_BATCH_TANH 1e-5   /* max abs, the same (tanh) GELU as TEI */
#define TEI_SINGLE_ERF 2.5e-3 /* TEI's single-text snapshots differ from its own batch by 1e-3 */
#define TEI_SINGLE_TANH 1.5e-3
#define FASTEMBED_SLACK 1e-6  /* beyond the rounding of each printed value */

/* float32 .npy: returns data (caller frees) and its shape. */
static float *read_npy(const char *path, size_t *rows, size_t *cols)
{
    char *buf;
    size_t len;
    if (ia__read_file(path, &buf, &len) || len < 10 || memcmp(buf, "\x93NUMPY", 6)) {
        fprintf(stderr, "%s: cannot read npy: %s\n", path, ia_errmsg());
        return NULL;
    }
    size_t hl = (unsigned char)buf[8] | (size_t)(unsigned char)buf[9] << 8;
    const char *shape = strstr(buf + 10, "'shape': (");
    if (!strstr(buf + 10, "'<f4'") || !shape ||
        sscanf(shape, "'shape': (%zu, %zu)", rows, cols) != 2 || 10 + hl + *rows * *cols * 4 > len) {
        fprintf(stderr, "%s: not a float32 matrix\n", path);
        ia__free(buf);
        return NULL;
    }
    float *v = malloc(*rows * *cols * sizeof(float));
    memcpy(v, buf + 10 + hl, *rows * *cols * sizeof(float));
    ia__free(buf);
    return v;
}

static double max_abs(const float *a, const float *b, int d)
{
    double m = 0;
    for (int i = 0; i < d; i++)
        m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static double norm(const float *a, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++)
        s += (double)a[i] * a[i];
    return sqrt(s);
}

static int golden(const char *dir, const char *npy, size_t limit)
{
    size_t n = 0, rows = 0, cols = 0;
    char **texts = read_sentences(&n);
    float *ref = read_npy(npy, &rows, &cols);
    CHECK(texts && ref);
    if (!texts || !ref)
        return test_summary("test_model golden");
    const size_t n_read = n;
    if (limit && limit < n)
        n = limit;
    CHECK_MSG(rows == n, "golden has %zu rows, %zu texts", rows, n);
    ia_model *m;
    ia_status st = ia_model_load(dir, NULL, &m);
    CHECK_MSG(st == IA_OK, "loading %s: %s (run scripts/fetch-model.sh for the real model)", dir, ia_errmsg());
    if (st)
        return test_summary("test_model golden");
    const int d = ia_model_dim(m);
    CHECK((size_t)d == cols);
    float *out = calloc(n * (size_t)d, sizeof(float));
    ia_embed_stats stats = {0};
    CHECK_OK(ia_model_embed(m, (const char *const *)texts, NULL, n, out, &stats));

    double worst_cos = 1, worst_abs = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n && rows == n; i++) {
        const float *a = out + i * d, *b = ref + i * d;
        double c = cosine(a, b, d), e = max_abs(a, b, d) / fmax(1.0, norm(b, d));
        worst_cos = fmin(worst_cos, c);
        worst_abs = fmax(worst_abs, e);
        if ((c < GOLDEN_MIN_COS || e > GOLDEN_MAX_ABS) && bad++ < 5)
            fprintf(stderr, "text %zu (%.40s): cosine %.7f, max abs err %.2e\n", i, texts[i], c, e);
    }
    CHECK_MSG(bad == 0, "%zu of %zu texts differ from sentence-transformers", bad, n);
    printf("%s: %zu texts, %zu tokens, worst cosine %.10f, worst max abs err %.2e\n", dir, n,
           stats.n_tokens, worst_cos, worst_abs);

    /* The same text alone and beside long neighbours: the same vector
     * (up to float rounding), and as close to sentence-transformers'. */
    float *one = malloc((size_t)d * sizeof(float));
    double worst_alone = 1, worst_alone_abs = 0, worst_alone_ref = 1, worst_alone_ref_abs = 0;
    for (size_t i = 0; i < n && rows == n; i += 7) {
        CHECK_OK(ia_model_embed(m, (const char *const *)&texts[i], NULL, 1, one, NULL));
        const double s = fmax(1.0, norm(ref + i * d, d));
        worst_alone = fmin(worst_alone, cosine(one, out + i * d, d));
        worst_alone_abs = fmax(worst_alone_abs, max_abs(one, out + i * d, d) / s);
        worst_alone_ref = fmin(worst_alone_ref, cosine(one, ref + i * d, d));
        worst_alone_ref_abs = fmax(worst_alone_ref_abs, max_abs(one, ref + i * d, d) / s);
    }
    printf("%s: alone vs batched: worst cosine %.10f, max abs err %.2e; alone vs reference: worst "
           "cosine %.10f, max abs err %.2e\n", dir, worst_alone, worst_alone_abs, worst_alone_ref,
           worst_alone_ref_abs);
    CHECK_MSG(worst_alone >= GOLDEN_MIN_COS && worst_alone_abs <= GOLDEN_MAX_ABS,
              "alone vs batched: cosine %.10f, max abs err %.2e", worst_alone, worst_alone_abs);
    CHECK_MSG(worst_alone_ref >= GOLDEN_MIN_COS && worst_alone_ref_abs <= GOLDEN_MAX_ABS,
              "alone vs sentence-transformers: cosine %.10f, max abs err %.2e", worst_alone_ref,
              worst_alone_ref_abs);
    ia_model_free(m);
    free(one);
    free(out);
    free(ref);
    free_sentences(texts, n_read);
    return test_summary("test_model golden");
}

/* A text-embeddings-inference insta snapshot: a YAML list of lists of
 * floats, one "  - value" line per number, "- - value" opening a row. */
static float *read_snap(const char *dir, const char *name, size_t *rows, size_t *count)
{
    char path[4096], *text;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (ia__read_file(path, &text, NULL)) {
        fprintf(stderr, "%s\n", ia_errmsg());
        return NULL;
    }
    float *v = malloc(200000 * sizeof(float));
    *rows = *count = 0;
    char *body = strstr(text, "\n---\n");
    for (char *line = strtok(body ? body + 5 : text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "- - ", 4))
            (*rows)++;
        const char *num = strstr(line, "- ") ? strrchr(line, ' ') + 1 : NULL;
        if (num && *count < 200000)
            v[(*count)++] = strtof(num, NULL);
    }
    ia__free(text);
    return v;
}

/* text-embeddings-inference's snapshots for "What is Deep Learning?": mean
 * and CLS pooled, the 7 token states, and a batch of three. */
static void tei_checks(const ia_model *m, const char *refdir, const char *label,
                       double tol_single, double tol_batch)
{
    const int d = ia_model_dim(m);
    const char *q = "What is Deep Learning?";
    float mean[384], cls[384];
    ia_embed_options raw = {.normalize = IA_NORMALIZE_NO};
    CHECK_OK(ia_model_embed_opts(m, &q, NULL, 1, &raw, mean, NULL));

    size_t rows, count;
    float *ref = read_snap(refdir, "test_bert__bert_single.snap", &rows, &count);
    CHECK(ref && count == (size_t)d);
    if (ref && count == (size_t)d) {
        double c = cosine(mean, ref, d), e = max_abs(mean, ref, d);
        printf("%s: TEI single (mean, unnormalized): cosine %.8f, max abs err %.3e\n", label, c, e);
        CHECK_MSG(c >= TEI_MIN_COS && e <= tol_single, "%s: cosine %.8f, max abs err %.3e", label, c, e);
    }
    free(ref);

    /* CLS pooling = the [CLS] row of the token states. */
    float *states;
    size_t nt;
    CHECK_OK(ia__model_token_states(m, q, &states, &nt));
    CHECK(nt == 7);
    memcpy(cls, states, sizeof cls);
    ref = read_snap(refdir, "test_bert__bert_single_pooled.snap", &rows, &count);
    CHECK(ref && count == (size_t)d);
    if (ref && count == (size_t)d) {
        double c = cosine(cls, ref, d), e = max_abs(cls, ref, d);
        printf("%s: TEI single (cls): cosine %.8f, max abs err %.3e\n", label, c, e);
        CHECK_MSG(c >= TEI_MIN_COS && e <= tol_single, "%s: cosine %.8f, max abs err %.3e", label, c, e);
    }
    free(ref);
    ref = read_snap(refdir, "test_bert__bert_single_raw.snap", &rows, &count);
    CHECK(ref && count == nt * (size_t)d);
    if (ref && count == nt * (size_t)d) {
        double worst_c = 1, worst_e = 0;
        for (size_t t = 0; t < nt; t++) {
            worst_c = fmin(worst_c, cosine(states + t * d, ref + t * d, d));
            worst_e = fmax(worst_e, max_abs(states + t * d, ref + t * d, d));
        }
        printf("%s: TEI single (7 token states): worst cosine %.8f, max abs err %.3e\n", label,
               worst_c, worst_e);
        CHECK_MSG(worst_c >= TEI_MIN_COS && worst_e <= tol_single, "%s: cosine %.8f, max abs err %.3e",
                  label, worst_c, worst_e);
    }
    free(ref);
    ia__free(states);

    const char *batch[3] = {"What is Deep Learning?", "Deep Learning is...", "What is Deep Learning?"};
    float *bout = malloc(3 * (size_t)d * sizeof(float));
    CHECK_OK(ia_model_embed_opts(m, batch, NULL, 3, &raw, bout, NULL));
    ref = read_snap(refdir, "test_bert__bert_batch.snap", &rows, &count);
    CHECK(ref && count == 3 * (size_t)d);
    if (ref && count == 3 * (size_t)d) {
        for (int i = 0; i < 3; i++) {
            double c = cosine(bout + i * d, ref + i * d, d), e = max_abs(bout + i * d, ref + i * d, d);
            printf("%s: TEI batch[%d]: cosine %.8f, max abs err %.3e\n", label, i, c, e);
            CHECK_MSG(c >= TEI_MIN_COS && e <= tol_batch, "%s batch[%d]: cosine %.8f, max abs err %.3e",
                      label, i, c, e);
        }
    }
    free(ref);
    free(bout);
}

/* The model folder dir again, in a temporary folder of links, with
 * config.json's hidden_act set to act. Returns the folder (static). */
static const char *with_activation(const char *dir, const char *act)
{
    static char tmp[] = "/tmp/ia-act-XXXXXX";
    char cmd[8192];
    if (!mkdtemp(tmp))
        return NULL;
    snprintf(cmd, sizeof cmd,
             "for f in '%s'/*; do ln -s \"$f\" '%s'/; done && rm '%s/config.json' && "
             "sed 's/\"hidden_act\": *\"[a-z_]*\"/\"hidden_act\": \"%s\"/' '%s/config.json' >'%s/config.json'",
             dir, tmp, tmp, act, dir, tmp);
    return system(cmd) == 0 ? tmp : NULL;
}

static int published(const char *dir, const char *refdir)
{
    ia_model *m;
    ia_status st = ia_model_load(dir, NULL, &m);
    CHECK_MSG(st == IA_OK, "loading %s: %s (run scripts/fetch-model.sh)", dir, ia_errmsg());
    if (st)
        return test_summary("test_model published");
    /* The model as published (exact erf GELU, like sentence-transformers).
     * TEI's snapshots were computed with the tanh approximation of GELU
     * (candle's gelu), which moves single values by up to 2e-3; its own
     * single and batched runs differ by 1e-3. */
    tei_checks(m, refdir, "erf gelu", TEI_SINGLE_ERF, TEI_BATCH_ERF);

    /* fastembed: "hello world", mean pooled then normalized (ONNX, erf GELU).
     * Its test prints 5 or 6 decimals: each value must be ours rounded to
     * that many, give or take FASTEMBED_SLACK. */
    const char *hw = "hello world";
    float v[384];
    static const char *const fe[5] = {"-0.034478", "0.03102", "0.00673", "0.02611", "-0.039362"};
    CHECK_OK(ia_model_embed(m, &hw, NULL, 1, v, NULL));
    double worst = 0, worst_over = -1;
    for (int i = 0; i < 5; i++) {
        const double want = strtod(fe[i], NULL), e = fabs(v[i] - want);
        const double half_unit = 0.5 * pow(10, -(double)strlen(strchr(fe[i], '.') + 1));
        worst = fmax(worst, e);
        worst_over = fmax(worst_over, e - half_unit);
        CHECK_MSG(e <= half_unit + FASTEMBED_SLACK, "fastembed value %d: ours %.8f, published %s", i, v[i],
                  fe[i]);
    }
    printf("fastembed hello world: max abs err %.3e over its 5 published values, %.2e beyond their "
           "rounding\n", worst, fmax(0, worst_over));
    ia_model_free(m);

    /* With TEI's own activation the batch agrees to float rounding and the
     * single snapshots to within TEI's single-vs-batch spread. */
    const char *tanh_dir = with_activation(dir, "gelu_new");
    CHECK(tanh_dir != NULL);
    if (tanh_dir) {
        st = ia_model_load(tanh_dir, NULL, &m);
        CHECK_MSG(st == IA_OK, "loading %s (the model with hidden_act gelu_new): %s", tanh_dir, ia_errmsg());
        if (st == IA_OK) {
            tei_checks(m, refdir, "tanh gelu (as TEI)", TEI_SINGLE_TANH, TEI_BATCH_TANH);
            ia_model_free(m);
        }
    }
    if (tanh_dir) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tanh_dir);
        CHECK(system(cmd) == 0);
    }
    return test_summary("test_model published");
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: test_model golden|published MODEL_DIR REF [N]\n");
        return 2;
    }
    const char *dir = !strcmp(argv[2], "@real") ? real_model_dir() : argv[2];
    const char *isa = getenv("IA_CPU_ISA");
    if (isa && (!strcmp(isa, "avx512") || !strcmp(isa, "avx2")) && strcmp(isa, ia__cpu_isa_name())) {
        printf("IA_CPU_ISA=%s: this CPU lacks it (running %s kernels): skipped\n", isa, ia__cpu_isa_name());
        return 77;
    }
    if (!strcmp(argv[1], "golden"))
        return golden(dir, argv[3], argc > 4 ? (size_t)atol(argv[4]) : 0);
    return published(dir, argv[3]);
}
