import StrataStorage

/// Two records side by side: the value of a joined or co-grouped key (`first` from the stream
/// the operator was called on, `second` from the other one).
///
/// Encoded as `first` then `second`.
public struct Pair<First: RecordCodable, Second: RecordCodable>: RecordCodable {
    /// The left-hand record.
    public var first: First
    /// The right-hand record.
    public var second: Second
    /// Creates a pair.
    @inlinable public init(_ first: First, _ second: Second) {
        self.first = first
        self.second = second
    }
    /// Encodes `first`, then `second`.
    @inlinable public func encode(to writer: inout BinaryWriter) {
        first.encode(to: &writer)
        second.encode(to: &writer)
    }
    /// Decodes `first`, then `second`.
    @inlinable public init(from reader: inout BinaryReader) throws(RecordDecodingError) {
        first = try First(from: &reader)
        second = try Second(from: &reader)
    }
}
extension Pair: Equatable where First: Equatable, Second: Equatable {}
extension Pair: Hashable where First: Hashable, Second: Hashable {}
