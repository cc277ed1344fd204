import StrataStorage

// The storage layer's shared value types, under the names users of `Strata` see.

/// The index of a time slice of a stream, counted from the Unix epoch.
public typealias Interval = StrataStorage.Interval
/// One shard of an interval's records.
public typealias PartitionIndex = StrataStorage.PartitionIndex
/// The store-wide identifier of a stream.
public typealias StreamID = StrataStorage.StreamID
/// A point in time, nanoseconds since the Unix epoch.
public typealias Timestamp = StrataStorage.Timestamp
/// The length of every interval of a stream.
public typealias IntervalLength = StrataStorage.IntervalLength
/// A value a stream stores, with its binary encoding.
public typealias RecordCodable = StrataStorage.RecordCodable
/// A record that carries its own partition key.
public typealias KeyedRecord = StrataStorage.KeyedRecord
/// The byte buffer records encode into.
public typealias BinaryWriter = StrataStorage.BinaryWriter
/// The reader records decode from.
public typealias BinaryReader = StrataStorage.BinaryReader
/// Why a record's bytes did not decode.
public typealias RecordDecodingError = StrataStorage.RecordDecodingError
/// A key and a value.
public typealias KeyValue = StrataStorage.KeyValue
/// Raw bytes as a record value.
public typealias Bytes = StrataStorage.Bytes
/// A schema-less JSON record.
public typealias JSONRecord = StrataStorage.JSONRecord
/// Every error the storage layer throws.
public typealias StorageError = StrataStorage.StorageError
/// An error that may carry a storage error (see `StrataStorage.StorageErrorCarrying`).
public typealias StorageErrorCarrying = StrataStorage.StorageErrorCarrying
/// What was wrong with bytes read from disk.
public typealias Corruption = StrataStorage.Corruption
/// Where in a store something is.
public typealias StoreLocation = StrataStorage.StoreLocation
/// How a numeric time field of a JSON stream is read.
public typealias TimeUnit = StrataStorage.TimeUnit
/// How a JSON stream's key field chooses each line's partition.
public typealias KeyPlacement = StrataStorage.KeyPlacement
/// How a store is opened.
public typealias StoreOptions = StrataStorage.StoreOptions
/// What a commit survives.
public typealias Durability = StrataStorage.Durability
/// How long a stream keeps sealed intervals.
public typealias Retention = StrataStorage.Retention
/// A stream's settings.
public typealias StreamDescriptor = StrataStorage.StreamDescriptor
/// Where a stream's log stands.
public typealias StreamFrontier = StrataStorage.StreamFrontier
/// The XXH64 hash used for partitioning and checksums.
public typealias XXH64 = StrataStorage.XXH64
