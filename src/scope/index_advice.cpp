#include "scope/index_advice.hpp"

#include "pg/relation_names.hpp"

extern "C" {
#include "utils/builtins.h"
}

namespace sunsync::scope {

namespace {

void advise(const std::string &message, const std::string &create_index)
{
	pg::guard([&] {
		ereport(NOTICE, (errmsg_internal("%s", message.c_str()), errhint("Run: %s", create_index.c_str())));
	});
}

std::string qualified(Oid relid)
{
	return pg::guard([relid] {
		pg::QualifiedName n = pg::relation_name_or_error(relid);
		return std::string(quote_qualified_identifier(n.schema, n.name));
	});
}

} // namespace

void advise_owner_index(pg::Spi &spi, Oid root, const std::string &stored_expr)
{
	// pg_get_indexdef prints an index column the way sunsync stored owner_expr
	// (ruleutils, search_path pg_catalog), so equal text is the same expression
	pg::CatalogOwnerScope fixed_search_path;
	bool indexed = *spi.run("SELECT EXISTS (SELECT FROM pg_catalog.pg_index i WHERE i.indrelid = $1::pg_catalog.oid "
							"AND i.indpred IS NULL AND pg_catalog.pg_get_indexdef(i.indexrelid, 1, false) = $2)",
							{std::to_string(root), stored_expr})
						.scalar() == "t";
	if (indexed)
		return;
	std::string table = qualified(root);
	bool plain_column = *spi.run("SELECT EXISTS (SELECT FROM pg_catalog.pg_attribute WHERE attrelid = $1::pg_catalog.oid "
								 "AND attnum > 0 AND NOT attisdropped AND pg_catalog.quote_ident(attname) = $2)",
								 {std::to_string(root), stored_expr})
							 .scalar() == "t";
	advise("sunsync: no index of " + table + " serves the owner filter " + stored_expr +
			   ": every push would read the whole table",
		   "CREATE INDEX ON " + table + " (" + (plain_column ? stored_expr : "(" + stored_expr + ")") + ");");
}

void advise_path_indexes(pg::Spi &spi, Oid table)
{
	pg::CatalogOwnerScope fixed_search_path;
	// each hop: child table, its columns, and whether an index leads with
	// exactly those columns (or, for a link compared as text, their text)
	// (a text or varchar column compared as text needs no expression index)
	auto hops = spi.run(
		"WITH hop AS (SELECT h, e.n, (h->>'text_compare')::boolean AND EXISTS ("
		"    SELECT FROM pg_catalog.pg_attribute a WHERE a.attrelid = (h->>'child_oid')::pg_catalog.oid "
		"    AND a.attname = h->'child_columns'->>0 "
		"    AND a.atttypid NOT IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype)) AS as_text "
		"  FROM sunsync.tables t, pg_catalog.jsonb_array_elements(t.path) WITH ORDINALITY e(h, n) "
		"  WHERE t.table_name = $1::pg_catalog.oid) "
		"SELECT (h->>'child_oid'), pg_catalog.array_to_string(ARRAY(SELECT pg_catalog.quote_ident(c) "
		"         FROM pg_catalog.jsonb_array_elements_text(h->'child_columns') c), ', '), "
		"       as_text, "
		"       EXISTS (SELECT FROM pg_catalog.pg_index i WHERE i.indrelid = (h->>'child_oid')::pg_catalog.oid "
		"         AND i.indpred IS NULL AND CASE WHEN as_text "
		"           THEN pg_catalog.pg_get_indexdef(i.indexrelid, 1, false) = "
		"                '(' || pg_catalog.quote_ident(h->'child_columns'->>0) || ')::text' "
		"           ELSE (SELECT pg_catalog.array_agg(k ORDER BY k) FROM pg_catalog.unnest("
		"                   (i.indkey::pg_catalog.int2[])[0:pg_catalog.jsonb_array_length(h->'child_columns') - 1]) k) "
		"              = (SELECT pg_catalog.array_agg(a.attnum ORDER BY a.attnum) FROM pg_catalog.pg_attribute a "
		"                 WHERE a.attrelid = (h->>'child_oid')::pg_catalog.oid AND a.attname IN "
		"                   (SELECT pg_catalog.jsonb_array_elements_text(h->'child_columns'))) END) "
		"FROM hop ORDER BY n",
		{std::to_string(table)});
	for (const auto &h : hops.rows) {
		if (*h[3] == "t")
			continue;
		std::string child = qualified(pg::oid_of(h[0]));
		std::string key = *h[2] == "t" ? "((" + *h[1] + ")::text)" : "(" + *h[1] + ")";
		advise("sunsync: no index on " + child + " " + key +
				   ", which the path to the root follows: every push would read the whole table",
			   "CREATE INDEX ON " + child + " " + key + ";");
	}
}

} // namespace sunsync::scope
