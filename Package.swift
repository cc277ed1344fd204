// swift-tools-version: 6.2
import PackageDescription

/// Internal invariant checks, compiled into debug builds only.
let checks: [SwiftSetting] = [.define("STRATA_INTERNAL_CHECKS", .when(configuration: .debug))]

let package = Package(
    name: "Strata",
    products: [
        .library(name: "Strata", targets: ["Strata"]),
        .library(name: "StrataSQL", targets: ["StrataSQL"]),
        .library(name: "StrataCluster", targets: ["StrataCluster"]),
        // The HTTP receiver and directory source that docs/ingest.md embeds (`import StrataServer`).
        .library(name: "StrataServer", targets: ["StrataServer"]),
        .executable(name: "strata", targets: ["StrataCLI"]),
        .executable(name: "strata-bench", targets: ["StrataBench"]),
        .executable(name: "strata-demo", targets: ["StrataDemo"]),
        .executable(name: "strata-crash-child", targets: ["StrataCrashChild"]),
        .executable(name: "strata-node", targets: ["StrataNode"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.34.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // `swift package generate-documentation` (tools/docs.sh); no target depends on it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // The NATS C client: only StrataCluster imports it, so single-node users never link it.
        .systemLibrary(name: "CNATS", pkgConfig: "libnats", providers: [.apt(["libnats-dev"])]),
        .target(
            name: "StrataStorage",
            dependencies: ["CLMDB", "CLZ4", .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: checks),
        .target(
            name: "StrataEngine",
            dependencies: [
                "StrataStorage", .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: checks),
        .target(name: "Strata", dependencies: ["StrataEngine", "StrataStorage"], swiftSettings: checks),
        .target(
            name: "StrataServer",
            dependencies: [
                "Strata", "StrataStorage",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: checks),
        .target(name: "StrataSQL", dependencies: ["CSQLite", "Strata", "StrataEngine", "StrataStorage"], swiftSettings: checks),
        .target(
            name: "StrataCluster",
            dependencies: ["CNATS", "Strata", "StrataEngine", "StrataStorage", .product(name: "Logging", package: "swift-log")],
            swiftSettings: checks),
        .target(name: "StrataTestSupport", dependencies: ["Strata", "StrataStorage"]),
        .target(name: "StrataClusterTestSupport", dependencies: ["StrataCluster", "StrataTestSupport"]),
        .executableTarget(
            name: "StrataCLI",
            dependencies: [
                "Strata", "StrataSQL", "StrataServer", "StrataCluster", "StrataStorage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "tools/strata"),
        .executableTarget(
            name: "StrataBench",
            dependencies: ["Strata", "StrataEngine", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Histogram", package: "hdrhistogram-swift")],
            path: "tools/bench"),
        .executableTarget(name: "StrataDemo", dependencies: ["Strata"], path: "tools/demo"),
        .executableTarget(name: "StrataCrashChild", dependencies: ["Strata", "StrataStorage"], path: "tools/crash"),
        .executableTarget(
            name: "StrataNode",
            dependencies: ["Strata", "StrataCluster", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "tools/node"),
        .testTarget(
            name: "StrataStorageTests",
            dependencies: [
                "StrataStorage", "StrataTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]),
        .testTarget(
            name: "StrataEngineTests",
            dependencies: [
                "StrataEngine", "Strata", "StrataStorage", "StrataTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]),
        .testTarget(
            name: "StrataTests",
            dependencies: [
                "Strata", "StrataStorage", "StrataTestSupport", "StrataCrashChild",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]),
        .testTarget(
            name: "StrataSQLTests",
            dependencies: [
                "StrataSQL", "Strata", "StrataTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]),
        .testTarget(
            name: "StrataServerTests",
            dependencies: ["StrataServer", "StrataTestSupport", "StrataCLI"]),
        .testTarget(
            name: "StrataClusterTests",
            dependencies: [
                "StrataCluster", "Strata", "StrataEngine", "StrataStorage", "StrataTestSupport", "StrataClusterTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]),
        .testTarget(
            name: "StrataCLITests",
            dependencies: ["StrataCLI", "StrataTestSupport", "StrataClusterTestSupport", "StrataBench"]),
    ],
    swiftLanguageModes: [.v6]
)
