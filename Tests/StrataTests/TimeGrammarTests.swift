import Foundation
import PropertyBased
import Strata
import Testing

/// The one time grammar (`SliceBound`, `SliceRange`): every form, resolved against a fixed present.
@Suite struct TimeGrammarTests {
    /// 2026-11-23T21:00:00Z.
    static let nine: Int64 = 1_795_467_600
    static let second = IntervalLength.seconds(1)

    func resolve(_ from: String, _ to: String, now: Int64 = nine * 1_000_000_000 + 500_000_000,
                 first: UInt64 = 1_795_467_000, newest: UInt64 = 1_795_467_599) throws -> ClosedRange<UInt64> {
        let range = try SliceRange(from: from, to: to, now: Timestamp(rawValue: now))
        let r = try range.intervals(length: Self.second, newestSealed: Interval(newest), firstReadable: Interval(first),
                                    stream: "s")
        return r.lowerBound.rawValue...r.upperBound.rawValue
    }

    @Test func everyFormParses() throws {
        #expect(try SliceBound(parsing: "now") == .relative(nanoseconds: 0))
        #expect(try SliceBound(parsing: "-5m") == .relative(nanoseconds: -300_000_000_000))
        #expect(try SliceBound(parsing: "-250ms") == .relative(nanoseconds: -250_000_000))
        #expect(try SliceBound(parsing: "-1d") == .relative(nanoseconds: -86_400_000_000_000))
        #expect(try SliceBound(parsing: "beginning") == .beginning)
        #expect(try SliceBound(parsing: "end") == .end)
        #expect(try SliceBound(parsing: "2026-11-23") == .localDateTime(year: 2026, month: 11, day: 23, nanosecondOfDay: 0))
        for bad in ["-5", "-m", "--5m", "-5x", "soon", "25:00", "2026-13-01", "-99999999999999d"] {
            #expect(throws: TimeTravelError.self, "\(bad)") { try SliceBound(parsing: bad) }
        }
    }

    @Test func relativeTimesAndEndsResolveAgainstTheGivenPresentAndTheStream() throws {
        // now = 21:00:00.5; -10s = 20:59:50.5 (interval …590); [that, now) ends in interval …600.
        #expect(try resolve("-10s", "now") == 1_795_467_590...1_795_467_600)
        #expect(try resolve("beginning", "end") == 1_795_467_000...1_795_467_599)
        #expect(try resolve("-1m", "end") == 1_795_467_540...1_795_467_599)
        #expect(try resolve("1795467100", "end") == 1_795_467_100...1_795_467_599)
        let point = try SliceRange.point("-30s", now: Timestamp(rawValue: Self.nine * 1_000_000_000))
        #expect(try point.intervals(length: Self.second, newestSealed: nil, stream: "s") == Interval(1_795_467_570)...Interval(1_795_467_570))
        #expect(throws: TimeTravelError.nothingReadable(stream: "s", bound: "beginning")) {
            try SliceRange(from: "beginning", to: "end").intervals(length: Self.second, newestSealed: nil, stream: "s")
        }
        #expect(throws: TimeTravelError.self) { try resolve("now", "now") }
    }

    @Test func relativeRangesCoverTheIntervalsOverlappingThem() async {
        // [now - a, now - b) on 1 s intervals: from ⌊(now-a)/1s⌋ through ⌊(now-b-1ns)/1s⌋.
        let offsets = zip(Gen.int64(in: 1...100_000), Gen.int64(in: 0...99_999), Gen.int64(in: 0...999_999_999))
        await propertyCheck(input: offsets) { a, b, fraction in
            guard a > b else { return }
            let now = Self.nine * 1_000_000_000 + fraction
            let range = try? resolve("-\(a)ms", "-\(b)ms", now: now)
            let from = (now - a * 1_000_000) / 1_000_000_000, to = (now - b * 1_000_000 - 1) / 1_000_000_000
            #expect(range == UInt64(from)...UInt64(to))
        }
    }
}
