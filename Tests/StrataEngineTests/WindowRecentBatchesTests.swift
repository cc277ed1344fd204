import PropertyBased
@testable import StrataEngine
import StrataStorage
import Testing

/// `RecentBatches`, the batches an incremental `reduceByKeyAndWindow` keeps for when their
/// intervals leave the window: a batch taken is the one kept for that interval (the entering
/// batch `length` intervals before), and nothing else is returned.
@Suite struct WindowRecentBatchesTests {
    /// Intervals entering and leaving a window of `length` in order, with a restart (every batch
    /// forgotten) at interval `restartAt`: each leaving batch is the entering one `length` before.
    @Test func leavingBatchIsTheEnteringOne() async {
        await propertyCheck(count: 50, input: Gen.int(in: 1...6), Gen.int(in: 0...30), Gen.int(in: 0...40)) {
            length, restartAt, intervals in
            var recent = RecentBatches<Int64>()
            for t in 0..<intervals {
                if t == restartAt { recent = RecentBatches() }
                if t >= length {
                    let leaving = Interval(UInt64(t - length))
                    let taken = recent.take(leaving)
                    // Kept unless the restart came after it entered.
                    if t - length >= restartAt || restartAt > t {
                        #expect(taken == [Int64(t - length), -1])
                    } else {
                        #expect(taken == nil)
                    }
                }
                recent.keep(Interval(UInt64(t)), [Int64(t), -1])
            }
        }
    }

    /// Taking an interval never kept returns nothing, and drops only earlier batches; keeping an
    /// interval at or before the newest kept starts afresh; a batch beyond the bound is not kept.
    @Test func missesAndBounds() {
        var recent = RecentBatches<Int64>()
        recent.keep(Interval(3), [3])
        recent.keep(Interval(4), [4])
        recent.keep(Interval(6), [6])
        #expect(recent.take(Interval(5)) == nil)  // drops 3 and 4
        #expect(recent.take(Interval(4)) == nil)
        #expect(recent.take(Interval(6)) == [6])
        recent.keep(Interval(7), [7])
        recent.keep(Interval(7), [70])  // again: afresh
        #expect(recent.take(Interval(7)) == [70])
        recent.keep(Interval(8), [8])
        recent.keep(Interval(2), [2])  // out of order: afresh
        #expect(recent.take(Interval(8)) == nil)
        #expect(recent.take(Interval(2)) == nil)

        // The bound counts the arrays' capacity (at least their count; malloc may round it up).
        let limit = RecentBatches<Int64>.limitBytes / MemoryLayout<Int64>.stride
        let big = ContiguousArray<Int64>(repeating: 1, count: limit)
        let small: ContiguousArray<Int64> = [2]
        recent.keep(Interval(10), big)  // fills the bound (or is over it, and is not kept)
        recent.keep(Interval(11), small)  // kept only when 10 was not
        let bigKept = big.capacity <= limit
        let smallKept = (bigKept ? big.capacity : 0) + small.capacity <= limit
        #expect(!(bigKept && smallKept))
        #expect(recent.take(Interval(11)) == (smallKept ? small : nil))
        recent.keep(Interval(12), [3])
        #expect(recent.take(Interval(12)) == [3])  // 10's records were dropped by the take of 11
    }
}
