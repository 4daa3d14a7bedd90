// unit_sandbox SYSCALLS RETAIN -- CMD [ARGS...]: runs CMD under the seccomp
// filters systemd makes for contrib/bpfx-watch.service, built with
// libseccomp the way systemd builds them (src/shared/seccomp-util.c), as two
// stacked filters:
//
// - SystemCallFilter= with SystemCallErrorNumber=EPERM and
//   SystemCallArchitectures=native: every syscall named in the file SYSCALLS
//   (one a line, the unit's groups already expanded by the caller with
//   `systemd-analyze syscall-filter`) is allowed, any other fails with
//   EPERM, and a syscall of another architecture kills the process;
// - RestrictNamespaces=RETAIN (a comma list of mnt, cgroup, ipc, net, pid,
//   user, uts, time, or "none"): unshare() and clone() asking for a
//   namespace not retained fail with EPERM, as does setns() naming one or
//   naming none (flags 0, which could join any); clone3() fails with ENOSYS,
//   so callers fall back to clone(), whose flags a filter can read.
//
// The capability bounding set and no_new_privs are left to `setpriv`, which
// the caller runs first. Names this libseccomp does not know are skipped (as
// systemd does). Exits 125 on a usage or setup error.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static const struct {
	const char *name;
	unsigned long flag;
} NAMESPACES[] = {
	{"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC}, {"net", CLONE_NEWNET},
	{"mnt", CLONE_NEWNS},        {"pid", CLONE_NEWPID}, {"user", CLONE_NEWUSER},
	{"uts", CLONE_NEWUTS},       {"time", CLONE_NEWTIME},
};
#define N_NAMESPACES (sizeof(NAMESPACES) / sizeof(NAMESPACES[0]))

static int fail(const char *what, int rc) {
	fprintf(stderr, "unit_sandbox: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
	return 125;
}

static int allowlist(const char *file) {
	FILE *f = fopen(file, "r");
	if (!f) return fail(file, errno);
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx) return fail("seccomp_init", ENOMEM);
	char line[256];
	int n = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		if (line[0] == 0 || line[0] == '#') continue;
		int nr = seccomp_syscall_resolve_name(line);
		if (nr == __NR_SCMP_ERROR) continue; // unknown here: skipped
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (rc < 0 && rc != -EEXIST) return fail(line, rc);
		n++;
	}
	fclose(f);
	if (n == 0) return fail("no syscall allowed", EINVAL);
	int rc = seccomp_load(ctx);
	seccomp_release(ctx);
	return rc < 0 ? fail("seccomp_load (allow list)", rc) : 0;
}

static int restrict_namespaces(const char *retain_list) {
	unsigned long retain = 0;
	if (strcmp(retain_list, "none") != 0) {
		char *copy = strdup(retain_list), *save = NULL;
		for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
			size_t i;
			for (i = 0; i < N_NAMESPACES && strcmp(NAMESPACES[i].name, w) != 0; i++) {}
			if (i == N_NAMESPACES) return fail(w, EINVAL);
			retain |= NAMESPACES[i].flag;
		}
		free(copy);
	}
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx) return fail("seccomp_init", ENOMEM);
	int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(setns), 1,
		                      SCMP_A1(SCMP_CMP_EQ, 0));
	for (size_t i = 0; rc == 0 && i < N_NAMESPACES; i++) {
		unsigned long f = NAMESPACES[i].flag;
		if (retain & f) continue;
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
		                      SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
		if (rc == 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
			                      SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
		if (rc == 0)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(setns), 1,
			                      SCMP_A1(SCMP_CMP_MASKED_EQ, f, f));
	}
	if (rc < 0) return fail("seccomp_rule_add (namespaces)", rc);
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	return rc < 0 ? fail("seccomp_load (namespaces)", rc) : 0;
}

int main(int argc, char **argv) {
	if (argc < 5 || strcmp(argv[3], "--") != 0) {
		fprintf(stderr, "usage: unit_sandbox SYSCALLS RETAIN -- CMD [ARGS...]\n");
		return 125;
	}
	// The namespace filter first: the allow list may not allow seccomp().
	int rc = restrict_namespaces(argv[2]);
	if (rc == 0) rc = allowlist(argv[1]);
	if (rc != 0) return rc;
	execvp(argv[4], &argv[4]);
	return fail(argv[4], errno);
}
