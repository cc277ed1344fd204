import StrataStorage
import Testing

// Small helpers shared by the storage tests.

/// The bytes `value` encodes to.
func encoded<R: RecordCodable>(_ value: R) -> [UInt8] {
    var writer = BinaryWriter()
    value.encode(to: &writer)
    return writer.bytes
}

/// Decodes a whole record from `bytes`, rejecting bytes left over.
func decoded<R: RecordCodable>(_ bytes: [UInt8], as type: R.Type = R.self) throws -> R {
    try bytes.withUnsafeBytes { buffer in
        var reader = BinaryReader(buffer)
        let value = try R(from: &reader)
        guard reader.remaining == 0 else { throw RecordDecodingError.trailingBytes(offset: reader.offset) }
        return value
    }
}

/// The error decoding `bytes` as `R` throws, or `nil` when it decodes.
func decodingError<R: RecordCodable>(_ bytes: [UInt8], as type: R.Type) -> RecordDecodingError? {
    do {
        _ = try decoded(bytes, as: R.self)
        return nil
    } catch let error as RecordDecodingError {
        return error
    } catch {
        Issue.record("decoding threw \(error), not a RecordDecodingError")
        return nil
    }
}

/// A block holding `records`, framed by `PayloadBuilder` and encoded by `BlockCodec`.
func makeBlock<R: RecordCodable>(_ records: [R]) -> [UInt8] {
    var builder = PayloadBuilder(capacity: 64)
    for record in records { builder.append(record) }
    var codec = BlockCodec()
    return builder.writer.bytes.withUnsafeBytes { codec.encode(payload: $0, recordCount: builder.recordCount) }
}

/// Verifies a block and returns its header and the raw bytes of each framed record.
func unpackBlock(_ block: [UInt8], codec: inout BlockCodec) throws -> (BlockHeader, [[UInt8]]) {
    try block.withUnsafeBytes { buffer in
        try codec.withVerifiedPayload(buffer) { header, payload in
            var frames = RecordFrames(payload: payload, expectedCount: header.recordCount)
            var records: [[UInt8]] = []
            while let frame = try frames.next() { records.append(Array(frame)) }
            return (header, records)
        }
    }
}

/// The `Corruption` that `BlockCodec.verify` throws for `block`, or `nil` when it passes.
func blockVerifyError(_ block: [UInt8], codec: inout BlockCodec) -> Corruption? {
    do {
        try block.withUnsafeBytes { buffer in try codec.verify(buffer) }
        return nil
    } catch let error as Corruption {
        return error
    } catch {
        Issue.record("verify threw \(error), not a Corruption")
        return nil
    }
}

