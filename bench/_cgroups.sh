# Sourced by the bench scripts: the cgroup helpers they share.

# cgroup2_mount: where the cgroup2 filesystem is mounted.
cgroup2_mount() { awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo; }

# remove_cgroup_tree DIR: removes the cgroup DIR and every cgroup below it,
# children first; what is already gone is fine.
remove_cgroup_tree() {
	[ -d "$1" ] || return 0
	find "$1" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
	rmdir "$1" 2>/dev/null || true
}
