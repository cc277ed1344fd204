import Strata

/// What a directory source watches and where it writes.
///
/// ```swift
/// var configuration = DirectorySourceConfiguration(directory: "/data/in", stream: "views")
/// configuration.settings = JSONStreamSettings(partitions: 2, timeField: "ts", timeUnit: .seconds)
/// configuration.fileSuffix = ".jsonl"
/// let source = try DirectorySource(store: store, configuration: configuration)
/// ```
///
/// `DirectorySourceConfiguration` is `Sendable`; it is a plain value.
public struct DirectorySourceConfiguration: Sendable {
    /// The directory to watch. Its regular files whose names do not start with `.` (and end with
    /// `fileSuffix`, when set) are read as JSON lines.
    public var directory: String
    /// The JSON stream the lines go to.
    public var stream: String
    /// The stream's settings when it is created; an existing stream must match those given.
    public var settings = JSONStreamSettings()
    /// For a stream with a time field: how far event time may run behind the largest time seen
    /// before an interval is sealed.
    public var allowedLateness: Duration = .zero
    /// For a stream with a time field: seal every interval holding records once no new line has
    /// been read for this long (`strata serve --idle-seal`). `nil`: only the watermark seals.
    public var idleSeal: Duration?
    /// When set, only files whose names end with it are read (`.jsonl`).
    public var fileSuffix: String?
    /// File bytes read between commits: each commit makes what was read durable together with
    /// the position reached. Memory holds about this much between commits.
    public var commitBytes = 8 << 20
    /// The longest line accepted, in bytes, without its newline; longer lines become dead letters.
    public var maxRecordBytes = 1 << 20
    /// Read what the directory holds, seal every interval that received records, and stop,
    /// instead of watching. A last line without a newline is then ingested too: files are taken
    /// to be complete. Without it, a line is read only once its newline is written.
    public var stopsWhenDrained = false
    /// How often the directory is rescanned when no change is signalled (and arrival-time
    /// intervals are sealed while idle).
    public var rescanInterval: Duration = .seconds(1)

    /// Watches `directory` and writes to `stream`.
    public init(directory: String, stream: String) {
        self.directory = directory
        self.stream = stream
    }

    /// Checks the settings.
    ///
    /// - Throws: `ReceiverError.invalidArgument` naming the first setting out of range.
    public func validate() throws(ReceiverError) {
        guard !directory.isEmpty else { throw .invalidArgument("the watched directory must not be empty") }
        try SideStreams.checkWritable(stream)
        guard commitBytes >= 1 else { throw .invalidArgument("commit bytes must be at least 1, not \(commitBytes)") }
        guard (1...ReceiverConfiguration.largestRecordBytes).contains(maxRecordBytes) else {
            throw .invalidArgument(
                "the record size limit must be 1 to \(ReceiverConfiguration.largestRecordBytes) bytes, not \(maxRecordBytes)")
        }
        guard rescanInterval > .zero else { throw .invalidArgument("the rescan interval must be positive") }
        if let partitions = settings.partitions, !(1...4096).contains(partitions) {
            throw .invalidArgument("partitions must be 1 to 4096, not \(partitions)")
        }
        if settings.timeUnit != nil && settings.timeField == nil {
            throw .invalidArgument("a time unit needs a time field")
        }
    }
}
