// Reads a view (a pinned iterator, or any file) N times with a plain
// read(2) loop, the way `cat` would: the C peer of bench/view_read.ts.
// Prints the median time of one whole read in microseconds, and the bytes.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static char buf[64 * 1024];
	int n = argc > 2 ? atoi(argv[2]) : 50;
	double *t = calloc(n, sizeof(*t));
	long bytes = 0;

	if (argc < 2 || !t) {
		fprintf(stderr, "usage: readview PATH [N]\n");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		struct timespec a, b;
		ssize_t r;
		int fd;

		clock_gettime(CLOCK_MONOTONIC, &a);
		fd = open(argv[1], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			perror(argv[1]);
			return 1;
		}
		bytes = 0;
		while ((r = read(fd, buf, sizeof(buf))) > 0)
			bytes += r;
		if (r < 0) {
			perror("read");
			return 1;
		}
		close(fd);
		clock_gettime(CLOCK_MONOTONIC, &b);
		t[i] = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
	}
	qsort(t, n, sizeof(*t), cmp);
	printf("%.1f %ld\n", t[n / 2], bytes);
	free(t);
	return 0;
}
