#include "engine/read_locks.hpp"

#include "settings.hpp"

extern "C" {
#include "catalog/pg_class_d.h"
#include "catalog/pg_inherits.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace sunsync::engine {

ReadSet relations_to_read(pg::Spi &spi)
{
	ReadSet out;
	// (existence and names from the syscache: a subquery over pg_class here
	// is planned as a hash of all of it, at every run)
	auto rows = spi.run("SELECT r.oid, t.table_name::pg_catalog.text, r.oid = t.table_name::pg_catalog.oid "
						"FROM sunsync.tables t, LATERAL ("
						"  SELECT t.table_name::pg_catalog.oid UNION "
						"  SELECT (h->>'child_oid')::pg_catalog.oid FROM pg_catalog.jsonb_array_elements(t.path) h UNION "
						"  SELECT (h->>'parent_oid')::pg_catalog.oid FROM pg_catalog.jsonb_array_elements(t.path) h"
						") r(oid)");
	for (const auto &r : rows.rows) {
		Oid oid = pg::oid_of(r[0]);
		std::optional<std::string> name = pg::guard([oid]() -> std::optional<std::string> {
			if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(oid)))
				return std::nullopt;
			return std::string(DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(oid))));
		});
		bool gone = !name;
		if (gone && *r[2] == "t") // the registered table itself, dropped just now
			pg::raise("42P01", "a registered table (OID " + std::to_string(oid) +
								 ") was dropped while its rows were about to be read",
					  {}, "Push (or verify) again: the tables that exist then are read.");
		if (gone)
			pg::raise("42P01", "the path of table " + r[1].value_or("?") + " crosses a table that was dropped",
					  "The table with OID " + std::to_string(oid) + " no longer exists.",
					  "Register the table again with sunsync_add_table, or remove it with sunsync_remove_table.");
		out[oid] = *name;
	}
	return out;
}

void lock_for_reading(const ReadSet &relations)
{
	// runs and sunsync_verify read with lock_timeout = sunsync.lock_timeout
	std::string timeout = std::to_string(sunsync_lock_timeout_ms) + "ms";
	for (const auto &[oid, name] : relations) {
		bool exists = false;
		try {
			pg::guard([oid = oid, &exists] {
				LockRelationOid(oid, AccessShareLock);
				// dropped while we waited: the lock is on a relation that is gone
				exists = SearchSysCacheExists1(RELOID, ObjectIdGetDatum(oid));
				if (exists && get_rel_relkind(oid) == RELKIND_PARTITIONED_TABLE)
					find_all_inheritors(oid, AccessShareLock, nullptr);
			});
		} catch (const Error &e) {
			if (e.sqlstate() != "55P03")
				throw;
			throw Error("55P03", "could not lock table " + name + " for reading within sunsync.lock_timeout (" +
									 timeout + ")",
						"Another session holds a lock that conflicts with ACCESS SHARE (a TRUNCATE, "
						"ALTER TABLE, VACUUM FULL or CLUSTER in progress).",
						"See pg_locks for the session that holds it, then push (or verify) again; a "
						"continuous configuration is retried by itself.");
		}
		if (!exists)
			pg::raise("42P01", "table " + name + " was dropped while its rows were about to be read", {},
					  "Push (or verify) again: the tables that exist then are read.");
	}
}

ReadSet queue_relations(pg::Spi &spi)
{
	ReadSet out;
	for (const auto &r : spi.run("SELECT c.oid, c.oid::pg_catalog.regclass::pg_catalog.text FROM pg_catalog.pg_class c "
								 "WHERE c.relnamespace = 'sunsync'::pg_catalog.regnamespace "
								 "AND c.relname IN ('queue_0', 'queue_1', 'queue_2', 'queue_floor')")
							 .rows)
		out[pg::oid_of(r[0])] = *r[1];
	return out;
}

} // namespace sunsync::engine
