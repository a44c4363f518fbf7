/* Fuzz target: an HTTP request body as the server's embedding and
 * classification routes parse it (OpenAI /v1/embeddings, TEI /embed,
 * /tokenize, /similarity, /rerank and /predict, Cohere's /v1/rerank: UTF-8
 * check, JSON, field types), and the same bytes through the JSON string
 * writer that echoes names back in error messages. */
#include <stdint.h>
#include <string.h>

#include "server/server-impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const srv_body_kind kinds[] = {SRV_BODY_EMBEDDINGS, SRV_BODY_EMBED, SRV_BODY_TOKENIZE, SRV_BODY_SIMILARITY};
    for (size_t k = 0; k < IA_ARRAY_LEN(kinds); k++) {
        srv_input_req req;
        srv_error err;
        int st = ia__srv_parse_request(kinds[k], (const char *)data, size, 64, &req, &err);
        if (st == 0) {
            for (size_t i = 0; i < req.n; i++) /* every text is readable, every id list not empty */
                if (req.ids && req.ids[i] ? req.n_ids[i] == 0 || req.ids[i][req.n_ids[i] - 1] < 0
                                          : req.lens[i] == 0 || strlen(req.texts[i]) != req.lens[i])
                    __builtin_trap();
            ia__srv_input_req_free(&req);
        } else if (st < 400 || st > 599 || !err.msg[0]) {
            __builtin_trap();
        }
    }
    static const srv_rank_kind rank_kinds[] = {SRV_RANK_TEI, SRV_RANK_COHERE, SRV_PREDICT};
    for (size_t k = 0; k < IA_ARRAY_LEN(rank_kinds); k++) {
        srv_rank_req req;
        srv_error err;
        int st = ia__srv_parse_rank_request(rank_kinds[k], (const char *)data, size, 64, &req, &err);
        if (st == 0) {
            if (rank_kinds[k] != SRV_PREDICT && (!req.query_len || strlen(req.query) != req.query_len))
                __builtin_trap();
            for (size_t i = 0; i < req.n; i++) /* every text is readable */
                if (req.lens[i] == 0 || strlen(req.texts[i]) != req.lens[i] ||
                    (req.seconds && req.seconds[i] && strlen(req.seconds[i]) != req.second_lens[i]))
                    __builtin_trap();
            ia__srv_rank_req_free(&req);
        } else if (st < 400 || st > 599 || !err.msg[0]) {
            __builtin_trap();
        }
    }
    sbuf b = {0};
    ia__sbuf_json_str(&b, (const char *)data, size);
    size_t len = 0;
    char *out = ia__sbuf_take(&b, &len);
    if (out && !ia__utf8_valid(out, len, NULL)) /* written JSON is always valid UTF-8 */
        __builtin_trap();
    ia__free(out);
    return 0;
}
