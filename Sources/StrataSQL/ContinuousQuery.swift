import Strata
import StrataEngine

/// A continuous SQL program: a query run over each interval of one JSON stream, its rows saved as
/// the JSON stream `output` (see `DStream.sql(_:window:intervalLength:)`).
///
/// The program is named `sql.OUTPUT`: running it again resumes after the last interval it
/// committed, and `strata status` shows it like any program.
///
/// ```swift
/// let program = try ContinuousQuery.program(
///     store: store, query: "SELECT url, count(*) AS n FROM pageViews GROUP BY url", into: "urlCounts")
/// try program.runUntilCaughtUp()
/// ```
public enum ContinuousQuery {
    /// The program name of a continuous query writing `output`.
    public static func programName(into output: String) -> String { "sql." + output }

    /// Defines the program of a continuous query.
    ///
    /// - Parameters:
    ///   - query: One SELECT over one JSON stream (named in its FROM clause, or `input` with `stream`).
    ///   - output: The JSON stream the result rows go to.
    ///   - stream: The input stream, when the query reads the table `input`.
    ///   - window: Each interval's table holds the records of this many intervals, ending with it.
    ///   - running: Merge count/sum/min/max per group over all intervals so far (``RunningAggregates``);
    ///     the running state is also saved as `OUTPUT.state` (`state('OUTPUT.state', t)`: the whole result as of t).
    /// - Throws: `SQLError.sqlite` for a query that does not prepare, `.invalidArgument` when the
    ///   query does not read exactly one stream or the stream is not JSON; the engine's errors
    ///   (for example a query changed since the program last ran).
    public static func program(store: Store, query: String, into output: String, stream: String? = nil,
                               window: Int? = nil, running: Bool = false,
                               options: ProgramOptions = ProgramOptions()) throws -> Program {
        if let window, window < 1 { throw SQLError.invalidArgument("a window holds at least 1 interval, not \(window)") }
        let input: String
        if let stream {
            input = stream
        } else {
            let connection = try SQLConnection(store: store)
            let streams = try connection.streamsNamed(by: query)
            guard streams.count == 1, let only = streams.first else {
                throw SQLError.invalidArgument(streams.isEmpty
                    ? "a continuous query reads one stream; this one names none (or give its input stream)"
                    : "a continuous query reads one stream; this one names \(streams.joined(separator: ", "))")
            }
            input = only
        }
        let info = try store.info(of: input)
        guard info.descriptor.recordType == JSONRecord.recordTypeName else {
            throw SQLError.invalidArgument("continuous SQL reads JSON streams; \(input) holds \(info.descriptor.recordType)")
        }
        let checked = try IntervalQuery(query, streamName: input)
        let merging = running ? try RunningAggregates(query: query) : nil
        let records = try store.stream(named: input, of: JSONRecord.self)
        let length = info.descriptor.intervalLength
        return try Program(name: programName(into: output), store: store, options: options) { p in
            if let merging {
                p.read(records).sql(checked, running: merging, window: window, intervalLength: length,
                                   stateName: output + ".state").save(as: output)
            } else {
                p.read(records).sql(checked, window: window, intervalLength: length).save(as: output)
            }
        }
    }
}
