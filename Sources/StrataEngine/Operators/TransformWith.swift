import StrataStorage

extension DStream {
    /// Derives each interval's batch from this stream's and `other`'s batches of the same
    /// interval, partition by partition (Spark's `transformWith`): `transform` gets the interval,
    /// the partition `p`, partition `p` of this stream and partition `p` of `other`.
    ///
    /// Both streams must come from the same program, have the same partition count and the same
    /// interval length (`repartition` first otherwise); a mismatch fails the program's definition.
    /// Narrow: no shuffle; the vertex reads both streams' inputs and processes an interval once
    /// all of them sealed it, if any has records in it. A stream whose input has not begun gives
    /// an empty batch. `transform` must be deterministic (see `transform(_:)`).
    ///
    /// ```swift
    /// let flagged = clicks.transform(with: blocked) { _, _, clicks, blocked in
    ///     let users = Set(blocked)
    ///     return clicks.filter { users.contains($0.user) }
    /// }
    /// ```
    ///
    /// - Complexity: one call of `transform` per (interval, partition).
    public func transform<Other: RecordCodable, Out: RecordCodable>(
        with other: DStream<Other>,
        _ transform: @escaping @Sendable (Interval, PartitionIndex, ContiguousArray<Record>, ContiguousArray<Other>)
            throws -> ContiguousArray<Out>
    ) -> DStream<Out> {
        self.transform(with: other, chained: "", transform)
    }

    /// `transform(with:_:)` whose closure is described by `definition`, part of the vertex
    /// fingerprint (see `transform(definition:_:)`).
    ///
    /// - Complexity: one call of `transform` per (interval, partition).
    public func transform<Other: RecordCodable, Out: RecordCodable>(
        with other: DStream<Other>, definition: String,
        _ transform: @escaping @Sendable (Interval, PartitionIndex, ContiguousArray<Record>, ContiguousArray<Other>)
            throws -> ContiguousArray<Out>
    ) -> DStream<Out> {
        self.transform(with: other, chained: ",\(definition.count):\(definition)", transform)
    }

    private func transform<Other: RecordCodable, Out: RecordCodable>(
        with other: DStream<Other>, chained suffix: String,
        _ transform: @escaping @Sendable (Interval, PartitionIndex, ContiguousArray<Record>, ContiguousArray<Other>)
            throws -> ContiguousArray<Out>
    ) -> DStream<Out> {
        guard other.builder === builder, other.partitionCount == partitionCount,
              other.input.intervalLength == input.intervalLength
        else {
            builder.fail(EngineError.misuse(
                "transform(with:): streams must share the program, the partition count (\(partitionCount) vs "
                + "\(other.partitionCount)) and the interval length (\(input.intervalLength) vs "
                + "\(other.input.intervalLength))"))
            return invalid("transformWith")
        }
        var inputs = self.inputs
        for descriptor in other.inputs where !inputs.contains(where: { $0.name == descriptor.name }) {
            inputs.append(descriptor)
        }
        let left = produce, right = other.produce
        return DStream<Out>(builder: builder, inputs: inputs, partitionCount: partitionCount,
                            needsEveryInterval: needsEveryInterval || other.needsEveryInterval,
                            chain: "transformWith(\(chain),\(other.chain)\(suffix))") { interval, partition, codec in
            let mine = try left(interval, partition, &codec)
            let theirs = try right(interval, partition, &codec)
            return try transform(interval, partition, mine, theirs)
        }
    }
}
