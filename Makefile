# A thin front over Meson. `make demo` and `make test` install what is
# missing (apt-get, as root), build and run.
BUILD ?= build

.PHONY: all deps build test demo fuzz fuzz-campaign bench clean format

all: build

deps:
	@scripts/install-deps

build: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) -Dbuildtype=release
	@ninja -C $(BUILD)

test:
	@tests/run

demo: build
	@scripts/demo $(BUILD)

# clang's warnings are not the gate here (the gcc builds are): -Dwerror=false
fuzz: deps
	@[ -f build-fuzz/build.ninja ] || CC=clang CFLAGS=-fsanitize=fuzzer-no-link meson setup build-fuzz -Dfuzzing=true \
		-Db_sanitize=address,undefined -Db_lundef=false -Dwerror=false
	@ninja -C build-fuzz

# every harness for FUZZ_SECONDS (default 60), coverage per harness in
# build-fuzz/campaign/summary.md (docs/testing.md)
FUZZ_SECONDS ?= 60
fuzz-campaign: fuzz
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz-campaign

clean:
	rm -rf $(BUILD) build-test build-fuzz
