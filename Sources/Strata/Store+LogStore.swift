import StrataStorage

extension Store {
    /// The store's log, for modules of this package layered on `Strata` (`StrataSQL` reads blocks
    /// through it). Not part of the public API.
    package var logStore: LogStore { log }
}
