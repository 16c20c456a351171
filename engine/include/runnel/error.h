/*
 * runnel/error.h — error codes and the error object that carries a message with context.
 *
 * Every fallible function returns 0 or a negative RN_E* code. Where the caller needs to tell a
 * person what went wrong (a bad expression, a corrupt batch), the function also fills an
 * rn_error: a fixed-size object the caller owns (usually on its stack), so reporting an error
 * never allocates and never needs freeing.
 */
#ifndef RUNNEL_ERROR_H
#define RUNNEL_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    RN_OK = 0,
    RN_ENOMEM = -1,    /* allocation failed */
    RN_EINVAL = -2,    /* invalid argument or input (parse error, type error, bad option) */
    RN_ECORRUPT = -3,  /* encoded data is truncated, corrupt, or of an unknown version */
    RN_ERANGE = -4,    /* a value or size is out of the supported range */
    RN_EIO = -5,       /* an I/O call failed; errno is kept in rn_error.sys_errno */
    RN_ENOTFOUND = -6, /* a name (column, function, operator) does not exist */
    RN_ETYPE = -7,     /* a type error */
    RN_EEND = -8,      /* end of input / nothing more */
    RN_ECANCELED = -9, /* the job is being cancelled */
    RN_EAGAIN = -10,   /* nothing ready now; try again */
};

/* Returns a static, human-readable name for an RN_E* code. */
const char *rn_strerror(int code);

/* Where an error sits in the text that was being read: 1-based line and column, 0 = unknown. */
struct rn_error {
    int code;          /* RN_E* */
    int line, column;  /* position in the source text, when there is one */
    int sys_errno;     /* errno for RN_EIO */
    char msg[480];     /* the whole message, NUL-terminated, without position prefix */
};

/* Fills err (which may be NULL) with code, position and a printf-style message; returns code. */
int rn_error_set(struct rn_error *err, int code, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Clears err to "no error". */
void rn_error_clear(struct rn_error *err);

#ifdef __cplusplus
}
#endif
#endif
