/* Sequence-classification heads on the encoders (heads.c). Never
 * installed. */
#ifndef IA_HEADS_IMPL_H
#define IA_HEADS_IMPL_H

#include <cjson/cJSON.h>

#include "core/core-impl.h"
#include "model/arch-impl.h"
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

/* BertForMaskedLM's head, in backend memory: logits = W_dec
 * LayerNorm(act(W x + b)) + b_dec over the vocabulary (W_dec: the stored
 * decoder, or the word embeddings it is tied to). */
typedef struct ia_mlm_head {
    const ia_backend *be;
    void *bctx;
    int hidden, vocab;
    ia_act act;
    float eps;
    ia_tensor dense_w, dense_b, ln_g, ln_b, dec_w, dec_b;
    void *bufs[6];
} ia_mlm_head;

ia_status ia__mlm_head_load(const ia_safetensors *st, const ia_encoder_config *cfg, const ia_backend *be,
                            void *bctx, ia_mlm_head *h);
void ia__mlm_head_free(ia_mlm_head *h);
/* SPLADE: out (n_seqs, vocab), host memory = for each packed sequence of
 * the hidden states x (backend memory, offsets), the max over its tokens
 * of log(1 + relu(logits)). */
ia_status ia__mlm_head_splade(const ia_mlm_head *h, float *x, const int *offsets, int n_seqs, float *out);

#endif
