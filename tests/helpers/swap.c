// swap A B SECONDS: exchanges the directory entries A and B with
// renameat2(RENAME_EXCHANGE) as fast as it can, for SECONDS, then prints
// how many exchanges it made. The attacker's side of tests/harden_test.ts,
// run as an unprivileged user.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: swap A B SECONDS\n");
    return 2;
  }
  double seconds = atof(argv[3]);
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  unsigned long n = 0, failed = 0;
  for (;;) {
    if (syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE) == 0)
      n++;
    else
      failed++;
    if ((n + failed) % 256 == 0) {
      clock_gettime(CLOCK_MONOTONIC, &now);
      double t = (now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
      if (t >= seconds) break;
    }
  }
  printf("%lu %lu\n", n, failed);
  return 0;
}
