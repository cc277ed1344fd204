import Strata
import StrataStorage

/// Every block of `streams` in the store at `path`, in key order: a key naming its stream,
/// interval, partition and chunk, and the block's stored bytes. Tests that compare two stores
/// byte for byte (a resumed run against an uninterrupted one) compare these lists.
///
/// - Throws: `StorageError.unknownStream` for a stream the store does not hold; a storage error.
public func storedBlocks(at path: String, _ streams: [String]) throws -> [(key: String, bytes: [UInt8])] {
    let store = try Store.open(at: path)
    var blocks: [(key: String, bytes: [UInt8])] = []
    for name in streams {
        guard let descriptor = try store.logStore.descriptor(named: name) else { throw StorageError.unknownStream(name) }
        try store.logStore.forEachBlock(of: descriptor, fromInterval: Interval(0)) { key, bytes in
            blocks.append(("\(name) interval \(key.interval.rawValue) partition \(key.partition.rawValue) "
                + "chunk \(key.chunk.rawValue)", Array(bytes)))
            return true
        }
    }
    return blocks
}
