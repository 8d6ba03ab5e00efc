// One text form for values whatever the session's settings: the capture
// trigger prints the values of text-compared declared links, and runs
// compare the same links by text on the source, so both pin these
// settings (DateStyle, IntervalStyle, TimeZone, extra_float_digits,
// bytea_output) to the same values.  Call inside a GUC nest level (or a
// transaction, for action = LOCAL) that is ended afterwards.
#pragma once

#include "pg/postgres.hpp"

namespace sunsync::pg {

// C-style: may raise (it never does for these values).  save: GUC_ACTION_SAVE
// inside a nest level; else GUC_ACTION_LOCAL for the transaction.
void pin_output_settings(bool save);

} // namespace sunsync::pg
