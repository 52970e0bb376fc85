/* tap.h — a minimal Test Anything Protocol emitter for the test programs (automake's
 * tap-driver.sh reads it). Header-only: every function is static inline.
 *
 *   plan(3);                       -> "1..3"
 *   ok(cond, "name %d", i);        -> "ok 1 - name 0" / "not ok 1 - name 0"
 *   diag("max err %g", e);         -> "# max err 0.001"
 *   skip_all("no CUDA device");    -> "1..0 # SKIP no CUDA device", exit 0
 *   return exit_status();          -> 0 if every planned test ran and passed
 */
#ifndef MK_TAP_H
#define MK_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_planned = -1, tap_run = 0, tap_failed = 0;

static inline void plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
}

static inline void plan_lazy(void)
{
    tap_planned = -2; /* the plan is printed by exit_status() */
}

static inline int ok(int cond, const char *fmt, ...)
{
    va_list ap;
    tap_run++;
    if (!cond)
        tap_failed++;
    printf("%sok %d - ", cond ? "" : "not ", tap_run);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    return cond;
}

static inline void diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static inline void skip_all(const char *why)
{
    printf("1..0 # SKIP %s\n", why);
    fflush(stdout);
    exit(0);
}

static inline void bail_out(const char *fmt, ...)
{
    va_list ap;
    printf("Bail out! ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    exit(255);
}

static inline int exit_status(void)
{
    if (tap_planned == -2) {
        printf("1..%d\n", tap_run);
        tap_planned = tap_run;
    }
    if (tap_planned >= 0 && tap_planned != tap_run) {
        diag("planned %d tests but ran %d", tap_planned, tap_run);
        return 1;
    }
    return tap_failed ? 1 : 0;
}

#endif /* MK_TAP_H */
