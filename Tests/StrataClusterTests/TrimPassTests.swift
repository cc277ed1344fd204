import Testing

@testable import StrataCluster

/// A task's trim pass (`ClusterTask.trimPass`): its two trims — the checkpoint subject's and the
/// gathered exchanges' — each run whatever the other did. Before, they shared one `do`: a
/// checkpoint deletion that kept failing kept the exchanges from ever being trimmed.
@Suite struct TrimPassTests {
    static func failure(_ subject: String, _ status: NATSStatus = .timeout, code: Int = 0) -> ClusterTask.TrimFailure {
        ClusterTask.TrimFailure(subject: subject, sequence: 7,
                                error: .nats(call: "js_DeleteMsg", status: status, jetStreamCode: code, text: ""))
    }

    @Test func aFailingCheckpointTrimDoesNotKeepTheExchangesFromBeingTrimmed() {
        for _ in 0..<3 {  // pass after pass, the checkpoint deletion failing every time
            var exchangesTrimmed = false
            let failures = ClusterTask.trimPass([
                { Self.failure("ns._x.demo._c.1") },
                {
                    exchangesTrimmed = true
                    return nil
                },
            ])
            #expect(exchangesTrimmed)
            #expect(failures.map(\.subject) == ["ns._x.demo._c.1"])
        }
    }

    @Test func bothTrimsFailingAreBothReportedInOrder() {
        var ran: [Int] = []
        let failures = ClusterTask.trimPass([
            {
                ran.append(0)
                return Self.failure("checkpoints")
            },
            {
                ran.append(1)
                return Self.failure("exchanges", .notFound, code: 10059)
            },
        ])
        #expect(ran == [0, 1])
        #expect(failures.map(\.subject) == ["checkpoints", "exchanges"])
        // Which of them ends the task: a gone stream, not a timeout.
        #expect(failures.map { ClusterTask.isRetriedTrimFailure($0.error) } == [true, false])
    }
}
