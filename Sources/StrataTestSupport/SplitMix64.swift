/// SplitMix64: a small, seeded pseudo-random sequence, the same on every platform and in every
/// process, for tests that need reproducible "random" choices (kill moments, damaged bytes) or
/// bytes that LZ4 cannot compress. Never system randomness in tests.
///
/// `SplitMix64` is a `Sendable` value; copies continue the same sequence independently.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The generator's state; the next value is derived from it.
    public var state: UInt64

    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 pseudo-random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<bound`.
    ///
    /// - Precondition: `bound` is positive.
    public mutating func next(upTo bound: Int) -> Int {
        precondition(bound > 0, "SplitMix64.next(upTo:) needs a positive bound")
        return Int(next() % UInt64(bound))
    }

    /// `count` pseudo-random bytes (eight per step): data that does not compress.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        var words = [UInt64](repeating: 0, count: (count + 7) / 8)
        for i in words.indices { words[i] = next() }
        return words.withUnsafeBytes { Array($0.prefix(count)) }
    }
}
