/* Registry of model architectures, found by config.json's model_type. */
#include <string.h>

#include "model/arch-impl.h"

typedef const ia_arch *(*arch_ctor)(void);
static const arch_ctor archs[] = {ia__arch_bert,    ia__arch_distilbert,  ia__arch_mpnet,
                                  ia__arch_roberta, ia__arch_xlm_roberta, ia__arch_camembert,
                                  ia__arch_qwen2,   ia__arch_qwen3,       ia__arch_mistral,
                                  ia__arch_llama,   ia__arch_modernbert};

const ia_arch *ia__arch_find(const char *model_type)
{
    for (size_t i = 0; i < IA_ARRAY_LEN(archs); i++)
        if (!strcmp(archs[i]()->model_type, model_type))
            return archs[i]();
    return NULL;
}

const char *ia__arch_names(void)
{
    return "bert, distilbert, mpnet, roberta, xlm-roberta, camembert, modernbert, qwen2, qwen3, mistral, llama";
}
