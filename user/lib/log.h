/* SPDX-License-Identifier: GPL-2.0 */
/* Leveled one-line logging to stderr: pr_err, pr_warn, pr_info, pr_debug. */
#ifndef KX_LOG_H
#define KX_LOG_H

#include <stdarg.h>
#include <stddef.h>

/* Errors (what ends the program) print whatever the verbosity. */
enum kx_log_level { KX_LOG_ERR = -1, KX_LOG_WARN = 0, KX_LOG_INFO = 1, KX_LOG_DEBUG = 2 };

extern int kx_log_verbosity; /* highest level printed; -v raises it */
extern const char *kx_log_prog; /* prefix of every line */

void kx_log(enum kx_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pr_err(...) kx_log(KX_LOG_ERR, __VA_ARGS__)
#define pr_warn(...) kx_log(KX_LOG_WARN, __VA_ARGS__)
#define pr_info(...) kx_log(KX_LOG_INFO, __VA_ARGS__)
#define pr_debug(...) kx_log(KX_LOG_DEBUG, __VA_ARGS__)

/* An error message carried up to whoever reports it, one line. */
struct kx_err {
	char msg[512];
};

void kx_errf(struct kx_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* For libbpf_set_print(): libbpf's warnings as warnings, its info lines with -v. */
#include <bpf/libbpf.h>
int kx_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap);

/*
 * The text of an error code a libbpf call gave (an errno of either sign,
 * or one of libbpf's own LIBBPF_ERRNO__ codes), through libbpf_strerror():
 * KX_BPF_ERR(e) is valid until the end of the statement that holds it.
 */
const char *kx_bpf_strerror(int e, char *buf, size_t n);
#define KX_BPF_ERR_LEN 128
#define KX_BPF_ERR(e) kx_bpf_strerror((e), (char[KX_BPF_ERR_LEN]){ 0 }, KX_BPF_ERR_LEN)

#endif /* KX_LOG_H */
