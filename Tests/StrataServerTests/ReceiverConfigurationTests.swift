import Testing

@testable import StrataServer

@Suite struct ReceiverConfigurationTests {
    @Test func defaultsBindLoopbackWithoutToken() {
        let configuration = ReceiverConfiguration()
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.token == nil)
        #expect(configuration.maxRecordBytes <= configuration.maxBodyBytes)
    }
}
