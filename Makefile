# jitsu: the top-level entry points. The build itself is meson; this file
# installs what is missing, then drives it.
#
#   make run     build and start jitsud in the foreground, all inside the checkout
#   make check   build and run every test (unit, corpus, integration, sanitizers)
#   make install DESTDIR=... PREFIX=...
#   make lint    clang-format check, clang-tidy, cppcheck
#   make bench   compare against sudo, doas and s6-sudo; writes docs/benchmarks.md
#   make fuzz    run each libFuzzer harness for SECONDS (default 60)
#   make valgrind  jitsud and jitsu-hub under memcheck for a test subset

BUILD     ?= build
ASAN      ?= build-asan
FUZZBUILD ?= build-fuzz
VGBUILD   ?= build-valgrind
PREFIX    ?= /usr/local
SECONDS   ?= 60
PYTHON    ?= /usr/bin/python3
RUNDIR    := $(CURDIR)/run

.PHONY: all build deps run check unit integration asan install lint bench fuzz valgrind clean

all: build

deps-%:
	@scripts/install-deps.sh $*

$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(PREFIX)

build: deps-build $(BUILD)/build.ninja
	ninja -C $(BUILD)

unit: build
	meson test -C $(BUILD) --print-errorlogs

integration: build
	JITSU_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration
	JITSU_REQUIRE_ALL=1 JITSU_BUILD=$(CURDIR)/$(BUILD) $(PYTHON) -m pytest -q -p no:cacheprovider tests/adversarial
	tests/hub/run.sh $(BUILD)

$(ASAN)/build.ninja:
	meson setup $(ASAN) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

# The whole suite again with ASan and UBSan; any report fails the run.
asan: deps-check $(ASAN)/build.ninja
	ninja -C $(ASAN)
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(ASAN) --print-errorlogs
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		JITSU_BUILD=$(CURDIR)/$(ASAN) $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		JITSU_REQUIRE_ALL=1 JITSU_BUILD=$(CURDIR)/$(ASAN) $(PYTHON) -m pytest -q -p no:cacheprovider tests/adversarial
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		tests/hub/run.sh $(ASAN)

# deps-check installs PostgreSQL, so here its half of the suite must run:
# with JITSU_REQUIRE_PG=1 a missing PostgreSQL fails instead of skipping.
check: deps-check
	JITSU_REQUIRE_PG=1 $(MAKE) unit
	JITSU_REQUIRE_PG=1 $(MAKE) integration
	JITSU_REQUIRE_PG=1 $(MAKE) asan

# Everything under ./run: a jitsu-hub on SQLite, a jitsud enrolled into it,
# the policy, the sockets and the state. Nothing is written to /etc.
run: build
	scripts/run.sh $(BUILD)

# The prefix is compiled into the defaults (SYSCONFDIR/jitsu/policy.conf):
# reconfigure first, then build, then install.
install: deps-build $(BUILD)/build.ninja
	meson configure $(BUILD) --prefix=$(PREFIX) >/dev/null
	ninja -C $(BUILD)
	DESTDIR=$(DESTDIR) meson install -C $(BUILD) --no-rebuild
	@# jitsud refuses to start without its privsep user. meson installs
	@# contrib/sysusers.d/jitsu.conf into sysusersdir; a staged install
	@# (DESTDIR) leaves creating the user to the package (systemd-sysusers
	@# or its postinst), a direct one creates it now.
	@if [ -z "$(DESTDIR)" ]; then scripts/privsep-user.sh _jitsu; fi

lint: deps-lint $(BUILD)/build.ninja
	scripts/lint.sh $(BUILD)

bench: deps-bench build
	bench/run.sh $(BUILD)

# jitsud and jitsu-hub under valgrind memcheck for a subset of the integration
# and hub tests (scripts/valgrind.sh); any error or lost block fails it. CI
# runs it after `make check` (.ci/run); about 5 minutes on 2 cores.
# Its own build: valgrind maps memory executable, which the installed
# connection sandbox refuses (meson.build, -Dvalgrind=true).
$(VGBUILD)/build.ninja:
	meson setup $(VGBUILD) -Dvalgrind=true -Dtests=false

valgrind: deps-valgrind $(VGBUILD)/build.ninja
	ninja -C $(VGBUILD)
	scripts/valgrind.sh $(VGBUILD)

fuzz: deps-fuzz
	[ -f $(FUZZBUILD)/build.ninja ] || CC=clang meson setup $(FUZZBUILD) --buildtype=debug \
		-Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(FUZZBUILD)
	scripts/fuzz.sh $(FUZZBUILD) $(SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZBUILD) $(VGBUILD)
