// SPDX-License-Identifier: GPL-2.0
#include "kxdp_abi.h"
#include "datapath/stat_names.h"

/* The names `kxdp stats` and the metrics give enum kx_stat: one place. */
static const char *const stat_names[KX_STAT_MAX] = {
	[KX_STAT_PASS] = "pass",
	[KX_STAT_MALFORMED] = "malformed",
	[KX_STAT_ARP_REPLY] = "arp_reply",
	[KX_STAT_REDIRECT_LOCAL] = "redirect_local",
	[KX_STAT_SVC_NEW] = "svc_new",
	[KX_STAT_SVC_ESTABLISHED] = "svc_established",
	[KX_STAT_REVNAT] = "revnat",
	[KX_STAT_REJECT_NO_BACKEND] = "reject_no_backend",
	[KX_STAT_DROP_SPOOFED] = "drop_spoofed",
	[KX_STAT_DROP_NO_SLOT] = "drop_no_slot",
	[KX_STAT_DROP_CT_FULL] = "drop_ct_full",
	[KX_STAT_DROP_REWRITE] = "drop_rewrite",
	[KX_STAT_XDP_PASS] = "xdp_pass",
	[KX_STAT_REJECT_NO_SERVICE] = "reject_no_service",
	[KX_STAT_EXT_NEW] = "external_new",
	[KX_STAT_EXT_ESTABLISHED] = "external_established",
	[KX_STAT_EXT_TX] = "external_tx",
	[KX_STAT_DROP_NO_LOCAL] = "drop_no_local",
	[KX_STAT_DROP_SRC_RANGE] = "drop_src_range",
	[KX_STAT_DROP_NO_ROUTE] = "drop_no_route",
	[KX_STAT_DROP_NO_SNAT_PORT] = "drop_no_snat_port",
	[KX_STAT_SOCK_CONNECT] = "sock_connect",
	[KX_STAT_SOCK_REFUSED] = "sock_refused",
	[KX_STAT_DROP_EXT_NO_BACKEND] = "drop_ext_no_backend",
	[KX_STAT_HAIRPIN] = "hairpin",
	[KX_STAT_REJECT_NO_PORT] = "reject_no_port",
	[KX_STAT_ECHO_REPLY] = "echo_reply",
	[KX_STAT_DROP_FRAGMENT] = "drop_fragment",
	[KX_STAT_ICMP_ERROR_REVNAT] = "icmp_error_revnat",
	[KX_STAT_CT_CREATED] = "ct_created",
	[KX_STAT_CT_DELETED] = "ct_deleted",
	[KX_STAT_CT_DELETED_USER] = "ct_deleted_user",
	[KX_STAT_STACK_REPLY] = "stack_reply",
};

const char *kx_stat_name(uint32_t i)
{
	return i < KX_STAT_MAX && stat_names[i] ? stat_names[i] : "unknown";
}

