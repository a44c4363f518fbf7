/*
 * The server's C API without a model: delegated routes (ia_server_mount)
 * as the IPFS gateway uses them (request accessors, headers, buffered and
 * streamed answers, the API key on every mount, a handler that forgets to
 * answer), the answers before any model is loaded, lifecycle errors; the
 * handler pool (a blocked handler holds no HTTP thread, 429 beyond
 * max_concurrent_requests, 504 past timeout_s); and the string writers
 * behind every response body (JSON strings, base64 floats, UTF-8).
 *
 * `test_server_c shutdown` runs only the shutdown case: a request whose
 * body arrives after the drain time, while the server stops (the queue must
 * outlive the HTTP threads; run under TSan by make test-tsan).
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/server-impl.h"
#include "test.h"
#include "tokenizer/tokenizer-impl.h"

#define KEY "Authorization: Bearer k3y\r\n"

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static bool send_all(int fd, const char *p)
{
    size_t n = strlen(p), off = 0;
    while (off < n) {
        ssize_t w = write(fd, p + off, n - off);
        if (w <= 0)
            return false;
        off += (size_t)w;
    }
    return true;
}

/* Connect and send request; its answer waits at most recv_s. -1 on failure. */
static int http_send(uint16_t port, const char *request, int recv_s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {recv_s, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) || !send_all(fd, request)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The whole answer (up to the close or the receive timeout), NUL-terminated;
 * closes fd. */
static char *http_recv(int fd, size_t *len)
{
    if (fd < 0)
        return NULL;
    size_t cap = 1 << 16, got = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (got == cap)
            buf = realloc(buf, (cap *= 2) + 1);
        ssize_t r = read(fd, buf + got, cap - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    close(fd);
    if (len)
        *len = got;
    return buf;
}

/* One request with "Connection: close"; the whole answer, NUL-terminated. */
static char *http(uint16_t port, const char *request, size_t *len)
{
    return http_recv(http_send(port, request, 10), len);
}

static void echo(const ia_http_request *req, ia_http_response *res, void *user)
{
    size_t blen = 0;
    const void *body = ia_http_request_body(req, &blen);
    const char *q = ia_http_request_query(req, "q"), *flag = ia_http_request_query(req, "flag");
    const char *h = ia_http_request_header(req, "x-test");
    char out[512];
    int n = snprintf(out, sizeof out, "%s %s q=%s flag=%s x-test=%s body=%zu:%.*s user=%s",
                     ia_http_request_method(req), ia_http_request_path(req), q ? q : "(none)",
                     flag ? (flag[0] ? flag : "(empty)") : "(none)", h ? h : "(none)", blen,
                     (int)blen, body ? (const char *)body : "", (const char *)user);
    ia_http_response_header(res, "X-Handler", "yes");
    ia_http_respond(res, 201, "text/plain", out, (size_t)n);
    /* A second answer is refused. */
    CHECK(ia_http_respond(res, 200, NULL, "x", 1) == IA_ERR_INVALID);
}

typedef struct pattern {
    size_t size;
    atomic_int *freed;
} pattern;

static ssize_t pattern_read(void *user, uint64_t pos, char *buf, size_t max)
{
    pattern *p = user;
    if (pos >= p->size)
        return 0;
    size_t n = IA_MIN(max, p->size - (size_t)pos);
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)('a' + (pos + i) % 26);
    return (ssize_t)n;
}

static void pattern_free(void *user)
{
    pattern *p = user;
    atomic_fetch_add(p->freed, 1);
    free(p);
}

static atomic_int n_freed;

static void stream(const ia_http_request *req, ia_http_response *res, void *user)
{
    (void)user;
    pattern *p = malloc(sizeof *p);
    p->size = 100000;
    p->freed = &n_freed;
    bool chunked = ia_http_request_query(req, "chunked") != NULL;
    ia_http_respond_stream(res, 200, "application/octet-stream", chunked ? UINT64_MAX : p->size,
                           pattern_read, p, pattern_free);
}

static void silent(const ia_http_request *req, ia_http_response *res, void *user)
{
    (void)req, (void)res, (void)user;
}

static bool body_is_pattern(const char *resp, size_t len, size_t n, bool chunked)
{
    const char *b = strstr(resp, "\r\n\r\n");
    if (!b)
        return false;
    b += 4;
    size_t have = len - (size_t)(b - resp), k = 0;
    if (!chunked) {
        if (have != n)
            return false;
        for (size_t i = 0; i < n; i++)
            if (b[i] != (char)('a' + i % 26))
                return false;
        return true;
    }
    const char *p = b, *end = resp + len;
    while (p < end) { /* size CRLF data CRLF ... 0 CRLF CRLF */
        char *e;
        unsigned long sz = strtoul(p, &e, 16);
        if (e == p || e + 2 > end)
            return false;
        p = e + 2;
        if (sz == 0)
            break;
        for (unsigned long i = 0; i < sz; i++, k++)
            if (p + i >= end || p[i] != (char)('a' + k % 26))
                return false;
        p += sz + 2;
    }
    return k == n;
}

static void test_sbuf(void)
{
    sbuf b = {0};
    const float v[2] = {1.0f, -2.5f};
    ia__sbuf_base64_floats(&b, v, 2);
    ia__sbuf_puts(&b, " ");
    ia__sbuf_base64_floats(&b, v, 1);
    ia__sbuf_puts(&b, " ");
    ia__sbuf_json_floats(&b, v, 2);
    ia__sbuf_puts(&b, " ");
    ia__sbuf_json_str(&b, "a\"b\\c\n\x01\xc3\xa9\xff\xe4\xb8", 12);
    char *s = ia__sbuf_take(&b, NULL);
    CHECK_MSG(s && !strcmp(s, "\"AACAPwAAIMA=\" \"AACAPw==\" [1,-2.5] "
                              "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""),
              "%s", s ? s : "(null)");
    ia__free(s);
    size_t bad = 0;
    CHECK(ia__utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80", 10, NULL));
    CHECK(!ia__utf8_valid("ab\xc0\xaf", 4, &bad) && bad == 2);          /* overlong */
    CHECK(!ia__utf8_valid("\xed\xa0\x80", 3, &bad) && bad == 0);         /* surrogate */
    CHECK(!ia__utf8_valid("abc\xe4\xb8", 5, &bad) && bad == 3);          /* truncated */
    CHECK(!ia__utf8_valid("\xf4\x90\x80\x80", 4, &bad) && bad == 0);     /* above U+10FFFF */
}

/* A handler that blocks until its gate opens (at most 10 s). */
typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int entered;
    bool open;
} gate;

static void blocked(const ia_http_request *req, ia_http_response *res, void *user)
{
    gate *g = user;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&g->lock);
    g->entered++;
    pthread_cond_broadcast(&g->cond);
    while (!g->open && !pthread_cond_timedwait(&g->cond, &g->lock, &until))
        ;
    pthread_mutex_unlock(&g->lock);
    (void)req;
    ia_http_respond(res, 200, "text/plain", "done", 4);
}

/* Wait (at most 10 s) until n handlers entered the gate. */
static bool gate_wait(gate *g, int n)
{
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&g->lock);
        bool in = g->entered >= n;
        pthread_mutex_unlock(&g->lock);
        if (in)
            return true;
        sleep_s(0.01);
    }
    return false;
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

static size_t pool_in_system(ia_server *s)
{
    pthread_mutex_lock(&s->pool.lock);
    size_t n = s->pool.in_system;
    pthread_mutex_unlock(&s->pool.lock);
    return n;
}

/* A mounted handler that blocks holds none of the HTTP threads: with one
 * HTTP thread and its handler stuck, other requests are still answered; one
 * request beyond max_concurrent_requests is 429. */
static void test_handler_pool(void)
{
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false};
    ia_server_options o = {.listen = "127.0.0.1:0", .http_threads = 1, .max_concurrent_requests = 2,
                           .timeout_s = 20};
    ia_server *s;
    CHECK_OK(ia_server_new(&o, &s));
    CHECK_OK(ia_server_mount(s, "/block/", blocked, &g, 0));
    CHECK_OK(ia_server_start(s));
    uint16_t port = ia_server_port(s);
    const char *req = "GET /block/ HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    int a = http_send(port, req, 15);
    CHECK_MSG(gate_wait(&g, 1), "the handler did not run");
    double t0 = ia__now();
    char *r = http_recv(http_send(port, "GET /health HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 3),
                        NULL);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 503") && strstr(r, "no model loaded yet") && ia__now() - t0 < 3,
              "the HTTP thread answers while a handler blocks: %.1f s: %s", ia__now() - t0, r ? r : "");
    free(r);
    int b = http_send(port, req, 15); /* waits for the one handler thread */
    for (int i = 0; i < 1000 && pool_in_system(s) < 2; i++)
        sleep_s(0.01);
    r = http(port, req, NULL);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 429") && strstr(r, "Retry-After: 1"),
              "beyond max_concurrent_requests: %s", r ? r : "");
    free(r);
    gate_open(&g);
    char *ra = http_recv(a, NULL), *rb = http_recv(b, NULL);
    CHECK_MSG(ra && strstr(ra, "HTTP/1.1 200") && rb && strstr(rb, "HTTP/1.1 200"),
              "both blocked requests answered: %s / %s", ra ? ra : "", rb ? rb : "");
    free(ra);
    free(rb);
    ia_server_free(s);
}

static atomic_int late_status = 1;

/* Works until the server says its time is up, then tries to answer. */
static void late(const ia_http_request *req, ia_http_response *res, void *user)
{
    gate *g = user;
    pthread_mutex_lock(&g->lock);
    g->entered++;
    pthread_mutex_unlock(&g->lock);
    double t0 = ia__now();
    while (!ia_http_request_expired(req) && ia__now() - t0 < 10)
        sleep_s(0.01);
    atomic_store(&late_status, ia_http_respond(res, 200, "text/plain", "late", 4));
}

static void *stop_server(void *s)
{
    ia_server_shutdown(s, 0);
    return NULL;
}

/* A handler past timeout_s is told so; its answer is refused and the client
 * gets 504; when the server stops, 503. */
static void test_handler_deadline(void)
{
    gate g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false};
    ia_server_options o = {.listen = "127.0.0.1:0", .timeout_s = 1};
    ia_server *s;
    CHECK_OK(ia_server_new(&o, &s));
    CHECK_OK(ia_server_mount(s, "/late/", late, &g, 0));
    CHECK_OK(ia_server_start(s));
    uint16_t port = ia_server_port(s);
    const char *req = "GET /late/ HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    double t0 = ia__now();
    char *r = http(port, req, NULL);
    double took = ia__now() - t0;
    CHECK_MSG(r && strstr(r, "HTTP/1.1 504") && strstr(r, "--timeout") && took < 8,
              "a handler past timeout_s: %.1f s: %s", took, r ? r : "");
    CHECK(atomic_load(&late_status) == IA_ERR_TIMEOUT);
    free(r);
    ia_server_free(s);

    o.timeout_s = 30;
    CHECK_OK(ia_server_new(&o, &s));
    CHECK_OK(ia_server_mount(s, "/late/", late, &g, 0));
    CHECK_OK(ia_server_start(s));
    int fd = http_send(ia_server_port(s), req, 15);
    CHECK(gate_wait(&g, 2));
    pthread_t th;
    pthread_create(&th, NULL, stop_server, s);
    r = http_recv(fd, NULL);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 503"), "a handler running at shutdown: %s", r ? r : "");
    free(r);
    pthread_join(th, NULL);
    ia_server_free(s);
}

static void *stop_server_after_drain(void *s)
{
    ia_server_shutdown(s, 0.3);
    return NULL;
}

/* Headers before the stop, the body after the drain time: the request runs
 * while the server stops, and still finds the queue (here through /metrics)
 * alive. Before the fix the queue was torn down while HTTP threads could
 * still call into it (TSan: "use of an invalid mutex"). */
static void test_shutdown_slow_body(void)
{
    ia_server_options o = {.listen = "127.0.0.1:0", .timeout_s = 20};
    ia_server *s;
    CHECK_OK(ia_server_new(&o, &s));
    CHECK_OK(ia_server_start(s));
    int fd = http_send(ia_server_port(s), "GET /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
                                          "Connection: close\r\n\r\n", 15);
    for (int i = 0; i < 1000 && atomic_load(&s->active) < 1; i++)
        sleep_s(0.01);
    CHECK_MSG(atomic_load(&s->active) == 1, "the headers did not arrive");
    pthread_t th;
    pthread_create(&th, NULL, stop_server_after_drain, s);
    sleep_s(1); /* past the drain, within the 2 s left to answers in flight */
    CHECK(send_all(fd, "abcd"));
    char *r = http_recv(fd, NULL);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 200") && strstr(r, "ipfs_accelerate_queue_depth 0"),
              "the slow request is answered during the stop: %s", r ? r : "");
    free(r);
    pthread_join(th, NULL);
    ia_server_free(s);
}

/* An embedding request tokenizes each input once: the route's ids are
 * what the engine embeds (it used to tokenize them again). */
static void test_tokenize_once(void)
{
    ia_model *m = NULL;
    CHECK_OK(ia_model_load(IA_BUILD_DIR "/tests/models/tiny-f32", NULL, &m));
    ia_server *s = NULL;
    ia_server_options o = {.listen = "127.0.0.1:0"};
    CHECK_OK(ia_server_new(&o, &s));
    if (!m || !s) {
        ia_model_free(m);
        ia_server_free(s);
        return;
    }
    CHECK_OK(ia_server_add_model(s, "tiny", m));
    CHECK_OK(ia_server_start(s));
    const long before = ia__tokenizer_encode_calls();
    static const char body[] = "{\"inputs\": [\"one\", \"two words\", \"three more words\"]}";
    char req[512];
    snprintf(req, sizeof req, "POST /embed HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(body), body);
    char *r = http(ia_server_port(s), req, NULL);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 200"), "%.300s", r ? r : "(no answer)");
    const long calls = ia__tokenizer_encode_calls() - before;
    CHECK_MSG(calls == 3, "3 inputs were tokenized %ld times", calls);
    free(r);
    ia_server_shutdown(s, 1);
    ia_server_free(s);
}

/* A generation request's unset sampling fields: the model's
 * generation_config.json where it sets them, else the API's defaults. */
static void test_gen_defaults(void)
{
    static const char body[] = "{\"prompt\": \"x\", \"top_p\": 0.5}";
    ia_lm_gen_config gc = {.present = true,
                           .sampling = {.temperature = 0.6f, .top_k = 20, .top_p = NAN, .min_p = NAN,
                                        .repetition_penalty = 1.05f},
                           .max_new_tokens = 64};
    srv_gen_req r;
    srv_error err;
    CHECK(ia__srv_parse_gen_request(false, body, strlen(body), &r, &err) == 0);
    ia__srv_gen_defaults(&r, &gc);
    CHECK(r.sampling.temperature == 0.6f && r.sampling.top_k == 20 && r.sampling.top_p == 0.5f &&
          r.sampling.min_p == 0 && r.sampling.repetition_penalty == 1.05f && r.max_tokens == 64);
    ia__srv_gen_req_free(&r);
    CHECK(ia__srv_parse_gen_request(false, body, strlen(body), &r, &err) == 0);
    ia__srv_gen_defaults(&r, NULL);
    CHECK(r.sampling.temperature == 1 && r.sampling.top_k == 0 && r.sampling.top_p == 0.5f &&
          r.sampling.min_p == 0 && r.sampling.repetition_penalty == 1 && r.max_tokens == 0);
    ia__srv_gen_req_free(&r);
    static const char given[] = "{\"prompt\": \"x\", \"temperature\": 0, \"top_k\": -1, \"max_tokens\": 3}";
    CHECK(ia__srv_parse_gen_request(false, given, strlen(given), &r, &err) == 0);
    ia__srv_gen_defaults(&r, &gc);
    CHECK(r.sampling.temperature == 0 && r.sampling.top_k == 0 && r.max_tokens == 3);
    ia__srv_gen_req_free(&r);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "shutdown")) {
        test_shutdown_slow_body();
        return test_summary("test_server_shutdown");
    }
    test_sbuf();
    test_gen_defaults();
    test_tokenize_once();

    ia_server *s;
    ia_server_options bad = {.listen = "127.0.0.1:70000"};
    CHECK_OK(ia_server_new(&bad, &s));
    CHECK(ia_server_start(s) == IA_ERR_INVALID);
    CHECK_STR_CONTAINS(ia_errmsg(), "70000");
    ia_server_free(s);

    ia_server_options o = {.listen = "127.0.0.1:0", .api_key = "k3y", .max_body_bytes = 1000};
    CHECK_OK(ia_server_new(&o, &s));
    static char tag[] = "gw";
    CHECK_OK(ia_server_mount(s, "/x/", echo, tag, 0));
    CHECK_OK(ia_server_mount(s, "/x/deeper/", echo, "deeper", 0));
    CHECK_OK(ia_server_mount(s, "/stream/", stream, NULL, 0));
    CHECK_OK(ia_server_mount(s, "/secret/", echo, tag, IA_SERVER_MOUNT_AUTH));
    CHECK_OK(ia_server_mount(s, "/silent", silent, NULL, 0));
    CHECK(ia_server_mount(s, "nope", echo, NULL, 0) == IA_ERR_INVALID);
    CHECK(ia_server_mount(s, "/y/", echo, NULL, 2) == IA_ERR_INVALID); /* no such flag */
    CHECK_OK(ia_server_start(s));
    CHECK(ia_server_mount(s, "/late/", echo, NULL, 0) == IA_ERR_INVALID);
    uint16_t port = ia_server_port(s);
    CHECK(port > 0);
    CHECK(!ia_server_healthy(s));

    char *r = http(port, "POST /x/a%20b?q=1&flag HTTP/1.1\r\nHost: h\r\nX-Test: t\r\n" KEY
                         "Content-Length: 5\r\nConnection: close\r\n\r\nhello", NULL);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 201") && strstr(r, "X-Handler: yes") &&
                  strstr(r, "POST /x/a b q=1 flag=(empty) x-test=t body=5:hello user=gw"),
              "%s", r ? r : "(no answer)");
    free(r);
    r = http(port, "GET /x/deeper/z HTTP/1.1\r\nHost: h\r\n" KEY "Connection: close\r\n\r\n", NULL);
    CHECK_MSG(r && strstr(r, "GET /x/deeper/z q=(none) flag=(none) x-test=(none) body=0: user=deeper"),
              "longest prefix wins: %s", r ? r : "(no answer)");
    free(r);
    size_t len = 0;
    r = http(port, "GET /stream/f HTTP/1.1\r\nHost: h\r\n" KEY "Connection: close\r\n\r\n", &len);
    CHECK_MSG(r && strstr(r, "Content-Length: 100000") && body_is_pattern(r, len, 100000, false),
              "streamed with a length: %.200s", r ? r : "");
    free(r);
    r = http(port, "GET /stream/f?chunked HTTP/1.1\r\nHost: h\r\n" KEY "Connection: close\r\n\r\n",
             &len);
    CHECK_MSG(r && strstr(r, "Transfer-Encoding: chunked") && body_is_pattern(r, len, 100000, true),
              "streamed chunked: %.200s", r ? r : "");
    free(r);
    r = http(port, "HEAD /stream/f HTTP/1.1\r\nHost: h\r\n" KEY "Connection: close\r\n\r\n", &len);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 200") && strstr(r, "\r\n\r\n")[4] == '\0', "HEAD: %s", r ? r : "");
    free(r);
    r = http(port, "GET /secret/s HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", NULL);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 401") && strstr(r, "WWW-Authenticate: Bearer"), "%s", r ? r : "");
    free(r);
    r = http(port, "GET /secret/s HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer k3y\r\nConnection: close\r\n\r\n",
             NULL);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 201"), "%s", r ? r : "");
    free(r);
    /* The key covers every mount, flag or not: the gateway serves the whole
     * store. */
    r = http(port, "GET /x/open HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", NULL);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 401") && strstr(r, "WWW-Authenticate: Bearer"),
              "a mount without the flag needs the key too: %s", r ? r : "");
    free(r);
    r = http(port, "GET /stream/f HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer nope\r\n"
                   "Connection: close\r\n\r\n", NULL);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 401"), "a wrong key on a mount: %s", r ? r : "");
    free(r);
    r = http(port, "GET /silent HTTP/1.1\r\nHost: h\r\n" KEY "Connection: close\r\n\r\n", NULL);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 500") && strstr(r, "gave no answer"), "%s", r ? r : "");
    free(r);
    r = http(port, "POST /x/big HTTP/1.1\r\nHost: h\r\n" KEY "Content-Length: 5000\r\n"
                   "Connection: close\r\n\r\n", NULL);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 413"), "mounts share the body limit: %s", r ? r : "");
    free(r);
    r = http(port, "GET /health HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", NULL);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 503") && strstr(r, "no model loaded yet"), "%s", r ? r : "");
    free(r);
    r = http(port, "POST /embed HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer k3y\r\nContent-Length: 14\r\n"
                   "Connection: close\r\n\r\n{\"inputs\":\"a\"}", NULL);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 503") && strstr(r, "\"error_type\":\"Unhealthy\""), "%s", r ? r : "");
    free(r);
    r = http(port, "GET /metrics HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", NULL);
    CHECK_MSG(r && strstr(r, "ipfs_accelerate_http_requests_total{route=\"/x/\",status=\"201\"} 1") &&
                  strstr(r, "ipfs_accelerate_http_requests_total{route=\"/x/\",status=\"401\"} 1") &&
                  strstr(r, "ipfs_accelerate_http_requests_total{route=\"/silent\",status=\"500\"} 1"),
              "mount routes in the metrics: %s", r ? r : "");
    free(r);

    ia_server_shutdown(s, 5);
    ia_server_shutdown(s, 5); /* idempotent */
    CHECK(atomic_load(&n_freed) == 3); /* each stream's user data freed once (GET, chunked, HEAD) */
    CHECK(http(port, "GET /health HTTP/1.1\r\n\r\n", NULL) == NULL);
    ia_server_free(s);
    ia_server_free(NULL);

    test_handler_pool();
    test_handler_deadline();
    return test_summary("test_server_c");
}
