/*
 * The content layer's commands: add, cat, get, ls, car export/import,
 * pin add/rm/ls, gc, store stat/verify, gateway and model add. They work
 * on the store under $IPFS_ACCELERATE_HOME (default ~/.ipfs_accelerate)
 * and reach the network through the layers of the configuration
 * (ipfs.local_node, ipfs.gateways; see `config show`), replaced by
 * --kubo-rpc and --gateway, plus --router (or IPFS_ACCELERATE_ROUTERS).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ipfs_accelerate/gateway.h"

/* ---- shared store options ---- */

enum { OPT_GATEWAY = 1000, OPT_KUBO, OPT_ROUTER, OPT_TIMEOUT, OPT_OFFLINE };

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
static bool store_opt(store_args *a, int c, const char *arg)
{
    switch (c) {
    case OPT_GATEWAY: append_url(a->gateways, sizeof a->gateways, arg); return true;
    case OPT_ROUTER: append_url(a->routers, sizeof a->routers, arg); return true;
    case OPT_KUBO: a->o.kubo_rpc = arg; return true;
    case OPT_TIMEOUT: a->o.timeout_s = strtod(arg, NULL); return true;
    case OPT_OFFLINE: a->o.offline = true; return true;
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
    "      --cid-version N   0 (default) or 1 (implies --raw-leaves)\n"
    "      --raw-leaves      leaves as raw blocks\n"
    "      --chunker size-N  bytes per leaf (default size-262144)\n"
    "  -t, --trickle         trickle DAG layout\n"
    "  -n, --only-hash       compute CIDs only; store nothing\n"
    "  -H, --hidden          include files whose names start with '.'\n"
    "      --no-pin          do not pin the result\n"
    "  -q, --quiet           print CIDs only\n"
    "  -Q, --quieter         print only the last root CID\n";

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
static int importer_opt(ia_unixfs_options *o, int c, const char *arg, const char *cmd)
{
    switch (c) {
    case 'V':
        if (strcmp(arg, "0") && strcmp(arg, "1"))
            return cli_usage(cmd, "--cid-version must be 0 or 1, got '%s'", arg);
        o->cid_version = arg[0] - '0';
        return 0;
    case 'R': o->raw_leaves = 1; return 0;
    case 't': o->layout = IA_UNIXFS_TRICKLE; return 0;
    case 'H': o->hidden = true; return 0;
    case 'C': {
        uint64_t n;
        if (strncmp(arg, "size-", 5) || !parse_u64(arg + 5, &n) || n == 0 || n > (2u << 20) - 256)
            return cli_usage(cmd, "--chunker must be size-N with 1 <= N <= 2096896, got '%s'", arg);
        o->chunk_size = (size_t)n;
        return 0;
    }
    }
    return -1;
}

#define IMPORTER_LONGOPTS                                                                          \
    {"cid-version", required_argument, 0, 'V'}, {"raw-leaves", no_argument, 0, 'R'},             \
        {"chunker", required_argument, 0, 'C'}, {"trickle", no_argument, 0, 't'},                 \
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
        {"no-pin", no_argument, 0, 'P'},   {"quiet", no_argument, 0, 'q'},
        {"quieter", no_argument, 0, 'Q'},  {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    ia_unixfs_options uo;
    ia_unixfs_options_init(&uo);
    bool rec = false, only_hash = false, pin = true;
    add_out out = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "rtnHqQh", opts, NULL)) != -1) {
        int r = importer_opt(&uo, c, optarg, "add");
        if (r > 0)
            return r;
        if (r == 0)
            continue;
        switch (c) {
        case 'r': rec = true; break;
        case 'n': only_hash = true; break;
        case 'P': pin = false; break;
        case 'q': out.quiet = 1; break;
        case 'Q': out.quiet = 2; break;
        case 'h': fputs(add_help, stdout); return 0;
        default: return cli_usage("add", "unknown option");
        }
    }
    if (optind >= argc)
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
    for (int i = optind; i < argc && !rc; i++) {
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
    "  -O, --offset N   start at byte N\n"
    "  -l, --length N   at most N bytes\n" STORE_HELP;

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
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "O:l:h", opts, NULL)) != -1) {
        if (store_opt(&sa, c, optarg))
            continue;
        switch (c) {
        case 'O':
            if (!parse_u64(optarg, &off))
                return cli_usage("cat", "bad --offset '%s'", optarg);
            break;
        case 'l':
            if (!parse_u64(optarg, &len))
                return cli_usage("cat", "bad --length '%s'", optarg);
            break;
        case 'h': fputs(cat_help, stdout); return 0;
        default: return cli_usage("cat", "unknown option");
        }
    }
    if (argc - optind != 1)
        return cli_usage("cat", "expected one CID");
    ia_store *s;
    int rc = open_store(&sa, &s);
    if (rc)
        return rc;
    ia_cid cid;
    if (!(rc = resolve_ref(s, argv[optind], &cid))) {
        ia_block_source src;
        ia_store_source(s, &src);
        /* a whole file from the network: fetch its DAG in parallel first */
        ia_status st = off == 0 && len == UINT64_MAX && ia_store_online(s)
                           ? ia_store_fetch_dag(s, &cid, NULL)
                           : IA_OK;
        if (!st)
            st = ia_unixfs_cat(&src, &cid, off, len, stdout_write, NULL);
        if (st)
            rc = cli_fail(st, "cat %s", argv[optind]);
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
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        if (store_opt(&sa, c, optarg))
            continue;
        switch (c) {
        case 'o': outp = optarg; break;
        case 'h': fputs(help, stdout); return 0;
        default: return cli_usage(cmd, "unknown option");
        }
    }
    if (argc - optind != 1 || (car && !outp))
        return cli_usage(cmd, car ? "expected CID and -o FILE" : "expected one CID");
    ia_store *s;
    int rc = open_store(&sa, &s);
    if (rc)
        return rc;
    ia_cid cid;
    if (!(rc = resolve_ref(s, argv[optind], &cid))) {
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
            rc = cli_fail(st, "%s %s", cmd, argv[optind]);
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
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (store_opt(&sa, c, optarg))
            continue;
        if (c == 'h') {
            printf("Usage: ipfs-accelerate ls [OPTIONS] CID[/PATH]\n\nList a directory: CID SIZE NAME.\n%s",
                   STORE_HELP);
            return 0;
        }
        return cli_usage("ls", "unknown option");
    }
    if (argc - optind != 1)
        return cli_usage("ls", "expected one CID");
    ia_store *s;
    int rc = open_store(&sa, &s);
    if (rc)
        return rc;
    ia_cid cid;
    if (!(rc = resolve_ref(s, argv[optind], &cid))) {
        ia_block_source src;
        ia_store_source(s, &src);
        ia_status st = ia_unixfs_ls(&src, &cid, print_entry, NULL);
        if (st)
            rc = cli_fail(st, "ls %s", argv[optind]);
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
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'P': pin = false; break;
        case 'h':
            printf("Usage: ipfs-accelerate car import [--no-pin] FILE...\n\nStore every block of "
                   "CARv1/CARv2 files (each verified) and pin their roots.\nA root whose DAG is "
                   "incomplete is reported and not pinned (exit 1).\n");
            return 0;
        default: return cli_usage("car import", "unknown option");
        }
    }
    if (optind >= argc)
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
    for (int i = optind; i < argc; i++) {
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

static int one_cid_cmd(int argc, char **argv, const char *cmd, ia_cid *cid, bool *direct)
{
    static const struct option opts[] = {
        {"direct", no_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'd' && direct)
            *direct = true;
        else if (c == 'h') {
            printf("Usage: ipfs-accelerate %s %sCID\n", cmd, direct ? "[--direct] " : "");
            return -1;
        } else
            return cli_usage(cmd, "unknown option");
    }
    if (argc - optind != 1)
        return cli_usage(cmd, "expected one CID");
    ia_status st = ia_ipfs_ref_parse(argv[optind], cid, NULL);
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
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (!parse_u64(optarg, &max))
                return cli_usage("gc", "bad --max-size '%s' (bytes, or with K/M/G/T)", optarg);
            break;
        case 'g': grace = strtod(optarg, NULL); break;
        case 'h':
            printf("Usage: ipfs-accelerate gc [--max-size SIZE] [--grace SECONDS]\n\n"
                   "Remove unpinned blocks, least recently used first, until the store holds at\n"
                   "most SIZE bytes (default: remove every unpinned block). Blocks used in the\n"
                   "last SECONDS (default 60) are kept.\n");
            return 0;
        default: return cli_usage("gc", "unknown option");
        }
    }
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
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 'h':
            printf("Usage: ipfs-accelerate gateway [--listen HOST:PORT]\n\n"
                   "Serve the local store read-only as a trustless gateway:\n"
                   "GET/HEAD /ipfs/{cid}[/path] (?format=raw|car, dag-scope) and\n"
                   "GET /routing/v1/providers/{cid}. Default listen 127.0.0.1:8080.\n");
            return 0;
        default: return cli_usage("gateway", "unknown option");
        }
    }
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
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "tnHh", opts, NULL)) != -1) {
        int r = importer_opt(&uo, c, optarg, "model add");
        if (r > 0)
            return r;
        if (r == 0)
            continue;
        switch (c) {
        case 'n': only_hash = true; break;
        case 'h':
            printf("Usage: ipfs-accelerate model add [ADD OPTIONS] DIR\n\n"
                   "Add a model folder to the store (as `add -r`, kubo's CIDs), pin it and\n"
                   "print its CID. Load it anywhere with --model ipfs://CID.\n");
            return 0;
        default: return cli_usage("model add", "unknown option");
        }
    }
    if (argc - optind != 1)
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
    st = ia_unixfs_add_path(argv[optind], true, &uo, bs ? &sink : NULL, NULL, NULL, &root);
    if (!st && bs)
        st = ia_pin_add(bs, &root, true);
    ia_blockstore_close(bs);
    if (st)
        return cli_fail(st, "model add %s", argv[optind]);
    char cs[IA_CID_STR_MAX];
    printf("%s\n", ia_cid_str(&root, cs));
    return 0;
}
