/* ref_util.c — scratch memory of the CPU reference kernels (see ref_util.h).
 *
 * The kernels return void (the op table mirrors CUDA launches), so a kernel whose scratch
 * cannot be allocated records the failure here, skips its work, and the backend's sync()
 * turns the record into MK_ERR_NOMEM with the op's name. The record is per thread: the thread
 * that launches ops is the one that syncs.
 */
#include <stdlib.h>
#include "ref_util.h"

static _Thread_local const char *failed_op;
static _Thread_local size_t failed_bytes;

void *MK_REF(scratch_alloc)(size_t bytes, const char *op)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p && !failed_op) {
        failed_op = op;
        failed_bytes = bytes;
    }
    return p;
}

int MK_REF(scratch_failed)(const char **op, size_t *bytes)
{
    if (!failed_op)
        return 0;
    *op = failed_op;
    *bytes = failed_bytes;
    failed_op = NULL;
    failed_bytes = 0;
    return 1;
}
