# shellcheck shell=bash
# Sourced by the shell tests tests/vm/run-cluster runs on every partition with
# xpmemd (tests/cluster/daemon-up, xattach, xcoherence, demo-node): where
# xpmemctl is, the daemon's fields as `xpmemctl -j` prints them, and the
# kernel channel check.
#
#   CTL              xpmemctl, next to $XPMEM_XPMEMD
#   cl_jval NAME     the first "NAME": value (number or word) of the JSON on stdin
#   cl_stat NAME     field NAME of `xpmemctl -j stats` (empty if it failed)
#   cl_need_channel  /dev/xpmem_channel exists, or a FAIL line and exit 1
CTL="$(dirname "${XPMEM_XPMEMD:?run under tests/vm/run-cluster (with the daemon)}")/xpmemctl"
cl_jval() { sed -n "s/^ *\"$1\": *\([0-9a-z]*\).*/\1/p" | head -n 1; }
cl_stat() { "$CTL" -t 3000 -j stats | cl_jval "$1"; }
cl_need_channel() {
	[ -c /dev/xpmem_channel ] && return 0
	echo "FAIL node$XPMEM_NODE_ID: /dev/xpmem_channel missing: this xpmem.ko has no kernel channel"
	exit 1
}
