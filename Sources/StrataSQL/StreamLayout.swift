import Strata
import StrataStorage

/// How a stream's records become columns: every table starts with `interval`, `time` and
/// `partition`; JSON streams then have a column per top-level field plus `record`; other streams
/// the columns of their record type.
struct StreamLayout {
    enum Source {
        /// JSON records; `fields` are the field names as they appear in the records.
        case json(fields: [String])
        /// Records of a type with a reader.
        case typed(RecordTypeReader)
    }

    /// The columns every table has first, in order.
    static let fixedColumns = ["interval", "time", "partition"]

    var source: Source
    /// The SQL names of the data columns (a field named like a fixed column or `record` gets a `_` suffix).
    var dataColumns: [String]

    /// Whether the table ends with a `record` column (JSON streams).
    var hasRecordColumn: Bool {
        if case .json = source { return true }
        return false
    }

    /// How many records column inference reads at most.
    static let inferenceRecords = 4_096

    /// The layout of JSON records whose fields are `fields`, in first-seen order.
    init(jsonFields fields: [String]) {
        source = .json(fields: fields)
        var taken = Set(Self.fixedColumns + ["record"])
        dataColumns = []
        var kept: [String] = []
        for field in fields {
            var name = field
            while taken.contains(name.lowercased()) { name += "_" }
            // SQLite column names are case-insensitive: a second field differing only in case gets a suffix too.
            taken.insert(name.lowercased())
            dataColumns.append(name)
            kept.append(field)
        }
        source = .json(fields: kept)
    }

    init(reader: RecordTypeReader) {
        source = .typed(reader)
        var taken = Set(Self.fixedColumns)
        dataColumns = reader.columns.map { column in
            var name = column
            while taken.contains(name.lowercased()) { name += "_" }
            taken.insert(name.lowercased())
            return name
        }
    }

    /// The layout of a stream: declared JSON fields, else inferred from its first sealed blocks.
    ///
    /// - Throws: `.unsupportedRecordType` for a record type without a reader; storage errors.
    static func of(_ descriptor: StreamDescriptor, declared: [String], context: SQLContext) throws -> StreamLayout {
        if descriptor.recordType == JSONRecord.recordTypeName {
            if !declared.isEmpty { return StreamLayout(jsonFields: declared) }
            return StreamLayout(jsonFields: try inferFields(of: descriptor, log: context.log))
        }
        guard let reader = context.reader(for: descriptor.recordType) else {
            throw SQLError.unsupportedRecordType(stream: descriptor.name, recordType: descriptor.recordType)
        }
        return StreamLayout(reader: reader)
    }

    /// The top-level field names of the first sealed records of a JSON stream, in first-seen order.
    static func inferFields(of descriptor: StreamDescriptor, log: LogStore) throws -> [String] {
        let frontier = try log.frontier(of: descriptor)
        guard let first = frontier.firstReadable, let last = frontier.sealedThrough else { return [] }
        var names: [String] = []
        var seen = Set<String>()  // membership only; `names` keeps the order
        var records = 0
        var codec = BlockCodec()
        // Sealed intervals with records, a bounded number of them.
        let intervals = try log.sealRecords(of: descriptor, in: first...last).prefix(64)
        outer: for (interval, _) in intervals {
            var done = false
            try log.withSealedBlocks(of: descriptor, interval: interval) { partition, _, block in
                guard !done else { return }
                try withPayload(block, codec: &codec, descriptor: descriptor, interval: interval, partition: partition) {
                    payload, count in
                    var frames = RecordFrames(payload: payload, expectedCount: count)
                    while let frame = try frames.next() {
                        for name in JSONFields.fieldNames(of: frame) where !seen.contains(name) {
                            seen.insert(name)
                            names.append(name)
                        }
                        records += 1
                        if records >= inferenceRecords { done = true; return }
                    }
                }
            }
            if done { break outer }
        }
        return names
    }
}

/// Verifies a block and calls `body` with its payload and record count; damage is `.corrupt`.
func withPayload(_ block: UnsafeRawBufferPointer, codec: inout BlockCodec, descriptor: StreamDescriptor,
                 interval: Interval, partition: PartitionIndex,
                 _ body: (UnsafeRawBufferPointer, Int) throws -> Void) throws {
    let location = StoreLocation(stream: descriptor.name, interval: interval, partition: partition)
    do {
        try codec.withVerifiedPayload(block) { header, payload in
            do {
                try body(payload, header.recordCount)
            } catch let corruption as Corruption {
                throw StorageError.corrupt(location, corruption)
            }
        }
    } catch let corruption as Corruption {
        throw StorageError.corrupt(location, corruption)
    }
}
