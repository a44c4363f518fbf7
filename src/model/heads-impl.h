/* Sequence-classification heads on the encoders (heads.c). Never
 * installed. */
#ifndef IA_HEADS_IMPL_H
#define IA_HEADS_IMPL_H

#include <cjson/cJSON.h>

#include "core/core-impl.h"
#include "model/safetensors-impl.h"

/* logits = W2 act(W1 x + b1) + b2 on the first token's hidden state x. */
typedef struct ia_cls_head {
    int hidden, n_labels; /* n_labels 0: no head */
    float *W1, *b1;       /* (hidden, hidden) */
    float *W2, *b2;       /* (n_labels, hidden) */
    bool relu;            /* act: ReLU, else tanh */
    char **labels;        /* id2label's names, by id */
} ia_cls_head;

/* Does config.json name a *ForSequenceClassification architecture? */
bool ia__cls_head_wanted(const cJSON *config);
/* Load the head from st, its labels from config's id2label. */
ia_status ia__cls_head_load(const ia_safetensors *st, const cJSON *config, const char *config_path, int hidden,
                            ia_cls_head *h);
void ia__cls_head_free(ia_cls_head *h);
/* out (n_labels) for one hidden state x: the logits when raw, else the
 * sigmoid of one label or the softmax of several (as TEI). scratch holds
 * hidden floats. */
void ia__cls_head_apply(const ia_cls_head *h, const float *x, bool raw, float *scratch, float *out);

#endif
