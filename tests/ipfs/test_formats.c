/*
 * Multiformats, dag-pb, UnixFS Data and the importer against published
 * vectors: the multibase spec's "hello world" strings, the CID spec's
 * v0/v1 pair, dag-pb strictness cases from the spec, and kubo's `ipfs add`
 * CIDs from ../shared/fixtures/unixfs-vectors.md.
 */
#include <stdlib.h>
#include <string.h>

#include "ipfs/ipfs-impl.h"
#include "test.h"

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    out[2 * n] = 0;
}

static size_t unhex(const char *s, uint8_t *out)
{
    size_t n = strlen(s) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(s + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

static void test_varint(void)
{
    uint8_t b[10];
    CHECK(ia__varint_put(b, 0) == 1 && b[0] == 0);
    CHECK(ia__varint_put(b, 127) == 1 && b[0] == 0x7f);
    CHECK(ia__varint_put(b, 128) == 2 && b[0] == 0x80 && b[1] == 0x01);
    CHECK(ia__varint_put(b, 300) == 2 && b[0] == 0xac && b[1] == 0x02);
    CHECK(ia__varint_put(b, 16384) == 3 && b[2] == 0x01);
    uint64_t v = 0;
    CHECK(ia__uvarint_get((const uint8_t *)"\xac\x02", 2, &v) == 2 && v == 300);
    CHECK(ia__uvarint_get((const uint8_t *)"\x81\x00", 2, &v) == 0); /* not minimal */
    CHECK(ia__uvarint_get((const uint8_t *)"\x80", 1, &v) == 0);     /* truncated */
    CHECK(ia__uvarint_get((const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10, &v) == 0);
    CHECK(ia__pb_varint_get((const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10, &v) == 10 &&
          v == UINT64_MAX);
}

static void test_multibase(void)
{
    const uint8_t *hw = (const uint8_t *)"hello world";
    struct { ia_multibase b; const char *s; } v[] = {
        {IA_MULTIBASE_BASE58BTC, "zStV1DL6CwTryKyV"},
        {IA_MULTIBASE_BASE32, "bnbswy3dpeb3w64tmmq"},
        {IA_MULTIBASE_BASE32_UPPER, "BNBSWY3DPEB3W64TMMQ"},
        {IA_MULTIBASE_BASE16, "f68656c6c6f20776f726c64"},
        {IA_MULTIBASE_BASE16_UPPER, "F68656C6C6F20776F726C64"},
        {IA_MULTIBASE_BASE64URL, "uaGVsbG8gd29ybGQ"},
    };
    for (size_t i = 0; i < IA_ARRAY_LEN(v); i++) {
        char out[64];
        CHECK_OK(ia_multibase_encode(v[i].b, hw, 11, out, sizeof out));
        CHECK_MSG(!strcmp(out, v[i].s), "%s != %s", out, v[i].s);
        uint8_t dec[64];
        size_t n = 0;
        ia_multibase b;
        CHECK_OK(ia_multibase_decode(v[i].s, dec, sizeof dec, &n, &b));
        CHECK(n == 11 && !memcmp(dec, hw, 11) && b == v[i].b);
    }
    /* leading zero bytes survive base58 */
    uint8_t z[4] = {0, 0, 1, 2}, d[8];
    char s[32];
    size_t n;
    CHECK_OK(ia_multibase_encode(IA_MULTIBASE_BASE58BTC, z, 4, s, sizeof s));
    CHECK(!strcmp(s, "z115T"));
    CHECK_OK(ia_multibase_decode(s, d, sizeof d, &n, NULL));
    CHECK(n == 4 && !memcmp(d, z, 4));
    CHECK(ia_multibase_decode("z0OIl", d, sizeof d, &n, NULL) == IA_ERR_FORMAT);
    CHECK(ia_multibase_decode("b1", d, sizeof d, &n, NULL) == IA_ERR_FORMAT);
    CHECK(ia_multibase_decode("fabc", d, sizeof d, &n, NULL) == IA_ERR_FORMAT);
    CHECK(ia_multibase_decode("?abc", d, sizeof d, &n, NULL) == IA_ERR_UNSUPPORTED);
    CHECK(ia_multibase_decode("", d, sizeof d, &n, NULL) == IA_ERR_FORMAT);
}

static void test_cid(void)
{
    ia_cid c, v1, back;
    char s[IA_CID_STR_MAX];
    /* The CID spec's pair: the same sha2-256 digest as v0 and v1. */
    CHECK_OK(ia_cid_parse("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n", &c));
    CHECK(c.version == 0 && c.codec == IA_CODEC_DAG_PB && c.mh_len == 32);
    CHECK_OK(ia_cid_to_v1(&c, &v1));
    CHECK(!strcmp(ia_cid_str(&v1, s), "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"));
    CHECK_OK(ia_cid_to_v0(&v1, &back));
    CHECK(ia_cid_equal(&back, &c));
    CHECK(!strcmp(ia_cid_str(&back, s), "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"));
    /* other bases of the same v1 */
    CHECK_OK(ia_cid_format(&v1, IA_MULTIBASE_BASE58BTC, s, sizeof s));
    CHECK(!strcmp(s, "zdj7Wkkhxcu2rsiN6GUyHCLsSLL47kdUNfjbFqBUUhMFTZKBi"));
    ia_cid p;
    CHECK_OK(ia_cid_parse(s, &p));
    CHECK(ia_cid_equal(&p, &v1));
    CHECK_OK(ia_cid_format(&v1, IA_MULTIBASE_BASE16, s, sizeof s));
    CHECK(!strncmp(s, "f01701220e3b0c442", 17));
    CHECK_OK(ia_cid_parse(s, &p));
    CHECK(ia_cid_equal(&p, &v1));
    CHECK_OK(ia_cid_format(&v1, IA_MULTIBASE_BASE64URL, s, sizeof s));
    CHECK_OK(ia_cid_parse(s, &p));
    CHECK(ia_cid_equal(&p, &v1));
    /* sha256("") as raw */
    CHECK_OK(ia_cid_sum(1, IA_CODEC_RAW, IA_MH_SHA2_256, NULL, 0, &p));
    CHECK(!strcmp(ia_cid_str(&p, s), "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"));
    CHECK(ia_cid_verify(&p, (const uint8_t *)"x", 1) == IA_ERR_VERIFY);
    CHECK_OK(ia_cid_verify(&p, NULL, 0));
    /* binary round trip */
    uint8_t bin[IA_CID_MAX_BYTES];
    size_t bl;
    CHECK_OK(ia_cid_to_bytes(&p, bin, sizeof bin, &bl));
    CHECK(bl == 36 && bin[0] == 1 && bin[1] == 0x55 && bin[2] == 0x12 && bin[3] == 0x20);
    ia_cid q;
    CHECK_OK(ia_cid_from_bytes(bin, bl, &q, NULL));
    CHECK(ia_cid_equal(&p, &q));
    CHECK(ia_cid_from_bytes(bin, bl - 1, &q, NULL) == IA_ERR_FORMAT);
    /* identity */
    CHECK_OK(ia_cid_sum(1, IA_CODEC_RAW, IA_MH_IDENTITY, (const uint8_t *)"abc", 3, &q));
    CHECK(!strcmp(ia_cid_str(&q, s), "bafkqaa3bmjrq"));
    CHECK_OK(ia_cid_verify(&q, (const uint8_t *)"abc", 3));
    /* rejects */
    CHECK(ia_cid_parse("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1", &q) != IA_OK);
    CHECK(ia_cid_parse("bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk", &q) != IA_OK);
    CHECK(ia_cid_parse("bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku ", &q) != IA_OK);
    CHECK(ia_cid_parse("", &q) != IA_OK);
    CHECK(ia_cid_parse("zQmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n", &q) != IA_OK);
    CHECK(ia_cid_format(&c, IA_MULTIBASE_BASE32, s, sizeof s) == IA_ERR_INVALID);
    CHECK(ia_cid_to_v0(&p, &q) == IA_ERR_INVALID);
}

static void test_dagpb(void)
{
    uint8_t b[256] = {0};
    ia_dagpb_node n;
    /* empty node, data-only, the "hello world" leaf */
    CHECK_OK(ia_dagpb_decode(b, 0, &n));
    CHECK(n.n_links == 0 && !n.has_data);
    size_t l = unhex("0a120802120c68656c6c6f20776f726c640a180c", b);
    CHECK_OK(ia_dagpb_decode(b, l, &n));
    CHECK(n.has_data && n.data_len == 18);
    ia_unixfs_data d;
    CHECK_OK(ia_unixfs_data_decode(n.data, n.data_len, &d));
    CHECK(d.type == IA_UNIXFS_FILE && d.has_data && d.data_len == 12 && d.filesize == 12);
    ia_unixfs_data_clear(&d);
    ia_dagpb_node_clear(&n);
    /* a link (Hash, Name "a", Tsize 3) then Data; encode round trip */
    ia_cid c;
    ia_cid_parse("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n", &c);
    ia_dagpb_link lk = {c, "a", 1, 3, true, true};
    ia_dagpb_node in = {&lk, 1, (const uint8_t *)"\x08\x01", 2, true};
    uint8_t *enc;
    size_t el;
    CHECK_OK(ia_dagpb_encode(&in, &enc, &el));
    char h[512];
    hex(enc, el, h);
    CHECK_STR_CONTAINS(h, "12290a221220e3b0c442");
    CHECK(el >= 4 && !memcmp(enc + el - 4, "\x0a\x02\x08\x01", 4));
    CHECK_OK(ia_dagpb_decode(enc, el, &n));
    CHECK(n.n_links == 1 && n.links[0].has_name && n.links[0].name_len == 1 &&
          n.links[0].tsize == 3 && ia_cid_equal(&n.links[0].cid, &c));
    ia_dagpb_node_clear(&n);
    /* strictness (dag-pb spec): Data before Links, duplicate Data, link
     * fields out of order, link without Hash, unknown fields, bad CID */
    uint8_t bad[300];
    size_t bl;
    memcpy(bad, enc + el - 4, 4);
    memcpy(bad + 4, enc, el - 4);
    CHECK(ia_dagpb_decode(bad, el, &n) == IA_ERR_FORMAT);
    ia_dagpb_free(enc);
    bl = unhex("0a0008010a00", bad);
    CHECK(ia_dagpb_decode(bad, 2, &n) == IA_OK);
    ia_dagpb_node_clear(&n);
    bl = unhex("0a000a00", bad);
    CHECK(ia_dagpb_decode(bad, bl, &n) == IA_ERR_FORMAT);
    bl = unhex("1203120161", bad); /* link without Hash */
    CHECK(ia_dagpb_decode(bad, bl, &n) == IA_ERR_FORMAT);
    bl = unhex("120012", bad);
    CHECK(ia_dagpb_decode(bad, bl, &n) == IA_ERR_FORMAT);
    bl = unhex("1a00", bad); /* field 3 */
    CHECK(ia_dagpb_decode(bad, bl, &n) == IA_ERR_FORMAT);
    bl = unhex("0801", bad); /* Data as varint */
    CHECK(ia_dagpb_decode(bad, bl, &n) == IA_ERR_FORMAT);
    bl = unhex("12040a020000", bad); /* Hash not a CID */
    CHECK(ia_dagpb_decode(bad, bl, &n) == IA_ERR_FORMAT);
    bl = unhex("0a05", bad); /* overrun */
    CHECK(ia_dagpb_decode(bad, bl, &n) == IA_ERR_FORMAT);
    /* UnixFS Data: missing Type, wrong wire type, duplicate */
    CHECK(ia_unixfs_data_decode((const uint8_t *)"\x18\x01", 2, &d) == IA_ERR_FORMAT);
    CHECK(ia_unixfs_data_decode((const uint8_t *)"\x0a\x00", 2, &d) == IA_ERR_FORMAT);
    CHECK(ia_unixfs_data_decode((const uint8_t *)"\x08\x02\x08\x02", 4, &d) == IA_ERR_FORMAT);
    CHECK(ia_unixfs_data_decode((const uint8_t *)"\x08\x09", 2, &d) == IA_ERR_FORMAT);
}

static void add_case(const char *what, const uint8_t *data, size_t len, int v, int layout,
                     const char *want)
{
    ia_unixfs_options o;
    ia_unixfs_options_init(&o);
    o.cid_version = v;
    o.layout = (ia_unixfs_layout)layout;
    ia_cid c;
    char s[IA_CID_STR_MAX];
    CHECK_OK(ia_unixfs_add_bytes(data, len, &o, NULL, &c));
    CHECK_MSG(!strcmp(ia_cid_str(&c, s), want), "%s: got %s want %s", what, s, want);
}

typedef struct capture {
    uint8_t b[64];
    size_t n;
} capture;

static ia_status cap_put(void *ctx, const ia_cid *cid, const uint8_t *data, size_t len)
{
    capture *c = ctx;
    (void)cid;
    if (len <= sizeof c->b) {
        memcpy(c->b, data, len);
        c->n = len;
    }
    return IA_OK;
}

static void test_unixfs_vectors(void)
{
    const uint8_t *hw = (const uint8_t *)"hello world\n";
    add_case("empty v0", NULL, 0, 0, 0, "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH");
    add_case("empty v1", NULL, 0, 1, 0, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
    add_case("hello v0", hw, 12, 0, 0, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
    add_case("hello v1", hw, 12, 1, 0, "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4");
    uint8_t *zeros = calloc(1, 1 << 20);
    add_case("1MiB v0", zeros, 1 << 20, 0, 0, "QmVkbauSDEaMP4Tkq6Epm9uW75mWm136n81YH8fGtfwdHU");
    add_case("1MiB v1", zeros, 1 << 20, 1, 0,
             "bafybeiggzq4ryi7hscq5hzvzcnk4urnxt3asp37dhgvnjilf7exskximla");
    free(zeros);
    const uint8_t *hw2 = (const uint8_t *)"Hello Worlds!\n";
    add_case("worlds", hw2, 14, 0, 0, "QmVr26fY1tKyspEJBniVhqxQeEjhF78XerGiqWAwraVLQH");
    add_case("worlds trickle", hw2, 14, 0, 1, "QmUkUQgxXeggyaD5Ckv8ZqfW8wHBX6cYyeiyqvVZYzq5Bi");
    /* block bytes */
    capture cap = {{0}, 0};
    ia_block_sink sink = {cap_put, &cap};
    ia_cid c;
    char h[200];
    CHECK_OK(ia_unixfs_add_bytes(NULL, 0, NULL, &sink, &c));
    hex(cap.b, cap.n, h);
    CHECK_MSG(!strcmp(h, "0a0408021800"), "empty leaf %s", h);
    CHECK_OK(ia_unixfs_add_bytes(hw, 12, NULL, &sink, &c));
    hex(cap.b, cap.n, h);
    CHECK_MSG(!strcmp(h, "0a120802120c68656c6c6f20776f726c640a180c"), "hello leaf %s", h);
    /* options are checked */
    ia_unixfs_options o;
    ia_unixfs_options_init(&o);
    o.chunk_size = 4u << 20;
    CHECK(ia_unixfs_add_bytes(hw, 12, &o, NULL, &c) == IA_ERR_INVALID);
    ia_unixfs_options_init(&o);
    o.raw_leaves = (ia_raw_leaves)3;
    CHECK(ia_unixfs_add_bytes(hw, 12, &o, NULL, &c) == IA_ERR_INVALID);
    /* a zeroed struct is kubo's defaults, the same as NULL options */
    ia_unixfs_options zero = {0};
    ia_cid c0;
    CHECK_OK(ia_unixfs_add_bytes(hw, 12, &zero, &sink, &c0));
    CHECK(ia_cid_equal(&c, &c0));
}

int main(void)
{
    test_varint();
    test_multibase();
    test_cid();
    test_dagpb();
    test_unixfs_vectors();
    return test_summary("test_formats");
}
