// Queued keys (COPY BINARY fields, as the capture trigger wrote them) as
// query parameters: one array per key column, decoded with each type's
// receive function, so that the source queries compare typed values
// whatever DateStyle or extra_float_digits the writer had.
#pragma once

#include "engine/source_scope.hpp"

extern "C" {
#include "nodes/params.h"
}

#include <string>
#include <vector>

namespace sunsync::engine {

struct KeyColumn {
	std::string name;
	Oid type = InvalidOid;
};

// The primary key of t with its source types.
std::vector<KeyColumn> key_columns(const TableSpec &t);

// A ParamListInfo ($1..$n, one array per column) in the current memory
// context.  Throws when a key does not decode (a column changed its type
// since the change was recorded: the run then does a full sync).
ParamListInfo key_params(const std::vector<KeyColumn> &cols, const std::vector<std::string> &keys);

// "<alias>.a OPERATOR(pg_catalog.=) ANY ($1)", or for several columns an
// EXISTS over ROWS FROM (unnest($1), unnest($2)...); first_param numbers
// the first array.
std::string key_condition(const std::string &alias, const std::vector<KeyColumn> &cols, int first_param = 1);

// SELECT k1, k2... FROM ROWS FROM (unnest($1), ...): the keys themselves.
std::string keys_select(const std::vector<KeyColumn> &cols);

} // namespace sunsync::engine
