import PropertyBased
import Testing

@testable import StrataStorage

// XXH64 is part of the on-disk format (block and row checksums, partition choice). The golden
// values below come from the reference implementation (python-xxhash 3, libxxhash 0.8).

/// `n` bytes `(i·7 + 3) mod 256`, covering every tail length of the algorithm.
private func pattern(_ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) } }

@Suite struct XXH64Tests {
    @Test func emptyInputMatchesReference() {
        #expect(XXH64.hash([]) == 0xEF46_DB37_51D8_E999)
        #expect(XXH64.hash([], seed: 1) == 0xD5AF_BA13_36A3_BE4B)
    }

    @Test func shortStringsMatchReference() {
        #expect(XXH64.hash(Array("a".utf8)) == 0xD24E_C4F1_A98C_6E5B)
        #expect(XXH64.hash(Array("abc".utf8)) == 0x44BC_2CF5_AD77_0999)
        #expect(XXH64.hash(Array("abc".utf8), seed: 1) == 0xBEA9_CA81_9932_8908)
        #expect(XXH64.hash(Array("abc".utf8), seed: 0x9E37_79B1_85EB_CA87) == 0xA7CB_2AAC_405E_36C7)
        #expect(XXH64.hash(Array("0123456789abcdef0123456789abcdef".utf8)) == 0x642A_9495_8E71_E6C5)
        #expect(XXH64.hash(Array("The quick brown fox jumps over the lazy dog".utf8)) == 0x0B24_2D36_1FDA_71BC)
    }

    @Test func hundredByteInputMatchesReference() {
        let bytes = (0..<100).map { UInt8($0) }
        #expect(XXH64.hash(bytes) == 0x6AC1_E580_3216_6597)
        #expect(XXH64.hash(bytes, seed: 42) == 0x819D_2B72_6001_D507)
    }

    /// Every branch: under 32 bytes, the 32-byte stripes, and 8-, 4- and 1-byte tails.
    @Test(arguments: [
        (1, 0x1F25_C8D0_BC1F_4BB6, 0x7B75_C7A6_356B_0B4D),
        (3, 0x31D2_363F_52E5_64C9, 0xE422_054A_9BC4_3A06),
        (4, 0x9BB6_4B7D_66EE_9FDA, 0x1C13_05B5_83B5_E78C),
        (7, 0x9A7B_1499_59CE_60D8, 0x76C1_7F70_933C_79ED),
        (8, 0xDAB9_9D95_C6F9_0092, 0x9198_1F79_E1F7_D960),
        (12, 0xD52E_4078_33AF_5133, 0x24D9_35BE_81C7_2AB6),
        (31, 0xA2AA_5F33_CC4A_6119, 0x931D_F7FF_3B1D_1E4A),
        (32, 0x23C3_C17E_F790_FD97, 0x2CD9_B29B_F8EE_D6BF),
        (33, 0x50A7_CFC7_BA58_8784, 0xDBBA_C976_6BB3_ADF7),
        (63, 0x5E3E_54B4_31C7_493C, 0x4DC0_1BDA_FE25_FCBC),
        (64, 0x0EB6_4B3E_F6EE_B01F, 0xE907_17D2_8B13_C3E9),
        (65, 0xA383_B724_B2BD_12F1, 0xE75F_1116_C7E3_C58C),
        (100, 0xA61F_8D4C_170F_E531, 0x7D5C_A39D_FCFB_EACA),
    ] as [(Int, UInt64, UInt64)])
    func everyTailLengthMatchesReference(length: Int, unseeded: UInt64, maxSeeded: UInt64) {
        #expect(XXH64.hash(pattern(length)) == unseeded)
        #expect(XXH64.hash(pattern(length), seed: .max) == maxSeeded)
    }

    @Test func pointerAndArrayFormsAgreeAtAnyAlignment() async {
        await propertyCheck(input: Gen.uint8().array(of: 0...200), Gen.int(in: 0...7), Gen.uint64()) { bytes, shift, seed throws in
            // Hash the same bytes starting at an unaligned offset inside a larger buffer.
            let padded = [UInt8](repeating: 0xEE, count: shift) + bytes
            let viaPointer = padded.withUnsafeBytes { XXH64.hash(UnsafeRawBufferPointer(rebasing: $0[shift...]), seed: seed) }
            #expect(viaPointer == XXH64.hash(bytes, seed: seed))
        }
    }

    /// Replacing the first bytes (`hash(_:replacingFirst:with:)`, how a JSON key's length prefix is
    /// hashed in place) gives the digest of the bytes with that head written over them, for every
    /// head width, length (all tail shapes and 32-byte stripes) and seed.
    @Test func aReplacedHeadHashesAsTheBytesWithThatHead() async {
        await propertyCheck(input: Gen.uint8().array(of: 0...200), Gen.int(in: 0...8), Gen.uint64(), Gen.uint64()) {
            bytes, width, head, seed throws in
            let width = min(width, bytes.count)
            var written = bytes
            for i in 0..<width { written[i] = UInt8(truncatingIfNeeded: head >> UInt64(8 * i)) }
            let inPlace = bytes.withUnsafeBytes { XXH64.hash($0, replacingFirst: width, with: head, seed: seed) }
            #expect(inPlace == XXH64.hash(written, seed: seed))
        }
    }
}
