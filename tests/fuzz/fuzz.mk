# fuzz.mk: libFuzzer targets for every parser that takes outside bytes.
#
#   make fuzz                          build, then run each target FUZZ_SECONDS (60)
#   make -f tests/fuzz/fuzz.mk build   build only (build-fuzz/fuzz_*)
#   make -f tests/fuzz/fuzz.mk run-fuzz_onnx FUZZ_SECONDS=300
#   make -f tests/fuzz/fuzz.mk regress replay tests/regress/ and the corpora once
#
# Everything (library, daemon objects but main.c, targets) is compiled by
# clang with -fsanitize=fuzzer-no-link,address,undefined into build-fuzz/;
# targets link -fsanitize=fuzzer. A run starts from the seed corpus in
# tests/fuzz/corpus/<target>/ and writes what it learns to
# build-fuzz/corpus/<target>/ (the seeds stay small and reviewed); crashes
# land in build-fuzz/crash/<target>/ and make the run fail. Each run's last
# libFuzzer status line goes to build-fuzz/<target>.log.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 1
FUZZ_RSS_MB  ?= 2048
# One allocation above this is reported as a crash: no parser should
# allocate hundreds of MiB for an input of at most max_len bytes.
FUZZ_MALLOC_MB ?= 256
FB           := build-fuzz
SAN          := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
PKGS         := openblas libprotobuf-c jansson libpng libjpeg zlib libmicrohttpd libuv
PKG_CFLAGS   := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS     := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread
FCFLAGS      := -O1 -g $(SAN) -fsanitize=fuzzer-no-link -std=c11 -D_DEFAULT_SOURCE \
                -D_GNU_SOURCE -pthread -Wall -Wno-unused-parameter -Wno-unused-function \
                -Iinclude -Iserver -I$(FB)/gen $(PKG_CFLAGS) -DSNN_ROOT='"$(CURDIR)"'
ONNX_PROTO   ?= /usr/include/onnx/onnx.proto

LIB_SRC  := $(wildcard src/*.c src/*/*.c)
SRV_SRC  := $(filter-out server/main.c,$(wildcard server/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(FB)/%.o) $(FB)/gen/onnx.pb-c.o
SRV_OBJ  := $(SRV_SRC:%.c=$(FB)/%.o)

LIB_TARGETS := fuzz_onnx fuzz_image fuzz_model_config fuzz_convert_params fuzz_dataset
SRV_TARGETS := fuzz_classify_body fuzz_multipart fuzz_classify_json fuzz_v2_infer \
               fuzz_query fuzz_daemon_config fuzz_http
TARGETS     := $(LIB_TARGETS) $(SRV_TARGETS)
BINS        := $(TARGETS:%=$(FB)/%)

.PHONY: all build run regress $(TARGETS:%=run-%)
all: build run
build: $(BINS)

$(FB)/gen/onnx.pb-c.c $(FB)/gen/onnx.pb-c.h: $(ONNX_PROTO)
	@mkdir -p $(FB)/gen
	protoc-c --c_out=$(FB)/gen -I$(dir $(ONNX_PROTO)) $(ONNX_PROTO)

$(FB)/gen/onnx.pb-c.o: $(FB)/gen/onnx.pb-c.c
	$(FUZZ_CC) $(FCFLAGS) -w -c $< -o $@

$(FB)/%.o: %.c $(FB)/gen/onnx.pb-c.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FCFLAGS) -MMD -MP -c $< -o $@

$(FB)/lib.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIB_TARGETS:%=$(FB)/%): $(FB)/%: $(FB)/tests/fuzz/%.o $(FB)/lib.a
	$(FUZZ_CC) $(SAN) -fsanitize=fuzzer -pthread -o $@ $< $(FB)/lib.a $(PKG_LIBS)

$(SRV_TARGETS:%=$(FB)/%): $(FB)/%: $(FB)/tests/fuzz/%.o $(SRV_OBJ) $(FB)/lib.a
	$(FUZZ_CC) $(SAN) -fsanitize=fuzzer -pthread -o $@ $< $(SRV_OBJ) $(FB)/lib.a $(PKG_LIBS)

# One bounded run per target, one after the other (-jobs for more cores).
run: build
	@fail=0; for t in $(TARGETS); do \
	    $(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk run-$$t || fail=1; \
	done; exit $$fail

$(TARGETS:%=run-%): run-%: $(FB)/%
	@mkdir -p $(FB)/corpus/$* $(FB)/crash/$*
	@echo "fuzz: $* for $(FUZZ_SECONDS)s" >&2
	@ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	$(FB)/$* -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=$(FUZZ_RSS_MB) -malloc_limit_mb=$(FUZZ_MALLOC_MB) \
	    -timeout=10 -max_len=$$(cat tests/fuzz/$*.max_len 2>/dev/null || echo 65536) \
	    -artifact_prefix=$(FB)/crash/$*/ -print_final_stats=1 \
	    $(if $(filter-out 1,$(FUZZ_JOBS)),-jobs=$(FUZZ_JOBS) -workers=$(FUZZ_JOBS)) \
	    $(FB)/corpus/$* tests/fuzz/corpus/$* >$(FB)/$*.log 2>&1; rc=$$?; \
	grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' $(FB)/$*.log | tail -n 1 >&2; \
	grep -E '^stat::(number_of_executed_units|peak_rss_mb)' $(FB)/$*.log >&2; \
	if [ $$rc != 0 ]; then echo "fuzz: $* FAILED (rc $$rc), see $(FB)/$*.log" >&2; \
	    grep -m3 -E 'ERROR|SUMMARY|Test unit written' $(FB)/$*.log >&2; exit 1; fi

# Replay the regression inputs and the seed corpora once (no fuzzing).
regress: build
	@fail=0; for t in $(TARGETS); do \
	    set -- tests/regress/$$t/* tests/fuzz/corpus/$$t/*; \
	    files=""; for f in "$$@"; do [ -f "$$f" ] && files="$$files $$f"; done; \
	    [ -n "$$files" ] || continue; \
	    $(FB)/$$t -runs=1 $$files >$(FB)/$$t.regress.log 2>&1 \
	        && echo "regress: $$t ok ($$(echo $$files | wc -w) inputs)" >&2 \
	        || { echo "regress: $$t FAILED, see $(FB)/$$t.regress.log" >&2; fail=1; }; \
	done; exit $$fail

-include $(shell find $(FB) -name '*.d' 2>/dev/null)
