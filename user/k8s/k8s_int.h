/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside the decoder: the field helpers of k8s.c that k8s_policy.c shares,
 * and the kinds k8s_policy.c decodes. Not for use outside user/k8s/.
 * Every helper writes one line into err naming c's object and field.
 */
#ifndef KX_K8S_INT_H
#define KX_K8S_INT_H

#include "k8s/k8s.h"

/* Which object an error is about: "service test/test", "items[4]". */
struct obj_ctx {
	char what[K8S_NAME_MAX + 96];
};

/* An optional string member into out[n] ("" when absent); -1 if not a string or too long. */
int k8s_opt_str(json_t *obj, const char *key, char *out, size_t n, const struct obj_ctx *c,
		const char *field, struct kx_err *err);
/* The same, and -1 when absent or empty. */
int k8s_req_str(json_t *obj, const char *key, char *out, size_t n, const struct obj_ctx *c,
		const char *field, struct kx_err *err);
/* An optional object member (*out NULL when absent); -1 if not an object. */
int k8s_opt_obj(json_t *obj, const char *key, json_t **out, const struct obj_ctx *c,
		const char *field, struct kx_err *err);
/* An optional array member (*out NULL when absent); -1 if not an array. */
int k8s_opt_arr(json_t *obj, const char *key, json_t **out, const struct obj_ctx *c,
		const char *field, struct kx_err *err);
/* An optional boolean member (dflt when absent); -1 if not a boolean. */
int k8s_opt_bool(json_t *obj, const char *key, bool dflt, bool *out, const struct obj_ctx *c,
		 const char *field, struct kx_err *err);
/* A port number 1-65535; -1 otherwise. */
int k8s_port_num(json_t *v, uint16_t *out, const struct obj_ctx *c, const char *field,
		 struct kx_err *err);
/* obj's "protocol" (TCP when absent) into IPPROTO_TCP, _UDP or _SCTP; -1 otherwise. */
int k8s_proto_of(json_t *obj, uint8_t *out, const struct obj_ctx *c, const char *field,
		 struct kx_err *err);
/* An IP address string: 1 IPv4 (*out, network order), 0 IPv6 (skipped), -1 invalid. */
int k8s_ip_field(json_t *v, uint32_t *out, const struct obj_ctx *c, const char *field,
		 struct kx_err *err);
/* metadata.name (and namespace when namespaced); c names the object from then on. */
int k8s_metadata(json_t *item, const char *kind, bool namespaced, char *ns, size_t ns_n,
		 char *name, size_t name_n, struct obj_ctx *c, struct kx_err *err);

/* Decode one item of its kind into the next free slot of st (k8s_policy.c). */
int k8s_decode_pod(json_t *item, struct k8s_state *st, struct obj_ctx *c, struct kx_err *err);
int k8s_decode_namespace(json_t *item, struct k8s_state *st, struct obj_ctx *c,
			 struct kx_err *err);
int k8s_decode_netpol(json_t *item, struct k8s_state *st, struct obj_ctx *c,
		      struct kx_err *err);
/* Free st's pods, namespaces and policies, with everything they own. */
void k8s_policy_state_free(struct k8s_state *st);

#endif /* KX_K8S_INT_H */
