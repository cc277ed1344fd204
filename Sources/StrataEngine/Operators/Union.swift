import StrataStorage

extension DStream {
    /// The records of this stream and of `others`, interval by interval: partition `p` of the
    /// union is partition `p` of this stream followed by partition `p` of each of `others`, in
    /// argument order. Narrow: no shuffle; it fuses with the operators around it.
    ///
    /// Every stream must come from the same program, have the same partition count and the same
    /// interval length (`repartition` first otherwise); a mismatch fails the program's
    /// definition. The union's vertex reads all the streams' inputs and processes an interval
    /// once every one of them sealed it.
    ///
    /// - Complexity: O(records) per interval.
    public func union(_ others: DStream<Record>...) -> DStream<Record> {
        var inputs = self.inputs
        var chain = "union(" + self.chain
        var parts = [produce]
        var everyInterval = needsEveryInterval
        for other in others {
            guard other.builder === builder, other.partitionCount == partitionCount,
                  other.input.intervalLength == input.intervalLength
            else {
                builder.fail(EngineError.misuse(
                    "union: streams must share the program, the partition count (\(partitionCount) vs "
                    + "\(other.partitionCount)) and the interval length (\(input.intervalLength) vs "
                    + "\(other.input.intervalLength))"))
                return invalid("union")
            }
            for descriptor in other.inputs where !inputs.contains(where: { $0.name == descriptor.name }) {
                inputs.append(descriptor)
            }
            chain += "," + other.chain
            parts.append(other.produce)
            everyInterval = everyInterval || other.needsEveryInterval
        }
        return DStream(builder: builder, inputs: inputs, partitionCount: partitionCount,
                       needsEveryInterval: everyInterval, chain: chain + ")") { [parts] interval, partition, codec in
            var output = try parts[0](interval, partition, &codec)
            for part in parts.dropFirst() { output.append(contentsOf: try part(interval, partition, &codec)) }
            return output
        }
    }
}
