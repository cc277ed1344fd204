import Glibc

// The benchmark's data set: seeded, deterministic page views. The same seed gives the same
// events in every process and on every machine (own PRNG, no `Hasher`, no system randomness),
// so the library path (typed `PageView` values) and the CLI path (JSON lines) see the same events.

/// SplitMix64, used only to expand a seed into xoshiro's state.
struct SplitMix64 {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** (Blackman and Vigna), seeded through SplitMix64.
struct Xoshiro256 {
    var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    init(seed: UInt64) {
        var mix = SplitMix64(state: seed)
        s0 = mix.next(); s1 = mix.next(); s2 = mix.next(); s3 = mix.next()
    }

    @inline(__always)
    mutating func next() -> UInt64 {
        let result = Self.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = Self.rotl(s3, 45)
        return result
    }

    @inline(__always)
    static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// A value in `0..<bound` from the high bits of one draw (multiply-shift; the bias is below 2⁻³²).
    @inline(__always)
    static func bounded(_ random: UInt64, _ bound: UInt64) -> UInt64 { random.multipliedFullWidth(by: bound).high }
}

/// Walker/Vose alias table: draws an index with given weights in O(1).
///
/// Built in a fixed order with IEEE doubles, so the same weights give the same table everywhere.
struct AliasTable {
    /// Per slot: keep the slot when the low 32 bits of a draw are below this threshold.
    private(set) var threshold: [UInt32]
    /// Per slot: the index taken otherwise.
    private(set) var alias: [UInt32]

    init(weights: [Double]) {
        let n = weights.count
        precondition(n > 0 && n <= Int(UInt32.max))
        let total = weights.reduce(0, +)
        var scaled = weights.map { $0 * Double(n) / total }
        var small: [Int] = [], large: [Int] = []
        for i in 0..<n { if scaled[i] < 1 { small.append(i) } else { large.append(i) } }
        var probability = [Double](repeating: 1, count: n)
        var alias = [UInt32](repeating: 0, count: n)
        for i in 0..<n { alias[i] = UInt32(i) }
        while let s = small.popLast(), let l = large.last {
            probability[s] = scaled[s]
            alias[s] = UInt32(l)
            scaled[l] = (scaled[l] + scaled[s]) - 1
            if scaled[l] < 1 {
                large.removeLast()
                small.append(l)
            }
        }
        // Whatever is left holds probability 1 up to rounding.
        self.alias = alias
        threshold = probability.map { p in p >= 1 ? UInt32.max : UInt32(p * 4_294_967_296.0) }
    }

    var count: Int { threshold.count }

    /// One index, from one 64-bit draw: the high bits pick the slot, the low 32 bits the coin.
    @inline(__always)
    func sample(_ random: UInt64) -> Int {
        let slot = Int(Xoshiro256.bounded(random, UInt64(threshold.count)))
        return UInt32(truncatingIfNeeded: random) < threshold[slot] ? slot : Int(alias[slot])
    }
}

/// One generated event before it becomes a `PageView` or a JSON line.
struct GeneratedEvent {
    /// Milliseconds since the Unix epoch.
    var ts: Int64
    /// Index into `PageViewGenerator.urls`.
    var url: Int
    var user: UInt64
    /// Index into `PageViewGenerator.eventNames`.
    var ev: UInt8
}

/// The seeded page-view generator.
///
/// - `ts` starts at `startMs` and advances by `1000 / rate` ms per event (exactly: event `i`
///   has `startMs + ⌊i·1000 / rate⌋`), so a 1 s interval holds `rate` events.
/// - `url` is one of `urlCount` pages `/products/ID`, ID a seeded permutation of
///   `1000..<1000+urlCount`, drawn Zipf-distributed by rank (weight `1/rank^s`, s = 1).
/// - `user` is uniform in `1...100_000`.
/// - `ev` is view 80 %, click 12 %, add 6 %, buy 2 %.
struct PageViewGenerator {
    static let eventNames = ["view", "click", "add", "buy"]
    static let userCount: UInt64 = 100_000
    /// Event kinds by the low 32 bits of a draw: below 80 % view, then click, add, buy.
    static let eventThresholds: (UInt32, UInt32, UInt32) = (
        UInt32(0.80 * 4_294_967_296.0), UInt32(0.92 * 4_294_967_296.0), UInt32(0.98 * 4_294_967_296.0)
    )
    /// The default start of event time: 2025-11-23 12:13:20 UTC.
    static let defaultStartMs: Int64 = 1_763_900_000_000

    /// The urls, by rank: `urls[0]` is the most popular.
    let urls: [String]
    let startMs: Int64
    let rate: UInt64
    private let table: AliasTable
    private var rng: Xoshiro256
    private var ts: Int64
    private var fraction: UInt64 = 0

    init(seed: UInt64, startMs: Int64 = defaultStartMs, rate: UInt64 = 100_000, urlCount: Int = 10_000,
         zipfExponent: Double = 1.0) {
        precondition(rate > 0 && urlCount > 0)
        self.startMs = startMs
        self.rate = rate
        ts = startMs
        // The url table comes from its own stream of the seed, so changing the event draws
        // never reshuffles pages.
        var shuffle = Xoshiro256(seed: seed ^ 0x5EED_5EED_5EED_5EED)
        var ids = Array(1000..<(1000 + urlCount))
        if urlCount > 1 {
            for i in stride(from: urlCount - 1, to: 0, by: -1) {
                let j = Int(Xoshiro256.bounded(shuffle.next(), UInt64(i + 1)))
                ids.swapAt(i, j)
            }
        }
        urls = ids.map { "/products/\($0)" }
        table = AliasTable(weights: (0..<urlCount).map { pow(Double($0 + 1), -zipfExponent) })
        rng = Xoshiro256(seed: seed)
    }

    /// The next event.
    @inline(__always)
    mutating func next() -> GeneratedEvent {
        let a = rng.next(), b = rng.next()
        let url = table.sample(a)
        let user = Xoshiro256.bounded(b, Self.userCount) &+ 1
        let coin = UInt32(truncatingIfNeeded: b)
        let t = Self.eventThresholds
        let ev: UInt8 = coin < t.0 ? 0 : coin < t.1 ? 1 : coin < t.2 ? 2 : 3
        let event = GeneratedEvent(ts: ts, url: url, user: user, ev: ev)
        fraction &+= 1000
        while fraction >= rate {
            fraction -= rate
            ts &+= 1
        }
        return event
    }

    /// The next event as a typed record (its url shares the table's string: no allocation).
    @inline(__always)
    mutating func nextPageView() -> PageView {
        let e = next()
        return PageView(ts: e.ts, url: urls[e.url], user: e.user, ev: e.ev)
    }
}

/// Renders generated events as JSON lines into a large buffer and writes it with write(2).
///
/// `{"ts":1763900000000,"url":"/products/1234","user":48213,"ev":"view"}` — field order and
/// spelling fixed; every url's middle part (`,"url":"…","user":`) is rendered once up front.
struct JSONLineWriter: ~Copyable {
    private let fd: Int32
    private let buffer: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    private var count = 0
    /// Per url: `,"url":"/products/1234","user":`, concatenated; `segmentStart[i]..<segmentStart[i+1]`.
    private let segments: UnsafeMutablePointer<UInt8>
    private let segmentStart: [Int]
    /// Per event kind: `,"ev":"view"}\n`.
    private let tails: [[UInt8]]
    private let maxLine: Int
    /// `{"ts":` and the digits of `cachedTs`.
    private var tsPrefix: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var tsPrefixLength = 0
    private var cachedTs: Int64 = .min
    /// Bytes written so far.
    private(set) var bytesWritten = 0

    init(fd: Int32, urls: [String], bufferBytes: Int = 8 << 20) {
        self.fd = fd
        var starts = [0]
        var flat: [UInt8] = []
        for url in urls {
            flat += Array(",\"url\":\"".utf8) + Array(url.utf8) + Array("\",\"user\":".utf8)
            starts.append(flat.count)
        }
        segments = .allocate(capacity: max(flat.count, 1))
        segments.initialize(from: flat, count: flat.count)
        segmentStart = starts
        tails = PageViewGenerator.eventNames.map { Array(",\"ev\":\"\($0)\"}\n".utf8) }
        let longestSegment = zip(starts.dropFirst(), starts).map { $0 - $1 }.max() ?? 0
        maxLine = 32 + longestSegment + 24 + (tails.map(\.count).max() ?? 0)
        capacity = max(bufferBytes, maxLine * 4)
        buffer = .allocate(capacity: capacity)
    }

    deinit {
        buffer.deallocate()
        segments.deallocate()
    }

    /// Appends one line, writing the buffer out when it is nearly full.
    @inline(__always)
    mutating func append(_ e: GeneratedEvent) throws(SystemError) {
        if capacity - count < maxLine { try flush() }
        if e.ts != cachedTs { renderTs(e.ts) }
        var p = buffer + count
        withUnsafeBytes(of: tsPrefix) { p.update(from: $0.baseAddress!.assumingMemoryBound(to: UInt8.self), count: tsPrefixLength) }
        p += tsPrefixLength
        let s = segmentStart[e.url], n = segmentStart[e.url + 1] - s
        p.update(from: segments + s, count: n)
        p += n
        p += Self.writeDecimal(e.user, to: p)
        tails[Int(e.ev)].withUnsafeBufferPointer { t in p.update(from: t.baseAddress!, count: t.count) }
        p += tails[Int(e.ev)].count
        count = p - buffer
    }

    private mutating func renderTs(_ ts: Int64) {
        cachedTs = ts
        var scratch = [UInt8](repeating: 0, count: 32)
        let head = Array("{\"ts\":".utf8)
        var length = head.count
        scratch.withUnsafeMutableBufferPointer { out in
            for (i, b) in head.enumerated() { out[i] = b }
            if ts < 0 {
                out[length] = UInt8(ascii: "-")
                length += 1
            }
            length += Self.writeDecimal(ts.magnitude, to: out.baseAddress! + length)
        }
        precondition(length <= 32)
        withUnsafeMutableBytes(of: &tsPrefix) { raw in
            raw.copyBytes(from: scratch[0..<length])
        }
        tsPrefixLength = length
    }

    /// Writes `value` in decimal at `p`; returns the digit count.
    @inline(__always)
    static func writeDecimal(_ value: UInt64, to p: UnsafeMutablePointer<UInt8>) -> Int {
        var digits = 1
        var v = value
        while v >= 10 {
            v /= 10
            digits += 1
        }
        v = value
        var i = digits - 1
        while i >= 0 {
            p[i] = UInt8(truncatingIfNeeded: v % 10) &+ 48
            v /= 10
            i -= 1
        }
        return digits
    }

    /// Writes the buffered bytes out, retrying short writes.
    mutating func flush() throws(SystemError) {
        var offset = 0
        while offset < count {
            let n = Glibc.write(fd, buffer + offset, count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError(call: "write", code: errno)
            }
            offset += n
        }
        bytesWritten += count
        count = 0
    }
}

/// A failed system call.
struct SystemError: Error, CustomStringConvertible {
    var call: String
    var code: Int32
    var description: String { "\(call): \(String(cString: strerror(code)))" }
}
