import ArgumentParser
import Strata

/// An interval length argument: `1s`, `100ms`, `2m`, `1h`, `250us`; at least 1 ms.
struct IntervalLengthArgument: ExpressibleByArgument {
    var length: IntervalLength

    init?(argument: String) {
        guard let length = IntervalLength(parsing: argument) else { return nil }
        self.length = length
    }

    init(_ length: IntervalLength) { self.length = length }

    var defaultValueDescription: String { length.description }
}

/// A duration argument that may be zero: `0`, `0s`, `500ms`, `2s`, `1m`, `250us`.
struct DurationArgument: ExpressibleByArgument {
    var duration: Duration
    private var text: String

    init?(argument: String) {
        if argument == "0" {
            duration = .zero
            text = argument
            return
        }
        let units: [(String, Duration)] = [("ms", .milliseconds(1)), ("us", .microseconds(1)), ("ns", .nanoseconds(1)),
                                           ("s", .seconds(1)), ("m", .seconds(60)), ("h", .seconds(3600))]
        for (suffix, unit) in units where argument.hasSuffix(suffix) {
            guard let n = Int(argument.dropLast(suffix.count)), n >= 0, n <= 1_000_000_000 else { return nil }
            duration = unit * n
            text = argument
            return
        }
        return nil
    }

    /// No lateness.
    static let zero = DurationArgument(duration: .zero, text: "0s")

    /// Throws the usage error for an `--idle-seal` below 1 ms: 0 would seal every open interval
    /// at each pause of the input, defeating the lateness the stream allows.
    static func validateIdleSeal(_ idleSeal: DurationArgument?) throws {
        guard let idleSeal, idleSeal.duration < .milliseconds(1) else { return }
        throw ValidationError("--idle-seal must be from 1ms to 1000000000h (e.g. 500ms, 30s, 5m), not \(idleSeal.text)")
    }

    private init(duration: Duration, text: String) {
        self.duration = duration
        self.text = text
    }

    var defaultValueDescription: String { text }
}

/// A partition index argument: a non-negative integer (the stream decides the upper bound).
struct PartitionArgument: ExpressibleByArgument {
    var partition: PartitionIndex

    init?(argument: String) {
        guard let value = UInt32(argument) else { return nil }
        partition = PartitionIndex(value)
    }
}

/// `--durability`: what each commit of the ingest survives (see docs/durability.md).
enum DurabilityArgument: String, ExpressibleByArgument, CaseIterable {
    case group, fsync, none

    var durability: Durability {
        switch self {
        case .group: .groupCommit
        case .fsync: .fsyncEveryCommit
        case .none: .noSync
        }
    }
}

/// `--time-unit`: the unit of a numeric time field.
enum TimeUnitArgument: String, ExpressibleByArgument, CaseIterable {
    case s, ms, us, ns

    var unit: TimeUnit {
        switch self {
        case .s: .seconds
        case .ms: .milliseconds
        case .us: .microseconds
        case .ns: .nanoseconds
        }
    }
}

/// `--format`: how standard input is read by `ingest`.
enum InputFormat: String, ExpressibleByArgument, CaseIterable {
    /// One JSON object per line, stored as it is.
    case jsonl
    /// Any text; each line is stored as `{"line":"…"}`.
    case lines
}
