import Glibc
import StrataStorage

/// Reads lines from a terminal with editing and an in-memory history, for `strata sql`'s prompt.
///
/// While a line is read the terminal is in raw mode (no echo, no line buffering, no signals from
/// Ctrl-C): the editor draws the line itself. Between lines the terminal is as it was, so Ctrl-C
/// during a query is SIGINT. Keys: printable text, Backspace, Delete, ←/→, Home/End (and Ctrl-A,
/// Ctrl-E), Ctrl-K (delete to the end), Ctrl-U (delete the line), ↑/↓ (history), Enter, Ctrl-C
/// (abandon the line), Ctrl-D (end, on an empty line; else delete the character under the cursor).
///
/// Not `Sendable`: one editor per terminal, used by one thread.
final class LineEditor {
    /// What reading a line gave.
    enum Line: Equatable {
        /// A line, Enter pressed.
        case text(String)
        /// Ctrl-C: the line was abandoned.
        case interrupted
        /// Ctrl-D on an empty line, or the end of input.
        case end
    }

    /// Earlier lines, oldest first (consecutive repeats and empty lines are kept once / not at all).
    private(set) var history: [String] = []
    private let input: Int32
    private let output: Int32

    init(input: Int32 = STDIN_FILENO, output: Int32 = STDOUT_FILENO) {
        self.input = input
        self.output = output
    }

    /// Shows `prompt` and reads one line.
    func readLine(prompt: String) -> Line {
        var saved = termios()
        let isTerminal = tcgetattr(input, &saved) == 0
        if isTerminal {
            var raw = saved
            raw.c_lflag &= ~tcflag_t(ECHO | ICANON | ISIG | IEXTEN)
            raw.c_iflag &= ~tcflag_t(IXON | ICRNL | INLCR)
            withUnsafeMutableBytes(of: &raw.c_cc) { cc in
                cc[Int(VMIN)] = 1
                cc[Int(VTIME)] = 0
            }
            _ = tcsetattr(input, TCSADRAIN, &raw)
        }
        defer { if isTerminal { _ = tcsetattr(input, TCSADRAIN, &saved) } }

        var line: [Unicode.Scalar] = []
        var cursor = 0
        var position = history.count  // history.count: the line being edited
        var edited: [Unicode.Scalar] = []
        func refresh() {
            var text = "\r" + prompt + String(String.UnicodeScalarView(line)) + "\u{1B}[K"
            if cursor < line.count { text += "\u{1B}[\(line.count - cursor)D" }
            write(text)
        }
        func recall(_ index: Int) {
            if position == history.count { edited = line }
            position = index
            line = index == history.count ? edited : Array(history[index].unicodeScalars)
            cursor = line.count
            refresh()
        }
        write(prompt)
        while let byte = readByte() {
            switch byte {
            case 0x0D, 0x0A:
                write("\r\n")
                let text = String(String.UnicodeScalarView(line))
                if !text.allSatisfy(\.isWhitespace), history.last != text { history.append(text) }
                return .text(text)
            case 0x03:
                write("^C\r\n")
                return .interrupted
            case 0x04:
                if line.isEmpty {
                    write("\r\n")
                    return .end
                }
                if cursor < line.count {
                    line.remove(at: cursor)
                    refresh()
                }
            case 0x7F, 0x08:
                if cursor > 0 {
                    line.remove(at: cursor - 1)
                    cursor -= 1
                    refresh()
                }
            case 0x01:
                cursor = 0
                refresh()
            case 0x05:
                cursor = line.count
                refresh()
            case 0x0B:
                line.removeSubrange(cursor...)
                refresh()
            case 0x15:
                line.removeAll()
                cursor = 0
                refresh()
            case 0x1B:
                guard let next = readByte(), next == 0x5B || next == 0x4F, var key = readByte() else { continue }
                var parameter: UInt8?
                if key >= 0x30 && key <= 0x39 {  // ESC [ n ~
                    parameter = key
                    while let more = readByte() {
                        key = more
                        if more < 0x30 || more > 0x39 { break }
                    }
                }
                switch (key, parameter) {
                case (0x41, nil): if position > 0 { recall(position - 1) }  // ↑
                case (0x42, nil): if position < history.count { recall(position + 1) }  // ↓
                case (0x43, nil):
                    if cursor < line.count { cursor += 1; refresh() }
                case (0x44, nil):
                    if cursor > 0 { cursor -= 1; refresh() }
                case (0x48, nil), (0x7E, 0x31), (0x7E, 0x37): cursor = 0; refresh()
                case (0x46, nil), (0x7E, 0x34), (0x7E, 0x38): cursor = line.count; refresh()
                case (0x7E, 0x33):
                    if cursor < line.count { line.remove(at: cursor); refresh() }
                default: break
                }
            case 0x20...0x7E:
                line.insert(Unicode.Scalar(byte), at: cursor)
                cursor += 1
                // At the end of the line, echoing the character is the whole redraw.
                if cursor == line.count { write(String(Unicode.Scalar(byte))) } else { refresh() }
            case 0xC0...0xF7:
                // A UTF-8 sequence: its continuation bytes follow.
                let length = byte >= 0xF0 ? 4 : (byte >= 0xE0 ? 3 : 2)
                var bytes = [byte]
                while bytes.count < length, let more = readByte() { bytes.append(more) }
                for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
                    line.insert(scalar, at: cursor)
                    cursor += 1
                }
                refresh()
            default: break
            }
        }
        write("\r\n")
        return line.isEmpty ? .end : .text(String(String.UnicodeScalarView(line)))
    }

    /// One byte of input, or nil at its end.
    private func readByte() -> UInt8? {
        var byte: UInt8 = 0
        return retryingOnInterrupt { read(input, &byte, 1) } == 1 ? byte : nil
    }

    private func write(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return 0 }
                return retryingOnInterrupt { Glibc.write(output, base + offset, raw.count - offset) }
            }
            guard n > 0 else { return }
            offset += n
        }
    }
}
