#!/usr/bin/env bash
# Builds the Android library (AAR) of the Wayfare core, as application-services
# and bdk-ffi do it: the core cross-compiled with cargo-ndk for arm64-v8a,
# armeabi-v7a and x86_64 under the release-mobile profile, plus the generated
# Kotlin, laid out as an Android library module and zipped into an AAR. BLE
# is in (btleplug's Java helpers included): the app calls
# System.loadLibrary("wayfare_core") once before using Bluetooth.
#
#   bindings/android/build-aar.sh [--out DIR]     (default build/android)
#
# Needs: the Android NDK (ANDROID_NDK_HOME, r26+), the Android SDK
# (ANDROID_HOME), Gradle, cargo-ndk (`cargo install cargo-ndk`) and the
# rustup targets aarch64-linux-android, armv7-linux-androideabi and
# x86_64-linux-android. It stops at once, saying what is missing, when one of
# them is not there.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
out="$root/build/android"
[ "${1:-}" = "--out" ] && out="$2"

missing=()
if [ -z "${ANDROID_NDK_HOME:-}" ] || [ ! -d "${ANDROID_NDK_HOME:-/nonexistent}" ]; then
    missing+=("the Android NDK: install it (Android Studio SDK Manager or sdkmanager 'ndk;26.3.11579264') and set ANDROID_NDK_HOME")
fi
command -v cargo-ndk >/dev/null 2>&1 || missing+=("cargo-ndk: cargo install cargo-ndk")
if [ -z "${ANDROID_HOME:-}" ] || [ ! -d "${ANDROID_HOME:-/nonexistent}" ]; then
    missing+=("the Android SDK (platform 35): install it and set ANDROID_HOME")
fi
command -v gradle >/dev/null 2>&1 || missing+=("Gradle 8.9+ (packs the AAR with the Android Gradle plugin)")
if command -v rustup >/dev/null 2>&1; then
    for t in aarch64-linux-android armv7-linux-androideabi x86_64-linux-android; do
        rustup target list --installed | grep -qx "$t" || missing+=("the Rust target $t: rustup target add $t")
    done
else
    missing+=("rustup (to add the Android targets)")
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "build-aar.sh: cannot build the Android AAR on this machine; missing:" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    echo "See bindings/README.md (what runs where)." >&2
    exit 3
fi

# The Kotlin is generated from the host build (same exports on every target).
bindings/generate.sh >/dev/null

module="$out/wayfare-core"
rm -rf "$module"
mkdir -p "$module/src/main/jniLibs" "$module/src/main/kotlin"
# With BLE (the core's default `ble` feature): btleplug reaches Android's
# Bluetooth through JNI. The core's JNI_OnLoad initialises it when the app
# calls System.loadLibrary("wayfare_core") (JNA's loading does not), and
# btleplug's Java helper classes (its droidplug sources, which the crate
# ships) are compiled into the AAR.
# The `mobile` feature drops debug/trace lines and dependencies' `log`
# records; relocations are packed (Android's APS2, minSdk 23+), as
# bindings/bench/run.sh measures on Linux.
for triple in AARCH64_LINUX_ANDROID ARMV7_LINUX_ANDROIDEABI X86_64_LINUX_ANDROID; do
    export "CARGO_TARGET_${triple}_RUSTFLAGS=-C link-arg=-Wl,--pack-dyn-relocs=android"
done
cargo ndk \
    -t arm64-v8a -t armeabi-v7a -t x86_64 \
    -o "$module/src/main/jniLibs" \
    build -p wayfare-core --profile release-mobile --features mobile
cp -r build/bindings/kotlin/. "$module/src/main/kotlin/"
btleplug_dir=$(cargo metadata --format-version 1 | python3 -c '
import json, os, sys
pkgs = json.load(sys.stdin)["packages"]
print(next(os.path.dirname(p["manifest_path"]) for p in pkgs if p["name"] == "btleplug"))')
mkdir -p "$module/src/main/java"
cp -r "$btleplug_dir/src/droidplug/java/src/main/java/." "$module/src/main/java/"

# An Android library module, as app-services' and bdk-android's: Gradle
# compiles the generated Kotlin into classes.jar and packs jni/<abi>/*.so.
cat > "$module/settings.gradle.kts" <<'KTS'
pluginManagement { repositories { google(); mavenCentral(); gradlePluginPortal() } }
dependencyResolutionManagement { repositories { google(); mavenCentral() } }
rootProject.name = "wayfare-core"
KTS
cat > "$module/build.gradle.kts" <<'KTS'
plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.1.21"
}
android {
    namespace = "app.wayfare.core"
    compileSdk = 35
    defaultConfig { minSdk = 26; consumerProguardFiles("consumer-rules.pro") }
    compileOptions { sourceCompatibility = JavaVersion.VERSION_17; targetCompatibility = JavaVersion.VERSION_17 }
}
kotlin { jvmToolchain(17) }
dependencies {
    api("net.java.dev.jna:jna:5.17.0@aar")
    api("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
}
KTS
cat > "$module/consumer-rules.pro" <<'PRO'
# JNA and the generated bindings are reached by reflection.
-keep class com.sun.jna.** { *; }
-keep class * extends com.sun.jna.** { *; }
-keep class app.wayfare.core.** { *; }
# btleplug's helpers are found and called from Rust through JNI.
-keep class com.nonpolynomial.btleplug.** { *; }
-keep class io.github.gedgygedgy.rust.** { *; }
PRO
cat > "$module/src/main/AndroidManifest.xml" <<'XML'
<?xml version="1.0" encoding="utf-8"?>
<manifest xmlns:android="http://schemas.android.com/apk/res/android">
    <uses-permission android:name="android.permission.INTERNET" />
    <uses-permission android:name="android.permission.CHANGE_WIFI_MULTICAST_STATE" />
    <!-- Bluetooth LE: scan and connect to terminals (Android 12+), and the
         older permissions (a BLE scan needed location up to Android 11). -->
    <uses-permission android:name="android.permission.BLUETOOTH_SCAN"
        android:usesPermissionFlags="neverForLocation" />
    <uses-permission android:name="android.permission.BLUETOOTH_CONNECT" />
    <uses-permission android:name="android.permission.BLUETOOTH" android:maxSdkVersion="30" />
    <uses-permission android:name="android.permission.BLUETOOTH_ADMIN" android:maxSdkVersion="30" />
    <uses-permission android:name="android.permission.ACCESS_FINE_LOCATION" android:maxSdkVersion="30" />
    <uses-feature android:name="android.hardware.bluetooth_le" android:required="false" />
</manifest>
XML
(cd "$module" && gradle --quiet assembleRelease)
cp "$module/build/outputs/aar/"*release*.aar "$out/wayfare-core.aar"
echo "AAR: $out/wayfare-core.aar (arm64-v8a, armeabi-v7a, x86_64 + generated Kotlin, with BLE)"
