/* grad_write.h — how a backward op writes an activation gradient (linear_bwd's din,
 * conv1d_bwd's dx, scan_bwd's du / ddelta / dz).
 *
 * MK_GRAD_ADD adds to what the buffer holds, so the gradients of several consumers of one
 * tensor sum up (the contracts' default). MK_GRAD_SET overwrites it and never reads it: the
 * model's backward uses it for a buffer's first writer, which saves zeroing the buffer and
 * reading it back (two passes over each activation gradient of every layer).
 * Parameter gradients (dW, dbias, dA_log, ...) always add: micro-batches accumulate.
 *
 * Likewise in the forward, an activation that feeds products can be written in bf16 by the op
 * that makes it (add_rmsnorm_fwd's normed16, conv1d_fwd's out16, scan_fwd's out16) and taken
 * by linear_fwd / linear_bwd as in16.
 *
 * An activation gradient that only feeds products (dxz into in_proj's backward, ddelta into
 * dt_proj's) may instead be written in bf16 (scan_bwd's ddelta16 / dz16, conv1d_bwd's dx16;
 * set, never added), and linear_bwd takes such a gradient as dout16: in the bf16 GEMM mode the
 * products read it as it is, so no fp32 copy is written, read back and rounded. The values are
 * the fp32 ones rounded to nearest even (half.h's mk_f32_to_bf16), bit patterns in uint16_t.
 */
#ifndef MK_GRAD_WRITE_H
#define MK_GRAD_WRITE_H
#include "half.h"

enum mk_grad_write { MK_GRAD_ADD = 0, MK_GRAD_SET = 1 };

#endif
