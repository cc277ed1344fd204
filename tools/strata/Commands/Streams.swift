import ArgumentParser
import Strata

/// `strata streams`: one row per stream.
struct Streams: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the store's streams with their settings and what is sealed.",
        discussion: """
            Lists the user's streams; --all adds the internal ones: late side streams (NAME.late), directory \
            positions (NAME.pos; NAME.src in older stores) and programs' streams (PROGRAM.vN…). Intervals \
            print as their start times.
            """)

    @OptionGroup var options: StoreArguments

    @Flag(help: "List the internal streams too.")
    var all = false

    @Flag(help: "Print one JSON object per stream.")
    var json = false

    @OptionGroup var display: TimeDisplayOptions

    func run() throws {
        let infos = try options.openStoreForReading().streams().filter { all || !$0.descriptor.isInternal }
        var out = OutputBuffer()
        if json {
            for info in infos {
                out.append(Self.object(info, display).text + "\n")
            }
        } else {
            var table = Table(header: ["NAME", "TYPE", "INTERVAL", "PARTITIONS", "SEALED THROUGH", "FIRST READABLE",
                                       "RETENTION"])
            for info in infos {
                let d = info.descriptor
                table.append([d.name, d.readableRecordType, d.intervalLength.description, String(d.partitions),
                              display.time(of: info.frontier.sealedThrough, length: d.intervalLength),
                              display.time(of: info.frontier.firstReadable, length: d.intervalLength),
                              d.retention.description])
            }
            out.append(table.text + "\n")
        }
        try out.flush()
    }

    /// The `--json` object of one stream.
    static func object(_ info: StreamInfo, _ display: TimeDisplayOptions) -> JSONValue {
        let d = info.descriptor
        return .object([
            "name": .string(d.name),
            "type": .string(d.readableRecordType),
            "internal": .bool(d.isInternal),
            "sealedThroughTime": display.json(info.frontier.sealedThrough, length: d.intervalLength),
            "firstReadableTime": display.json(info.frontier.firstReadable, length: d.intervalLength),
            "interval": .string(d.intervalLength.description),
            "intervalNanoseconds": .unsigned(d.intervalLength.rawValue),
            "partitions": .unsigned(UInt64(d.partitions)),
            "sealedThrough": .interval(info.frontier.sealedThrough),
            "firstReadable": .interval(info.frontier.firstReadable),
            "retention": retention(d.retention),
        ])
    }

    /// Retention as JSON: `{"kind":"forever"}`, `{"kind":"intervals","intervals":N}` or
    /// `{"kind":"duration","nanoseconds":N}`.
    static func retention(_ retention: Retention) -> JSONValue {
        switch retention {
        case .forever: .object(["kind": .string("forever")])
        case .intervals(let n): .object(["kind": .string("intervals"), "intervals": .unsigned(n)])
        case .nanoseconds(let n): .object(["kind": .string("duration"), "nanoseconds": .unsigned(n)])
        }
    }
}
