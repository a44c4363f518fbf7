/*
 * The server's C API without a model: delegated routes (ia_server_mount)
 * as the IPFS gateway uses them (request accessors, headers, buffered and
 * streamed answers, the auth flag, a handler that forgets to answer), the
 * answers before any model is loaded, lifecycle errors; and the string
 * writers behind every response body (JSON strings, base64 floats, UTF-8).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/server-impl.h"
#include "test.h"

/* One request with "Connection: close"; the whole answer, NUL-terminated. */
static char *http(uint16_t port, const char *request, size_t *len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return NULL;
    }
    size_t n = strlen(request), off = 0;
    while (off < n) {
        ssize_t w = write(fd, request + off, n - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
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
    int *freed;
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
    (*p->freed)++;
    free(p);
}

static int n_freed;

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

int main(void)
{
    test_sbuf();

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
    CHECK_OK(ia_server_start(s));
    CHECK(ia_server_mount(s, "/late/", echo, NULL, 0) == IA_ERR_INVALID);
    uint16_t port = ia_server_port(s);
    CHECK(port > 0);
    CHECK(!ia_server_healthy(s));

    char *r = http(port, "POST /x/a%20b?q=1&flag HTTP/1.1\r\nHost: h\r\nX-Test: t\r\n"
                         "Content-Length: 5\r\nConnection: close\r\n\r\nhello", NULL);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 201") && strstr(r, "X-Handler: yes") &&
                  strstr(r, "POST /x/a b q=1 flag=(empty) x-test=t body=5:hello user=gw"),
              "%s", r ? r : "(no answer)");
    free(r);
    r = http(port, "GET /x/deeper/z HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", NULL);
    CHECK_MSG(r && strstr(r, "GET /x/deeper/z q=(none) flag=(none) x-test=(none) body=0: user=deeper"),
              "longest prefix wins: %s", r ? r : "(no answer)");
    free(r);
    size_t len = 0;
    r = http(port, "GET /stream/f HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", &len);
    CHECK_MSG(r && strstr(r, "Content-Length: 100000") && body_is_pattern(r, len, 100000, false),
              "streamed with a length: %.200s", r ? r : "");
    free(r);
    r = http(port, "GET /stream/f?chunked HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", &len);
    CHECK_MSG(r && strstr(r, "Transfer-Encoding: chunked") && body_is_pattern(r, len, 100000, true),
              "streamed chunked: %.200s", r ? r : "");
    free(r);
    r = http(port, "HEAD /stream/f HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", &len);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 200") && strstr(r, "\r\n\r\n")[4] == '\0', "HEAD: %s", r ? r : "");
    free(r);
    r = http(port, "GET /secret/s HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", NULL);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 401") && strstr(r, "WWW-Authenticate: Bearer"), "%s", r ? r : "");
    free(r);
    r = http(port, "GET /secret/s HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer k3y\r\nConnection: close\r\n\r\n",
             NULL);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 201"), "%s", r ? r : "");
    free(r);
    r = http(port, "GET /x/open HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", NULL);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 201"), "a mount without the flag is open: %s", r ? r : "");
    free(r);
    r = http(port, "GET /silent HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", NULL);
    CHECK_MSG(r && strstr(r, "HTTP/1.1 500") && strstr(r, "gave no answer"), "%s", r ? r : "");
    free(r);
    r = http(port, "POST /x/big HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n", NULL);
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
    CHECK_MSG(r && strstr(r, "ipfs_accelerate_http_requests_total{route=\"/x/\",status=\"201\"} 2") &&
                  strstr(r, "ipfs_accelerate_http_requests_total{route=\"/silent\",status=\"500\"} 1"),
              "mount routes in the metrics: %s", r ? r : "");
    free(r);

    ia_server_shutdown(s, 5);
    ia_server_shutdown(s, 5); /* idempotent */
    CHECK(n_freed == 3);      /* each stream's user data freed once (GET, chunked, HEAD) */
    CHECK(http(port, "GET /health HTTP/1.1\r\n\r\n", NULL) == NULL);
    ia_server_free(s);
    ia_server_free(NULL);
    return test_summary("test_server_c");
}
