/* real.h — the scalar type of the CPU reference kernels.
 *
 * The *_ref.c kernels are written once over mk_real. The library compiles them as float with
 * the names mk_ref_<op>; the finite-difference tests compile the same files again with
 * -DMK_REAL_DOUBLE as double with the names mk_refd_<op>, so every backward is checked in
 * double precision against the very code the library runs.
 */
#ifndef MK_REAL_H
#define MK_REAL_H

#ifdef MK_REAL_DOUBLE
typedef double mk_real;
#define MK_REF(op) mk_refd_##op
#define MK_GEMM cblas_dgemm
#define MK_EXP exp
#define MK_LOG log
#define MK_LOG1P log1p
#define MK_SQRT sqrt
#define MK_FABS fabs
#else
typedef float mk_real;
#define MK_REF(op) mk_ref_##op
#define MK_GEMM cblas_sgemm
#define MK_EXP expf
#define MK_LOG logf
#define MK_LOG1P log1pf
#define MK_SQRT sqrtf
#define MK_FABS fabsf
#endif

#endif /* MK_REAL_H */
