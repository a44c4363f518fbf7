/* Registry of model architectures, found by config.json's model_type. */
#include <string.h>

#include "model/arch-impl.h"

typedef const ia_arch *(*arch_ctor)(void);
static const arch_ctor archs[] = {ia__arch_bert,    ia__arch_distilbert,  ia__arch_mpnet,
                                  ia__arch_roberta, ia__arch_xlm_roberta, ia__arch_camembert,
                                  ia__arch_qwen2,   ia__arch_qwen3,       ia__arch_mistral,
                                  ia__arch_llama,   ia__arch_modernbert,  ia__arch_nomic_bert,
                                  ia__arch_gte_new};

const ia_arch *ia__arch_find(const char *model_type)
{
    for (size_t i = 0; i < IA_ARRAY_LEN(archs); i++)
        if (!strcmp(archs[i]()->model_type, model_type))
            return archs[i]();
    return NULL;
}

const char *ia__arch_names(void)
{
    return "bert (and Jina BERT v2: bert with ALiBi), distilbert, mpnet, roberta, xlm-roberta, camembert, modernbert, "
           "nomic_bert, new (GTE), qwen2, qwen3, mistral, llama";
}

const ia_arch *ia__arch_for_config(const cJSON *config, const char *model_type)
{
    const cJSON *pet = cJSON_GetObjectItemCaseSensitive(config, "position_embedding_type");
    if (!strcmp(model_type, "bert") && cJSON_IsString(pet) && !strcmp(pet->valuestring, "alibi"))
        return ia__arch_jina_bert(); /* jinaai/jina-bert-implementation's JinaBert* */
    return ia__arch_find(model_type);
}
