import Glibc

/// Calls `call` — a system call that returns -1 and sets `errno` when it fails — again for as long
/// as it fails with `EINTR` (a signal arrived before it did anything).
///
/// The one retry loop for interrupted system calls in this package, as swift-system has one in
/// `valueOrErrno(retryOnInterrupt:)`; callers handle every other outcome themselves.
///
/// ```swift
/// let n = retryingOnInterrupt { read(fd, buffer.baseAddress, buffer.count) }
/// if n < 0 { throw .readFailed(errno: errno) }   // errno is still the call's
/// ```
///
/// - Returns: The call's result; when it is -1, `errno` still holds the call's error.
package func retryingOnInterrupt<Result: SignedInteger>(_ call: () -> Result) -> Result {
    while true {
        let result = call()
        if result == -1 && errno == EINTR { continue }
        return result
    }
}
