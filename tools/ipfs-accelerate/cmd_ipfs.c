/*
 * The content layer's commands: add, cat, get, ls, car export/import,
 * pin add/rm/ls, gc, store stat/verify, gateway and model add. They work
 * on the store under $IPFS_ACCELERATE_HOME (default ~/.ipfs_accelerate)
 * and reach the network through the layers of the configuration
 * (ipfs.local_node, ipfs.gateways; see `config show`), replaced by
 * --kubo-rpc and --gateway, plus --router (or IPFS_ACCELERATE_ROUTERS).
 * Their options are read as kubo reads its own (see "kubo's option
 * syntax" below), so a command line that works with `ipfs` works here.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "ipfs_accelerate/gateway.h"

/* ---- kubo's option syntax ---- */

/*
 * The rules of kubo's parser (go-ipfs-cmds cli/parse.go), not getopt's:
 *   boolean flags (no_argument in the table): --flag, --flag=BOOL, -f,
 *     -f=BOOL, and clusters like -rnQ. BOOL is true/t/1 or false/f/0 in any
 *     case, or empty (true), as kubo's Bool converter. Never a separate
 *     word: in `--raw-leaves false`, "false" is an operand, as in kubo.
 *   valued options (required_argument): --opt V, --opt=V, -o V, -oV, -o=V.
 *   long names match exactly (kubo has no abbreviations); options and
 *   operands mix in any order; "--" ends the options; "-" is an operand.
 * getopt_long rejects --flag=BOOL and reads -o=V as the value "=V", hence
 * this small parser over getopt's tables. Short options are the letters of
 * `shorts`, a ':' after those that take a value; a short option returns
 * its letter, which the long table must use for the same option.
 */
typedef struct argscan {
    const char *cmd;
    const char *shorts;
    const struct option *longs;
    int argc;
    char **argv;
    int next;            /* the next word to read */
    int nops;            /* operands so far, gathered at argv[1..nops] */
    const char *word;    /* the word being read, for messages */
    const char *cluster; /* the letters left of a -abc cluster */
    /* set by argscan_next() */
    const char *arg; /* the value of a valued option */
    bool on;         /* the value of a boolean flag */
    int optind;      /* at the end: the operands are argv[optind..argc) */
} argscan;

static void argscan_init(argscan *s, const char *cmd, const char *shorts,
                         const struct option *longs, int argc, char **argv)
{
    memset(s, 0, sizeof *s);
    s->cmd = cmd;
    s->shorts = shorts;
    s->longs = longs;
    s->argc = argc;
    s->argv = argv;
    s->next = 1;
}

/* kubo's Bool converter: "" is true, then strconv.ParseBool on lowercase. */
static bool parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"", "1", "t", "true"}, *const no[] = {"0", "f", "false"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (!strcasecmp(v, yes[i])) {
            *out = true;
            return true;
        }
    }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        if (!strcasecmp(v, no[i])) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* The option `name` (as typed: "--raw-leaves", "-n") with code c, its
 * value from "=V" (eq, NULL if none) or the following word. */
static int argscan_take(argscan *s, const char *name, int c, bool valued, const char *eq)
{
    if (!valued) {
        if (!eq || parse_bool(eq, &s->on))
            return c;
        cli_usage(s->cmd, "%s takes a boolean (true or false), got '%s'", name, eq);
        return '?';
    }
    if (eq)
        s->arg = eq;
    else if (s->next < s->argc)
        s->arg = s->argv[s->next++];
    else {
        cli_usage(s->cmd, "%s needs a value", name);
        return '?';
    }
    return c;
}

static int argscan_short(argscan *s, char letter, const char *eq)
{
    char name[3] = {'-', letter, 0};
    const char *p = letter != ':' ? strchr(s->shorts, letter) : NULL;
    if (!p) {
        if (letter == '=') /* -nq=true: kubo too takes =V only after one letter */
            cli_usage(s->cmd, "'%s': only a single option letter takes =VALUE", s->word);
        else
            cli_usage(s->cmd, "unknown option '%s'", name);
        return '?';
    }
    bool valued = p[1] == ':';
    if (valued && !eq && s->cluster && *s->cluster) /* -l10: the rest is the value */
        eq = s->cluster;
    if (valued || eq)
        s->cluster = NULL;
    return argscan_take(s, name, letter, valued, eq);
}

static int argscan_long(argscan *s, const char *word)
{
    const char *eq = strchr(word, '=');
    size_t n = eq ? (size_t)(eq - word) : strlen(word);
    for (const struct option *o = s->longs; o->name; o++) {
        if (strlen(o->name) == n && !strncmp(o->name, word, n)) {
            char name[64];
            snprintf(name, sizeof name, "--%s", o->name);
            return argscan_take(s, name, o->val, o->has_arg != no_argument, eq ? eq + 1 : NULL);
        }
    }
    cli_usage(s->cmd, "unknown option '--%.*s'", (int)n, word);
    return '?';
}

/* The next option's code (arg or on set), '?' after printing a usage
 * error (exit status 2), or -1 at the end with the operands, in order, at
 * argv[optind..argc) as getopt_long leaves them. */
static int argscan_next(argscan *s)
{
    s->arg = NULL;
    s->on = true;
    if (s->cluster && *s->cluster)
        return argscan_short(s, *s->cluster++, NULL);
    s->cluster = NULL;
    while (s->next < s->argc) {
        char *w = s->argv[s->next++];
        s->word = w;
        if (!strcmp(w, "--")) {
            while (s->next < s->argc)
                s->argv[1 + s->nops++] = s->argv[s->next++];
        } else if (w[0] != '-' || !w[1]) {
            s->argv[1 + s->nops++] = w; /* a slot already read: 1 + nops < next */
        } else if (w[1] == '-') {
            return argscan_long(s, w + 2);
        } else if (w[2] == '=') {
            return argscan_short(s, w[1], w + 3);
        } else {
            s->cluster = w + 2;
            return argscan_short(s, w[1], NULL);
        }
    }
    if (!s->optind) { /* once: a further call returns -1 again */
        memmove(s->argv + s->argc - s->nops, s->argv + 1, (size_t)s->nops * sizeof *s->argv);
        s->optind = s->argc - s->nops;
    }
    return -1;
}

/* ---- shared store options ---- */

enum { OPT_GATEWAY = 1000, OPT_KUBO, OPT_ROUTER, OPT_TIMEOUT, OPT_OFFLINE, OPT_PIN };

#define STORE_LONGOPTS                                                                           \
    {"gateway", required_argument, 0, OPT_GATEWAY}, {"kubo-rpc", required_argument, 0, OPT_KUBO}, \
        {"router", required_argument, 0, OPT_ROUTER},                                            \
        {"timeout", required_argument, 0, OPT_TIMEOUT}, {"offline", no_argument, 0, OPT_OFFLINE}

#define STORE_HELP                                                                         \
    "  --gateway URL       trustless gateway to fetch from (repeatable; replaces\n"       \
    "                      the configured ipfs.gateways)\n"                                \
    "  --kubo-rpc URL      kubo RPC API to fetch from (default: ipfs.local_node;\n"        \
    "                      '' for none)\n"                                                 \
    "  --router URL        Delegated Routing V1 endpoint to find gateways (repeatable)\n"  \
    "  --timeout SECONDS   per HTTP request (default: ipfs.timeout, 30)\n"                 \
    "  --offline           use only the local store\n"

typedef struct store_args {
    ia_store_options o;
    char gateways[2048], routers[2048];
} store_args;

static void store_args_init(store_args *a)
{
    ia_store_options_init(&a->o);
    a->gateways[0] = a->routers[0] = 0;
}

static void append_url(char *list, size_t cap, const char *url)
{
    size_t l = strlen(list);
    snprintf(list + l, cap - l, "%s%s", l ? "," : "", url);
}

/* Handles a store option; false if c is not one. */
static bool store_opt(store_args *a, int c, const argscan *s)
{
    switch (c) {
    case OPT_GATEWAY: append_url(a->gateways, sizeof a->gateways, s->arg); return true;
    case OPT_ROUTER: append_url(a->routers, sizeof a->routers, s->arg); return true;
    case OPT_KUBO: a->o.kubo_rpc = s->arg; return true;
    case OPT_TIMEOUT: a->o.timeout_s = strtod(s->arg, NULL); return true;
    case OPT_OFFLINE: a->o.offline = s->on; return true;
    }
    return false;
}

static int open_store(store_args *a, ia_store **s)
{
    if (a->gateways[0])
        a->o.gateways = a->gateways;
    if (a->routers[0])
        a->o.routers = a->routers;
    ia_status st = ia_store_open(&a->o, s);
    return st ? cli_fail(st, "cannot open the store") : 0;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return false;
    uint64_t mul = 1;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': mul = 1ull << 10; break;
        case 'm': case 'M': mul = 1ull << 20; break;
        case 'g': case 'G': mul = 1ull << 30; break;
        case 't': case 'T': mul = 1ull << 40; break;
        default: return false;
        }
        if (end[1] && strcmp(end + 1, "B") && strcmp(end + 1, "iB"))
            return false;
    }
    *out = (uint64_t)v * mul;
    return true;
}

/* ---- add ---- */

static const char add_help[] =
    "Usage: ipfs-accelerate add [OPTIONS] PATH...\n"
    "\n"
    "Import files or directories (PATH '-': stdin) as UnixFS DAGs with kubo's\n"
    "`ipfs add` defaults (the same CIDs), store their blocks and pin them.\n"
    "Prints \"added CID NAME\".\n"
    "\n"
    "  -r, --recursive       add directories\n"
    "      --cid-version N   0 (default) or 1 (implies --raw-leaves unless\n"
    "                        --raw-leaves=false is given)\n"
    "      --raw-leaves      leaves as raw blocks (default: off for CIDv0, on\n"
    "                        for CIDv1)\n"
    "  -s, --chunker size-N  bytes per leaf (default size-262144)\n"
    "  -t, --trickle         trickle DAG layout\n"
    "  -n, --only-hash       compute CIDs only; store nothing\n"
    "  -H, --hidden          include files whose names start with '.'\n"
    "      --pin             pin the result (default; --pin=false: do not)\n"
    "      --no-pin          do not pin the result\n"
    "  -q, --quiet           print CIDs only\n"
    "  -Q, --quieter         print only the last root CID\n"
    "\n"
    "As in kubo, a flag also takes =true or =false (--raw-leaves=false, -n=true)\n"
    "and a value also follows '=' (--cid-version=1).\n";

typedef struct add_out {
    int quiet;
} add_out;

static void on_added(void *user, const char *path, const ia_cid *cid, uint64_t size)
{
    add_out *o = user;
    char s[IA_CID_STR_MAX];
    (void)size;
    if (o->quiet == 0)
        printf("added %s %s\n", ia_cid_str(cid, s), path);
    else if (o->quiet == 1)
        printf("%s\n", ia_cid_str(cid, s));
}

/* Shared by add and model add: parse importer options. Returns -1 when the
 * option is not an importer option, else 0 or a usage exit code. */
static int importer_opt(ia_unixfs_options *o, int c, const argscan *s)
{
    const char *arg = s->arg;
    switch (c) {
    case 'V':
        if (strcmp(arg, "0") && strcmp(arg, "1"))
            return cli_usage(s->cmd, "--cid-version must be 0 or 1, got '%s'", arg);
        o->cid_version = arg[0] - '0';
        return 0;
    /* explicit either way: --raw-leaves=false keeps dag-pb leaves under
     * CIDv1, where the default (-1) would make them raw, as in kubo */
    case 'R': o->raw_leaves = s->on ? IA_RAW_LEAVES_ON : IA_RAW_LEAVES_OFF; return 0;
    case 't': o->layout = s->on ? IA_UNIXFS_TRICKLE : IA_UNIXFS_BALANCED; return 0;
    case 'H': o->hidden = s->on; return 0;
    case 's': {
        uint64_t n;
        if (strncmp(arg, "size-", 5) || !parse_u64(arg + 5, &n) || n == 0 || n > (2u << 20) - 256)
            return cli_usage(s->cmd, "--chunker must be size-N with 1 <= N <= 2096896, got '%s'", arg);
        o->chunk_size = (size_t)n;
        return 0;
    }
    }
    return -1;
}

#define IMPORTER_LONGOPTS                                                                          \
    {"cid-version", required_argument, 0, 'V'}, {"raw-leaves", no_argument, 0, 'R'},             \
        {"chunker", required_argument, 0, 's'}, {"trickle", no_argument, 0, 't'},                 \
        {"hidden", no_argument, 0, 'H'}

static long stdin_read(void *ctx, uint8_t *buf, size_t cap)
{
    (void)ctx;
    for (;;) {
        ssize_t r = read(STDIN_FILENO, buf, cap);
        if (r >= 0 || errno != EINTR)
            return (long)r;
    }
}

int cmd_ipfs_add(int argc, char **argv);
int cmd_ipfs_add(int argc, char **argv)
{
    static const struct option opts[] = {
        {"recursive", no_argument, 0, 'r'}, IMPORTER_LONGOPTS, {"only-hash", no_argument, 0, 'n'},
        {"pin", no_argument, 0, OPT_PIN},  {"no-pin", no_argument, 0, 'P'},
        {"quiet", no_argument, 0, 'q'},    {"quieter", no_argument, 0, 'Q'},
        {"help", no_argument, 0, 'h'},     {0, 0, 0, 0}};
    ia_unixfs_options uo;
    ia_unixfs_options_init(&uo);
    bool rec = false, only_hash = false, pin = true, quiet = false, quieter = false;
    add_out out = {0};
    argscan as;
    argscan_init(&as, "add", "rts:nHqQh", opts, argc, argv);
    int c;
    while ((c = argscan_next(&as)) != -1) {
        int r = importer_opt(&uo, c, &as);
        if (r > 0)
            return r;
        if (r == 0)
            continue;
        switch (c) {
        case 'r': rec = as.on; break;
        case 'n': only_hash = as.on; break;
        case OPT_PIN: pin = as.on; break;
        case 'P': pin = !as.on; break;
        case 'q': quiet = as.on; break;
        case 'Q': quieter = as.on; break;
        case 'h':
            if (as.on)
                return fputs(add_help, stdout), 0;
            break;
        default: return 2; /* argscan_next() said why */
        }
    }
    out.quiet = quieter ? 2 : quiet;
    if (as.optind >= argc)
        return cli_usage("add", "no PATH given");
    ia_blockstore *bs = NULL;
    ia_block_sink sink;
    if (!only_hash) {
        ia_status st = ia_blockstore_open(NULL, &bs);
        if (st)
            return cli_fail(st, "cannot open the store");
        ia_blockstore_sink(bs, &sink);
    }
    int rc = 0;
    for (int i = as.optind; i < argc && !rc; i++) {
        ia_cid root;
        ia_status st;
        if (!strcmp(argv[i], "-")) { /* stdin, named by its CID like kubo */
            st = ia_unixfs_add_stream(stdin_read, NULL, &uo, bs ? &sink : NULL, &root, NULL);
            if (!st) {
                char s[IA_CID_STR_MAX];
                on_added(&out, ia_cid_str(&root, s), &root, 0);
            }
        } else {
            st = ia_unixfs_add_path(argv[i], rec, &uo, bs ? &sink : NULL, on_added, &out, &root);
        }
        if (st) {
            rc = cli_fail(st, "add %s", argv[i]);
            break;
        }
        if (bs && pin && (st = ia_pin_add(bs, &root, true)))
            rc = cli_fail(st, "pinning %s", argv[i]);
        if (out.quiet == 2 && i == argc - 1) {
            char s[IA_CID_STR_MAX];
            printf("%s\n", ia_cid_str(&root, s));
        }
    }
    ia_blockstore_close(bs);
    return rc;
}

/* ---- cat / get / ls ---- */

static int resolve_ref(ia_store *s, const char *ref, ia_cid *out)
{
    ia_cid root;
    const char *sub;
    ia_status st = ia_ipfs_ref_parse(ref, &root, &sub);
    if (!st) {
        ia_block_source src;
        ia_store_source(s, &src);
        st = ia_unixfs_resolve(&src, &root, sub, out);
    }
    return st ? cli_fail(st, "%s", ref) : 0;
}

static ia_status stdout_write(void *ctx, const uint8_t *p, size_t n)
{
    (void)ctx;
    if (fwrite(p, 1, n, stdout) != n)
        return IA_ERR_IO;
    return IA_OK;
}

static const char cat_help[] =
    "Usage: ipfs-accelerate cat [OPTIONS] CID[/PATH]\n"
    "\n"
    "Write a file's bytes to stdout, every block verified.\n"
    "\n"
    "  -O, -o, --offset N  start at byte N\n"
    "  -l, --length N      at most N bytes\n" STORE_HELP;

int cmd_ipfs_cat(int argc, char **argv);
int cmd_ipfs_cat(int argc, char **argv)
{
    static const struct option opts[] = {{"offset", required_argument, 0, 'O'},
                                         {"length", required_argument, 0, 'l'},
                                         {"help", no_argument, 0, 'h'},
                                         STORE_LONGOPTS,
                                         {0, 0, 0, 0}};
    store_args sa;
    store_args_init(&sa);
    uint64_t off = 0, len = UINT64_MAX;
    argscan as;
    argscan_init(&as, "cat", "O:o:l:h", opts, argc, argv); /* -o: kubo's letter */
    int c;
    while ((c = argscan_next(&as)) != -1) {
        if (store_opt(&sa, c, &as))
            continue;
        switch (c) {
        case 'O':
        case 'o':
            if (!parse_u64(as.arg, &off))
                return cli_usage("cat", "bad --offset '%s'", as.arg);
            break;
        case 'l':
            if (!parse_u64(as.arg, &len))
                return cli_usage("cat", "bad --length '%s'", as.arg);
            break;
        case 'h':
            if (as.on)
                return fputs(cat_help, stdout), 0;
            break;
        default: return 2; /* argscan_next() said why */
        }
    }
    if (argc - as.optind != 1)
        return cli_usage("cat", "expected one CID");
    ia_store *s;
    int rc = open_store(&sa, &s);
    if (rc)
        return rc;
    ia_cid cid;
    if (!(rc = resolve_ref(s, argv[as.optind], &cid))) {
        ia_block_source src;
        ia_store_source(s, &src);
        /* a whole file from the network: fetch its DAG in parallel first */
        ia_status st = off == 0 && len == UINT64_MAX && ia_store_online(s)
                           ? ia_store_fetch_dag(s, &cid, NULL)
                           : IA_OK;
        if (!st)
            st = ia_unixfs_cat(&src, &cid, off, len, stdout_write, NULL);
        if (st)
            rc = cli_fail(st, "cat %s", argv[as.optind]);
        else if (fflush(stdout))
            rc = cli_fail(IA_ERR_IO, "writing stdout");
    }
    ia_store_close(s);
    return rc;
}

static const char get_help[] =
    "Usage: ipfs-accelerate get [OPTIONS] CID[/PATH] -o PATH\n"
    "\n"
    "Write a file, symlink or directory tree (plain or HAMT-sharded) to PATH,\n"
    "which must not exist. Every block is verified; a missing block fails.\n"
    "\n"
    "  -o, --output PATH   where to write (default: the CID)\n" STORE_HELP;

static const char car_export_help[] =
    "Usage: ipfs-accelerate car export CID[/PATH] -o FILE\n"
    "\n"
    "Write the DAG under CID as a CARv1 (depth-first, each block once, as kubo's\n"
    "`ipfs dag export`).\n"
    "\n"
    "  -o, --output FILE\n" STORE_HELP;

/* get and car export: the DAG under a reference, made local (fetched as a
 * whole first when the store is online), then written out as files or as
 * a CAR. */
static int write_out(int argc, char **argv, const char *cmd, const char *help, bool car)
{
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, STORE_LONGOPTS, {0, 0, 0, 0}};
    store_args sa;
    store_args_init(&sa);
    const char *outp = NULL;
    argscan as;
    argscan_init(&as, cmd, "o:h", opts, argc, argv);
    int c;
    while ((c = argscan_next(&as)) != -1) {
        if (store_opt(&sa, c, &as))
            continue;
        switch (c) {
        case 'o': outp = as.arg; break;
        case 'h':
            if (as.on)
                return fputs(help, stdout), 0;
            break;
        default: return 2; /* argscan_next() said why */
        }
    }
    if (argc - as.optind != 1 || (car && !outp))
        return cli_usage(cmd, car ? "expected CID and -o FILE" : "expected one CID");
    ia_store *s;
    int rc = open_store(&sa, &s);
    if (rc)
        return rc;
    ia_cid cid;
    if (!(rc = resolve_ref(s, argv[as.optind], &cid))) {
        char def[IA_CID_STR_MAX];
        size_t n = 0;
        if (!outp)
            outp = ia_cid_str(&cid, def);
        ia_status st = ia_store_online(s) ? ia_store_fetch_dag(s, &cid, NULL) : IA_OK;
        if (!st) {
            ia_block_source src;
            ia_store_source(s, &src);
            st = car ? ia_car_export(&src, &cid, outp, &n) : ia_unixfs_get(&src, &cid, outp);
        }
        if (st)
            rc = cli_fail(st, "%s %s", cmd, argv[as.optind]);
        else if (car)
            fprintf(stderr, "exported %zu blocks to %s\n", n, outp);
    }
    ia_store_close(s);
    return rc;
}

int cmd_ipfs_get(int argc, char **argv);
int cmd_ipfs_get(int argc, char **argv) { return write_out(argc, argv, "get", get_help, false); }

static ia_status print_entry(void *ctx, const ia_unixfs_entry *e)
{
    char s[IA_CID_STR_MAX];
    (void)ctx;
    printf("%s %llu %s\n", ia_cid_str(&e->cid, s), (unsigned long long)e->tsize, e->name);
    return IA_OK;
}

int cmd_ipfs_ls(int argc, char **argv);
int cmd_ipfs_ls(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, STORE_LONGOPTS, {0, 0, 0, 0}};
    store_args sa;
    store_args_init(&sa);
    argscan as;
    argscan_init(&as, "ls", "h", opts, argc, argv);
    int c;
    while ((c = argscan_next(&as)) != -1) {
        if (store_opt(&sa, c, &as))
            continue;
        if (c != 'h')
            return 2; /* argscan_next() said why */
        if (as.on) {
            printf("Usage: ipfs-accelerate ls [OPTIONS] CID[/PATH]\n\nList a directory: CID SIZE NAME.\n%s",
                   STORE_HELP);
            return 0;
        }
    }
    if (argc - as.optind != 1)
        return cli_usage("ls", "expected one CID");
    ia_store *s;
    int rc = open_store(&sa, &s);
    if (rc)
        return rc;
    ia_cid cid;
    if (!(rc = resolve_ref(s, argv[as.optind], &cid))) {
        ia_block_source src;
        ia_store_source(s, &src);
        ia_status st = ia_unixfs_ls(&src, &cid, print_entry, NULL);
        if (st)
            rc = cli_fail(st, "ls %s", argv[as.optind]);
    }
    ia_store_close(s);
    return rc;
}

/* ---- car ---- */

int cmd_ipfs_car_export(int argc, char **argv);
int cmd_ipfs_car_export(int argc, char **argv)
{
    return write_out(argc, argv, "car export", car_export_help, true);
}

int cmd_ipfs_car_import(int argc, char **argv);
int cmd_ipfs_car_import(int argc, char **argv)
{
    static const struct option opts[] = {
        {"no-pin", no_argument, 0, 'P'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    bool pin = true;
    argscan as;
    argscan_init(&as, "car import", "h", opts, argc, argv);
    int c;
    while ((c = argscan_next(&as)) != -1) {
        switch (c) {
        case 'P': pin = !as.on; break;
        case 'h':
            if (!as.on)
                break;
            printf("Usage: ipfs-accelerate car import [--no-pin] FILE...\n\nStore every block of "
                   "CARv1/CARv2 files (each verified) and pin their roots.\nA root whose DAG is "
                   "incomplete is reported and not pinned (exit 1).\n");
            return 0;
        default: return 2; /* argscan_next() said why */
        }
    }
    if (as.optind >= argc)
        return cli_usage("car import", "no FILE given");
    ia_store_options so;
    ia_store_options_init(&so);
    so.offline = true;
    ia_store *s;
    ia_status st = ia_store_open(&so, &s);
    if (st)
        return cli_fail(st, "cannot open the store");
    ia_blockstore *bs = ia_store_blockstore(s);
    int rc = 0;
    for (int i = as.optind; i < argc; i++) {
        ia_car_reader *r;
        if ((st = ia_car_open(argv[i], &r))) {
            rc = cli_fail(st, "car import");
            continue;
        }
        size_t nb = 0;
        for (;;) {
            ia_cid cid;
            const uint8_t *d;
            size_t l;
            bool done;
            st = ia_car_next(r, &cid, &d, &l, &done);
            if (st || done)
                break;
            if ((st = ia_blockstore_put(bs, &cid, d, l)))
                break;
            nb++;
        }
        if (st) {
            rc = cli_fail(st, "car import %s", argv[i]);
            ia_car_close(r);
            continue;
        }
        fprintf(stderr, "imported %zu blocks from %s\n", nb, argv[i]);
        size_t nr;
        const ia_cid *roots = ia_car_roots(r, &nr);
        for (size_t k = 0; k < nr; k++) {
            char cs[IA_CID_STR_MAX];
            ia_cid_str(&roots[k], cs);
            /* complete? walk it from the store, offline */
            st = ia_store_fetch_dag(s, &roots[k], NULL);
            if (st) {
                rc = cli_fail(st, "root %s: DAG incomplete, not pinned", cs);
                continue;
            }
            if (pin && (st = ia_pin_add(bs, &roots[k], true)))
                rc = cli_fail(st, "pinning %s", cs);
            else
                printf("%s root %s\n", pin ? "pinned" : "complete", cs);
        }
        ia_car_close(r);
    }
    ia_store_close(s);
    return rc;
}

/* ---- pins ---- */

/* pin add (direct set: its --direct or kubo's -r/--recursive=false) and
 * pin rm: one CID. Returns -1 after printing help. */
static int one_cid_cmd(int argc, char **argv, const char *cmd, ia_cid *cid, bool *direct)
{
    static const struct option add_opts[] = {{"recursive", no_argument, 0, 'r'},
                                             {"direct", no_argument, 0, 'd'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    static const struct option rm_opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    argscan as;
    argscan_init(&as, cmd, direct ? "rh" : "h", direct ? add_opts : rm_opts, argc, argv);
    int c;
    while ((c = argscan_next(&as)) != -1) {
        if (c == 'd')
            *direct = as.on;
        else if (c == 'r')
            *direct = !as.on;
        else if (c != 'h')
            return 2; /* argscan_next() said why */
        else if (as.on) {
            printf("Usage: ipfs-accelerate %s %sCID\n", cmd,
                   direct ? "[--direct | -r=false] " : "");
            return -1;
        }
    }
    if (argc - as.optind != 1)
        return cli_usage(cmd, "expected one CID");
    ia_status st = ia_ipfs_ref_parse(argv[as.optind], cid, NULL);
    return st ? cli_fail(st, "%s", cmd) : 0;
}

int cmd_ipfs_pin_add(int argc, char **argv);
int cmd_ipfs_pin_add(int argc, char **argv)
{
    ia_cid cid;
    bool direct = false;
    int rc = one_cid_cmd(argc, argv, "pin add", &cid, &direct);
    if (rc)
        return rc < 0 ? 0 : rc;
    ia_store_options so;
    ia_store_options_init(&so);
    so.offline = true;
    ia_store *s;
    ia_status st = ia_store_open(&so, &s);
    if (st)
        return cli_fail(st, "cannot open the store");
    char cs[IA_CID_STR_MAX];
    /* a recursive pin needs the whole DAG locally, like kubo */
    if (!direct && (st = ia_store_fetch_dag(s, &cid, NULL)))
        rc = cli_fail(st, "pin add %s: DAG not complete locally", ia_cid_str(&cid, cs));
    else if (direct && !ia_blockstore_has(ia_store_blockstore(s), &cid))
        rc = cli_fail(IA_ERR_NOT_FOUND, "pin add %s: block not in the store", ia_cid_str(&cid, cs));
    else if ((st = ia_pin_add(ia_store_blockstore(s), &cid, !direct)))
        rc = cli_fail(st, "pin add");
    else
        printf("pinned %s %s\n", ia_cid_str(&cid, cs), direct ? "directly" : "recursively");
    ia_store_close(s);
    return rc;
}

int cmd_ipfs_pin_rm(int argc, char **argv);
int cmd_ipfs_pin_rm(int argc, char **argv)
{
    ia_cid cid;
    int rc = one_cid_cmd(argc, argv, "pin rm", &cid, NULL);
    if (rc)
        return rc < 0 ? 0 : rc;
    ia_blockstore *bs;
    ia_status st = ia_blockstore_open(NULL, &bs);
    if (st)
        return cli_fail(st, "cannot open the store");
    char cs[IA_CID_STR_MAX];
    if ((st = ia_pin_rm(bs, &cid)))
        rc = cli_fail(st, "pin rm");
    else
        printf("unpinned %s\n", ia_cid_str(&cid, cs));
    ia_blockstore_close(bs);
    return rc;
}

static ia_status print_pin(void *ctx, const ia_cid *cid, bool rec)
{
    char s[IA_CID_STR_MAX];
    (void)ctx;
    printf("%s %s\n", ia_cid_str(cid, s), rec ? "recursive" : "direct");
    return IA_OK;
}

int cmd_ipfs_pin_ls(int argc, char **argv);
int cmd_ipfs_pin_ls(int argc, char **argv)
{
    if (argc > 1) {
        if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
            printf("Usage: ipfs-accelerate pin ls\n\nList pins: CID recursive|direct.\n");
            return 0;
        }
        return cli_usage("pin ls", "no arguments expected");
    }
    ia_blockstore *bs;
    ia_status st = ia_blockstore_open(NULL, &bs);
    if (st)
        return cli_fail(st, "cannot open the store");
    st = ia_pin_ls(bs, print_pin, NULL);
    ia_blockstore_close(bs);
    return st ? cli_fail(st, "pin ls") : 0;
}

/* ---- maintenance ---- */

int cmd_ipfs_gc(int argc, char **argv);
int cmd_ipfs_gc(int argc, char **argv)
{
    static const struct option opts[] = {{"max-size", required_argument, 0, 'm'},
                                         {"grace", required_argument, 0, 'g'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    uint64_t max = 0;
    double grace = 60;
    argscan as;
    argscan_init(&as, "gc", "h", opts, argc, argv);
    int c;
    while ((c = argscan_next(&as)) != -1) {
        switch (c) {
        case 'm':
            if (!parse_u64(as.arg, &max))
                return cli_usage("gc", "bad --max-size '%s' (bytes, or with K/M/G/T)", as.arg);
            break;
        case 'g': grace = strtod(as.arg, NULL); break;
        case 'h':
            if (!as.on)
                break;
            printf("Usage: ipfs-accelerate gc [--max-size SIZE] [--grace SECONDS]\n\n"
                   "Remove unpinned blocks, least recently used first, until the store holds at\n"
                   "most SIZE bytes (default: remove every unpinned block). Blocks used in the\n"
                   "last SECONDS (default 60) are kept.\n");
            return 0;
        default: return 2; /* argscan_next() said why */
        }
    }
    if (as.optind < argc)
        return cli_usage("gc", "no arguments expected");
    ia_blockstore *bs;
    ia_status st = ia_blockstore_open(NULL, &bs);
    if (st)
        return cli_fail(st, "cannot open the store");
    ia_gc_result r;
    st = ia_blockstore_gc(bs, max, grace, &r);
    ia_blockstore_close(bs);
    if (st)
        return cli_fail(st, "gc");
    printf("removed %llu blocks (%llu bytes); kept %llu blocks (%llu bytes)\n",
           (unsigned long long)r.removed_blocks, (unsigned long long)r.removed_bytes,
           (unsigned long long)r.kept_blocks, (unsigned long long)r.kept_bytes);
    return 0;
}

int cmd_ipfs_store_stat(int argc, char **argv);
int cmd_ipfs_store_stat(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        printf("Usage: ipfs-accelerate store stat\n");
        return strcmp(argv[1], "-h") && strcmp(argv[1], "--help") ? 2 : 0;
    }
    ia_blockstore *bs;
    ia_status st = ia_blockstore_open(NULL, &bs);
    if (st)
        return cli_fail(st, "cannot open the store");
    ia_store_stat s;
    st = ia_blockstore_stat(bs, &s);
    if (!st)
        printf("home: %s\nblocks: %llu\nbytes: %llu\npins: %llu\n", ia_blockstore_home(bs),
               (unsigned long long)s.blocks, (unsigned long long)s.bytes,
               (unsigned long long)s.pins);
    ia_blockstore_close(bs);
    return st ? cli_fail(st, "store stat") : 0;
}

static void print_damage(void *ctx, const char *path, const char *problem)
{
    (void)ctx;
    printf("damaged: %s: %s\n", path, problem);
}

int cmd_ipfs_store_verify(int argc, char **argv);
int cmd_ipfs_store_verify(int argc, char **argv)
{
    if (argc > 1) {
        printf("Usage: ipfs-accelerate store verify\n\nRe-hash every block; list damaged ones "
               "(exit 1 if any).\n");
        return strcmp(argv[1], "-h") && strcmp(argv[1], "--help") ? 2 : 0;
    }
    ia_blockstore *bs;
    ia_status st = ia_blockstore_open(NULL, &bs);
    if (st)
        return cli_fail(st, "cannot open the store");
    uint64_t ok = 0, bad = 0;
    st = ia_blockstore_verify(bs, print_damage, NULL, &ok, &bad);
    ia_blockstore_close(bs);
    if (st)
        return cli_fail(st, "store verify");
    printf("verified %llu blocks, %llu damaged\n", (unsigned long long)ok, (unsigned long long)bad);
    return bad ? 1 : 0;
}

/* ---- gateway ---- */

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

int cmd_ipfs_gateway(int argc, char **argv);
int cmd_ipfs_gateway(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *listen = "127.0.0.1:8080";
    argscan as;
    argscan_init(&as, "gateway", "l:h", opts, argc, argv);
    int c;
    while ((c = argscan_next(&as)) != -1) {
        switch (c) {
        case 'l': listen = as.arg; break;
        case 'h':
            if (!as.on)
                break;
            printf("Usage: ipfs-accelerate gateway [--listen HOST:PORT]\n\n"
                   "Serve the local store read-only as a trustless gateway:\n"
                   "GET/HEAD /ipfs/{cid}[/path] (?format=raw|car, dag-scope) and\n"
                   "GET /routing/v1/providers/{cid}. Default listen 127.0.0.1:8080.\n");
            return 0;
        default: return 2; /* argscan_next() said why */
        }
    }
    if (as.optind < argc)
        return cli_usage("gateway", "no arguments expected");
    ia_store_options so;
    ia_store_options_init(&so);
    so.offline = true;
    ia_store *s = NULL;
    ia_gateway *g = NULL;
    ia_server *srv = NULL;
    ia_server_options o;
    memset(&o, 0, sizeof o);
    o.listen = listen;
    o.http_threads = 4;
    ia_status st = ia_store_open(&so, &s);
    if (!st)
        st = ia_gateway_new(s, &g);
    if (!st)
        st = ia_server_new(&o, &srv);
    if (!st)
        st = ia_gateway_mount(g, srv);
    if (!st)
        st = ia_server_start(srv);
    int rc = 0;
    if (st) {
        rc = cli_fail(st, "gateway on %s", listen);
    } else {
        char host[256] = "127.0.0.1", ma[320];
        const char *colon = strrchr(listen, ':');
        if (colon && colon != listen && (size_t)(colon - listen) < sizeof host)
            snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
        unsigned port = ia_server_port(srv);
        snprintf(ma, sizeof ma, "/ip4/%s/tcp/%u/http", host, port);
        ia_gateway_set_address(g, ma);
        fprintf(stderr, "gateway: http://%s:%u/ipfs/ (peer %s), store %s\n", host, port,
                ia_gateway_peer_id(g), ia_blockstore_home(ia_store_blockstore(s)));
        printf("listening on %s:%u\n", host, port);
        fflush(stdout);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        while (!stop_flag)
            pause();
        ia_server_shutdown(srv, 5);
    }
    ia_server_free(srv);
    ia_gateway_free(g);
    ia_store_close(s);
    return rc;
}

/* ---- models ---- */

int cmd_ipfs_model_add(int argc, char **argv);
int cmd_ipfs_model_add(int argc, char **argv)
{
    static const struct option opts[] = {IMPORTER_LONGOPTS, {"only-hash", no_argument, 0, 'n'},
                                         {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    ia_unixfs_options uo;
    ia_unixfs_options_init(&uo);
    bool only_hash = false;
    argscan as;
    argscan_init(&as, "model add", "ts:nHh", opts, argc, argv);
    int c;
    while ((c = argscan_next(&as)) != -1) {
        int r = importer_opt(&uo, c, &as);
        if (r > 0)
            return r;
        if (r == 0)
            continue;
        switch (c) {
        case 'n': only_hash = as.on; break;
        case 'h':
            if (!as.on)
                break;
            printf("Usage: ipfs-accelerate model add [ADD OPTIONS] DIR\n\n"
                   "Add a model folder to the store (as `add -r`, kubo's CIDs), pin it and\n"
                   "print its CID. Load it anywhere with --model ipfs://CID.\n");
            return 0;
        default: return 2; /* argscan_next() said why */
        }
    }
    if (argc - as.optind != 1)
        return cli_usage("model add", "expected one DIR");
    ia_blockstore *bs = NULL;
    ia_block_sink sink;
    ia_status st = IA_OK;
    if (!only_hash) {
        st = ia_blockstore_open(NULL, &bs);
        if (st)
            return cli_fail(st, "cannot open the store");
        ia_blockstore_sink(bs, &sink);
    }
    ia_cid root;
    st = ia_unixfs_add_path(argv[as.optind], true, &uo, bs ? &sink : NULL, NULL, NULL, &root);
    if (!st && bs)
        st = ia_pin_add(bs, &root, true);
    ia_blockstore_close(bs);
    if (st)
        return cli_fail(st, "model add %s", argv[as.optind]);
    char cs[IA_CID_STR_MAX];
    printf("%s\n", ia_cid_str(&root, cs));
    return 0;
}
