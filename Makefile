# kxdp — build, test and demo. `make help` lists the targets.
ARCH ?= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
BUILD ?= build
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= cc
PREFIX ?= /usr/local
PY ?= /usr/bin/python3
# make V=1 shows every command.
ifeq ($(V),1)
Q :=
msg := @true
else
Q := @
msg := @printf '  %-8s %s\n'
endif

# Debian packages that building, testing and the demo need.
DEB_PKGS := clang llvm libclang-rt-14-dev make pkg-config gcc libc6-dev bpftool libbpf-dev \
	libelf-dev zlib1g-dev libnl-3-dev libnl-route-3-dev libjansson-dev \
	libcurl4-openssl-dev libyaml-dev libmicrohttpd-dev openssl \
	libcmocka-dev python3-pytest python3-scapy python3-pyroute2 python3-yaml \
	python3-prometheus-client \
	containernetworking-plugins iproute2 iputils-ping socat util-linux procps \
	ethtool qemu-system-x86 busybox-static linux-image-amd64 cpio iptables \
	podman runc conmon debootstrap
# What `make bench` needs on top (kept out of check: nginx's install starts it
# on machines with an init system).
BENCH_PKGS := wrk nginx-light iperf3 sockperf gnuplot-nox nftables iptables ipset time ipvsadm

PKGS := libbpf libelf zlib libnl-3.0 libnl-route-3.0 jansson libcurl yaml-0.1 libmicrohttpd
USER_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
	-Iinclude -Iuser -I$(BUILD) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
USER_LDLIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
BPF_CFLAGS := -target bpf -g -O2 -Wall -Werror -D__TARGET_ARCH_$(ARCH) \
	-Ivmlinux/$(ARCH) -Iinclude -Ibpf

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
BPF_HDRS := $(wildcard bpf/lib/*.h) include/kxdp_abi.h
# user/<part>/*.c: the sources of one binary alone (its main and the steps
# only it runs) link into that binary; every other file goes into libkxdp.a,
# which the binaries, unit tests, benches and fuzz targets link. Sources
# include "<part>/x.h" (-Iuser). Basenames stay unique across the library's
# parts: ar keeps one member per name.
AGENT_SRCS := $(addprefix user/agent/,main.c options.c node.c routes.c gc.c ownfiles.c reconcile.c loop.c policy.c)
CNI_SRCS := $(addprefix user/cni/,main.c cmd.c ipam.c wire.c result.c)
CLI_SRCS := $(wildcard user/cli/*.c)
LIB_SRCS := $(filter-out $(AGENT_SRCS) $(CNI_SRCS) $(CLI_SRCS),$(wildcard user/*/*.c))
LIB_OBJS := $(patsubst user/%.c,$(BUILD)/user/%.o,$(LIB_SRCS))
USER_HDRS := $(wildcard user/*/*.h) include/kxdp_abi.h $(BUILD)/kxdp.skel.h
BINS := $(BUILD)/kxdp-agent $(BUILD)/kxdp-cni $(BUILD)/kxdp
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

.DELETE_ON_ERROR:
.PHONY: all deps bench-deps install-pkgs check unit e2e vmcheck demo demo-clean vmlinux clean help install fuzz image
all: $(BINS) $(BUILD)/kxdp.bpf.o

help:
	@echo "make            build BPF object, skeleton and binaries into $(BUILD)/"
	@echo "make deps       install the Debian packages kxdp needs (idempotent)"
	@echo "make check      deps + build + image + unit + e2e tests, then vmcheck; ends with"
	@echo "                'N passed, N failed'"
	@echo "make vmcheck    unit + an e2e subset in a VM on Debian 12's 6.1 kernel"
	@echo "make bench      kxdp side by side with the floor, bridge, nftables, iptables (QUICK=1)"
	@echo "make bench-ipvs kube-router's IPVS beside kxdp, in the 6.1 VM (ratios only)"
	@echo "make demo       deps + build + the reference cluster demo (KEEP=1 leaves it up)"
	@echo "make demo-clean remove a demo kept with KEEP=1"
	@echo "make image      the kxdp image with podman from a clean git archive of HEAD, on a"
	@echo "                Debian 12 base made with debootstrap (no registry); $(BUILD)/image/"
	@echo "make vmlinux    regenerate vmlinux/$(ARCH)/vmlinux.h from this kernel's BTF"
	@echo "make fuzz       libFuzzer (ASan, UBSan) on object decoding, the watch stream and the"
	@echo "                CNI config, FUZZ_TIME seconds each (default 60) or FUZZ_RUNS runs"

deps:
	@$(MAKE) --no-print-directory install-pkgs PKG_LIST="$(DEB_PKGS)"

bench-deps: deps
	@$(MAKE) --no-print-directory install-pkgs PKG_LIST="$(BENCH_PKGS)"

install-pkgs:
	@missing=""; for p in $(PKG_LIST); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends $$missing </dev/null; \
	else echo "deps: all Debian packages present"; fi

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS)
	@mkdir -p $(@D)
	$(msg) BPF $@
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# Every program and the maps linked into one object, so they share the maps.
# The maps' definitions go first: Debian 12's linker misplaces an extern map
# of an object linked before the one defining it.
$(BUILD)/kxdp.bpf.o: $(BPF_OBJS)
	$(msg) LINK $@
	$(Q)$(BPFTOOL) gen object $@ $(filter %/maps.bpf.o,$^) $(filter-out %/maps.bpf.o,$^)

$(BUILD)/kxdp.skel.h: $(BUILD)/kxdp.bpf.o
	$(msg) SKEL $@
	$(Q)$(BPFTOOL) gen skeleton $< name kxdp > $@

$(BUILD)/user/%.o: user/%.c $(USER_HDRS)
	@mkdir -p $(@D)
	$(msg) CC $@
	$(Q)$(CC) $(USER_CFLAGS) -c $< -o $@

$(BUILD)/libkxdp.a: $(LIB_OBJS)
	$(msg) AR $@
	$(Q)$(AR) rcs $@ $^

bin_objs = $(patsubst user/%.c,$(BUILD)/user/%.o,$(1)) $(BUILD)/libkxdp.a
$(BUILD)/kxdp-agent: $(call bin_objs,$(AGENT_SRCS))
	$(msg) LD $@
	$(Q)$(CC) -o $@ $^ $(USER_LDLIBS)
$(BUILD)/kxdp-cni: $(call bin_objs,$(CNI_SRCS))
	$(msg) LD $@
	$(Q)$(CC) -o $@ $^ $(USER_LDLIBS)
$(BUILD)/kxdp: $(call bin_objs,$(CLI_SRCS))
	$(msg) LD $@
	$(Q)$(CC) -o $@ $^ $(USER_LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libkxdp.a $(USER_HDRS) tests/unit/testlib.h tests/unit/bpftest.h \
		tests/unit/polfix.h tests/unit/polrand.h
	@mkdir -p $(@D)
	$(msg) TEST $@
	$(Q)$(CC) $(USER_CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libkxdp.a $(USER_LDLIBS) -lcmocka

# The agent's policy path links the agent's own policy.c (not in the library).
$(BUILD)/tests/test_agent_policy: tests/unit/test_agent_policy.c $(BUILD)/user/agent/policy.o \
		$(BUILD)/libkxdp.a $(USER_HDRS) tests/unit/testlib.h tests/unit/bpftest.h
	@mkdir -p $(@D)
	$(msg) TEST $@
	$(Q)$(CC) $(USER_CFLAGS) -Itests/unit -o $@ $< $(BUILD)/user/agent/policy.o \
		$(BUILD)/libkxdp.a $(USER_LDLIBS) -lcmocka

unit: all $(UNIT_TESTS)
e2e: all

# The image first: tests/e2e/test_image.py runs it as the DaemonSet.
check: deps
	$(MAKE) all $(UNIT_TESTS)
	manifests/image/build.sh $(BUILD)
	tests/run-all.sh $(BUILD)

# The unit suite and an e2e subset inside a VM on Debian 12's 6.1 kernel
# (software emulation where KVM cannot boot it); part of check.
vmcheck: deps
	$(MAKE) all $(UNIT_TESTS)
	tests/vm/check.sh $(BUILD)

demo: deps
	$(MAKE) all
	@KXDP_BUILD=$(CURDIR)/$(BUILD) $(PY) tests/demo.py

demo-clean:
	@$(PY) tests/demo.py --clean

image: deps
	manifests/image/build.sh $(BUILD)

vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/$(ARCH)/vmlinux.h

install: all
	install -D -m 0755 $(BUILD)/kxdp-agent $(DESTDIR)$(PREFIX)/bin/kxdp-agent
	install -D -m 0755 $(BUILD)/kxdp $(DESTDIR)$(PREFIX)/bin/kxdp
	install -D -m 0755 $(BUILD)/kxdp-cni $(DESTDIR)$(PREFIX)/lib/kxdp/kxdp-cni
	install -D -m 0644 $(BUILD)/kxdp.bpf.o $(DESTDIR)$(PREFIX)/lib/kxdp/kxdp.bpf.o
	install -D -m 0644 man/kxdp.8 $(DESTDIR)$(PREFIX)/share/man/man8/kxdp.8

clean:
	rm -rf $(BUILD)

# Benchmark programs (bench/run.py runs them; see bench/).
$(BUILD)/bench/prim_cost: bench/prim_cost.c
	@mkdir -p $(@D)
	$(msg) BENCH $@
	$(Q)$(CC) $(USER_CFLAGS) -o $@ $< $(USER_LDLIBS)

$(BUILD)/bench/sync_bench: bench/sync_bench.c $(BUILD)/libkxdp.a $(USER_HDRS)
	@mkdir -p $(@D)
	$(msg) BENCH $@
	$(Q)$(CC) $(USER_CFLAGS) -o $@ $< $(BUILD)/libkxdp.a $(USER_LDLIBS)

$(BUILD)/bench/prog_cost: bench/prog_cost.c bench/bpfrun.h $(BUILD)/libkxdp.a $(USER_HDRS)
	@mkdir -p $(@D)
	$(msg) BENCH $@
	$(Q)$(CC) $(USER_CFLAGS) -o $@ $< $(BUILD)/libkxdp.a $(USER_LDLIBS) -lcmocka

# NetworkPolicy in the datapath: build/bench/policy_cost [POLICIES] [ITERATIONS] [csv]
$(BUILD)/bench/policy_cost: bench/policy_cost.c bench/bpfrun.h tests/unit/polfix.h $(BUILD)/libkxdp.a $(USER_HDRS)
	@mkdir -p $(@D)
	$(msg) BENCH $@
	$(Q)$(CC) $(USER_CFLAGS) -o $@ $< $(BUILD)/libkxdp.a $(USER_LDLIBS) -lcmocka

# NetworkPolicy compiler cost: build/bench/pol_bench [PODS] [POLICIES] [LOCAL] [RUNS]
$(BUILD)/bench/pol_bench: bench/pol_bench.c tests/unit/polfix.h $(BUILD)/libkxdp.a $(USER_HDRS)
	@mkdir -p $(@D)
	$(msg) BENCH $@
	$(Q)$(CC) $(USER_CFLAGS) -o $@ $< $(BUILD)/libkxdp.a $(USER_LDLIBS)

# IPVS beside kxdp, inside the 6.1 VM (the only kernel here with IPVS).
BENCH_DATE := $(shell date +%F)
.PHONY: bench-ipvs
bench-ipvs: bench-deps
	$(MAKE) all
	mkdir -p bench/results/$(BENCH_DATE)
	tests/vm/run.py --rw $(CURDIR)/bench/results/$(BENCH_DATE) -- \
		$(PY) bench/ipvs.py $(CURDIR)/bench/results/$(BENCH_DATE)

.PHONY: bench
bench: bench-deps
	$(MAKE) all $(BUILD)/bench/prog_cost $(BUILD)/bench/sync_bench $(BUILD)/bench/prim_cost $(BUILD)/bench/policy_cost $(BUILD)/bench/pol_bench
	KXDP_BUILD=$(CURDIR)/$(BUILD) QUICK=$(QUICK) $(PY) bench/run.py

# libFuzzer targets (tests/fuzz/fuzz_*.c) over the library built again with
# ASan and UBSan; each runs FUZZ_TIME seconds on a copy of its seed corpus
# (tests/fuzz/corpus/<name>: the regressions it found, plus the fixtures
# FUZZ_SEEDS_<name> names, never copies of them) and stops at the first
# crash, leak or UB report.
FUZZ_SEEDS_k8s := $(wildcard tests/fixtures/*.json) manifests/examples/reference-cluster.json
FUZZ_TIME ?= 60
# FUZZ_RUNS=N: N executions per target instead of a time limit
FUZZ_LIMIT = $(if $(FUZZ_RUNS),-runs=$(FUZZ_RUNS),-max_total_time=$(FUZZ_TIME))
# The largest input tried: the reference cluster (12 KiB) fits; inputs grown
# past it slow every run down (a 30 KiB List decodes and models ~10x slower).
FUZZ_MAX_LEN ?= 16384
FUZZ_TARGETS ?= k8s watch cni
FUZZ_CFLAGS := -std=gnu11 -O1 -g -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -Iinclude -Iuser -I$(BUILD) \
	$(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_SRCS := $(filter-out user/datapath/loader.c user/datapath/tc.c,$(LIB_SRCS))

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_SRCS) $(USER_HDRS)
	@mkdir -p $(@D)
	$(msg) FUZZ $@
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRCS) $(USER_LDLIBS)

fuzz: deps $(BUILD)/kxdp.skel.h $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
		rm -rf $(BUILD)/fuzz/corpus-$$t && cp -r tests/fuzz/corpus/$$t $(BUILD)/fuzz/corpus-$$t && \
		seeds="$(FUZZ_SEEDS_k8s)"; [ $$t = k8s ] && cp $$seeds $(BUILD)/fuzz/corpus-$$t/; \
		echo "== fuzz $$t ($(or $(FUZZ_RUNS),$(FUZZ_TIME) s))" && \
		if ! $(BUILD)/fuzz/fuzz_$$t $(FUZZ_LIMIT) -print_final_stats=1 \
			-artifact_prefix=$(BUILD)/fuzz/$$t- \
			-max_len=$(FUZZ_MAX_LEN) $(BUILD)/fuzz/corpus-$$t > $(BUILD)/fuzz/$$t.log 2>&1; then \
			tail -40 $(BUILD)/fuzz/$$t.log; echo "!! fuzz $$t failed: $(BUILD)/fuzz/$$t.log"; exit 1; \
		fi; \
		grep -E "stat::number_of_executed_units|Done [0-9]+ runs" $(BUILD)/fuzz/$$t.log; \
	done
