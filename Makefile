# Top-level build: userspace through CMake (build/), the module through Kbuild (xpmem-kmod/).
# KDIR overrides the kernel tree the module is built against; the default is the
# Debian kernel the testbed boots (tests/vm/kver).

KVER  ?= $(shell tests/vm/kver 2>/dev/null)
KDIR  ?= /lib/modules/$(KVER)/build
BUILD ?= build
CTEST  = ctest --test-dir $(BUILD) --output-on-failure

.PHONY: all userspace kmod deps check check-unit check-vm check-cluster demo \
	bench-local install clean lint

all: userspace kmod

deps:
	@deploy/install-deps

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

userspace: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$$(nproc)

kmod:
	$(MAKE) -C $(KDIR) M=$(CURDIR)/xpmem-kmod modules

# One ctest run over every label so the output ends with CTest's summary; its
# "Label Time Summary" is the time per label (vm/cluster tests run serially, so
# their figure is wall time).
check: deps all
	$(CTEST) -j2

check-unit check-vm check-cluster demo \
	bench-local install clean lint

all: userspace kmod

deps:
	@deploy/install-deps

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

userspace: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$$(nproc)

kmod:
	$(MAKE) -C $(KDIR) M=$(CURDIR)/xpmem-kmod modules

# Every label in one ctest run so it ends with CTest's summary; tests/label-times
# prints the wall time per label from CTest's own log.
check: deps all
	@start=$$(date +%s); rc=0; $(CTEST) -j2 || rc=$$?; \
	 tests/label-times $(BUILD) $$start; \
	 $(CTEST) -N >/dev/null; \
	 tail -n 1 $(BUILD)/Testing/Temporary/LastTestsFailed.log 2>/dev/null >/dev/null; \
	 exit $$rc

check-unit check-vm check-cluster: check-%: deps all
	$(CTEST) -j2 -L '^$*$$'

demo: deps all
	tests/cluster/demo

install: all
	cmake --install $(BUILD)
	$(MAKE) -C $(KDIR) M=$(CURDIR)/xpmem-kmod modules_install

lint:
	tests/lint

clean:
	rm -rf $(BUILD)
	$(MAKE) -C $(KDIR) M=$(CURDIR)/xpmem-kmod clean
