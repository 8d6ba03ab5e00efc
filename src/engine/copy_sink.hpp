// Streams the rows of a source query into a COPY ... FROM STDIN on the
// target: a DestReceiver for SPI_execute_extended encodes each tuple in COPY
// binary format (type send functions) or COPY text format, and hands the
// buffer to the connection every 256 kB.  PostgreSQL's COPY TO has no data
// callback in version 15, hence this receiver.
#pragma once

#include "pg/postgres.hpp"

extern "C" {
#include "nodes/params.h"
#include "port/atomics.h"
}

#include <string>

namespace sunsync::remote {
class Connection;
}

namespace sunsync::engine {

struct CopyProgress {
	pg_atomic_uint64 *rows_done; // shared-memory counter, may be null
	volatile bool *stop;
};

// Runs `select_sql` through SPI (the caller holds an SPI connection and a
// snapshot) and streams its rows into the COPY already begun on `conn`.
// Returns the number of rows sent.  params: $1... of the query, if any.
uint64 stream_query(const std::string &select_sql, bool binary, remote::Connection &conn,
					CopyProgress progress, ParamListInfo params = nullptr);

} // namespace sunsync::engine
