#include "catalog/catalog_version.hpp"

namespace sunsync {

void require_catalog_version(pg::Spi &spi)
{
	auto v = spi.run("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'sunsync'");
	if (v.empty() || *v.scalar() == catalog_version)
		return;
	pg::raise(sqlstate::object_not_in_prerequisite_state,
			  "sunsync in this database is at version " + *v.scalar() + ", its library at " + catalog_version,
			  {}, "Run ALTER EXTENSION sunsync UPDATE in this database.");
}

} // namespace sunsync
