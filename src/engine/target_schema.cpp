#include "engine/target_schema.hpp"

#include "common/error.hpp"
#include "common/quote.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace sunsync::engine {

namespace {

std::string display(const std::string &schema, const std::string &name) { return schema + "." + name; }

using Name = TargetCatalog::Name;

// ARRAY['a', 'b']::pg_catalog.text[] (an empty one too)
std::string text_array(const std::vector<std::string> &items)
{
	if (items.empty())
		return "'{}'::pg_catalog.text[]";
	std::string out;
	for (const auto &i : items)
		out += (out.empty() ? "" : ", ") + quote_literal(i);
	return "ARRAY[" + out + "]::pg_catalog.text[]";
}

// a boolean cast to text: "true"
bool truth(const std::optional<std::string> &v) { return v && *v == "true"; }

// sunsync marks the foreign keys it creates with this comment, so that it
// finds them again whatever they are called since.
const char *const managed_key_comment = "managed by sunsync";

// The type the target has by that name, checked to be of the kind wanted;
// 0 when it has none.
char existing_type(const TargetCatalog &catalog, const std::string &schema, const std::string &name, char kind)
{
	auto it = catalog.types.find({schema, name});
	if (it == catalog.types.end())
		return 0;
	if (it->second != kind)
		throw Error("42804",
					"schema mismatch: type " + display(schema, name) + " on the target is not " +
						(kind == 'e' ? "an enum" : kind == 'c' ? "a composite type" : "a range type"),
					{}, "Drop or rename that type on the target.");
	return kind;
}

void drop_constraint(remote::Connection &conn, const std::string &table, const std::string &name)
{
	conn.exec("ALTER TABLE " + table + " DROP CONSTRAINT " + quote_ident(name));
}

// The keys sunsync made on tables that are no longer replicated, to tables
// that are (they would stop a TRUNCATE; the rows stay, only sunsync's
// constraint goes), and sunsync's own on the scope's tables: marked, or
// (made by 0.1, which did not mark them) deferrable and named after a source
// foreign key.  keep: the name of the table's path key, kept.
void drop_sunsync_keys(remote::Connection &conn, const Scope &scope, const TargetCatalog &catalog, bool keep_path_keys)
{
	std::map<Name, const TableSpec *> by_name;
	for (const auto &t : scope.tables)
		by_name[{t.target_schema, t.target_name}] = &t;
	for (const auto &fk : catalog.foreign_keys) {
		if (!fk.scope_table) {
			if (fk.managed)
				drop_constraint(conn, fk.table, fk.name);
			continue;
		}
		auto it = by_name.find(*fk.scope_table);
		if (it == by_name.end())
			continue;
		const TableSpec &t = *it->second;
		if (keep_path_keys && t.path_key && t.path_key->name == fk.name)
			continue;
		bool named_as_source = std::find(t.source_foreign_keys.begin(), t.source_foreign_keys.end(), fk.name) !=
							   t.source_foreign_keys.end();
		if (fk.managed || (fk.deferrable && named_as_source))
			drop_constraint(conn, fk.table, fk.name);
	}
}

// What a run needs to know of the target, one statement: $1, $2 the
// tables' schemas and names, $3, $4 the types', $5 the comment of the keys
// sunsync manages, $6 the record table.
const char *const catalog_query =
	// each name looked up by schema and name together: joined, the generic
	// plan looked tables up by name alone (every tenant schema has one of
	// that name) and filtered the schema after: 2,160 buffers a run with
	// 250 tenant schemas in the database
	"WITH rels AS (SELECT c.oid, w.s, w.n FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), "
	"pg_catalog.unnest($2::pg_catalog.text[])) w(s, n) "
	"JOIN pg_catalog.pg_class c ON c.relname = w.n AND c.relnamespace = "
	"(SELECT ns.oid FROM pg_catalog.pg_namespace ns WHERE ns.nspname = w.s) AND c.relkind IN ('r', 'p')), "
	"types AS (SELECT t.oid, t.typtype, w.s, w.n FROM ROWS FROM (pg_catalog.unnest($3::pg_catalog.text[]), "
	"pg_catalog.unnest($4::pg_catalog.text[])) w(s, n) "
	"JOIN pg_catalog.pg_type t ON t.typname = w.n AND t.typnamespace = "
	"(SELECT ns.oid FROM pg_catalog.pg_namespace ns WHERE ns.nspname = w.s)) "
	"SELECT 'table', r.s, r.n, NULL, NULL, NULL, NULL FROM rels r "
	"UNION ALL SELECT 'column', r.s, r.n, a.attname::pg_catalog.text, "
	"pg_catalog.format_type(a.atttypid, a.atttypmod), (a.attgenerated <> '')::pg_catalog.text, "
	"(a.attnotnull AND NOT a.atthasdef)::pg_catalog.text FROM rels r "
	"JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped "
	"UNION ALL SELECT 'index', r.s, r.n, i.indexrelid::pg_catalog.text, k.pos::pg_catalog.text, "
	"coalesce(a.attname::pg_catalog.text, ''), NULL FROM rels r "
	"JOIN pg_catalog.pg_index i ON i.indrelid = r.oid "
	"CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY k(attnum, pos) "
	"LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum = k.attnum "
	"UNION ALL SELECT 'fk', r.s, r.n, c.conrelid::pg_catalog.regclass::pg_catalog.text, c.conname::pg_catalog.text, "
	// (not obj_description: a SQL function, planned again at every run)
	"EXISTS (SELECT FROM pg_catalog.pg_description d WHERE d.objoid = c.oid "
	"AND d.classoid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND d.objsubid = 0 "
	"AND d.description = $5::pg_catalog.text)::pg_catalog.text, "
	"c.condeferrable::pg_catalog.text "
	// the keys of these tables and those that point at them (found by
	// their dependency on the table: pg_constraint has no index on confrelid)
	"FROM (SELECT k.oid FROM rels r JOIN pg_catalog.pg_constraint k ON k.conrelid = r.oid "
	"      UNION SELECT d.objid FROM rels r JOIN pg_catalog.pg_depend d ON "
	"      d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = r.oid "
	"      AND d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass) f "
	"JOIN pg_catalog.pg_constraint c ON c.oid = f.oid AND c.contype = 'f' "
	"LEFT JOIN rels r ON r.oid = c.conrelid "
	"UNION ALL SELECT 'type', t.s, t.n, t.typtype::pg_catalog.text, NULL, NULL, NULL FROM types t "
	"UNION ALL SELECT 'label', t.s, t.n, e.enumlabel::pg_catalog.text, e.enumsortorder::pg_catalog.text, NULL, NULL "
	"FROM types t JOIN pg_catalog.pg_enum e ON e.enumtypid = t.oid "
	"UNION ALL SELECT 'record', NULL, NULL, (pg_catalog.to_regclass($6::pg_catalog.text) IS NOT NULL)::pg_catalog.text, "
	"NULL, NULL, NULL";

} // namespace

std::string target_table(const TableSpec &t) { return quote_qualified(t.target_schema, t.target_name); }

TargetCatalog inspect_target(remote::Connection &conn, const Scope &scope, const std::string &record_table,
							 bool in_transaction)
{
	std::vector<std::string> table_schemas, table_names, type_schemas, type_names;
	for (const auto &t : scope.tables) {
		table_schemas.push_back(t.target_schema);
		table_names.push_back(t.target_name);
	}
	for (const auto &[oid, e] : scope.enums) {
		type_schemas.push_back(e.schema);
		type_names.push_back(e.name);
	}
	for (const auto &t : scope.types) {
		type_schemas.push_back(t.schema);
		type_names.push_back(t.name);
	}
	// one row shape for everything: kind, schema, name, a, b, c, d
	conn.prepare_once("sunsync_catalog_v2", catalog_query);
	// planned once per session, not at every run (2 ms of a one-row run),
	// and on the catalog's indexes alone: the plan outlives the catalog it
	// was made for (made while a target's first copies had created a few
	// schemas, it hashed all of pg_namespace at every run once there were
	// a thousand: 3.8 ms a run).  LOCAL: they go with the EXECUTE in one
	// message, outside the run's transaction (or are set back right after
	// it, inside one), so the tenant's trigger code and sunsync_verify's
	// reads keep the session's settings.  (No JIT: a plan's cost with a
	// method disabled passes jit_above_cost.  Every setting exists from
	// PostgreSQL 12, the oldest target a connection accepts.)
	std::vector<std::string> settings{"plan_cache_mode = force_generic_plan"};
	for (const char *name : {"enable_seqscan", "enable_hashjoin", "enable_mergejoin", "jit"})
		settings.push_back(std::string(name) + " = off");
	for (const auto &setting : settings)
		conn.exec("SET LOCAL " + setting);
	auto rows = conn.query("EXECUTE sunsync_catalog_v2(" + text_array(table_schemas) + ", " + text_array(table_names) +
						   ", " + text_array(type_schemas) + ", " + text_array(type_names) + ", " +
						   quote_literal(managed_key_comment) + ", " + quote_literal(record_table) + ")");
	if (in_transaction) // sent with what follows, in the same transaction
		for (const auto &setting : settings)
			conn.exec("SET LOCAL " + setting.substr(0, setting.find(' ')) + " TO DEFAULT");

	TargetCatalog out;
	std::map<Name, std::vector<std::pair<double, std::string>>> labels;
	std::map<Name, std::map<std::string, std::vector<std::pair<int, std::string>>>> indexes;
	for (const auto &r : rows) {
		const std::string &kind = *r[0];
		if (kind == "record") {
			out.record_exists = truth(r[3]);
			continue;
		}
		if (!r[1] || !r[2]) { // an fk on a table outside the scope
			if (kind != "fk")
				continue;
		}
		Name name{r[1].value_or(""), r[2].value_or("")};
		if (kind == "fk") {
			TargetCatalog::ForeignKey fk;
			fk.table = *r[3];
			fk.name = *r[4];
			if (r[1])
				fk.scope_table = Name{*r[1], *r[2]};
			fk.managed = truth(r[5]);
			fk.deferrable = truth(r[6]);
			out.foreign_keys.push_back(std::move(fk));
		} else if (kind == "table")
			out.tables[name];
		else if (kind == "column")
			out.tables[name].columns[*r[3]] = {*r[4], truth(r[5]), truth(r[6])};
		else if (kind == "index")
			indexes[name][*r[3]].emplace_back(std::stoi(*r[4]), *r[5]);
		else if (kind == "type")
			out.types[name] = (*r[3])[0];
		else if (kind == "label")
			labels[name].emplace_back(std::stod(*r[4]), *r[3]);
	}
	for (auto &[name, list] : labels) {
		std::sort(list.begin(), list.end());
		for (auto &l : list)
			out.enum_labels[name].push_back(std::move(l.second));
	}
	for (auto &[name, by_index] : indexes)
		for (auto &[index, cols] : by_index) {
			std::sort(cols.begin(), cols.end());
			std::vector<std::string> names;
			for (auto &c : cols)
				names.push_back(std::move(c.second));
			out.tables[name].indexes.push_back(std::move(names));
		}
	return out;
}

void add_missing_enum_labels(remote::Connection &conn, const Scope &scope, const TargetCatalog &catalog)
{
	for (const auto &[oid, e] : scope.enums) {
		if (!existing_type(catalog, e.schema, e.name, 'e'))
			continue;
		static const std::vector<std::string> none;
		auto found = catalog.enum_labels.find({e.schema, e.name});
		const std::vector<std::string> &existing = found == catalog.enum_labels.end() ? none : found->second;
		std::set<std::string> have(existing.begin(), existing.end());
		// each missing label goes where the source has it: after the label
		// before it in the source's order (which the target has by then), or
		// before the first label the target has
		const std::string *previous = nullptr;
		for (const auto &label : e.labels) {
			if (!have.count(label)) {
				std::string where = previous ? " AFTER " + quote_literal(*previous)
								   : existing.empty() ? ""
													  : " BEFORE " + quote_literal(existing.front());
				// committed before the run's transaction: a value added
				// inside a transaction cannot be used until it commits
				conn.exec("ALTER TYPE " + quote_qualified(e.schema, e.name) + " ADD VALUE IF NOT EXISTS " +
						  quote_literal(label) + where);
				conn.sync();
				have.insert(label);
			}
			previous = &label;
		}
	}
}

bool ensure_tables(remote::Connection &conn, Scope &scope, const TargetCatalog &catalog)
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
		if (existing_type(catalog, e.schema, e.name, 'e'))
			continue;
		std::string labels;
		for (const auto &l : e.labels)
			labels += (labels.empty() ? "" : ", ") + quote_literal(l);
		conn.exec("CREATE TYPE " + quote_qualified(e.schema, e.name) + " AS ENUM (" + labels + ")");
	}
	// composite and range types, each after the types it uses; one that the
	// target has already is taken as it is
	for (const auto &t : scope.types) {
		if (existing_type(catalog, t.schema, t.name, t.kind))
			continue;
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
		auto rel = catalog.tables.find({t.target_schema, t.target_name});
		if (rel == catalog.tables.end()) {
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
		for (const auto &[col, c] : rel->second.columns) {
			target_types[col] = c.type;
			if (c.generated)
				generated.insert(col);
			else if (c.required)
				required.insert(col);
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

void ensure_path_indexes(remote::Connection &conn, const Scope &scope, const TargetCatalog &catalog)
{
	for (const auto &t : scope.tables) {
		if (t.hops.empty())
			continue;
		auto parent = t.ancestors.find(t.hops[0].parent);
		if (parent == t.ancestors.end() || parent->second.hop != 0 || !parent->second.reachable_on_target)
			continue;
		std::vector<std::string> cols;
		for (const auto &[c, p] : t.hops[0].columns)
			cols.push_back(c);
		// an index whose leading columns are the hop's, in any order
		std::set<std::string> wanted(cols.begin(), cols.end());
		bool have = false;
		// a table this run creates has its primary key's index only
		const std::vector<std::vector<std::string>> created{t.primary_key};
		auto rel = catalog.tables.find({t.target_schema, t.target_name});
		for (const auto &index : rel != catalog.tables.end() ? rel->second.indexes : created)
			have = have || (index.size() >= cols.size() &&
							std::set<std::string>(index.begin(), index.begin() + static_cast<long>(cols.size())) ==
								wanted);
		if (!have)
			conn.exec("CREATE INDEX ON " + target_table(t) + " (" + quote_ident_list(cols) + ")");
	}
}

void drop_foreign_keys(remote::Connection &conn, const Scope &scope, const TargetCatalog &catalog)
{
	drop_sunsync_keys(conn, scope, catalog, false);
}

void drop_stale_foreign_keys(remote::Connection &conn, const Scope &scope, const TargetCatalog &catalog)
{
	drop_sunsync_keys(conn, scope, catalog, true);
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
					  ") DEFERRABLE INITIALLY DEFERRED");
	for (const auto &t : scope.tables)
		if (const auto &fk = t.path_key)
			conn.exec("COMMENT ON CONSTRAINT " + quote_ident(fk->name) + " ON " + target_table(t) + " IS " +
					  quote_literal(managed_key_comment));
}

std::string target_chain(const Scope &scope, const TableSpec &d, size_t last)
{
	std::string from, where;
	for (size_t k = 0; k <= last; k++) {
		const PathHop &h = d.hops[k];
		std::string child = "x" + std::to_string(k), parent = "x" + std::to_string(k + 1);
		from += (from.empty() ? "" : ", ") + target_table(*find_table(scope, h.parent)) + " " + parent;
		for (const auto &[c, p] : h.columns) {
			std::string l = parent + "." + quote_ident(p), r = child + "." + quote_ident(c);
			if (h.text_compare) {
				l += "::pg_catalog.text";
				r += "::pg_catalog.text";
			}
			where += (where.empty() ? "" : " AND ") + l + " = " + r;
		}
	}
	return " FROM " + from + " WHERE " + where;
}


} // namespace sunsync::engine
