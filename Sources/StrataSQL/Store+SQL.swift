import Strata

extension Store {
    /// Runs SQL over the store's streams and returns the last statement's rows.
    ///
    /// A convenience over ``SQLConnection`` (which keeps inferred tables between queries and can
    /// be interrupted); it lives in the `StrataSQL` product, so import `StrataSQL` to use it.
    ///
    /// ```swift
    /// import Strata
    /// import StrataSQL
    ///
    /// let top = try store.sql("SELECT url, count(*) AS n FROM pageViews GROUP BY url ORDER BY n DESC LIMIT 10")
    /// for row in top.rows { print(row[0], row[1]) }
    /// ```
    ///
    /// - Throws: `SQLError`.
    public func sql(_ query: String) throws -> SQLResult {
        try SQLConnection(store: self).rows(query)
    }
}
