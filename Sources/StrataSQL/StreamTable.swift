import CSQLite
import Foundation
import Strata
import StrataEngine
import StrataStorage

/// A stream as a table: `CREATE VIRTUAL TABLE temp."pageViews" USING strata_stream("pageViews")`
/// (the connection creates it when a query first names the stream). Optional further module
/// arguments declare a JSON stream's fields instead of inferring them.
final class StreamTable: VirtualTable {
    let context: SQLContext
    var callbacks: SQLCallbackState { context }
    let descriptor: StreamDescriptor
    let layout: StreamLayout

    init(context: SQLContext, arguments: [String]) throws {
        self.context = context
        guard let first = arguments.first else { throw SQLError.invalidArgument("strata_stream needs a stream name") }
        let name = unquoteModuleArgument(first)
        guard let descriptor = try context.log.descriptor(named: name) else {
            throw SQLError.unknownStream(name, known: try context.userStreamNames())
        }
        self.descriptor = descriptor
        layout = try context.layout(of: descriptor, declared: arguments.dropFirst().map(unquoteModuleArgument))
    }

    var schema: String {
        var columns = [#""interval" INTEGER"#, #""time" TEXT"#, #""partition" INTEGER"#]
        columns += layout.dataColumns.map(quoteIdentifier)
        if layout.hasRecordColumn { columns.append(#""record" TEXT"#) }
        // Rows have no integer identity that is unique in every stream; (interval, partition,
        // seq) is. SQLite's OR plans use this key to merge their branches.
        columns.append(#""seq" INTEGER HIDDEN"#)
        return "CREATE TABLE x(" + columns.joined(separator: ", ") + #", PRIMARY KEY("interval", "partition", "seq")) WITHOUT ROWID"#
    }

    func bestIndex(_ info: inout sqlite3_index_info) -> Int32 {
        planScan(&info, context: context, descriptor: descriptor, functionArguments: [:],
                 groupableColumns: 3 + layout.dataColumns.count + (layout.hasRecordColumn ? 1 : 0))
    }

    func makeCursor() -> any VirtualCursor {
        StreamCursor(context: context, mode: .table(descriptor, layout))
    }
}

/// `slice('pageViews', FROM, TO)`: a stream's records in a range written as `strata slice` takes it
/// (interval indices inclusive, times half-open), with columns `interval`, `time`, `partition`,
/// `record` (JSON text; for typed streams a JSON object of their columns).
final class SliceFunction: VirtualTable {
    let context: SQLContext
    var callbacks: SQLCallbackState { context }
    init(context: SQLContext) { self.context = context }

    var schema: String {
        #"CREATE TABLE x("interval" INTEGER, "time" TEXT, "partition" INTEGER, "record" TEXT, "#
            + #""stream" HIDDEN, "from" HIDDEN, "to" HIDDEN, "seq" INTEGER HIDDEN, "#
            + #"PRIMARY KEY("interval", "partition", "seq")) WITHOUT ROWID"#
    }

    func bestIndex(_ info: inout sqlite3_index_info) -> Int32 {
        planScan(&info, context: context, descriptor: nil, functionArguments: [4: "s", 5: "f", 6: "o"])
    }

    func makeCursor() -> any VirtualCursor { StreamCursor(context: context, mode: .slice) }
}

/// Chooses a scan's plan: which constraints become bounds (`interval`, `time`, `partition`, and a
/// table function's arguments), encoded in `idxStr` as two characters per argument
/// (column code, operator code), after the used-column mask in hexadecimal and a `;`.
///
/// When SQLite only needs rows grouped (`GROUP BY`, `DISTINCT`: `sqlite3_vtab_distinct` 1 or 2) by
/// columns that are all the query uses of the table, the plan (a third part `G` and the columns)
/// groups the rows itself, in one pass with a hash table, and hands SQLite each group's rows
/// together: SQLite then aggregates without sorting.
func planScan(_ info: inout sqlite3_index_info, context: SQLContext, descriptor: StreamDescriptor?,
              functionArguments: [Int32: Character], groupableColumns: Int = 0) -> Int32 {
    var codes = ""
    var argument: Int32 = 0
    var cost = 1_000_000.0
    var rows: Int64 = 1_000_000
    var required = Set(functionArguments.keys)
    for k in 0..<Int(info.nConstraint) {
        let constraint = info.aConstraint[k]
        guard constraint.usable != 0 else { continue }
        let op: ScanBounds.Operator
        switch Int32(constraint.op) {
        case SQLITE_INDEX_CONSTRAINT_EQ: op = .equal
        case SQLITE_INDEX_CONSTRAINT_GT: op = .greater
        case SQLITE_INDEX_CONSTRAINT_GE: op = .greaterOrEqual
        case SQLITE_INDEX_CONSTRAINT_LT: op = .less
        case SQLITE_INDEX_CONSTRAINT_LE: op = .lessOrEqual
        default: continue
        }
        let column = constraint.iColumn
        let code: Character
        var omit = false
        if let function = functionArguments[column] {
            guard op == .equal else { continue }
            code = function
            omit = true
            required.remove(column)
        } else {
            switch column {
            case 0: code = "i"
            case 1: code = "t"; omit = true  // `time` compares as the time forms, not as text: we decide alone
            case 2: code = "p"
            default: continue
            }
            if code == "p" {
                cost /= op == .equal ? Double(descriptor?.partitions ?? 4) : 2
            } else {
                cost /= op == .equal ? 1_000 : 4
            }
        }
        argument += 1
        info.aConstraintUsage[k].argvIndex = argument
        info.aConstraintUsage[k].omit = omit ? 1 : 0
        codes.append(code)
        codes.append(op.rawValue)
    }
    // A table function without its arguments gets the costliest plan: SQLite takes it only when no
    // plan has them (`slice('v', 1000)`), and the scan then says what is missing, where
    // SQLITE_CONSTRAINT made SQLite say only "no query solution".
    let missingArguments = !required.isEmpty
    rows = missingArguments ? Int64.max : Int64(max(1, cost))
    var grouping = ""
    // Rows come in (interval, partition) order.
    if info.nOrderBy >= 1, let order = info.aOrderBy {
        let first = order[0]
        if first.iColumn == 0 && first.desc == 0
            && (info.nOrderBy == 1 || (info.nOrderBy == 2 && order[1].iColumn == 2 && order[1].desc == 0)) {
            info.orderByConsumed = 1
        } else {
            // The groups come out sorted as asked, so any of the four modes is met.
            let distinct = sqlite3_vtab_distinct(&info)
            var columns: [String] = []
            var mask: UInt64 = 0
            for k in 0..<Int(info.nOrderBy) {
                let column = order[k].iColumn
                guard column >= 0, column < Int32(min(groupableColumns, 63)) else { columns = []; break }
                columns.append("\(column)\(order[k].desc != 0 ? "d" : "a")")
                mask |= UInt64(1) << UInt64(column)
            }
            if !columns.isEmpty, info.colUsed & ~mask == 0 {
                info.orderByConsumed = 1
                grouping = (distinct >= 2 ? "D" : "G") + columns.joined(separator: ",")
            }
        }
    }
    let plan = String(info.colUsed, radix: 16) + ";" + codes + ";" + grouping
    info.idxStr = sqliteMessage(plan)
    info.needToFreeIdxStr = 1
    info.estimatedCost = missingArguments ? 1e300 : max(1, cost)
    info.estimatedRows = rows
    return SQLITE_OK
}

/// Reads a stream's records, one (interval, partition) at a time, for a stream table or `slice`.
final class StreamCursor: VirtualCursor {
    enum Mode {
        case table(StreamDescriptor, StreamLayout)
        case slice
    }

    let context: SQLContext
    let mode: Mode
    private var descriptor: StreamDescriptor?
    private var layout: StreamLayout?
    // The scan.
    private var intervals: [Interval] = []
    private var intervalPosition = 0
    private var partitions: ClosedRange<UInt32> = 0...0
    private var partition: UInt32 = 0
    private var codec = BlockCodec()
    // The current (interval, partition): its records' payloads and where each record lies.
    private var payload: [UInt8] = []
    private var frames: [(start: Int, count: Int)] = []
    private var row = 0
    private var currentInterval = Interval(0)
    private var timeText: [CChar] = [0]
    private var finished = true
    private var rowCounter: Int64 = 0
    // Decoded values of the current row.
    private var fields = JSONFields(names: [])
    private var slots: [JSONSlot] = []
    private var wanted: [Bool] = []
    private var wantedCount = 0
    private var parsedRow = -1
    private var values: [SQLValue] = []
    private var scratch: [UInt8] = []
    // A table function's arguments, shown in its hidden columns.
    private var functionArguments: [SQLValue] = [.null, .null, .null]

    init(context: SQLContext, mode: Mode) {
        self.context = context
        self.mode = mode
        if case .table(let descriptor, let layout) = mode { use(descriptor, layout) }
    }

    private func use(_ descriptor: StreamDescriptor, _ layout: StreamLayout) {
        self.descriptor = descriptor
        self.layout = layout
        if case .json(let names) = layout.source {
            fields = JSONFields(names: names)
            slots = [JSONSlot](repeating: JSONSlot(), count: names.count)
            wanted = [Bool](repeating: false, count: names.count)
        }
    }

    func filter(plan: Int32, planText: String, arguments: [OpaquePointer?]) throws {
        let parts = planText.split(separator: ";", omittingEmptySubsequences: false)
        let used = UInt64(parts.first ?? "", radix: 16) ?? .max
        let codes = Array(parts.count > 1 ? parts[1] : "")
        let grouping = parts.count > 2 ? parts[2] : ""
        var bounds = ScanBounds()
        var stream: String?, from: String?, to: String?
        var timeConstraints: [(ScanBounds.Operator, String)] = []
        for (k, argument) in arguments.enumerated() where 2 * k + 1 < codes.count {
            let value = Self.value(argument)
            guard let op = ScanBounds.Operator(rawValue: codes[2 * k + 1]) else { continue }
            switch codes[2 * k] {
            case "i": bounds.constrainInteger(op, value, partition: false)
            case "p": bounds.constrainInteger(op, value, partition: true)
            case "t":
                guard let text = value.text else { bounds.empty = true; continue }  // time = NULL is never true
                timeConstraints.append((op, text))
            case "s": stream = value.text; functionArguments[0] = value.text.map(SQLValue.text) ?? .null
            case "f": from = value.text; functionArguments[1] = value.text.map(SQLValue.text) ?? .null
            case "o": to = value.text; functionArguments[2] = value.text.map(SQLValue.text) ?? .null
            default: break
            }
        }
        if case .slice = mode {
            guard let stream, let from, let to else {
                throw SQLError.invalidArgument("slice(stream, from, to) needs three non-NULL arguments")
            }
            guard let descriptor = try context.log.descriptor(named: stream) else {
                throw SQLError.unknownStream(stream, known: try context.userStreamNames())
            }
            use(descriptor, try context.layout(of: descriptor, declared: []))
            let frontier = try context.log.frontier(of: descriptor)
            let range = try SliceRange(from: from, to: to).intervals(
                length: descriptor.intervalLength, newestSealed: frontier.sealedThrough, stream: stream)
            // Like `strata slice`: the whole range must be sealed and retained.
            guard let sealed = frontier.sealedThrough, range.upperBound <= sealed else {
                throw StorageError.notSealed(StoreLocation(stream: stream, interval: range.upperBound),
                                             newestSealed: frontier.sealedThrough)
            }
            try context.log.checkReadable(descriptor, interval: range.lowerBound)
            bounds.intersect(intervalsFrom: range.lowerBound.rawValue, through: range.upperBound.rawValue)
        }
        guard let descriptor, layout != nil else { throw SQLError.invalidArgument("no stream to scan") }
        let frontier = try context.log.frontier(of: descriptor)
        for (op, text) in timeConstraints {
            let instant = try TimeForms.instant(text, length: descriptor.intervalLength,
                                                newestSealed: frontier.sealedThrough, stream: descriptor.name)
            bounds.constrainTime(op, instant: instant, length: descriptor.intervalLength)
        }
        // Which data columns the query reads.
        wantedCount = 0
        for index in wanted.indices {
            let column = 3 + index
            let bit = column >= 63 ? UInt64(1) << 63 : UInt64(1) << UInt64(column)
            wanted[index] = used & bit != 0
            if wanted[index] { wantedCount += 1 }
        }
        // The intervals to read: sealed, retained, with records, within the bounds.
        intervals = []
        intervalPosition = 0
        finished = true
        parsedRow = -1
        guard !bounds.empty, let first = frontier.firstReadable, let last = frontier.sealedThrough else { return }
        let low = max(first.rawValue, bounds.lower), high = min(last.rawValue, bounds.upper)
        let lastPartition = min(descriptor.partitions - 1, bounds.lastPartition)
        guard low <= high, bounds.firstPartition <= lastPartition else { return }
        intervals = try context.log.sealRecords(of: descriptor, in: Interval(low)...Interval(high)).map(\.0)
        partitions = bounds.firstPartition...lastPartition
        partition = partitions.upperBound  // so that the first advance moves to the first interval
        intervalPosition = -1
        finished = false
        frames = []
        row = 0
        groups = nil
        emitsGroups = false
        releaseFastValues()
        try advanceUnit()
        if let kind = grouping.first {
            let terms = grouping.dropFirst().split(separator: ",")
            let columns = terms.compactMap { Int($0.dropLast()) }
            try group(by: columns, descending: terms.map { $0.last == "d" }, once: kind == "D")
        }
    }

    // MARK: Grouping

    /// Rows grouped by their values in the group columns, in first-seen order, with how many rows
    /// each group has (emitted that many times, or once for DISTINCT).
    private struct Groups {
        var columns: [Int]
        var values: [[SQLValue]] = []
        var counts: [Int] = []
        var current = 0
        var remaining = 0

        /// Calls `body` with a group's value at a position, without copying the arrays.
        func withValue(group: Int, position: Int, _ body: (SQLValue) -> Void) {
            guard group < values.count, position < values[group].count else { return body(.null) }
            body(values[group][position])
        }
    }
    private var groups: Groups?
    // The emission's position, outside `groups` so that stepping copies nothing.
    private var emitsGroups = false
    private var groupIndex = 0
    private var groupRemaining = 0
    /// For each column of the table, its position among the group columns (-1: none).
    private var groupPosition: [Int] = []

    /// Reads the whole scan, grouping rows by the values of `columns` (SQLite's `IS` equality:
    /// integers and integral reals are one value), sorts the groups as SQLite orders values
    /// (`descending` per column), then positions on the first group.
    private func group(by columns: [Int], descending: [Bool], once: Bool) throws {
        var grouped = Groups(columns: columns)
        // Group keys by their bytes (lookup only; groups keep first-seen order).
        var index = EncodedKeyTable(routing: false, capacity: 1_024)
        var key: [UInt8] = []
        var scratch: [UInt8] = []
        var rowValues = [SQLValue](repeating: .null, count: columns.count)
        // JSON fields only: each unit's rows are keyed in one pass over locals (see groupJSONRows).
        var jsonOnly = false
        if case .json = layout?.source { jsonOnly = columns.allSatisfy { $0 >= 3 && $0 - 3 < slots.count } }
        var newRows: [Int] = []
        while !finished {
            if context.interruptRequested { throw SQLError.interrupted }
            let count = frames.count
            if jsonOnly {
                newRows.removeAll(keepingCapacity: true)
                groupJSONRows(columns, table: &index, counts: &grouped.counts, newRows: &newRows, key: &key, scratch: &scratch)
                for newRow in newRows {
                    row = newRow
                    parsedRow = -1
                    for (k, column) in columns.enumerated() { rowValues[k] = try value(column) }
                    grouped.values.append(rowValues)
                }
                row = count
            }
            while row < count {
                key.removeAll(keepingCapacity: true)
                for column in columns { appendGroupKey(column, to: &key, scratch: &scratch) }
                let found = key.withUnsafeBytes { index.index(ofBytes: $0) }
                if found.inserted {
                    for (k, column) in columns.enumerated() { rowValues[k] = try value(column) }
                    grouped.values.append(rowValues)
                    grouped.counts.append(1)
                } else {
                    grouped.counts[found.index] += 1
                }
                row += 1
            }
            try advanceUnit()
        }
        if once { grouped.counts = grouped.counts.map { _ in 1 } }
        // Sorted groups meet every mode of sqlite3_vtab_distinct, even plain ORDER BY. First-seen
        // order breaks no ties: equal groups were merged.
        let order = grouped.values.indices.sorted { a, b in
            for (k, desc) in descending.enumerated() {
                let x = grouped.values[a][k], y = grouped.values[b][k]
                let c = compareSQLValues(x, y)
                if c != 0 { return desc ? c > 0 : c < 0 }
            }
            return a < b
        }
        grouped.values = order.map { grouped.values[$0] }
        grouped.counts = order.map { grouped.counts[$0] }
        grouped.remaining = grouped.counts.first ?? 0
        finished = grouped.values.isEmpty
        groupIndex = 0
        groupRemaining = grouped.remaining
        groupPosition = [Int](repeating: -1, count: (columns.max() ?? 0) + 1)
        for (k, column) in columns.enumerated() { groupPosition[column] = k }
        groups = grouped
        emitsGroups = true
        makeFastValues(grouped)
        showFastGroup()
    }

    // MARK: Handing SQLite a group's rows without calling the cursor per row

    /// The C struct of this cursor, whose fast path steps through a group's rows.
    private var raw: UnsafeMutablePointer<strata_vtab_cursor>?
    /// Every group's values, `groupPosition.count` per group (type 0 for columns not grouped by).
    private var fastValues: UnsafeMutableBufferPointer<strata_value>?
    /// The text and blob bytes the values point to.
    private var fastBytes: UnsafeMutableRawBufferPointer?

    func attach(_ raw: UnsafeMutablePointer<strata_vtab_cursor>) { self.raw = raw }

    deinit { releaseFastValues() }

    /// Lays out every group's values for the C fast path.
    private func makeFastValues(_ grouped: Groups) {
        releaseFastValues()
        let width = groupPosition.count
        guard raw != nil, width > 0, !grouped.values.isEmpty else { return }
        var byteCount = 0
        for values in grouped.values {
            for value in values {
                switch value {
                case .text(let text): byteCount += text.utf8.count
                case .blob(let bytes): byteCount += bytes.count
                default: break
                }
            }
        }
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, byteCount), alignment: 1)
        let values = UnsafeMutableBufferPointer<strata_value>.allocate(capacity: width * grouped.values.count)
        values.initialize(repeating: strata_value())
        var offset = 0
        for (g, row) in grouped.values.enumerated() {
            for (column, position) in groupPosition.enumerated() where position >= 0 && position < row.count {
                var value = strata_value()
                func store<C: Collection>(_ content: C, type: Int32) where C.Element == UInt8 {
                    let start = offset
                    for byte in content {
                        bytes[offset] = byte
                        offset += 1
                    }
                    value.type = type
                    value.length = Int32(truncatingIfNeeded: offset - start)
                    value.text = bytes.baseAddress.map { UnsafeRawPointer($0 + start).assumingMemoryBound(to: CChar.self) }
                }
                switch row[position] {
                case .null: value.type = SQLITE_NULL
                case .integer(let v):
                    value.type = SQLITE_INTEGER
                    value.integer = sqlite3_int64(v)
                case .real(let v):
                    value.type = SQLITE_FLOAT
                    value.real = v
                case .text(let text): store(text.utf8, type: SQLITE_TEXT)
                case .blob(let blob): store(blob, type: SQLITE_BLOB)
                }
                values[g * width + column] = value
            }
        }
        fastBytes = bytes
        fastValues = values
    }

    /// Points the C fast path at the current group (or marks the end).
    private func showFastGroup() {
        guard let raw, let fastValues, let base = fastValues.baseAddress, let counts = groups?.counts else { return }
        let width = groupPosition.count
        raw.pointee.fast = 1
        raw.pointee.fast_count = Int32(truncatingIfNeeded: width)
        if groupIndex < counts.count {
            raw.pointee.at_end = 0
            raw.pointee.repeat = sqlite3_int64(counts[groupIndex])
            raw.pointee.fast_values = base + groupIndex * width
        } else {
            raw.pointee.at_end = 1
            raw.pointee.repeat = 0
            raw.pointee.fast_values = nil
        }
    }

    /// Turns the fast path off and frees its values.
    private func releaseFastValues() {
        if let raw {
            raw.pointee.fast = 0
            raw.pointee.fast_values = nil
            raw.pointee.fast_count = 0
        }
        fastValues?.deallocate()
        fastBytes?.deallocate()
        fastValues = nil
        fastBytes = nil
    }

    /// Keys the current unit's rows from `row` on by the JSON fields `columns` (table columns), in
    /// one pass over local copies of the scan state: class properties touched per row cost an
    /// exclusivity check each. Counts rows of known groups; a row of a new group gets a count of 1
    /// and its index in `newRows`, in order, for the caller to read its values.
    private func groupJSONRows(_ columns: [Int], table: inout EncodedKeyTable, counts: inout [Int], newRows: inout [Int],
                               key: inout [UInt8], scratch: inout [UInt8]) {
        var fields = self.fields
        var slots = self.slots
        let wanted = self.wanted, wantedCount = max(1, self.wantedCount)
        let frames = self.frames
        let first = row
        payload.withUnsafeBytes { bytes in
            for r in first..<frames.count {
                let frame = frames[r]
                let record = UnsafeRawBufferPointer(rebasing: bytes[frame.start..<(frame.start + frame.count)])
                for k in slots.indices { slots[k].kind = .absent }
                fields.scan(record, wanted: wanted, wantedCount: wantedCount, into: &slots)
                key.removeAll(keepingCapacity: true)
                for column in columns {
                    let slot = slots[column - 3]
                    if slot.kind == .string {
                        key.append(3)
                        Self.appendLength(slot.count, to: &key)
                        key.append(contentsOf: UnsafeRawBufferPointer(rebasing: record[slot.start..<(slot.start + slot.count)]))
                    } else {
                        Self.appendValueKey(fieldValue(slot, in: record, scratch: &scratch), to: &key)
                    }
                }
                let found = key.withUnsafeBytes { table.index(ofBytes: $0) }
                if found.inserted {
                    counts.append(1)
                    newRows.append(r)
                } else {
                    counts[found.index] += 1
                }
            }
        }
        self.fields = fields
        parsedRow = -1
    }

    /// Appends the grouping identity of a column's value in the current row.
    private func appendGroupKey(_ column: Int, to key: inout [UInt8], scratch: inout [UInt8]) {
        if case .json = layout?.source, column >= 3, column - 3 < slots.count {
            let frame = frames[row]
            payload.withUnsafeBytes { bytes in
                let record = UnsafeRawBufferPointer(rebasing: bytes[frame.start..<(frame.start + frame.count)])
                if parsedRow != row {
                    for k in slots.indices { slots[k].kind = .absent }
                    fields.scan(record, wanted: wanted, wantedCount: max(1, wantedCount), into: &slots)
                    parsedRow = row
                }
                let slot = slots[column - 3]
                if slot.kind == .string {
                    key.append(3)
                    Self.appendLength(slot.count, to: &key)
                    key.append(contentsOf: UnsafeRawBufferPointer(rebasing: record[slot.start..<(slot.start + slot.count)]))
                } else {
                    Self.appendValueKey(fieldValue(slot, in: record, scratch: &scratch), to: &key)
                }
            }
            return
        }
        Self.appendValueKey((try? value(column)) ?? .null, to: &key)
    }

    private static func appendLength(_ count: Int, to key: inout [UInt8]) {
        var n = UInt64(count)
        repeat {
            key.append(UInt8(n & 0x7F) | (n > 0x7F ? 0x80 : 0))
            n >>= 7
        } while n > 0
    }

    private static func appendValueKey(_ value: SQLValue, to key: inout [UInt8]) {
        func integer(_ v: Int64) {
            key.append(1)
            withUnsafeBytes(of: v.bigEndian) { key.append(contentsOf: $0) }
        }
        switch value {
        case .null: key.append(0)
        case .integer(let v): integer(v)
        case .real(let v):
            if v == v.rounded(), abs(v) < 9.2e18, let exact = Int64(exactly: v) {
                integer(exact)
            } else {
                key.append(2)
                withUnsafeBytes(of: v.bitPattern.bigEndian) { key.append(contentsOf: $0) }
            }
        case .text(let text):
            key.append(3)
            appendLength(text.utf8.count, to: &key)
            key.append(contentsOf: text.utf8)
        case .blob(let bytes):
            key.append(4)
            appendLength(bytes.count, to: &key)
            key.append(contentsOf: bytes)
        }
    }

    /// A column's value in the current row.
    private func value(_ column: Int) throws -> SQLValue {
        guard let layout, let descriptor else { return .null }
        switch column {
        case 0: return .integer(Int64(bitPattern: currentInterval.rawValue))
        case 1: return .text(TimeText.iso8601(descriptor.intervalLength.start(of: currentInterval)))
        case 2: return .integer(Int64(partition))
        default:
            let data = column - 3
            let frame = frames[row]
            switch layout.source {
            case .json:
                if data < slots.count {
                    var scratch: [UInt8] = []
                    return payload.withUnsafeBytes { bytes in
                        let record = UnsafeRawBufferPointer(rebasing: bytes[frame.start..<(frame.start + frame.count)])
                        if parsedRow != row {
                            for k in slots.indices { slots[k].kind = .absent }
                            fields.scan(record, wanted: wanted, wantedCount: max(1, wantedCount), into: &slots)
                            parsedRow = row
                        }
                        return fieldValue(slots[data], in: record, scratch: &scratch)
                    }
                }
                return payload.withUnsafeBytes { bytes in
                    .text(String(decoding: bytes[frame.start..<(frame.start + frame.count)], as: UTF8.self))
                }
            case .typed(let reader):
                try decodeRow(reader)
                return data < values.count ? values[data] : .null
            }
        }
    }

    /// Loads the next (interval, partition) with records, or finishes.
    private func advanceUnit() throws {
        guard let descriptor else { finished = true; return }
        while true {
            if partition < partitions.upperBound {
                partition += 1
            } else {
                intervalPosition += 1
                guard intervalPosition < intervals.count else {
                    finished = true
                    return
                }
                partition = partitions.lowerBound
                currentInterval = intervals[intervalPosition]
                timeText = Array(TimeText.iso8601(descriptor.intervalLength.start(of: currentInterval)).utf8CString)
                context.reportProgress(stream: descriptor.name, intervalsRead: intervalPosition, intervals: intervals.count)
            }
            payload.removeAll(keepingCapacity: true)
            frames.removeAll(keepingCapacity: true)
            row = 0
            parsedRow = -1
            let interval = currentInterval
            try context.log.withSealedBlocks(of: descriptor, interval: interval,
                                             partition: PartitionIndex(partition)) { p, _, block in
                context.blocksRead += 1
                try withPayload(block, codec: &codec, descriptor: descriptor, interval: interval, partition: p) {
                    raw, count in
                    let base = payload.count
                    payload.append(contentsOf: raw)
                    guard let origin = raw.baseAddress else { return }
                    var records = RecordFrames(payload: raw, expectedCount: count)
                    while let frame = try records.next() {
                        let offset = frame.baseAddress.map { $0 - origin } ?? 0
                        frames.append((base + offset, frame.count))
                    }
                }
            }
            if !frames.isEmpty { return }
        }
    }

    func next() throws {
        if emitsGroups && fastValues != nil {
            // The C side counted this group's rows down: on to the next group.
            rowCounter += Int64(groupRemaining)
            groupIndex += 1
            if let counts = groups?.counts, groupIndex < counts.count {
                groupRemaining = counts[groupIndex]
            } else {
                finished = true
            }
            showFastGroup()
            return
        }
        if emitsGroups {
            groupRemaining -= 1
            rowCounter += 1
            while groupRemaining <= 0 {
                groupIndex += 1
                guard let counts = groups?.counts, groupIndex < counts.count else {
                    finished = true
                    break
                }
                groupRemaining = counts[groupIndex]
            }
            return
        }
        row += 1
        rowCounter += 1
        if row >= frames.count { try advanceUnit() }
    }

    var atEnd: Bool { finished }

    var rowID: Int64 { rowCounter }

    func column(_ index: Int32, into sqlContext: OpaquePointer?) throws {
        if emitsGroups {
            let column = Int(index)
            guard !finished, column < groupPosition.count, groupPosition[column] >= 0 else {
                sqlite3_result_int64(sqlContext, sqlite3_int64(rowCounter))  // seq, or a column the plan does not read
                return
            }
            groups?.withValue(group: groupIndex, position: groupPosition[column]) { resultValue(sqlContext, $0) }
            return
        }
        guard let layout, !finished, row < frames.count else { sqlite3_result_null(sqlContext); return }
        let column = Int(index)
        switch column {
        case 0: sqlite3_result_int64(sqlContext, sqlite3_int64(bitPattern: currentInterval.rawValue))
        case 1: timeText.withUnsafeBufferPointer { sqlite3_result_text(sqlContext, $0.baseAddress, -1, strata_sqlite_transient()) }
        case 2: sqlite3_result_int64(sqlContext, sqlite3_int64(partition))
        default:
            if case .slice = mode {
                switch column {
                case 3: try resultRecord(sqlContext, layout)
                case 4...6: resultValue(sqlContext, functionArguments[column - 4])
                case 7: sqlite3_result_int64(sqlContext, sqlite3_int64(row))
                default: sqlite3_result_null(sqlContext)
                }
                return
            }
            let data = column - 3
            if data < layout.dataColumns.count {
                switch layout.source {
                case .json: resultField(sqlContext, data)
                case .typed(let reader):
                    try decodeRow(reader)
                    resultValue(sqlContext, data < values.count ? values[data] : .null)
                }
            } else if layout.hasRecordColumn && data == layout.dataColumns.count {
                try resultRecord(sqlContext, layout)
            } else {
                sqlite3_result_int64(sqlContext, sqlite3_int64(row))  // seq
            }
        }
    }

    /// The whole record: JSON text as stored, or a JSON object of a typed record's columns.
    private func resultRecord(_ sqlContext: OpaquePointer?, _ layout: StreamLayout) throws {
        let frame = frames[row]
        switch layout.source {
        case .json:
            payload.withUnsafeBufferPointer { bytes in
                guard let base = bytes.baseAddress else { sqlite3_result_text(sqlContext, "", 0, strata_sqlite_transient()); return }
                sqlite3_result_text(sqlContext, UnsafeRawPointer(base + frame.start).assumingMemoryBound(to: CChar.self),
                                    Int32(frame.count), strata_sqlite_transient())
            }
        case .typed(let reader):
            try decodeRow(reader)
            scratch.removeAll(keepingCapacity: true)
            scratch.append(0x7B)
            for (k, name) in reader.columns.enumerated() where k < values.count {
                if k > 0 { scratch.append(0x2C) }
                appendJSONString(name, to: &scratch)
                scratch.append(0x3A)
                values[k].appendJSON(to: &scratch)
            }
            scratch.append(0x7D)
            resultText(sqlContext, scratch)
        }
    }

    private func decodeRow(_ reader: RecordTypeReader) throws {
        guard parsedRow != row, let descriptor else { return }
        values.removeAll(keepingCapacity: true)
        let frame = frames[row]
        var failure: RecordDecodingError?
        payload.withUnsafeBytes { bytes in
            do throws(RecordDecodingError) {
                try reader.decode(UnsafeRawBufferPointer(rebasing: bytes[frame.start..<(frame.start + frame.count)]), &values)
            } catch {
                failure = error
            }
        }
        if let error = failure {
            throw StorageError.corrupt(StoreLocation(stream: descriptor.name, interval: currentInterval,
                                                     partition: PartitionIndex(partition)),
                                       .undecodableRecord(index: row, error))
        }
        parsedRow = row
    }

    /// A JSON field's value, as `json_extract` gives it.
    private func resultField(_ sqlContext: OpaquePointer?, _ index: Int) {
        let frame = frames[row]
        payload.withUnsafeBufferPointer { bytes in
            guard let base = bytes.baseAddress else { sqlite3_result_null(sqlContext); return }
            if parsedRow != row {
                for k in slots.indices { slots[k].kind = .absent }
                fields.scan(UnsafeRawBufferPointer(start: base + frame.start, count: frame.count),
                            wanted: wanted, wantedCount: max(1, wantedCount), into: &slots)
                parsedRow = row
            }
            resultJSONField(sqlContext, slots[index], record: base + frame.start, scratch: &scratch)
        }
    }

    /// A constraint or argument value as text and as a number.
    static func value(_ value: OpaquePointer?) -> OpaquePointerValue {
        var result = OpaquePointerValue()
        switch sqlite3_value_type(value) {
        case SQLITE_INTEGER:
            let integer = Int64(sqlite3_value_int64(value))
            result.integer = integer
            result.number = Double(integer)
            result.text = String(integer)
        case SQLITE_FLOAT:
            result.number = sqlite3_value_double(value)
            result.text = sqlite3_value_text(value).map { String(cString: $0) }
        case SQLITE_NULL: break
        default:
            let text = sqlite3_value_text(value).map { String(cString: $0) }
            result.text = text
            if let text, let number = Double(text.trimmingCharacters(in: .whitespaces)) { result.number = number }
        }
        return result
    }
}

/// Sets a result from a value (text and blobs copied: `SQLITE_TRANSIENT`).
func resultValue(_ sqlContext: OpaquePointer?, _ value: SQLValue) {
    switch value {
    case .null: sqlite3_result_null(sqlContext)
    case .integer(let v): sqlite3_result_int64(sqlContext, sqlite3_int64(v))
    case .real(let v): sqlite3_result_double(sqlContext, v)
    case .text(let text):
        var text = text
        text.withUTF8 { bytes in
            guard let base = bytes.baseAddress else { sqlite3_result_text(sqlContext, "", 0, strata_sqlite_transient()); return }
            sqlite3_result_text(sqlContext, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self),
                                Int32(bytes.count), strata_sqlite_transient())
        }
    case .blob(let bytes):
        bytes.withUnsafeBytes { sqlite3_result_blob(sqlContext, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32($0.count), strata_sqlite_transient()) }
    }
}

/// Sets a text result from UTF-8 bytes (copied).
func resultText(_ sqlContext: OpaquePointer?, _ bytes: [UInt8]) {
    bytes.withUnsafeBufferPointer { buffer in
        if let base = buffer.baseAddress {
            sqlite3_result_text(sqlContext, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), Int32(buffer.count),
                                strata_sqlite_transient())
        } else {
            sqlite3_result_text(sqlContext, "", 0, strata_sqlite_transient())
        }
    }
}

/// A module argument as written in `CREATE VIRTUAL TABLE … USING m(arg)`, without its quotes.
func unquoteModuleArgument(_ text: String) -> String {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    guard trimmed.count >= 2, let first = trimmed.first, first == "\"" || first == "'", trimmed.last == first else {
        return trimmed
    }
    return String(trimmed.dropFirst().dropLast()).replacingOccurrences(of: String(first) + String(first), with: String(first))
}

/// `name` as a quoted SQL identifier.
func quoteIdentifier(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

/// SQLite's order of values (BINARY collation): NULL, then numbers by value, then text by bytes,
/// then blobs by bytes. Negative, zero or positive.
func compareSQLValues(_ x: SQLValue, _ y: SQLValue) -> Int {
    func rank(_ v: SQLValue) -> Int {
        switch v {
        case .null: 0
        case .integer, .real: 1
        case .text: 2
        case .blob: 3
        }
    }
    let (rx, ry) = (rank(x), rank(y))
    if rx != ry { return rx < ry ? -1 : 1 }
    switch (x, y) {
    case (.integer(let a), .integer(let b)): return a < b ? -1 : (a == b ? 0 : 1)
    case (.integer(let a), .real(let b)): return Double(a) < b ? -1 : (Double(a) == b ? 0 : 1)
    case (.real(let a), .integer(let b)): return a < Double(b) ? -1 : (a == Double(b) ? 0 : 1)
    case (.real(let a), .real(let b)): return a < b ? -1 : (a == b ? 0 : 1)
    case (.text(let a), .text(let b)):
        if a.utf8.elementsEqual(b.utf8) { return 0 }
        return a.utf8.lexicographicallyPrecedes(b.utf8) ? -1 : 1
    case (.blob(let a), .blob(let b)):
        if a == b { return 0 }
        return a.lexicographicallyPrecedes(b) ? -1 : 1
    default: return 0
    }
}
