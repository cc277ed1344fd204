#!/usr/bin/env bash
# Builds and runs one libFuzzer target of Strata's decoders (docs/fuzzing.md).
#
#   tools/fuzz.sh TARGET SECONDS [libFuzzer options…]   build TARGET, then fuzz it for SECONDS
#   tools/fuzz.sh build [TARGET…]                       build targets only (default: all)
#   tools/fuzz.sh seeds [TARGET…]                       rewrite the committed seed corpora
#   tools/fuzz.sh list                                  the targets
#
# Targets: block, records, rows, json-lines (tools/fuzz/targets/TARGET.swift). Each is a standalone
# executable built with `swiftc -sanitize=fuzzer,address` from the library's own sources into
# .build-fuzz/ (SwiftPM cannot link a libFuzzer main into one product of a package whose other
# products have their own). The run starts from the committed seeds in tools/fuzz/corpus/TARGET
# and keeps what it finds in .build-fuzz/corpus/TARGET (not committed); crashes are written to
# .build-fuzz/findings/TARGET/. Exit status: libFuzzer's (0: no finding in the time given).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/.build-fuzz
targets=(block records rows json-lines)

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64; }

# Flags for every module: the fuzzer's coverage instrumentation plus AddressSanitizer, optimized
# (as a release build is), debug info for readable reports. One package name, so that `package`
# declarations are visible across the modules as they are in the SwiftPM build.
swiftc_flags=(-sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6 -package-name strata -use-ld=lld
              -I "$out/modules" -I "$root/Sources/CLMDB" -I "$root/Sources/CLZ4")

# Builds module NAME from the .swift files under DIR into .build-fuzz/modules, when a source is newer.
build_module() {
    local name=$1 dir=$2
    local object=$out/modules/$name.o
    mkdir -p "$out/modules"
    if [[ -f $object ]] && [[ -z $(find "$dir" -name '*.swift' -newer "$object" | head -1) ]]; then return; fi
    echo "fuzz: building module $name" >&2
    # shellcheck disable=SC2046
    swiftc "${swiftc_flags[@]}" -module-name "$name" -emit-module -emit-module-path "$out/modules/$name.swiftmodule" \
        -wmo -c -o "$object" $(find "$dir" -name '*.swift' | sort)
}

build_target() {
    local target=$1 source=$root/tools/fuzz/targets/$1.swift
    [[ -f $source ]] || { echo "fuzz: no target $target (tools/fuzz.sh list)" >&2; exit 64; }
    local binary=$out/bin/fuzz-$target
    mkdir -p "$out/bin"
    case $target in
    json-lines)
        # The scanner and the time parser are self-contained: compiled with the target, so the
        # fuzzer does not need the engine's modules.
        local sources=("$source" "$root/Sources/Strata/Ingest/JSONLineScanner.swift" "$root/Sources/Strata/Ingest/TimestampParser.swift")
        if [[ -f $binary ]] && [[ -z $(find "${sources[@]}" -newer "$binary" | head -1) ]]; then return; fi
        echo "fuzz: building $target" >&2
        (cd "$out" && swiftc "${swiftc_flags[@]}" -module-name FuzzJSONLines -wmo "${sources[@]}" -o "$binary")
        ;;
    *)
        build_module StrataStorage "$root/Sources/StrataStorage"
        local support=$root/tools/fuzz/support/Seeds.swift
        if [[ -f $binary ]] && [[ $binary -nt $source ]] && [[ $binary -nt $support ]] \
            && [[ $binary -nt $out/modules/StrataStorage.o ]]; then return; fi
        echo "fuzz: building $target" >&2
        (cd "$out" && swiftc "${swiftc_flags[@]}" -module-name "Fuzz_${target//-/_}" "$source" "$support" \
            "$out/modules/StrataStorage.o" -llmdb -llz4 -o "$binary")
        ;;
    esac
}

[[ $# -ge 1 ]] || usage
case $1 in
list) printf '%s\n' "${targets[@]}"; exit 0 ;;
build)
    shift
    for target in "${@:-${targets[@]}}"; do build_target "$target"; done
    exit 0
    ;;
seeds)
    shift
    for target in "${@:-${targets[@]}}"; do
        [[ $target == json-lines ]] && continue  # its seeds are hand-written JSON lines
        build_target "$target"
        mkdir -p "$root/tools/fuzz/corpus/$target"
        STRATA_FUZZ_WRITE_SEEDS="$root/tools/fuzz/corpus/$target" "$out/bin/fuzz-$target"
    done
    exit 0
    ;;
-h|--help) usage ;;
esac
[[ $# -ge 2 ]] || usage
target=$1 seconds=$2
shift 2
[[ $seconds =~ ^[0-9]+$ ]] || { echo "fuzz: SECONDS must be a whole number, not $seconds" >&2; exit 64; }
build_target "$target"
mkdir -p "$out/corpus/$target" "$out/findings/$target"
# Only one job: the machine is shared. -max_len bounds inputs to what a decoder sees in a small store.
exec "$out/bin/fuzz-$target" -max_total_time="$seconds" -print_final_stats=1 -max_len=65536 \
    -artifact_prefix="$out/findings/$target/" "$@" "$out/corpus/$target" "$root/tools/fuzz/corpus/$target"
