import StrataStorage

extension Program {
    /// The names of the program's stateful vertices (those that write snapshots), in definition order.
    package var statefulVertexNames: [String] { vertices.filter(\.isStateful).map(\.name) }

    /// Every stream the program reads or writes, in definition order, each once (lookup only set).
    package var allStreams: [StreamDescriptor] {
        var result: [StreamDescriptor] = []
        var seen: Set<String> = []
        func add(_ stream: StreamDescriptor) { if seen.insert(stream.name).inserted { result.append(stream) } }
        for vertex in vertices {
            for stream in vertex.inputs { add(stream) }
            for stream in vertex.outputs { add(stream) }
            for copy in vertex.copies { add(copy.copy) }
        }
        for exchange in gatheredExchanges {
            add(exchange.sent)
            add(exchange.gathered)
        }
        return result
    }

    /// An image of what this program needs in its store to continue where it stands, without
    /// the intervals before: each stateful vertex's newest snapshot at or before its progress,
    /// every vertex's progress, and each stream's sealed blocks from the first interval a reader
    /// still needs — the interval after the reader's snapshot (stateful) or progress, less the
    /// program's `lookback` (windows read back that far).
    ///
    /// Installed into a fresh store of the same program (`install(_:)`), the program recomputes
    /// exactly what it would after a restart of this store: each vertex restores from the same
    /// snapshot and replays the same sealed input, so its outputs are block for block the same.
    ///
    /// - Parameter keeping: Streams someone outside the program still reads from this store (a
    ///   cluster task's exported streams), with the interval through which they have read them
    ///   (`nil`: none yet): their blocks after it are kept too.
    /// - Returns: The image and the interval it resumes from at the earliest: the smallest
    ///   snapshot or progress interval of its vertices (`nil`: some vertex has none).
    /// - Throws: `EngineError.storage` when the store fails.
    package func image(keeping: [String: Interval?] = [:]) throws -> (image: StoreImage, through: Interval?) {
        let vertices = self.vertices
        let lookback = self.lookback
        var through: Interval?? = .none
        let image: StoreImage
        do {
            image = try log.readImage(streams: allStreams, vertices: vertices.map(\.name)) { view in
                var floors: [String: Interval] = [:]
                var snapshots: [String: Interval] = [:]
                var earliest: Interval?? = .none
                func lower(_ stream: String, _ floor: Interval) { floors[stream] = min(floors[stream] ?? floor, floor) }
                for vertex in vertices {
                    let progress = view.progress[vertex.name]?.interval
                    var resume = progress
                    if vertex.isStateful, let progress {
                        // The newest snapshot at or before the progress: a restore loads it and
                        // replays the input after it.
                        let snapshot = view.snapshotIntervals[vertex.name]?.last { $0 <= progress }
                        if let snapshot { snapshots[vertex.name] = snapshot }
                        resume = snapshot
                    }
                    switch earliest {
                    case .none: earliest = .some(resume)
                    case .some(let current): earliest = .some(current.flatMap { c in resume.map { min(c, $0) } })
                    }
                    let start = resume.map { $0.next } ?? Interval(0)
                    let floor = Interval(start.rawValue >= lookback ? start.rawValue - lookback : 0)
                    for input in vertex.inputs { lower(input.name, floor) }
                }
                for (stream, read) in keeping { lower(stream, read.map { $0.next } ?? Interval(0)) }
                through = earliest
                return (floors, snapshots)
            }
        } catch {
            throw EngineError.storage(error, vertex: name, interval: nil)
        }
        return (image, through.flatMap { $0 })
    }

    /// Installs an image taken by `image(keeping:)` from another store of this program (the same
    /// definition) into this program's fresh store: `run()` then continues from it.
    ///
    /// - Throws: `EngineError.misuse` while the program runs, or when the store already holds
    ///   sealed intervals or progress of the program; `EngineError.storage` when the image does
    ///   not fit the store (a stream missing, other partitions) or the store fails.
    package func install(_ image: StoreImage) throws {
        if isRunning { throw EngineError.misuse("program \(name) is running: install an image before a run") }
        let known = Set(allStreams.map(\.name))
        for stream in image.streams where !known.contains(stream.name) {
            throw EngineError.misuse("program \(name) has no stream \(stream.name): the image is of another program")
        }
        let vertexNames = Set(vertices.map(\.name))
        for (vertex, _) in image.progress where !vertexNames.contains(vertex) {
            throw EngineError.misuse("program \(name) has no vertex \(vertex): the image is of another program")
        }
        do {
            try log.installImage(image)
        } catch {
            throw EngineError.storage(error, vertex: name, interval: nil)
        }
    }
}
