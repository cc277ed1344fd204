import Foundation
import Strata
import StrataServer
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@Suite struct IngestEndpointTests {
    @Test func postAppendsLinesAndAnswersWithASummaryOnceDurable() async throws {
        let server = try await ReceiverHarness.start()
        let response = try await server.post("views", query: "time-field=ts&time-unit=s&partitions=2", numberedLines(250))
        #expect(response.status == 200)
        #expect(response.headers["content-type"] == "application/json")
        let summary = try response.json()
        #expect(summary["accepted"] as? Int == 250)
        #expect(summary["rejected"] as? Int == 0)
        #expect(summary["lines"] as? Int == 250)
        #expect(summary["late"] as? Int == 0)
        #expect(summary["stream"] as? String == "views")
        let intervals = try #require(summary["intervals"] as? [String: Any])
        #expect(intervals["first"] as? Int == 1000 && intervals["last"] as? Int == 1002)

        // The stream was created from the query parameters.
        let info = try server.store.info(of: "views").descriptor
        #expect(info.partitions == 2 && info.timeField == "ts" && info.timeUnit == .seconds)
        try await server.stop()
        // Acknowledged means durable: every record is there, exactly once.
        let records = try sealAndRead("views", in: server.store, through: Interval(1002))
        #expect(records.count == 250)
        #expect(Set(records).count == 250)
    }

    @Test func aStandardClientCanPostAndRead() async throws {
        let server = try await ReceiverHarness.start()
        var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(server.port)/streams/logs")))
        request.httpMethod = "POST"
        request.httpBody = Data("{\"msg\":\"hello\"}\n{\"msg\":\"world\"}\n".utf8)
        let (data, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        let summary = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(summary["accepted"] as? Int == 2)

        let list = try await URLSession.shared.data(from: try #require(URL(string: "http://127.0.0.1:\(server.port)/streams")))
        let object = try #require(try JSONSerialization.jsonObject(with: list.0) as? [String: Any])
        let names = (object["streams"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names == ["logs", "logs.dead", "logs.dead.late", "logs.late"])
        try await server.stop()
    }

    @Test func keepAliveConnectionCarriesManyRequests() async throws {
        let server = try await ReceiverHarness.start()
        let connection = try RawHTTPConnection(port: server.port)
        for round in 0..<5 {
            try await connection.send(httpRequest("POST", "/streams/views?time-field=ts&time-unit=s",
                                                  body: Array(numberedLines(10, from: round * 10).utf8)))
            let response = try await connection.readResponse()
            #expect(response.status == 200)
            #expect(try response.json()["accepted"] as? Int == 10)
        }
        try await server.stop()
        #expect(try sealAndRead("views", in: server.store, through: Interval(1000)).count == 50)
    }

    @Test func malformedLinesOfEveryKindBecomeDeadLettersWithReasonAndOrigin() async throws {
        let server = try await ReceiverHarness.start()
        let lines: [(String, String)] = [
            ("{\"ts\":1000,\"ok\":1}", ""),
            ("not json", "not a JSON object"),
            ("{\"ts\":1000,", "line ends before the JSON object is complete"),
            ("{\"ts\":1000,\"s\":\"open}", "unterminated string"),
            ("{\"ts\":1000} trailing", "unexpected bytes after the closing '}'"),
            ("{\"ts\":01}", "invalid number"),
            ("{\"ts\":1000,\"e\":\"\\x\"}", "invalid escape"),
            ("{\"ts\":1000,\"v\":tru}", "invalid literal"),
            (String(repeating: "[", count: 70), "not a JSON object"),
            ("{\"a\":" + String(repeating: "[", count: 70) + String(repeating: "]", count: 70) + "}", "nested more than 64"),
            ("{\"noTime\":1}", "missing time field \"ts\""),
            ("{\"ts\":\"yesterday\"}", "time field \"ts\" is neither a number of seconds nor an ISO 8601 time"),
            ("{\"ts\":-5}", "is before 1970"),
            ("{\"ts\":1000,\"ok\":2}", ""),
        ]
        var body = lines.map(\.0).joined(separator: "\n") + "\n"
        body += "{\"ts\":1000,\"bad\":\"\u{FF}\"}\n"  // replaced below by invalid UTF-8
        var bytes = Array(body.utf8)
        // Make the last line's string hold the byte 0xFF, which is not UTF-8.
        if let index = bytes.lastIndex(of: 0xC3) {
            bytes.replaceSubrange(index...index + 1, with: [0xFF])
        }
        let connection = try RawHTTPConnection(port: server.port)
        try await connection.send(httpRequest("POST", "/streams/events?time-field=ts&time-unit=s", body: bytes))
        let response = try await connection.readResponse()
        #expect(response.status == 200)
        let summary = try response.json()
        #expect(summary["accepted"] as? Int == 2)
        #expect(summary["rejected"] as? Int == 13)
        let listed = try #require(summary["rejections"] as? [[String: Any]])
        #expect(listed.count == 10)  // the default maxRejectionsListed
        #expect(listed.first?["line"] as? Int == 2)
        let request = try #require(summary["request"] as? Int)
        try await server.stop()

        let dead = try deadLetters(of: "events", in: server.store)
        #expect(dead.count == 13)
        for (index, (line, reason)) in lines.enumerated() where !reason.isEmpty {
            let letter = dead.first { $0["line"] as? Int == index + 1 }
            #expect(letter?["raw"] as? String == line, "line \(index + 1)")
            #expect((letter?["reason"] as? String)?.contains(reason) == true, "line \(index + 1): \(letter ?? [:])")
            #expect((letter?["origin"] as? String)?.hasPrefix("http 127.0.0.1:") == true)
            #expect(letter?["request"] as? Int == request)
        }
        let utf8 = try #require(dead.first { $0["line"] as? Int == 15 })
        #expect((utf8["reason"] as? String)?.contains("invalid UTF-8") == true)
        #expect(utf8["raw"] as? String == "{\"ts\":1000,\"bad\":\"\u{FFFD}\"}")
        #expect(server.receiver.metrics.deadLetters == 13)
        #expect(server.receiver.metrics.recordsRejected == 13)
    }

    @Test func blankLinesCarriageReturnsAndAMissingFinalNewlineAreHandled() async throws {
        let server = try await ReceiverHarness.start()
        let response = try await server.post("crlf", query: "time-field=ts&time-unit=s",
                                              "{\"ts\":1000}\r\n\n   \n{\"ts\":1000}\r\n{\"ts\":1000}")
        let summary = try response.json()
        #expect(summary["lines"] as? Int == 5)
        #expect(summary["accepted"] as? Int == 3)
        #expect(summary["blank"] as? Int == 2)
        try await server.stop()
    }

    @Test func settingsOfAnExistingStreamMustMatch() async throws {
        let server = try await ReceiverHarness.start()
        #expect(try await server.post("views", query: "partitions=2&time-field=ts", "{\"ts\":1}\n").status == 200)
        // Parameters left out are not compared.
        #expect(try await server.post("views", "{\"ts\":2}\n").status == 200)
        #expect(try await server.post("views", query: "partitions=2", "{\"ts\":3}\n").status == 200)
        let conflict = try await server.post("views", query: "partitions=3", "{\"ts\":4}\n")
        #expect(conflict.status == 409)
        #expect(try conflict.json()["error"] as? String == "stream views: exists with other settings: 2 partitions, not 3")
        let timing = try await server.post("views", query: "time-field=time", "{\"ts\":5}\n")
        #expect(timing.status == 409)
        #expect((try timing.json()["error"] as? String)?.contains("time field ts, not time field time") == true)

        // A typed stream is not a JSON stream.
        _ = try server.store.stream("typed", of: KeyValue<String, Int>.self, interval: .seconds(1), partitions: 1)
        let typed = try await server.post("typed", "{\"a\":1}\n")
        #expect(typed.status == 409)
        #expect((try typed.json()["error"] as? String)?.contains("not JSON lines") == true)
        try await server.stop()
    }

    @Test(arguments: [
        ("interval=fast", "query parameter interval=fast"),
        ("partitions=0", "query parameter partitions=0"),
        ("partitions=x", "query parameter partitions=x"),
        ("time-unit=days&time-field=ts", "query parameter time-unit=days"),
        ("time-unit=s", "time-unit needs time-field"),
        ("time-field=", "time-field is empty"),
        ("colour=blue", "unknown query parameter colour"),
    ])
    func badQueryParametersGet400(query: String, message: String) async throws {
        let server = try await ReceiverHarness.start()
        let response = try await server.post("views", query: query, "{\"a\":1}\n")
        #expect(response.status == 400)
        #expect((try response.json()["error"] as? String)?.contains(message) == true)
        #expect(try server.store.streams().isEmpty)
        try await server.stop()
    }

    @Test(arguments: ["views.late", "views.dead", "views.pos", "views.src", "bad%20name", String(repeating: "a", count: 191)])
    func streamsTheReceiverDoesNotWriteGet400(name: String) async throws {
        let server = try await ReceiverHarness.start()
        let response = try await server.post(name, "{\"a\":1}\n")
        #expect(response.status == 400)
        #expect(try server.store.streams().isEmpty)
        try await server.stop()
    }

    @Test func getDescribesStreamsAndUnknownOnesAre404() async throws {
        let server = try await ReceiverHarness.start()
        _ = try await server.post("views", query: "time-field=ts&time-unit=s&key-field=seq", numberedLines(300))
        let list = try await server.get("/streams")
        #expect(list.status == 200)
        let streams = try #require(try list.json()["streams"] as? [[String: Any]])
        let views = try #require(streams.first { $0["name"] as? String == "views" })
        #expect(views["timeField"] as? String == "ts" && views["keyField"] as? String == "seq")
        #expect(views["partitions"] as? Int == 4 && views["interval"] as? String == "1s")
        #expect(views["sealedThrough"] as? Int == 1001)  // event time reached 1002: 1000 and 1001 are sealed

        let one = try await server.get("/streams/views")
        #expect(one.status == 200)
        let stats = try #require(try one.json()["stats"] as? [String: Any])
        #expect(stats["records"] as? Int == 200)

        let unknown = try await server.get("/streams/nothing")
        #expect(unknown.status == 404)
        #expect(try unknown.json()["error"] as? String == "unknown stream nothing")
        try await server.stop()
    }

    @Test func unknownResourcesAre404AndOtherMethods405() async throws {
        let server = try await ReceiverHarness.start()
        #expect(try await server.get("/").status == 404)
        #expect(try await server.get("/streams/a/b").status == 404)
        let delete = try await exchange(port: server.port, "DELETE", "/streams/views")
        #expect(delete.status == 405)
        #expect(delete.headers["allow"] == "GET, POST")
        #expect(try await exchange(port: server.port, "POST", "/streams", body: "{}").status == 405)
        #expect(try await exchange(port: server.port, "PUT", "/metrics", body: "").status == 405)
        try await server.stop()
    }

    @Test func metricsCountResponsesRecordsAndDeadLetters() async throws {
        let server = try await ReceiverHarness.start()
        _ = try await server.post("m", "{\"a\":1}\n{\"a\":2}\nnope\n\n")
        _ = try await server.get("/nowhere")
        let metrics = try await server.get("/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.headers["content-type"]?.hasPrefix("text/plain") == true)
        let text = metrics.text
        #expect(text.contains("strata_http_responses_total{code=\"200\"} 1\n"))
        #expect(text.contains("strata_http_responses_total{code=\"404\"} 1\n"))
        #expect(text.contains("strata_records_total{outcome=\"accepted\"} 2\n"))
        #expect(text.contains("strata_records_total{outcome=\"rejected\"} 1\n"))
        #expect(text.contains("strata_dead_letters_total 1\n"))
        #expect(text.contains("strata_blank_lines_total 1\n"))
        #expect(text.contains("# TYPE strata_queued_bytes gauge\n"))
        let snapshot = server.receiver.metrics
        #expect(snapshot.responses[200] == 2 && snapshot.responses[404] == 1)
        try await server.stop()
    }

    @Test func concurrentRequestsToOneStreamAreEachStoredOnce() async throws {
        let server = try await ReceiverHarness.start()
        let port = server.port
        try await withThrowingTaskGroup(of: Int.self) { group in
            for client in 0..<16 {
                group.addTask {
                    let response = try await exchange(port: port, "POST", "/streams/many?time-field=ts&time-unit=s",
                                                      body: numberedLines(100, from: client * 100, perInterval: 10_000))
                    return try response.json()["accepted"] as? Int ?? -1
                }
            }
            var total = 0
            for try await accepted in group { total += accepted }
            #expect(total == 1600)
        }
        try await server.stop()
        let records = try sealAndRead("many", in: server.store, through: Interval(1000))
        #expect(records.count == 1600 && Set(records).count == 1600)
        #expect(server.receiver.metrics.commits <= 16)
    }
}
