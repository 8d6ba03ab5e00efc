// SPI for C++ callers: connect/finish as RAII, text parameters, results copied
// out into C++ values so nothing refers to SPI memory after the call.
#pragma once

#include "pg/guard.hpp"

#include <optional>
#include <string>
#include <vector>

namespace sunsync::pg {

using Value = std::optional<std::string>;
using Row = std::vector<Value>;

struct Result {
	std::vector<Row> rows;
	uint64 processed = 0;

	bool empty() const { return rows.empty(); }
	// The first column of the first row; an error if there is no row.
	const Value &scalar() const;
};

class Spi {
public:
	Spi();
	~Spi();
	Spi(const Spi &) = delete;
	Spi &operator=(const Spi &) = delete;

	// Runs one statement; every parameter is passed as text ($1::int and so on
	// in the statement give it its type).  Not read-only, so that it sees
	// what earlier statements of the same call wrote.
	Result run(const char *sql, const std::vector<Value> &params = {});

private:
	int uncaught_at_start_;
};

// Runs internal catalog statements as the owner of schema sunsync, with a
// search_path that a caller cannot steer, and restores both afterwards.  The
// caller's privileges are checked before this scope is entered.
class CatalogOwnerScope {
public:
	CatalogOwnerScope();
	~CatalogOwnerScope();
	CatalogOwnerScope(const CatalogOwnerScope &) = delete;
	CatalogOwnerScope &operator=(const CatalogOwnerScope &) = delete;

private:
	Oid saved_user_;
	int saved_sec_context_;
	int guc_nest_level_;
	int uncaught_at_start_;
};

} // namespace sunsync::pg
