import StrataStorage

/// How fast `reEmit` yields intervals.
///
/// `ReEmitPace` is `Sendable`; it is a plain value.
public enum ReEmitPace: Sendable, Equatable {
    /// As fast as they can be read.
    case fullSpeed
    /// At the pace they were made: one interval length between intervals, divided by `speed`
    /// (`2` is twice as fast, `0.5` half as fast). Interval `from + i` is due `i × length / speed`
    /// after the first, so slow reads do not add up to drift. `speed` must be within
    /// `ReEmitPace.speeds`.
    case original(speed: Double)

    /// The speed factors a paced re-emission or replay accepts: from a thousand times slower than
    /// the original to a million times faster. Outside them a pace is not a pace (one interval in
    /// centuries, or faster than a read), and the arithmetic of due times loses its meaning.
    public static let speeds: ClosedRange<Double> = 0.001...1_000_000
}

extension StoredStream {
    /// Re-emits the sealed intervals from `from` on, in order, each as one batch (empty intervals
    /// included, so that a paced re-emission keeps time).
    ///
    /// Without `through`, it ends at the newest interval sealed when it reaches it; with `follow`,
    /// it then keeps yielding intervals as they are sealed (`sealedIntervals(from:)`), until the
    /// consumer stops iterating.
    ///
    /// ```swift
    /// for try await batch in views.reEmit(from: Interval(100), pace: .original(speed: 10)) {
    ///     print(batch.interval, batch.count)
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - from: The first interval to yield.
    ///   - through: The last interval to yield; it must be sealed by the time it is due.
    ///   - pace: `.fullSpeed` or the original pace scaled by a speed factor.
    ///   - follow: Keep going as new intervals are sealed (ignored with `through`).
    /// - Returns: A sequence that ends with `TimeTravelError.storage(…)` when an interval cannot be
    ///   read: outside retention, before the stream began, or not sealed when `through` asks for it;
    ///   with `TimeTravelError.storage(.misuse(…))` at once for a speed outside `ReEmitPace.speeds`.
    public func reEmit(from: Interval, through: Interval? = nil, pace: ReEmitPace = .fullSpeed, follow: Bool = false)
        -> AsyncThrowingStream<IntervalBatch<Record>, any Error>
    {
        let stream = self
        let length = descriptor.intervalLength.rawValue
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let clock = ContinuousClock()
                    let start = clock.now
                    var emitted: Int64 = 0
                    func waitForTurn() async throws {
                        guard case .original(let speed) = pace else { return }
                        try await clock.sleep(until: start + Self.dueOffset(length: length, emitted: emitted, speed: speed))
                    }
                    if case .original(let speed) = pace, !ReEmitPace.speeds.contains(speed) {
                        throw StorageError.misuse("the re-emission speed must be within \(ReEmitPace.speeds.lowerBound)"
                                                  + "…\(Int(ReEmitPace.speeds.upperBound)), not \(speed)")
                    }
                    if let through {
                        try stream.checkSliceable(from...through)
                    } else if try stream.frontier().sealedThrough.map({ from <= $0 }) ?? false {
                        try stream.checkSliceable(from...from)
                    }
                    var next = from
                    var reachedThrough = false
                    // Intervals already sealed.
                    while !Task.isCancelled {
                        let newest = try stream.frontier().sealedThrough
                        guard let newest, next <= newest else { break }
                        try await waitForTurn()
                        continuation.yield(try stream.read(next))
                        emitted += 1
                        if next == through {
                            reachedThrough = true
                            break
                        }
                        next = next.next
                    }
                    if follow && through == nil {
                        for try await batch in stream.sealedIntervals(from: next) {
                            try await waitForTurn()
                            continuation.yield(batch)
                            emitted += 1
                        }
                    } else if through != nil, !reachedThrough, !Task.isCancelled {
                        throw TimeTravelError.storage(.notSealed(StoreLocation(stream: stream.name, interval: next),
                                                                 newestSealed: try stream.frontier().sealedThrough))
                    }
                    continuation.finish()
                } catch let error as StorageError {
                    continuation.finish(throwing: TimeTravelError.storage(error))
                } catch is CancellationError {
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// When interval `emitted` (counted from 0) is due after the first, at `speed`: saturating at
    /// `Int64.max` nanoseconds (about 292 years) instead of trapping on a huge quotient.
    static func dueOffset(length: UInt64, emitted: Int64, speed: Double) -> Duration {
        let nanoseconds = Double(length) * Double(emitted) / speed
        guard nanoseconds.isFinite, nanoseconds < 9.2e18 else { return .nanoseconds(Int64.max) }
        return .nanoseconds(Int64(max(0, nanoseconds)))
    }
}
