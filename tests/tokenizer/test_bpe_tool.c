/*
 * ia-bpe-tool: the BPE tokenizer on inputs from stdin, for the Python
 * oracle (tests/tokenizer/bpe_oracle.py) to compare with Hugging Face
 * `tokenizers`.
 *
 *   ia-bpe-tool gguf|json FILE plain|chat < inputs > outputs
 *   ia-bpe-tool gguf|json FILE bench < text
 *
 * Each input line is the hex of a text's bytes (any bytes, invalid UTF-8
 * included). plain: encode without specials and with special-token
 * strings as plain text; chat: add the model's specials and parse
 * special-token strings. Each output line, tab-separated:
 *
 *   ids (space-separated)  decode hex  stream hex  held  bad
 *
 * decode: ia__bpe_decode of the ids (specials kept); stream: what the
 * stream decoder returned, pushed one id at a time, then flushed; held:
 * how many pushes returned less than the bytes pushed so far (a character
 * split across tokens: ids whose piece alone is not valid UTF-8); bad:
 * pushes that returned invalid UTF-8 (must be 0). A first line "# describe" names the tokenizer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf-impl.h"
#include "tokenizer/bpe.h"

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void put_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", (unsigned char)s[i]);
}

/* Python's bytes.decode("utf-8") succeeds on s[0..n). */
static bool valid_utf8(const char *s, size_t n)
{
    ia_i32vec cps = {0};
    long bad = ia__utf8_decode(s, n, &cps);
    ia__i32vec_free(&cps);
    return bad == 0;
}

static int bench(ia_bpe *b)
{
    size_t cap = 1 << 20, n = 0;
    char *text = malloc(cap);
    for (size_t got; (got = fread(text + n, 1, cap - n, stdin)) > 0;)
        if ((n += got) == cap)
            text = realloc(text, cap *= 2);
    ia_i32vec ids = {0};
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        ids.n = 0;
        double t0 = ia__now();
        for (size_t i = 0; i < n;) {
            char *nl = memchr(text + i, '\n', n - i);
            size_t end = nl ? (size_t)(nl - text) : n;
            if (ia__bpe_encode(b, text + i, end - i, false, false, &ids)) {
                fprintf(stderr, "encode: %s\n", ia_errmsg());
                return 1;
            }
            i = end + 1;
        }
        double dt = ia__now() - t0;
        best = dt < best ? dt : best;
    }
    printf("%.6f %zu %zu\n", best, n, ids.n);
    ia__i32vec_free(&ids);
    free(text);
    ia__bpe_free(b);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "gguf") && strcmp(argv[1], "json")) ||
        (strcmp(argv[3], "plain") && strcmp(argv[3], "chat") && strcmp(argv[3], "bench"))) {
        fprintf(stderr, "usage: %s gguf|json FILE plain|chat|bench < input\n", argv[0]);
        return 2;
    }
    ia_bpe *b = NULL;
    ia_status st;
    if (!strcmp(argv[1], "gguf")) {
        ia_gguf *g;
        st = ia__gguf_open(argv[2], &g);
        if (!st)
            st = ia__bpe_from_gguf(g, &b);
        ia__gguf_close(g);
    } else {
        st = ia__bpe_from_json(argv[2], &b);
    }
    if (st) {
        fprintf(stderr, "%s: %s\n", argv[2], ia_errmsg());
        return 1;
    }
    if (!strcmp(argv[3], "bench"))
        return bench(b);
    bool chat = !strcmp(argv[3], "chat");
    printf("# %s\n", ia__bpe_describe(b));
    size_t cap = 1 << 20;
    char *line = malloc(cap), *text = malloc(cap), *dec = malloc(4 * cap + 64);
    ia_i32vec ids = {0};
    ia_bpe_stream *s;
    if (ia__bpe_stream_new(b, false, &s)) {
        fprintf(stderr, "%s\n", ia_errmsg());
        return 1;
    }
    int rc = 0;
    while (fgets(line, (int)cap, stdin)) {
        size_t hl = strcspn(line, "\r\n"), n = 0;
        if (!line[hl] && hl >= cap - 2) {
            fprintf(stderr, "an input line is longer than %zu hex digits\n", cap - 2);
            rc = 1;
            break;
        }
        for (size_t i = 0; i + 1 < hl; i += 2)
            text[n++] = (char)(hexval(line[i]) << 4 | hexval(line[i + 1]));
        ids.n = 0;
        if ((st = ia__bpe_encode(b, text, n, chat, chat, &ids))) {
            fprintf(stderr, "encode: %s\n", ia_errmsg());
            rc = 1;
            break;
        }
        for (size_t i = 0; i < ids.n; i++)
            printf(i ? " %d" : "%d", ids.v[i]);
        size_t len;
        if ((st = ia__bpe_decode(b, ids.v, ids.n, false, dec, 4 * cap + 64, &len)) || len > 4 * cap) {
            fprintf(stderr, "decode: %s\n", ia_errmsg());
            rc = 1;
            break;
        }
        putchar('\t');
        put_hex(dec, len);
        putchar('\t');
        /* The stream decoder, one id at a time. */
        size_t held = 0, bad = 0;
        for (size_t i = 0; i < ids.n; i++) {
            const char *t, *p;
            size_t tl, pl;
            if (ia__bpe_stream_push(s, ids.v[i], &t, &tl)) {
                fprintf(stderr, "stream: %s\n", ia_errmsg());
                return 1;
            }
            p = ia__bpe_piece(b, ids.v[i], &pl);
            held += !valid_utf8(p, pl);
            bad += !valid_utf8(t, tl);
            put_hex(t, tl);
        }
        const char *t;
        size_t tl;
        ia__bpe_stream_flush(s, &t, &tl);
        bad += !valid_utf8(t, tl);
        put_hex(t, tl);
        printf("\t%zu\t%zu\n", held, bad);
    }
    ia__bpe_stream_free(s);
    ia__i32vec_free(&ids);
    free(line);
    free(text);
    free(dec);
    ia__bpe_free(b);
    return rc;
}
