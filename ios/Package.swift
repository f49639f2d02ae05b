// swift-tools-version:5.9
// The Wayfare iOS app's code as a Swift package, on the core's package in
// bindings/ios (build its XCFramework first: bindings/ios/build-xcframework.sh,
// macOS + Xcode). `swift build` / Xcode's "Open Package" type-check the whole
// app against the real generated WayfareCore. The installable app bundle
// (Info.plist, signing) is the Xcode project that XcodeGen makes from
// project.yml: `xcodegen generate` in this folder.
import PackageDescription

let package = Package(
    name: "WayfareApp",
    defaultLocalization: "en",
    platforms: [.iOS(.v16)],
    products: [
        .executable(name: "WayfareApp", targets: ["WayfareApp"]),
    ],
    dependencies: [
        .package(name: "WayfareCore", path: "../bindings/ios"),
    ],
    targets: [
        .executableTarget(
            name: "WayfareApp",
            dependencies: [.product(name: "WayfareCore", package: "WayfareCore")],
            path: "WayfareApp",
            exclude: ["Info.plist"],
            resources: [.process("Resources")]
        ),
    ]
)
