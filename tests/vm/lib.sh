# Shared by tests/vm/run and tests/vm/run-cluster: kernels, initramfs, QEMU
# command line, kernel-log checks. Sourced, not executed. The caller parses its
# options, then calls vm_use_kernel before anything else here.

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VM_DIR/../.." && pwd)
VM_CACHE="${XPMEM_VM_CACHE:-$REPO/build/vm}"
VM_KERNEL="${XPMEM_KERNEL:-default}"   # --kernel overrides
# Empty: 900 s times the kernel's slowdown (vm_use_kernel). An explicit value
# (--timeout, XPMEM_VM_TIMEOUT) is taken as is, on every kernel.
VM_TIMEOUT="${XPMEM_VM_TIMEOUT:-}"
VM_NO_MODULE=0
# A boot that has not reached the initramfs after VM_BOOT_LIMIT s (empty: 60 s
# times the kernel's slowdown) is killed and started again, up to
# VM_BOOT_TRIES boots in all (vm_boot).
VM_BOOT_LIMIT="${XPMEM_VM_BOOT_LIMIT:-}"
VM_BOOT_TRIES=3
# --require-unload: a debug boot's closing rmmod of xpmem must succeed.
VM_REQUIRE_UNLOAD="${XPMEM_VM_REQUIRE_UNLOAD:-0}"

# Modules the initramfs loads, in dependency order, on a kernel that has them
# as modules (K_MODULES set).
INIT_MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
netfs fscache 9pnet 9pnet_virtio 9p failover net_failover virtio_net"

# What counts as a kernel problem in a guest log: oopses, warnings, lockdep
# (most of its reports start with WARNING: or INFO:, listed anyway so a change
# of prefix does not hide them), KASAN, DEBUG_VM, sleeping in atomic context,
# kmemleak's summary line, stalls and panics.
KERNEL_PROBLEMS='BUG:|WARNING:|Oops|INFO: possible|INFO: task .* blocked|soft lockup|hard LOCKUP|Kernel panic|general protection fault|UBSAN:|KASAN:|rcu: INFO|self-detected stall|list_(add|del) corruption|kernel BUG'
KERNEL_PROBLEMS+='|possible circular locking dependency|possible recursive locking|inconsistent lock state|suspicious RCU usage|bad unlock balance|held lock freed|DEBUG_LOCKS_WARN_ON|sleeping function called from invalid context|page dumped because|Bad page (state|map)|new suspected memory leak|unreferenced object 0x'

die() { echo "vm: $*" >&2; exit 2; }

# ---- Kernels -------------------------------------------------------------
# How many times slower than default each kernel runs here (default 1): scales
# the default boot timeout (vm_use_kernel) and, read from this line by
# tests/vm/ctest-timeouts.cmake, the ctest TIMEOUT of every vm/cluster test.
VM_SLOWDOWN="debug=4"

# A kernel the testbed boots is one function kernel_<name> (`--kernel <name>`)
# that sets:
#   K_IMAGE     the image QEMU boots
#   K_RELEASE   its release (uname -r in the guest)
#   K_KDIR      the tree xpmem.ko is built against
#   K_MODULES   /lib/modules/<release> the initramfs takes INIT_MODULES from;
#               empty when virtio and 9p are built in
#   K_KMOD      xpmem.ko for it; empty: vm_kernel_module builds one from a
#               copy of xpmem-kmod/ in $VM_CACHE/kmod-<name>/
#   K_MAKE      command prefix for that build (e.g. a chroot), usually empty
#   K_CMDLINE   extra kernel command line
#   K_DEBUG     1: every boot ends with rmmod xpmem and a kmemleak scan
#   K_KNOWN     regex of kernel-log problem lines that are this kernel's own
#               known bugs, not xpmem's: ignored (and said so); empty: none
# and, if it is slower than the default under TCG, an entry in VM_SLOWDOWN.

# Debian's kernel (tests/vm/kver); xpmem.ko is the one `make` builds in place.
kernel_default() {
	K_RELEASE=$("$VM_DIR/kver") || die "no kernel to boot"
	K_IMAGE=/boot/vmlinuz-$K_RELEASE
	K_KDIR=/lib/modules/$K_RELEASE/build
	K_MODULES=/lib/modules/$K_RELEASE
	K_KMOD=$REPO/xpmem-kmod/xpmem.ko
	K_MAKE=() K_CMDLINE= K_DEBUG=0 K_KNOWN=
}

# linux-source-6.1 with KASAN, lockdep, DEBUG_VM, kmemleak (tests/vm/debug-kernel,
# built once into a cache outside the checkout). KASAN reports every bug, not
# only the first. 4-level paging (no5lvl): with QEMU's LA57, 6.1's
# identify_cpu() clears the CPU's feature bits for a moment, KASAN then takes
# every direct-map address (ff11...) of an interrupt landing there for a wild
# access, and the reports keep the boot CPU in its timer interrupt for good.
kernel_debug() {
	local dir
	dir=$("$VM_DIR/debug-kernel") || die "the debug kernel could not be built (tests/vm/debug-kernel)"
	K_RELEASE=$(cat "$dir/release")
	K_IMAGE=$dir/bzImage
	K_KDIR=$dir/build
	K_MODULES= K_KMOD=
	K_MAKE=() K_CMDLINE="kasan_multi_shot no5lvl" K_DEBUG=1
	# Debian's 6.1.192 calls hugetlb_split() from __vma_adjust() before taking
	# i_mmap_rwsem (a 6.1.y backport; mainline splits under the lock), so
	# lockdep's assertion warns on every partial munmap of a hugetlb mapping.
	# Not xpmem's; reported as ignored. Drop once debug-kernel patches it.
	K_KNOWN='WARNING: CPU: [0-9]+ PID: [0-9]+ at include/linux/fs.h:[0-9]+ hugetlb_split\+'
}

# Debian's packaged kernels (tests/vm/fetch-kernel: fetched into a cache outside
# the checkout, never installed on the host); xpmem.ko is built in the
# kernel's own suite's build root (tests/vm/in-root, a chroot), with the
# repository and $VM_CACHE bind-mounted at their paths.
kernel_fetched() {
	local dir
	dir=$("$VM_DIR/fetch-kernel" "$1") || die "kernel '$1' could not be fetched (tests/vm/fetch-kernel $1)"
	K_RELEASE=$(cat "$dir/release")
	K_IMAGE=$dir/vmlinuz
	K_KDIR=$(cat "$dir/kdir")
	# usr/lib/modules (merged /usr, 6.12+) or lib/modules (6.1): one is missing
	K_MODULES=$(ls -d "$dir"/kernel/{usr/,}lib/modules/"$K_RELEASE" 2>/dev/null | head -n 1 || true)
	K_KMOD=
	K_MAKE=("$VM_DIR/in-root" "$dir/root" "$REPO:$VM_CACHE")
	K_CMDLINE= K_DEBUG=0 K_KNOWN=
}
# bookworm's (Debian 12) 6.1 as packaged now, with a bookworm build root: the
# default kernel's suite, for deploy/dkms-install (check-kernels)
kernel_6.1() { kernel_fetched 6.1; }
# trixie's (Debian 13) 6.12
kernel_6.12() { kernel_fetched 6.12; }
# the newest linux-image-amd64 of sid and experimental
kernel_newest() { kernel_fetched newest; }

# Selects kernel $1 and the module to load (XPMEM_KMOD overrides).
# Sets KMOD, and VM_KMOD_TREE when the module was built here for a
# non-default kernel.
vm_use_kernel() {
	declare -F "kernel_$1" >/dev/null ||
		die "unknown kernel '$1'; known: $(declare -F | sed -n 's/^declare -f kernel_//p' | xargs)"
	VM_KERNEL=$1
	"kernel_$1"
	local kv
	K_SLOWDOWN=1
	for kv in $VM_SLOWDOWN; do [ "${kv%%=*}" = "$1" ] && K_SLOWDOWN=${kv#*=}; done
	[ -n "$VM_TIMEOUT" ] || VM_TIMEOUT=$((900 * K_SLOWDOWN))
	[ -n "$VM_BOOT_LIMIT" ] || VM_BOOT_LIMIT=$((60 * K_SLOWDOWN))
	VM_KMOD_TREE=
	if [ -n "${XPMEM_KMOD:-}" ]; then
		KMOD=$XPMEM_KMOD
	elif [ -n "$K_KMOD" ]; then
		KMOD=$K_KMOD
	elif [ "$VM_NO_MODULE" = 1 ]; then
		KMOD=/nonexistent/xpmem.ko  # not loaded; a command that needs it fails clearly
	else
		VM_KMOD_TREE=$(vm_kernel_module "$REPO/xpmem-kmod")
		KMOD=$VM_KMOD_TREE/xpmem.ko
	fi
	[ "$VM_NO_MODULE" = 1 ] || [ -f "$KMOD" ] || die "$KMOD not built; run make"
}

# Builds the external module whose sources are in directory $1 for the
# selected kernel, in $VM_CACHE/kmod-$VM_KERNEL/<basename of $1>; prints that
# directory. The sources are copied, not built in place, because Kbuild writes
# its objects next to them (and xpmem-kmod/ holds the default kernel's); a file
# is copied only when its content changed, with a fresh mtime, so Kbuild
# rebuilds exactly what changed. include/ is linked beside the copy: the
# module's Kbuild reads $(src)/../include/uapi.
vm_kernel_module() {
	local src=$1 top="$VM_CACHE/kmod-$VM_KERNEL"
	local d="$top/$(basename "$src")"
	mkdir -p "$d"
	(
		flock 8
		# objects built against another tree (a rebuilt kernel) go
		if [ "$(cat "$d/.kdir" 2>/dev/null)" != "${K_MAKE[*]} $K_KDIR" ]; then
			rm -rf "$d" && mkdir -p "$d" && echo "${K_MAKE[*]} $K_KDIR" >"$d/.kdir"
		fi
		ln -sfn "$REPO/include" "$top/include"
		cd "$src"
		find . -type f \( -name '*.[chS]' -o -name '*.sh' -o -name Kbuild -o -name Makefile \) ! -name '*.mod.c' ! -name xpmem_probes.h |
		while read -r f; do
			cmp -s "$f" "$d/$f" || { mkdir -p "$(dirname "$d/$f")"; cp "$f" "$d/$f"; }
		done
		if ! "${K_MAKE[@]}" make -C "$K_KDIR" M="$d" modules >"$d.log" 2>&1; then
			echo "vm: building $src for kernel '$VM_KERNEL' ($K_KDIR) failed:" >&2
			tail -n 40 "$d.log" >&2
			exit 1
		fi
	) 8>"$top/.lock" || die "$(basename "$src") for kernel '$VM_KERNEL' not built; log in $d.log"
	echo "$d"
}

# Builds (or reuses) the initramfs for the selected kernel; prints its path.
vm_initramfs() {
	local img="$VM_CACHE/initramfs-$VM_KERNEL-$K_RELEASE.cpio.gz"
	if [ -f "$img" ] && [ "$img" -nt "$VM_DIR/init" ] && [ "$img" -nt "$VM_DIR/lib.sh" ]; then
		echo "$img"; return
	fi
	mkdir -p "$VM_CACHE"
	local root; root=$(mktemp -d "$VM_CACHE/initramfs.XXXXXX")
	mkdir -p "$root"/{bin,dev,proc,sys,modules,newroot}
	cp /bin/busybox "$root/bin/busybox"
	file -L "$root/bin/busybox" 2>/dev/null | grep -q static ||
		ldd /bin/busybox 2>&1 | grep -q 'not a dynamic' || die "/bin/busybox is not static (install busybox-static)"
	: >"$root/modules.list"
	local m path
	# each module of INIT_MODULES that this kernel has as a module, after
	# what it depends on (modules.dep); one it lacks is built in (or gone:
	# then mounting the root fails loudly), and said so in the build log
	local -A seen=()
	vm_initramfs_add() {
		local m=$1 line path dep i deps=()
		[ -z "${seen[$m]:-}" ] || return 0
		seen[$m]=1
		line=$(grep -E "(^|/)$m\.ko(\.[a-z]+)?:" "$K_MODULES/modules.dep" | head -n 1)
		if [ -z "$line" ]; then
			echo "vm: initramfs for $K_RELEASE: no module $m (built in?)" >>"$VM_CACHE/initramfs-$VM_KERNEL.log"
			return 0
		fi
		path=${line%%:*}
		read -r -a deps <<<"${line#*:}"
		for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
			dep=$(basename "${deps[$i]}"); vm_initramfs_add "${dep%%.ko*}"
		done
		case $path in
		*.ko) cp "$K_MODULES/$path" "$root/modules/$m.ko" ;;
		*.ko.xz) xz -dc "$K_MODULES/$path" >"$root/modules/$m.ko" ;;
		*.ko.zst) zstd -qdc "$K_MODULES/$path" >"$root/modules/$m.ko" ;;
		*.ko.gz) gzip -dc "$K_MODULES/$path" >"$root/modules/$m.ko" ;;
		*) die "module $path: unknown compression" ;;
		esac
		echo "$m" >>"$root/modules.list"
	}
	for m in ${K_MODULES:+$INIT_MODULES}; do
		vm_initramfs_add "$m"
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
# On a debug kernel the boot then unloads xpmem (only if nothing holds it: a
# busy module is reported, not forced) and runs kmemleak; results go to the
# node's files "unload" and "kmemleak", checked by vm_node_result.
vm_write_guest_main() {
	local job=$1 node=$2; shift 2
	{
		echo '#!/bin/bash'
		echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp LANG=C.UTF-8'
		local kv; for kv in "${VM_ENV[@]}" "XPMEM_KERNEL=$VM_KERNEL" "XPMEM_VM_SLOWDOWN=$K_SLOWDOWN"; do
			printf 'export %q\n' "$kv"
		done
		[ "$VM_NO_MODULE" = 1 ] || printf 'export %q\n' "XPMEM_KMOD=$KMOD"
		printf 'NODE=%q\n' "$node"
		# On another kernel than the default, the module loaded here stands in
		# for xpmem-kmod/xpmem.ko (built for the default kernel), so a command
		# that loads that path itself gets the right one: the tree built for
		# this kernel over xpmem-kmod/, or an XPMEM_KMOD over the file.
		local bind_src= bind_dst=
		if [ -n "$VM_KMOD_TREE" ]; then
			bind_src=$VM_KMOD_TREE bind_dst=$REPO/xpmem-kmod
		elif [ "$VM_KERNEL" != default ] && [ "$VM_NO_MODULE" = 0 ] && [ -f "$REPO/xpmem-kmod/xpmem.ko" ] &&
			[ "$(realpath "$KMOD")" != "$(realpath "$REPO/xpmem-kmod/xpmem.ko")" ]; then
			bind_src=$KMOD bind_dst=$REPO/xpmem-kmod/xpmem.ko
		fi
		if [ -n "$bind_src" ]; then
			printf 'mount --bind %q %q || { echo "vm: cannot bind-mount %q over %q" >"$NODE/output"; echo 125 >"$NODE/rc"; dmesg >"$NODE/dmesg"; exit; }\n' \
				"$bind_src" "$bind_dst" "$bind_src" "$bind_dst"
		fi
		# A fetched kernel's modules are not in the host's /lib/modules:
		# shown there (over a tmpfs) so modprobe/modinfo find them (zram).
		if [ -n "$K_MODULES" ] && [ "$K_MODULES" != "/lib/modules/$K_RELEASE" ] &&
			[ ! -d "/lib/modules/$K_RELEASE" ]; then
			printf 'mount -t tmpfs -o mode=0755 tmpfs /lib/modules && mkdir %q && mount --bind %q %q || echo "vm: cannot show %q as %q" >&2\n' \
				"/lib/modules/$K_RELEASE" "$K_MODULES" "/lib/modules/$K_RELEASE" "$K_MODULES" "/lib/modules/$K_RELEASE"
		fi
		if [ "$VM_NO_MODULE" = 0 ]; then
			# a slower kernel waits longer for the daemon's answers, as
			# run-cluster's ack_timeout_ms does (3 x it must stay below)
			printf 'insmod %q%s || { echo "vm: insmod xpmem.ko failed" >"$NODE/output"; echo 125 >"$NODE/rc"; dmesg >"$NODE/dmesg"; exit; }\n' "$KMOD" \
				"$([ "$K_SLOWDOWN" -gt 1 ] && echo " remote_timeout_ms=$((5000 * K_SLOWDOWN))")"
			echo 'chmod 0666 /dev/xpmem 2>/dev/null  # what the udev rule does on a real node'
		fi
		printf 'cd %q 2>/dev/null || cd /\n' "$PWD"
		printf 'cmd=('; printf '%q ' "$@"; echo ')'
		if [ "${VM_SHELL:-0}" = 1 ]; then
			echo 'setsid -c "${cmd[@]}" </dev/ttyS0 >/dev/ttyS0 2>&1; rc=$?'
		else
			echo '"${cmd[@]}" </dev/null >"$NODE/output" 2>&1; rc=$?'
		fi
		if [ "$K_DEBUG" = 1 ] || [ "$VM_REQUIRE_UNLOAD" = 1 ]; then
			cat <<'UNLOAD'
cd /
if ! grep -q '^xpmem ' /proc/modules; then
	echo "not loaded" >"$NODE/unload"
elif refs=$(cat /sys/module/xpmem/refcnt 2>/dev/null) && [ "$refs" != 0 ]; then
	echo "busy: refcnt $refs" >"$NODE/unload"
	echo "vm: xpmem not unloaded at the end: still in use (refcnt $refs), so its leaks cannot show" >>"$NODE/output"
elif err=$(rmmod xpmem 2>&1); then
	echo ok >"$NODE/unload"
else
	echo "failed: $err" >"$NODE/unload"
	echo "vm: rmmod xpmem at the end failed: $err" >>"$NODE/output"
fi
UNLOAD
		fi
		if [ "$K_DEBUG" = 1 ]; then
			# kmemleak reports an object only once it has looked unreferenced in
			# two scans and is older than 5 s: scan, wait, scan.
			cat <<'KMEMLEAK'
KL=/sys/kernel/debug/kmemleak
if [ -e $KL ] && echo scan 2>/dev/null >$KL; then
	sleep 5
	echo scan >$KL
	cat $KL >"$NODE/kmemleak"
else
	echo "no $KL, or kmemleak refused a scan (it disables itself on an internal error: see dmesg)" >"$NODE/kmemleak-off"
fi
KMEMLEAK
		fi
		echo 'dmesg >"$NODE/dmesg" 2>&1'
		echo 'echo $rc >"$NODE/rc"'
	} >"$node/guest-main"
}

# Common QEMU arguments; the caller adds memory, NUMA, devices and the job share.
# $1=jobdir $2=nodedir $3=initramfs
vm_qemu_base() {
	local job=$1 node=$2 initrd=$3
	# no_timer_check: a TCG guest on a loaded host can miss the IO-APIC
	# timer check's window and panic at boot (as KVM guests skip it)
	local cmdline="console=ttyS0 loglevel=5 panic=-1 oops=panic nokaslr mitigations=off secretmem.enable=1 no_timer_check $K_CMDLINE"
	# VM_APPEND: a run's own kernel parameters (run-cluster --append)
	[ -n "${VM_APPEND:-}" ] && cmdline+=" $VM_APPEND"
	cmdline+=" XPMEM_JOB=$job XPMEM_NODE=$node XPMEM_SHOW=$REPO:$PWD"
	[ -n "${VM_OUT:-}" ] && cmdline+=" XPMEM_OUT=$VM_OUT"
	QEMU_ARGS=(qemu-system-x86_64 -accel tcg,thread=multi -cpu max -nodefaults -no-reboot
		-display none -kernel "$K_IMAGE" -initrd "$initrd" -append "$cmdline"
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

# Runs QEMU_ARGS for node directory $1 (label $2) under the run's timeout and
# returns QEMU's status (124: timed out). A boot that does not reach the
# initramfs (tests/vm/init creates $1/booted) within VM_BOOT_LIMIT s, or that
# stops before it, is started again, VM_BOOT_TRIES boots in all: 6.1 under TCG
# now and then hangs early and silently (seen on the debug kernel right after
# the TSC calibration) or panics in the IO-APIC timer check on a loaded host,
# and the run's timeout would cost up to an hour. The hung
# console is kept as console.boot-hang-N.log. Notices go to fd $VM_NOTE_FD.
vm_boot() {
	local node=$1 label=$2 try=1 qpid start rc why
	while :; do
		rm -f "$node/booted"
		start=$SECONDS
		timeout -k 10 "$VM_TIMEOUT" "${QEMU_ARGS[@]}" </dev/null &
		qpid=$! VM_QPID=$!
		while kill -0 "$qpid" 2>/dev/null && [ ! -e "$node/booted" ] &&
			[ $((SECONDS - start)) -lt "$VM_BOOT_LIMIT" ]; do
			sleep 1
		done
		if [ -e "$node/booted" ]; then
			rc=0
			wait "$qpid" || rc=$?
			VM_QPID=
			return "$rc"
		fi
		if kill -0 "$qpid" 2>/dev/null; then
			kill "$qpid" 2>/dev/null
			wait "$qpid" 2>/dev/null
			why="no userspace after ${VM_BOOT_LIMIT}s"
		else
			# stopped before the initramfs: a panic at boot (under
			# load TCG can fail 6.1's IO-APIC timer check), or QEMU
			# refused to start
			rc=0
			wait "$qpid" || rc=$?
			# the run's own timeout came first (a short --timeout on
			# a loaded host): that is the answer, not a boot to retry
			if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
				VM_QPID=
				return "$rc"
			fi
			why="stopped before userspace (qemu status $rc)"
		fi
		cp "$node/console.log" "$node/console.boot-hang-$try.log" 2>/dev/null
		echo "vm: $label: $why (boot $try of $VM_BOOT_TRIES; console kept in $node/console.boot-hang-$try.log, last line: $(tail -n 1 "$node/console.log" 2>/dev/null))" >&"${VM_NOTE_FD:-2}"
		[ "$try" -lt "$VM_BOOT_TRIES" ] || return 125
		try=$((try + 1))
	done
}

# Scans a node's kernel logs; prints problems and returns 1 if any: the
# matching lines, the first report in full (a KASAN or lockdep report is long
# and may be far from the end), then the end of the log. Lines matching the
# kernel's K_KNOWN are left out, and said so.
vm_check_kernel_log() {
	local node=$1 label=$2 f hits= first known said=
	for f in "$node/console.log" "$node/dmesg" "$node"/console.before-restart-*.log; do
		[ -f "$f" ] || continue
		if [ -n "${K_KNOWN:-}" ] && [ -z "$said" ] &&
			known=$(grep -E "$KERNEL_PROBLEMS" "$f" | grep -E "$K_KNOWN" |
				sed -E 's/^\[ *[0-9.]+\] //; s/ PID: [0-9]+//' | sort | uniq -c); then
			echo "vm: $label: ignored, known bugs of the $VM_KERNEL kernel itself (K_KNOWN in tests/vm/lib.sh):" >&2
			echo "$known" >&2
			said=1
		fi
		if vm_problem_lines "$f" | grep -q .; then hits="$f"; break; fi
	done
	[ -z "$hits" ] && return 0
	echo "vm: $label: kernel problem in guest log ($hits):" >&2
	vm_problem_lines "$hits" | head -n 20 >&2
	first=$(vm_problem_lines "$hits" | head -n 1 | cut -d: -f1)
	echo "---- $label kernel log from line $((first > 5 ? first - 5 : 1)) (first report) ----" >&2
	sed -n "$((first > 5 ? first - 5 : 1)),$((first + 120))p" "$hits" >&2
	echo "---- $label kernel log, last 60 lines ----" >&2
	tail -n 60 "$hits" >&2
	echo "---- end of $label kernel log ----" >&2
	return 1
}

# Lines of file $1 that show a kernel problem, numbered, known ones left out.
vm_problem_lines() {
	if [ -n "${K_KNOWN:-}" ]; then
		grep -En "$KERNEL_PROBLEMS" "$1" | grep -Ev "$K_KNOWN"
	else
		grep -En "$KERNEL_PROBLEMS" "$1"
	fi
}

# Debug kernels: kmemleak's findings after the closing scan, and the closing
# unload. Prints problems and returns 1 if any.
vm_check_debug_end() {
	local node=$1 label=$2 n bad=0
	if [ -f "$node/kmemleak-off" ]; then
		echo "vm: $label: kmemleak could not scan, so leaks are unchecked: $(cat "$node/kmemleak-off")" >&2
		bad=1
	elif [ -f "$node/kmemleak" ] && n=$(grep -c '^unreferenced object' "$node/kmemleak"); then
		echo "vm: $label: kmemleak: $n unreferenced object(s) (memory leaks) at the end of the boot; first ones ($node/kmemleak):" >&2
		head -n 80 "$node/kmemleak" >&2
		bad=1
	fi
	if [ "$VM_REQUIRE_UNLOAD" = 1 ] && [ -f "$node/unload" ] && [ "$(cat "$node/unload")" != ok ]; then
		echo "vm: $label: closing rmmod xpmem was required (--require-unload) and did not succeed: $(cat "$node/unload")" >&2
		bad=1
	fi
	return "$bad"
}

# Result of one node: 0 if the command passed and the kernel log is clean
# (on a debug kernel: and kmemleak found nothing).
# $1=nodedir $2=label $3=qemu exit status
vm_node_result() {
	local node=$1 label=$2 qrc=$3 rc
	if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
		echo "vm: $label: guest did not finish within ${VM_TIMEOUT}s; killed. Last console lines:" >&2
		tail -n 60 "$node/console.log" >&2 2>/dev/null
		return 124
	fi
	if [ ! -f "$node/rc" ]; then
		if [ -f "$node/console.boot-hang-$VM_BOOT_TRIES.log" ]; then
			echo "vm: $label: no boot reached userspace in $VM_BOOT_TRIES tries" >&2
		fi
		echo "vm: $label: guest stopped without a result (qemu status $qrc)" >&2
		vm_check_kernel_log "$node" "$label" ||	return 125
		echo "vm: $label: last console lines:" >&2
		tail -n 80 "$node/console.log" >&2 2>/dev/null
		return 125
	fi
	rc=$(cat "$node/rc")
	vm_check_debug_end "$node" "$label" || { [ "$rc" = 0 ] && rc=126; }
	vm_check_kernel_log "$node" "$label" || { [ "$rc" = 0 ] && rc=126; }
	return "$rc"
}
