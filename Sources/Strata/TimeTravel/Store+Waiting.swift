import StrataStorage

extension Store {
    /// Waits until the stream `name` exists, created by this process or another one, and returns it.
    ///
    /// Streams made in other processes are seen by reading the catalog every `pollInterval`.
    /// This is for followers at the edge (`strata tail -f`), never for a vertex.
    ///
    /// - Parameters:
    ///   - name: The stream's name.
    ///   - timeout: How long to wait; `nil` waits until the task is cancelled.
    ///   - pollInterval: How often the catalog is read.
    /// - Throws: `TimeTravelError.timedOut`, `.storage` for an error other than an unknown stream,
    ///   `CancellationError`.
    public func waitForStream(named name: String, timeout: Duration? = nil, pollInterval: Duration = .milliseconds(50))
        async throws -> StreamInfo
    {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            if let found = try existingInfo(of: name) { return found }
            if let deadline, ContinuousClock.now >= deadline {
                throw TimeTravelError.timedOut(stream: name, waitingFor: "the stream to be created", after: timeout ?? .zero)
            }
            try await Task.sleep(for: pollInterval)
        }
    }

    /// The stream's info, or `nil` when there is no such stream.
    private func existingInfo(of name: String) throws(StorageError) -> StreamInfo? {
        do throws(StorageError) {
            return try info(of: name)
        } catch {
            if case .unknownStream = error { return nil }
            throw error
        }
    }
}

extension StoredStream {
    /// Waits until the stream has a readable interval, and returns the first one.
    ///
    /// An interval is readable once it is sealed and the stream has records from it on: an
    /// event-time stream may seal empty intervals before its first record (its watermark passed
    /// them), and those are not readable, so this waits past them.
    ///
    /// Seals made in this process wake the wait at once; seals made by other processes are seen
    /// within `pollInterval`. This is for followers at the edge (`strata tail -f`), never for a vertex.
    ///
    /// - Parameters:
    ///   - timeout: How long to wait; `nil` waits until the task is cancelled.
    ///   - pollInterval: How often other processes' seals are looked for.
    /// - Throws: `TimeTravelError.timedOut`, `.storage`, `CancellationError`.
    public func waitForReadableInterval(timeout: Duration? = nil, pollInterval: Duration = .milliseconds(50))
        async throws -> Interval
    {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            try Task.checkCancellation()
            let generation = store.sealSignal.current
            if let first = try frontier().firstReadable { return first }
            var wait = pollInterval
            if let deadline {
                let left = deadline - ContinuousClock.now
                if left <= .zero {
                    throw TimeTravelError.timedOut(stream: name, waitingFor: "its first sealed records", after: timeout ?? .zero)
                }
                wait = min(wait, left)
            }
            await store.sealSignal.wait(after: generation, timeout: wait)
        }
    }
}
