/* Fuzz target: multibase decoding and CID parsing, text and binary. Every
 * CID that parses must format in every base and parse back equal. */
#include <stdlib.h>
#include <string.h>

#include "ipfs/ipfs-impl.h"

static void roundtrip(const ia_cid *c)
{
    static const ia_multibase bases[] = {IA_MULTIBASE_DEFAULT, IA_MULTIBASE_BASE58BTC,
                                         IA_MULTIBASE_BASE32, IA_MULTIBASE_BASE32_UPPER,
                                         IA_MULTIBASE_BASE16, IA_MULTIBASE_BASE64URL};
    for (size_t i = 0; i < sizeof bases / sizeof *bases; i++) {
        char s[IA_CID_STR_MAX];
        ia_cid back;
        if (ia_cid_format(c, bases[i], s, sizeof s))
            continue; /* v0 only formats in base58btc */
        if (ia_cid_parse(s, &back) || !ia_cid_equal(c, &back))
            abort();
    }
    uint8_t bin[IA_CID_MAX_BYTES];
    size_t n;
    ia_cid back;
    if (ia_cid_to_bytes(c, bin, sizeof bin, &n) || ia_cid_from_bytes(bin, n, &back, NULL) ||
        !ia_cid_equal(c, &back))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    ia_cid c;
    if (!ia_cid_parse(text, &c))
        roundtrip(&c);
    uint8_t out[512];
    size_t n;
    ia_multibase b;
    if (!ia_multibase_decode(text, out, sizeof out, &n, &b)) {
        char enc[1200];
        if (ia_multibase_encode(b, out, n, enc, sizeof enc))
            abort();
    }
    free(text);
    size_t used;
    if (!ia_cid_from_bytes(data, size, &c, &used)) {
        if (used > size)
            abort();
        roundtrip(&c);
    }
    uint64_t v;
    ia__uvarint_get(data, size, &v);
    return 0;
}
