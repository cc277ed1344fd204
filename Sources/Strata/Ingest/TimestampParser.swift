// Timestamp parsing for ingest: numeric epoch values in a chosen unit, and ISO 8601 / RFC 3339 text.
// No Foundation, no allocation; results are nanoseconds since the Unix epoch as Int64 (1677-09-21 ... 2262-04-11).

/// Parses a JSON number (as raw bytes) read in `unit` to nanoseconds since the Unix epoch, or nil.
///
/// Accepts the JSON number grammar: optional `-`, integer part without superfluous leading zeros, optional fraction,
/// optional exponent (e.g. `1763900000.123` with unit `.seconds`, or `1.7639e12` with `.milliseconds`). The value is
/// computed exactly in decimal; digits finer than a nanosecond are truncated toward zero. Returns nil when the text is
/// not a number or the result does not fit Int64.
package func parseTimestampNanoseconds(number: UnsafeRawBufferPointer, unit: TimeUnit) -> Int64? {
    let count = number.count
    // The most common case (epoch milliseconds have 13 digits): 8 to 16 digits, read eight at a
    // time (`eightDigitsValue`), then one checked multiplication by the unit; anything else, and
    // any non-digit, goes the digit-by-digit way, which gives the same value for these.
    if count >= 8, count <= 16, number[0] != 0x30 {
        let head = UInt64(littleEndian: number.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        // The last `count - 8` bytes, at the top of the word that ends the number (it overlaps `head`).
        let rest = count - 8
        let tail = UInt64(littleEndian: number.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self))
        let tailMask: UInt64 = rest == 0 ? 0 : ~0 << UInt64(8 * (8 - rest))
        if jsonNonDigitBytes(head) == 0 && jsonNonDigitBytes(tail) & tailMask == 0 {
            let tailDigits = (tail &- 0x3030_3030_3030_3030) & tailMask
            let value = eightDigitsValue(head &- 0x3030_3030_3030_3030) &* powersOfTen[rest] &+ eightDigitsValue(tailDigits)
            let (scaled, overflow) = Int64(value).multipliedReportingOverflow(by: unit.nanosecondsScale)
            return overflow ? nil : scaled
        }
    }
    return parseTimestampNanosecondsDigitByDigit(number: number, unit: unit)
}

/// `parseTimestampNanoseconds(number:unit:)` without its eight-digits-at-a-time path: one digit
/// at a time (the plain path; tests check the two against each other).
package func parseTimestampNanosecondsDigitByDigit(number: UnsafeRawBufferPointer, unit: TimeUnit) -> Int64? {
    let count = number.count
    // Fast path, the common case: a plain non-negative integer of up to 18 digits fits Int64
    // unscaled; then one checked multiplication by the unit.
    if count > 0, count <= 18, number[0] != 0x30 || count == 1 {
        var value: Int64 = 0
        var plain = true
        for byte in number {
            let digit = byte &- 0x30
            if digit >= 10 {
                plain = false
                break
            }
            value = value &* 10 &+ Int64(digit)
        }
        if plain {
            let scale: Int64 = switch unit {
            case .seconds: 1_000_000_000
            case .milliseconds: 1_000_000
            case .microseconds: 1_000
            case .nanoseconds: 1
            }
            let (scaled, overflow) = value.multipliedReportingOverflow(by: scale)
            return overflow ? nil : scaled
        }
    }
    var index = 0
    var negative = false
    if index < count && number[index] == 0x2D {  // -
        negative = true
        index += 1
    }
    let integerStart = index
    while index < count && number[index] &- 0x30 < 10 { index += 1 }
    let integerEnd = index
    guard integerEnd > integerStart else { return nil }
    guard number[integerStart] != 0x30 || integerEnd - integerStart == 1 else { return nil }  // leading zero

    var fractionStart = index
    var fractionEnd = index
    if index < count && number[index] == 0x2E {  // .
        index += 1
        fractionStart = index
        while index < count && number[index] &- 0x30 < 10 { index += 1 }
        fractionEnd = index
        guard fractionEnd > fractionStart else { return nil }
    }

    var exponent = 0
    if index < count && (number[index] | 0x20) == 0x65 {  // e or E
        index += 1
        var exponentNegative = false
        if index < count && (number[index] == 0x2B || number[index] == 0x2D) {
            exponentNegative = number[index] == 0x2D
            index += 1
        }
        let exponentStart = index
        while index < count && number[index] &- 0x30 < 10 {
            // Saturate: anything beyond a few hundred either overflows or truncates to zero.
            if exponent < 100_000 { exponent = exponent * 10 + Int(number[index] &- 0x30) }
            index += 1
        }
        guard index > exponentStart else { return nil }
        if exponentNegative { exponent = -exponent }
    }
    guard index == count else { return nil }

    // The digits D = integer digits followed by fraction digits; the scaled value is D with the decimal point placed
    // after `point` digits. Keep the digits before the point (padding with zeros), drop the rest.
    let integerCount = integerEnd - integerStart
    let digitCount = integerCount + (fractionEnd - fractionStart)
    let point = integerCount + exponent + unit.nanosecondsExponent
    let limit: UInt64 = negative ? UInt64(1) << 63 : UInt64(Int64.max)
    var magnitude: UInt64 = 0
    var digitIndex = 0
    while digitIndex < min(point, digitCount) {
        let position =
            digitIndex < integerCount ? integerStart + digitIndex : fractionStart + (digitIndex - integerCount)
        guard let next = appendingDigit(magnitude, number[position] &- 0x30, limit: limit) else { return nil }
        magnitude = next
        digitIndex += 1
    }
    if magnitude != 0 {
        // Terminates quickly: a non-zero value overflows after at most 19 multiplications.
        while digitIndex < point {
            guard let next = appendingDigit(magnitude, 0, limit: limit) else { return nil }
            magnitude = next
            digitIndex += 1
        }
    }
    return negative ? Int64(bitPattern: 0 &- magnitude) : Int64(magnitude)
}

/// The value of eight decimal digits given as the bytes 0–9 (not ASCII) of a little-endian word,
/// the first digit in the lowest byte: pairs, then fours, then all eight, in three multiplications.
@inline(__always)
private func eightDigitsValue(_ digits: UInt64) -> UInt64 {
    var v = digits
    v = (v &* 10 &+ (v >> 8)) & 0x00FF_00FF_00FF_00FF
    v = (v &* 100 &+ (v >> 16)) & 0x0000_FFFF_0000_FFFF
    return (v &* 10_000 &+ (v >> 32)) & 0xFFFF_FFFF
}

/// 10⁰ … 10⁸.
private let powersOfTen: [UInt64] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000]

extension TimeUnit {
    /// Nanoseconds per unit.
    fileprivate var nanosecondsScale: Int64 {
        switch self {
        case .seconds: 1_000_000_000
        case .milliseconds: 1_000_000
        case .microseconds: 1_000
        case .nanoseconds: 1
        }
    }
}

/// `value * 10 + digit`, or nil when that exceeds `limit`.
@inline(__always)
private func appendingDigit(_ value: UInt64, _ digit: UInt8, limit: UInt64) -> UInt64? {
    let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
    let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit))
    guard !overflow1, !overflow2, sum <= limit else { return nil }
    return sum
}

/// Parses ISO 8601 / RFC 3339 text to nanoseconds since the Unix epoch, or nil.
///
/// Accepted: `YYYY-MM-DD`, then optionally `T`, `t` or a space and `hh:mm[:ss[.fraction]]`, then optionally `Z`, `z`,
/// `±hh:mm`, `±hhmm` or `±hh`. Without an offset (including the date-only form, which means midnight)
/// `defaultUTCOffsetSeconds` is used (local time = UTC + offset). Fractions may use `.` or `,`; digits past nanoseconds
/// are truncated. Ranges are validated: month 1-12, day within the month (leap years included), hour 0-23,
/// minute 0-59, second 0-60 (60 counts as the first second of the next minute), offset hours 0-23 and minutes 0-59.
/// Returns nil for anything else, and when the instant does not fit Int64 nanoseconds.
package func parseISO8601Nanoseconds(_ text: UnsafeRawBufferPointer, defaultUTCOffsetSeconds: Int = 0) -> Int64? {
    let count = text.count
    guard count >= 10,
        let year = decimal(text, at: 0, digits: 4), text[4] == 0x2D,
        let month = decimal(text, at: 5, digits: 2), text[7] == 0x2D,
        let day = decimal(text, at: 8, digits: 2),
        (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month)
    else { return nil }

    var index = 10
    var secondOfDay = 0
    var nanoseconds: Int64 = 0
    var offset = defaultUTCOffsetSeconds
    if index < count {
        let separator = text[index]
        guard separator == 0x54 || separator == 0x74 || separator == 0x20 else { return nil }  // T, t, space
        index += 1
        guard index + 5 <= count,
            let hour = decimal(text, at: index, digits: 2), text[index + 2] == 0x3A,
            let minute = decimal(text, at: index + 3, digits: 2),
            hour <= 23, minute <= 59
        else { return nil }
        index += 5
        var second = 0
        if index < count && text[index] == 0x3A {  // :
            guard index + 3 <= count, let value = decimal(text, at: index + 1, digits: 2), value <= 60 else {
                return nil
            }
            second = value
            index += 3
            if index < count && (text[index] == 0x2E || text[index] == 0x2C) {  // . or ,
                index += 1
                var scale: Int64 = 100_000_000
                let fractionStart = index
                while index < count && text[index] &- 0x30 < 10 {
                    nanoseconds += Int64(text[index] &- 0x30) * scale
                    scale /= 10
                    index += 1
                }
                guard index > fractionStart else { return nil }
            }
        }
        secondOfDay = hour * 3600 + minute * 60 + second

        if index < count {
            let marker = text[index]
            if marker == 0x5A || marker == 0x7A {  // Z, z
                offset = 0
                index += 1
            } else if marker == 0x2B || marker == 0x2D {  // +, -
                index += 1
                guard index + 2 <= count, let offsetHours = decimal(text, at: index, digits: 2), offsetHours <= 23
                else { return nil }
                index += 2
                var offsetMinutes = 0
                if index < count {
                    if text[index] == 0x3A { index += 1 }
                    guard index + 2 <= count, let value = decimal(text, at: index, digits: 2), value <= 59 else {
                        return nil
                    }
                    offsetMinutes = value
                    index += 2
                }
                offset = (offsetHours * 3600 + offsetMinutes * 60) * (marker == 0x2D ? -1 : 1)
            } else {
                return nil
            }
        }
        guard index == count else { return nil }
    }

    // Years 0000-9999 keep `days * 86400` far from Int64 limits; only the offset needs overflow checks.
    let days = Int64(daysFromCivil(year: year, month: month, day: day))
    let (seconds, overflow) = (days * 86_400 + Int64(secondOfDay)).subtractingReportingOverflow(Int64(offset))
    guard !overflow else { return nil }
    // Borrow a second for negative instants so that the earliest representable one does not overflow midway.
    let borrow: Int64 = seconds < 0 && nanoseconds > 0 ? 1 : 0
    let (scaled, overflow1) = (seconds + borrow).multipliedReportingOverflow(by: 1_000_000_000)
    let (result, overflow2) = scaled.addingReportingOverflow(nanoseconds - borrow * 1_000_000_000)
    guard !overflow1, !overflow2 else { return nil }
    return result
}

/// Reads exactly `digits` ASCII digits at `start` (the caller guarantees they are in bounds), or nil.
@inline(__always)
private func decimal(_ text: UnsafeRawBufferPointer, at start: Int, digits: Int) -> Int? {
    var value = 0
    for position in start..<(start + digits) {
        let digit = text[position] &- 0x30
        guard digit < 10 else { return nil }
        value = value * 10 + Int(digit)
    }
    return value
}

/// The number of days in `month` (1-12) of the proleptic Gregorian `year`.
func daysInMonth(year: Int, month: Int) -> Int {
    switch month {
    case 2: (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
    case 4, 6, 9, 11: 30
    default: 31
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400  // [0, 399]
    let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1  // [0, 365]
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear  // [0, 146096]
    return era * 146_097 + dayOfEra - 719_468
}

/// A UTC calendar date and time of day, to the second (proleptic Gregorian).
package struct CivilTime: Sendable, Equatable {
    package var year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64

    /// The date and time of day `secondsSinceEpoch` seconds after 1970-01-01T00:00:00Z (Howard
    /// Hinnant's `civil_from_days`, the inverse of `daysFromCivil`); negative counts go back.
    package init(secondsSinceEpoch seconds: Int64) {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * mp + 2) / 5 + 1
        month = mp < 10 ? mp + 3 : mp - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        hour = secondOfDay / 3600
        minute = secondOfDay / 60 % 60
        second = secondOfDay % 60
    }

    /// `YYYY-MM-DDTHH:MM:SS` (ISO 8601 without fraction or offset).
    package var text: String {
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2))"
    }
}
