extension Dataset {
    /// A dataset of `transform` applied to every record, partitions kept.
    ///
    /// - Complexity: O(1) now; `transform` runs once per record each time the dataset runs.
    @inlinable
    public func map<T: Sendable>(_ transform: @escaping @Sendable (Element) throws -> T) -> Dataset<T> {
        let source = self.source
        return Dataset<T>(partitionCount: partitionCount, splits: splits) { p, split, sink in
            try source(p, split) { try sink(try transform($0)) }
        }
    }

    /// A dataset of the records for which `isIncluded` is true, partitions and order kept.
    @inlinable
    public func filter(_ isIncluded: @escaping @Sendable (Element) throws -> Bool) -> Dataset<Element> {
        let source = self.source
        return Dataset(partitionCount: partitionCount, splits: splits) { p, split, sink in
            try source(p, split) { if try isIncluded($0) { try sink($0) } }
        }
    }

    /// A dataset of the elements of the sequences `transform` returns, in order, partitions kept.
    @inlinable
    public func flatMap<S: Sequence>(_ transform: @escaping @Sendable (Element) throws -> S) -> Dataset<S.Element>
        where S.Element: Sendable
    {
        let source = self.source
        return Dataset<S.Element>(partitionCount: partitionCount, splits: splits) { p, split, sink in
            try source(p, split) { for element in try transform($0) { try sink(element) } }
        }
    }
}
