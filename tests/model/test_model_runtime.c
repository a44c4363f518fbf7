/*
 * A loaded model under stress: test_model_runtime MODE MODEL_DIR
 *   faults      the N-th allocation of an embedding call fails, for every N
 *               until a call completes: each failing call returns an
 *               error, never output; the one that completes gives the
 *               reference vectors exactly.
 *   pcache      the matmul primitive cache capped at 2: it evicts, and the
 *               vectors equal those of an uncapped cache.
 *   two-models  two loads of the model with different precisions and
 *               thread counts, used from 4 threads at once (also under
 *               TSan): each gives its own precision's vectors, bitwise the
 *               same as alone.
 */
#include <pthread.h>
#include <stdlib.h>

#include "backend/cpu/cpu-impl.h"
#include "ipfs_accelerate/ipfs_accelerate.h"
#include "test.h"
#include "test_data.h"

/* Texts of many lengths, so batches and row counts vary. */
#define N_TEXTS 12
static const char *texts[N_TEXTS];
static char text_buf[N_TEXTS][512];

static void make_texts(void)
{
    static const char *words[] = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dogs", "café",
                                  "naïve", "数据", "emoji 🙂"};
    for (int i = 0; i < N_TEXTS; i++) {
        size_t n = 0;
        for (int w = 0; w < 1 + 5 * i; w++)
            n += (size_t)snprintf(text_buf[i] + n, sizeof text_buf[i] - n, "%s ", words[(i + w) % 12]);
        texts[i] = text_buf[i];
    }
}

static ia_model *load(const char *dir, const char *precision, int threads)
{
    ia_model_options mo = {.device = "cpu", .precision = precision, .n_threads = threads};
    ia_model *m = NULL;
    CHECK_OK(ia_model_load(dir, &mo, &m));
    return m;
}

static void faults(const char *dir)
{
    ia_model *m = load(dir, "fp32", 1);
    if (!m)
        return;
    const int dim = ia_model_dim(m);
    float *ref = malloc(sizeof(float) * N_TEXTS * dim), *out = malloc(sizeof(float) * N_TEXTS * dim);
    CHECK_OK(ia_model_embed(m, texts, NULL, N_TEXTS, ref, NULL));
    long n = 1, failed = 0;
    for (;; n++) {
        ia__alloc_fail_after(n);
        ia_status st = ia_model_embed(m, texts, NULL, N_TEXTS, out, NULL);
        const bool fired = ia__alloc_fail_pending() == 0;
        ia__alloc_fail_after(0);
        if (!fired) {
            CHECK_MSG(st == IA_OK, "no allocation failed, yet status %d (%s)", st, ia_errmsg());
            CHECK_MSG(!memcmp(out, ref, sizeof(float) * N_TEXTS * dim), "the completed call differs");
            break;
        }
        failed++;
        CHECK_MSG(st != IA_OK, "allocation %ld failed, yet the call reported success", n);
        CHECK_MSG(st == IA_OK || ia_errmsg()[0], "allocation %ld: an error without a message", n);
    }
    printf("faults: %ld allocations in a call; each failure gave an error\n", failed);
    CHECK(failed > 10);
    free(ref);
    free(out);
    ia_model_free(m);
}

static void pcache(const char *dir)
{
    ia_model *m = load(dir, "fp32", 2);
    if (!m)
        return;
    const int dim = ia_model_dim(m);
    float *ref = malloc(sizeof(float) * N_TEXTS * dim), *out = malloc(sizeof(float) * N_TEXTS * dim);
    /* one text per call: each call's row count differs */
    for (int i = 0; i < N_TEXTS; i++)
        CHECK_OK(ia_model_embed(m, &texts[i], NULL, 1, ref + (size_t)i * dim, NULL));
    size_t live;
    unsigned long evicted0, evicted;
    ia__cpu_pcache_stats(&live, &evicted0);
    ia__cpu_pcache_limit(2);
    for (int i = 0; i < N_TEXTS; i++)
        CHECK_OK(ia_model_embed(m, &texts[i], NULL, 1, out + (size_t)i * dim, NULL));
    ia__cpu_pcache_stats(&live, &evicted);
    printf("pcache: capped at 2, %zu cached, %lu evicted\n", live, evicted - evicted0);
    CHECK(live <= 2);
    CHECK(evicted > evicted0);
    CHECK_MSG(!memcmp(out, ref, sizeof(float) * N_TEXTS * dim), "vectors differ with a capped cache");
    ia__cpu_pcache_limit(4096);
    free(ref);
    free(out);
    ia_model_free(m);
}

typedef struct job {
    ia_model *m;
    const float *ref;
    int dim, rounds, failures;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    float *out = malloc(sizeof(float) * N_TEXTS * j->dim);
    for (int r = 0; r < j->rounds; r++)
        if (ia_model_embed(j->m, texts, NULL, N_TEXTS, out, NULL) ||
            memcmp(out, j->ref, sizeof(float) * N_TEXTS * j->dim))
            j->failures++;
    free(out);
    return NULL;
}

static void two_models(const char *dir)
{
    /* bf16 where the CPU has it, else int8 (VNNI), else both compute fp32
     * and only the threads differ */
    const ia_backend *cpu = ia__backend_cpu();
    const char *other = !strcmp(cpu->iface.resolve_precision("bf16"), "bf16") ? "bf16" : "int8";
    ia_model *a = load(dir, "fp32", 1), *b = load(dir, other, 2);
    if (!a || !b)
        return;
    ia_model_info ia, ib;
    ia_model_get_info(a, &ia);
    ia_model_get_info(b, &ib);
    CHECK(!strcmp(ia.precision, "fp32"));
    CHECK(!strcmp(ib.precision, cpu->iface.resolve_precision(other)));
    const int dim = ia_model_dim(a);
    float *ra = malloc(sizeof(float) * N_TEXTS * dim), *rb = malloc(sizeof(float) * N_TEXTS * dim);
    CHECK_OK(ia_model_embed(a, texts, NULL, N_TEXTS, ra, NULL));
    CHECK_OK(ia_model_embed(b, texts, NULL, N_TEXTS, rb, NULL));
    if (strcmp(ib.precision, "fp32")) { /* really reduced: close, not equal */
        CHECK_MSG(memcmp(ra, rb, sizeof(float) * N_TEXTS * dim), "%s gave fp32's vectors", ib.precision);
        for (int i = 0; i < N_TEXTS; i++)
            CHECK(cosine(ra + (size_t)i * dim, rb + (size_t)i * dim, dim) > 0.99);
    }
    job jobs[4] = {{a, ra, dim, 6, 0}, {b, rb, dim, 6, 0}, {a, ra, dim, 6, 0}, {b, rb, dim, 6, 0}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, run_job, &jobs[i]);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_MSG(!jobs[i].failures, "thread %d (%s): %d of %d rounds failed or differed", i,
                  i % 2 ? ib.precision : "fp32", jobs[i].failures, jobs[i].rounds);
    }
    printf("two models (fp32 and %s, computing %s) from 4 threads: each its own vectors\n", other, ib.precision);
    free(ra);
    free(rb);
    ia_model_free(a);
    ia_model_free(b);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_model_runtime faults|pcache|two-models MODEL_DIR\n");
        return 2;
    }
    make_texts();
    if (!strcmp(argv[1], "faults"))
        faults(argv[2]);
    else if (!strcmp(argv[1], "pcache"))
        pcache(argv[2]);
    else if (!strcmp(argv[1], "two-models"))
        two_models(argv[2]);
    else
        CHECK_MSG(0, "unknown mode %s", argv[1]);
    return test_summary("test_model_runtime");
}
