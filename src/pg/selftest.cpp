// Functions that prove the bridge works; the regression suite creates them
// from this library (they are not part of the extension's API).
#include "pg/args.hpp"
#include "pg/guard.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "utils/builtins.h"
}

#include <stdexcept>
#include <string>

namespace {

// Counts live instances, so a test can see that destructors ran.
int live_tracked = 0;

struct Tracked {
	std::string payload = std::string(4096, 'x'); // heap memory that would leak
	Tracked() { live_tracked++; }
	~Tracked() { live_tracked--; }
};

} // namespace

// ereport(ERROR) with SQLSTATE, detail and hint inside a guarded call.
SUNSYNC_SQL_FUNCTION(sunsync_selftest_pg_error)
{
	Tracked tracked;
	sunsync::pg::guard([] {
		ereport(ERROR, (errcode(ERRCODE_CHECK_VIOLATION), errmsg("raised inside the guard"),
						errdetail("the detail survives"), errhint("so does the hint")));
	});
	PG_RETURN_VOID();
}

// A PostgreSQL function that fails, called through the guard.
SUNSYNC_SQL_FUNCTION(sunsync_selftest_bad_int)
{
	std::string text = sunsync::pg::text_arg(fcinfo, 0).value_or("");
	Tracked tracked;
	int32 v = sunsync::pg::guard([&] {
		return DatumGetInt32(DirectFunctionCall1(int4in, CStringGetDatum(text.c_str())));
	});
	PG_RETURN_INT32(v);
}

// A C++ exception thrown from the body of an SQL function.
SUNSYNC_SQL_FUNCTION(sunsync_selftest_cpp_exception)
{
	Tracked tracked;
	throw std::runtime_error("thrown by C++");
	PG_RETURN_VOID();
}

// An SPI error while an Spi connection and C++ objects are alive.
SUNSYNC_SQL_FUNCTION(sunsync_selftest_spi_error)
{
	Tracked tracked;
	sunsync::pg::Spi spi;
	spi.run("SELECT 1/0");
	PG_RETURN_VOID();
}

SUNSYNC_SQL_FUNCTION(sunsync_selftest_live_objects) { PG_RETURN_INT32(live_tracked); }
