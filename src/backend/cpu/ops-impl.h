/*
 * The CPU backend's engine core (ops.c): the `supports` and `graph_compute`
 * slots of the backend table for the ops of src/tensor/tensor.h, and the
 * one thing ops.c needs from an instance (cpu.c). Never installed.
 */
#ifndef IA_BACKEND_CPU_OPS_IMPL_H
#define IA_BACKEND_CPU_OPS_IMPL_H

#include <stdbool.h>

#include "tensor/tensor.h"

/* The instance's OpenMP thread count (> 0); ctx from the backend's open(). */
int ia__cpu_ctx_threads(void *ctx);

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
