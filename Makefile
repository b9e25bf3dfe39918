# Thin wrapper around meson/ninja. `make demo` and `make check` are the two
# commands a newcomer types; both install dependencies first.
MESON ?= meson
NINJA ?= ninja
FUZZ_SECONDS ?= 60

.PHONY: all build build-asan build-fuzz bootstrap check demo fuzz-smoke format format-check clean

all: build

bootstrap:
	@scripts/bootstrap

build/build.ninja:
	$(MESON) setup build

build: build/build.ninja
	$(NINJA) -C build

build-asan/build.ninja:
	$(MESON) setup build-asan -Db_sanitize=address,undefined -Db_lundef=false

build-asan: build-asan/build.ninja
	$(NINJA) -C build-asan

build-fuzz/build.ninja:
	CC=clang $(MESON) setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link

build-fuzz: build-fuzz/build.ninja
	$(NINJA) -C build-fuzz

check: bootstrap build build-asan build-fuzz
	@scripts/check

demo: bootstrap build
	@scripts/demo

fuzz-smoke: bootstrap build-fuzz
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz-smoke

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

format-check:
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror

clean:
	rm -rf build build-asan build-fuzz
