#include "engine/target_record.hpp"

#include "common/error.hpp"
#include "common/quote.hpp"

namespace sunsync::engine {

namespace {

constexpr const char *table_name = "sunsync_state";

std::string record_schema(const Scope &scope)
{
	if (!scope.target_schema.empty())
		return scope.target_schema;
	for (const auto &t : scope.tables)
		if (t.oid == scope.root)
			return t.target_schema;
	throw Error(sqlstate::internal_error, "the scope has no root table");
}

} // namespace

std::string record_table(const Scope &scope)
{
	std::string schema = record_schema(scope);
	for (const auto &t : scope.tables)
		if (t.target_schema == schema && t.target_name == table_name)
			throw Error(sqlstate::invalid_object_definition,
						"table " + t.display + " would land on the target as " + schema + "." + table_name +
							", the table where sunsync keeps its own record",
						{}, "Rename the table, or give the configuration another target_schema.");
	return quote_qualified(schema, table_name);
}

std::optional<TargetRecord> read_record(remote::Connection &conn, const Scope &scope, const TargetCatalog &catalog,
										const std::string &source_id, int64 config_id, bool lock)
{
	if (!catalog.record_exists)
		return std::nullopt;
	std::string table = record_table(scope);
	auto row = conn.query("SELECT applied_snapshot, settled_snapshot, scope_version, source_position FROM " + table +
						  " WHERE source_id = " + quote_literal(source_id) + "::pg_catalog.uuid AND config_id = " +
						  std::to_string(config_id) + (lock ? " FOR UPDATE" : ""));
	if (row.empty() || !row[0][0] || !row[0][1] || !row[0][2])
		return std::nullopt;
	TargetRecord r;
	r.applied = *row[0][0];
	r.settled = *row[0][1];
	r.scope_version = std::stoll(*row[0][2]);
	r.source_position = row[0][3].value_or("");
	return r;
}

void write_record(remote::Connection &conn, const Scope &scope, const TargetCatalog &catalog,
				  const std::string &source_id, int64 config_id, const std::string &owner, const TargetRecord &record)
{
	std::string table = record_table(scope);
	if (!catalog.record_exists) {
		conn.exec("CREATE TABLE IF NOT EXISTS " + table +
			  " (source_id uuid NOT NULL, config_id bigint NOT NULL, owner text NOT NULL, "
			  "applied_snapshot text NOT NULL, settled_snapshot text NOT NULL, scope_version bigint NOT NULL, "
			  "source_position text, "
			  "updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(), PRIMARY KEY (source_id, config_id))");
		conn.exec("COMMENT ON TABLE " + table + " IS " +
				  quote_literal("managed by sunsync: how far this copy has got; a row missing makes the next run a full sync"));
	}
	conn.exec("INSERT INTO " + table +
			  " (source_id, config_id, owner, applied_snapshot, settled_snapshot, scope_version, source_position) "
			  "VALUES (" +
			  quote_literal(source_id) + ", " + std::to_string(config_id) + ", " + quote_literal(owner) + ", " +
			  quote_literal(record.applied) + ", " + quote_literal(record.settled) + ", " +
			  std::to_string(record.scope_version) + ", " + quote_literal(record.source_position) +
			  ") ON CONFLICT (source_id, config_id) DO UPDATE SET owner = EXCLUDED.owner, "
			  "applied_snapshot = EXCLUDED.applied_snapshot, settled_snapshot = EXCLUDED.settled_snapshot, "
			  "scope_version = EXCLUDED.scope_version, source_position = EXCLUDED.source_position, updated_at = pg_catalog.now()");
}

} // namespace sunsync::engine
