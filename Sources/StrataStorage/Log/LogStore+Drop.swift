import Glibc

extension LogStore {
    /// Deletes the stream `name` and its late side stream in one commit: catalog rows, frontiers,
    /// seals, blocks and the state row naming it. Readers that opened it before keep reading
    /// their transaction's snapshot (lmdb.h: a read transaction sees one consistent version).
    ///
    /// - Returns: The number of blocks deleted (both streams).
    /// - Throws: `.unknownStream`; `.lmdb` or `.storeFull` when the commit fails.
    package func dropStream(named name: String) throws(StorageError) -> Int {
        try committer.write { [self] txn in
            // Blocks deleted outside `apply`: the seal counts start again from the disk.
            sealTally.invalidate()
            guard let main = try descriptor(named: name, in: txn) else { throw StorageError.unknownStream(name) }
            var doomed = [main]
            if let late = try descriptor(named: main.lateStreamName, in: txn) { doomed.append(late) }
            var blocksDeleted = 0
            for descriptor in doomed {
                let id = descriptor.id
                // Re-seek after every delete rather than trusting the cursor position lmdb.h leaves
                // after `mdb_cursor_del`, as retention does.
                try txn.withCursor(blocks) { cursor in
                    let start = BlockKey(stream: id, interval: Interval(0), partition: PartitionIndex(0),
                                         chunk: ChunkIndex(rawValue: 0))
                    while let (keyBytes, _) = try start.withEncodedBytes({ try cursor.seek(atLeast: $0) }),
                          let key = BlockKey(decoding: keyBytes), key.stream == id {
                        try cursor.deleteCurrent()
                        blocksDeleted += 1
                    }
                }
                try txn.withCursor(seals) { cursor in
                    let start = SealKey(stream: id, interval: Interval(0))
                    while let (keyBytes, _) = try start.withEncodedBytes({ try cursor.seek(atLeast: $0) }),
                          let key = SealKey(decoding: keyBytes), key.stream == id {
                        try cursor.deleteCurrent()
                    }
                }
                _ = try StreamKey(id).withEncodedBytes { try txn.delete(frontiers, key: $0) }
                _ = try Array(descriptor.name.utf8).withUnsafeBytes { try txn.delete(catalog, key: $0) }
                _ = try Array(descriptor.name.utf8).withUnsafeBytes { try txn.delete(stateRows, key: $0) }
            }
            return blocksDeleted
        }
    }

    /// Renames the stream `name` (and its late side stream) to `newName` in one commit. Blocks,
    /// seals and frontiers are keyed by the stream's ID, which does not change, so no data moves.
    ///
    /// - Throws: `.unknownStream`; `.invalidStreamName` for `newName`; `.streamExists` when
    ///   `newName` or `newName.late` exists; `.lmdb` or `.storeFull` when the commit fails.
    package func renameStream(_ name: String, to newName: String) throws(StorageError) {
        guard StreamDescriptor.isValidName(newName), newName.utf8.count <= 195, !newName.hasSuffix(".late") else {
            throw .invalidStreamName(newName)
        }
        try committer.write { [self] txn in
            guard var main = try descriptor(named: name, in: txn) else { throw StorageError.unknownStream(name) }
            var late = try descriptor(named: main.lateStreamName, in: txn)
            for taken in [newName, newName + ".late"] where try descriptor(named: taken, in: txn) != nil {
                throw StorageError.streamExists(taken)
            }
            for old in [main.name, late?.name].compactMap({ $0 }) {
                _ = try Array(old.utf8).withUnsafeBytes { try txn.delete(catalog, key: $0) }
            }
            main.name = newName
            try putCatalogRow(main, txn)
            if var side = late {
                side.name = main.lateStreamName
                side.lateRecordsOf = newName
                try putCatalogRow(side, txn)
                late = side
            }
        }
    }

    private func putCatalogRow(_ descriptor: StreamDescriptor, _ txn: borrowing Transaction) throws {
        let row = descriptor.encodedRow()
        try Array(descriptor.name.utf8).withUnsafeBytes { key in
            try row.withUnsafeBytes { try txn.put(catalog, key: key, value: $0) }
        }
    }
}
