import CLMDB

extension Environment {
    /// Writes a compacted copy of the environment to the open file `descriptor`: only pages in
    /// use, free pages dropped, in one read transaction (a consistent snapshot).
    ///
    /// The corresponding LMDB call is `mdb_env_copyfd2` with `MDB_CP_COMPACT`. The caller flushes
    /// and closes the file.
    ///
    /// - Throws: `.lmdb` or `.storeFull` when the copy fails.
    package func copyCompacted(toDescriptor descriptor: Int32, path: String) throws(StorageError) {
        try check(mdb_env_copyfd2(handle, descriptor, UInt32(MDB_CP_COMPACT)), "mdb_env_copyfd2", path)
    }
}
