import Foundation
import StrataTestSupport
import Testing

@testable import StrataClusterTestSupport

/// Starting a test cluster's servers: one that cannot be launched takes the servers launched
/// before it down with it (before, they ran on, orphaned, until the test process ended).
@Suite struct NATSClusterLaunchTests {
    struct LaunchFailed: Error {}

    @Test func aFailedLaunchStopsTheServersAlreadyLaunched() throws {
        let directory = try TemporaryDirectory(prefix: "strata-nats-launch")
        let nodes = (0..<3).map { index in
            NATSCluster.Node(name: "n\(index)", clientPort: 0, routePort: 0, configFile: directory.appending("n\(index).conf"),
                             logFile: directory.appending("n\(index).log"))
        }
        var launched: [Process] = []
        #expect(throws: LaunchFailed.self) {
            _ = try NATSCluster.launchAll(nodes) { node in
                guard node.name != "n2" else { throw LaunchFailed() }
                // A real process standing in for a server: it would run for ten minutes.
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/bin/sleep")
                process.arguments = ["600"]
                try process.run()
                launched.append(process)
                return process
            }
        }
        #expect(launched.count == 2)
        #expect(launched.allSatisfy { !$0.isRunning }, "servers launched before the failure still run")
        #expect(launched.allSatisfy { $0.terminationReason == .uncaughtSignal && $0.terminationStatus == SIGKILL })
    }
}
