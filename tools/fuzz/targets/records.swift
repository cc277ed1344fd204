// libFuzzer target: the record decoders of the standard types and of the JSON record type.
//
// The first input byte picks a type, the rest is one record's bytes. A value that decodes must
// encode to bytes that decode to the same value; nothing may trap. Built by tools/fuzz.sh.
import StrataStorage

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecords(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    guard let selector = input.first else { return 0 }
    let record = UnsafeRawBufferPointer(rebasing: input.dropFirst())
    switch selector % 16 {
    case 0: roundTrip(JSONRecord.self, record)
    case 1: roundTrip(String.self, record)
    case 2: roundTrip(Int.self, record)
    case 3: roundTrip(UInt.self, record)
    case 4: roundTrip(Int64.self, record)
    case 5: roundTrip(Bool.self, record)
    case 6: roundTrip(Optional<String>.self, record)
    case 7: roundTrip([String].self, record)
    case 8: roundTrip([Int].self, record)
    case 9: roundTrip(Bytes.self, record)
    case 10: roundTrip(KeyValue<String, Int64>.self, record)
    case 11: roundTrip(KeyValue<Bytes, [Optional<UInt32>]>.self, record)
    case 12: roundTrip([[UInt8]].self, record)
    case 13: roundTrip(Optional<Optional<Int16>>.self, record)
    case 14: roundTrip(Double.self, record, bitwise: true)
    default: roundTrip(KeyValue<String, Bool>.self, record)
    }
    return 0
}

func roundTrip<R: RecordCodable & Equatable>(_ type: R.Type, _ bytes: UnsafeRawBufferPointer, bitwise: Bool = false) {
    var reader = BinaryReader(bytes)
    let value: R
    do {
        value = try R(from: &reader)
    } catch {
        return
    }
    precondition(reader.offset >= 0 && reader.offset <= bytes.count, "reader ran outside the record")
    var writer = BinaryWriter()
    value.encode(to: &writer)
    writer.bytes.withUnsafeBytes { encoded in
        var again = BinaryReader(encoded)
        do {
            let decoded = try R(from: &again)
            precondition(again.remaining == 0, "re-encoded record has bytes its decoder does not read")
            if bitwise {
                precondition(encoded.elementsEqual(bytes.prefix(reader.offset)), "re-encoding changed the bits")
            } else {
                precondition(decoded == value, "record round trip changed the value")
            }
        } catch {
            preconditionFailure("re-encoded record does not decode: \(error)")
        }
    }
}

/// Seed records: one or more values of each selectable type, prefixed by its selector byte.
func seeds() -> [(String, [UInt8])] {
    func seed<R: RecordCodable>(_ selector: UInt8, _ value: R) -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(byte: selector)
        value.encode(to: &writer)
        return writer.bytes
    }
    return [
        ("json", seed(0, JSONRecord(bytes: Array("{\"ts\":1,\"url\":\"/\"}".utf8)))),
        ("string", seed(1, "héllo")),
        ("int", seed(2, -123_456_789)),
        ("uint", seed(3, UInt.max)),
        ("int64", seed(4, Int64.min)),
        ("bool", seed(5, true)),
        ("optional-string", seed(6, Optional("x"))),
        ("strings", seed(7, ["a", "", "😀"])),
        ("ints", seed(8, [1, -1, Int.max])),
        ("bytes", seed(9, Bytes([0, 255, 7]))),
        ("key-value", seed(10, KeyValue("/home", Int64(42)))),
        ("key-value-nested", seed(11, KeyValue(Bytes([1]), [Optional<UInt32>.none, 7]))),
        ("byte-arrays", seed(12, [[UInt8]([1, 2]), []])),
        ("double-optional", seed(13, Optional<Optional<Int16>>.some(.none))),
        ("double", seed(14, -0.5)),
        ("key-bool", seed(15, KeyValue("k", false))),
    ]
}
