// SPDX-License-Identifier: GPL-2.0
// kconfig: a view of __kconfig externs, which bpfx fills from
// /proc/config.gz (else /boot/config-$(uname -r)) and from uname at load
// time. An iterator over the tasks that prints one line for the first:
//
//   hz=<CONFIG_HZ> version=<LINUX_KERNEL_VERSION> bpf_syscall=<bool>
//   ikconfig=<tristate: 0 n, 1 y, 2 m> has_cookie=<LINUX_HAS_BPF_COOKIE>
//   not_a_thing=<weak, absent: 0> hostname=<CONFIG_DEFAULT_HOSTNAME>
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

extern int CONFIG_HZ __kconfig;
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_IKCONFIG __kconfig;
extern bool LINUX_HAS_BPF_COOKIE __kconfig;
extern int CONFIG_BPFX_NOT_A_THING __kconfig __weak;
extern char CONFIG_DEFAULT_HOSTNAME[16] __kconfig __weak;

SEC("iter/task")
int kconfig(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;

	if (!ctx->task || ctx->meta->seq_num != 0)
		return 0;
	BPF_SEQ_PRINTF(seq, "hz=%d version=%u bpf_syscall=%d ikconfig=%d\n", CONFIG_HZ,
		       LINUX_KERNEL_VERSION, CONFIG_BPF_SYSCALL, CONFIG_IKCONFIG);
	BPF_SEQ_PRINTF(seq, "has_cookie=%d not_a_thing=%d hostname=%s\n", LINUX_HAS_BPF_COOKIE,
		       CONFIG_BPFX_NOT_A_THING, CONFIG_DEFAULT_HOSTNAME);
	return 0;
}
