/* grad_write.h — how a backward op writes an activation gradient (linear_bwd's din,
 * conv1d_bwd's dx, scan_bwd's du / ddelta / dz).
 *
 * MK_GRAD_ADD adds to what the buffer holds, so the gradients of several consumers of one
 * tensor sum up (the contracts' default). MK_GRAD_SET overwrites it and never reads it: the
 * model's backward uses it for a buffer's first writer, which saves zeroing the buffer and
 * reading it back (two passes over each activation gradient of every layer).
 * Parameter gradients (dW, dbias, dA_log, ...) always add: micro-batches accumulate.
 */
#ifndef MK_GRAD_WRITE_H
#define MK_GRAD_WRITE_H

enum mk_grad_write { MK_GRAD_ADD = 0, MK_GRAD_SET = 1 };

#endif
