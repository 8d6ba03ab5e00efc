// The library serves the catalog of its own version only: after a new
// library is installed, a database whose extension is still at an older
// version gets a clear error until ALTER EXTENSION sunsync UPDATE.
#pragma once

#include "pg/spi.hpp"

namespace sunsync {

inline constexpr const char *catalog_version = "0.2";

void require_catalog_version(pg::Spi &spi);

} // namespace sunsync
