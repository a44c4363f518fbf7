/*
 * The ipfs-accelerate command line: main.c dispatches the first word(s) to
 * one cmd_* function per subcommand, each in the cmd_<area>.c file of its
 * subsystem. Each returns the process exit status (0 ok, 1 failure, 2 usage).
 */
#ifndef IA_CLI_H
#define IA_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "ipfs_accelerate/ipfs_accelerate.h"

typedef int (*cli_fn)(int argc, char **argv);

struct cli_command {
    const char *name;    /* "embed", "model info", "car export" */
    cli_fn fn;           /* argv[0] is the last word of the name */
    const char *summary; /* one line for `ipfs-accelerate help` */
};

/* Print "ipfs-accelerate: <message>" (and the library's detail, if the
 * status is a failure) to stderr. Returns 1 for `return cli_fail(...)`. */
int cli_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Usage error: message and a pointer to `--help`; returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The library's log messages go to stderr at this level or above. */
void cli_log_init(ia_log_level min_level);
bool cli_stderr_is_tty(void);
/* Seconds on a monotonic clock. */
double cli_now(void);

#define IA_CLI_MIN(a, b) ((a) < (b) ? (a) : (b))

#endif
