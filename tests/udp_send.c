// The cgroup link tests' sender (tests/cgroup_links_test.ts): moves itself
// into a cgroup, then sends COUNT one-byte UDP datagrams to 127.0.0.1:PORT
// from an unconnected socket (which no ICMP error stops).
//
//   udp_send CGROUP_DIR COUNT PORT
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: udp_send CGROUP_DIR COUNT PORT\n");
		return 2;
	}
	char procs[4096];
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", argv[1]);
	int fd = open(procs, O_WRONLY);
	if (fd < 0 || dprintf(fd, "%d\n", getpid()) < 0 || close(fd) < 0) {
		perror(procs);
		return 1;
	}
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s < 0) {
		perror("socket");
		return 1;
	}
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0, n = atoi(argv[2]); i < n; i++) {
		if (sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)) != 1) {
			perror("sendto");
			return 1;
		}
	}
	return 0;
}
