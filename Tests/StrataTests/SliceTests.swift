import StrataTestSupport
import Testing

@testable import Strata

/// Slices by interval and by time, and the errors of ranges that cannot be read.
@Suite struct SliceTests {
    typealias Counts = KeyValue<String, Int64>

    /// 2026-11-23T21:00:00Z in seconds: the interval index of that second on a 1 s stream.
    static let nine = UInt64(1_795_467_600)

    /// A 1 s stream of counts with one record per interval from 20:58 to 21:07 UTC, 2026-11-23:
    /// `/t<seconds since 20:58>` with value `seconds mod 97`.
    func withCounts<R>(_ body: (Store, StoredStream<Counts>) throws -> R) throws -> R {
        try withStore { store in
            let counts = try store.stream("urlCounts", of: Counts.self, interval: .seconds(1), partitions: 4)
            let appender = try counts.explicitAppender()
            for s in 0..<600 as Range<UInt64> {
                try appender.append(Counts("/t\(s)", Int64(s % 97)), interval: Interval(Self.nine - 120 + s))
            }
            try appender.seal(through: Interval(Self.nine - 120 + 599))
            return try body(store, counts)
        }
    }

    @Test func timesOfDayMakeAHalfOpenRangeOnTheNewestIntervalsDay() throws {
        try withCounts { (_: Store, counts: StoredStream<Counts>) throws in
            let range = try counts.intervals(of: SliceRange(from: "21:00", to: "21:05"))
            #expect(range == Interval(Self.nine)...Interval(Self.nine + 299))
            #expect(try counts.slice("21:00", "21:05").count() == 300)
            #expect(try counts.slice("21:00:30", "21:00:31.5").count() == 2)
        }
    }

    @Test func theSeedsExampleRanksByValueThenKey() throws {
        try withCounts { (_: Store, counts: StoredStream<Counts>) throws in
            let top = try counts.slice("21:00", "21:05").topK(10)
            // Seconds 120…419 since 20:58; value s mod 97 is 96 for s = 193, 290, 387, then 95 …
            #expect(top.map(\.value) == [96, 96, 96, 95, 95, 95, 94, 94, 94, 93])
            #expect(top.prefix(3).map(\.key) == ["/t193", "/t290", "/t387"])
        }
    }

    @Test func isoTimesZonesAndExplicitDaysAgree() throws {
        try withCounts { (_: Store, counts: StoredStream<Counts>) throws in
            let utc = try counts.intervals(of: SliceRange(from: "21:00", to: "21:05"))
            #expect(try counts.intervals(of: SliceRange(from: "2026-11-23T21:00:00Z", to: "2026-11-23T21:05:00Z")) == utc)
            #expect(try counts.intervals(of: SliceRange(from: "2026-11-23T22:00+01:00", to: "2026-11-23T22:05+01:00")) == utc)
            #expect(try counts.intervals(of: SliceRange(from: "22:00", to: "22:05", zone: "Europe/Paris")) == utc)
            #expect(try counts.intervals(of: SliceRange(from: "22:00", to: "22:05", zone: "+01:00")) == utc)
            #expect(try counts.intervals(of: SliceRange(from: "2026-11-23T22:00", to: "2026-11-23T22:05", zone: "+0100")) == utc)
            #expect(try counts.intervals(of: SliceRange(from: "21:00", to: "21:05", on: "2026-11-23")) == utc)
            let dayBefore = try SliceRange(from: "21:00", to: "21:05", on: "2026-11-22")
                .intervals(length: .seconds(1), newestSealed: nil, stream: "urlCounts")
            #expect(dayBefore.lowerBound.rawValue == Self.nine - 86_400)
        }
    }

    @Test func indicesAreInclusiveAndMixWithTimes() throws {
        try withCounts { (_: Store, counts: StoredStream<Counts>) throws in
            #expect(try counts.slice("\(Self.nine)", "\(Self.nine + 4)").count() == 5)
            #expect(try counts.intervals(of: SliceRange(from: "\(Self.nine)", to: "21:00:10"))
                == Interval(Self.nine)...Interval(Self.nine + 9))
        }
    }

    @Test func timesOfDayThatWrapSpanMidnight() throws {
        let range = try SliceRange(from: "23:55", to: "00:05", on: "2026-11-23")
            .intervals(length: .seconds(60), newestSealed: nil, stream: "s")
        #expect(range.upperBound.rawValue - range.lowerBound.rawValue + 1 == 10)
    }

    @Test func rangesThatCannotBeReadAreTypedErrors() throws {
        try withCounts { (store: Store, counts: StoredStream<Counts>) throws in
            #expect(throws: TimeTravelError.storage(.beforeStreamStart(
                StoreLocation(stream: "urlCounts", interval: Interval(Self.nine - 121)), firstInterval: Interval(Self.nine - 120)))) {
                try counts.slice("20:57:59", "21:00")
            }
            #expect(throws: TimeTravelError.storage(.notSealed(
                StoreLocation(stream: "urlCounts", interval: Interval(Self.nine + 600)), newestSealed: Interval(Self.nine + 479)))) {
                try counts.slice("21:00", "21:10:01")
            }
            #expect(throws: TimeTravelError.emptyRange(from: "2026-11-23T21:05Z", to: "2026-11-23T21:05Z")) {
                try counts.slice("2026-11-23T21:05Z", "2026-11-23T21:05Z")
            }
            #expect(throws: TimeTravelError.emptyRange(from: "\(Self.nine + 1)", to: "\(Self.nine)")) {
                try counts.slice("\(Self.nine + 1)", "\(Self.nine)")
            }
            #expect(throws: TimeTravelError.unknownTimeZone("Mars/Olympus")) {
                try counts.slice("21:00", "21:05", zone: "Mars/Olympus")
            }
            #expect(throws: TimeTravelError.self) { try counts.slice("9pm", "21:05") }
            #expect(throws: TimeTravelError.self) { try counts.slice("21:00", "24:00") }
            #expect(throws: TimeTravelError.self) { try counts.slice("2026-02-30T21:00", "21:05") }

            let change = try store.retain(.intervals(60), of: "urlCounts")
            #expect(change.retainedFromAfter == Interval(Self.nine + 420))
            #expect(throws: TimeTravelError.storage(.outsideRetention(
                StoreLocation(stream: "urlCounts", interval: Interval(Self.nine)), retainedFrom: Interval(Self.nine + 420)))) {
                try counts.slice("21:00", "21:05")
            }
            #expect(try counts.slice("21:07", "21:08").count() == 60)
        }
    }

    @Test func aBareTimeNeedsASealedIntervalOrADay() throws {
        try withStore { store in
            let empty = try store.stream("empty", of: Int64.self, interval: .seconds(1), partitions: 1)
            #expect(throws: TimeTravelError.noDayForTimeOfDay(stream: "empty")) { try empty.slice("21:00", "21:05") }
        }
    }
}
