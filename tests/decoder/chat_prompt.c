/*
 * chat_prompt MODEL.gguf MESSAGES_JSON [add_generation_prompt 0|1]: the
 * model's chat template rendered for the messages and tokenized (the
 * messages' text never becomes special tokens). Prints one JSON object:
 * {"text": ..., "ids": [...]}. For the chat tests.
 */
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "model/lm.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: chat_prompt MODEL.gguf MESSAGES_JSON [0|1]\n");
        return 2;
    }
    cJSON *msgs = cJSON_Parse(argv[2]);
    ia_lm *lm = NULL;
    ia_i32vec ids = {0};
    char *text = NULL;
    if (!msgs || ia__lm_load(argv[1], "cpu", 1, NULL, &lm) ||
        ia__lm_chat_prompt(lm, msgs, NULL, argc < 4 || atoi(argv[3]), &ids, &text)) {
        fprintf(stderr, "chat_prompt: %s\n", msgs ? ia_errmsg() : "messages: not JSON");
        return 1;
    }
    cJSON *out = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(out, "ids");
    cJSON_AddStringToObject(out, "text", text);
    for (size_t i = 0; i < ids.n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids.v[i]));
    char *s = cJSON_PrintUnformatted(out);
    puts(s);
    free(s);
    cJSON_Delete(out);
    cJSON_Delete(msgs);
    ia__free(text);
    ia__i32vec_free(&ids);
    ia__lm_free(lm);
    return 0;
}
