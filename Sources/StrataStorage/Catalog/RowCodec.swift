/// A row of one of the store's small databases (catalog, frontiers, seals, progress, vertex stats
/// and timings, states, sources): a version byte, the row's fields, and the XXH64 checksum of both
/// (`RowChecksum`). Each row's fields are listed in `docs/format.md`.
///
/// A conforming type writes and reads its fields only. The frame — the version byte, the checksum,
/// the check that nothing follows the fields, and the mapping of a field that does not decode to
/// `Corruption.badRow` naming the row — exists once, here, so every row fails the same way on bad
/// bytes.
package protocol RowCodec {
    /// The row's name in errors, such as `seal row`.
    static var rowName: String { get }
    /// The version this build writes.
    static var rowVersion: UInt8 { get }
    /// The versions this build reads; by default `rowVersion` only.
    static var readableRowVersions: ClosedRange<UInt8> { get }
    /// The bytes to reserve for the row (a hint).
    var rowCapacity: Int { get }
    /// Writes the row's fields, which follow the version byte.
    func writeRowFields(to writer: inout BinaryWriter)
}

extension RowCodec {
    package static var readableRowVersions: ClosedRange<UInt8> { rowVersion...rowVersion }

    /// The row: version, fields, checksum.
    package func encodedRow() -> [UInt8] {
        var writer = BinaryWriter(capacity: rowCapacity)
        writer.write(byte: Self.rowVersion)
        writeRowFields(to: &writer)
        return RowChecksum.seal(writer.bytes)
    }

    /// What a row of `version`, which this build does not read, is called in errors:
    /// `catalog row version 9; this build reads version 1` (a newer build wrote it, or the
    /// byte is damaged: the checksum held).
    static func versionRefusal(_ version: UInt8) -> String {
        let readable = readableRowVersions
        let reads = readable.count == 1 ? "version \(readable.lowerBound)"
            : "versions \(readable.lowerBound)–\(readable.upperBound)"
        return "\(rowName) version \(version); this build reads \(reads)"
    }

    /// Verifies `row`'s checksum and version, then reads its fields with `fields`, which gets the
    /// version and a reader just after it and must read every byte up to the checksum.
    ///
    /// - Throws: `Corruption.badRow` naming the row: `NAME (…)` for a short row, a checksum
    ///   mismatch or a field that does not decode, `NAME version V; this build reads version R`
    ///   for a version this build does not read, `NAME` when bytes follow the fields; a `Corruption` that `fields` throws, as is.
    package static func decodeRow<Value>(
        _ row: UnsafeRawBufferPointer, _ fields: (_ version: UInt8, _ reader: inout BinaryReader) throws -> Value
    ) throws(Corruption) -> Value {
        let body = try RowChecksum.verified(row, what: rowName)
        var reader = BinaryReader(body)
        do {
            let version = try reader.readByte()
            guard readableRowVersions.contains(version) else { throw Corruption.badRow(versionRefusal(version)) }
            let value = try fields(version, &reader)
            guard reader.remaining == 0 else { throw Corruption.badRow(rowName) }
            return value
        } catch let error as Corruption {
            throw error
        } catch {
            throw .badRow("\(rowName) (\(error))")
        }
    }
}
