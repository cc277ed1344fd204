import ArgumentParser
import Strata

/// `strata tail [-f] STREAM`: re-emits a stream's records from an interval on, at full speed or
/// at the original pace, and follows new intervals as they are sealed.
struct Tail: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a stream's records from an interval on; with -f, follow new intervals as they are sealed.",
        discussion: """
            Starts at --from (an interval index or a time, as for slice; default: the newest sealed interval) \
            and prints through --to, or through the newest sealed interval. With --pace, intervals are printed \
            one interval length apart (divided by --speed). With -f, keeps printing intervals as they are sealed \
            until interrupted. Records print as strata cat prints them.
            """)

    @OptionGroup var options: StoreOptions

    @Argument(help: "The stream's name.")
    var stream: String

    @Flag(name: [.customShort("f"), .long], help: "Keep following new intervals as they are sealed.")
    var follow = false

    @OptionGroup var range: RangeOptions

    @Flag(help: "Print intervals at the pace they were made: one interval length apart.")
    var pace = false

    @Option(help: ArgumentHelp("With --pace: how many times faster than the original (0.5 is slower).", valueName: "x"))
    var speed: Double?

    @Flag(help: #"Print each record as {"interval":T,"partition":P,"record":R}."#)
    var json = false

    mutating func validate() throws {
        if let speed {
            guard pace else { throw ValidationError("--speed goes with --pace") }
            guard ReEmitPace.speeds.contains(speed) else {
                throw ValidationError("--speed must be a number from 0.001 to 1000000, not \(speed)")
            }
        }
        if range.to != nil && follow { throw ValidationError("--to and --follow exclude each other") }
        if range.to != nil && range.from == nil { throw ValidationError("--to needs --from") }
    }

    func run() throws {
        let store = try options.openStoreForReading()
        let descriptor = try store.info(of: stream).descriptor
        guard let type = PrintableRecordTypes.type(named: descriptor.recordType) else {
            throw UnprintableRecordType(stream: stream, recordType: descriptor.recordType)
        }
        try run(type, store: store)
    }

    private func run<Record: JSONPrintable>(_ type: Record.Type, store: Store) throws {
        let stored = try store.stream(named: stream, of: Record.self)
        var start: Interval
        var through: Interval?
        if let from = range.from {
            let parsed = try SliceRange(from: from, to: range.to ?? from, zone: range.zone, on: range.on)
            if range.to == nil {
                start = try parsed.firstInterval(length: stored.descriptor.intervalLength,
                                                 newestSealed: try stored.newestSealedInterval(), stream: stream)
            } else {
                let intervals = try stored.intervals(of: parsed)
                (start, through) = (intervals.lowerBound, intervals.upperBound)
            }
        } else if let newest = try stored.newestSealedInterval() {
            start = newest
        } else {
            guard follow else { throw TimeTravelError.storage(.beforeStreamStart(StoreLocation(stream: stream), firstInterval: nil)) }
            start = Interval(0)
        }
        try emit(stored, from: start, through: through)
    }

    private func emit<Record: JSONPrintable>(_ stored: StoredStream<Record>, from start: Interval, through: Interval?) throws {
        let pace: ReEmitPace = self.pace ? .original(speed: speed ?? 1) : .fullSpeed
        let follow = self.follow, json = self.json
        try runToCompletion {
            var out = OutputBuffer()
            for try await batch in stored.reEmit(from: start, through: through, pace: pace, follow: follow) {
                for (p, records) in batch.partitions.enumerated() {
                    var prefix: [UInt8] = []
                    if json {
                        prefix = Array(#"{"interval":"#.utf8)
                        appendDecimal(batch.interval.rawValue, to: &prefix)
                        prefix.append(contentsOf: #","partition":"#.utf8)
                        appendDecimal(UInt64(p), to: &prefix)
                        prefix.append(contentsOf: #","record":"#.utf8)
                    }
                    for record in records {
                        out.bytes.append(contentsOf: prefix)
                        record.appendJSON(to: &out.bytes)
                        if json { out.bytes.append(0x7D) }
                        out.bytes.append(0x0A)
                        try out.flushIfFull()
                    }
                }
                // Followers and paced readers see each interval as it is emitted.
                if follow || pace != .fullSpeed { try out.flush() }
            }
            try out.flush()
        }
    }
}
