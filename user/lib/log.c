// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "lib/log.h"

int kx_log_verbosity = KX_LOG_INFO;
const char *kx_log_prog = "kxdp";

void kx_log(enum kx_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	va_list ap;

	if (level != KX_LOG_ERR && (int)level > kx_log_verbosity)
		return;
	fprintf(stderr, "%s: %s: ", kx_log_prog, names[level - KX_LOG_ERR]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void kx_errf(struct kx_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	/* One line whatever the input quoted in it held (a JSON key with "\n"). */
	for (char *p = err->msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/*
 * libbpf's own messages, each of their lines as one line like every other
 * (a verifier log is hundreds of them), libbpf's own prefix folded into
 * ours: its warnings (the verifier's log of a failed load) as warnings,
 * its info lines with -v, its debug lines never.
 */
int kx_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	enum kx_log_level as = level == LIBBPF_WARN ? KX_LOG_WARN : KX_LOG_DEBUG;
	char *text = NULL, *line, *save = NULL;

	if ((int)as > kx_log_verbosity || level == LIBBPF_DEBUG)
		return 0;
	if (vasprintf(&text, fmt, ap) < 0)
		return 0;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "libbpf: ", 8))
			line += 8;
		kx_log(as, "libbpf: %s", line);
	}
	free(text);
	return 0;
}

const char *kx_bpf_strerror(int e, char *buf, size_t n)
{
	buf[0] = '\0';
	libbpf_strerror(e, buf, n); /* an unknown code still gets its text */
	if (!buf[0])
		snprintf(buf, n, "error %d", e < 0 ? -e : e);
	return buf;
}
