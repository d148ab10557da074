// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "log.h"

int kx_log_verbosity = KX_LOG_INFO;
const char *kx_log_prog = "kxdp";

void kx_log(enum kx_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "warning", "info", "debug" };
	va_list ap;

	if ((int)level > kx_log_verbosity)
		return;
	fprintf(stderr, "%s: %s: ", kx_log_prog, names[level]);
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
}

/*
 * libbpf's own messages: shown with -v (kxdp reports each failure itself), as
 * debug lines like every other: one line each, libbpf's prefix and newline
 * folded into ours.
 */
int kx_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];
	const char *text = line;
	size_t n;

	if (kx_log_verbosity < KX_LOG_DEBUG || level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
		line[--n] = '\0';
	for (char *p = line; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (!strncmp(text, "libbpf: ", 8))
		text += 8;
	kx_log(KX_LOG_DEBUG, "libbpf: %s", text);
	return 0;
}
