// SPDX-License-Identifier: GPL-2.0
// The programs of the cgroup attach tests (tests/cgroup_links_test.ts):
//
//   egress_count  cgroup_skb/egress: IPv4 UDP packets sent, per cgroup (the
//                 socket's, bpf_skb_cgroup_id), in egress_hits; lets all pass
//   deny_sysctl   cgroup/sysctl: refuses reads of kernel/domainname
//   deny_null     cgroup/dev: refuses /dev/null (char 1:3), allows the rest
//   deny_port9    cgroup/connect4: refuses connects to port 9 (discard)
//   deny_udp4     cgroup/sock_create: refuses new IPv4 UDP sockets
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u64);
	__type(value, u64);
} egress_hits SEC(".maps");

SEC("cgroup_skb/egress")
int egress_count(struct __sk_buff *skb)
{
	u8 proto = 0;
	if (skb->protocol != bpf_htons(0x0800 /* ETH_P_IP */))
		return 1;
	if (bpf_skb_load_bytes(skb, 9, &proto, 1) || proto != 17 /* UDP */)
		return 1;
	u64 id = bpf_skb_cgroup_id(skb), one = 1;
	u64 *v = bpf_map_lookup_elem(&egress_hits, &id);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&egress_hits, &id, &one, BPF_NOEXIST);
	return 1;
}

SEC("cgroup/sysctl")
int deny_sysctl(struct bpf_sysctl *ctx)
{
	/* "kernel/domainname", as three little-endian words (compared as
	 * words: a byte loop makes clang's code too much for the verifier). */
	u64 name[3] = {};
	if (ctx->write)
		return 1;
	if (bpf_sysctl_get_name(ctx, (char *)name, sizeof(name), 0) != 17)
		return 1;
	if (name[0] == 0x642f6c656e72656bULL && name[1] == 0x6d616e6e69616d6fULL &&
	    name[2] == 0x65)
		return 0;
	return 1;
}

SEC("cgroup/dev")
int deny_null(struct bpf_cgroup_dev_ctx *ctx)
{
	u32 type = ctx->access_type & 0xffff;
	if (type == 2 /* BPF_DEVCG_DEV_CHAR */ && ctx->major == 1 && ctx->minor == 3)
		return 0;
	return 1;
}

SEC("cgroup/connect4")
int deny_port9(struct bpf_sock_addr *ctx)
{
	if (ctx->user_port == bpf_htons(9))
		return 0;
	return 1;
}

SEC("cgroup/sock_create")
int deny_udp4(struct bpf_sock *ctx)
{
	if (ctx->family == 2 /* AF_INET */ && ctx->type == 2 /* SOCK_DGRAM */)
		return 0;
	return 1;
}
