import Foundation
import Glibc
import StrataTestSupport
import Testing

/// A real `strata` child on a pseudo-terminal: it is the leader of a new session whose
/// controlling terminal is the terminal's other end, so Ctrl-C typed there is SIGINT to it, as in
/// a shell.
final class TerminalSession {
    let master: Int32
    let pid: pid_t
    private var output: [UInt8] = []
    private var mark = 0

    init(_ arguments: [String]) throws {
        // posix_openpt, unlockpt and ptsname need _XOPEN_SOURCE, which Swift's Glibc module is not
        // built with; on Linux they are /dev/ptmx and two ioctls (<asm-generic/ioctls.h>:
        // TIOCSPTLCK = _IOW('T', 0x31, int), TIOCGPTN = _IOR('T', 0x30, unsigned int)).
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard master >= 0, ioctl(master, 0x4004_5431, &unlock) == 0, ioctl(master, 0x8004_5430, &number) == 0 else {
            throw FixtureError(description: "no pseudo-terminal: \(String(cString: strerror(errno)))")
        }
        let name = "/dev/pts/\(number)"
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // glibc: setsid() runs before the file actions, so opening the terminal makes it the
        // child's controlling terminal, with the child's process group in the foreground.
        posix_spawnattr_setflags(&attributes, 0x80)  // POSIX_SPAWN_SETSID (<spawn.h>, _GNU_SOURCE)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, name, O_RDWR, 0)
        posix_spawn_file_actions_adddup2(&actions, 0, 1)
        posix_spawn_file_actions_adddup2(&actions, 0, 2)
        let path = builtProductsDirectory() + "/strata"
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, path, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw FixtureError(description: "posix_spawn failed: \(String(cString: strerror(rc)))") }
        pid = child
    }

    deinit {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)
        close(master)
    }

    /// Types `text` on the terminal.
    func type(_ text: String) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count, let base = raw.baseAddress {
                let n = write(master, base + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                offset += n
            }
        }
    }

    /// Waits (60 s at most) until the output since the last match holds `text`; returns that
    /// output through the match, with carriage returns removed, and moves past it.
    ///
    /// - Throws: `FixtureError` with the output seen when `text` does not come.
    @discardableResult
    func expect(_ text: String, or other: String? = nil) throws -> String {
        let wanted = [Array(text.utf8)] + (other.map { [Array($0.utf8)] } ?? [])
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let range = wanted.compactMap(find).min(by: { $0.lowerBound < $1.lowerBound }) {
                let seen = String(decoding: output[mark..<range.upperBound].filter { $0 != 0x0D }, as: UTF8.self)
                mark = range.upperBound
                return seen
            }
            var descriptor = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 1_000) >= 0 || errno == EINTR else { break }
            guard descriptor.revents != 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = read(master, &buffer, buffer.count)
            if n > 0 { output += buffer[0..<n] } else if n == 0 || errno != EINTR && errno != EAGAIN { break }
        }
        let seen = String(decoding: output[mark...].filter { $0 != 0x0D }, as: UTF8.self)
        throw FixtureError(description: "no \(text.debugDescription) in the terminal's output: \(seen.debugDescription)")
    }

    /// Waits for a fresh prompt: after a newline, or after the progress line's erasure (the line
    /// editor's redraws of the line being typed begin with a carriage return).
    @discardableResult
    func prompt() throws -> String { try expect("\nstrata> ", or: "\u{1B}[Kstrata> ") }

    private func find(_ wanted: [UInt8]) -> Range<Int>? {
        guard output.count - mark >= wanted.count, !wanted.isEmpty else { return nil }
        for start in mark...(output.count - wanted.count) where output[start..<(start + wanted.count)].elementsEqual(wanted) {
            return start..<(start + wanted.count)
        }
        return nil
    }

    /// Waits (60 s at most) for the child to end; its exit status, or -1.
    func exitStatus() -> Int32 {
        let deadline = ContinuousClock.now + .seconds(60)
        var status: Int32 = 0
        while ContinuousClock.now < deadline {
            // Keep the terminal drained so that the child never blocks writing.
            var buffer = [UInt8](repeating: 0, count: 4096)
            var descriptor = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, 100) > 0 { _ = read(master, &buffer, buffer.count) }
            if waitpid(pid, &status, WNOHANG) == pid {
                return status & 0x7f == 0 ? (status >> 8) & 0xff : -1
            }
        }
        return -1
    }
}


/// `strata sql` with no query on a terminal: a prompt.
@Suite struct SQLPromptTests {
    /// What the session showed after each step, and how it ended.
    struct Transcript: Sendable {
        var steps: [String: String] = [:]
        var status: Int32 = -1
    }

    @Test func promptRunsStatementsDotCommandsHistoryAndSurvivesCtrlC() async throws {
        let fixture = try SQLFixture(intervals: 6)
        let path = fixture.path
        let transcript = try await onOwnThread { try Self.session(store: path) }
        let steps = transcript.steps
        #expect(steps["twoLines"]?.contains("n    intervals\n144  6\n") == true, "\(steps["twoLines"] ?? "")")
        #expect(steps["tables"]?.contains("clicks\npageViews\n") == true, "\(steps["tables"] ?? "")")
        #expect(steps["schema"]?.contains(
            #"CREATE TABLE "clicks" (interval INTEGER, time TEXT, partition INTEGER, ts, user, button, record TEXT);"#) == true,
                "\(steps["schema"] ?? "")")
        #expect(steps["history"]?.contains(#"{"button":"b0","user":"u0"}"# + "\n" + #"{"button":"b1","user":"u1"}"#) == true,
                "\(steps["history"] ?? "")")
        #expect(steps["error"]?.contains("no such column: nosuch") == true, "\(steps["error"] ?? "")")
        #expect(steps["afterInterrupt"]?.contains("answer\n42\n") == true, "\(steps["afterInterrupt"] ?? "")")
        #expect(transcript.status == 0)
        _ = fixture
    }

    /// Types into the prompt and keeps what each step printed.
    static func session(store: String) throws -> Transcript {
        var transcript = Transcript()
        let session = try TerminalSession(["sql", "--store", store])
        try session.prompt()
        // A statement over two lines: the second prompt continues it.
        session.type("SELECT count(*) AS n,\r")
        try session.expect("\n   ...> ")
        session.type("count(DISTINCT interval) AS intervals FROM pageViews;\r")
        transcript.steps["twoLines"] = try session.prompt()
        // Dot commands.
        session.type(".tables\r")
        transcript.steps["tables"] = try session.prompt()
        session.type(".schema clicks\r")
        transcript.steps["schema"] = try session.prompt()
        session.type("SELECT user, button FROM clicks WHERE interval = \(SQLFixture.base) ORDER BY user;\r")
        try session.prompt()
        session.type(".mode json\r")
        try session.prompt()
        // History: ↑ twice recalls the query before .mode; Enter runs it again, now as JSON.
        session.type("\u{1B}[A\u{1B}[A\r")
        transcript.steps["history"] = try session.prompt()
        // An error is printed and the prompt goes on.
        session.type("SELECT nosuch FROM pageViews;\r")
        transcript.steps["error"] = try session.prompt()
        session.type(".mode csv\r")
        try session.prompt()
        // Ctrl-C while typing abandons the line.
        session.type("SELECT 'abandoned'")
        session.type("\u{03}")
        try session.expect("^C")
        try session.prompt()
        // Ctrl-C during a query interrupts it, not the prompt: a cross join that would run for
        // hours; its progress line on the terminal shows that it runs.
        session.type("SELECT count(*) FROM pageViews a, pageViews b, pageViews c, pageViews d;\r")
        try session.expect("blocks read")
        session.type("\u{03}")
        try session.expect("interrupted")
        try session.prompt()
        session.type("SELECT 6 * 7 AS answer;\r")
        transcript.steps["afterInterrupt"] = try session.prompt()
        // Ctrl-D on an empty line leaves, successfully.
        session.type("\u{04}")
        transcript.status = session.exitStatus()
        return transcript
    }
}
