import Dispatch
import Glibc
import StrataStorage
import Synchronization

/// Runs a program's vertices as concurrent pipeline stages: each vertex on a thread of its own,
/// processing its ready intervals in order while the vertices upstream of it already work on later
/// ones (timestep pipelining: interval t+1's narrow work overlaps interval t's reduce).
///
/// A vertex learns of new input from the seals its upstream vertices commit (`SealSignal`), so a
/// stage never waits for a whole upstream pass. Every vertex still commits its intervals in order,
/// each with its outputs, seals and progress in one transaction, so the committed bytes are the same
/// as when the vertices run one after the other.
final class StagePipeline: Sendable {
    /// When the stages end.
    enum Mode: Sendable {
        /// When each vertex has processed everything its inputs had sealed once every vertex
        /// upstream of it had ended (external inputs: what was sealed when the stage looked).
        case untilCaughtUp
        /// When a stop is requested; stages wait for new seals in between, polling every
        /// `pollInterval` for seals committed by other processes.
        case continuous(pollInterval: Duration)
    }

    private struct StageState {
        var finished: Bool = false
        var intervals = 0
        var through: Interval?
        var error: EngineError?
    }

    private let program: Program
    private let mode: Mode
    /// For each vertex, the indexes of the vertices whose outputs it reads.
    private let upstream: [[Int]]
    private let stages: Mutex<[StageState]>
    /// Set when a stop is requested (or a stage of a continuous run fails): stages end after their
    /// in-flight interval.
    let stopping = Atomic<Bool>(false)

    init(program: Program, mode: Mode) {
        self.program = program
        self.mode = mode
        var producer: [String: Int] = [:]  // lookup only
        for (index, vertex) in program.vertices.enumerated() {
            for output in vertex.outputs { producer[output.name] = index }
        }
        upstream = program.vertices.map { vertex in
            vertex.inputs.compactMap { producer[$0.name] }
        }
        stages = Mutex(Array(repeating: StageState(), count: program.vertices.count))
    }

    /// Runs every stage to its end and returns what they did.
    ///
    /// - Throws: the error of the first vertex (in definition order) that failed. Until caught up,
    ///   the other stages still process everything their inputs have; a continuous run stops
    ///   every stage after its in-flight interval. Everything committed stays committed.
    func run() throws(EngineError) -> Program.PassSummary {
        let threads = program.vertices.indices.map { index in
            EngineThread { [self] in runStage(index) }
        }
        for thread in threads { thread.join() }
        let states = stages.withLock { $0 }
        if let error = states.compactMap(\.error).first { throw error }
        var summary = Program.PassSummary()
        for (index, state) in states.enumerated() {
            summary.intervals += state.intervals
            if let through = state.through { summary.progress[program.vertices[index].name] = through }
        }
        return summary
    }

    /// Asks every stage to end after its in-flight interval.
    func requestStop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        program.log.sealSignal.bump()
    }

    private func runStage(_ index: Int) {
        let vertex = program.vertices[index]
        let signal = program.log.sealSignal
        var intervals = 0
        var through: Interval?
        do {
            while true {
                // The generation first: a stage finishing or a stop requested after it wakes the
                // wait below.
                let generation = signal.current
                if stopping.load(ordering: .relaxed) { break }
                let upstreamDone = stages.withLock { states in upstream[index].allSatisfy { states[$0].finished } }
                let processed = try program.run(vertex, stopping: stopping)
                intervals += processed.count
                through = processed.through
                switch mode {
                case .untilCaughtUp:
                    if upstreamDone { return finish(index, intervals, through, nil) }
                    if processed.count == 0 { signal.waitBlocking(after: generation, timeout: .milliseconds(50)) }
                case .continuous(let pollInterval):
                    if processed.count == 0 { signal.waitBlocking(after: generation, timeout: pollInterval) }
                }
            }
            finish(index, intervals, through, nil)
        } catch let error as EngineError {
            finish(index, intervals, through, error)
        } catch {
            finish(index, intervals, through, .misuse("vertex \(vertex.name): \(error)"))
        }
    }

    private func finish(_ index: Int, _ intervals: Int, _ through: Interval?, _ error: EngineError?) {
        stages.withLock { states in
            states[index].finished = true
            states[index].intervals = intervals
            states[index].through = through
            states[index].error = error
        }
        // Until caught up, the other stages still process what their inputs have (the end state
        // does not depend on timing); a continuous run ends.
        if error != nil, case .continuous = mode { requestStop() }
        // Wake the stages downstream: this one will commit nothing more.
        program.log.sealSignal.bump()
    }
}

/// A joinable thread of its own for a long-running stage, outside Dispatch's pool (stages block
/// while they wait for input, and must never starve the pool that runs partition tasks).
final class EngineThread: @unchecked Sendable {
    private var handle = pthread_t()
    private let body: @Sendable () -> Void

    /// Starts `body` at once on a new thread.
    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
        if !start() {
            // No thread to be had: run the stage here; `join` then returns at once.
            body()
        }
    }

    /// Starts `body` on a new thread, or, when no thread can be had, on a worker of Dispatch's
    /// pool: never on the calling thread (which must not block: a task of Swift's cooperative
    /// pool, or a coordinator watching for stragglers).
    private init(fallingBackToDispatch body: @escaping @Sendable () -> Void) {
        self.body = body
        if !start() { DispatchQueue.global().async(execute: body) }
    }

    /// Creates the thread running `body`; `false` (and no handle) when none can be had.
    private func start() -> Bool {
        let context = Unmanaged.passRetained(self).toOpaque()
        let created = pthread_create(&handle, nil, { context in
            let thread = Unmanaged<EngineThread>.fromOpaque(context!).takeRetainedValue()
            thread.body()
            return nil
        }, context)
        guard created == 0 else {
            Unmanaged<EngineThread>.fromOpaque(context).release()
            handle = pthread_t()
            return false
        }
        return true
    }

    /// Waits for the thread to end.
    func join() {
        if handle != pthread_t() { pthread_join(handle, nil) }
    }

    /// Starts `body` on a new thread nobody joins: for work that must not wait for a worker of
    /// Dispatch's pool (a speculative copy, when a straggler may be holding one of them; a
    /// program's run). When no thread can be had, `body` runs on a worker of Dispatch's pool,
    /// never on the calling thread.
    static func detach(_ body: @escaping @Sendable () -> Void) {
        let thread = EngineThread(fallingBackToDispatch: body)
        if thread.handle != pthread_t() { pthread_detach(thread.handle) }
    }
}
