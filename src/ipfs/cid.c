/*
 * Multihash and CID: computing, parsing, formatting and converting content
 * identifiers, plus verified block reads that every consumer of untrusted
 * blocks goes through (ia__block_get).
 *
 * SHA-256 goes through OpenSSL's EVP interface (SHA-NI where the CPU has
 * it); the digest object is fetched once and shared.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>

#include "ipfs-impl.h"

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_init(void) { sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL); }

void ia__sha256(const uint8_t *data, size_t len, uint8_t out[32])
{
    pthread_once(&sha256_once, sha256_init);
    unsigned outlen = 32;
    /* EVP_Digest only fails on allocation failure inside OpenSSL; fall back
     * to the implicit digest so a result is always computed. */
    if (!sha256_md || !EVP_Digest(data, len, out, &outlen, sha256_md, NULL))
        EVP_Digest(data, len, out, &outlen, EVP_sha256(), NULL);
}

ia_status ia_multihash_sum(uint64_t mh_code, const uint8_t *data, size_t len, ia_cid *cid)
{
    ia__error_clear();
    IA_NEED(cid);
    if (!data && len)
        return ia__error(IA_ERR_INVALID, "%s: data is NULL with len %zu", __func__, len);
    switch (mh_code) {
    case IA_MH_SHA2_256:
        ia__sha256(data, len, cid->digest);
        cid->mh_len = 32;
        break;
    case IA_MH_IDENTITY:
        if (len > IA_CID_MAX_DIGEST)
            return ia__error(IA_ERR_UNSUPPORTED,
                             "identity multihash of %zu bytes exceeds the %d-byte limit", len,
                             IA_CID_MAX_DIGEST);
        if (len)
            memcpy(cid->digest, data, len);
        cid->mh_len = (uint8_t)len;
        break;
    default:
        return ia__error(IA_ERR_UNSUPPORTED, "multihash function 0x%llx is not supported",
                         (unsigned long long)mh_code);
    }
    cid->mh_code = mh_code;
    return IA_OK;
}

ia_status ia_cid_sum(int version, uint64_t codec, uint64_t mh_code, const uint8_t *data,
                     size_t len, ia_cid *out)
{
    ia__error_clear();
    IA_NEED(out);
    if (version == 0 && (codec != IA_CODEC_DAG_PB || mh_code != IA_MH_SHA2_256))
        return ia__error(IA_ERR_INVALID, "CIDv0 requires dag-pb and sha2-256 (codec 0x%llx)",
                         (unsigned long long)codec);
    if (version != 0 && version != 1)
        return ia__error(IA_ERR_INVALID, "CID version %d is not 0 or 1", version);
    ia_status st = ia_multihash_sum(mh_code, data, len, out);
    if (st)
        return st;
    out->version = (uint8_t)version;
    out->codec = codec;
    return IA_OK;
}

size_t ia__cid_put(const ia_cid *c, uint8_t *buf)
{
    size_t n = 0;
    if (c->version == 1) {
        buf[n++] = 1;
        n += ia__varint_put(buf + n, c->codec);
    }
    n += ia__varint_put(buf + n, c->mh_code);
    n += ia__varint_put(buf + n, c->mh_len);
    memcpy(buf + n, c->digest, c->mh_len);
    return n + c->mh_len;
}

size_t ia_cid_byte_len(const ia_cid *c)
{
    if (!c)
        return 0;
    size_t n = c->version == 1 ? 1 + ia__varint_len(c->codec) : 0;
    return n + ia__varint_len(c->mh_code) + ia__varint_len(c->mh_len) + c->mh_len;
}

ia_status ia_cid_to_bytes(const ia_cid *c, uint8_t *buf, size_t cap, size_t *len)
{
    ia__error_clear();
    IA_NEED(c);
    IA_NEED(buf);
    IA_NEED(len);
    size_t need = ia_cid_byte_len(c);
    if (need > cap)
        return ia__error(IA_ERR_INVALID, "binary CID needs %zu bytes, buffer has %zu", need, cap);
    *len = ia__cid_put(c, buf);
    return IA_OK;
}

static ia_status parse_multihash(const uint8_t *b, size_t n, ia_cid *out, size_t *used)
{
    uint64_t code, mlen;
    size_t a = ia__uvarint_get(b, n, &code);
    if (!a)
        return ia__error(IA_ERR_FORMAT, "bad multihash function varint");
    size_t c = ia__uvarint_get(b + a, n - a, &mlen);
    if (!c)
        return ia__error(IA_ERR_FORMAT, "bad multihash length varint");
    if (mlen > n - a - c)
        return ia__error(IA_ERR_FORMAT, "multihash digest truncated (%llu bytes declared, %zu left)",
                         (unsigned long long)mlen, n - a - c);
    if (mlen > IA_CID_MAX_DIGEST)
        return ia__error(IA_ERR_UNSUPPORTED, "multihash digest of %llu bytes exceeds %d",
                         (unsigned long long)mlen, IA_CID_MAX_DIGEST);
    if (code == IA_MH_SHA2_256 && mlen != 32)
        return ia__error(IA_ERR_FORMAT, "sha2-256 multihash with a %llu-byte digest",
                         (unsigned long long)mlen);
    out->mh_code = code;
    out->mh_len = (uint8_t)mlen;
    memcpy(out->digest, b + a + c, (size_t)mlen);
    *used = a + c + (size_t)mlen;
    return IA_OK;
}

ia_status ia_cid_from_bytes(const uint8_t *b, size_t n, ia_cid *out, size_t *consumed)
{
    ia__error_clear();
    IA_NEED(b);
    IA_NEED(out);
    ia_cid c;
    memset(&c, 0, sizeof c);
    size_t used = 0;
    ia_status st;
    if (n >= 2 && b[0] == 0x12 && b[1] == 0x20) {
        /* CIDv0: a bare sha2-256 multihash. */
        if (n < 34)
            return ia__error(IA_ERR_FORMAT, "CIDv0 truncated (%zu of 34 bytes)", n);
        c.version = 0;
        c.codec = IA_CODEC_DAG_PB;
        st = parse_multihash(b, n, &c, &used);
    } else {
        uint64_t ver, codec;
        size_t a = ia__uvarint_get(b, n, &ver);
        if (!a)
            return ia__error(IA_ERR_FORMAT, "bad CID version varint");
        if (ver != 1)
            return ia__error(ver == 0 ? IA_ERR_FORMAT : IA_ERR_UNSUPPORTED,
                             "CID version %llu is not supported", (unsigned long long)ver);
        size_t k = ia__uvarint_get(b + a, n - a, &codec);
        if (!k)
            return ia__error(IA_ERR_FORMAT, "bad CID codec varint");
        c.version = 1;
        c.codec = codec;
        st = parse_multihash(b + a + k, n - a - k, &c, &used);
        used += a + k;
    }
    if (st)
        return st;
    if (!consumed && used != n)
        return ia__error(IA_ERR_FORMAT, "%zu trailing bytes after CID", n - used);
    if (consumed)
        *consumed = used;
    *out = c;
    return IA_OK;
}

ia_status ia_cid_parse(const char *text, ia_cid *out)
{
    ia__error_clear();
    IA_NEED(text);
    IA_NEED(out);
    size_t n = strlen(text);
    uint8_t buf[IA_CID_MAX_BYTES + 8];
    size_t len = 0;
    ia_status st;
    if (n == 46 && text[0] == 'Q' && text[1] == 'm') {
        /* CIDv0 text: base58btc without a multibase prefix. */
        char tmp[48];
        tmp[0] = 'z';
        memcpy(tmp + 1, text, 46);
        st = ia__multibase_decode_n(tmp, 47, buf, sizeof buf, &len, NULL);
        if (!st && (len != 34 || buf[0] != 0x12 || buf[1] != 0x20))
            st = ia__error(IA_ERR_FORMAT, "not a sha2-256 multihash");
    } else {
        st = ia__multibase_decode_n(text, n, buf, sizeof buf, &len, NULL);
        if (!st && len >= 2 && buf[0] == 0x12 && buf[1] == 0x20)
            st = ia__error(IA_ERR_FORMAT, "a CIDv0 must be written in base58btc without a prefix");
    }
    if (!st)
        st = ia_cid_from_bytes(buf, len, out, NULL);
    if (st)
        return ia__error_wrap(st, "invalid CID \"%.100s%s\"", text, n > 100 ? "..." : "");
    return IA_OK;
}

/* ia_cid_format without clearing the error detail: ia_cid_str names CIDs
 * in messages while they are being written. */
static ia_status cid_format(const ia_cid *c, ia_multibase base, char *buf, size_t cap)
{
    uint8_t bin[IA_CID_MAX_BYTES];
    size_t n = ia__cid_put(c, bin);
    if (c->version == 0) {
        if (base != IA_MULTIBASE_DEFAULT && base != IA_MULTIBASE_BASE58BTC)
            return ia__error(IA_ERR_INVALID, "a CIDv0 can only be written in base58btc");
        char tmp[IA_CID_STR_MAX];
        ia_status st = ia__multibase_encode(IA_MULTIBASE_BASE58BTC, bin, n, tmp, sizeof tmp);
        if (st)
            return st;
        size_t l = strlen(tmp + 1);
        if (l + 1 > cap)
            return ia__error(IA_ERR_INVALID, "CID text needs %zu bytes, buffer has %zu", l + 1, cap);
        memcpy(buf, tmp + 1, l + 1);
        return IA_OK;
    }
    return ia__multibase_encode(base == IA_MULTIBASE_DEFAULT ? IA_MULTIBASE_BASE32 : base, bin, n,
                                buf, cap);
}

ia_status ia_cid_format(const ia_cid *c, ia_multibase base, char *buf, size_t cap)
{
    ia__error_clear();
    IA_NEED(c);
    IA_NEED(buf);
    return cid_format(c, base, buf, cap);
}

const char *ia_cid_str(const ia_cid *c, char buf[IA_CID_STR_MAX])
{
    /* With a buffer of IA_CID_STR_MAX bytes formatting cannot fail, so the
     * caller's pending error detail is never overwritten. */
    if (!c || !buf || cid_format(c, IA_MULTIBASE_DEFAULT, buf, IA_CID_STR_MAX))
        return "<invalid cid>";
    return buf;
}

ia_status ia_cid_to_v1(const ia_cid *in, ia_cid *out)
{
    ia__error_clear();
    IA_NEED(in);
    IA_NEED(out);
    *out = *in;
    out->version = 1;
    return IA_OK;
}

ia_status ia_cid_to_v0(const ia_cid *in, ia_cid *out)
{
    ia__error_clear();
    IA_NEED(in);
    IA_NEED(out);
    if (in->codec != IA_CODEC_DAG_PB || in->mh_code != IA_MH_SHA2_256 || in->mh_len != 32) {
        char s[IA_CID_STR_MAX];
        return ia__error(IA_ERR_INVALID,
                         "%s cannot be a CIDv0 (needs dag-pb with sha2-256, has %s)",
                         ia_cid_str(in, s), ia_codec_name(in->codec) ? ia_codec_name(in->codec) : "another codec");
    }
    *out = *in;
    out->version = 0;
    return IA_OK;
}

bool ia_cid_equal(const ia_cid *a, const ia_cid *b)
{
    if (!a || !b)
        return false;
    return a->version == b->version && a->codec == b->codec && a->mh_code == b->mh_code &&
           a->mh_len == b->mh_len && !memcmp(a->digest, b->digest, a->mh_len);
}

ia_status ia_cid_verify(const ia_cid *c, const uint8_t *data, size_t len)
{
    ia__error_clear();
    IA_NEED(c);
    if (!data && len)
        return ia__error(IA_ERR_INVALID, "%s: data is NULL with len %zu", __func__, len);
    uint8_t got[32];
    char s[IA_CID_STR_MAX];
    switch (c->mh_code) {
    case IA_MH_SHA2_256:
        if (c->mh_len != 32)
            break;
        ia__sha256(data, len, got);
        if (memcmp(got, c->digest, 32))
            return ia__error(IA_ERR_VERIFY, "block %s: %zu bytes do not hash to its sha2-256 digest",
                             ia_cid_str(c, s), len);
        return IA_OK;
    case IA_MH_IDENTITY:
        if (len != c->mh_len || (len && memcmp(data, c->digest, len)))
            return ia__error(IA_ERR_VERIFY, "block %s: data differs from its identity multihash",
                             ia_cid_str(c, s));
        return IA_OK;
    default: break;
    }
    return ia__error(IA_ERR_UNSUPPORTED, "block %s: cannot verify multihash function 0x%llx",
                     ia_cid_str(c, s), (unsigned long long)c->mh_code);
}

const char *ia_codec_name(uint64_t codec)
{
    switch (codec) {
    case IA_CODEC_RAW: return "raw";
    case IA_CODEC_DAG_PB: return "dag-pb";
    case IA_CODEC_DAG_CBOR: return "dag-cbor";
    case IA_CODEC_LIBP2P_KEY: return "libp2p-key";
    case IA_CODEC_DAG_JSON: return "dag-json";
    }
    return NULL;
}

ia_status ia__block_get(const ia_block_source *src, const ia_cid *cid, const uint8_t **data,
                        size_t *len)
{
    char s[IA_CID_STR_MAX];
    if (cid->mh_code == IA_MH_IDENTITY) {
        *data = cid->digest;
        *len = cid->mh_len;
        return IA_OK;
    }
    if (!src || !src->get)
        return ia__error(IA_ERR_NOT_FOUND, "block %s: no block source", ia_cid_str(cid, s));
    ia_status st = src->get(src->ctx, cid, data, len);
    if (st == IA_ERR_NOT_FOUND)
        return ia__error_wrap(IA_ERR_NOT_FOUND, "missing block (the DAG is incomplete)");
    if (st)
        return ia__error_wrap(st, "reading block %s", ia_cid_str(cid, s));
    st = ia_cid_verify(cid, *data, *len);
    if (st) {
        ia__block_release(src, cid, *data);
        return st;
    }
    return IA_OK;
}

void ia__block_release(const ia_block_source *src, const ia_cid *cid, const uint8_t *data)
{
    if (cid->mh_code == IA_MH_IDENTITY || !src || !src->release)
        return;
    src->release(src->ctx, data);
}
