# nestvm build. `make` builds build/nestvm; `make unit` builds and runs the
# cmocka unit tests twice (plain, then under ASan+UBSan); `make test` runs
# every tier through tests/run; `make bench` writes docs/benchmarks.md.
# `make unit-tsan` builds them with ThreadSanitizer (build/unit-tsan/) and
# runs them (tests/unit/run-tsan).
CC       ?= gcc
BUILD    ?= build
WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
            -Wmissing-prototypes -Wpointer-arith -Wvla -Wundef
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE $(WARN) -Isrc -I$(BUILD)/gen -MMD -MP
# libslirp, SQLite, libmicrohttpd, libcurl and GnuTLS are loaded on demand
# (src/lazy/): not linked into nestvm, so `nestvm run` maps none of them
# unless it needs them. The unit tests
# link them too, for their own direct calls.
LDLIBS   := -lpthread -ljansson -ldl -lz
TEST_LIBS := -lsqlite3 -lmicrohttpd -lcurl -lslirp -lcmocka
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# ThreadSanitizer. gcc warns (-Wtsan) that it does not model a standalone
# atomic_thread_fence; the fences (virtqueue.c) order guest-memory
# accesses against the guest, which TSan does not see anyway.
TSAN     := -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan

SRC      := $(shell find src -name '*.c' | sort)
LIB_SRC  := $(filter-out src/main.c,$(SRC))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))

OBJ      := $(SRC:%.c=$(BUILD)/obj/%.o)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
SAN_OBJ  := $(LIB_SRC:%.c=$(BUILD)/san/%.o)
TSAN_OBJ := $(LIB_SRC:%.c=$(BUILD)/tsan/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)
UNIT_SAN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit-san/%)
UNIT_TSAN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit-tsan/%)

# Fuzz targets (tests/fuzz/fuzz_*.c): libFuzzer from Debian's clang, with
# ASan+UBSan, linked with nestvm's objects built by clang. clang's extra
# warnings that gcc does not give are not errors here (the gcc build has
# them all as errors).
CLANG    ?= clang
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_OBJ := $(LIB_SRC:%.c=$(BUILD)/fuzzobj/%.o)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -O1 -g -std=c11 -D_GNU_SOURCE $(WARN) -Wno-format-nonliteral -Wno-string-plus-int \
	-Wno-gnu-variable-sized-type-not-at-end -Isrc -I$(BUILD)/gen -Itests/fuzz $(FUZZ_SAN)
FUZZ_SECONDS ?= 300
GEN      := $(BUILD)/gen/dsdt.hex

.PHONY: all unit unit-build unit-tsan unit-tsan-build test demo bench clean fuzz fuzz-build
all: $(BUILD)/nestvm

$(BUILD)/nestvm: $(OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The DSDT is ASL source compiled by Debian's iasl (acpica-tools) at build time.
$(GEN): src/x86/dsdt.asl
	@mkdir -p $(dir $@)
	iasl -vs -p $(BUILD)/gen/dsdt -tc $< >/dev/null

$(BUILD)/obj/%.o: %.c | $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/san/%.o: %.c | $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -c -o $@ $<

$(BUILD)/unit/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS) $(TEST_LIBS)

$(BUILD)/unit-san/%: tests/unit/%.c $(SAN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -o $@ $(filter %.c %.o,$^) $(LDLIBS) $(TEST_LIBS)

unit-build: $(UNIT_BIN) $(UNIT_SAN)

$(BUILD)/tsan/%.o: %.c | $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TSAN) -c -o $@ $<

$(BUILD)/unit-tsan/%: tests/unit/%.c $(TSAN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TSAN) -o $@ $(filter %.c %.o,$^) $(LDLIBS) $(TEST_LIBS)

unit-tsan-build: $(UNIT_TSAN)

unit-tsan: unit-tsan-build
	tests/unit/run-tsan $(BUILD)

$(BUILD)/fuzzobj/%.o: %.c | $(GEN)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LDLIBS) \
		$(filter-out -lcmocka,$(TEST_LIBS))

# The seed generators (tests/fuzz/gen_*.c, run by tests/fuzz/seeds): built
# like the targets, without libFuzzer's main.
FUZZ_GEN := $(BUILD)/fuzz/gen_restore_seed

$(BUILD)/fuzz/gen_%: tests/fuzz/gen_%.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -o $@ $< $(FUZZ_OBJ) $(LDLIBS) \
		$(filter-out -lcmocka,$(TEST_LIBS))

fuzz-build: $(FUZZ_BIN) $(FUZZ_GEN)

# Each fuzz target for FUZZ_SECONDS (the test command runs them for 30 s).
fuzz: fuzz-build
	tests/fuzz/run $(FUZZ_SECONDS) $(BUILD)

# The sanitized objects are only prerequisites of the unit tests: keep them.
.SECONDARY: $(SAN_OBJ) $(TSAN_OBJ) $(FUZZ_OBJ)

unit: unit-build
	tests/unit/run-all $(BUILD)

test:
	tests/run

demo:
	scripts/demo

# Not part of `make test`: nestvm beside QEMU, per level; writes docs/benchmarks.md.
bench:
	scripts/bench

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
