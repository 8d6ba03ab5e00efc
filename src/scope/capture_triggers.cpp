#include "scope/capture_triggers.hpp"

#include "capture/commit_wake.hpp"
#include "capture/configured_owners.hpp"
#include "pg/as_role.hpp"
#include "pg/guard.hpp"
#include "pg/subtransaction.hpp"
#include "scope/owner_expr.hpp"

extern "C" {
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
}

#include <map>
#include <set>
#include <string>

namespace sunsync::scope {

namespace {

struct TriggerKind {
	const char *suffix;
	const char *event;
	const char *referencing;
};
const TriggerKind kinds[] = {
	{"insert", "INSERT", " REFERENCING NEW TABLE AS sunsync_new"},
	{"update", "UPDATE", " REFERENCING OLD TABLE AS sunsync_old NEW TABLE AS sunsync_new"},
	{"delete", "DELETE", " REFERENCING OLD TABLE AS sunsync_old"},
	{"truncate", "TRUNCATE", ""},
};

// Every relation that needs the triggers, with its name, and whether it is a
// foreign table (a partition on another server: no trigger, full syncs).
const char *const scope_relations_sql =
	"WITH RECURSIVE scope(oid) AS ("
	"  SELECT table_name::pg_catalog.oid FROM sunsync.tables "
	"  UNION SELECT (h->>'parent_oid')::pg_catalog.oid "
	"    FROM sunsync.tables t, pg_catalog.jsonb_array_elements(t.path) h "
	"  UNION SELECT root_table::pg_catalog.oid FROM sunsync.root"
	"), tree(oid) AS ("
	"  SELECT c.oid FROM scope s JOIN pg_catalog.pg_class c ON c.oid = s.oid "
	"   WHERE c.relkind IN ('r', 'p') "
	"  UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent = tree.oid "
	"    JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid WHERE c.relispartition"
	") SELECT tree.oid, tree.oid::pg_catalog.regclass::pg_catalog.text, c.relkind = 'f' "
	"FROM tree JOIN pg_catalog.pg_class c ON c.oid = tree.oid";

Oid capture_function()
{
	return pg::guard([] {
		List *name = list_make2(makeString(pstrdup("sunsync")), makeString(pstrdup("capture")));
		return LookupFuncName(name, 0, nullptr, false);
	});
}

// The trigger goes when the function goes (DROP EXTENSION), not the other
// way round: its ordinary dependency on the function becomes automatic.
void depend_automatically(Oid trigger, Oid function)
{
	pg::guard([&] {
		deleteDependencyRecordsForSpecific(TriggerRelationId, trigger, DEPENDENCY_NORMAL, ProcedureRelationId,
										   function);
		ObjectAddress dependent{TriggerRelationId, trigger, 0};
		ObjectAddress referenced{ProcedureRelationId, function, 0};
		recordDependencyOn(&dependent, &referenced, DEPENDENCY_AUTO);
		CommandCounterIncrement();
	});
}

// ENABLE ALWAYS: writes made under session_replication_role = replica (a
// subscriber's apply worker, bulk loaders) are captured too.  Done here
// rather than by ALTER TABLE, which would fire sunsync's own DDL trigger.
void fire_always(Oid rel, const std::string &trigger)
{
	pg::guard([&] {
		Relation r = table_open(rel, ShareRowExclusiveLock);
		EnableDisableTrigger(r, trigger.c_str(), TRIGGER_FIRES_ALWAYS, false, ShareRowExclusiveLock);
		table_close(r, NoLock);
		CommandCounterIncrement();
	});
}

bool syncing = false;

struct Syncing {
	bool was = syncing;
	Syncing() { syncing = true; }
	~Syncing() { syncing = was; }
};

} // namespace

bool syncing_capture_triggers() { return syncing; }

void sync_capture_triggers(pg::Spi &spi)
{
	Syncing in_sync;
	Oid function = capture_function();
	std::string fn = std::to_string(function);
	pg::CatalogOwnerScope as_owner;
	std::map<Oid, std::string> wanted;
	for (const auto &r : spi.run(scope_relations_sql).rows)
		if (*r[2] != "t") // a foreign partition cannot carry them: its table counts as uncaptured
			wanted[pg::oid_of(r[0])] = *r[1];
	std::map<Oid, std::set<std::string>> present;
	std::map<Oid, std::set<std::string>> origin_only; // ENABLE'd, not ENABLE ALWAYS
	std::map<Oid, std::string> present_names;
	for (const auto &r : spi.run("SELECT t.tgrelid, t.tgname, t.tgrelid::pg_catalog.regclass::pg_catalog.text, "
								 "t.tgenabled = 'O' FROM pg_catalog.pg_trigger t WHERE t.tgfoid = $1::pg_catalog.oid",
								 {fn})
							 .rows) {
		present[pg::oid_of(r[0])].insert(*r[1]);
		present_names[pg::oid_of(r[0])] = *r[2];
		if (*r[3] == "t")
			origin_only[pg::oid_of(r[0])].insert(*r[1]);
	}
	for (const auto &[rel, names] : present) {
		if (wanted.count(rel))
			continue;
		for (const auto &name : names)
			spi.run(("DROP TRIGGER " + std::string(pg::guard([&] { return quote_identifier(name.c_str()); })) + " ON " +
					 present_names[rel])
						.c_str());
	}
	// triggers restored by pg_restore depend on the function the ordinary way
	for (const auto &r : spi.run("SELECT d.objid FROM pg_catalog.pg_depend d "
								 "WHERE d.classid = 'pg_catalog.pg_trigger'::pg_catalog.regclass "
								 "AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass "
								 "AND d.refobjid = $1::pg_catalog.oid AND d.deptype = 'n'",
								 {fn})
							 .rows)
		depend_automatically(pg::oid_of(r[0]), function);
	for (const auto &[rel, name] : wanted) {
		const auto &have = present[rel];
		for (const auto &k : kinds) {
			std::string tg = std::string("sunsync_capture_") + k.suffix;
			if (have.count(tg)) {
				if (origin_only[rel].count(tg))
					fire_always(rel, tg);
				continue;
			}
			spi.run(("CREATE TRIGGER " + tg + " AFTER " + k.event + " ON " + name + k.referencing +
					 " FOR EACH STATEMENT EXECUTE FUNCTION sunsync.capture()")
						.c_str());
			fire_always(rel, tg);
			Oid trigger = pg::oid_of(spi.run("SELECT oid FROM pg_catalog.pg_trigger WHERE tgrelid = $1::pg_catalog.oid "
											 "AND tgname = $2",
											 {std::to_string(rel), tg})
										 .scalar());
			depend_automatically(trigger, function);
		}
	}
}

std::optional<std::string> table_without_capture(pg::Spi &spi, std::vector<Oid> *checked)
{
	std::string fn = std::to_string(capture_function());
	pg::CatalogOwnerScope as_owner;
	// every relation of the scope, those without capture first
	auto r = spi.run(("SELECT s.oid, s.regclass, (SELECT pg_catalog.count(*) FROM pg_catalog.pg_trigger t "
					  "WHERE t.tgrelid = s.oid AND t.tgfoid = $1::pg_catalog.oid AND t.tgenabled = 'A' "
					  "AND t.tgname LIKE 'sunsync\\_capture\\_%') < 4 "
					  // a subscription's apply worker fires row triggers only:
					  // what it writes into a table is never captured
					  "OR EXISTS (SELECT FROM pg_catalog.pg_subscription_rel r WHERE r.srrelid = s.oid) AS uncaptured "
					  "FROM (" + std::string(scope_relations_sql) + ") s(oid, regclass) ORDER BY uncaptured DESC, s.regclass")
						 .c_str(),
					 {fn});
	if (checked)
		for (const auto &row : r.rows)
			checked->push_back(pg::oid_of(row[0]));
	if (r.empty() || *r.rows[0][2] != "t")
		return std::nullopt;
	return r.rows[0][1];
}

void scope_changed(pg::Spi &spi)
{
	// at COMMIT: every continuous configuration runs (a full sync)
	capture::note_scope_changed();
	{
		pg::CatalogOwnerScope as_owner;
		spi.run("UPDATE sunsync.root SET scope_version = scope_version + 1");
	}
	sync_capture_triggers(spi);
	pg::guard([] {
		Oid tables = get_relname_relid("tables", get_namespace_oid("sunsync", false));
		CacheInvalidateRelcacheByRelid(tables);
	});
}

void rehash_owners(pg::Spi &spi)
{
	capture::note_scope_changed(); // the worker learns the new hashes at COMMIT
	pg::CatalogOwnerScope as_owner;
	auto root = spi.run("SELECT root_table::pg_catalog.oid, owner_expr, set_by::pg_catalog.oid FROM sunsync.root");
	if (root.empty())
		return;
	OwnerExpr e;
	{
		pg::AsRole as_author(pg::oid_of(root.rows[0][2]));
		e = check_owner_expr(pg::oid_of(root.rows[0][0]), *root.rows[0][1], "r");
	}
	for (const auto &r : spi.run("SELECT id, owner FROM sunsync.configs").rows) {
		pg::Value hash;
		uint32 h = 0;
		// an owner that is no value of the new type hashes to nothing (its
		// runs say why)
		if (pg::in_subtransaction([&] {
				pg::AsRole as_author(pg::oid_of(root.rows[0][2]));
				h = capture::owner_hash_of_text(*r[1], e.type, e.collation);
			})) {
			capture::add_configured_owner(h);
			hash = std::to_string(static_cast<int32>(h));
		}
		spi.run("UPDATE sunsync.configs SET owner_hash = $2::integer WHERE id = $1::bigint", {r[0], hash});
	}
}

} // namespace sunsync::scope
