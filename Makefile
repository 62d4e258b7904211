# A thin front over Meson. `make demo` and `make test` install what is
# missing (apt-get, as root), build and run.
BUILD ?= build

.PHONY: all deps build test demo fuzz bench clean format

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

fuzz: deps
	@[ -f build-fuzz/build.ninja ] || CC=clang CFLAGS=-fsanitize=fuzzer-no-link meson setup build-fuzz -Dfuzzing=true \
		-Db_sanitize=address,undefined -Db_lundef=false
	@ninja -C build-fuzz

clean:
	rm -rf $(BUILD) build-test build-fuzz
