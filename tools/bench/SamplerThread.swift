import Dispatch
import Glibc

/// Starts `body` on a thread of its own, outside Dispatch's pool, for the benchmark's samplers and
/// progress reporters: loops that sleep for the whole run. On a worker of Dispatch's pool such a
/// loop holds one of its workers (as many as cores: 2 here) for the whole run, and libdispatch on
/// Linux adds a worker only when its once-a-second check finds work queued, so the engine's tasks
/// had one worker until that check came: a 1 s run then took 0.95 or 1.25 s at the same CPU,
/// depending on when it came (docs/benchmarks.md, "Figures: issue 16, both cores busy").
///
/// When no thread can be had, `body` runs on a worker of Dispatch's pool, as before.
func startSamplerThread(_ body: @escaping @Sendable () -> Void) {
    final class Context {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let context = Unmanaged.passRetained(Context(body)).toOpaque()
    var handle = pthread_t()
    let created = pthread_create(&handle, nil, { context in
        Unmanaged<Context>.fromOpaque(context!).takeRetainedValue().body()
        return nil
    }, context)
    guard created == 0 else {
        Unmanaged<Context>.fromOpaque(context).release()
        DispatchQueue.global().async(execute: body)
        return
    }
    pthread_detach(handle)
}
