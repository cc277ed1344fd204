// libFuzzer target: the block decoder (header, checksum, LZ4, record framing) and the records
// framed inside a block. Built by tools/fuzz.sh against the StrataStorage module.
//
// Every input is decoded twice: as it is (so the header and checksum checks are fuzzed), and with
// its checksum recomputed (so the fuzzer gets past the checksum into LZ4 and the framing). Any
// outcome but a value or a `Corruption`/`RecordDecodingError` is a finding: a trap, a sanitizer
// report, or a payload pointer outside the block or the codec's buffer.
import StrataStorage

nonisolated(unsafe) var codec = BlockCodec()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBlock(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    decodeBlock(input)
    if input.count >= BlockHeader.size {
        var patched = Array(input)
        patched.withUnsafeMutableBytes { block in
            let checksum = BlockHeader.computeChecksum(UnsafeRawBufferPointer(block))
            block.storeBytes(of: checksum.bigEndian, toByteOffset: 24, as: UInt64.self)
        }
        patched.withUnsafeBytes { decodeBlock($0) }
    }
    return 0
}

func decodeBlock(_ block: UnsafeRawBufferPointer) {
    do {
        try codec.verify(block)
    } catch {}
    do {
        try codec.withVerifiedPayload(block) { header, payload in
            precondition(payload.count == header.rawLength, "payload length differs from the header's raw length")
            var frames = RecordFrames(payload: payload, expectedCount: header.recordCount)
            var found = 0
            while let frame = try frames.next() {
                found += 1
                decodeAsEveryType(frame)
            }
            precondition(found == header.recordCount, "framing accepted a record count the header does not give")
        }
    } catch is Corruption {
    } catch {
        preconditionFailure("block decoding threw a non-corruption error: \(error)")
    }
}

/// Decodes one record's bytes as several record types; only typed errors may come out.
func decodeAsEveryType(_ frame: UnsafeRawBufferPointer) {
    func attempt<R: RecordCodable & Equatable>(_ type: R.Type) {
        var reader = BinaryReader(frame)
        do {
            let value = try R(from: &reader)
            precondition(reader.offset <= frame.count, "reader ran past the record")
            // What decodes must encode back to a value that decodes to the same.
            var writer = BinaryWriter()
            value.encode(to: &writer)
            let again = writer.bytes.withUnsafeBytes { bytes -> R? in
                var r = BinaryReader(bytes)
                return try? R(from: &r)
            }
            precondition(again == value, "record round trip changed the value")
        } catch {}
    }
    attempt(JSONRecord.self)
    attempt(String.self)
    attempt(KeyValue<String, Int64>.self)
    attempt([UInt64].self)
    attempt(Optional<Bytes>.self)
}

/// Seed blocks: each record type above, LZ4-compressed and stored, empty and one-record blocks.
func seeds() -> [(String, [UInt8])] {
    func block<R: RecordCodable>(_ records: [R]) -> [UInt8] {
        var payload = BinaryWriter()
        for record in records {
            var writer = BinaryWriter()
            record.encode(to: &writer)
            payload.write(varint: UInt64(writer.bytes.count))
            writer.bytes.withUnsafeBytes { payload.write(raw: $0) }
        }
        return payload.bytes.withUnsafeBytes { codec.encode(payload: $0, recordCount: records.count) }
    }
    let views = (0..<40).map { JSONRecord(bytes: Array("{\"ts\":17954352\($0)00,\"url\":\"/p/\($0 % 7)\",\"user\":\($0)}".utf8)) }
    return [
        ("json-lz4", block(views)),
        ("json-one", block([JSONRecord(bytes: Array("{\"a\":1}".utf8))])),
        ("empty", block([JSONRecord]())),
        ("strings-stored", block(["a", "é€😀", ""])),
        ("key-values-lz4", block((0..<64).map { KeyValue("/url/\($0 % 5)", Int64($0) * 1_000_003) })),
        ("arrays", block([[UInt64](), [1, 2, 3], [UInt64.max]])),
        ("optional-bytes", block([Optional<Bytes>.none, Bytes([1, 2, 3]), Bytes(Array(repeating: 9, count: 300))])),
    ]
}
