import Glibc
import Hummingbird
import StrataStorage

/// The web console's files, served from the binary: nothing is fetched from elsewhere at run time
/// and there is no build step. The page is `ConsoleAssets.html`, its script `script`, its style
/// `style`; charts use Debian's Chart.js (`ReceiverConfiguration.chartLibraryPath`) when present.
///
/// | path | file |
/// | --- | --- |
/// | `/`, `/console`, `/console/` | the page |
/// | `/console/app.js` | the script |
/// | `/console/app.css` | the style |
/// | `/console/chart.js` | Chart.js, read from disk (404 when missing: the console says charts are unavailable) |
///
/// These hold no data, so they are served without the token; the page sends the token with every
/// API request.
enum ConsoleAssets {
    /// The response for a console file, or `nil` when `request` is not for one.
    static func response(for request: Request, configuration: ReceiverConfiguration) -> Response? {
        guard request.method == .get || request.method == .head else { return nil }
        switch request.uri.path {
        case "/", "/console", "/console/": return asset(html, type: "text/html; charset=utf-8")
        case "/console/app.js": return asset(script, type: "text/javascript; charset=utf-8")
        case "/console/app.css": return asset(style, type: "text/css; charset=utf-8")
        case "/console/chart.js": return chartLibrary(at: configuration.chartLibraryPath)
        default: return nil
        }
    }

    private static func asset(_ text: String, type: String) -> Response {
        var response = Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        response.headers[.contentType] = type
        response.headers[.cacheControl] = "no-cache"
        return response
    }

    /// Chart.js from disk, or 404 naming the package to install.
    private static func chartLibrary(at path: String) -> Response {
        guard let bytes = readFile(path) else {
            return ReceiverResponder.error(.notFound, "charts are unavailable: \(path) is missing "
                                           + "(install Debian's libjs-chart.js)")
        }
        var response = Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        response.headers[.contentType] = "text/javascript; charset=utf-8"
        response.headers[.cacheControl] = "max-age=3600"
        return response
    }

    /// A whole small file (at most 16 MiB), or `nil`.
    private static func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while bytes.count < 16 << 20 {
            let n = chunk.withUnsafeMutableBytes { raw in retryingOnInterrupt { read(fd, raw.baseAddress, raw.count) } }
            if n < 0 { return nil }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return nil
    }
}
