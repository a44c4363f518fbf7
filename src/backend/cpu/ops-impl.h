/*
 * The CPU backend's engine core (ops.c): the `supports` and `graph_compute`
 * slots of the backend table for the ops of src/tensor/tensor.h, and the
 * one thing ops.c needs from an instance (cpu.c). Never installed.
 */
#ifndef IA_BACKEND_CPU_OPS_IMPL_H
#define IA_BACKEND_CPU_OPS_IMPL_H

#include <stdbool.h>

#include "tensor/tensor.h"

/* From cpu.c, on an instance ctx from the backend's open(): its OpenMP
 * thread count (> 0), and whether it profiles. */
int ia__cpu_ctx_threads(void *ctx);
bool ia__cpu_ctx_profiling(void *ctx);
/* Add one computed node's time (and a matmul's flop) to the profile. */
void ia__cpu_prof_op(void *ctx, ia_op op, double seconds, double flop);

/* A prepared weight (weight_prepare): oneDNN-packed, in the instance's
 * precision, with its bias. Its shape. */
typedef struct ia_linear ia_linear;
void ia__cpu_linear_dims(const ia_linear *lin, int *n_out, int *n_in);
/* y (n_rows, n_out) = act(x (n_rows, n_in) W^T + b), rows contiguous;
 * profiles itself. */
ia_status ia__cpu_linear(void *ctx, const ia_linear *lin, const float *x, float *y, int n_rows, ia_act act);
/* res = LayerNorm(res + x W^T + b) * gamma + beta, the layer fused with
 * the residual add and LayerNorm after it; tmp (n_rows, n_out) ends up
 * undefined. */
ia_status ia__cpu_linear_add_ln(void *ctx, const ia_linear *lin, const float *x, float *res, float *tmp,
                                int n_rows, const float *gamma, const float *beta, float eps);
/* res = LayerNorm(res + act(x U^T + bu) D^T + bd) * gamma + beta: a
 * feed-forward pair and the LayerNorm after it. int8 layers go a block of
 * rows at a time on each thread (x may be res: each block reads its rows
 * first); others one after the other through h_tmp (n_rows, n_up) and
 * y_tmp (n_rows, n_out), which end up undefined. Worth it from
 * IA_CPU_FFN_MIN_ROWS rows, where every thread gets blocks. */
enum { IA_CPU_FFN_MIN_ROWS = 512 };
ia_status ia__cpu_ffn_add_ln(void *ctx, const ia_linear *up, ia_act act, const ia_linear *down, const float *x,
                             float *h_tmp, float *y_tmp, float *res, int n_rows, const float *gamma,
                             const float *beta, float eps);
/* Bidirectional attention inside packed sequences whose Q, K and V are
 * one contiguous (n_tok, 3 * dim) matrix, Q|K|V per token; out (n_tok,
 * dim). The tuned path of a BERT layer. bias (NULL: none): head h's
 * position bias at relative position r (key - query) is bias[h * bias_stride
 * + r], for |r| below the longest sequence. */
ia_status ia__cpu_attention_packed(void *ctx, const float *qkv, float *out, const int32_t *offsets, int n_seqs,
                                   int n_heads, int head_dim, float scale, const float *bias, size_t bias_stride);

/* Can the CPU backend compute this node? False for a node that fails
 * ia__node_check and for the layouts ops.c does not handle: tensors
 * without memory or misaligned for their dtype (4 bytes for f32 and i32,
 * 2 for f16, bf16 and the block types, strides too), block-type rows that
 * are not packed blocks, a dst whose rows are not dense inside (nb[0] the
 * element size) or overlap one another, a matmul dst that is not
 * contiguous, a get_rows table of more than one matrix, and a dst that
 * overlaps an input, except exactly the same view of the input of a
 * row-wise op (in place: norms, add, mul, scale, unary, glu with two
 * inputs, rope, softmax). Leaves ia_errmsg() as it was. Thread-safe. */
bool ia__cpu_supports(void *ctx, const ia_node *node);

/* Compute nodes[0 .. n_nodes) in order on host memory. Every node is
 * first checked (ia__node_check, then supports): a malformed node is
 * IA_ERR_INVALID and an unsupported one IA_ERR_UNSUPPORTED, both naming
 * the node's index and op, and nothing is computed. While computing, the
 * first failure stops the list (a get_rows id out of range is
 * IA_ERR_INVALID naming the id; IA_ERR_NOMEM for scratch; IA_ERR_BACKEND
 * for a oneDNN failure), again naming the node; the dsts of the nodes
 * before it hold their results. */
ia_status ia__cpu_graph_compute(void *ctx, const ia_node *nodes, int n_nodes);

#endif
