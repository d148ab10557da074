/* SPDX-License-Identifier: GPL-2.0 */
/* Names of the datapath counters (enum kx_stat), for the CLI and the metrics. */
#ifndef KX_STAT_NAMES_H
#define KX_STAT_NAMES_H

#include <stdint.h>

const char *kx_stat_name(uint32_t i);

#endif /* KX_STAT_NAMES_H */
