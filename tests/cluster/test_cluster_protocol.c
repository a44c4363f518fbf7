/*
 * The cluster's wire formats and ids (src/cluster/protocol.c), no NATS
 * needed: round trips, ids that depend on exactly what they should, and
 * every truncation and corruption of a task body rejected cleanly.
 */
#include <stdlib.h>

#include "cluster/cluster-impl.h"
#include "core/core-impl.h"
#include "test.h"

static void test_model_name(void)
{
    char name[64];
    CHECK_OK(ia__cluster_model_name("build/tests/models/tiny-f32", name));
    CHECK(!strcmp(name, "tiny-f32"));
    CHECK_OK(ia__cluster_model_name("/m/all-MiniLM-L6-v2//", name));
    CHECK(!strcmp(name, "all-MiniLM-L6-v2"));
    CHECK_OK(ia__cluster_model_name("x/bge.small en*", name));
    CHECK(!strcmp(name, "bge_small_en_"));
    CHECK(ia__cluster_model_name("/", name) == IA_ERR_INVALID);
    CHECK(ia__cluster_model_name("a/..", name) == IA_ERR_INVALID);
}

static void test_ids(void)
{
    const char *t[] = {"hello", "world"};
    size_t l[] = {5, 5};
    ia_cluster_task_opts o = {0}, o2 = {.dimensions = 8}, o3 = {.prompt_name = ""};
    char a[IA_CLUSTER_ID_LEN + 1], b[IA_CLUSTER_ID_LEN + 1];
    CHECK_OK(ia__cluster_shard_id("m", &o, t, l, 2, a));
    CHECK(strlen(a) == IA_CLUSTER_ID_LEN);
    CHECK_OK(ia__cluster_shard_id("m", &o, t, l, 2, b));
    CHECK(!strcmp(a, b)); /* deterministic */
    CHECK_OK(ia__cluster_shard_id("m2", &o, t, l, 2, b));
    CHECK(strcmp(a, b));
    CHECK_OK(ia__cluster_shard_id("m", &o2, t, l, 2, b));
    CHECK(strcmp(a, b));
    CHECK_OK(ia__cluster_shard_id("m", &o3, t, l, 2, b)); /* "" (no prompt) is not NULL (default) */
    CHECK(strcmp(a, b));
    CHECK_OK(ia__cluster_shard_id("m", &o, t, l, 1, b));
    CHECK(strcmp(a, b));
    const char *u[] = {"hellow", "orld"}; /* same bytes, other boundary */
    size_t ul[] = {6, 4};
    CHECK_OK(ia__cluster_shard_id("m", &o, u, ul, 2, b));
    CHECK(strcmp(a, b));
}

static void test_task(void)
{
    const char *t[] = {"first text", "", "caf\xc3\xa9 \x00 nul"};
    size_t l[] = {10, 0, 11};
    ia_cluster_task_opts o = {.dimensions = 16, .prompt_name = "query"};
    uint8_t *body;
    size_t len;
    CHECK_OK(ia__cluster_task_encode(&o, t, l, 3, &body, &len));
    ia_cluster_task d;
    CHECK_OK(ia__cluster_task_decode(body, len, &d));
    CHECK(d.n == 3 && d.opts.dimensions == 16 && d.opts.prompt_name && !strcmp(d.opts.prompt_name, "query"));
    for (size_t i = 0; i < 3 && d.n == 3; i++)
        CHECK(d.lens[i] == l[i] && !memcmp(d.texts[i], t[i], l[i]));
    ia__cluster_task_close(&d);
    /* every truncation and a byte too many are malformed, never a crash */
    for (size_t cut = 0; cut < len; cut++)
        CHECK_MSG(ia__cluster_task_decode(body, cut, &d) == IA_ERR_FORMAT, "cut at %zu", cut);
    uint8_t *more = malloc(len + 1);
    memcpy(more, body, len);
    more[len] = 'x';
    CHECK(ia__cluster_task_decode(more, len + 1, &d) == IA_ERR_FORMAT);
    more[11] = 0x7f; /* the prompt length far past the end */
    CHECK(ia__cluster_task_decode(more, len, &d) == IA_ERR_FORMAT);
    free(more);
    ia__free(body);
    ia_cluster_task_opts none = {0};
    CHECK_OK(ia__cluster_task_encode(&none, NULL, NULL, 0, &body, &len));
    CHECK_OK(ia__cluster_task_decode(body, len, &d));
    CHECK(d.n == 0 && d.opts.prompt_name == NULL && d.opts.dimensions == 0);
    ia__cluster_task_close(&d);
    ia__free(body);
}

static void test_result(void)
{
    float v[6] = {1.0f, -0.0f, 3.25e-38f, 1e30f, -7.5f, 0.1f};
    uint8_t *body;
    size_t len;
    CHECK_OK(ia__cluster_result_encode(v, 2, 3, &body, &len));
    CHECK(len == 12 + 24);
    float *got;
    size_t n;
    int dim;
    CHECK_OK(ia__cluster_result_decode(body, len, &got, &n, &dim));
    CHECK(n == 2 && dim == 3 && !memcmp(got, v, sizeof v)); /* the exact bits */
    ia__free(got);
    CHECK(ia__cluster_result_decode(body, len - 1, &got, &n, &dim) == IA_ERR_FORMAT);
    body[0] = 'X';
    CHECK(ia__cluster_result_decode(body, len, &got, &n, &dim) == IA_ERR_FORMAT);
    ia__free(body);
}

/* serve --cluster's tasks: token ids (and types) round-trip, every cut
 * is refused, and the id depends on the model's CID and the ids. */
static void test_ids_task(void)
{
    const int32_t a[] = {101, 7, 102}, b[] = {101, 102}, ta[] = {0, 0, 1}, tb[] = {0, 1};
    const int32_t *ids[] = {a, b}, *types[] = {ta, tb};
    size_t n_ids[] = {3, 2};
    ia_cluster_ids_task t = {.model_cid = "QmModel", .kind = IA_IDS_CLASSIFY, .dim = 2, .n = 2, .ids = ids,
                             .types = types, .n_ids = n_ids};
    uint8_t *body;
    size_t len;
    CHECK_OK(ia__cluster_ids_encode(&t, &body, &len));
    ia_cluster_ids_task d;
    CHECK_OK(ia__cluster_ids_decode(body, len, &d));
    CHECK(!strcmp(d.model_cid, "QmModel") && d.kind == IA_IDS_CLASSIFY && d.dim == 2 && d.n == 2 && d.types);
    CHECK(d.n_ids[0] == 3 && d.n_ids[1] == 2 && !memcmp(d.ids[0], a, sizeof a) && !memcmp(d.types[1], tb, sizeof tb));
    ia__cluster_ids_close(&d);
    for (size_t cut = 0; cut < len; cut++)
        CHECK_MSG(ia__cluster_ids_decode(body, cut, &d) != IA_OK, "cut at %zu", cut);
    char id1[IA_CLUSTER_ID_LEN + 1], id2[IA_CLUSTER_ID_LEN + 1];
    CHECK_OK(ia__cluster_ids_shard_id("m", body, len, id1));
    ia__free(body);
    snprintf(t.model_cid, sizeof t.model_cid, "QmOther");
    CHECK_OK(ia__cluster_ids_encode(&t, &body, &len));
    CHECK_OK(ia__cluster_ids_shard_id("m", body, len, id2));
    CHECK(strcmp(id1, id2)); /* other weights: another task */
    ia__free(body);
    t.types = NULL;
    t.kind = IA_IDS_EMBED;
    t.normalize = true;
    CHECK_OK(ia__cluster_ids_encode(&t, &body, &len));
    CHECK_OK(ia__cluster_ids_decode(body, len, &d));
    CHECK(!d.types && d.normalize && d.kind == IA_IDS_EMBED);
    ia__cluster_ids_close(&d);
    ia__free(body);
}

int main(void)
{
    test_model_name();
    test_ids();
    test_task();
    test_result();
    test_ids_task();
    return test_summary("test_cluster_protocol");
}
