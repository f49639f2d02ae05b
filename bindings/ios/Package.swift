// swift-tools-version:5.9
// The Wayfare core for iOS apps: the generated Swift (`WayfareCore`) over the
// Rust static library packaged as an XCFramework (`WayfareCoreFFI`).
// Build the XCFramework and copy the Swift first:
//   bindings/ios/build-xcframework.sh   (macOS + Xcode)
import PackageDescription

let package = Package(
    name: "WayfareCore",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "WayfareCore", targets: ["WayfareCore"]),
    ],
    targets: [
        .binaryTarget(name: "WayfareCoreFFI", path: "WayfareCoreFFI.xcframework"),
        .target(
            name: "WayfareCore",
            dependencies: ["WayfareCoreFFI"],
            path: "Sources/WayfareCore",
            // btleplug (the core's BLE) talks to CoreBluetooth.
            linkerSettings: [.linkedFramework("CoreBluetooth")]
        ),
    ]
)
