/* Fuzz target: an HTTP request body as the text-generation routes parse it
 * (OpenAI /v1/chat/completions and /v1/completions: UTF-8 check, JSON,
 * every field's type and range). */
#include <stdint.h>
#include <string.h>

#include "server/server-impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int chat = 0; chat < 2; chat++) {
        srv_gen_req req;
        srv_error err;
        const int st = ia__srv_parse_gen_request(chat, (const char *)data, size, &req, &err);
        if (st == 0) {
            if (req.n < 1 || req.n > SRV_MAX_CHOICES || req.n_stop > SRV_MAX_STOP || req.max_tokens < 0 ||
                req.top_logprobs < 0 || req.top_logprobs > 20 || (chat && !req.messages) ||
                (!chat && !req.prompt && !req.n_prompt_ids))
                __builtin_trap();
            for (size_t i = 0; i < req.n_stop; i++)
                if (!req.stop[i])
                    __builtin_trap();
        } else if (st < 400 || st > 599 || !err.msg[0]) {
            __builtin_trap();
        }
        ia__srv_gen_req_free(&req);
    }
    return 0;
}
