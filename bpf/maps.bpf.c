// SPDX-License-Identifier: GPL-2.0
/* The one definition of every datapath map (see lib/maps.h). */
#define KX_DEFINE_MAPS
#include "lib/maps.h"

char LICENSE[] SEC("license") = "GPL";
