// SPI for C++ callers: connect/finish as RAII, text parameters, results copied
// out into C++ values so nothing refers to SPI memory after the call.
#pragma once

#include "pg/as_role.hpp"
#include "pg/guard.hpp"

#include <optional>
#include <string>
#include <vector>

namespace sunsync::pg {

using Value = std::optional<std::string>;
using Row = std::vector<Value>;

// A statement parameter: text (given its type by a cast in the statement,
// $1::int), NULL, raw bytes passed as a bytea, or a list passed as text[].
struct Bytes {
	std::string data;
};
class Param {
public:
	Param(const char *text) : value_(std::string(text)) {}
	Param(std::string text) : value_(std::move(text)) {}
	Param(Value text) : value_(std::move(text)) {}
	Param(std::nullopt_t) {}
	Param(Bytes bytes) : value_(std::move(bytes.data)), bytea_(true) {}
	Param(std::vector<std::string> items) : value_(std::string()), items_(std::move(items)), array_(true) {}
	const Value &value() const { return value_; }
	bool bytea() const { return bytea_; }
	bool array() const { return array_; }
	const std::vector<std::string> &items() const { return items_; }

private:
	Value value_;
	std::vector<std::string> items_;
	bool bytea_ = false;
	bool array_ = false;
};

// An OID, a regclass or a regrole read back from a result (their text
// form is the decimal OID when the query casts them to oid).
Oid oid_of(const Value &v);

struct Result {
	std::vector<Row> rows;
	uint64 processed = 0;

	bool empty() const { return rows.empty(); }
	// The first column of the first row; an error if there is no row.
	const Value &scalar() const;
};

class Spi {
public:
	// latest: read with the latest snapshot (read-only statements), not the
	// caller's transaction snapshot: what a REPEATABLE READ writer's old
	// snapshot would hide (a scope changed since) must be seen.  active:
	// read-only statements in the snapshot the caller pushed (one snapshot
	// for many statements, whatever the transaction's isolation).
	enum Snapshot { transaction, latest, active };
	explicit Spi(Snapshot snapshot = transaction);
	~Spi();
	Spi(const Spi &) = delete;
	Spi &operator=(const Spi &) = delete;

	// Runs one statement.  Values come back in their text form, except bytea
	// columns, which come back as their bytes.  Not read-only, so that it
	// sees what earlier statements of the same call wrote.
	Result run(const char *sql, const std::vector<Param> &params = {});
	// The same, planned for this call only: for a statement whose text
	// names a type (see the plan keeping in spi.cpp).
	Result run_once(const char *sql, const std::vector<Param> &params = {});
	// The same, always with its generic plan: for a statement run very
	// often whose best plan does not depend on the values (an index scan
	// by owner), for which the plan cache would otherwise keep choosing a
	// plan of its own for every call, planning it each time.
	Result run_generic(const char *sql, const std::vector<Param> &params = {});

private:
	Result execute(const char *sql, const std::vector<Param> &params, bool keep, bool generic = false);
	int uncaught_at_start_;
	bool latest_ = false;
	bool read_only_ = false;
};

// Runs internal catalog statements as the owner of schema sunsync, with a
// search_path that a caller cannot steer, and restores both afterwards.  The
// caller's privileges are checked before this scope is entered.
class CatalogOwnerScope : public RoleScope {
public:
	CatalogOwnerScope();
};

} // namespace sunsync::pg
