#include "scope/scope_catalog.hpp"

#include "pg/args.hpp"

extern "C" {
#include "utils/acl.h"
}

#include <algorithm>

namespace sunsync::scope {

TableInfo load_table(pg::Spi &spi, Oid relid)
{
	TableInfo t;
	t.oid = relid;
	std::string id = std::to_string(relid);
	auto rel = spi.run("SELECT c.oid::pg_catalog.regclass::pg_catalog.text, c.relkind "
					   "FROM pg_catalog.pg_class c WHERE c.oid = $1::pg_catalog.oid",
					   {id});
	if (rel.empty())
		pg::raise(sqlstate::undefined_object, "relation with OID " + id + " does not exist");
	t.name = *rel.rows[0][0];
	t.relkind = (*rel.rows[0][1])[0];
	auto cols = spi.run("SELECT a.attname, a.atttypid FROM pg_catalog.pg_attribute a "
						"WHERE a.attrelid = $1::pg_catalog.oid AND a.attnum > 0 AND NOT a.attisdropped",
						{id});
	for (const auto &r : cols.rows)
		t.column_types[*r[0]] = pg::oid_of(r[1]);
	auto pk = spi.run("SELECT a.attname FROM pg_catalog.pg_constraint c, "
					  "pg_catalog.unnest(c.conkey) WITH ORDINALITY k(n, i), pg_catalog.pg_attribute a "
					  "WHERE c.conrelid = $1::pg_catalog.oid AND c.contype = 'p' "
					  "AND a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i",
					  {id});
	for (const auto &r : pk.rows)
		t.primary_key.push_back(*r[0]);
	t.owned_by_caller = pg::guard([relid] { return pg_class_ownercheck(relid, GetUserId()); });
	return t;
}

void check_replicable(const TableInfo &t)
{
	if (t.relkind != 'r' && t.relkind != 'p')
		pg::raise(sqlstate::invalid_parameter_value, "\"" + t.name + "\" is not a table",
				  "Only ordinary and partitioned tables can be replicated.");
	if (!t.owned_by_caller)
		pg::raise(sqlstate::insufficient_privilege, "must be owner of table " + t.name,
				  "Only a superuser or the owner of a table may register it with sunsync.");
	if (t.primary_key.empty())
		pg::raise(sqlstate::invalid_object_definition,
				  "table " + t.name + " has no primary key",
				  "sunsync identifies rows on the target by their primary key.",
				  "Add one with ALTER TABLE " + t.name + " ADD PRIMARY KEY (...).");
}

std::map<std::string, std::vector<Link>> load_foreign_keys(pg::Spi &spi)
{
	// One row per column pair, in key order.
	auto res = spi.run(
		"SELECT c.oid, c.conname, c.conrelid::pg_catalog.regclass::pg_catalog.text, "
		"       c.confrelid::pg_catalog.regclass::pg_catalog.text, a.attname, fa.attname, "
		"       c.conrelid::pg_catalog.int8, c.confrelid::pg_catalog.int8 "
		"FROM pg_catalog.pg_constraint c, "
		"     ROWS FROM (pg_catalog.unnest(c.conkey), pg_catalog.unnest(c.confkey)) WITH ORDINALITY k(n, fn, i), "
		"     pg_catalog.pg_attribute a, pg_catalog.pg_attribute fa "
		"WHERE c.contype = 'f' AND c.conparentid = 0 "
		"  AND a.attrelid = c.conrelid AND a.attnum = k.n "
		"  AND fa.attrelid = c.confrelid AND fa.attnum = k.fn "
		"ORDER BY c.conrelid, c.conname, c.oid, k.i",
		{});
	std::map<std::string, std::vector<Link>> links;
	std::string current;
	for (const auto &r : res.rows) {
		const std::string &child = *r[2];
		if (*r[0] != current) {
			current = *r[0];
			Link l;
			l.name = *r[1];
			l.child = child;
			l.parent = *r[3];
			l.child_oid = pg::oid_of(r[6]);
			l.parent_oid = pg::oid_of(r[7]);
			links[child].push_back(l);
		}
		Link &l = links[child].back();
		l.child_columns.push_back(*r[4]);
		l.parent_columns.push_back(*r[5]);
	}
	return links;
}

std::optional<Root> load_root(pg::Spi &spi)
{
	pg::Result res;
	{
		pg::CatalogOwnerScope as_owner; // callers need no privilege on schema sunsync
		res = spi.run("SELECT root_table::pg_catalog.oid, owner_expr FROM sunsync.root");
	}
	if (res.empty())
		return std::nullopt;
	Root root;
	root.oid = pg::oid_of(res.rows[0][0]);
	root.name = relation_name(spi, root.oid);
	root.owner_expr = *res.rows[0][1];
	return root;
}

std::vector<Registration> load_registrations(pg::Spi &spi)
{
	pg::Result res;
	{
		pg::CatalogOwnerScope as_owner;
		res = spi.run("SELECT table_name::pg_catalog.oid, via "
					  "FROM sunsync.tables ORDER BY position, table_name::pg_catalog.oid");
	}
	std::vector<Registration> out;
	for (const auto &r : res.rows) {
		Registration reg;
		reg.oid = pg::oid_of(r[0]);
		reg.name = relation_name(spi, reg.oid);
		reg.via = r[1];
		out.push_back(reg);
	}
	return out;
}

std::string relation_name(pg::Spi &spi, Oid relid)
{
	return *spi.run("SELECT $1::pg_catalog.oid::pg_catalog.regclass::pg_catalog.text",
					{std::to_string(relid)})
				.scalar();
}

bool has_unique_key(pg::Spi &spi, Oid relid, const std::vector<std::string> &cols)
{
	std::vector<std::string> sorted = cols;
	std::sort(sorted.begin(), sorted.end());
	auto res = spi.run(
		"SELECT 1 FROM pg_catalog.pg_index i "
		"WHERE i.indrelid = $1::pg_catalog.oid AND i.indisunique AND i.indpred IS NULL "
		"  AND i.indexprs IS NULL AND i.indnkeyatts = pg_catalog.cardinality($2::pg_catalog.text[]) "
		"  AND (SELECT pg_catalog.array_agg(a.attname::pg_catalog.text ORDER BY a.attname::pg_catalog.text) "
		"       FROM pg_catalog.pg_attribute a "
		"       WHERE a.attrelid = i.indrelid "
		"         AND a.attnum = ANY ((i.indkey::pg_catalog.int2[])[0:i.indnkeyatts - 1])) "
		"      OPERATOR(pg_catalog.=) (SELECT pg_catalog.array_agg(c ORDER BY c) "
		"                              FROM pg_catalog.unnest($2::pg_catalog.text[]) c)",
		{std::to_string(relid), sorted});
	return !res.empty();
}

namespace {

// Splits the text output of a text[] ({a,"b c"}) into its elements.

} // namespace

} // namespace sunsync::scope
