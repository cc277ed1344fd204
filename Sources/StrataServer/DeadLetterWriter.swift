import Strata

/// Writes rejected lines to a stream's dead-letter stream `NAME.dead`, one JSON record each:
///
/// ```json
/// {"line":3,"origin":"http 127.0.0.1:52114","raw":"{\"ts\":","reason":"byte 6: line ends before …","request":17}
/// {"line":9,"offset":812,"origin":"file /data/in/a.jsonl","raw":"not json","reason":"byte 0: not a JSON object, …"}
/// ```
///
/// Keys are sorted. `line` counts from 1 within the request body or the file; `offset` (files) is
/// the byte offset of the line's start; `request` (HTTP) is the request's number, also in its
/// response. `raw` is the line as JSON text (bytes that are not UTF-8 become U+FFFD), cut at
/// 64 KiB; when cut, `rawBytes` gives the line's full length.
///
/// Not `Sendable`: confined to the thread that owns the stream's appender.
final class DeadLetterWriter {
    /// The most bytes of a rejected line kept in its dead letter.
    static let maxRawBytes = 64 << 10

    /// The dead-letter stream's appender (arrival time).
    let appender: ArrivalAppender<JSONRecord>

    /// Opens (creating when absent) the dead-letter stream of `stream`: a JSON stream with the
    /// same interval length, one partition, arrival time.
    ///
    /// Blocks while a new stream is committed.
    init(of stream: StreamDescriptor, in store: Store, limits: StreamAppender.Limits) throws(ReceiverError) {
        let name = SideStreams.deadLetters(of: stream.name)
        do {
            let dead = try store.jsonStream(name, interval: stream.intervalLength, partitions: 1)
            appender = try dead.arrivalAppender(limits: limits)
        } catch {
            throw .storage(error, context: "stream \(name): open the dead-letter stream")
        }
    }

    /// Appends the dead letter of one rejected line.
    ///
    /// - Parameters:
    ///   - line: The line, without its newline; only its first 64 KiB are kept.
    ///   - length: The line's full length, when `line` holds only its start.
    func write(reason: String, origin: String, lineNumber: Int, offset: UInt64?, request: UInt64?,
               line: UnsafeRawBufferPointer, length: Int? = nil) throws(ReceiverError) {
        let kept = UnsafeRawBufferPointer(rebasing: line.prefix(Self.maxRawBytes))
        let fullLength = length ?? line.count
        var json = JSONText(capacity: kept.count + reason.utf8.count + 128)
        json.beginObject()
        json.key("line")
        json.integer(lineNumber)
        if let offset {
            json.key("offset")
            json.integer(offset)
        }
        json.key("origin")
        json.string(origin)
        json.key("raw")
        json.string(bytes: kept)
        if kept.count < fullLength {
            json.key("rawBytes")
            json.integer(fullLength)
        }
        json.key("reason")
        json.string(reason)
        if let request {
            json.key("request")
            json.integer(request)
        }
        json.endObject()
        do {
            try appender.append(JSONRecord(bytes: json.bytes))
        } catch {
            throw .storage(error, context: "stream \(appender.descriptor.name): append a dead letter")
        }
    }
}
