/*
 * The public surface behaves the same everywhere:
 *   - every public function called with all arguments zero (NULL) returns
 *     IA_ERR_INVALID with a message naming it, or does nothing, and never
 *     crashes (the table is generated from the headers: null_calls.c);
 *   - ia_errmsg() is "" after a call that succeeded;
 *   - the log callback may call the library, runs on several threads at
 *     once, and is never called again once ia_log_set has replaced it;
 *   - the version macros match the library.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipfs_accelerate/ipfs_accelerate.h"
#include "null_calls.h"
#include "test.h"

/* NULL is a meaningful argument for these: they succeed. */
static const char *const null_ok[] = {
    "ia_config_use", /* NULL: back to defaults + files + environment */
};

static bool is_null_ok(const char *name)
{
    for (size_t i = 0; i < sizeof null_ok / sizeof *null_ok; i++)
        if (!strcmp(name, null_ok[i]))
            return true;
    return false;
}

static void null_arguments(void)
{
    int crashed = 0;
    for (int i = 0; i < n_null_calls; i++) {
        const null_call *c = &null_calls[i];
        pid_t pid = fork();
        if (pid == 0) {
            alarm(20);
            int st = c->call();
            /* the status, and whether the message names the function */
            int named = !c->returns_status || st == 0 || strstr(ia_errmsg(), c->name) != NULL;
            _exit((st < 0 ? -st : st) | (named ? 0 : 0x40));
        }
        int ws = 0;
        waitpid(pid, &ws, 0);
        if (!WIFEXITED(ws)) {
            crashed++;
            CHECK_MSG(0, "%s with NULL arguments: killed by signal %d", c->name, WTERMSIG(ws));
            continue;
        }
        const int code = WEXITSTATUS(ws) & 0x3f, unnamed = WEXITSTATUS(ws) & 0x40;
        if (!c->returns_status)
            continue;
        if (is_null_ok(c->name)) {
            CHECK_MSG(code == 0, "%s(NULL...) = %d, want success", c->name, -code);
        } else {
            CHECK_MSG(code == -IA_ERR_INVALID, "%s(NULL...) = %d, want IA_ERR_INVALID", c->name, -code);
            CHECK_MSG(!unnamed, "%s(NULL...): the message does not name the function", c->name);
        }
    }
    printf("null arguments: %d public functions called, %d crashed\n", n_null_calls, crashed);
}

static void errmsg_cleared(void)
{
    ia_cid cid;
    CHECK(ia_cid_parse("not a cid", &cid) < 0);
    CHECK(ia_errmsg()[0] != '\0');
    CHECK_OK(ia_cid_parse("bafkqaaa", &cid));
    CHECK_MSG(ia_errmsg()[0] == '\0', "after a success: \"%s\"", ia_errmsg());
    ia_model *m = NULL;
    CHECK(ia_model_load("/nonexistent/model", NULL, &m) < 0);
    ia_config *cfg = NULL;
    CHECK_OK(ia_config_load(NULL, &cfg));
    CHECK_MSG(ia_errmsg()[0] == '\0', "after ia_config_load: \"%s\"", ia_errmsg());
    ia_config_free(cfg);
}

static atomic_int calls_old, calls_new, reentered;

static void log_old(ia_log_level level, const char *msg, void *user)
{
    atomic_fetch_add(&calls_old, 1);
    /* the callback may use the library, which may log again */
    ia_cid cid;
    if (ia_cid_parse("bafkqaaa", &cid) == IA_OK)
        atomic_fetch_add(&reentered, 1);
}

static void log_new(ia_log_level level, const char *msg, void *user) { atomic_fetch_add(&calls_new, 1); }

static void *log_storm(void *arg)
{
    for (int i = 0; i < 200; i++) {
        ia_selection sel; /* an unknown device logs a fallback warning */
        ia_backend_select("cuda:7", &sel);
    }
    return NULL;
}

static void logging(void)
{
    ia_log_set(log_old, NULL, IA_LOG_DEBUG);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, log_storm, NULL);
    usleep(2000);
    ia_log_set(log_new, NULL, IA_LOG_DEBUG);
    const int old_after_set = atomic_load(&calls_old);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    CHECK_MSG(atomic_load(&calls_old) == old_after_set, "the old callback ran after ia_log_set returned");
    CHECK(atomic_load(&calls_new) > 0);
    CHECK(atomic_load(&reentered) == atomic_load(&calls_old));
    ia_log_set(NULL, NULL, IA_LOG_INFO);
    printf("logging: %d calls to the first callback, %d to the second\n", atomic_load(&calls_old),
           atomic_load(&calls_new));
}

static void version(void)
{
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", IA_VERSION_MAJOR, IA_VERSION_MINOR, IA_VERSION_PATCH);
    CHECK_MSG(!strcmp(ia_version(), want), "ia_version() %s, headers %s", ia_version(), want);
}

int main(void)
{
    null_arguments();
    errmsg_cleared();
    logging();
    version();
    return test_summary("test_api");
}
