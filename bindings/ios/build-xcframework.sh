#!/usr/bin/env bash
# Builds the iOS XCFramework of the Wayfare core and the SwiftPM package
# around it, as bdk-ffi (bdk-swift) and application-services do it: static
# libraries for aarch64-apple-ios (devices), aarch64-apple-ios-sim and
# x86_64-apple-ios (simulators, merged with lipo), the generated header and
# modulemap as the `WayfareCoreFFI` module, and the generated Swift as the
# `WayfareCore` target of bindings/ios/Package.swift.
#
#   bindings/ios/build-xcframework.sh
#
# Needs macOS with Xcode (xcodebuild, lipo) and the three rustup targets. It
# stops at once, saying what is missing, elsewhere.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

missing=()
[ "$(uname -s)" = Darwin ] || missing+=("macOS (this is $(uname -s)): XCFrameworks are built with Xcode")
command -v xcodebuild >/dev/null 2>&1 || missing+=("Xcode command-line tools (xcodebuild): xcode-select --install")
command -v lipo >/dev/null 2>&1 || missing+=("lipo (comes with Xcode)")
if command -v rustup >/dev/null 2>&1; then
    for t in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios; do
        rustup target list --installed | grep -qx "$t" || missing+=("the Rust target $t: rustup target add $t")
    done
else
    missing+=("rustup (to add the iOS targets)")
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "build-xcframework.sh: cannot build the iOS XCFramework on this machine; missing:" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    echo "See bindings/README.md (what runs where)." >&2
    exit 3
fi

bindings/generate.sh >/dev/null
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
for t in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios; do
    # With BLE (the default `ble` feature): btleplug on CoreBluetooth; the
    # package links CoreBluetooth, the app declares
    # NSBluetoothAlwaysUsageDescription.
    # `mobile`: no debug/trace lines, no dependency `log` records.
    cargo build -p wayfare-core --profile release-mobile --features mobile --target "$t"
done

pkg="$root/bindings/ios"
work="$root/build/ios"
rm -rf "$work" "$pkg/WayfareCoreFFI.xcframework"
mkdir -p "$work/headers" "$work/sim"
cp build/bindings/swift/WayfareCoreFFI.h "$work/headers/"
cp build/bindings/swift/WayfareCoreFFI.modulemap "$work/headers/module.modulemap"
lipo -create \
    "$target_dir/aarch64-apple-ios-sim/release-mobile/libwayfare_core.a" \
    "$target_dir/x86_64-apple-ios/release-mobile/libwayfare_core.a" \
    -output "$work/sim/libwayfare_core.a"
xcodebuild -create-xcframework \
    -library "$target_dir/aarch64-apple-ios/release-mobile/libwayfare_core.a" -headers "$work/headers" \
    -library "$work/sim/libwayfare_core.a" -headers "$work/headers" \
    -output "$pkg/WayfareCoreFFI.xcframework"
mkdir -p "$pkg/Sources/WayfareCore"
cp build/bindings/swift/WayfareCore.swift "$pkg/Sources/WayfareCore/"
echo "XCFramework: $pkg/WayfareCoreFFI.xcframework"
echo "SwiftPM package: $pkg (swift build / add it as a local package in Xcode)"
