import Strata

/// Rows of text printed as left-aligned columns separated by two spaces.
struct Table {
    private var rows: [[String]]

    /// A table with a header row.
    init(header: [String]) { rows = [header] }

    /// Adds a row.
    mutating func append(_ row: [String]) { rows.append(row) }

    /// The table's lines, trailing spaces trimmed.
    var text: String {
        var widths: [Int] = []
        for row in rows {
            for (i, cell) in row.enumerated() {
                if i == widths.count { widths.append(0) }
                widths[i] = max(widths[i], cell.count)
            }
        }
        var lines: [String] = []
        for row in rows {
            var line = ""
            for (i, cell) in row.enumerated() {
                if i == row.count - 1 {
                    line += cell
                } else {
                    line += cell + String(repeating: " ", count: widths[i] - cell.count + 2)
                }
            }
            while line.last == " " { line.removeLast() }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}

/// An optional interval as table text: its index, or `-`.
func text(_ interval: Interval?) -> String { interval.map(\.description) ?? "-" }
