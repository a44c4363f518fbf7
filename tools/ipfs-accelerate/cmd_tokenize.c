/*
 * `ipfs-accelerate tokenize`: token ids of texts, as the model would see
 * them ([CLS] ... [SEP] included). For checking inputs, and the way tests
 * compare our tokenizer with Hugging Face's on fresh text.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char tokenize_help[] =
    "Usage: ipfs-accelerate tokenize --model DIR [FILE|-] [--text TEXT]...\n"
    "\n"
    "Print the token ids of each text (one per line of FILE, or stdin with '-'\n"
    "or when no --text is given) as JSON Lines {\"index\", \"ids\"}.\n"
    "With --pairs each line is a pair of texts separated by a tab, encoded with\n"
    "the tokenizer's template for pairs, and \"types\" gives each id's token type.\n"
    "\n"
    "  -m, --model DIR       model folder with tokenizer.json or vocab.txt\n"
    "  -t, --text TEXT       a text to tokenize (repeatable)\n"
    "      --max-length N    truncate to N ids, specials included (default: none)\n"
    "      --tokens          also print the token strings\n"
    "      --pairs           lines are TEXT<tab>TEXT pairs\n"
    "      --truncate-left   cut long input at its start (default: its end)\n";

/* One text, or with `pairs` a line A<tab>B. */
static int emit(const ia_tokenizer *tok, size_t index, const char *text, size_t len,
                size_t max_len, bool left, bool tokens, bool pairs, size_t *n_invalid)
{
    size_t n = 0, cap = 256, alen = len;
    const char *b = NULL, *tab = pairs ? memchr(text, '\t', len) : NULL;
    if (pairs && !tab)
        return cli_fail(0, "input %zu: no tab between the two texts of the pair", index);
    if (tab) {
        alen = (size_t)(tab - text);
        b = tab + 1;
    }
    int32_t *ids = NULL, *types = NULL;
    ia_encoding_stats st = {0};
    for (;;) {
        int32_t *grown = realloc(ids, cap * sizeof *ids), *grown_t = grown ? realloc(types, cap * sizeof *types) : NULL;
        if (grown)
            ids = grown;
        if (grown_t)
            types = grown_t;
        if (!grown || !grown_t) {
            free(ids);
            free(types);
            return cli_fail(0, "out of memory");
        }
        ia_status rc = ia_tokenizer_encode_pair(tok, text, alen, b, b ? len - alen - 1 : 0, max_len, left, ids, types,
                                                cap, &n, &st);
        if (rc) {
            free(ids);
            free(types);
            return cli_fail(rc, "tokenizing text %zu", index);
        }
        if (n <= cap)
            break;
        cap = n;
    }
    *n_invalid += st.n_invalid_utf8;
    printf("{\"index\":%zu,\"ids\":[", index);
    for (size_t i = 0; i < n; i++)
        printf(i ? ",%d" : "%d", (int)ids[i]);
    putchar(']');
    if (pairs) {
        fputs(",\"types\":[", stdout);
        for (size_t i = 0; i < n; i++)
            printf(i ? ",%d" : "%d", (int)types[i]);
        putchar(']');
    }
    if (tokens) {
        fputs(",\"tokens\":[", stdout);
        for (size_t i = 0; i < n; i++) {
            if (i)
                putchar(',');
            const char *t = ia_tokenizer_id_token(tok, ids[i]);
            cli_print_json_string(t ? t : "");
        }
        putchar(']');
    }
    puts("}");
    free(ids);
    free(types);
    return 0;
}

int cmd_tokenize(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"text", required_argument, 0, 't'},
        {"max-length", required_argument, 0, 'L'}, {"tokens", no_argument, 0, 'T'},
        {"pairs", no_argument, 0, 'P'}, {"truncate-left", no_argument, 0, 'E'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *dir = NULL;
    char **texts = NULL;
    size_t n_texts = 0, max_len = 1u << 30;
    bool tokens = false, pairs = false, left = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': dir = optarg; break;
        case 't': {
            char **grown = realloc(texts, (n_texts + 1) * sizeof *texts);
            if (!grown)
                return cli_fail(0, "out of memory");
            texts = grown;
            texts[n_texts++] = optarg;
            break;
        }
        case 'L': {
            long v;
            if (!cli_parse_long(optarg, 2, 1L << 30, &v))
                return cli_usage("tokenize", "--max-length must be a whole number >= 2, not '%s'", optarg);
            max_len = (size_t)v;
            break;
        }
        case 'T': tokens = true; break;
        case 'P': pairs = true; break;
        case 'E': left = true; break;
        case 'h': fputs(tokenize_help, stdout); return 0;
        default: return cli_usage("tokenize", "bad option");
        }
    }
    if (!dir)
        return cli_usage("tokenize", "--model DIR is required");
    if (optind + 1 < argc)
        return cli_usage("tokenize", "one input file at most");
    const char *path = optind < argc ? argv[optind] : n_texts ? NULL : "-";
    FILE *in = NULL;
    if (path)
        in = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (path && !in) {
        free(texts);
        return cli_fail(0, "%s: cannot open", path);
    }
    ia_tokenizer *tok;
    ia_status rc = ia_tokenizer_load(dir, &tok);
    if (rc) {
        free(texts);
        return cli_fail(rc, "loading the tokenizer of %s", dir);
    }
    int status = 0;
    size_t index = 0, n_invalid = 0;
    for (size_t i = 0; i < n_texts && !status; i++)
        status = emit(tok, index++, texts[i], strlen(texts[i]), max_len, left, tokens, pairs, &n_invalid);
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t len;
    while (in && !status && (len = getline(&line, &line_cap, in)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        status = emit(tok, index++, line, (size_t)len, max_len, left, tokens, pairs, &n_invalid);
    }
    if (n_invalid)
        fprintf(stderr, "ipfs-accelerate: warning: %zu invalid UTF-8 sequences replaced by U+FFFD\n", n_invalid);
    free(line);
    if (in && in != stdin)
        fclose(in);
    free(texts);
    ia_tokenizer_free(tok);
    return status;
}
