#include "pg/canonical_output.hpp"

extern "C" {
#include "utils/guc.h"
}

namespace sunsync::pg {

void pin_output_settings(bool save)
{
	static const char *const settings[][2] = {
		{"DateStyle", "ISO, YMD"},   {"IntervalStyle", "postgres"}, {"TimeZone", "UTC"},
		{"extra_float_digits", "1"}, {"bytea_output", "hex"},
	};
	for (const auto &s : settings)
		set_config_option(s[0], s[1], PGC_USERSET, PGC_S_SESSION, save ? GUC_ACTION_SAVE : GUC_ACTION_LOCAL, true, 0,
						  false);
}

} // namespace sunsync::pg
