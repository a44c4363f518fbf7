/*
 * The one HTTP client routine of the content layer (libcurl): gateway,
 * routing and kubo RPC requests, bounded in time and in body size.
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ipfs-impl.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

typedef struct sink {
    ia__buf *b;
    FILE *f;
    size_t n, max;
    bool too_big;
} sink;

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    sink *s = user;
    size_t k = size * n;
    if (s->n + k > s->max) {
        s->too_big = true;
        return 0;
    }
    s->n += k;
    if (s->f)
        return fwrite(p, 1, k, s->f) == k ? k : 0;
    if (ia__buf_put(s->b, p, k))
        return 0;
    return k;
}

ia_status ia__http(const char *method, const char *url, const char *accept, const uint8_t *body,
                   size_t body_len, const char *multipart_field, double timeout_s,
                   size_t max_bytes, ia__http_resp *out)
{
    pthread_once(&curl_once, curl_init);
    FILE *file = out->file; /* the caller zero-initializes out, or sets file */
    memset(out, 0, sizeof *out);
    out->file = file;
    if (file) { /* a retry starts the file afresh */
        rewind(file);
        if (ftruncate(fileno(file), 0))
            return ia__error(IA_ERR_IO, "%s: cannot reset the download file", url);
    }
    CURL *c = curl_easy_init();
    if (!c)
        return ia__error(IA_ERR_NOMEM, "%s: cannot make an HTTP handle", url);
    sink s = {&out->body, file, 0, max_bytes, false};
    struct curl_slist *hdr = NULL;
    curl_mime *mime = NULL;
    char ab[160];
    if (accept) {
        snprintf(ab, sizeof ab, "Accept: %s", accept);
        hdr = curl_slist_append(hdr, ab);
    }
    hdr = curl_slist_append(hdr, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
    long ms = (long)(timeout_s * 1000);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 30000L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms > 0 && ms < 10000 ? ms : 10000L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ipfs-accelerate");
    if (!strcmp(method, "HEAD")) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (multipart_field) {
        mime = curl_mime_init(c);
        curl_mimepart *part = curl_mime_addpart(mime);
        curl_mime_name(part, multipart_field);
        curl_mime_filename(part, "block");
        curl_mime_type(part, "application/octet-stream");
        curl_mime_data(part, (const char *)body, body_len);
        curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    } else if (!strcmp(method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    CURLcode rc = curl_easy_perform(c);
    ia_status st = IA_OK;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        char *ct = NULL;
        if (!curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) && ct)
            snprintf(out->content_type, sizeof out->content_type, "%s", ct);
    } else if (s.too_big) {
        st = ia__error(IA_ERR_FORMAT, "%s: response larger than %zu bytes", url, max_bytes);
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        st = ia__error(IA_ERR_TIMEOUT, "%s: no complete answer within %.1f s", url, timeout_s);
    } else {
        st = ia__error(IA_ERR_IO, "%s: %s", url, curl_easy_strerror(rc));
    }
    curl_easy_cleanup(c);
    curl_mime_free(mime);
    curl_slist_free_all(hdr);
    if (st)
        ia__buf_free(&out->body);
    return st;
}
