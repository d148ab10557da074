// SPDX-License-Identifier: GPL-2.0
#include "kxdp_abi.h"
#include "datapath/stat_names.h"

/* The names `kxdp stats` and the metrics give enum kx_stat: KX_STAT_LIST's. */
#define STAT_NAME(id, name) [id] = name,
static const char *const stat_names[KX_STAT_MAX] = { KX_STAT_LIST(STAT_NAME) };
#undef STAT_NAME

const char *kx_stat_name(uint32_t i)
{
	return i < KX_STAT_MAX && stat_names[i] ? stat_names[i] : "unknown";
}
