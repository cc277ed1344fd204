import ArgumentParser
import Strata

/// `strata streams`: one row per stream.
struct Streams: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the store's streams with their settings and what is sealed.",
        discussion: "Late side streams (NAME.late), which keep a stream's late records, are listed too.")

    @OptionGroup var options: StoreOptions

    @Flag(help: "Print one JSON object per stream.")
    var json = false

    func run() throws {
        let infos = try options.openStoreForReading().streams()
        var out = OutputBuffer()
        if json {
            for info in infos {
                out.append(Self.object(info).text + "\n")
            }
        } else {
            var table = Table(header: ["NAME", "TYPE", "INTERVAL", "PARTITIONS", "SEALED THROUGH", "FIRST READABLE",
                                       "RETENTION"])
            for info in infos {
                let d = info.descriptor
                table.append([d.name, d.recordType, d.intervalLength.description, String(d.partitions),
                              text(info.frontier.sealedThrough), text(info.frontier.firstReadable),
                              d.retention.description])
            }
            out.append(table.text + "\n")
        }
        try out.flush()
    }

    /// The `--json` object of one stream.
    static func object(_ info: StreamInfo) -> JSONValue {
        let d = info.descriptor
        return .object([
            "name": .string(d.name),
            "type": .string(d.recordType),
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
