import Foundation
import os
import WayfareCore

/// The core's `LogSink` on the unified log (`os.Logger`). The core filters
/// per target and strips identifiers before a line crosses the FFI; here
/// each core target (`wayfare_core::session`…) becomes a logger category.
/// Messages are marked public: the core never logs secrets, keys, phone
/// numbers or account ids.
final class OSLogSink: LogSink, @unchecked Sendable {
    private let subsystem = "app.wayfare"
    private let lock = NSLock()
    private var loggers: [String: Logger] = [:]

    func log(level: LogLevel, target: String, message: String) throws {
        let logger = logger(for: target)
        switch level {
        case .error:
            logger.error("\(message, privacy: .public)")
        case .warn:
            logger.warning("\(message, privacy: .public)")
        case .info:
            logger.info("\(message, privacy: .public)")
        case .debug:
            logger.debug("\(message, privacy: .public)")
        case .trace:
            logger.trace("\(message, privacy: .public)")
        }
    }

    private func logger(for target: String) -> Logger {
        lock.lock()
        defer { lock.unlock() }
        if let l = loggers[target] {
            return l
        }
        let l = Logger(subsystem: subsystem, category: target)
        loggers[target] = l
        return l
    }
}
