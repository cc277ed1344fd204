import Glibc
import StrataStorage

/// Runs this same `strata` binary again as a child process, for work a damaged store could end
/// with a signal (LMDB faulting on a page the file does not hold): the parent survives and reports.
///
/// The child inherits standard input, output and error, and gets `STRATA_NO_SIGNAL_HANDLERS=1`
/// so that a fatal signal reaches the parent as the signal.
enum ChildProcess {
    /// How a child ended.
    enum Ending: Equatable {
        case exited(Int32)
        case signaled(Int32)
    }

    /// Runs `strata ARGUMENTS` and waits for it.
    ///
    /// - Throws: `ChildProcessError` when the child cannot be started.
    static func run(_ arguments: [String], environment extra: [String: String] = [:]) throws -> Ending {
        let executable = "/proc/self/exe"
        var environment = extra
        environment["STRATA_NO_SIGNAL_HANDLERS"] = environment["STRATA_NO_SIGNAL_HANDLERS"] ?? "1"
        var entries: [String] = []
        var index = 0
        while let entry = environ[index] {
            let text = String(cString: entry)
            let name = text.split(separator: "=", maxSplits: 1).first.map(String.init) ?? text
            if environment[name] == nil { entries.append(text) }
            index += 1
        }
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) { entries.append("\(name)=\(value)") }
        let argv = (["strata"] + arguments).map { strdup($0) } + [nil]
        let envp = entries.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, nil, nil, argv, envp)
        guard rc == 0 else { throw ChildProcessError(errno: rc) }
        var status: Int32 = 0
        if retryingOnInterrupt({ waitpid(pid, &status, 0) }) < 0 { throw ChildProcessError(errno: errno) }
        // <sys/wait.h>: WIFEXITED / WEXITSTATUS / WTERMSIG, spelled out (macros do not import).
        let signal = status & 0x7f
        if signal == 0 { return .exited((status >> 8) & 0xff) }
        return .signaled(signal)
    }

    /// The usual name of a fatal signal.
    static func name(of signal: Int32) -> String {
        switch signal {
        case SIGBUS: "SIGBUS"
        case SIGSEGV: "SIGSEGV"
        case SIGABRT: "SIGABRT"
        case SIGILL: "SIGILL"
        case SIGTRAP: "SIGTRAP"
        case SIGFPE: "SIGFPE"
        case SIGKILL: "SIGKILL"
        default: "signal \(signal)"
        }
    }
}

/// Starting or waiting for a child process failed.
struct ChildProcessError: Error, CustomStringConvertible {
    var errno: Int32
    var description: String { "starting a child process failed: \(String(cString: strerror(errno))) (errno \(errno))" }
}
