# snnd: libsnn (src/, include/), snnctl (cli/), snnd (server/), tests.
#
#   make                 build everything
#   make run             install missing packages, build, start snnd (default model)
#   make test            install missing Debian packages, build, run every suite
#   make SANITIZE=address,undefined test    the same under sanitizers
#   make bench           benchmarks (build/snnbench, snnctl eval, PyTorch baselines, the daemon);
#                        results written to docs/benchmarks.md
#   make results         accuracy/latency/energy tables: docs/results.md
#   make fuzz            libFuzzer targets (clang), FUZZ_SECONDS each
#   make replay          the fuzz targets over their corpora, no libFuzzer (part of make test)
#
# Sources are picked up by wildcard: one .c per module, no list to edit.
# src/ is grouped by stage: import/ (ONNX, model directories), graph/ (the
# operator graph and the ANN interpreter), convert/ (the graph planned as a
# spiking network, calibration), sim/ (engine, kernels, threads), params/
# (the option table), data/ (images, datasets), output/ (energy, plots).

CC       ?= cc
BUILD    ?= build
OPT      ?= -O2
PKGS      = openblas libprotobuf-c jansson libpng libjpeg zlib
SRV_PKGS  = libmicrohttpd libuv
TEST_PKGS = libcurl

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(SRV_PKGS) $(TEST_PKGS) 2>/dev/null)
LIB_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread
SRV_LIBS   := $(shell pkg-config --libs $(SRV_PKGS) 2>/dev/null)
TEST_LIBS  := $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
           -Wshadow -Wstrict-prototypes -Wno-format-truncation -fno-strict-aliasing -pthread \
           -Iinclude -Itests -I$(BUILD)/gen $(PKG_CFLAGS)
LDFLAGS += -pthread

ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
comma   := ,
BUILD   := build-san$(if $(filter thread,$(subst $(comma), ,$(SANITIZE))),-thread,)
endif
ifneq ($(NATIVE),)
CFLAGS  += -march=native
endif

ONNX_PROTO ?= /usr/include/onnx/onnx.proto
GEN_SRC  = $(BUILD)/gen/onnx.pb-c.c
GEN_HDR  = $(BUILD)/gen/onnx.pb-c.h

LIB_SRC  = $(wildcard src/*.c src/*/*.c)
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/onnx.pb-c.o
CLI_SRC  = $(wildcard cli/*.c)
CLI_OBJ  = $(CLI_SRC:%.c=$(BUILD)/%.o)
SRV_SRC  = $(wildcard server/*.c)
SRV_OBJ  = $(SRV_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC = $(wildcard tests/unit/*.c) tests/test_main.c
UNIT_OBJ = $(UNIT_SRC:%.c=$(BUILD)/%.o)
INT_SRC  = $(wildcard tests/integration/*.c) tests/test_main.c
INT_OBJ  = $(INT_SRC:%.c=$(BUILD)/t-int/%.o)

# The fuzz targets with a plain main (tests/fuzz/replay.c), so that
# `make test` replays their corpora in every build (tests/fuzz/replay.sh).
FUZZ_SRC = $(wildcard tests/fuzz/fuzz_*.c)
REPLAY   = $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/replay/%)
SRV_LIB  = $(BUILD)/libsnnd.a

LIB   = $(BUILD)/libsnn.a
BINS  = $(BUILD)/snnctl $(BUILD)/snnd

.PHONY: all deps run test unit integration conform replay bench results fuzz soak clean lint web-assets
all: $(BINS)

deps:
	@tools/install-deps.sh

$(GEN_SRC) $(GEN_HDR): $(ONNX_PROTO)
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen -I$(dir $(ONNX_PROTO)) $(ONNX_PROTO)

$(BUILD)/gen/onnx.pb-c.o: $(GEN_SRC)
	$(CC) $(CFLAGS) -w -c $< -o $@

$(BUILD)/%.o: %.c $(GEN_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/t-int/%.o: %.c $(GEN_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DSNN_INTEGRATION -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/snnctl: $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LIB_LIBS)

$(BUILD)/snnd: $(SRV_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(SRV_OBJ) $(LIB) $(SRV_LIBS) $(LIB_LIBS)

$(BUILD)/test_unit: $(UNIT_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(UNIT_OBJ) $(LIB) $(LIB_LIBS)

$(BUILD)/test_integration: $(INT_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(INT_OBJ) $(LIB) $(TEST_LIBS) $(SRV_LIBS) $(LIB_LIBS)

# The daemon's objects but main.c, for the fuzz targets that reach its parsers.
$(SRV_LIB): $(filter-out $(BUILD)/server/main.o,$(SRV_OBJ))
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/replay/%.o: tests/fuzz/%.c $(GEN_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iserver -Wno-unused-function -DSNN_ROOT='"$(CURDIR)"' -MMD -MP -c $< -o $@

$(BUILD)/replay/fuzz_%: $(BUILD)/replay/fuzz_%.o $(BUILD)/replay/replay.o $(SRV_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/replay/replay.o $(SRV_LIB) $(LIB) $(SRV_LIBS) $(LIB_LIBS)

# The closed-loop HTTP load generator of tools/bench_daemon.sh, soak.sh, faults.sh.
$(BUILD)/loadgen: tools/loadgen.c
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(TEST_LIBS) -lm

# The PNG writer of the test fixtures (-1 W H C PATH: one gradient image),
# used by tools/faults.sh and soak.sh.
$(BUILD)/mkpng_fixtures: tools/mkpng_fixtures.c
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -o $@ $< -lz

# The engine-side benchmarks of make bench (kernel peak, chunked against
# streamed); it reads the kernels' private header.
$(BUILD)/snnbench: tools/bench/snnbench.c $(LIB)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LIB_LIBS)

# Start the daemon on 127.0.0.1:8080 serving the shipped default model.
run:
	@tools/install-deps.sh
	@$(MAKE) --no-print-directory all
	$(BUILD)/snnd

# The test command: installs what is missing, builds, runs all suites.
test:
	@tools/install-deps.sh
	@$(MAKE) --no-print-directory all $(BUILD)/test_unit $(BUILD)/test_integration $(REPLAY)
	@BUILD=$(BUILD) tests/run.sh

unit: $(BUILD)/test_unit
	$(BUILD)/test_unit

replay: $(REPLAY)
	@BUILD=$(BUILD) tests/fuzz/replay.sh

bench: all $(BUILD)/snnbench
	@BUILD=$(BUILD) tools/bench.sh

results: all
	@BUILD=$(BUILD) tools/results.sh

fuzz:
	@tools/install-deps.sh --fuzz
	@$(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk

soak: all
	@BUILD=$(BUILD) tools/soak.sh

# Regenerate server/web_assets.c from web/ (committed; tests check it is current).
web-assets:
	tools/embed-web.sh

clean:
	rm -rf build build-san build-san-thread build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
