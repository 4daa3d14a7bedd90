// The uprobe tests' binary: calls bpfx_probed() N times (argv[1]), and
// getppid(2) as many times, then exits. The function is kept out of line
// and visible, so a uprobe on "bpfx_probed" sees every call.
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

__attribute__((noinline, used)) int bpfx_probed(int i)
{
	__asm__ volatile("" ::: "memory");
	return i + 1;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1, sum = 0;
	for (int i = 0; i < n; i++) {
		sum += bpfx_probed(i);
		syscall(SYS_getppid);
	}
	return sum == n * (n + 1) / 2 ? 0 : 1;
}
