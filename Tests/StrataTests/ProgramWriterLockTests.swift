import Foundation
import StrataCrashChild
import StrataTestSupport
import Testing

@testable import Strata
@testable import StrataStorage

// One program runs in one place at a time: a running program holds the writer lock of every
// stream its vertices write, so the same program started in a second process — which would compute
// the same intervals from the same progress and commit them twice — is refused with `.streamBusy`
// naming the running process, as is a writer of one of those streams (here `drop --force`). The
// kernel releases the locks when the running process dies, `kill -9` included, and the program
// then continues in the other process.

@Suite(.serialized)
struct ProgramWriterLockTests {
    @Test func theSameProgramInASecondProcessIsRefusedWhileTheFirstRuns() async throws {
        let dir = try TemporaryDirectory(prefix: "strata-program-lock")
        let path = dir.appending("store"), output = dir.appending("child-out")
        let stall = 3
        let refusals = try await onOwnThread(within: .seconds(1800)) { () throws -> [String] in
            _ = FileManager.default.createFile(atPath: output, contents: nil)
            let out = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            defer { try? out.close() }
            // The child runs the seed programs and stalls (for an hour) inside the pass that
            // processes interval `stall`: its pipeline is installed, its locks held.
            let child = Process()
            child.executableURL = URL(fileURLWithPath: try programChildPath())
            child.arguments = ["program", "--store", path, "--intervals", "1000", "--events-per-interval", "50",
                               "--partitions", "3", "--durability", "group", "--stall-at", String(stall)]
            child.standardOutput = out
            try child.run()
            let pid = child.processIdentifier
            defer {
                kill(pid, SIGKILL)
                child.waitUntilExit()
            }
            // Until seeds.v0 committed `stall` (the pass is in progress): polled, with a deadline
            // generous for a loaded machine.
            let deadline = ContinuousClock.now + .seconds(180)
            var inPass = false
            while ContinuousClock.now < deadline, child.isRunning, !inPass {
                if let status = try? Store.open(at: path).programStatus(program: "seeds"),
                   status.first?.vertex == "seeds.v0", status.first?.progress == Interval(UInt64(stall)) {
                    inPass = true
                } else {
                    usleep(20_000)
                }
            }
            try #require(inPass, "the child never reached its stalled pass (running: \(child.isRunning))")

            var refusals: [String] = []
            let store = try Store.open(at: path)
            let before = try store.programStatus(program: "seeds").map(\.progress)
            let events = try store.stream(named: "events", of: CrashEvent.self)
            let second = try Program(name: "seeds", store: store,
                                     options: ProgramOptions(tasks: TaskPolicy(speculationMultiplier: nil))) { p in
                defineSeedPrograms(p, events: events)
            }
            do {
                try second.runUntilCaughtUp()
                Issue.record("a second runner of the program ran while the first was running")
            } catch let error as EngineError {
                guard case .storage(.streamBusy(_, let holder), let vertex, _) = error else {
                    Issue.record("expected streamBusy, got \(error)")
                    return refusals
                }
                #expect(holder == pid, "\(error)")
                #expect(vertex == "seeds.v0", "\(error)")
                refusals.append(error.description)
            }
            #expect(!second.isRunning)
            // A writer of one of its streams is refused too, even with force.
            do {
                _ = try store.drop("urlCounts", force: true)
                Issue.record("urlCounts was dropped while the program writing it ran")
            } catch let error as StorageError {
                guard case .streamBusy(let stream, let holder) = error else {
                    Issue.record("expected streamBusy, got \(error)")
                    return refusals
                }
                #expect(stream == "urlCounts" && holder == pid, "\(error)")
                refusals.append(error.description)
            }
            // Nothing moved: the refused runner wrote nothing.
            #expect(try store.programStatus(program: "seeds").map(\.progress) == before)
            #expect(try store.stream(named: "urlCounts", of: KeyValue<String, Int64>.self).frontier().sealedThrough
                        == Interval(UInt64(stall - 1)))
            return refusals
        }
        #expect(refusals.count == 2)
        #expect(refusals.first?.contains("being written by process") == true, "\(refusals)")

        // The first runner is gone (SIGKILL above): its locks went with it, and the program
        // continues here from its progress through every sealed interval.
        let store = try Store.open(at: path)
        let events = try store.stream(named: "events", of: CrashEvent.self)
        let program = try Program(name: "seeds", store: store,
                                  options: ProgramOptions(tasks: TaskPolicy(speculationMultiplier: nil))) { p in
            defineSeedPrograms(p, events: events)
        }
        try await onOwnThread(within: .seconds(1800)) { _ = try program.runUntilCaughtUp() }
        let sealed = try events.frontier().sealedThrough
        #expect(sealed == Interval(UInt64(stall)))
        #expect(try store.programStatus(program: "seeds").allSatisfy { $0.progress == sealed })
        #expect(try store.verify().isClean)
    }
}
