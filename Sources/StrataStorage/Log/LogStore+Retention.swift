extension LogStore {
    /// Applies a stream's retention now instead of at its next seal: drops the sealed intervals
    /// older than it keeps (and, with `cutBefore`, those before that interval too, keeping the
    /// newest sealed one at least), and returns the first retained interval before and after.
    ///
    /// - Throws: `.unknownStream`; `.lmdb` or `.storeFull` when the commit fails.
    package func applyRetentionNow(of name: String, cutBefore: Interval? = nil) throws(StorageError)
        -> (before: Interval, after: Interval)
    {
        try committer.write { [self] txn in
            guard let descriptor = try descriptor(named: name, in: txn) else { throw StorageError.unknownStream(name) }
            var frontier = try frontier(of: descriptor, in: txn)
            let before = frontier.retainedFrom
            try applyRetention(descriptor, frontier: &frontier, cutBefore: cutBefore, in: txn)
            if frontier.retainedFrom != before { try putFrontier(frontier, of: descriptor.id, txn) }
            return (before, frontier.retainedFrom)
        }
    }
}
