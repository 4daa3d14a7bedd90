// The link tests' helper binary (built by `make witnesses` into
// build/tests/link_target):
//
//   link_target N               calls bpfx_probed() N times, and getppid(2)
//                               as many times, then exits (for uprobes and
//                               tracepoints; the function is out of line and
//                               has a symbol, so a uprobe sees every call)
//   link_target udp ADDR PORT N sends N UDP datagrams to the IPv4 ADDR:PORT
//                               (for tcx and xdp on a veth pair)
//   link_target prog TYPE EXPECTED_ATTACH_TYPE PIN
//                               loads `r0 = 1; exit` as a program of TYPE for
//                               EXPECTED_ATTACH_TYPE (numbers, as in the UAPI)
//                               with bpf(2) and pins it at PIN: the programs
//                               neither aya 0.14 nor Debian's bpftool can load
//                               (netfilter, uprobe_multi)
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((noinline, used)) int bpfx_probed(int i)
{
	__asm__ volatile("" ::: "memory");
	return i + 1;
}

static int udp(const char *addr, int port, int n)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (inet_pton(AF_INET, addr, &to.sin_addr) != 1) {
		fprintf(stderr, "link_target: bad address %s\n", addr);
		return 2;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("link_target: socket");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		if (sendto(fd, "bpfx", 4, 0, (struct sockaddr *)&to, sizeof(to)) != 4) {
			perror("link_target: sendto");
			return 1;
		}
		usleep(10000);
	}
	close(fd);
	return 0;
}

static int prog(int type, int expected, const char *pin)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	char log[4096] = "";
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = type;
	attr.expected_attach_type = expected;
	attr.insns = (unsigned long)insns;
	attr.insn_cnt = 2;
	attr.license = (unsigned long)"GPL";
	attr.log_buf = (unsigned long)log;
	attr.log_size = sizeof(log);
	attr.log_level = 1;
	int fd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	if (fd < 0) {
		perror("link_target: BPF_PROG_LOAD");
		fputs(log, stderr);
		return 1;
	}
	memset(&attr, 0, sizeof(attr));
	attr.pathname = (unsigned long)pin;
	attr.bpf_fd = fd;
	if (syscall(SYS_bpf, BPF_OBJ_PIN, &attr, sizeof(attr))) {
		perror("link_target: BPF_OBJ_PIN");
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "prog") == 0)
		return prog(atoi(argv[2]), atoi(argv[3]), argv[4]);
	if (argc == 5 && strcmp(argv[1], "udp") == 0)
		return udp(argv[2], atoi(argv[3]), atoi(argv[4]));
	int n = argc > 1 ? atoi(argv[1]) : 1, sum = 0;
	for (int i = 0; i < n; i++) {
		sum += bpfx_probed(i);
		syscall(SYS_getppid);
	}
	return sum == n * (n + 1) / 2 ? 0 : 1;
}
