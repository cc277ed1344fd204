import Strata
import StrataEngine

/// A continuous SQL program: a query run over each interval of one JSON stream, or of two joined
/// JSON streams, its rows saved as the JSON stream `output` (see `DStream.sql(_:window:intervalLength:)`).
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

    /// `error`, thrown while running the program of a continuous query writing `output`, in words
    /// for its user: the engine's refusal of a changed vertex (the query's text, its window or
    /// `running` differ from when the program last ran; see ``IntervalQuery/definition``) becomes
    /// `SQLError.invalidArgument` naming the program and how to go on; other errors are returned as
    /// they are.
    public static func explained(_ error: any Error, into output: String) -> any Error {
        guard case EngineError.misuse(let text) = error, text.contains("was defined differently") else { return error }
        let name = programName(into: output)
        return SQLError.invalidArgument(
            "program \(name) last ran another query (or another window or --running) into \(output), and its "
            + "output holds that query's rows: run that query again to resume, or give this one another --into "
            + "to start fresh from the first interval")
    }

    /// Defines the program of a continuous query.
    ///
    /// - Parameters:
    ///   - query: One SELECT over one or two JSON streams (named in its FROM clause, or `input`
    ///     with `stream`); `window(STREAM, N)` in place of a stream's name is its last N intervals
    ///     (``WindowSyntax``, the same as `window`). Two streams must have the same interval length; each interval's rows
    ///     join that interval's records of both.
    ///   - output: The JSON stream the result rows go to.
    ///   - stream: The input stream, when the query reads the table `input`.
    ///   - window: Each interval's tables hold the records of this many intervals, ending with it.
    ///   - running: Merge count/sum/min/max per group over all intervals so far (``RunningAggregates``);
    ///     the running state is also saved as `OUTPUT.state` (`state('OUTPUT.state', t)`: the whole result as of t).
    /// - Throws: `SQLError.sqlite` for a query that does not prepare, `.invalidArgument` when the
    ///   query reads no stream or more than two, a stream is not JSON, or two streams' interval
    ///   lengths differ; `.storage(.invalidStreamName)` for an `output` that is no valid stream
    ///   name; the engine's errors (for example a query changed since the program last ran).
    public static func program(store: Store, query: String, into output: String, stream: String? = nil,
                               window: Int? = nil, running: Bool = false,
                               options: ProgramOptions = ProgramOptions()) throws -> Program {
        // The output names the program too: say it is the stream name that is wrong.
        guard StreamDescriptor.isValidName(output) else { throw SQLError.storage(.invalidStreamName(output)) }
        if let window, window < 1 { throw SQLError.invalidArgument("a window holds at least 1 interval, not \(window)") }
        let windowed = try WindowSyntax.rewrite(query, window: window)
        let query = windowed.sql, window = windowed.window
        let inputs: [String]
        if let stream {
            inputs = [stream]
        } else {
            let connection = try SQLConnection(store: store)
            inputs = try connection.streamsNamed(by: query)
            guard (1...2).contains(inputs.count) else {
                throw SQLError.invalidArgument(inputs.isEmpty
                    ? "a continuous query reads one or two streams; this one names none (or give its input stream)"
                    : "a continuous query reads one or two streams; this one names \(inputs.joined(separator: ", "))")
            }
        }
        var lengths: [IntervalLength] = []
        for input in inputs {
            let info = try store.info(of: input)
            guard info.descriptor.recordType == JSONRecord.recordTypeName else {
                throw SQLError.invalidArgument("continuous SQL reads JSON streams; \(input) holds \(info.descriptor.recordType)")
            }
            lengths.append(info.descriptor.intervalLength)
        }
        guard let length = lengths.first, lengths.allSatisfy({ $0 == length }) else {
            throw SQLError.invalidArgument("a continuous join reads streams of one interval length; "
                + zip(inputs, lengths).map { "\($0) has \($1)" }.joined(separator: ", "))
        }
        let checked = try IntervalQuery(query, streamNames: inputs)
        let merging = running ? try RunningAggregates(query: query) : nil
        let streams = try inputs.map { try store.stream(named: $0, of: JSONRecord.self) }
        return try Program(name: programName(into: output), store: store, options: options) { p in
            let first = p.read(streams[0])
            if streams.count == 2 {
                let second = p.read(streams[1])
                if let merging {
                    first.sql(checked, joining: second, running: merging, window: window, intervalLength: length,
                              stateName: output + ".state").save(as: output)
                } else {
                    first.sql(checked, joining: second, window: window, intervalLength: length).save(as: output)
                }
            } else if let merging {
                first.sql(checked, running: merging, window: window, intervalLength: length,
                          stateName: output + ".state").save(as: output)
            } else {
                first.sql(checked, window: window, intervalLength: length).save(as: output)
            }
        }
    }
}
