#include "engine/target_schema.hpp"

#include "common/error.hpp"
#include "common/quote.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace sunsync::engine {

namespace {

std::string display(const std::string &schema, const std::string &name) { return schema + "." + name; }

// The enum's labels on the target; nullopt when the type does not exist.
std::optional<std::vector<std::string>> target_enum_labels(remote::Connection &conn, const EnumSpec &e)
{
	auto type = conn.query("SELECT t.oid, t.typtype FROM pg_catalog.pg_type t "
						   "JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
						   "WHERE n.nspname = " + quote_literal(e.schema) +
						   " AND t.typname = " + quote_literal(e.name));
	if (type.empty())
		return std::nullopt;
	if (*type[0][1] != "e")
		throw Error("42804",
					"schema mismatch: type " + display(e.schema, e.name) +
						" on the target is not an enum",
					{}, "Drop or rename that type on the target.");
	std::vector<std::string> labels;
	for (const auto &r : conn.query("SELECT enumlabel FROM pg_catalog.pg_enum WHERE enumtypid = " +
									*type[0][0] + " ORDER BY enumsortorder"))
		labels.push_back(*r[0]);
	return labels;
}

} // namespace

std::string target_table(const TableSpec &t) { return quote_qualified(t.target_schema, t.target_name); }

void add_missing_enum_labels(remote::Connection &conn, const Scope &scope)
{
	for (const auto &[oid, e] : scope.enums) {
		auto existing = target_enum_labels(conn, e);
		if (!existing)
			continue;
		std::set<std::string> have(existing->begin(), existing->end());
		// each missing label goes where the source has it: after the label
		// before it in the source's order (which the target has by then), or
		// before the first label the target has
		const std::string *previous = nullptr;
		for (const auto &label : e.labels) {
			if (!have.count(label)) {
				std::string where = previous ? " AFTER " + quote_literal(*previous)
								   : existing->empty() ? ""
													   : " BEFORE " + quote_literal(existing->front());
				conn.exec("ALTER TYPE " + quote_qualified(e.schema, e.name) + " ADD VALUE IF NOT EXISTS " +
						  quote_literal(label) + where);
				have.insert(label);
			}
			previous = &label;
		}
	}
}

bool ensure_tables(remote::Connection &conn, Scope &scope)
{
	bool changed = false;
	std::set<std::string> schemas;
	for (const auto &t : scope.tables)
		schemas.insert(t.target_schema);
	for (const auto &[oid, e] : scope.enums)
		schemas.insert(e.schema);
	for (const auto &t : scope.types)
		schemas.insert(t.schema);
	for (const auto &s : schemas)
		conn.exec("CREATE SCHEMA IF NOT EXISTS " + quote_ident(s));

	for (const auto &[oid, e] : scope.enums) {
		if (target_enum_labels(conn, e))
			continue;
		std::string labels;
		for (const auto &l : e.labels)
			labels += (labels.empty() ? "" : ", ") + quote_literal(l);
		conn.exec("CREATE TYPE " + quote_qualified(e.schema, e.name) + " AS ENUM (" + labels + ")");
	}
	// composite and range types, each after the types it uses; one that the
	// target has already is taken as it is
	for (const auto &t : scope.types) {
		auto have = conn.query("SELECT t.typtype FROM pg_catalog.pg_type t "
							   "JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
							   "WHERE n.nspname = " + quote_literal(t.schema) +
							   " AND t.typname = " + quote_literal(t.name));
		if (!have.empty()) {
			if ((*have[0][0])[0] != t.kind)
				throw Error("42804",
							"schema mismatch: type " + display(t.schema, t.name) + " on the target is not a " +
								(t.kind == 'c' ? "composite" : "range") + " type",
							{}, "Drop or rename that type on the target.");
			continue;
		}
		if (t.kind == 'r') {
			conn.exec("CREATE TYPE " + quote_qualified(t.schema, t.name) + " AS RANGE (SUBTYPE = " +
					  t.subtype_sql + ")");
			continue;
		}
		std::string fields;
		for (const auto &[name, type] : t.fields)
			fields += (fields.empty() ? "" : ", ") + quote_ident(name) + " " + type;
		conn.exec("CREATE TYPE " + quote_qualified(t.schema, t.name) + " AS (" + fields + ")");
	}

	for (auto &t : scope.tables) {
		std::string name = target_table(t);
		auto rel = conn.query("SELECT c.oid FROM pg_catalog.pg_class c "
							  "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
							  "WHERE n.nspname = " + quote_literal(t.target_schema) +
							  " AND c.relname = " + quote_literal(t.target_name) +
							  " AND c.relkind IN ('r', 'p')");
		if (rel.empty()) {
			std::string ddl = "CREATE TABLE " + name + " (";
			for (const auto &c : t.columns)
				ddl += quote_ident(c.name) + " " + c.type_sql + (c.not_null ? " NOT NULL" : "") + ", ";
			ddl += "PRIMARY KEY (" + quote_ident_list(t.primary_key) + "))";
			conn.exec(ddl);
			changed = true;
			continue;
		}
		std::map<std::string, std::string> target_types;
		std::set<std::string> generated, required;
		for (const auto &r : conn.query("SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), "
										"a.attgenerated <> '', a.attnotnull AND NOT a.atthasdef "
										"FROM pg_catalog.pg_attribute a WHERE a.attrelid = " +
										*rel[0][0] + " AND a.attnum > 0 AND NOT a.attisdropped")) {
			target_types[*r[0]] = *r[1];
			if (*r[2] == "t")
				generated.insert(*r[0]);
			else if (*r[3] == "t")
				required.insert(*r[0]);
		}
		// a column renamed or dropped on the source leaves the target's behind;
		// one the target requires (NOT NULL, no default) would fail every row
		std::set<std::string> sent;
		for (const auto &c : t.columns)
			sent.insert(c.name);
		for (const auto &col : required)
			if (!sent.count(col))
				throw Error("42804",
							"schema mismatch: table " + display(t.target_schema, t.target_name) + " column " + col +
								" is NOT NULL on the target, and the source sends no such column",
							"It was renamed, dropped or excluded on the source.",
							"Rename it on the target as on the source, or drop it or its NOT NULL there.");
		// every type is checked before anything is changed
		for (const auto &c : t.columns) {
			auto it = target_types.find(c.name);
			if (it != target_types.end() && it->second != c.type_sql)
				throw Error("42804",
							"schema mismatch: table " + display(t.target_schema, t.target_name) +
								" column " + c.name + " is " + it->second + " on the target but " +
								c.type_sql + " on the source",
							{},
							"Change the column on the target to " + c.type_sql +
								", or drop the target table and let sunsync create it.");
		}
		for (const auto &c : t.columns)
			if (!target_types.count(c.name)) { // added on the source since the last run
				conn.exec("ALTER TABLE " + name + " ADD COLUMN " + quote_ident(c.name) + " " + c.type_sql);
				changed = true;
			}
		// the target computes its generated columns: never COPY into them
		t.columns.erase(std::remove_if(t.columns.begin(), t.columns.end(),
									   [&](const ColumnSpec &c) { return generated.count(c.name) > 0; }),
						t.columns.end());
	}
	return changed;
}

void ensure_path_indexes(remote::Connection &conn, const Scope &scope)
{
	for (const auto &t : scope.tables) {
		if (t.hops.empty())
			continue;
		auto parent = t.ancestors.find(t.hops[0].parent);
		if (parent == t.ancestors.end() || parent->second.hop != 0 || !parent->second.reachable_on_target)
			continue;
		std::vector<std::string> cols;
		std::string names;
		for (const auto &[c, p] : t.hops[0].columns) {
			cols.push_back(c);
			names += (names.empty() ? "" : ", ") + quote_literal(c);
		}
		auto have = conn.query(
			"SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = " + quote_literal(target_table(t)) +
			"::pg_catalog.regclass AND (SELECT pg_catalog.array_agg(a.attname::pg_catalog.text ORDER BY a.attname::pg_catalog.text COLLATE pg_catalog.\"C\") "
			"FROM pg_catalog.pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY "
			"((i.indkey::pg_catalog.int2[])[0:" + std::to_string(cols.size() - 1) + "])) = "
			"(SELECT pg_catalog.array_agg(c ORDER BY c COLLATE pg_catalog.\"C\") FROM pg_catalog.unnest(ARRAY[" + names + "]::pg_catalog.text[]) c)");
		if (have.empty())
			conn.exec("CREATE INDEX ON " + target_table(t) + " (" + quote_ident_list(cols) + ")");
	}
}

// sunsync marks the foreign keys it creates with this comment, so that it
// finds them again whatever they are called since.
const char *const managed_key_comment = "managed by sunsync";

void drop_foreign_keys(remote::Connection &conn, const Scope &scope)
{
	// keys sunsync made on tables that are no longer replicated, to tables
	// that are: they would stop the TRUNCATE (the rows stay; only sunsync's
	// constraint goes)
	std::string targets;
	for (const auto &t : scope.tables)
		targets += (targets.empty() ? "" : ", ") + quote_literal(target_table(t)) + "::pg_catalog.regclass";
	if (!targets.empty())
		for (const auto &r : conn.query("SELECT conrelid::pg_catalog.regclass::pg_catalog.text, conname "
										"FROM pg_catalog.pg_constraint WHERE contype = 'f' "
										"AND confrelid IN (" + targets + ") AND conrelid NOT IN (" + targets + ") "
										"AND pg_catalog.obj_description(oid, 'pg_constraint') = " +
										quote_literal(managed_key_comment)))
			conn.exec("ALTER TABLE " + *r[0] + " DROP CONSTRAINT " + quote_ident(*r[1]));
	for (const auto &t : scope.tables) {
		std::string names;
		for (const auto &n : t.source_foreign_keys)
			names += ", " + quote_literal(n);
		// sunsync's own: marked, or (made by 0.1, which did not mark them)
		// deferrable and named after a source foreign key
		auto own = conn.query("SELECT conname FROM pg_catalog.pg_constraint "
							  "WHERE conrelid = " + quote_literal(target_table(t)) + "::pg_catalog.regclass "
							  "AND contype = 'f' AND (pg_catalog.obj_description(oid, 'pg_constraint') = " +
							  quote_literal(managed_key_comment) + " OR (condeferrable AND conname IN (NULL" + names +
							  ")))");
		for (const auto &r : own)
			conn.exec("ALTER TABLE " + target_table(t) + " DROP CONSTRAINT " + quote_ident(*r[0]));
	}
}

void drop_stale_foreign_keys(remote::Connection &conn, const Scope &scope)
{
	std::string targets, own;
	std::string managed = "pg_catalog.obj_description(c.oid, 'pg_constraint') = " + quote_literal(managed_key_comment);
	for (const auto &t : scope.tables) {
		std::string table = quote_literal(target_table(t)) + "::pg_catalog.regclass";
		targets += (targets.empty() ? "" : ", ") + table;
		std::string names;
		for (const auto &n : t.source_foreign_keys)
			names += ", " + quote_literal(n);
		own += " OR (c.conrelid = " + table + " AND c.conname IS DISTINCT FROM " +
			   (t.path_key ? quote_literal(t.path_key->name) : std::string("NULL")) + " AND (" + managed +
			   " OR (c.condeferrable AND c.conname IN (NULL" + names + "))))";
	}
	if (targets.empty())
		return;
	for (const auto &r : conn.query("SELECT c.conrelid::pg_catalog.regclass::pg_catalog.text, c.conname "
									"FROM pg_catalog.pg_constraint c WHERE c.contype = 'f' AND ((c.confrelid IN (" +
									targets + ") AND c.conrelid NOT IN (" + targets + ") AND " + managed + ")" + own +
									")"))
		conn.exec("ALTER TABLE " + *r[0] + " DROP CONSTRAINT " + quote_ident(*r[1]));
}

void add_foreign_keys(remote::Connection &conn, const Scope &scope)
{
	std::map<Oid, const TableSpec *> by_oid;
	for (const auto &t : scope.tables)
		by_oid[t.oid] = &t;
	for (const auto &t : scope.tables)
		if (const auto &fk = t.path_key)
			conn.exec("ALTER TABLE " + target_table(t) + " ADD CONSTRAINT " + quote_ident(fk->name) +
					  " FOREIGN KEY (" + quote_ident_list(fk->columns) + ") REFERENCES " +
					  target_table(*by_oid.at(fk->parent)) + " (" + quote_ident_list(fk->parent_columns) +
					  ") DEFERRABLE INITIALLY DEFERRED; COMMENT ON CONSTRAINT " + quote_ident(fk->name) + " ON " +
					  target_table(t) + " IS " + quote_literal(managed_key_comment));
}

} // namespace sunsync::engine
