# Shared by tests/vm/run and tests/vm/run-cluster: kernel discovery, initramfs,
# QEMU command line, kernel-log checks. Sourced, not executed.

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VM_DIR/../.." && pwd)
KVER=$("$VM_DIR/kver")
KMOD="${XPMEM_KMOD:-$REPO/xpmem-kmod/xpmem.ko}"
VM_CACHE="${XPMEM_VM_CACHE:-$REPO/build/vm}"
VM_TIMEOUT="${XPMEM_VM_TIMEOUT:-900}"

# Modules the initramfs loads, in dependency order.
INIT_MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
netfs fscache 9pnet 9pnet_virtio 9p failover net_failover virtio_net"

# What counts as a kernel problem in a guest log.
KERNEL_PROBLEMS='BUG:|WARNING:|Oops|INFO: possible|INFO: task .* blocked|soft lockup|hard LOCKUP|Kernel panic|general protection fault|UBSAN:|KASAN:|rcu: INFO|self-detected stall|list_(add|del) corruption|kernel BUG'

die() { echo "vm: $*" >&2; exit 2; }

# Builds (or reuses) the initramfs for $KVER; prints its path.
vm_initramfs() {
	local img="$VM_CACHE/initramfs-$KVER.cpio.gz"
	if [ -f "$img" ] && [ "$img" -nt "$VM_DIR/init" ] && [ "$img" -nt "$VM_DIR/lib.sh" ]; then
		echo "$img"; return
	fi
	mkdir -p "$VM_CACHE"
	local root; root=$(mktemp -d "$VM_CACHE/initramfs.XXXXXX")
	mkdir -p "$root"/{bin,dev,proc,sys,modules,newroot}
	cp /bin/busybox "$root/bin/busybox"
	file -L "$root/bin/busybox" 2>/dev/null | grep -q static ||
		ldd /bin/busybox 2>&1 | grep -q 'not a dynamic' || die "/bin/busybox is not static (install busybox-static)"
	local m path
	for m in $INIT_MODULES; do
		path=$(grep -E "/$m\.ko(\.[a-z]+)?:" "/lib/modules/$KVER/modules.dep" | cut -d: -f1)
		[ -n "$path" ] || die "module $m not found for $KVER"
		cp "/lib/modules/$KVER/$path" "$root/modules/$m.ko"
		echo "$m" >>"$root/modules.list"
	done
	cp "$VM_DIR/init" "$root/init"; chmod +x "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$img.tmp"
	mv "$img.tmp" "$img"
	rm -rf "$root"
	echo "$img"
}

# Writes the script PID 1 runs in the chroot: load xpmem.ko, run the command,
# record its status and the kernel log. $1=jobdir $2=nodedir; rest: command.
# Environment for the command comes from the global array VM_ENV (NAME=value).
vm_write_guest_main() {
	local job=$1 node=$2; shift 2
	{
		echo '#!/bin/bash'
		echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp LANG=C.UTF-8'
		local kv; for kv in "${VM_ENV[@]}"; do printf 'export %q\n' "$kv"; done
		printf 'NODE=%q\n' "$node"
		if [ "${VM_NO_MODULE:-0}" = 0 ]; then
			printf 'insmod %q || { echo "vm: insmod xpmem.ko failed" >"$NODE/output"; echo 125 >"$NODE/rc"; dmesg >"$NODE/dmesg"; exit; }\n' "$KMOD"
			echo 'chmod 0666 /dev/xpmem 2>/dev/null  # what the udev rule does on a real node'
		fi
		printf 'cd %q 2>/dev/null || cd /\n' "$PWD"
		printf 'cmd=('; printf '%q ' "$@"; echo ')'
		if [ "${VM_SHELL:-0}" = 1 ]; then
			echo 'setsid -c "${cmd[@]}" </dev/ttyS0 >/dev/ttyS0 2>&1; rc=$?'
		else
			echo '"${cmd[@]}" </dev/null >"$NODE/output" 2>&1; rc=$?'
		fi
		echo 'dmesg >"$NODE/dmesg" 2>&1'
		echo 'echo $rc >"$NODE/rc"'
	} >"$node/guest-main"
}

# Common QEMU arguments; the caller adds memory, NUMA, devices and the job share.
# $1=jobdir $2=nodedir $3=initramfs
vm_qemu_base() {
	local job=$1 node=$2 initrd=$3
	local cmdline="console=ttyS0 loglevel=5 panic=-1 oops=panic nokaslr mitigations=off"
	cmdline+=" XPMEM_JOB=$job XPMEM_NODE=$node XPMEM_SHOW=$REPO:$PWD"
	[ -n "${VM_OUT:-}" ] && cmdline+=" XPMEM_OUT=$VM_OUT"
	QEMU_ARGS=(qemu-system-x86_64 -accel tcg,thread=multi -cpu max -nodefaults -no-reboot
		-display none -kernel "/boot/vmlinuz-$KVER" -initrd "$initrd" -append "$cmdline"
		-fsdev "local,id=fsroot,path=/,security_model=none,readonly=on,multidevs=remap"
		-device "virtio-9p-pci,fsdev=fsroot,mount_tag=hostroot,bus=pcie.0,addr=0x2"
		-fsdev "local,id=fsjob,path=$job,security_model=none"
		-device "virtio-9p-pci,fsdev=fsjob,mount_tag=job,bus=pcie.0,addr=0x3")
	if [ -n "${VM_OUT:-}" ]; then
		QEMU_ARGS+=(-fsdev "local,id=fsout,path=$VM_OUT,security_model=none"
			-device "virtio-9p-pci,fsdev=fsout,mount_tag=out,bus=pcie.0,addr=0x4")
	fi
	if [ "${VM_SHELL:-0}" = 1 ]; then
		QEMU_ARGS+=(-serial mon:stdio)
	else
		QEMU_ARGS+=(-serial "file:$node/console.log")
	fi
}

# Scans a node's kernel logs; prints problems and returns 1 if any.
vm_check_kernel_log() {
	local node=$1 label=$2 f hits=
	for f in "$node/console.log" "$node/dmesg"; do
		[ -f "$f" ] || continue
		if grep -Eq "$KERNEL_PROBLEMS" "$f"; then hits="$f"; break; fi
	done
	[ -z "$hits" ] && return 0
	echo "vm: $label: kernel problem in guest log ($hits):" >&2
	grep -En "$KERNEL_PROBLEMS" "$hits" | head -n 20 >&2
	echo "---- $label kernel log ----" >&2
	tail -n 150 "$hits" >&2
	echo "---- end of $label kernel log ----" >&2
	return 1
}

# Result of one node: 0 if the command passed and the kernel log is clean.
# $1=nodedir $2=label $3=qemu exit status
vm_node_result() {
	local node=$1 label=$2 qrc=$3 rc
	if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
		echo "vm: $label: guest did not finish within ${VM_TIMEOUT}s; killed. Last console lines:" >&2
		tail -n 60 "$node/console.log" >&2 2>/dev/null
		return 124
	fi
	if [ ! -f "$node/rc" ]; then
		echo "vm: $label: guest stopped without a result (qemu status $qrc)" >&2
		vm_check_kernel_log "$node" "$label" ||	return 125
		echo "vm: $label: last console lines:" >&2
		tail -n 80 "$node/console.log" >&2 2>/dev/null
		return 125
	fi
	rc=$(cat "$node/rc")
	vm_check_kernel_log "$node" "$label" || { [ "$rc" = 0 ] && rc=126; }
	return "$rc"
}
