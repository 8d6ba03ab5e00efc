// SQL functions that manage configurations: sunsync_create_config,
// sunsync_update_config, sunsync_delete_config.  The target URL is checked
// (behaviour 1), then stored twice: sealed, and masked for display.
#include "capture/commit_wake.hpp"
#include "capture/configured_owners.hpp"
#include "crypto/seal.hpp"
#include "catalog/catalog_version.hpp"
#include "pg/args.hpp"
#include "pg/as_role.hpp"
#include "pg/log_masking.hpp"
#include "pg/guard.hpp"
#include "pg/spi.hpp"
#include "remote/connection.hpp"
#include "scope/owner_expr.hpp"
#include "settings.hpp"
#include "target/address.hpp"
#include "target/url.hpp"
#include "worker/shared_state.hpp"

extern "C" {
#include "utils/builtins.h"
}

using namespace sunsync;

namespace {

constexpr size_t max_identifier_bytes = NAMEDATALEN - 1;

TargetUrl checked_url(const std::string &url)
{
	UrlPolicy policy;
	policy.superuser = pg::guard([] { return superuser(); });
	policy.allow_private_targets = sunsync_allow_private_targets;
	policy.require_ssl = sunsync_require_ssl;
	return check_target_url(url, policy, remote::resolver(sunsync_connect_timeout_ms));
}

// The sealed URL of config `id`, a bytea parameter.
pg::Bytes sealed_url(const std::string &url, const std::string &id)
{
	SealKey key = load_or_create_key(sunsync_key_file ? sunsync_key_file : "");
	return {seal(key, url, "sunsync config " + id)};
}

std::string required_text(FunctionCallInfo fcinfo, int n, const char *name)
{
	auto v = pg::text_arg(fcinfo, n);
	if (!v)
		pg::raise(sqlstate::invalid_parameter_value, std::string(name) + " must not be NULL");
	return *v;
}

std::string required_id(FunctionCallInfo fcinfo, int n)
{
	auto id = pg::int64_arg(fcinfo, n);
	if (!id)
		pg::raise(sqlstate::invalid_parameter_value, "config_id must not be NULL");
	return std::to_string(*id);
}

[[noreturn]] void no_such_config(const std::string &id)
{
	pg::raise(sqlstate::undefined_object, "configuration " + id + " does not exist", {},
			  "See the view sunsync_configs.");
}

// The owner converted to the type of owner_expr, in that type's text form
// (rows are filtered in that type, so that an index on the expression
// serves the filter), and its hash as the capture triggers compute it.
// root: root_table oid, owner_expr, set_by oid.
struct ConvertedOwner {
	std::string text;
	uint32 hash = 0;
};
ConvertedOwner owner_in_expr_type(pg::Spi &spi, const std::string &owner, const pg::Row &root)
{
	// analysed, planned and converted with the author's rights only: the
	// type's input function, a domain's checks or a cast are its code
	pg::AsRole as_author(pg::oid_of(root[2]));
	scope::OwnerExpr e = scope::check_owner_expr(pg::oid_of(root[0]), *root[1], "r");
	std::string type = pg::guard([&] { return std::string(format_type_be(e.type)); });
	ConvertedOwner out;
	try {
		out.text = *spi.run_once(("SELECT ($1::pg_catalog.text)::" +
								  pg::guard([&] { return std::string(format_type_be_qualified(e.type)); }) +
								  "::pg_catalog.text").c_str(),
								 {owner})
						.scalar();
	} catch (const Error &err) {
		throw Error(sqlstate::invalid_parameter_value,
					"owner \"" + owner + "\" is not a value of type " + type + ", the type of owner_expr",
					err.message(), "owner_expr of the root is: " + *root[1]);
	}
	out.hash = capture::owner_hash_of_text(out.text, e.type, e.collation);
	return out;
}

} // namespace

SUNSYNC_SQL_FUNCTION(sunsync_create_config)
{
	pg::mask_reported_activity(); // resolving the host may take a while
	auto owner = pg::any_arg_as_text(fcinfo, 0);
	if (!owner)
		pg::raise(sqlstate::invalid_parameter_value, "owner must not be NULL");
	std::string url = required_text(fcinfo, 1, "target_url");
	bool continuous = pg::bool_arg(fcinfo, 2).value_or(false);
	std::optional<std::string> target_schema = pg::text_arg(fcinfo, 3);
	if (target_schema && (target_schema->empty() || target_schema->size() > max_identifier_bytes))
		pg::raise(sqlstate::invalid_parameter_value,
				  "target_schema must be a name of 1 to " + std::to_string(max_identifier_bytes) + " bytes");

	TargetUrl target = checked_url(url);
	bool by_superuser = pg::guard([] { return superuser(); });
	std::string role = std::to_string(GetUserId());

	pg::Spi spi;
	require_catalog_version(spi);
	pg::CatalogOwnerScope as_owner;
	auto root = spi.run("SELECT root_table::pg_catalog.oid, owner_expr, set_by::pg_catalog.oid FROM sunsync.root");
	if (root.empty())
		pg::raise(sqlstate::object_not_in_prerequisite_state, "no root table is set", {},
				  "Call sunsync_set_root(root, owner_expr) first.");
	ConvertedOwner converted = owner_in_expr_type(spi, *owner, root.rows[0]);
	// writers record this owner's changes from now on, before we commit (a
	// writer that looked earlier is waited for by the first full copy)
	capture::add_configured_owner(converted.hash);
	if (continuous)
		capture::mark_owner_continuous(converted.hash);
	// the worker learns of it at COMMIT (a continuous one copies at once)
	capture::note_configs_changed();
	std::string id = *spi.run("SELECT nextval('sunsync.configs_id_seq')::text").scalar();
	spi.run("INSERT INTO sunsync.configs (id, owner, target_url_masked, target_url_sealed, "
			"  continuous, target_schema, created_by, created_by_superuser, source_id, owner_hash) "
			"VALUES ($1::bigint, $2, $3, $4, $5::boolean, $6, $7::oid::regrole, $8::boolean, "
			"        (SELECT id FROM sunsync.source), $9::integer)",
			{id, converted.text, target.masked, sealed_url(url, id), continuous ? "true" : "false",
			 target_schema, role, by_superuser ? "true" : "false",
			 std::to_string(static_cast<int32>(converted.hash))});
	PG_RETURN_INT64(std::stoll(id));
}

SUNSYNC_SQL_FUNCTION(sunsync_update_config)
{
	pg::mask_reported_activity();
	std::string id = required_id(fcinfo, 0);
	std::optional<std::string> url = pg::text_arg(fcinfo, 1);
	std::optional<bool> continuous = pg::bool_arg(fcinfo, 2);

	pg::Spi spi;
	require_catalog_version(spi);
	std::optional<TargetUrl> target;
	if (url)
		target = checked_url(*url);
	bool by_superuser = pg::guard([] { return superuser(); }); // before we act as the catalog owner

	pg::CatalogOwnerScope as_owner;
	auto found = spi.run("SELECT owner_hash FROM sunsync.configs WHERE id = $1::bigint FOR UPDATE", {id});
	if (found.empty())
		no_such_config(id);
	capture::note_configs_changed();
	if (continuous && *continuous && found.rows[0][0])
		capture::mark_owner_continuous(static_cast<uint32>(std::stoll(*found.rows[0][0])));
	if (target)
		// a new URL also confirms that this database may push it (after a
		// restore); a continuous configuration that was failing retries now
		spi.run("UPDATE sunsync.configs SET target_url_masked = $2, target_url_sealed = $3, "
				"created_by_superuser = $4::boolean, source_id = (SELECT id FROM sunsync.source), "
				"next_attempt_at = NULL, updated_at = now() WHERE id = $1::bigint",
				{id, target->masked, sealed_url(*url, id), by_superuser ? "true" : "false"});
	if (continuous)
		spi.run("UPDATE sunsync.configs SET continuous = $2::boolean, updated_at = now() "
				"WHERE id = $1::bigint",
				{id, *continuous ? "true" : "false"});
	PG_RETURN_VOID();
}

SUNSYNC_SQL_FUNCTION(sunsync_delete_config)
{
	std::string id = required_id(fcinfo, 0);
	pg::Spi spi;
	require_catalog_version(spi);
	pg::CatalogOwnerScope as_owner;
	if (spi.run("DELETE FROM sunsync.configs WHERE id = $1::bigint", {id}).processed == 0)
		no_such_config(id);
	capture::note_configs_changed();
	// A run in progress stops cleanly; a queued one is dropped.
	if (shm::shared()) {
		int64 config = std::stoll(id);
		shm::Locked lock(LW_EXCLUSIVE);
		if (auto *slot = shm::running_slot(MyDatabaseId, config))
			slot->stop = true;
		if (auto *req = shm::queued_request(MyDatabaseId, config)) {
			shm::record_outcome(req->ticket, req->dbid, req->config_id, false, "42704", "the configuration was deleted");
			req->used = false;
		}
	}
	PG_RETURN_VOID();
}
